"""The clients file of ``tokensources serve --clients``: a list of clients to register.

The format of earlier versions, kept: a JSON list of clients, or
``{"clients": [...]}``. ``--config`` reads the same and more; this reader
keeps its own messages, which name a client by its position.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .._errors import ConfigError
from ..testing import AuthorizationServer
from ..testing._config import CLIENT_FIELDS

__all__ = ["load_clients", "register_client"]


def load_clients(path: str) -> list[dict[str, Any]]:
    """The clients described by the JSON file at ``path``, as ``register_client`` keywords.

    The clients file of earlier versions: a list of clients, or
    ``{"clients": [...]}``; ``--config`` reads the same and more.

    Raises:
        ConfigError: the file cannot be read or does not describe clients,
            naming the client by its position and the field, never a value.
    """
    try:
        document = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read the clients file {path!r}: {exc.strerror}") from None
    except ValueError:
        raise ConfigError(f"the clients file {path!r} is not valid JSON") from None
    if isinstance(document, dict):
        document = document.get("clients")
    if not isinstance(document, list):
        raise ConfigError(f"the clients file {path!r} must hold a list of clients")
    clients = []
    for index, entry in enumerate(document, start=1):
        where = f"client #{index} in {path!r}"
        if not isinstance(entry, dict) or "client_id" not in entry:
            raise ConfigError(f"{where} needs a client_id")
        unknown = sorted(set(entry) - set(CLIENT_FIELDS))
        if unknown:
            raise ConfigError(f"{where} has unknown fields {unknown}")
        for field, value in entry.items():
            problem = CLIENT_FIELDS[field](value)
            if problem:
                raise ConfigError(f"{where}: {field!r} must be {problem}")
        clients.append(dict(entry))
    return clients


def register_client(server: AuthorizationServer, client: dict[str, Any], where: str) -> None:
    """Register ``client`` (``load_clients`` keywords) on ``server``; errors name ``where``.

    Raises:
        ConfigError: the server refused the client, naming ``where``, never a value.
    """
    try:
        server.register_client(**client)
    except ConfigError as exc:
        raise ConfigError(f"{where}: {exc}") from None
    except (TypeError, ValueError) as exc:
        # The text of such an error may quote the field's value; its type does not.
        raise ConfigError(f"{where} was refused ({type(exc).__name__})") from None
