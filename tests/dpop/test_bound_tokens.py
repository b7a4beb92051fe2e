"""A token carries its DPoP binding: the thumbprint survives stores, and bearer tokens have none."""

from __future__ import annotations

import pytest

from tokensources import ConfigError, DPoPKey, Token


def test_the_binding_survives_serialisation() -> None:
    """to_json/from_json keep the jkt; repr shows it (a thumbprint is public), never the token."""
    key = DPoPKey.generate()
    token = Token("at-secret-value", token_type="DPoP", expires_at=10.0, jkt=key.thumbprint)

    again = Token.from_json(token.to_json())

    assert again == token
    assert again.jkt == key.thumbprint
    assert key.thumbprint in repr(token)
    assert "at-secret-value" not in repr(token)


def test_an_unbound_token_serialises_as_before() -> None:
    """A bearer token has no jkt, and its dict has no jkt field (stored values stay the same)."""
    token = Token("at", expires_at=10.0)
    assert token.jkt is None
    assert "jkt" not in token.to_dict()
    assert Token.from_dict(token.to_dict()) == token


def test_tokens_bound_to_different_keys_differ() -> None:
    """The same access token bound to two keys is two different tokens."""
    first = Token("at", token_type="DPoP", jkt=DPoPKey.generate().thumbprint)
    second = first.replace(jkt=DPoPKey.generate().thumbprint)
    assert first != second


@pytest.mark.parametrize("jkt", ["", 42])
def test_a_jkt_must_be_a_thumbprint(jkt: object) -> None:
    """An empty or non-string jkt is refused."""
    with pytest.raises(ConfigError, match="jkt"):
        Token("at", token_type="DPoP", jkt=jkt)  # type: ignore[arg-type]
