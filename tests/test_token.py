"""Token: normalisation, validation, redaction and serialisation."""

from __future__ import annotations

import pytest

from tokensources import ConfigError, Token

SECRET = "s3cr3t-access-token-value"


@pytest.mark.parametrize("given", ["bearer", "BEARER", " Bearer ", "bEaReR"])
def test_bearer_is_normalised(given: str) -> None:
    """Any spelling of bearer becomes Bearer."""
    assert Token(SECRET, token_type=given).token_type == "Bearer"


def test_other_token_types_are_kept() -> None:
    """Non-bearer types are kept as the server gave them."""
    assert Token(SECRET, token_type="DPoP").authorization == f"DPoP {SECRET}"


def test_repr_and_str_hide_the_token_and_extra() -> None:
    """repr and str show a fingerprint, never the token or extra fields."""
    token = Token(SECRET, expires_at=10, extra={"refresh_token": "r3fr3sh"})
    for text in (repr(token), str(token), f"{token}", f"{[token]}"):
        assert SECRET not in text
        assert "r3fr3sh" not in text
        assert token.fingerprint in text


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({"access_token": ""}, "access_token"),
        ({"access_token": "a\r\nInjected: header"}, "visible ASCII"),
        ({"access_token": "token "}, "visible ASCII"),
        ({"access_token": "x", "token_type": " "}, "token_type"),
        ({"access_token": "x", "expires_at": float("nan")}, "expires_at"),
        ({"access_token": "x", "refresh_at": "soon"}, "refresh_at"),
        ({"access_token": "x", "expires_at": True}, "expires_at"),
    ],
)
def test_invalid_fields_are_refused(kwargs: dict[str, object], needle: str) -> None:
    """Bad fields raise ConfigError naming the field, without echoing a token."""
    with pytest.raises(ConfigError, match=needle) as info:
        Token(**kwargs)  # type: ignore[arg-type]
    assert "Injected" not in str(info.value)


def test_expiry_helpers() -> None:
    """expired() and expires_in() follow expires_at; unknown expiry never expires."""
    token = Token(SECRET, expires_at=100.0)
    assert not token.expired(99.9)
    assert token.expired(100.0)
    assert token.expires_in(40.0) == 60.0
    assert not Token(SECRET).expired(1e12)
    assert Token(SECRET).expires_in(0.0) is None


def test_from_json_error_keeps_no_trace_of_the_text() -> None:
    """A refused serialisation chains nothing that holds the text (and its token)."""
    with pytest.raises(ConfigError) as info:
        Token.from_json('{"access_token": "leaky-token",')
    assert info.value.__context__ is None
    assert info.value.__cause__ is None


def test_json_round_trip() -> None:
    """to_json and from_json preserve every field."""
    token = Token(SECRET, "Bearer", 123.5, 100.0, "a b", {"id_token": "x", "n": 1})
    again = Token.from_json(token.to_json())
    assert again == token
    assert dict(again.extra) == {"id_token": "x", "n": 1}


@pytest.mark.parametrize(
    "text", ["not json", "[]", '{"token_type": "Bearer"}', '{"access_token": 5}']
)
def test_from_json_refuses_garbage(text: str) -> None:
    """from_json raises ConfigError for anything that is not a serialised token."""
    with pytest.raises(ConfigError):
        Token.from_json(text)


def test_extra_is_read_only_and_equality_ignores_it() -> None:
    """extra cannot be mutated, and two tokens differing only in extra are equal."""
    token = Token(SECRET, extra={"a": 1})
    with pytest.raises(TypeError):
        token.extra["a"] = 2  # type: ignore[index]
    assert token == Token(SECRET, extra={"b": 2})
    assert hash(token) == hash(Token(SECRET))


def test_replace_keeps_validation() -> None:
    """replace() returns a new validated token."""
    token = Token(SECRET, expires_at=10.0)
    assert token.replace(refresh_at=5.0).refresh_at == 5.0
    with pytest.raises(ConfigError):
        token.replace(access_token="")
