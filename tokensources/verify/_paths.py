"""Which requests ``BearerAuth(paths=...)`` protects: path prefixes seen as the app routes them.

A request is protected when any of the ways its path could be read falls
under a configured prefix. Erring towards protection costs at worst a 401 on
an odd spelling of a public path; erring the other way serves a private
route without a token. The readings are:

- the path the application routes on: ``scope["path"]`` with
  ``scope["root_path"]`` taken off the front, exactly as Starlette does (and
  as the ASGI spec means ``root_path``): under a Starlette ``Mount`` or a
  server's ``--root-path``, ``path`` still starts with the mount point, and
  routing happens below it;
- the whole ``scope["path"]``, for applications that route on it as is;
- each of those decoded once more (``%2570`` arrives as ``%70``; an app
  that unquotes again reads ``p``) and normalised: ``\\`` read as ``/``,
  runs of ``/`` made one, ``.`` and ``..`` segments resolved (RFC 3986
  §5.2.4). The raw readings count too, because a ``Mount`` serves
  ``/private/../public`` as a path below ``/private``.

Prefixes and readings are compared case-insensitively, on whole segments:
``/api`` covers ``/api``, ``/api/`` and ``/api/x``, never ``/apix``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import unquote

from .._errors import ConfigError

__all__ = ["PathRules"]

_SLASHES = re.compile(r"/{2,}")


def route_path(scope: Mapping[str, Any]) -> str:
    """The path the application routes on: ``path`` below ``root_path``.

    Starlette's rule (``starlette._utils.get_route_path``), which follows the
    ASGI spec: ``root_path`` is removed when ``path`` starts with it on a
    segment boundary; otherwise (servers that already strip it) ``path`` is
    used as it is.
    """
    path = str(scope.get("path", ""))
    root = str(scope.get("root_path", "") or "")
    if not root or not path.startswith(root):
        return path
    if path == root:
        return ""
    return path[len(root) :] if path[len(root)] == "/" else path


def normalize(path: str) -> str:
    """``path`` with ``\\`` as ``/``, one ``/`` per run, and dot segments resolved."""
    path = _SLASHES.sub("/", path.replace("\\", "/"))
    # RFC 3986 §5.2.4 (remove_dot_segments), on a path whose slashes are single.
    out: list[str] = []
    segments = path.split("/")
    for segment in segments[1:] if path.startswith("/") else segments:
        if segment == "..":
            if out:
                out.pop()
        elif segment != ".":
            out.append(segment)
    if segments[-1] in (".", ".."):
        out.append("")  # "/a/b/.." is the directory "/a/"
    return "/" + "/".join(out)


def readings(scope: Mapping[str, Any]) -> set[str]:
    """Every way the request's path may be read, case-folded (see the module docstring)."""
    raw = {str(scope.get("path", "")), route_path(scope)}
    views = set(raw)
    for path in raw:
        views.add(normalize(path))
        views.add(normalize(unquote(path)))
    return {view.casefold() for view in views}


def _prefix(path: object) -> str:
    if not isinstance(path, str) or not path.startswith("/"):
        raise ConfigError(f"paths must start with '/', got {path!r}")
    return normalize(path).rstrip("/").casefold()


class PathRules:
    """The prefixes ``BearerAuth`` protects; ``None`` protects every path.

    Raises:
        ConfigError: a prefix is not a string starting with ``/``.
    """

    __slots__ = ("_prefixes",)

    def __init__(self, paths: Iterable[str] | None) -> None:
        if isinstance(paths, str):
            raise ConfigError("paths must be a list of path prefixes, e.g. ['/api']")
        self._prefixes = None if paths is None else tuple(_prefix(path) for path in paths)

    def protects(self, scope: Mapping[str, Any]) -> bool:
        """Whether the request of ``scope`` is under one of the prefixes."""
        if self._prefixes is None:
            return True
        return any(
            view == prefix or view.startswith(prefix + "/")
            for view in readings(scope)
            for prefix in self._prefixes
        )
