"""One issuer's routes: the endpoint that serves each path."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol

from ._asgi import Request, Response, json_response
from ._paths import first_segment

__all__ = ["Endpoint", "Router"]


class Endpoint(Protocol):
    """Something that answers requests: the token endpoint, the JWKS, the metadata, the API."""

    async def handle(self, request: Request) -> Response:
        """The complete response to ``request``."""
        ...


class Router:
    """Hands each request to the endpoint of its path, within one issuer.

    Args:
        paths: endpoints by exact path.
        prefixes: endpoints by path prefix, tried in order after ``paths``.
    """

    def __init__(
        self, paths: Mapping[str, Endpoint], prefixes: Sequence[tuple[str, Endpoint]] = ()
    ) -> None:
        self._paths = dict(paths)
        self._prefixes = tuple(prefixes)

    def first_segments(self) -> set[str]:
        """The first path segments this router serves (``oauth``, ``.well-known``, ``api``)."""
        paths = [*self._paths, *(prefix for prefix, _ in self._prefixes)]
        return {first_segment(path) for path in paths}

    async def route(self, request: Request) -> Response:
        """The answer of the endpoint serving ``request.path``, or 404 (405 for non-GET)."""
        endpoint = self._paths.get(request.path)
        if endpoint is None:
            endpoint = next(
                (found for prefix, found in self._prefixes if request.path.startswith(prefix)),
                None,
            )
        if endpoint is not None:
            return await endpoint.handle(request)
        if request.method != "GET":
            return json_response(405, {"error": "method_not_allowed"}, headers=[("allow", "GET")])
        return json_response(404, {"error": "not_found"})
