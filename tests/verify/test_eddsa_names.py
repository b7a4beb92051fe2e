"""EdDSA under its RFC 9864 names: Ed25519 and Ed448 beside the polymorphic EdDSA."""

from __future__ import annotations

from typing import Any

import anyio
import pytest
from cryptography.hazmat.primitives.asymmetric import ed448, ed25519
from jwt.algorithms import OKPAlgorithm

from tests.support.clock import FakeClock
from tests.verify.conftest import b64, parts, segment
from tokensources import ConfigError, InvalidTokenError
from tokensources.testing import AuthorizationServer
from tokensources.verify import JWTVerifier

pytestmark = pytest.mark.anyio

EdwardsKey = ed25519.Ed25519PrivateKey | ed448.Ed448PrivateKey
KEYS: dict[str, EdwardsKey] = {
    "Ed25519": ed25519.Ed25519PrivateKey.generate(),
    "Ed448": ed448.Ed448PrivateKey.generate(),
}


def okp_jwk(curve: str, **members: Any) -> dict[str, Any]:
    """The public JWK of the test key on ``curve``, kid ``k``, with extra members."""
    jwk: dict[str, Any] = OKPAlgorithm.to_jwk(KEYS[curve].public_key(), as_dict=True)
    return {**jwk, "kid": "k", **members}


def minted(server: AuthorizationServer, alg: str, curve: str, key: EdwardsKey | None = None) -> str:
    """A token with header ``alg`` signed by the ``curve`` test key (or ``key``), kid ``k``.

    Built by hand (RFC 7515 §5.1), as an RFC 9864 issuer mints it, so that
    the test does not lean on the code it tests.
    """
    payload = parts(server.issue_token())[1]
    signing_input = f"{segment({'alg': alg, 'kid': 'k', 'typ': 'JWT'})}.{segment(payload)}"
    signature = (key or KEYS[curve]).sign(signing_input.encode("ascii"))
    return f"{signing_input}.{b64(signature)}"


def verifier(
    server: AuthorizationServer, clock: FakeClock, algorithms: tuple[str, ...], *jwks: Any
) -> JWTVerifier:
    """A verifier for the server's tokens with the given algorithms and keys."""
    return JWTVerifier(
        server.issuer,
        server.audience,
        jwks={"keys": list(jwks)},
        algorithms=algorithms,
        clock=clock,
    )


@pytest.mark.parametrize("curve", sorted(KEYS))
@pytest.mark.parametrize("jwk_alg", [None, "fully-specified", "EdDSA"])
async def test_fully_specified_names_verify(
    curve: str, jwk_alg: str | None, server: AuthorizationServer, clock: FakeClock
) -> None:
    """algorithms=("Ed25519",) (or Ed448) verifies such tokens, whatever alg the JWK names."""
    members = {} if jwk_alg is None else {"alg": curve if jwk_alg == "fully-specified" else jwk_alg}
    checker = verifier(server, clock, (curve,), okp_jwk(curve, **members))
    with anyio.fail_after(10):
        claims = await checker.verify(minted(server, curve, curve))
    assert claims.subject == "demo-client"
    assert checker.algorithms == (curve,)


@pytest.mark.parametrize("curve", sorted(KEYS))
async def test_eddsa_still_verifies_both_curves(
    curve: str, server: AuthorizationServer, clock: FakeClock
) -> None:
    """algorithms=("EdDSA",) verifies EdDSA tokens on Ed25519 and on Ed448 keys."""
    checker = verifier(server, clock, ("EdDSA",), okp_jwk(curve))
    with anyio.fail_after(10):
        assert (await checker.verify(minted(server, "EdDSA", curve))).subject == "demo-client"


@pytest.mark.parametrize(("alg", "curve"), [("Ed25519", "Ed448"), ("Ed448", "Ed25519")])
async def test_a_name_and_a_curve_that_disagree_are_refused(
    alg: str, curve: str, server: AuthorizationServer, clock: FakeClock
) -> None:
    """A token named Ed25519 signed by an Ed448 key (or the reverse) is refused."""
    checker = verifier(server, clock, ("Ed25519", "Ed448", "EdDSA"), okp_jwk(curve))
    with anyio.fail_after(10), pytest.raises(InvalidTokenError, match="no configured key fits"):
        await checker.verify(minted(server, alg, curve))


async def test_a_jwk_pinned_to_another_curve_name_is_not_used(
    server: AuthorizationServer, clock: FakeClock
) -> None:
    """A JWK on Ed25519 whose alg says Ed448 verifies neither name."""
    checker = verifier(server, clock, ("Ed25519", "Ed448"), okp_jwk("Ed25519", alg="Ed448"))
    with anyio.fail_after(10):
        for alg in ("Ed25519", "Ed448"):
            with pytest.raises(InvalidTokenError):
                await checker.verify(minted(server, alg, "Ed25519"))


async def test_each_name_must_be_configured(server: AuthorizationServer, clock: FakeClock) -> None:
    """EdDSA and Ed25519 are separate choices: configuring one does not accept the other."""
    eddsa_only = verifier(server, clock, ("EdDSA",), okp_jwk("Ed25519"))
    ed25519_only = verifier(server, clock, ("Ed25519",), okp_jwk("Ed25519"))
    with anyio.fail_after(10):
        with pytest.raises(InvalidTokenError, match="'Ed25519' is not accepted"):
            await eddsa_only.verify(minted(server, "Ed25519", "Ed25519"))
        with pytest.raises(InvalidTokenError, match="'EdDSA' is not accepted"):
            await ed25519_only.verify(minted(server, "EdDSA", "Ed25519"))


async def test_a_forged_signature_under_a_new_name_is_refused(
    server: AuthorizationServer, clock: FakeClock
) -> None:
    """An Ed25519-named token signed by another Ed25519 key fails its signature check."""
    checker = verifier(server, clock, ("Ed25519",), okp_jwk("Ed25519"))
    token = minted(server, "Ed25519", "Ed25519")
    forged = minted(server, "Ed25519", "Ed25519", ed25519.Ed25519PrivateKey.generate())
    with anyio.fail_after(10):
        await checker.verify(token)
        with pytest.raises(InvalidTokenError, match="signature does not verify"):
            await checker.verify(forged)


@pytest.mark.parametrize("name", ["ed25519", "Ed25519ph", "X25519", "EdDSA25519"])
def test_unknown_edwards_names_are_config_errors(name: str, server: AuthorizationServer) -> None:
    """Names outside the table (wrong case, prehash, key agreement) raise ConfigError."""
    with pytest.raises(ConfigError, match="not supported"):
        JWTVerifier(server.issuer, server.audience, jwks={"keys": []}, algorithms=(name,))
