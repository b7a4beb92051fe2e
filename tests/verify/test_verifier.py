"""JWTVerifier: every check, against tokens from the testing server."""

from __future__ import annotations

import json

import anyio
import jwt
import pytest

from tests.support.clock import FakeClock
from tests.verify.conftest import (
    MakeVerifier,
    hs256_with_public_key,
    jwk_of,
    other_ec_key,
    other_rsa_key,
    parts,
    resign,
    segment,
    unsigned,
)
from tokensources import ConfigError, InsufficientScopeError, InvalidTokenError
from tokensources.testing import AuthorizationServer
from tokensources.verify import Claims

pytestmark = pytest.mark.anyio


async def refused(make_verifier: MakeVerifier, token: str, match: str) -> InvalidTokenError:
    """Verify ``token``, expect InvalidTokenError matching ``match``, and check it leaks nothing."""
    verifier = make_verifier()
    with anyio.fail_after(10), pytest.raises(InvalidTokenError, match=match) as info:
        await verifier.verify(token)
    error = info.value
    for text in (str(error), repr(error), *map(str, error.args)):
        assert token not in text
        for piece in token.split("."):
            if len(piece) > 8:
                assert piece not in text
    assert error.__cause__ is None
    # pyjwt's own exception is not shown in tracebacks (``from None``).
    assert error.__context__ is None or error.__suppress_context__
    return error


async def test_valid_token_gives_its_claims(
    server: AuthorizationServer, make_verifier: MakeVerifier
) -> None:
    """A token from the testing server verifies and its claims are exposed read-only."""
    verifier = make_verifier()
    with anyio.fail_after(10):
        claims = await verifier.verify(server.issue_token(), scopes=["read:messages"])
    assert isinstance(claims, Claims)
    assert claims.subject == "demo-client"
    assert claims["iss"] == server.issuer
    assert claims.scopes == {"read:messages", "write:messages"}
    assert "exp" in claims
    assert len(claims) == len(dict(claims))
    assert repr(claims) == "Claims(sub='demo-client', scopes=['read:messages', 'write:messages'])"


async def test_token_from_the_token_endpoint_verifies(
    server: AuthorizationServer, make_verifier: MakeVerifier
) -> None:
    """A token obtained over HTTP with client_credentials verifies too."""
    from tokensources import ClientCredentials
    from tokensources.testing import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET

    async with server.client() as http:
        source = ClientCredentials(
            server.token_endpoint,
            DEMO_CLIENT_ID,
            DEMO_CLIENT_SECRET,
            http=http,
            allow_insecure_http=True,
        )
        with anyio.fail_after(10):
            token = await source.token()
            claims = await make_verifier().verify(token.access_token)
    assert claims.subject == DEMO_CLIENT_ID


async def test_expired_token_is_refused(
    server: AuthorizationServer, make_verifier: MakeVerifier, clock: FakeClock
) -> None:
    """A token past exp plus the leeway is refused; within the leeway it passes."""
    token = server.issue_token(lifetime=60)
    verifier = make_verifier(leeway=5)
    clock.advance(64)
    with anyio.fail_after(10):
        await verifier.verify(token)
    clock.advance(1)
    await refused(make_verifier, token, r"expired \(exp\)")


async def test_not_yet_valid_token_is_refused(
    server: AuthorizationServer, make_verifier: MakeVerifier, clock: FakeClock
) -> None:
    """A token whose nbf is beyond the leeway is refused."""
    _, payload = parts(server.issue_token())
    key = other_rsa_key()
    token = jwt.encode({**payload, "nbf": clock.now + 60}, key, algorithm="RS256")
    verifier = make_verifier(jwks={"keys": [jwk_of(key, kid=None)]})
    with anyio.fail_after(10), pytest.raises(InvalidTokenError, match=r"not valid yet \(nbf\)"):
        await verifier.verify(token)
    clock.advance(56)
    with anyio.fail_after(10):
        await verifier.verify(token)


