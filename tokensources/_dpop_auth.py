"""DPoP on API requests (RFC 9449 §7): proofs for bound tokens, nonces per origin, first contact.

Every client adapter (httpx's ``TokenAuth``, aiohttp's ``TokenMiddleware``,
requests' ``TokenAuth``) asks ``DPoPRequests`` and ``DPoPSend`` what to do
with a DPoP-bound token (``Token.jkt`` set), in terms of no client: URLs,
methods, statuses and header mappings. ``BoundSend`` is ``DPoPSend`` in
httpx terms. They give: the key that token is bound to (found among the keys
loaded in this process), a fresh proof with ``ath`` for every send and
resend, the ``DPoP-Nonce`` of every answer, and whether an answer is a nonce
challenge worth one more send. A bearer token never gets here: it costs
``TokenAuth`` one attribute test and never carries a proof.

First contact: a resource that demands nonces refuses the first proof to
it, which has none. When a burst of requests reaches an origin before any
answer from it came back, every one of them would be refused and resent.
So the first DPoP request to an origin goes first, and the others of the
same event loop wait for its answer and start with the nonce it taught: a
cold burst costs one nonce retry per origin, not one per request. The wait
is short and happens once: the others go on together when the first
contact ends (answered, failed or cancelled) or after
``FIRST_CONTACT_WAIT`` seconds, whichever comes first — so a slow or
unreachable origin costs nobody more than that, failures are not made one
after the other, and a request that itself calls the same origin does not
wait for its own caller. Once an origin has answered, nobody waits for it
again; a later nonce rotation costs a retry only to the requests in flight
when the resource stopped taking the old nonce.
"""

from __future__ import annotations

from collections.abc import Mapping

import anyio
import anyio.lowlevel
import httpx

from ._bounded import forget_oldest
from ._errors import ConfigError
from ._token import Token
from .sources._dpop_key import DPoPKey, loaded_key
from .sources._dpop_nonces import (
    DEFAULT_MAX_ORIGINS,
    DPoPNonces,
    asks_for_nonce,
    dpop_error,
    origin,
)
from .wrappers._hooks import count_event

__all__ = ["FIRST_CONTACT_WAIT", "BoundSend", "DPoPRequests", "DPoPSend", "refuses_proof"]

# Seconds the requests behind a first contact wait for its answer at most:
# about one round trip to a distant API, after which a nonce retry each is
# cheaper than waiting longer.
FIRST_CONTACT_WAIT = 1.0


