"""DPoP keys (RFC 9449): the key a client proves possession of, and the proofs it signs.

A ``DPoPKey`` is a private key checked, once, to sign with its algorithm;
the proof header (``typ``, ``alg`` and the public ``jwk``) is encoded once
as well, so that a proof costs one JSON encoding of a few claims and one
signature. Keys are loaded as client assertion keys are (PEM, JWK or a
``cryptography`` key object, see ``sources._signing_keys``): one loader,
one set of refusals, none of which shows key material.

A token bound to a key can only be used where that key is: ``loaded_key``
finds the key of a token's ``jkt`` among the keys loaded in this process
(held weakly, so a key lives as long as the sources that use it). A token
read from a shared store in another process is usable there exactly when
that process loaded the same key.

``target_uri`` is the one normalisation of ``htu`` (RFC 9449 §4.2, §4.3):
proofs are made with it and ``tokensources.verify`` compares with it.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import json
import secrets
import time
import weakref
from collections.abc import Callable, Mapping
from typing import Any, NoReturn
from urllib.parse import urlsplit

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from jwt.algorithms import Algorithm, OKPAlgorithm, get_default_algorithms

from .._errors import ConfigError
from .._source import Clock
from ._signing_keys import KeyInput, load_signing_key

__all__ = [
    "DPOP_ALGORITHMS",
    "PROOF_TYPE",
    "DPoPKey",
    "access_token_hash",
    "loaded_key",
    "new_private_key",
    "target_uri",
]

# RFC 9449 §4.2: the "typ" of every proof.
PROOF_TYPE = "dpop+jwt"
# What DPoPKey signs with: the asymmetric algorithms identity providers
# accept for DPoP (Okta, Auth0 and Keycloak: ES256 and RS256 at least).
DPOP_ALGORITHMS = ("ES256", "ES384", "EdDSA", "PS256", "RS256")
_DEFAULT_PORTS = {"http": 80, "https": 443}
# RFC 9110 §5.6.2 token characters, for the HTTP method.
_TCHAR = frozenset("!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def access_token_hash(access_token: str) -> str:
    """The ``ath`` of a proof for ``access_token``: base64url of its SHA-256 (RFC 9449 §4.2)."""
    return _b64(hashlib.sha256(access_token.encode("ascii")).digest())


def target_uri(url: str) -> str:
    """The ``htu`` for a request to ``url``: scheme, host, port and path (RFC 9449 §4.2).

    No query and no fragment. Scheme and host are lower-cased and a default
    port is dropped (RFC 3986 §6.2.2 and §6.2.3, the normalisation RFC 9449
    §4.3 asks for); an empty path is ``/``; the path's percent-encoding is
    left exactly as sent, because the server sees the path as sent.

    Raises:
        ConfigError: ``url`` is not an absolute http(s) URL.
    """
    return _target_uri(_without_query(url))


def _without_query(url: object) -> str:
    """``url`` without its query and fragment, which never count and never enter a cache."""
    if not isinstance(url, str):
        raise ConfigError("a DPoP proof's URL must be a string")
    return url.partition("#")[0].partition("?")[0]


# A client sends to a handful of URLs over and over: each is parsed once.
@functools.lru_cache(maxsize=512)
def _target_uri(url: str) -> str:
    problem = None
    try:
        parts = urlsplit(url)
        port = parts.port
    except (ValueError, TypeError, AttributeError):
        problem = "is not a valid URL"
    if problem is not None:
        # Raised outside the handler: the parse error quotes the URL.
        raise ConfigError(f"a DPoP proof's URL {problem}")
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS or not parts.hostname:
        raise ConfigError("a DPoP proof's URL must be an absolute http(s) URL")
    host = parts.hostname  # lower-cased, without user info or brackets
    if ":" in host:
        host = f"[{host}]"
    if port is not None and port != _DEFAULT_PORTS[scheme]:
        host = f"{host}:{port}"
    return f"{scheme}://{host}{parts.path or '/'}"


def _quoted_target(url: str) -> str:
    """``target_uri(url)`` as a JSON string."""
    return _quoted_target_uri(_without_query(url))


@functools.lru_cache(maxsize=512)
def _quoted_target_uri(url: str) -> str:
    return json.dumps(_target_uri(url))


# One token and one nonce are used for many proofs in a row; a few more are
# remembered for the moments two of them are in use at once (a refresh, a
# nonce rotation).
def _access_token_hash(access_token: object) -> str:
    if not isinstance(access_token, str) or not access_token.isascii():
        raise ConfigError("a DPoP proof's access_token must be an ASCII string")
    return _cached_access_token_hash(access_token)


def _quoted_nonce(nonce: object) -> str:
    if not isinstance(nonce, str) or not nonce:
        raise ConfigError("a DPoP proof's nonce must be a non-empty string")
    return _cached_quoted(nonce)


_cached_access_token_hash = functools.lru_cache(maxsize=8)(access_token_hash)
_cached_quoted = functools.lru_cache(maxsize=8)(json.dumps)


def _check_method(method: object) -> str:
    if not isinstance(method, str) or not method or not _TCHAR.issuperset(method):
        raise ConfigError("a DPoP proof's method must be an HTTP method name such as 'POST'")
    return method


def _implementation(algorithm: str) -> Algorithm:
    # pyjwt serves every DPoP algorithm; EdDSA through its OKP implementation.
    if algorithm == "EdDSA":
        return OKPAlgorithm()
    return get_default_algorithms()[algorithm]


# ECDSA with the hash each EC algorithm names, and the size of r and s.
_ECDSA = {"ES256": (hashes.SHA256(), 32), "ES384": (hashes.SHA384(), 48)}


def _signer(algorithm: str, key: Any) -> Callable[[bytes], bytes]:
    """What signs a proof's input with ``key``: once per proof, so nothing is redone per call."""
    if algorithm in _ECDSA and isinstance(key, ec.EllipticCurvePrivateKey):
        # cryptography directly: pyjwt's EC signing adds a fifth to the signature's cost.
        digest, size = _ECDSA[algorithm]
        ecdsa = ec.ECDSA(digest)

        def sign_ec(data: bytes) -> bytes:
            # RFC 7518 §3.4: r and s, each fixed-width big-endian, not DER.
            r, s = decode_dss_signature(key.sign(data, ecdsa))
            return r.to_bytes(size, "big") + s.to_bytes(size, "big")

        return sign_ec
    implementation = _implementation(algorithm)
    prepared = implementation.prepare_key(key)
    return functools.partial(implementation.sign, key=prepared)


