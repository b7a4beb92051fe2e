"""AuthorizationServer.from_config: issuers, clients, mappings and quotas from JSON or TOML."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import anyio
import pytest

from tests.support.clock import FakeClock
from tokensources import ConfigError
from tokensources.testing import DEMO_CLIENT_ID, AuthorizationServer

pytestmark = pytest.mark.anyio

# tomllib is Python 3.11+; on 3.10 a TOML file is refused, and the TOML tests check that.
HAS_TOMLLIB = sys.version_info >= (3, 11)

FULL_JSON = """\
{
  "issuer": "https://idp.example",
  "token_lifetime": 600,
  "strict": true,
  "clients": [
    {"client_id": "billing", "secret": "billing-secret", "scopes": ["read:messages"]}
  ],
  "claims": [{"client_id": "billing", "claims": {"sub": "svc:${client_id}"}}],
  "quotas": [{"tokens": 1, "per": 60, "client_id": "billing"}],
  "issuers": [
    {
      "name": "tenant-a",
      "token_lifetime": 60,
      "strict": false,
      "clients": [{"client_id": "reports", "secret": "reports-secret"}],
      "claims": [{"claims": {"tid": "${tenant}"}}]
    }
  ]
}
"""

FULL_TOML = """\
issuer = "https://idp.example"
token_lifetime = 600
strict = true

[[clients]]
client_id = "billing"
secret = "billing-secret"
scopes = ["read:messages"]

[[claims]]
client_id = "billing"
claims = { sub = "svc:${client_id}" }

[[quotas]]
tokens = 1
per = 60
client_id = "billing"

[[issuers]]
name = "tenant-a"
token_lifetime = 60
strict = false

[[issuers.clients]]
client_id = "reports"
secret = "reports-secret"

