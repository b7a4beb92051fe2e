"""A server described by a configuration file: settings, clients, mappings, quotas, tenants.

The document (JSON, or TOML on Python 3.11+)::

    {
      "strict": false, "token_lifetime": 3600, "audience": "https://api.example.com",
      "demo_client": true, "issuer": "https://idp.example",
      "clients": [{"client_id": "billing", "secret": "…", "scopes": ["read:messages"]}],
      "claims": [{"client_id": "billing", "claims": {"sub": "svc:${client_id}"}}],
      "quotas": [{"tokens": 5, "per": 60}],
      "issuers": [{"name": "tenant-a", "strict": true, "clients": […], "quotas": […]}]
    }

Every field is optional. A clients file of earlier versions (a list of
clients, or ``{"clients": [...]}``) is such a document too. Anything the
server cannot be is refused before it starts, naming the file, the line
(where the parser knows it) and the field: an unknown field, a value of
the wrong type, a bad claim template, an issuer named twice.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .._errors import ConfigError
from ._config_files import ConfigText, read_config

if TYPE_CHECKING:
    from ._issuer_api import IssuerApi

__all__ = ["CLIENT_FIELDS", "ServerConfig", "read_server_config"]

Check = Callable[[object], str | None]


def _text(value: object) -> str | None:
    return None if isinstance(value, str) and value else "a non-empty string"


def _flag(value: object) -> str | None:
    return None if isinstance(value, bool) else "true or false"


def _seconds(value: object) -> str | None:
    problem = "a positive number of seconds"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return problem
    return None if math.isfinite(value) and value > 0 else problem


def _count(value: object) -> str | None:
    ok = isinstance(value, int) and not isinstance(value, bool) and value > 0
    return None if ok else "a positive integer"


def _strings(value: object) -> str | None:
    if isinstance(value, list) and all(isinstance(item, str) and item for item in value):
        return None
    return "a list of non-empty strings"


def _table(value: object) -> str | None:
    return None if isinstance(value, dict) else "an object (a table)"


def _list(value: object) -> str | None:
    return None if isinstance(value, list) else "a list"


# What each field of a client entry must be (None from a check means fine).
CLIENT_FIELDS: dict[str, Check] = {
    "client_id": _text,
    "secret": _text,
    "jwks": _table,
    "scopes": _strings,
    "audiences": _strings,
    "token_lifetime": _seconds,
}
_CLAIMS: dict[str, Check] = {"claims": _table, "client_id": _text, "scope": _text, "form": _table}
_QUOTA: dict[str, Check] = {"tokens": _count, "per": _seconds, "client_id": _text}
_ISSUER_SETTINGS: dict[str, Check] = {
    "audience": _text,
    "token_lifetime": _seconds,
    "strict": _flag,
    "clients": _list,
    "claims": _list,
    "quotas": _list,
}
_TENANT: dict[str, Check] = {"name": _text, **_ISSUER_SETTINGS}
_SERVER: dict[str, Check] = {
    **_ISSUER_SETTINGS,
    "issuer": _text,
    "demo_client": _flag,
    "issuers": _list,
}


def _field(name: str, key: str) -> str:
    return f"{name}.{key}" if name else key


class _Reader:
    """Checks a parsed document, reporting problems at their file, line and field."""

    def __init__(self, source: ConfigText) -> None:
        self.source = source

    def fail(
        self, field: str, problem: str, container: object = None, key: str | None = None
    ) -> None:
        """Raise ``ConfigError`` for ``field``, at the line of ``key`` in ``container`` if known."""
        where = self.source.where(container, key)
        raise ConfigError(f"{where}: {field or 'the document'}: {problem}")

    def entry(
        self, value: object, schema: dict[str, Check], name: str, required: tuple[str, ...] = ()
    ) -> dict[str, Any]:
        """``value`` as an object whose fields are known and of the right type."""
        if not isinstance(value, dict):
            self.fail(name, "must be an object (a table)", value)
        assert isinstance(value, dict)  # noqa: S101 - fail() raised otherwise
        for key, item in value.items():
            check = schema.get(key)
            if check is None:
                known = ", ".join(sorted(schema))
                self.fail(_field(name, key), f"unknown field (the fields are {known})", value, key)
            problem = check(item) if check is not None else None
            if problem is not None:
                self.fail(_field(name, key), f"must be {problem}", value, key)
        for key in required:
            if key not in value:
                self.fail(name, f"needs a {key!r}", value)
        return value

    def apply(
        self, field: str, container: object, key: str | None, action: Callable[[], Any]
    ) -> Any:
        """Run ``action``, reporting a ``ConfigError`` it raises at this field."""
        try:
            return action()
        except ConfigError as exc:
            self.fail(field, str(exc), container, key)
        return None


def _settings(reader: _Reader, target: IssuerApi, entry: dict[str, Any], name: str) -> None:
    for setting in ("audience", "token_lifetime", "strict"):
        if setting in entry:
            setattr(target, setting, entry[setting])
    for index, raw in enumerate(entry.get("clients", [])):
        where = _field(name, f"clients[{index}]")
        client = reader.entry(raw, CLIENT_FIELDS, where, ("client_id",))
        reader.apply(where, client, None, partial(target.register_client, **client))
    for index, raw in enumerate(entry.get("claims", [])):
        where = _field(name, f"claims[{index}]")
        mapping = reader.entry(raw, _CLAIMS, where, ("claims",))
        conditions = {k: v for k, v in mapping.items() if k != "claims"}
        reader.apply(
            f"{where}.claims",
            mapping,
            "claims",
            partial(target.map_claims, mapping["claims"], **conditions),
        )
    for index, raw in enumerate(entry.get("quotas", [])):
        where = _field(name, f"quotas[{index}]")
        quota = reader.entry(raw, _QUOTA, where, ("tokens", "per"))
        reader.apply(where, quota, None, partial(target.set_quota, **quota))


class ServerConfig:
    """A checked configuration file: the server's constructor options, and the rest to apply.

    Args:
        reader: the parsed file.
        top: its top-level object.
    """

    def __init__(self, reader: _Reader, top: dict[str, Any]) -> None:
        self._reader = reader
        self._top = top

    @property
    def options(self) -> dict[str, Any]:
        """The ``AuthorizationServer`` constructor arguments the file sets."""
        options: dict[str, Any] = {}
        if "issuer" in self._top:
            options["issuer"] = self._top["issuer"]
        if "demo_client" in self._top:
            options["register_demo_client"] = self._top["demo_client"]
        return options

    def apply(self, server: IssuerApi, tenant: Callable[[str], IssuerApi]) -> None:
        """Set up ``server`` and its tenants (made by ``tenant``) as the file says.

        Raises:
            ConfigError: naming the file, the line where known, and the field.
        """
        reader, top = self._reader, self._top
        _settings(reader, server, top, "")
        seen: dict[str, int] = {}
        for index, raw in enumerate(top.get("issuers", [])):
            field = f"issuers[{index}]"
            entry = reader.entry(raw, _TENANT, field, ("name",))
            name = entry["name"]
            if name in seen:
                problem = f"the issuer {name!r} is already issuers[{seen[name]}]"
                reader.fail(f"{field}.name", problem, entry, "name")
            seen[name] = index
            handle = reader.apply(f"{field}.name", entry, "name", partial(tenant, name))
            _settings(reader, handle, entry, field)


def read_server_config(path: Path) -> ServerConfig:
    """Read and check the configuration file at ``path``.

    Raises:
        ConfigError: the file cannot be read or parsed, or its top level is
            not an object or a list of clients; naming the file and line.
    """
    source = read_config(path)
    reader = _Reader(source)
    document = source.data
    if isinstance(document, list):  # a bare list of clients, as clients files were
        document = {"clients": document}
    return ServerConfig(reader, reader.entry(document, _SERVER, ""))