PrivateKey = ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey | rsa.RSAPrivateKey


def new_private_key(algorithm: str) -> PrivateKey:
    """A private key made now for ``algorithm``: P-256, P-384, Ed25519 or 2048-bit RSA.

    Raises:
        ConfigError: ``algorithm`` is not one of ``DPOP_ALGORITHMS``.
    """
    if algorithm == "ES256":
        return ec.generate_private_key(ec.SECP256R1())
    if algorithm == "ES384":
        return ec.generate_private_key(ec.SECP384R1())
    if algorithm == "EdDSA":
        return ed25519.Ed25519PrivateKey.generate()
    if algorithm in ("RS256", "PS256"):
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    raise ConfigError(
        f"a DPoP key's algorithm must be one of {', '.join(DPOP_ALGORITHMS)}, "
        f"not {str(algorithm)[:16]!r}"
    )


class DPoPKey:
    """A private key for DPoP (RFC 9449), and the proofs of possession it signs.

    Build one from a private key — PEM (``str`` or ``bytes``), a private JWK
    (a mapping, or JSON text) or a ``cryptography`` private key object — or
    let ``DPoPKey.generate()`` make a fresh one. Without ``algorithm`` it is
    implied: a JWK's own ``alg``, else RS256 for RSA, ES256 or ES384 by curve,
    EdDSA for Ed25519.

    The key never leaves the object: ``repr()`` shows the algorithm and the
    thumbprint only, errors never quote the key, and it cannot be pickled or
    copied (a DPoP key that reached a shared store would bind tokens to
    whoever reads it).

    Safe to share between tasks and threads: proofs are independent.

    Args:
        private_key: the private key.
        algorithm: the JWS algorithm, one of ``DPOP_ALGORITHMS``.
        clock: wall-clock time for the proofs' ``iat``.

    Attributes:
        algorithm: the JWS ``alg`` of every proof.
        thumbprint: the RFC 7638 SHA-256 thumbprint of the public key: the
            ``jkt`` that tokens bound to this key carry (RFC 9449 §6.1).

    Raises:
        ConfigError: the key cannot be read, is a public key only, or cannot
            sign with the algorithm. The message never contains key material.
    """

    __slots__ = (
        "__weakref__",
        "_clock",
        "_header",
        "_public_jwk",
        "_sign",
        "algorithm",
        "thumbprint",
    )

    def __init__(
        self, private_key: KeyInput, *, algorithm: str | None = None, clock: Clock = time.time
    ) -> None:
        if algorithm is not None and algorithm not in DPOP_ALGORITHMS:
            raise ConfigError(
                f"a DPoP key's algorithm must be one of {', '.join(DPOP_ALGORITHMS)}, "
                f"not {str(algorithm)[:16]!r}"
            )
        signing = load_signing_key(private_key, algorithm=algorithm)
        if signing.algorithm not in DPOP_ALGORITHMS:
            # A JWK's own "alg" (RS384, say) that DPoP servers do not take.
            raise ConfigError(
                f"a DPoP key's algorithm must be one of {', '.join(DPOP_ALGORITHMS)}, "
                f"not {signing.algorithm!r}; pass algorithm="
            )
        self.algorithm = signing.algorithm
        self.thumbprint = signing.thumbprint
        self._public_jwk: Mapping[str, str] = signing.public_jwk
        self._clock = clock
        self._sign = _signer(self.algorithm, signing.private_key)
        # RFC 9449 §4.2: the public key travels in the header of every proof.
        header = {"typ": PROOF_TYPE, "alg": self.algorithm, "jwk": dict(self._public_jwk)}
        self._header = _b64(json.dumps(header, separators=(",", ":")).encode("ascii"))
        _LOADED[self.thumbprint] = self

    @classmethod
    def generate(cls, algorithm: str = "ES256", *, clock: Clock = time.time) -> DPoPKey:
        """A DPoP key made now: P-256 for ES256, P-384 for ES384, Ed25519, or 2048-bit RSA.

        A generated key lives in this process only: tokens bound to it cannot
        be used by any other process (see the sharing guide).

        Raises:
            ConfigError: ``algorithm`` is not one of ``DPOP_ALGORITHMS``.
        """
        return cls(new_private_key(algorithm), algorithm=algorithm, clock=clock)

    def __repr__(self) -> str:
        return f"DPoPKey(algorithm={self.algorithm!r}, thumbprint={self.thumbprint!r})"

    def __reduce__(self) -> NoReturn:
        raise TypeError("a DPoPKey cannot be pickled or copied: its private key stays in place")

    def public_jwk(self) -> dict[str, str]:
        """The public key as a JWK: the key type's members only (RFC 7517, RFC 7638 §3.2)."""
        return dict(self._public_jwk)

    def proof(
        self,
        method: str,
        url: str,
        *,
        access_token: str | None = None,
        nonce: str | None = None,
    ) -> str:
        """A fresh DPoP proof (RFC 9449 §4.2) for one ``method`` request to ``url``.

        The proof's header is ``typ: dpop+jwt``, ``alg`` and the public
        ``jwk``; its claims a fresh random ``jti``, ``htm`` (the method as
        given), ``htu`` (see ``target_uri``), ``iat`` (whole seconds), ``ath``
        when ``access_token`` is given (a request to a resource) and
        ``nonce`` when the server supplied one. Every call signs a new proof;
        none is ever reused.

        Raises:
            ConfigError: ``method`` is not an HTTP method name, ``url`` is not
                an absolute http(s) URL, or ``access_token`` or ``nonce`` is
                not a string.
        """
        # The claims' JSON is assembled from parts that need no escaping
        # (``jti`` is base64url, the method is token characters, ``iat`` an
        # integer, ``ath`` base64url) and parts quoted once and cached: a
        # client sends to a few URLs with one token and one nonce at a time,
        # and ``json.dumps`` of the whole dict would be a tenth of the proof.
        payload = (
            f'{{"jti":"{secrets.token_urlsafe(16)}","htm":"{_check_method(method)}",'
            f'"htu":{_quoted_target(url)},"iat":{int(self._clock())}'
        )
        if access_token is not None:
            payload += f',"ath":"{_access_token_hash(access_token)}"'
        if nonce is not None:
            payload += f',"nonce":{_quoted_nonce(nonce)}'
        signing_input = f"{self._header}.{_b64(payload.encode('ascii') + b'}')}"
        signature = self._sign(signing_input.encode("ascii"))
        return f"{signing_input}.{_b64(signature)}"


_LOADED: weakref.WeakValueDictionary[str, DPoPKey] = weakref.WeakValueDictionary()


def loaded_key(jkt: str) -> DPoPKey | None:
    """The key with thumbprint ``jkt`` among those loaded in this process, or None.

    What a client needs to make proofs for a DPoP-bound token (``Token.jkt``);
    one dictionary lookup, safe from any thread.
    """
    return _LOADED.get(jkt)
