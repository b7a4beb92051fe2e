"""The stored envelope: plain and AES-GCM sealed values, bound to their identity."""

from __future__ import annotations

import pytest

from tokensources import ConfigError, Token
from tokensources.shared._envelope import Envelope, encryption_keys

KEY = bytes(range(32))
TOKEN = Token("secret-access-token", expires_at=1_900_000_000.0, scope="read:messages")


@pytest.mark.parametrize("keys", [(), (KEY,), (bytes(16),), (bytes(24),)])
def test_round_trip(keys: tuple[bytes, ...]) -> None:
    """A sealed value opens to the same token for the same identity and keys."""
    envelope = Envelope("identity", keys)
    assert envelope.open(envelope.seal(TOKEN)) == TOKEN


def test_sealing_twice_gives_different_values() -> None:
    """Each seal uses a fresh nonce, so equal tokens never give equal values."""
    envelope = Envelope("identity", (KEY,))
    assert envelope.seal(TOKEN) != envelope.seal(TOKEN)


def test_rotation_opens_with_any_key_and_seals_with_the_first() -> None:
    """With [new, old], values sealed by old still open, and new values use new."""
    new = bytes(range(1, 33))
    old_value = Envelope("identity", (KEY,)).seal(TOKEN)
    rotating = Envelope("identity", (new, KEY))
    assert rotating.open(old_value) == TOKEN
    assert Envelope("identity", (new,)).open(rotating.seal(TOKEN)) == TOKEN
    assert Envelope("identity", (KEY,)).open(rotating.seal(TOKEN)) is None


def test_tampered_ciphertext_does_not_open() -> None:
    """Flipping one byte of the ciphertext makes the value unusable."""
    envelope = Envelope("identity", (KEY,))
    value = bytearray(envelope.seal(TOKEN))
    index = value.index(b'"ct":"') + 8
    value[index] = ord("A") if value[index] != ord("A") else ord("B")
    assert envelope.open(bytes(value)) is None


@pytest.mark.parametrize(
    "value",
    [None, b"", b"[]", b"{}", b'{"v":1,"alg":"AES-GCM"}', "\udcff", b"[" * 100_000, "[" * 60_000],
)
def test_garbage_never_raises(value: bytes | str | None) -> None:
    """Anything that is not a valid envelope opens to None, without raising."""
    assert Envelope("identity", (KEY,)).open(value) is None
    assert Envelope("identity").open(value) is None


def test_key_material_is_never_echoed() -> None:
    """A wrong-size key is refused with a message that does not contain it."""
    with pytest.raises(ConfigError) as caught:
        encryption_keys(b"0123456789abcdef0")
    assert "0123456789abcdef0" not in str(caught.value)