async def test_token_issued_in_the_future_is_refused(
    server: AuthorizationServer, make_verifier: MakeVerifier, clock: FakeClock
) -> None:
    """A token with iat far in the future is refused."""
    token = server.issue_token()
    clock.advance(-120)
    await refused(make_verifier, token, r"issued in the future \(iat\)")


@pytest.mark.parametrize(
    ("changes", "match"),
    [
        ({"iss": "https://evil.example"}, r"another issuer \(iss\)"),
        ({"aud": "https://other-api.example"}, r"another audience \(aud\)"),
        ({"aud": ["https://a.example", "https://b.example"]}, r"another audience"),
        ({"exp": None}, r"no 'exp' claim"),
        ({"aud": None}, r"no 'aud' claim"),
        ({"iss": None}, r"no 'iss' claim"),
        ({"exp": "tomorrow"}, r"'exp' claim is not a number"),
        ({"exp": True}, r"'exp' claim is not a number"),
        ({"nbf": "soon"}, r"'nbf' claim is not a number"),
        ({"aud": [1]}, r"audience \(aud\) is not a string or a list of strings"),
        ({"aud": {"a": 1}}, r"audience \(aud\) is not a string"),
        ({"iss": ["https://idp.example"]}, r"another issuer \(iss\)"),
        ({"sub": 42}, r"'sub' claim is not a string"),
        ({"jti": 7}, r"'jti' claim is not a string"),
    ],
)
async def test_bad_claims_are_refused(
    server: AuthorizationServer,
    make_verifier: MakeVerifier,
    changes: dict[str, object],
    match: str,
) -> None:
    """Wrong or missing iss, aud and exp are refused, naming the failed check."""
    _, payload = parts(server.issue_token())
    payload = {k: v for k, v in {**payload, **changes}.items() if v is not None}
    key = other_rsa_key()
    # PyJWS signs any JSON; jwt.encode would refuse some of these claims itself.
    body = json.dumps(payload).encode()
    token = jwt.PyJWS().encode(body, key, algorithm="RS256", headers={"kid": "k1"})
    verifier = make_verifier(jwks={"keys": [jwk_of(key, kid="k1")]})
    with anyio.fail_after(10), pytest.raises(InvalidTokenError, match=match):
        await verifier.verify(token)


async def test_audience_lists_on_both_sides(
    server: AuthorizationServer, make_verifier: MakeVerifier
) -> None:
    """A token with several audiences passes when one of the accepted ones is among them."""
    token = server.issue_token(audience=["https://other.example", server.audience])
    verifier = make_verifier()
    with anyio.fail_after(10):
        assert (await verifier.verify(token))["aud"][1] == server.audience
    other = server.issue_token(audience="https://second-api.example")
    both = make_verifier(audience=["https://x.example", "https://second-api.example"])
    with anyio.fail_after(10):
        assert (await both.verify(other)).subject == "demo-client"


async def test_wrong_signature_is_refused(
    server: AuthorizationServer, make_verifier: MakeVerifier
) -> None:
    """The same claims and kid signed with a key the issuer never published are refused."""
    token = resign(server.issue_token(), other_rsa_key())
    await refused(make_verifier, token, "signature does not verify")


async def test_tampered_payload_is_refused(
    server: AuthorizationServer, make_verifier: MakeVerifier
) -> None:
    """Changing the payload (granting a scope) under the original signature is refused."""
    token = server.issue_token(scope="write:messages")
    header, payload = token.split(".")[0], token.split(".")[2]
    _, claims = parts(token)
    forged = f"{header}.{segment({**claims, 'scope': 'read:messages admin'})}.{payload}"
    await refused(make_verifier, forged, "signature does not verify")


async def test_alg_none_is_refused(
    server: AuthorizationServer, make_verifier: MakeVerifier
) -> None:
    """An unsigned token (alg none, empty signature) is refused before any key lookup."""
    await refused(make_verifier, unsigned(server.issue_token()), r"alg none")
    assert server.counters.jwks_requests == 0


