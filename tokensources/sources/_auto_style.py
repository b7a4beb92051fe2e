"""``AuthStyle.AUTO``: Basic first, the form when Basic is refused, and what was learned.

Two memories, process-wide on purpose (every source for the same client
would otherwise pay the failed probe again):

- the style that worked, per token URL and client id (golang/oauth2 learns
  only a style that actually worked, #803, and so does this);
- that both styles were refused, per token URL, client id and secret. While
  that is remembered, each call sends one request, in the style tried
  first, and does not probe the other: a revoked secret costs one request
  per call, not two. ``REFUSAL_MEMORY`` seconds later, or with another
  secret (a rotated one), both are probed again.

The other style is probed only after a refusal — a 401 or
``invalid_client`` — never after a 5xx or a network error, which would
double the load on an endpoint that is already failing (golang/oauth2 #718).
"""

from __future__ import annotations

import dataclasses

from .._bounded import forget_oldest
from .._errors import TokenEndpointError, TokenRequestError
from .._identity import process_digest
from .._source import Clock
from .._wire import TokenAnswer
from ._client_auth import Attempt, Credentials
from ._secret_auth import AuthStyle, SecretAuth, SecretBasicAuth, SecretPostAuth

__all__ = ["REFUSAL_MEMORY", "AutoSecretAuth", "forget_learned_auth_styles"]

# Seconds during which a secret refused in both styles is not probed in the
# second style again: long enough that a revoked secret stops doubling the
# load, short enough that a client the provider re-enables (for the other
# style only) recovers within minutes.
REFUSAL_MEMORY = 300.0
# A bound on remembered refusals, so that rotating through many wrong
# secrets cannot grow the memory without limit; the oldest go first.
MAX_REFUSALS = 1024

_learned_styles: dict[tuple[str, str], AuthStyle] = {}
_refused_until: dict[tuple[str, str, str], float] = {}


def forget_learned_auth_styles() -> None:
    """Forget what ``AuthStyle.AUTO`` has learned and the refusals it remembers (for tests)."""
    _learned_styles.clear()
    _refused_until.clear()


class AutoSecretAuth(SecretAuth):
    """The client-secret authentication that finds out which style the endpoint takes."""

    __slots__ = ("_clock", "_digest", "_styles")

    method = "client_secret_basic"  # the style tried first

    def __init__(self, client_id: str, client_secret: str, *, clock: Clock) -> None:
        super().__init__(client_id, client_secret)
        self._clock = clock
        # Refusals are remembered per secret without keeping the secret.
        self._digest = process_digest(client_id, client_secret)
        self._styles: dict[AuthStyle, SecretAuth] = {
            AuthStyle.HEADER: SecretBasicAuth(client_id, client_secret),
            AuthStyle.BODY: SecretPostAuth(client_id, client_secret),
        }

    async def credentials(self, token_url: str) -> Credentials:
        """The credentials of the style tried first for ``token_url``."""
        style = _learned_styles.get((token_url, self.client_id), AuthStyle.HEADER)
        return await self._styles[style].credentials(token_url)

    async def authenticate(self, attempt: Attempt, token_url: str) -> TokenAnswer:
        """Send in the learned style (Basic at first); after a refusal, probe the other.

        Concurrency and cancellation: one or two sequential requests;
        concurrent calls learn independently and agree. Cancelling abandons
        the request in flight and learns nothing.
        """
        key = (token_url, self.client_id)
        first = _learned_styles.get(key, AuthStyle.HEADER)
        answer = await attempt(await self._styles[first].credentials(token_url))
        if not self.refused(answer):
            if answer.ok:
                self._learn(key, first)
            return answer
        refused = _endpoint_error(answer)
        second = AuthStyle.BODY if first is AuthStyle.HEADER else AuthStyle.HEADER
        if self._still_refused(key):
            return dataclasses.replace(answer, error=_refused_again(first, refused, second))
        try:
            retry = await attempt(await self._styles[second].credentials(token_url))
        except TokenRequestError as exc:
            raise TokenRequestError(
                f"{exc}, after the {first.value} style was refused ({refused})",
                url=exc.url,
                reason=exc.reason,
                previous=refused,
            ) from None
        if retry.ok and not self.refused(retry):
            self._learn(key, second)
            return retry
        if self.refused(retry):
            self._remember_refusal(key)
        both = _both_failed(first, refused, second, _endpoint_error(retry))
        return dataclasses.replace(retry, token=None, error=both)

    def _learn(self, key: tuple[str, str], style: AuthStyle) -> None:
        _learned_styles[key] = style
        _refused_until.pop((*key, self._digest), None)

    def _still_refused(self, key: tuple[str, str]) -> bool:
        """Whether both styles were refused with this secret less than REFUSAL_MEMORY ago."""
        memory = (*key, self._digest)
        until = _refused_until.get(memory)
        if until is None:
            return False
        now = self._clock()
        # A clock set back must not stretch the memory beyond its bound.
        if now < until <= now + REFUSAL_MEMORY:
            return True
        _refused_until.pop(memory, None)
        return False

    def _remember_refusal(self, key: tuple[str, str]) -> None:
        memory = (*key, self._digest)
        _refused_until.pop(memory, None)  # re-inserted last: the newest
        _refused_until[memory] = self._clock() + REFUSAL_MEMORY
        forget_oldest(_refused_until, MAX_REFUSALS)


def _endpoint_error(answer: TokenAnswer) -> TokenEndpointError:
    """The error an answer stands for (a plain HTTP error when its body is not OAuth's)."""
    if isinstance(answer.error, TokenEndpointError):
        return answer.error
    status = answer.raw.status_code
    return TokenEndpointError(f"token endpoint answered {status}", status_code=status)


def _refused_again(
    first: AuthStyle, refused: TokenEndpointError, second: AuthStyle
) -> TokenEndpointError:
    """The refusal of the first style, saying why the second was not probed."""
    return _copy(
        refused,
        f"{refused}; the {second.value} style was refused too with this secret less than "
        f"{REFUSAL_MEMORY:.0f} s ago, so only the {first.value} style was tried",
    )


def _both_failed(
    first: AuthStyle,
    error1: TokenEndpointError,
    second: AuthStyle,
    error2: TokenEndpointError,
) -> TokenEndpointError:
    """One error carrying both answers; its classification is the second's."""
    if error2.error == "invalid_client" or error2.status_code == 401:
        summary = "the token endpoint refused both client authentication styles"
    else:
        summary = f"the token endpoint refused the {first.value} style, then failed"
    message = f"{summary}: {first.value}: {error1}; {second.value}: {error2}"
    return _copy(error2, message, previous=error1)


def _copy(
    error: TokenEndpointError, message: str, *, previous: TokenEndpointError | None = None
) -> TokenEndpointError:
    return TokenEndpointError(
        message,
        status_code=error.status_code,
        error=error.error,
        error_description=error.error_description,
        error_uri=error.error_uri,
        retry_after=error.retry_after,
        body_excerpt=error.body_excerpt,
        url=error.url,
        previous=previous,
    )
