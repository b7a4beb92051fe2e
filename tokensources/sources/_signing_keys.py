"""The signing keys of a client: private keys for its assertions, and their public JWKs.

A key arrives as PEM (optionally encrypted), a ``cryptography`` private key
object, or a private JWK; it leaves as a ``SigningKey`` that is known to be
able to sign with the chosen algorithm. Every refusal is a ``ConfigError``
that names the problem and never shows key material: lower-level errors are
not chained, because their messages and arguments are not ours to vouch for.
Nor are they left as ``__context__``: ``raise ... from None`` inside an
``except`` block only hides the context from tracebacks, while the exception
(a ``JSONDecodeError`` keeps the whole input, key and all) stays reachable.
So refusals are raised after the ``except`` block has ended.

What each algorithm needs of its key, the RSA size floor, signing and the
RFC 7638 thumbprint come from the library's one JOSE table
(``tokensources._jose``); a client signs with the part of it that
identity providers accept for client assertions.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, get_args

import jwt
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes, PublicKeyTypes
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm

from .._errors import ConfigError
from .._jose import ALGORITHMS as JOSE_ALGORITHMS
from .._jose import MIN_RSA_BITS, jwk_thumbprint, key_type, sign

__all__ = ["ALGORITHMS", "KeyInput", "SigningKey", "load_pem_private_key", "load_signing_key"]

SignerKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey
KeyInput = bytes | str | PrivateKeyTypes | Mapping[str, Any]
"""What ``private_key`` may be: PEM (bytes or str), a key object, or a private JWK."""

# The algorithms of the JOSE table a client signs assertions with: those
# every major provider accepts for private_key_jwt (RFC 7518 §3.1, RFC 8037
# §3.1). A name missing from the table is a KeyError at import.
ALGORITHMS = ("EdDSA", "ES256", "ES384", "PS256", "RS256", "RS384", "RS512")
_SPECS = {name: JOSE_ALGORITHMS[name] for name in ALGORITHMS}
# cryptography's names of the JWK curves (RFC 7518 §6.2.1.1), for messages
# that name a key as cryptography describes it.
_CURVE_NAMES = {"P-256": "secp256r1", "P-384": "secp384r1"}
# The members of a public JWK (RFC 7517 §4, RFC 7518 §6, RFC 8037 §2).
_PUBLIC_MEMBERS = {
    "RSA": ("e", "kty", "n"),
    "EC": ("crv", "kty", "x", "y"),
    "OKP": ("crv", "kty", "x"),
}
_JWK_LOADERS: dict[str, type[RSAAlgorithm | ECAlgorithm | OKPAlgorithm]] = {
    "RSA": RSAAlgorithm,
    "EC": ECAlgorithm,
    "OKP": OKPAlgorithm,
}
_PUBLIC_KEY_TYPES = get_args(PublicKeyTypes)
_PRIVATE_KEY_TYPES = get_args(PrivateKeyTypes)
_SIGNER_TYPES = (rsa.RSAPrivateKey, ec.EllipticCurvePrivateKey, ed25519.Ed25519PrivateKey)
_LOAD_ERRORS = (jwt.PyJWTError, ValueError, KeyError, TypeError, UnsupportedAlgorithm)


@dataclass(frozen=True, slots=True, repr=False)
class SigningKey:
    """A private key checked to sign with ``algorithm``, with its public description.

    Attributes:
        private_key: the key object (never printed).
        algorithm: the JWS ``alg`` it signs with.
        key_id: the ``kid`` to put in assertion headers, or None.
        public_jwk: the public key as a JWK (key type members only).
        thumbprint: the RFC 7638 SHA-256 thumbprint of the public key.
    """

    private_key: SignerKey = field(repr=False)
    algorithm: str
    key_id: str | None
    public_jwk: Mapping[str, str]
    thumbprint: str

    def __repr__(self) -> str:
        return (
            f"SigningKey(algorithm={self.algorithm!r}, key_id={self.key_id!r}, "
            f"thumbprint={self.thumbprint!r})"
        )

    def jwk(self) -> dict[str, str]:
        """The public JWK to register: key members plus ``kid``, ``alg`` and ``use``.

        ``kid`` is the key id when there is one, otherwise the thumbprint.
        """
        published = dict(self.public_jwk)
        published.update(kid=self.key_id or self.thumbprint, alg=self.algorithm, use="sig")
        return published

    def sign(self, claims: dict[str, Any], headers: Mapping[str, str] | None = None) -> str:
        """A compact JWS of ``claims``, with ``kid`` and ``headers`` in its header."""
        header = dict(headers or {})
        if self.key_id:
            header["kid"] = self.key_id
        return sign(claims, self.private_key, self.algorithm, header)


def load_signing_key(
    private_key: KeyInput,
    *,
    algorithm: str | None = None,
    key_id: str | None = None,
    password: bytes | str | None = None,
) -> SigningKey:
    """Load ``private_key`` and check that it can sign with ``algorithm``.

    Without ``algorithm``, a JWK's own ``alg`` is used, otherwise the one
    the key type implies: RS256 for RSA, ES256 or ES384 by curve, EdDSA for
    Ed25519. Without ``key_id``, a JWK's own ``kid`` is used.

    Raises:
        ConfigError: the key cannot be read, is not a private key, or cannot
            sign with the algorithm. The message never contains key material.
    """
    if password is not None and not isinstance(password, (bytes, str)):
        raise ConfigError("key_password must be bytes or str")
    jwk_alg: str | None = None
    jwk_kid: str | None = None
    if isinstance(private_key, Mapping):
        key, jwk_alg, jwk_kid = _from_jwk(private_key, password)
    elif isinstance(private_key, (bytes, str)):
        key, jwk_alg, jwk_kid = _from_text(private_key, password)
    else:
        if password is not None:
            raise ConfigError("key_password applies only to an encrypted PEM private_key")
        key = _signer(private_key)
    chosen = _algorithm(algorithm, jwk_alg, key)
    _check_fits(key, chosen)
    if key_id is not None and (not isinstance(key_id, str) or not key_id):
        raise ConfigError("key_id must be a non-empty string")
    public = _public_jwk(key)
    return SigningKey(key, chosen, key_id or jwk_kid, public, jwk_thumbprint(public))


def _from_text(
    text: bytes | str, password: bytes | str | None
) -> tuple[SignerKey, str | None, str | None]:
    """PEM, or a JWK serialised as JSON (handy for keys kept in environment variables)."""
    data = text.encode("utf-8") if isinstance(text, str) else text
    if data.lstrip().startswith(b"{"):
        jwk: Any = None
        # Refused after the block, not in a handler (see the module docstring).
        with contextlib.suppress(ValueError):
            jwk = json.loads(data)  # text starting with "{" is an object or invalid
        if not isinstance(jwk, Mapping):
            raise ConfigError("private_key looks like JSON but is not a valid JWK")
        return _from_jwk(jwk, password)
    return _from_pem(data, password), None, None


def load_pem_private_key(data: bytes, password: bytes | str | None) -> SignerKey:
    """An RSA, EC or Ed25519 private key from PEM, optionally encrypted.

    Raises:
        ConfigError: a missing or wrong password, or a PEM that is not such
            a key; the message never contains key material.
    """
    return _from_pem(data, password)


def _from_pem(data: bytes, password: bytes | str | None) -> SignerKey:
    secret = password.encode("utf-8") if isinstance(password, str) else password
    key: PrivateKeyTypes | None = None
    error: ConfigError | None = None
    try:
        key = serialization.load_pem_private_key(data, password=secret)
    except TypeError:
        # cryptography raises TypeError for a password/encryption mismatch.
        if password is None:
            error = ConfigError("private_key is encrypted: pass key_password")
        else:
            error = ConfigError("key_password was given but private_key is not encrypted")
    except (ValueError, UnsupportedAlgorithm):
        error = _unreadable_pem(data, password)
    if error is not None:
        raise error  # outside the handler, so no __context__ (see the module docstring)
    return _signer(key)


def _unreadable_pem(data: bytes, password: bytes | str | None) -> ConfigError:
    """Say why a PEM did not load, from its armour lines only."""
    if b"-----BEGIN" not in data:
        return ConfigError("private_key is not a PEM private key (no -----BEGIN line)")
    has_private = b"PRIVATE KEY-----" in data
    if not has_private and b"-----BEGIN CERTIFICATE" in data:
        return ConfigError("private_key is a certificate; pass the private key instead")
    if not has_private and b"PUBLIC KEY-----" in data:
        return ConfigError("private_key is a public key; signing needs the private key")
    if password is not None and (b"ENCRYPTED" in data):
        return ConfigError("key_password does not decrypt private_key (wrong password?)")
    return ConfigError("private_key is not a readable PEM private key (damaged or unsupported)")


def _from_jwk(
    jwk: Mapping[str, Any], password: bytes | str | None
) -> tuple[SignerKey, str | None, str | None]:
    if password is not None:
        raise ConfigError("key_password applies only to an encrypted PEM private_key")
    if "keys" in jwk and "kty" not in jwk:
        raise ConfigError("private_key is a JWK set; pass the one private JWK to sign with")
    kty = jwk.get("kty")
    loader = _JWK_LOADERS.get(kty) if isinstance(kty, str) else None
    if loader is None:
        raise ConfigError(f"the private JWK has an unsupported kty {kty!r} (use RSA, EC or OKP)")
    if "d" not in jwk:
        raise ConfigError('the JWK is a public key (no "d"); signing needs the private JWK')
    if jwk.get("use", "sig") != "sig":
        raise ConfigError('the JWK is not meant for signatures (its "use" is not "sig")')
    alg, kid = jwk.get("alg"), jwk.get("kid")
    if alg is not None and not isinstance(alg, str):
        raise ConfigError('the JWK\'s "alg" must be a string')
    if kid is not None and (not isinstance(kid, str) or not kid):
        raise ConfigError('the JWK\'s "kid" must be a non-empty string')
    key: object = None
    with contextlib.suppress(*_LOAD_ERRORS):  # refused below, not in a handler
        key = loader.from_jwk(dict(jwk))
    if key is None:
        raise ConfigError(f"the private JWK is not a valid {kty} key")
    return _signer(key), alg, kid


def _signer(key: object) -> SignerKey:
    """``key`` as a key type that can sign JWS, or a ConfigError saying what it is."""
    if isinstance(key, _SIGNER_TYPES):
        return key
    if isinstance(key, _PUBLIC_KEY_TYPES):
        raise ConfigError(f"private_key is {_describe(key)}; signing needs the private key")
    if isinstance(key, _PRIVATE_KEY_TYPES):
        raise ConfigError(
            f"private_key is {_describe(key)}; use an RSA, EC (P-256, P-384) or Ed25519 key"
        )
    raise ConfigError(
        "private_key must be PEM (bytes or str), a cryptography private key or a private JWK "
        f"(a dict), not {type(key).__name__}"
    )


def _describe(key: object) -> str:
    """A name for a key's type and size, never its value."""
    if isinstance(key, (rsa.RSAPrivateKey, rsa.RSAPublicKey)):
        kind = "private" if isinstance(key, rsa.RSAPrivateKey) else "public"
        return f"an RSA {kind} key ({key.key_size} bits)"
    if isinstance(key, (ec.EllipticCurvePrivateKey, ec.EllipticCurvePublicKey)):
        kind = "private" if isinstance(key, ec.EllipticCurvePrivateKey) else "public"
        return f"an EC {kind} key on curve {key.curve.name}"
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return "an Ed25519 private key"
    return f"a key of type {type(key).__name__.removeprefix('_')}"


