"""The command line's pure helpers: percentiles, ideal counts, formats, clients files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tokensources import ConfigError, Token, TokenEndpointError, TokenRequestError
from tokensources.cli._exit import exit_code, report_error
from tokensources.cli._load import LoadResult, percentile
from tokensources.cli._report import RunSummary, ideal_token_requests, render_table
from tokensources.cli._serve import load_clients
from tokensources.cli._token import format_token


@pytest.mark.parametrize(
    ("fraction", "expected"), [(0.0, 1.0), (0.5, 50.0), (0.95, 95.0), (0.99, 99.0), (1.0, 100.0)]
)
def test_percentile_is_nearest_rank(fraction: float, expected: float) -> None:
    """Nearest-rank percentiles of 1..100 are the values themselves."""
    assert percentile([float(v) for v in range(1, 101)], fraction) == expected


def test_percentile_of_nothing_is_zero() -> None:
    """No samples give 0.0 rather than an error."""
    assert percentile([], 0.5) == 0.0


@pytest.mark.parametrize(
    ("duration", "usable", "expected"), [(0.1, 5, 1), (5, 5, 1), (5.1, 5, 2), (19.9, 5, 4)]
)
def test_ideal_token_requests(duration: float, usable: float, expected: int) -> None:
    """The ideal is one token per usable lifetime, and at least one."""
    assert ideal_token_requests(duration, usable) == expected


def test_exit_codes_by_error_kind() -> None:
    """Each kind of error has its own exit status."""
    assert exit_code(ConfigError("x")) == 3
    assert exit_code(TokenEndpointError("x", status_code=401)) == 4
    assert exit_code(TokenRequestError("x")) == 5


def test_format_token() -> None:
    """The three formats: bare token, header line, JSON of four fields."""
    token = Token("abc", expires_at=100.0, scope="read:messages")
    assert format_token(token, "token") == "abc"
    assert format_token(token, "header") == "Authorization: Bearer abc"
    assert json.loads(format_token(token, "json")) == {
        "access_token": "abc",
        "token_type": "Bearer",
        "expires_at": 100.0,
        "scope": "read:messages",
    }


def test_render_table_has_one_column_per_run() -> None:
    """The table lists each run's counts under its title."""
    result = LoadResult(tasks=2, requests_per_task=3, succeeded=6, token_requests=1)
    result.latencies = [0.001] * 6
    result.duration = 1.0
    table = render_table([RunSummary("with reuse()", result, 1), RunSummary("other", result, 1)])
    assert "with reuse()" in table
    assert "other" in table
    sent = next(line for line in table.splitlines() if "requests sent" in line)
    assert sent.split()[-2:] == ["6", "6"]


def test_load_clients_accepts_a_list_or_an_object(tmp_path: Path) -> None:
    """Both file shapes give the same register_client keywords."""
    entry = {"client_id": "a", "secret": "s", "scopes": ["read:messages"]}
    as_list = tmp_path / "list.json"
    as_list.write_text(json.dumps([entry]))
    as_object = tmp_path / "object.json"
    as_object.write_text(json.dumps({"clients": [entry]}))
    assert load_clients(str(as_list)) == load_clients(str(as_object)) == [entry]


def test_load_clients_refuses_unknown_fields(tmp_path: Path) -> None:
    """A misspelt field is an error naming it, not silently ignored."""
    path = tmp_path / "c.json"
    path.write_text(json.dumps([{"client_id": "a", "secrit": "s"}]))
    with pytest.raises(ConfigError, match="secrit"):
        load_clients(str(path))


def test_progress_redraws_one_line_on_a_terminal(capsys: pytest.CaptureFixture[str]) -> None:
    """Enabled, the progress line is redrawn with carriage returns and erased at the end."""
    from tokensources.cli._report import Progress

    result = LoadResult(tasks=1, requests_per_task=10, succeeded=3, token_requests=1)
    progress = Progress("with reuse()", 10, enabled=True)
    progress(result)
    result.succeeded = 10
    progress(result)
    progress.done()
    err = capsys.readouterr().err
    assert err.count("\r") == 4  # two redraws, then erase and return
    assert "3/10 requests" in err
    assert "10/10 requests" in err
    assert err.endswith("\r")
    assert "\n" not in err


def test_progress_is_silent_when_disabled(capsys: pytest.CaptureFixture[str]) -> None:
    """Disabled (stderr not a terminal), the progress line writes nothing."""
    from tokensources.cli._report import Progress

    progress = Progress("with reuse()", 10, enabled=False)
    progress(LoadResult(tasks=1, requests_per_task=10))
    progress.done()
    assert capsys.readouterr().err == ""


def test_error_report_masks_known_secrets_and_jwts_only(capsys: pytest.CaptureFixture[str]) -> None:
    """The one-line report masks the secrets it was given and JWTs, and leaves prose alone."""
    jwt_like = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl"
    message = f"no client secret: standard input is empty; key=value; got s3cr3t-x and {jwt_like}"
    report_error(ConfigError(message), ["s3cr3t-x"])
    assert capsys.readouterr().err == (
        "tokensources: error: no client secret: standard input is empty; key=value; "
        "got [redacted] and [redacted]\n"
    )
