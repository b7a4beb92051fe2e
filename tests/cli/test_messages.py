"""The command line's messages say what the user typed, in the command line's own terms."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.support.cli import SECRET_ENV, run_cli
from tokensources.testing import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET

SECRET = "s3cr3t-VALUE"
_ENV = {SECRET_ENV: SECRET}


def _token(flag: str, url: str, *extra: str) -> list[str]:
    return ["token", flag, url, "--client-id", DEMO_CLIENT_ID, *extra]


@pytest.mark.parametrize("flag", ["--token-url", "--issuer"])
def test_a_url_without_a_scheme_is_echoed_as_given(flag: str) -> None:
    """A URL typed without its scheme is repeated as typed, with the URL it probably meant."""
    outcome = run_cli(*_token(flag, "127.0.0.1:9/oauth/token"), env=_ENV)
    assert outcome.code == 3
    assert outcome.stderr == (
        f"tokensources: error: {flag} must be an absolute http:// or https:// URL, "
        "got '127.0.0.1:9/oauth/token'; did you mean 'http://127.0.0.1:9/oauth/token'?\n"
    )


def test_a_remote_url_without_a_scheme_is_offered_https() -> None:
    """For a host other than loopback the suggestion is https, and another scheme is named."""
    no_scheme = run_cli(*_token("--token-url", "auth.example.com/oauth/token"), env=_ENV)
    assert "did you mean 'https://auth.example.com/oauth/token'?" in no_scheme.stderr
    ftp = run_cli(*_token("--token-url", "ftp://auth.example.com/token"), env=_ENV)
    assert ftp.code == 3
    assert "got 'ftp://auth.example.com/token'\n" in ftp.stderr


@pytest.mark.parametrize(
    "url",
    [f"user:{SECRET}@auth.example.com/token", f"https://user:{SECRET}@auth.example.com/token"],
)
def test_credentials_in_a_url_are_never_echoed(url: str) -> None:
    """A URL carrying a password is refused (status 3) without repeating the password."""
    outcome = run_cli(*_token("--token-url", url), env={SECRET_ENV: "s"})
    assert outcome.code == 3
    assert outcome.stderr.startswith("tokensources: error: --token-url ")
    assert SECRET not in outcome.output


@pytest.mark.parametrize("path", ["/", "/.well-known/jwks.json", "/api/private"])
def test_a_path_that_refuses_post_is_named_not_a_token_endpoint(server_url: str, path: str) -> None:
    """A 405 answer says the URL does not accept POST and is probably not a token endpoint."""
    outcome = run_cli(
        *_token("--token-url", server_url + path), env={SECRET_ENV: DEMO_CLIENT_SECRET}
    )
    assert outcome.code == 4
    assert outcome.stderr == (
        f"tokensources: error: {server_url}{path} answered 405 Method Not Allowed: it does not "
        "accept POST, so it is probably not a token endpoint (check the path of --token-url)\n"
    )
    assert DEMO_CLIENT_SECRET not in outcome.output


@pytest.mark.parametrize("flag", ["--token-url", "--issuer"])
def test_plain_http_advises_the_command_lines_flag(flag: str) -> None:
    """Plain http to a remote host is refused with --allow-insecure-http, not a Python keyword."""
    outcome = run_cli(*_token(flag, "http://auth.example.com/oauth/token"), env=_ENV)
    assert outcome.code == 3
    assert outcome.stderr == (
        f"tokensources: error: {flag} 'http://auth.example.com/oauth/token' uses plain http to "
        "a host other than loopback, which would send the client's credentials in clear; use "
        "https, or add --allow-insecure-http if you really mean it\n"
    )
    assert SECRET not in outcome.output


def test_allow_insecure_http_lifts_the_refusal() -> None:
    """With --allow-insecure-http the request is attempted: a network error, not a refusal."""
    # 192.0.2.1 (RFC 5737 TEST-NET-1) is never routed: the attempt fails at once or times out.
    args = _token("--token-url", "http://192.0.2.1:9/token", "--allow-insecure-http")
    outcome = run_cli(*args, "--timeout", "0.5", env=_ENV)
    assert outcome.code == 5, outcome.stderr
    assert SECRET not in outcome.output


class _MetadataHandler(BaseHTTPRequestHandler):
    """An issuer whose metadata names a plain-http token endpoint on another host."""

    def do_GET(self) -> None:
        base = f"http://{self.headers['Host']}"  # this server, as the client addressed it
        body = json.dumps({"issuer": base, "token_endpoint": "http://192.0.2.1/oauth/token"})
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body.encode())

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: the test's output is the command line's."""


@pytest.fixture
def insecure_issuer() -> Iterator[str]:
    """A real HTTP issuer on loopback whose discovered token endpoint is plain http elsewhere."""
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _MetadataHandler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(10)


def test_a_discovered_plain_http_endpoint_advises_the_flag_too(insecure_issuer: str) -> None:
    """An endpoint refused after discovery is reported with --allow-insecure-http as the way out."""
    outcome = run_cli(*_token("--issuer", insecure_issuer), env=_ENV)
    assert outcome.code == 3
    assert "http://192.0.2.1/oauth/token" in outcome.stderr
    assert "--allow-insecure-http" in outcome.stderr
    assert "allow_insecure_http=True" not in outcome.output
    assert SECRET not in outcome.output


def test_empty_stdin_says_stdin_was_empty() -> None:
    """--client-secret-stdin with nothing piped in says so, without advising that same flag."""
    outcome = run_cli(*_token("--token-url", "http://127.0.0.1:9/t", "--client-secret-stdin"))
    assert outcome.code == 3
    assert outcome.stderr == (
        "tokensources: error: no client secret: standard input was empty "
        "(pipe the secret in, one line)\n"
    )


def test_an_unset_variable_names_it_and_the_alternatives() -> None:
    """With no secret in the environment the message names the variable and the other ways."""
    outcome = run_cli(*_token("--token-url", "http://127.0.0.1:9/t"))
    assert outcome.code == 3
    assert outcome.stderr == (
        f"tokensources: error: no client secret: the environment variable {SECRET_ENV} is "
        "empty or unset (set it, pass --client-secret-stdin, or use --private-key)\n"
    )