async def test_hs256_signed_with_the_public_key_is_refused(
    server: AuthorizationServer, make_verifier: MakeVerifier
) -> None:
    """HS256 keyed with the issuer's public key PEM is refused, even if HS256 is asked for."""
    await refused(
        make_verifier, hs256_with_public_key(server.issue_token(), server), "not accepted"
    )
    with pytest.raises(ConfigError, match="HS256"):
        make_verifier(algorithms=("RS256", "HS256"))


async def test_algorithm_not_configured_is_refused(
    server: AuthorizationServer, make_verifier: MakeVerifier
) -> None:
    """A correctly signed RS256 token is refused when only PS256 is accepted."""
    await refused(
        lambda **kw: make_verifier(algorithms=("PS256",), **kw),
        server.issue_token(),
        "'RS256' is not accepted",
    )


async def test_key_type_must_fit_the_algorithm(
    server: AuthorizationServer, make_verifier: MakeVerifier
) -> None:
    """An ES256 token whose kid names an RSA key is refused without a JWKS refetch."""
    _, payload = parts(server.issue_token())
    kid = server.jwks()["keys"][0]["kid"]
    token = jwt.encode(payload, other_ec_key(), algorithm="ES256", headers={"kid": kid})
    verifier = make_verifier(algorithms=("RS256", "ES256"))
    with anyio.fail_after(10), pytest.raises(InvalidTokenError, match="no key of the issuer fits"):
        await verifier.verify(token)
    assert server.counters.jwks_requests == 1


async def test_unknown_kid_is_refused(
    server: AuthorizationServer, make_verifier: MakeVerifier
) -> None:
    """A token signed with an unpublished key under an unknown kid is refused."""
    token = resign(server.issue_token(), other_rsa_key(), kid="forged-kid")
    await refused(make_verifier, token, "key id is not in the issuer's JWKS")


@pytest.mark.parametrize(
    ("token", "match"),
    [
        ("", "no token"),
        ("abc", "compact JWS"),
        ("a.b", "compact JWS"),
        ("a.b.c.d.e", "compact JWS"),
        ("!!!.???.***", "compact JWS"),
        ("eyJhbGciOi.eyJzdWIi.c2ln", "not base64url-encoded JSON"),
        (f"{segment([1])}.e30.c2ln", "not a JSON object"),  # type: ignore[arg-type]
        (f"{segment({'typ': 'JWT'})}.e30.c2ln", r"no algorithm \(alg\)"),
        (f"{segment({'alg': 'RS256', 'kid': 7})}.e30.c2ln", r"key id \(kid\) is not a string"),
        (f"{segment({'alg': 'RS256', 'crit': ['exp']})}.e30.c2ln", r"critical"),
        (f"{segment({'alg': 'RS256'})}.e30.", "no signature"),
        (f"{segment({'alg': 'RS256', 'kid': 'x'})}.bm90IGpzb24.c2ln", "malformed|key id"),
    ],
)
async def test_malformed_tokens_are_refused(
    make_verifier: MakeVerifier, token: str, match: str
) -> None:
    """Tokens that are not well-formed JWS are refused with a reason."""
    verifier = make_verifier()
    with anyio.fail_after(10), pytest.raises(InvalidTokenError, match=match):
        await verifier.verify(token)


async def test_megabyte_token_is_refused_cheaply(
    server: AuthorizationServer, make_verifier: MakeVerifier
) -> None:
    """A 1 MB token is refused on its length alone, before any JWKS fetch."""
    huge = segment({"alg": "RS256", "pad": "x" * (1024 * 1024)}) + ".e30.c2ln"
    await refused(make_verifier, huge, "longer than 16384 bytes")
    assert server.counters.jwks_requests == 0


