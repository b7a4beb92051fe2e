"""The per-test controls of one issuer: claim mappings, quotas, queued answers, its log.

``IssuerApi`` (and so ``AuthorizationServer`` and ``Tenant``) has these;
they live apart from the registration API only to keep each module small.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .._errors import ConfigError
from ._answers import AnswerFactory, QueuedAnswer, QueuedAnswers
from ._asgi import Response
from ._assembly import IssuerParts
from ._claim_mappings import checked_mapping
from ._faults import encode_body, retry_after_header
from ._oauth_errors import OAuthError, error_response
from ._paths import TOKEN_PATH
from ._quotas import Quota
from ._request_log import LoggedRequest, RequestLog

__all__ = ["IssuerControls"]


def _check_status(status: object) -> int:
    if not isinstance(status, int) or isinstance(status, bool) or not 100 <= status <= 599:
        raise ConfigError(f"status must be an HTTP status code, got {status!r}")
    return status


def _check_times(times: object) -> int:
    if not isinstance(times, int) or isinstance(times, bool) or times < 1:
        raise ConfigError(f"times must be a positive integer, got {times!r}")
    return times


class IssuerControls:
    """What a test sets up and checks on one issuer, beyond its clients and keys.

    Args:
        parts: the issuer's wired parts.
        log: the server's request log.
        answers: the server's queued answers.
        log_issuer: the issuer name the log is filtered by for this issuer's
            ``assert_token_requests``; None for every issuer.
    """

    def __init__(
        self,
        parts: IssuerParts,
        *,
        log: RequestLog,
        answers: QueuedAnswers,
        log_issuer: str | None,
    ) -> None:
        self._parts = parts
        self._log = log
        self._answers = answers
        self._log_issuer = log_issuer

    def map_claims(
        self,
        claims: Mapping[str, Any],
        *,
        client_id: str | None = None,
        scope: str | None = None,
        form: Mapping[str, str] | None = None,
    ) -> None:
        """Add ``claims`` to the tokens this issuer grants to matching token requests.

        Every condition given must hold: the authenticated client is
        ``client_id``; ``scope`` is among the granted scopes; each ``form``
        field has the value given. With no condition, every token gets the
        claims. Mappings apply in the order they were added (a later one
        overrides an earlier one) and override the standard claims.

        String values are templates: ``${client_id}``, ``${scope}``,
        ``${grant_type}``, ``${issuer}``, ``${tenant}`` and ``${form.NAME}``
        (any form field but a credential); ``$$`` is a literal ``$``. A claim
        whose template names a form field the request did not send is left out.

        Raises:
            ConfigError: claims that are not JSON values, an unclosed or
                unknown ``${…}``, a credential field in a template or a condition.
        """
        mapping = checked_mapping(claims, client_id=client_id, scope=scope, form=form)
        self._parts.mappings.add(mapping)

    def clear_claim_mappings(self) -> None:
        """Remove every claim mapping of this issuer."""
        self._parts.mappings.clear()

    def set_quota(self, tokens: int, per: float, *, client_id: str | None = None) -> None:
        """Issue at most ``tokens`` tokens to each client in any ``per`` seconds, then answer 429.

        The window slides, on the server's clock. A throttled request gets
        ``429 {"error": "too_many_requests"}`` with ``Retry-After`` (whole
        seconds, rounded up) saying when the oldest token in the window
        leaves it, as Auth0 and Entra throttle machine-to-machine tokens.
        Only issued tokens count. With ``client_id``, the quota is that
        client's alone and replaces the default one for it.

        Raises:
            ConfigError: ``tokens`` not a positive integer, ``per`` not a
                positive number of seconds.
        """
        self._parts.quotas.set(tokens, per, client_id=client_id)

    @property
    def quotas(self) -> dict[str | None, Quota]:
        """The quotas set on this issuer: the one for every client under None, others by id."""
        return self._parts.quotas.all()

    def clear_quotas(self) -> None:
        """Remove every quota of this issuer (and forget the tokens counted)."""
        self._parts.quotas.clear()

    def enqueue_error(
        self,
        status: int,
        error: str,
        *,
        description: str | None = None,
        retry_after: float | str | None = None,
        uri: str | None = None,
        path: str | None = None,
        client_id: str | None = None,
        grant_type: str | None = None,
        times: int = 1,
    ) -> None:
        """Answer the next matching request with an RFC 6749 §5.2 error.

        The body is ``{"error": error, "error_description": description,
        "error_uri": uri}`` (the last two when given), with
        ``Cache-Control: no-store``, ``Retry-After`` when ``retry_after`` is
        given (seconds, rounded up, or an HTTP-date string), and the Basic
        challenge of a real ``invalid_client`` answer when the request used Basic.

        Matching: ``path`` is a path of this issuer (default its token
        endpoint, ``/oauth/token``); ``client_id`` and ``grant_type``, for a
        token request, must be what the request claims. The first queued
        answer that matches a request answers it, ``times`` times; queued
        faults (``faults.fail_next``) come first.

        Raises:
            ConfigError: a bad status, an empty error, or a client or grant
                condition on a path that is not a token endpoint (it could
                never match).
        """
        _check_status(status)
        if not isinstance(error, str) or not error:
            raise ConfigError("error must be a non-empty error code")
        oauth_error = OAuthError(
            error, description, status, retry_after=retry_after_header(retry_after), uri=uri
        )

        def answer(headers: Mapping[str, str]) -> Response:
            return error_response(oauth_error, headers)

        label = f"enqueue_error({status}, {error!r})"
        self._enqueue(
            answer,
            label,
            path=path,
            client_id=client_id,
            grant_type=grant_type,
            times=times,
            error=error,
        )

    def enqueue_response(
        self,
        status: int = 200,
        body: bytes | str | Mapping[str, Any] | None = None,
        *,
        headers: Mapping[str, str] | None = None,
        path: str | None = None,
        client_id: str | None = None,
        grant_type: str | None = None,
        times: int = 1,
    ) -> None:
        """Answer the next matching request with exactly this response.

        ``body`` is sent as JSON when it is a mapping, as it is otherwise
        (JSON if it starts with ``{``, else plain text); without a body, the
        status line as plain text. Matching is as for ``enqueue_error``.

        Raises:
            ConfigError: a bad status, or a condition that could never match.
        """
        _check_status(status)
        raw, content_type = encode_body(status, None, body)
        extra: list[tuple[bytes, bytes]] = []
        for name, value in (headers or {}).items():
            if name.lower() == "content-type":
                content_type = value
            else:
                extra.append((name.lower().encode("latin-1"), value.encode("latin-1")))
        kind = content_type.encode("latin-1")

        def answer(_headers: Mapping[str, str]) -> Response:
            return Response(status, raw, list(extra), kind)

        label = f"enqueue_response({status})"
        self._enqueue(
            answer, label, path=path, client_id=client_id, grant_type=grant_type, times=times
        )

    def _enqueue(
        self,
        answer: AnswerFactory,
        label: str,
        *,
        path: str | None,
        client_id: str | None,
        grant_type: str | None,
        times: int,
        error: str | None = None,
    ) -> None:
        _check_times(times)
        local = TOKEN_PATH if path is None else path
        if not isinstance(local, str) or not local.startswith("/"):
            raise ConfigError(f"path must start with '/', got {path!r}")
        if (client_id is not None or grant_type is not None) and local != TOKEN_PATH:
            raise ConfigError(
                f"{label} for {local!r} names a client or a grant, which only token "
                f"requests ({TOKEN_PATH}) have: it could never match"
            )
        name = self._parts.issuer.name
        full = f"/{name}{local}" if name else local
        queued = QueuedAnswer(full, client_id, grant_type, answer, times, label, error)
        self._answers.add(queued)

    def requests(self, **filters: Any) -> list[LoggedRequest]:
        """The logged requests to this issuer matching ``filters`` (see ``RequestLog.requests``)."""
        return self._log.requests(**self._scoped(filters))

    def token_requests(self, **filters: Any) -> list[LoggedRequest]:
        """The logged token requests to this issuer matching ``filters``."""
        return self._log.token_requests(**self._scoped(filters))

    def assert_token_requests(self, count: int, **filters: Any) -> list[LoggedRequest]:
        """Assert that exactly ``count`` token requests to this issuer match ``filters``.

        ``server.assert_token_requests(1, client_id="billing", status=200)``.
        Returns the matching requests; raises ``AssertionError`` listing what
        the server saw otherwise. The filters are those of ``RequestLog.requests``.
        """
        return self._log.assert_token_requests(count, **self._scoped(filters))

    def _scoped(self, filters: dict[str, Any]) -> dict[str, Any]:
        if self._log_issuer is not None and filters.get("issuer") is None:
            filters["issuer"] = self._log_issuer
        return filters
