"""The command line's pure helpers: percentiles, ideal counts, formats, clients files."""

from __future__ import annotations

import json
import math
import random
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tokensources import ConfigError, Token, TokenEndpointError, TokenRequestError
from tokensources.cli._exit import KnownSecrets, exit_code, report_error
from tokensources.cli._load import LoadResult
from tokensources.cli._report import RunSummary, ideal_token_requests, render_runs, summarise
from tokensources.cli._serve import load_clients
from tokensources.cli._stats import percentile
from tokensources.cli._token import format_token
from tokensources.cli._words import counted


@pytest.mark.parametrize(
    ("q", "expected"), [(0, 1.0), (7, 7.0), (50, 50.0), (95, 95.0), (99, 99.0), (100, 100.0)]
)
def test_percentile_is_nearest_rank(q: float, expected: float) -> None:
    """Nearest-rank percentiles of 1..100 are the values themselves, in any order."""
    values = [float(v) for v in range(1, 101)]
    random.Random(7).shuffle(values)
    assert percentile(values, q) == expected


def test_percentile_of_a_few_samples_is_one_of_them() -> None:
    """With ten samples the 99th percentile is the largest and the median the fifth."""
    samples = [0.3, 0.1, 0.9, 0.5, 0.2, 0.8, 0.4, 0.7, 0.6, 1.0]
    assert percentile(samples, 99) == 1.0
    assert percentile(samples, 50) == 0.5


def test_percentile_of_nothing_is_nan_not_an_error() -> None:
    """No samples give NaN, which no measurement can be mistaken for, rather than an error."""
    assert math.isnan(percentile([], 50))


@pytest.mark.parametrize("q", [-1, 100.5, 990])
def test_percentile_outside_0_to_100_is_refused(q: float) -> None:
    """A percentile below 0 or above 100 is a ValueError, not an index out of range."""
    with pytest.raises(ValueError, match="between 0 and 100"):
        percentile([1.0], q)


@pytest.mark.parametrize(
    ("span", "lifetime", "expected"),
    [
        (0.0, 10, 1),  # one request: one token
        (0.1, 10, 1),
        (9.99, 10, 1),  # every request within the first token's life
        (10.0, 10, 2),  # the first token has expired by the last request
        (12.4, 10, 2),  # the demo's default run: two, not ceil(12.4 / 5) = 3
        (19.9, 10, 2),
        (20.0, 10, 3),
        (0.3, 0.1, 4),  # 3 × 0.1 s is three lifetimes despite 0.30000000000000004
    ],
)
def test_ideal_is_one_token_to_start_and_one_per_lifetime_spanned(
    span: float, lifetime: float, expected: int
) -> None:
    """The ideal is 1 + the number of whole token lifetimes from the first request to the last."""
    assert ideal_token_requests(span, lifetime) == expected


@settings(max_examples=300, deadline=None)
@given(
    span_ms=st.integers(min_value=0, max_value=600_000),
    lifetime_ms=st.integers(min_value=1, max_value=100_000),
    slack=st.lists(st.integers(min_value=0, max_value=1_000), min_size=1, max_size=50),
)
def test_ideal_is_the_fewest_tokens_that_keep_one_valid_throughout(
    span_ms: int, lifetime_ms: int, slack: list[int]
) -> None:
    """Renewing at expiry reaches the ideal exactly; renewing any earlier never does better.

    A token fetched at ``f`` is valid on ``[f, f + lifetime)``; a schedule
    keeps a valid token through the span when each token is fetched by the
    time the previous one expires. Times are whole milliseconds, so that the
    schedule is computed exactly.
    """
    ideal = ideal_token_requests(span_ms / 1000, lifetime_ms / 1000)
    for early in ([0], slack):  # at expiry; then each renewal some milliseconds early
        fetched_at, count, index = 0, 1, 0
        while fetched_at + lifetime_ms <= span_ms:
            fetched_at += max(1, lifetime_ms - early[index % len(early)])
            count, index = count + 1, index + 1
        if early == [0]:
            assert count == ideal
        else:
            assert count >= ideal


def test_summary_judges_a_run_by_its_span_and_the_token_lifetime() -> None:
    """A run sending requests for 12.4 s with 10 s tokens has an ideal of 2 token requests."""
    result = LoadResult(tasks=1, requests_per_task=2, succeeded=2, token_requests=3)
    result.note_sent(1_000.0)
    result.note_sent(1_012.4)
    result.duration = 13.0  # the last answer came later: not part of the span
    summary = summarise("with reuse()", result, token_lifetime=10.0)
    assert summary.ideal == 2
    assert result.span == pytest.approx(12.4)


@pytest.mark.parametrize(
    ("count", "noun", "plural", "expected"),
    [
        (0, "token request", None, "0 token requests"),
        (1, "token request", None, "1 token request"),
        (2, "token request", None, "2 token requests"),
        (10_000, "request", None, "10,000 requests"),
        (1, "process", "processes", "1 process"),
        (3, "process", "processes", "3 processes"),
    ],
)
def test_counts_take_the_singular_only_for_one(
    count: int, noun: str, plural: str | None, expected: str
) -> None:
    """``counted`` says "1 token request" and "2 token requests", never "1 token requests"."""
    assert counted(count, noun, plural) == expected


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
    table = render_runs([RunSummary("with reuse()", result, 1), RunSummary("other", result, 1)])
    assert "with reuse()" in table
    assert "other" in table
    sent = next(line for line in table.splitlines() if "requests sent" in line)
    assert sent.split()[-2:] == ["6", "6"]


def test_a_run_without_answers_shows_no_latency() -> None:
    """A run in which every request failed shows its latency as "–", not as 0.0 ms."""
    result = LoadResult(tasks=1, requests_per_task=1)
    result.failures["ConnectError"] = 1
    table = render_runs([RunSummary("with reuse()", result, 1)])
    p50 = next(line for line in table.splitlines() if "latency p50" in line)
    assert p50.split()[-1] == "–"


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


def test_error_report_masks_known_secrets_and_jwts_only(capsys: pytest.CaptureFixture[str]) -> None:
    """The one-line report masks the secrets it was given and JWTs, and leaves prose alone."""
    jwt_like = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl"
    message = f"no client secret: standard input is empty; key=value; got s3cr3t-x and {jwt_like}"
    secrets = KnownSecrets()
    secrets.remember("s3cr3t-x")
    report_error(ConfigError(message), secrets)
    assert capsys.readouterr().err == (
        "tokensources: error: no client secret: standard input is empty; key=value; "
        "got [redacted] and [redacted]\n"
    )
    assert "s3cr3t-x" not in repr(secrets)