def _algorithm(algorithm: str | None, jwk_alg: str | None, key: SignerKey) -> str:
    if algorithm is None:
        algorithm = jwk_alg or _implied_algorithm(key)
    elif jwk_alg is not None and jwk_alg != algorithm:
        raise ConfigError(f"algorithm {algorithm!r} contradicts the JWK's alg {jwk_alg!r}")
    if algorithm not in ALGORITHMS:
        raise ConfigError(f"algorithm must be one of {', '.join(ALGORITHMS)}, not {algorithm!r}")
    return algorithm


def _implied_algorithm(key: SignerKey) -> str:
    if isinstance(key, rsa.RSAPrivateKey):
        return "RS256"
    if isinstance(key, ec.EllipticCurvePrivateKey):
        described = key_type(key)
        for alg, spec in _SPECS.items():
            if described is not None and spec.kty == "EC" and spec.fits(*described):
                return alg
        raise ConfigError(
            f"private_key is {_describe(key)}; ES256 needs secp256r1 and ES384 secp384r1"
        )
    return "EdDSA"


def _check_fits(key: SignerKey, algorithm: str) -> None:
    """Refuse a key that cannot sign with ``algorithm`` (RFC 7518 §3, RFC 8037 §3.1)."""
    spec = _SPECS[algorithm]
    described = key_type(key)
    if described is not None and spec.fits(*described):
        if isinstance(key, rsa.RSAPrivateKey) and key.key_size < MIN_RSA_BITS:
            raise ConfigError(
                f"private_key is {_describe(key)}; {algorithm} needs at least {MIN_RSA_BITS} bits"
            )
        return
    if spec.kty == "RSA":
        needed = "an RSA key"
    elif spec.kty == "EC":
        curves = sorted(_CURVE_NAMES.get(c, c) for c in spec.curves or ())
        needed = f"an EC key on curve {' or '.join(curves)}"
    else:
        needed = "an Ed25519 key"
    raise ConfigError(f"algorithm {algorithm} needs {needed}; private_key is {_describe(key)}")


def _public_jwk(key: SignerKey) -> dict[str, str]:
    """The public key's required JWK members (RFC 7517 §4, RFC 7518 §6, RFC 8037 §2)."""
    public = key.public_key()
    if isinstance(public, rsa.RSAPublicKey):
        jwk: dict[str, Any] = RSAAlgorithm.to_jwk(public, as_dict=True)
    elif isinstance(public, ec.EllipticCurvePublicKey):
        jwk = ECAlgorithm.to_jwk(public, as_dict=True)
    else:
        jwk = OKPAlgorithm.to_jwk(public, as_dict=True)
    return {name: str(jwk[name]) for name in _PUBLIC_MEMBERS[jwk["kty"]]}
