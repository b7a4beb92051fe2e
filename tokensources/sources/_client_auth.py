"""Client authentication: one small strategy per method, shared by every grant.

A grant (client_credentials today; token exchange and JWT bearer tomorrow)
builds its form and sends it; how the client proves who it is — HTTP Basic,
the secret in the form, a signed assertion, a client certificate, nothing —
is a ``ClientAuth``, and a grant takes any of them. A strategy says:

- what it adds to the form and the headers of a request (``credentials``),
  and which secrets those carry, so that no error about the answer shows them;
- what TLS context the connection needs (``ssl_context``; None but for
  mutual TLS, and asked before every request so a renewed certificate is used);
- what part of it keys a shared cache (``cache_key``: its method name and a
  one-way digest of its credential);
- how an answer meaning "wrong client authentication" looks (``refused``).

A strategy that must negotiate (``AuthStyle.AUTO`` tries a second way when
the first is refused) overrides ``authenticate``, which by default sends
one request with ``credentials``.
"""

from __future__ import annotations

import abc
import ssl
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .._errors import ConfigError, TokenEndpointError
from .._wire import TokenAnswer

__all__ = ["Attempt", "ClientAuth", "Credentials", "check_client_id", "check_method_supported"]


@dataclass(frozen=True, slots=True)
class Credentials:
    """What one client authentication adds to one token request.

    Attributes:
        form: form fields to add (``client_id``, ``client_secret``, the
            assertion fields, ...).
        headers: headers to add (``Authorization``).
        secrets: every credential value these carry, as it is; each is
            masked, in all its encodings, in anything said about the answer.
    """

    form: Mapping[str, str] = field(default_factory=dict)
    headers: Mapping[str, str] = field(default_factory=dict)
    secrets: tuple[str, ...] = field(default=(), repr=False)


Attempt = Callable[[Credentials], Awaitable[TokenAnswer]]
"""Send the grant's request with these credentials; the answer, judged once."""


class ClientAuth(abc.ABC):
    """How a client authenticates to the token endpoint (RFC 6749 §2.3).

    Attributes:
        method: the token endpoint authentication method, as the IANA
            registry names it (``client_secret_basic``, ``private_key_jwt``, ...).
        client_id: the client identifier, or None for a client that sends none.
    """

    __slots__ = ("client_id",)

    method: str = ""

    def __init__(self, client_id: str | None) -> None:
        self.client_id = client_id

    @abc.abstractmethod
    async def credentials(self, token_url: str) -> Credentials:
        """The form fields, headers and secrets of one request to ``token_url``.

        Called once per request, so that what must be fresh (an assertion's
        ``jti``) is.
        """

    @abc.abstractmethod
    def cache_key(self) -> tuple[str, str]:
        """The method name and credential digest that key a shared token.

        Two strategies with equal keys obtain interchangeable tokens; the
        digest is one-way and slow (``credential_digest``), fit to publish.
        """

    def ssl_context(self) -> ssl.SSLContext | None:
        """The TLS context the connection needs (a client certificate), or None.

        Asked before every request: a different object (a renewed
        certificate) makes the grant open a new HTTP client with it.
        """
        return None

    def refused(self, answer: TokenAnswer) -> bool:
        """Whether ``answer`` means "wrong client authentication".

        A 401 (RFC 6749 §5.2: the client authentication failed), or an
        ``invalid_client`` error under 400, 403 or a 200 carrying ``error``.
        Not a 5xx or a network error: those say nothing about the
        credentials.
        """
        status = answer.raw.status_code
        if status == 401:
            return True
        error = answer.error
        return (
            status in (200, 400, 403)
            and isinstance(error, TokenEndpointError)
            and error.error == "invalid_client"
        )

    async def authenticate(self, attempt: Attempt, token_url: str) -> TokenAnswer:
        """Run the grant's request (``attempt``) authenticated this way; return its answer.

        Concurrency and cancellation: as ``attempt``; one request unless a
        strategy negotiates.
        """
        return await attempt(await self.credentials(token_url))


def check_client_id(client_id: object) -> str:
    """``client_id`` if it is a non-empty string.

    Raises:
        ConfigError: it is not.
    """
    if not isinstance(client_id, str) or not client_id:
        raise ConfigError("client_id must be a non-empty string")
    return client_id


def check_method_supported(metadata: Mapping[str, Any], methods: tuple[str, ...]) -> None:
    """Refuse an issuer whose metadata lists its client authentication methods, none of ``methods``.

    Metadata without ``token_endpoint_auth_methods_supported`` says nothing,
    and is not refused (many providers leave it out).

    Raises:
        ConfigError: naming the methods the issuer supports and the one asked for.
    """
    supported = metadata.get("token_endpoint_auth_methods_supported")
    if not isinstance(supported, list) or not all(isinstance(m, str) for m in supported):
        return
    if not any(method in supported for method in methods):
        offered = ", ".join(supported) or "none"
        raise ConfigError(
            f"the token endpoint wants another client authentication: it supports {offered}, "
            f"not {' or '.join(methods)}"
        )