class DPoPRequests:
    """What ``TokenAuth`` needs for DPoP-bound tokens: keys, proofs, nonces and first contacts.

    Safe for concurrent use by the tasks of any number of event loops and
    by threads: nonces and answered origins are single dictionary steps, and
    the first-contact waits are kept per event loop (an ``anyio.Event``
    belongs to the loop that made it).

    Attributes:
        nonces: the nonces learned from the answers of resources, per origin.
    """

    __slots__ = ("_answered", "_first_contacts", "nonces")

    def __init__(self) -> None:
        self.nonces = DPoPNonces()
        self._answered: dict[str, None] = {}
        self._first_contacts: anyio.lowlevel.RunVar[dict[str, anyio.Event]] = anyio.lowlevel.RunVar(
            "tokensources.TokenAuth.dpop_first_contacts"
        )

    def __repr__(self) -> str:
        return f"DPoPRequests(nonces={self.nonces!r})"

    @staticmethod
    def key_for(token: Token) -> DPoPKey:
        """The key ``token`` (a bound token) is bound to.

        Raises:
            ConfigError: no key with the token's thumbprint is loaded in
                this process (a token from a shared store, bound to a key
                another process holds).
        """
        jkt = token.jkt
        key = None if jkt is None else loaded_key(jkt)
        if key is None:
            raise ConfigError(
                f"token {token.fingerprint} is bound to DPoP key {jkt}, which is not loaded "
                "in this process: load the same DPoPKey here, or do not share its tokens"
            )
        return key

    def proof_headers(
        self, method: str, url: str, token: Token, key: DPoPKey
    ) -> tuple[dict[str, str], str | None]:
        """The headers that send ``token`` to ``method url``, and the nonce their proof carries.

        RFC 9449 §7.1: ``Authorization: DPoP <token>`` and a ``DPoP`` proof
        whose ``ath`` is the token's hash. Every call signs a new proof.
        """
        nonce = self.nonces.get(url)
        proof = key.proof(method, url, access_token=token.access_token, nonce=nonce)
        return {"Authorization": f"DPoP {token.access_token}", "DPoP": proof}, nonce

    def answered(self, url: str, headers: Mapping[str, str]) -> None:
        """Learn the nonce in an answer's ``headers``, and that ``url``'s origin has answered.

        ``headers`` is the answer's header mapping of any client (httpx,
        aiohttp, requests): all of them look names up without regard to case.
        """
        self.nonces.learn(url, headers.get("dpop-nonce"))
        where = origin(url)
        if where not in self._answered:
            self._answered[where] = None
            forget_oldest(self._answered, DEFAULT_MAX_ORIGINS)

    def wants_retry(
        self, url: str, status: int, headers: Mapping[str, str], sent: str | None
    ) -> bool:
        """Whether an answer is a nonce challenge (RFC 9449 §9) with a nonce not yet sent.

        A challenge without a (valid) ``DPoP-Nonce``, or with the very nonce
        that was sent, is not worth a resend: it could only fail the same way.
        """
        if not asks_for_nonce(status, _www_authenticate(headers)):
            return False
        known = self.nonces.get(url)
        return known is not None and known != sent

    async def first_contact(self, url: str) -> anyio.Event | None:
        """Wait while another request of this loop makes the first contact with ``url``'s origin.

        Returns an event when this request is the first contact itself: the
        caller must pass it to ``contact_made`` once the answer (or a
        failure) is in, so that the waiting requests go on. Returns None at
        once when the origin has answered before.

        Concurrency and cancellation: a cancelled wait leaves the first
        contact alone. The waiting requests go on together, with whatever
        nonce is known, when the first contact ends — answered, failed or
        cancelled (through ``contact_made`` in the caller's clean-up) — or
        after ``FIRST_CONTACT_WAIT`` seconds; none of them becomes a first
        contact in turn. A request arriving after a first contact that
        failed makes a first contact of its own.
        """
        where = origin(url)
        if where in self._answered:
            return None
        try:
            contacts = self._first_contacts.get()
        except LookupError:
            contacts = {}
            self._first_contacts.set(contacts)
        pending = contacts.get(where)
        if pending is None:
            mine = contacts[where] = anyio.Event()
            return mine
        with anyio.move_on_after(FIRST_CONTACT_WAIT):
            await pending.wait()
        return None

    def contact_made(self, url: str, event: anyio.Event) -> None:
        """End the first contact ``event`` stood for: the waiting requests go on."""
        contacts = self._first_contacts.get({})
        where = origin(url)
        if contacts.get(where) is event:
            del contacts[where]
        event.set()


def refuses_proof(status: int, headers: Mapping[str, str]) -> bool:
    """Whether an answer refuses the DPoP proof rather than the token: a 401 rejecting nothing.

    RFC 9449 §7.1 and §9: ``WWW-Authenticate: DPoP error="use_dpop_nonce"``
    (send again with the nonce) or ``error="invalid_dpop_proof"`` (the
    proof's time, URL or nonce were wrong). A new token would not help
    either, so neither invalidates the token nor counts as a rejection.
    """
    if status != 401:
        return False
    return dpop_error(_www_authenticate(headers)) in ("use_dpop_nonce", "invalid_dpop_proof")


def _www_authenticate(headers: Mapping[str, str]) -> str | None:
    """Every ``WWW-Authenticate`` of an answer, as one list.

    Servers often send one per scheme (``Bearer`` and ``DPoP``); httpx and
    requests join repeated headers, aiohttp's multidict gives the first
    unless asked for all (RFC 9110 §5.3: the values of a repeated field are
    one comma-separated list).
    """
    getall = getattr(headers, "getall", None)
    if getall is not None:
        values = getall("www-authenticate", ())
        return ", ".join(values) if values else None
    return headers.get("www-authenticate")


