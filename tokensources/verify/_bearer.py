"""RFC 6750 on the wire: reading the bearer token, and the challenge sent back.

Pure functions, no I/O, so every framework adapter answers the same way:

====================================  ======  =====================================
what went wrong                       status  ``WWW-Authenticate``
====================================  ======  =====================================
no ``Authorization``, or not Bearer   401     ``Bearer`` (no error code, §3.1)
malformed: two headers, two tokens,   400     ``Bearer error="invalid_request"``
illegal characters
token refused by the verifier         401     ``Bearer error="invalid_token"``
valid token, scope missing            403     ``Bearer error="insufficient_scope",
                                              scope="…"``
DPoP proof missing or refused         401     ``DPoP error="invalid_dpop_proof"``
DPoP proof without the current nonce  401     ``DPoP error="use_dpop_nonce"``
a ``DPoP`` credential refused, or     401,    ``DPoP error="invalid_token"``,
its scope missing                     403     ``DPoP error="insufficient_scope"``
verifier cannot decide (JWKS or       503     none; ``Retry-After``
introspection endpoint down)
====================================  ======  =====================================

With ``resource_metadata``, every challenge also names where the
resource's RFC 9728 metadata is (``resource_metadata="…"``, RFC 9728 §5.1),
so that a client that has no token yet learns which authorization server
to ask and for what. A request that presented a ``DPoP`` credential is
answered with the ``DPoP`` scheme (RFC 9449 §7.1), and every ``DPoP``
challenge names the accepted proof algorithms (``algs="…"``) when they
are given.

Nothing about the token or why it failed is sent to the client: the reason
is in the exception message, for logs.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import NamedTuple

from .._errors import ConfigError, InsufficientScopeError, InvalidTokenError, TokenSourceError
from ._claims import scope_list
from ._dpop import DPoPProofError

__all__ = [
    "Challenge",
    "access_token",
    "bearer_token",
    "challenge",
    "check_realm",
    "check_resource_metadata",
]

# RFC 9110 §11.4: credentials = auth-scheme [ 1*SP ( token68 / #auth-param ) ].
_CREDENTIALS = re.compile(r"([!#$%&'*+.^_`|~0-9A-Za-z-]+)(?: +(.*))?")
# RFC 6750 §2.1: b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="
_B64TOKEN = re.compile(r"[A-Za-z0-9\-._~+/]+=*")
# Far above any real token; refused before any pattern runs over it.
MAX_AUTHORIZATION_CHARS = 32 * 1024
RETRY_AFTER_SECONDS = 5
# What a quoted-string auth-param cannot hold as it is (RFC 9110 §5.6.4, §11.2).
_UNQUOTABLE = re.compile(r'[\x00-\x1f\x7f"\\]')


class MissingTokenError(InvalidTokenError):
    """The request carries no bearer credentials at all (RFC 6750 §3.1: no error code)."""


class MalformedRequestError(InvalidTokenError):
    """The ``Authorization`` header is not a well-formed bearer credential (``invalid_request``)."""


class Challenge(NamedTuple):
    """The HTTP answer to a refused request, per RFC 6750 §3.

    Attributes:
        status: 400, 401, 403 or 503.
        headers: response headers (``WWW-Authenticate``, ``Retry-After``).
        body: a small JSON object: ``error`` and a generic ``message``.
    """

    status: int
    headers: dict[str, str]
    body: dict[str, str]

    def body_bytes(self) -> bytes:
        """The body serialised as compact JSON."""
        return json.dumps(self.body, separators=(",", ":")).encode()


def bearer_token(authorization: str | Iterable[str] | None) -> str:
    """The bearer token in an ``Authorization`` header (RFC 6750 §2.1).

    Args:
        authorization: the header's value; or every value when the request
            may carry the header more than once; None or empty when absent.

    Raises:
        InvalidTokenError: no bearer credentials, or malformed ones (two
            headers, two tokens, characters outside ``b64token``, far too
            long). ``challenge()`` turns it into the right answer.
    """
    return access_token(authorization, schemes=("bearer",))[1]


def access_token(
    authorization: str | Iterable[str] | None, *, schemes: Iterable[str] = ("bearer", "dpop")
) -> tuple[str, str]:
    """The scheme (lower-cased) and the token of an ``Authorization`` header.

    ``Bearer`` (RFC 6750 §2.1) and ``DPoP`` (RFC 9449 §7.1) credentials
    have the same form: the scheme, one space, one ``b64token``.

    Args:
        authorization: as for ``bearer_token``.
        schemes: the schemes accepted, lower-case.

    Raises:
        InvalidTokenError: as for ``bearer_token``.
    """
    accepted = tuple(schemes)
    values = [authorization] if isinstance(authorization, str) else list(authorization or ())
    if not values:
        raise MissingTokenError("the request has no Authorization header")
    if len(values) > 1:
        raise MalformedRequestError("the request has more than one Authorization header")
    value = values[0].strip(" \t")
    if len(value) > MAX_AUTHORIZATION_CHARS:
        raise InvalidTokenError(
            f"the Authorization header is longer than {MAX_AUTHORIZATION_CHARS}"
        )
    match = _CREDENTIALS.fullmatch(value)
    if match is None:
        raise MissingTokenError("the Authorization header is not an auth-scheme credential")
    scheme, token = match.group(1), (match.group(2) or "").strip(" ")
    # RFC 9110 §11.1: the scheme name is case-insensitive.
    kind = scheme.lower()
    if kind not in accepted:
        names = " or ".join("DPoP" if name == "dpop" else name.title() for name in accepted)
        raise MissingTokenError(f"the Authorization header is not a {names} credential")
    if not token:
        raise MalformedRequestError(f"{scheme[:16]} is not followed by a token")
    if " " in token:
        raise MalformedRequestError(f"more than one token after {scheme[:16]}")
    if not _B64TOKEN.fullmatch(token):
        raise MalformedRequestError("the access token has characters outside b64token")
    return kind, token


def _quotable(name: str, value: str | None) -> str | None:
    """``value`` if it can stand in a quoted-string auth-param as it is (RFC 9110 §11.2)."""
    if value is not None and (
        not isinstance(value, str) or re.search(r'[\x00-\x1f\x7f"\\]', value)
    ):
        raise ConfigError(
            f"{name} must be a string without quotes, backslashes or control characters"
        )
    return value


def check_realm(realm: str | None) -> str | None:
    """Validate a ``realm`` for the challenge and return it.

    Raises:
        ConfigError: the realm has a control character, quote or backslash.
    """
    return _quotable("realm", realm)


def check_resource_metadata(url: str | None) -> str | None:
    """Validate a ``resource_metadata`` URL for the challenge and return it.

    Raises:
        ConfigError: the URL has a control character, quote or backslash.
    """
    return _quotable("resource_metadata", url)


def challenge(
    error: TokenSourceError,
    *,
    realm: str | None = None,
    scopes: Iterable[str] | str = (),
    resource_metadata: str | None = None,
    scheme: str = "bearer",
    dpop_algorithms: Iterable[str] = (),
) -> Challenge:
    """The RFC 6750 answer for ``error`` raised by ``bearer_token`` or verification.

    Args:
        error: the error; an ``InsufficientScopeError`` names the missing
            scopes itself, other ``InvalidTokenError``s give 400/401, any
            other ``TokenSourceError`` (the verifier could not decide:
            keys or introspection unavailable) gives 503.
        realm: the protection space to name in the challenge.
        scopes: the scopes the resource requires, for the ``scope``
            attribute of a 403 (defaults to the missing ones): an iterable
            of scopes, or one space-separated string.
        resource_metadata: the URL of the resource's RFC 9728 metadata
            (``ResourceMetadata.url``), named in every challenge as RFC
            9728 §5.1 says; the 503 answer has no challenge.
        scheme: the scheme of the request's credentials, lower-cased, as
            ``access_token`` returns it: with ``"dpop"``, a refused token
            or a missing scope is answered with a ``DPoP`` challenge
            (RFC 9449 §7.1), since that is the scheme the client uses.
        dpop_algorithms: the accepted DPoP proof algorithms
            (``DPoPProofChecker.algorithms``), named as ``algs`` in every
            ``DPoP`` challenge (RFC 9449 §7.1); none when empty.

    Raises:
        ConfigError: ``realm`` or ``resource_metadata`` is unusable, or a
            scope is empty or not a string.
    """
    params = [f'realm="{check_realm(realm)}"'] if realm else []
    if resource_metadata:
        # RFC 9728 §5.1: where a client without a (good) token learns what to get.
        params.append(f'resource_metadata="{check_resource_metadata(resource_metadata)}"')
    if isinstance(error, MissingTokenError):
        return _answer(401, params, "unauthorized", _REFUSED)
    if not isinstance(error, InvalidTokenError):
        body = {"error": "temporarily_unavailable", "message": "Try again later."}
        return Challenge(503, {"Retry-After": str(RETRY_AFTER_SECONDS)}, body)
    status, found, code, message = _refusal(error, scopes)
    # RFC 9449 §7.1, §9: a refused proof, or a DPoP credential refused, gets a
    # DPoP challenge; a malformed header may be either scheme, so Bearer.
    as_dpop = scheme == "dpop" and not isinstance(error, MalformedRequestError)
    if isinstance(error, DPoPProofError) or as_dpop:
        algs = " ".join(dpop_algorithms)
        # RFC 9449 §7.1: the DPoP scheme's own parameter, the accepted proof algorithms.
        named = [f'algs="{_quotable("dpop_algorithms", algs)}"'] if algs else []
        return _answer(status, [*found, *params, *named], code, message, "DPoP")
    return _answer(status, [*params, *found], code, message)


_REFUSED = "Missing or invalid token."


def _refusal(
    error: InvalidTokenError, scopes: Iterable[str] | str
) -> tuple[int, list[str], str, str]:
    """The status, the challenge's error parameters, the error code and message for ``error``."""
    if isinstance(error, InsufficientScopeError):
        needed = " ".join(scope_list(scopes)) or " ".join(error.missing)
        found = ['error="insufficient_scope"', f'scope="{needed}"']
        return 403, found, "insufficient_scope", "The token lacks a required scope."
    if isinstance(error, DPoPProofError):
        return 401, [f'error="{error.error}"'], error.error, "Invalid DPoP proof."
    if isinstance(error, MalformedRequestError):
        return (
            400,
            ['error="invalid_request"'],
            "invalid_request",
            "Malformed Authorization header.",
        )
    return 401, ['error="invalid_token"'], "invalid_token", _REFUSED


def _answer(
    status: int, params: list[str], error: str, message: str, scheme: str = "Bearer"
) -> Challenge:
    value = f"{scheme} " + ", ".join(params) if params else scheme
    return Challenge(status, {"WWW-Authenticate": value}, {"error": error, "message": message})