async def test_scopes_are_required(
    server: AuthorizationServer, make_verifier: MakeVerifier
) -> None:
    """A valid token lacking a required scope raises InsufficientScopeError naming it."""
    token = server.issue_token(scope="write:messages")
    verifier = make_verifier()
    with anyio.fail_after(10), pytest.raises(InsufficientScopeError) as info:
        await verifier.verify(token, scopes=["read:messages", "write:messages"])
    assert info.value.missing == ("read:messages",)
    assert token not in str(info.value)


async def test_static_jwks_callable_follows_rotation(server: AuthorizationServer) -> None:
    """With jwks=server.jwks the verifier sees each rotation at once, with no HTTP."""
    from tokensources.verify import JWTVerifier

    verifier = JWTVerifier(server.issuer, server.audience, jwks=server.jwks, clock=server.clock)
    old = server.issue_token()
    with anyio.fail_after(10):
        await verifier.verify(old)
        server.rotate_keys()
        await verifier.verify(server.issue_token())
        with pytest.raises(InvalidTokenError, match="no configured key"):
            await verifier.verify(old)
    assert server.counters.jwks_requests == 0


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"algorithms": ()}, "at least one"),
        ({"algorithms": "RS256"}, "sequence"),
        ({"algorithms": ("none",)}, "not supported"),
        ({"leeway": -1}, "leeway"),
        ({"jwks_max_age": 0}, "jwks_max_age"),
        ({"max_token_bytes": 10}, "at least 256"),
        ({"jwks_url": "http://keys.example/jwks", "allow_insecure_http": False}, "plain http"),
        ({"jwks_url": "https://k.example/j", "jwks": {"keys": []}}, "not both"),
        ({"jwks": {"nokeys": []}}, "'keys' array"),
    ],
)
async def test_bad_configuration_is_refused(
    make_verifier: MakeVerifier, kwargs: dict[str, object], match: str
) -> None:
    """Unusable settings raise ConfigError naming the setting."""
    with pytest.raises(ConfigError, match=match):
        make_verifier(**kwargs)


@pytest.mark.parametrize("audience", ["", [], [""], [1]])
def test_bad_audience_is_refused(server: AuthorizationServer, audience: object) -> None:
    """An empty or non-string audience raises ConfigError."""
    from tokensources.verify import JWTVerifier

    with pytest.raises(ConfigError, match="audience"):
        JWTVerifier(server.issuer, audience)  # type: ignore[arg-type]


async def test_static_jwks_as_json_text(server: AuthorizationServer) -> None:
    """A JWKS given as JSON bytes or text verifies, and is parsed once per distinct object."""
    from tokensources.verify import JWTVerifier

    document = json.dumps(server.jwks()).encode()
    calls: list[int] = []

    def current() -> bytes:
        calls.append(1)
        return document

    token = server.issue_token()
    for jwks in (document, document.decode(), current):
        verifier = JWTVerifier(server.issuer, server.audience, jwks=jwks, clock=server.clock)
        with anyio.fail_after(10):
            assert (await verifier.verify(token)).subject == "demo-client"
            await verifier.verify(token)
    assert len(calls) == 2


async def test_one_required_claim_given_as_a_string(
    server: AuthorizationServer, make_verifier: MakeVerifier
) -> None:
    """required_claims="tenant" requires the claim tenant, not the letters t, e, n, a."""
    _, payload = parts(server.issue_token())
    key = other_rsa_key()
    verifier = make_verifier(jwks={"keys": [jwk_of(key, kid="k1")]}, required_claims="tenant")
    with_tenant = jwt.encode({**payload, "tenant": "eu"}, key, "RS256", headers={"kid": "k1"})
    without = jwt.encode(
        {**payload, "t": 1, "e": 1, "n": 1, "a": 1}, key, "RS256", headers={"kid": "k1"}
    )
    with anyio.fail_after(10):
        assert (await verifier.verify(with_tenant))["tenant"] == "eu"
        with pytest.raises(InvalidTokenError, match="no 'tenant' claim"):
            await verifier.verify(without)