class DPoPSend:
    """One request's DPoP, for any HTTP client: the key, the nonce sent, the one nonce retry.

    Made for each request whose token is bound (and again, keeping the
    retry already spent, for the fresh token of a resend after a 401). The
    client adapter puts ``headers(...)`` on each send, asks ``retry(...)``
    about each answer, and calls ``release(...)`` when the request is done.
    URLs are the request's absolute URL as sent; header mappings are the
    answer's, looked up without regard to case.

    Args:
        requests: the adapter's nonces and first contacts.
        token: the bound token the request carries.
        retried: whether the request's one nonce retry is spent already.

    Raises:
        ConfigError: the token's key is not loaded in this process.
    """

    __slots__ = ("_contact", "_requests", "key", "retried", "sent", "token")

    def __init__(self, requests: DPoPRequests, token: Token, *, retried: bool = False) -> None:
        self._requests = requests
        self.token = token
        self.key = requests.key_for(token)
        self.retried = retried
        self.sent: str | None = None
        self._contact: anyio.Event | None = None

    async def wait_first_contact(self, url: str) -> None:
        """Wait, if another request is making the first contact with the origin (see the module)."""
        self._contact = await self._requests.first_contact(url)

    def headers(self, method: str, url: str) -> dict[str, str]:
        """The ``Authorization`` and a fresh ``DPoP`` proof header for this send."""
        headers, self.sent = self._requests.proof_headers(method, url, self.token, self.key)
        return headers

    def earns_retry(
        self, url: str, status: int, headers: Mapping[str, str], replayable: bool
    ) -> bool:
        """Learn from an answer; True when it earns the one nonce retry (the retry is then spent).

        RFC 9449 §9: a ``use_dpop_nonce`` challenge naming a nonce not yet
        sent is answered by sending the request once more, with a fresh
        proof carrying that nonce (``headers()`` again). Never twice per
        request, never with a body that cannot be sent again.
        """
        requests = self._requests
        requests.answered(url, headers)
        self.end_first_contact(url)
        if (
            self.retried
            or not replayable
            or not requests.wants_retry(url, status, headers, self.sent)
        ):
            return False
        self.retried = True
        count_event("dpop_nonce_retry")
        return True

    def learn(self, url: str, headers: Mapping[str, str]) -> None:
        """Learn from the retry's answer (its nonce)."""
        self._requests.answered(url, headers)

    def end_first_contact(self, url: str) -> None:
        """End this request's first contact, if it is one, so that the waiting requests go on."""
        contact, self._contact = self._contact, None
        if contact is not None:
            self._requests.contact_made(url, contact)


class BoundSend(DPoPSend):
    """``DPoPSend`` in ``httpx`` terms, for ``TokenAuth``'s flows.

    Raises:
        ConfigError: the token's key is not loaded in this process.
    """

    __slots__ = ()

    async def first_contact(self, request: httpx.Request) -> None:
        """Wait, if another request is making the first contact with the origin (see the module)."""
        await self.wait_first_contact(str(request.url))

    def attach(self, request: httpx.Request) -> None:
        """Put the token and a fresh proof on ``request``."""
        request.headers.update(self.headers(request.method, str(request.url)))

    def retry(self, request: httpx.Request, response: httpx.Response, replayable: bool) -> bool:
        """Learn from ``response``; True when it earns the one retry, with a fresh proof on.

        The retry answers a nonce challenge (RFC 9449 §9), or a proof refused
        after httpx followed a redirect on the same origin: httpx copies the
        headers, proof included, onto the request a redirect leads to, and
        that proof names the first URL. The retry then goes to the URL the
        redirect led to, with a proof of its own — once, and only for a
        redirect that kept the method (and so the body).
        """
        if response.history:
            return self._retry_after_redirect(request, response, replayable)
        if not self.earns_retry(
            str(request.url), response.status_code, response.headers, replayable
        ):
            return False
        self.attach(request)
        return True

    def _retry_after_redirect(
        self, request: httpx.Request, response: httpx.Response, replayable: bool
    ) -> bool:
        final = response.request
        where = str(final.url)
        self.learn(where, response.headers)
        self.end_first_contact(str(request.url))
        if (
            self.retried
            or not replayable
            or final.method != request.method
            or origin(where) != origin(str(request.url))
            or not refuses_proof(response.status_code, response.headers)
        ):
            return False
        self.retried = True
        request.url = final.url
        self.attach(request)
        return True

    def answered(self, request: httpx.Request, response: httpx.Response) -> None:
        """Learn from the retry's ``response`` (its nonce, for the origin that answered)."""
        self.learn(str(response.request.url), response.headers)

    @staticmethod
    def refuses_proof(response: httpx.Response) -> bool:
        """Whether ``response`` refuses the proof, not the token (see ``refuses_proof``)."""
        return refuses_proof(response.status_code, response.headers)

    def release(self, request: httpx.Request) -> None:
        """End this request's first contact, if it is one, so that the waiting requests go on."""
        self.end_first_contact(str(request.url))