[[issuers.claims]]
claims = { tid = "${tenant}" }
"""


def write(tmp_path: Path, name: str, text: str) -> Path:
    """Write ``text`` to ``tmp_path / name`` and return the path."""
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


async def check_full_server(server: AuthorizationServer) -> None:
    """The server FULL_JSON / FULL_TOML describe works as described, over HTTP."""
    tenant = server.tenant("tenant-a")
    assert (server.issuer, server.token_lifetime, server.strict) == (
        "https://idp.example",
        600,
        True,
    )
    assert (tenant.token_lifetime, tenant.strict) == (60, False)
    assert tenant.client_ids() == [DEMO_CLIENT_ID, "reports"]
    async with server.client() as http:
        with anyio.fail_after(10):
            form = {"grant_type": "client_credentials"}
            billing = await http.post("/oauth/token", data=form, auth=("billing", "billing-secret"))
            throttled = await http.post(
                "/oauth/token", data=form, auth=("billing", "billing-secret")
            )
            reports = await http.post(
                "/tenant-a/oauth/token", data=form, auth=("reports", "reports-secret")
            )
    assert server.verify_access_token(billing.json()["access_token"])["sub"] == "svc:billing"
    assert billing.json()["scope"] == "read:messages"
    assert throttled.status_code == 429
    assert tenant.verify_access_token(reports.json()["access_token"])["tid"] == "tenant-a"


async def test_a_json_file_describes_the_whole_server(tmp_path: Path, clock: FakeClock) -> None:
    """Settings, clients, mappings, quotas and tenants come from a JSON file; overrides win."""
    server = AuthorizationServer.from_config(write(tmp_path, "s.json", FULL_JSON), clock=clock)

    assert server.clock is clock
    await check_full_server(server)


async def test_a_toml_file_describes_the_same_server(tmp_path: Path) -> None:
    """The TOML form of the same configuration gives the same server (refused before 3.11)."""
    path = write(tmp_path, "s.toml", FULL_TOML)
    if not HAS_TOMLLIB:
        with pytest.raises(ConfigError, match=r"TOML needs Python 3\.11 or later"):
            AuthorizationServer.from_config(path)
        return
    await check_full_server(AuthorizationServer.from_config(path))


def test_a_clients_file_of_earlier_versions_still_works(tmp_path: Path) -> None:
    """A bare list of clients is a configuration with only clients."""
    path = write(tmp_path, "c.json", json.dumps([{"client_id": "billing", "secret": "s"}]))

    server = AuthorizationServer.from_config(path, register_demo_client=False)

    assert server.client_ids() == ["billing"]


@pytest.mark.parametrize(
    ("text", "where", "problem"),
    [
        (
            '{\n  "clients": [\n    {"client_id": "a",\n     "secret": "s",\n'
            '     "scopez": []}\n  ]\n}',
            ":5: clients[0].scopez",
            "unknown field (the fields are audiences, client_id, jwks, scopes, secret,",
        ),
        (
            '{"issuers": [\n {"name": "t"},\n {"name": "t"}\n]}',
            ":3: issuers[1].name",
            "the issuer 't' is already issuers[0]",
        ),
        (
            '{\n"claims": [\n  {"claims": {"sub": "${clientid}"}}\n]}',
            ":3: claims[0].claims",
            "unknown variable ${clientid}",
        ),
        (
            '{\n"claims": [\n  {"claims": {"sub": "${client_id"}}\n]}',
            ":3: claims[0].claims",
            "is not closed",
        ),
        ('{"token_lifetime": -5}', ":1: token_lifetime", "must be a positive number of seconds"),
        ('{"quotas": [{"tokens": 2}]}', ":1: quotas[0]", "needs a 'per'"),
        ('{"issuers": [{"name": "oauth"}]}', ":1: issuers[0].name", "is a path of the server"),
        ('{\n"strict": true,\n"strict": false}', ":1:", "the key 'strict' appears twice"),
        ('{\n  "clients": [\n    {"client_id": "a",}\n]}', ":3:", "not valid JSON"),
        ('{"nope": 1}', ":1: nope", "unknown field"),
        ('"just text"', "", "must be an object"),
    ],
    ids=[
        "unknown-field",
        "duplicate-issuer",
        "unknown-template-variable",
        "unclosed-template",
        "bad-value",
        "missing-field",
        "reserved-name",
        "repeated-key",
        "syntax",
        "unknown-top-level",
        "not-an-object",
    ],
)
def test_a_bad_json_file_is_refused_naming_file_line_and_field(
    tmp_path: Path, text: str, where: str, problem: str
) -> None:
    """Each problem is a ConfigError naming the file, the line and the field."""
    path = write(tmp_path, "server.json", text)

    with pytest.raises(ConfigError) as caught:
        AuthorizationServer.from_config(path)

    message = str(caught.value)
    assert message.startswith(f"{path}{where}"), message
    assert problem in message


@pytest.mark.parametrize(
    ("text", "where", "problem"),
    [
        ('[[issuers]]\nname = "t"\n[[issuers]]\nname = "t"\n', ":4: issuers[1].name", "already"),
        (
            '[[clients]]\nclient_id = "a"\nsecret = "s"\nscopez = []\n',
            ":4: clients[0].scopez",
            "unknown",
        ),
        (
            '# the claims\n[[claims]]\nclaims = { sub = "${x}" }\n',
            ":3: claims[0].claims",
            "unknown variable ${x}",
        ),
        (
            'audience = """a [\n{"""\n[[issuers]]\nname = "t"\nclients = [\n'
            '  { client_id = "a", secret = "s" },\n  { client_id = "b", secrit = "s" },\n]\n',
            ":7: issuers[0].clients[1].secrit",
            "unknown",
        ),
        ('[[issuers]]\nname = "t"\n[[issuers.quotas]]\ntokens = 0\nper = 1\n', ":4:", "tokens"),
        ("strict = true\nstrict = false\n", ":2:", "not valid TOML"),
    ],
    ids=["duplicate-issuer", "unknown-field", "bad-template", "inline-array", "nested", "syntax"],
)
def test_a_bad_toml_file_is_refused_naming_file_line_and_field(
    tmp_path: Path, text: str, where: str, problem: str
) -> None:
    """TOML problems name the file, the line and the field, as JSON ones do."""
    path = write(tmp_path, "server.toml", text)
    if not HAS_TOMLLIB:
        where, problem = ":", "TOML needs Python 3.11 or later"

    with pytest.raises(ConfigError) as caught:
        AuthorizationServer.from_config(path)

    message = str(caught.value)
    assert message.startswith(f"{path}{where}"), message
    assert problem in message


def test_no_secret_from_the_file_reaches_an_error(tmp_path: Path) -> None:
    """A refused client names the field, never the secret it holds."""
    secret = "a-secret-that-must-stay-hidden"
    path = write(
        tmp_path,
        "server.json",
        json.dumps({"clients": [{"client_id": "a", "secret": secret, "jwks": {"keys": []}}]}),
    )

    with pytest.raises(ConfigError) as caught:
        AuthorizationServer.from_config(path)

    assert "clients[0]" in str(caught.value)
    assert secret not in str(caught.value)


def test_a_missing_file_is_a_config_error(tmp_path: Path) -> None:
    """A file that cannot be read names itself and the reason."""
    with pytest.raises(ConfigError, match="cannot read the configuration file"):
        AuthorizationServer.from_config(tmp_path / "missing.json")
