"""DPoP on API requests (RFC 9449 §7): proofs for bound tokens, nonces per origin, first contact.

``TokenAuth`` asks ``DPoPRequests`` what to do with a DPoP-bound token
(``Token.jkt`` set): the key that token is bound to (found among the keys
loaded in this process), a fresh proof with ``ath`` for every send and
resend, the ``DPoP-Nonce`` of every answer, and whether an answer is a nonce
challenge worth one more send. A bearer token never gets here: it costs
``TokenAuth`` one attribute test and never carries a proof.

First contact: a resource that demands nonces refuses the first proof to
it, which has none. When a burst of requests reaches an origin before any
answer from it came back, every one of them would be refused and resent.
So the first DPoP request to an origin goes alone, and the others of the
same event loop wait for its answer (or its failure) and start with the
nonce it taught: a cold burst costs one nonce retry per origin, not one per
request. Once an origin has answered, nobody waits for it again; a later
nonce rotation costs a retry only to the requests in flight when the
resource stopped taking the old nonce.
"""

from __future__ import annotations

import anyio
import anyio.lowlevel
import httpx

from ._errors import ConfigError
from ._token import Token
from .sources._dpop_key import DPoPKey, loaded_key
from .sources._dpop_nonces import DEFAULT_MAX_ORIGINS, DPoPNonces, asks_for_nonce, origin
from .wrappers._hooks import count_event

__all__ = ["BoundSend", "DPoPRequests"]


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

    def attach(self, request: httpx.Request, token: Token, key: DPoPKey) -> str | None:
        """Put ``token`` and a fresh proof for ``request`` on it; the nonce the proof carries.

        RFC 9449 §7.1: ``Authorization: DPoP <token>`` and a ``DPoP`` proof
        whose ``ath`` is the token's hash. Every call signs a new proof.
        """
        url = str(request.url)
        nonce = self.nonces.get(url)
        request.headers["Authorization"] = f"DPoP {token.access_token}"
        request.headers["DPoP"] = key.proof(
            request.method, url, access_token=token.access_token, nonce=nonce
        )
        return nonce

    def answered(self, request: httpx.Request, response: httpx.Response) -> None:
        """Learn the nonce of ``response`` (if any), and that its origin has answered."""
        url = str(request.url)
        self.nonces.learn(url, response.headers.get("dpop-nonce"))
        where = origin(url)
        if where not in self._answered:
            answered = self._answered
            answered[where] = None
            while len(answered) > DEFAULT_MAX_ORIGINS:
                answered.pop(next(iter(answered)), None)

    def wants_retry(
        self, request: httpx.Request, response: httpx.Response, sent: str | None
    ) -> bool:
        """Whether ``response`` is a nonce challenge (RFC 9449 §9) with a nonce not yet sent.

        A challenge without a (valid) ``DPoP-Nonce``, or with the very nonce
        that was sent, is not worth a resend: it could only fail the same way.
        """
        if not asks_for_nonce(response.status_code, response.headers.get("www-authenticate")):
            return False
        known = self.nonces.get(str(request.url))
        return known is not None and known != sent

    @staticmethod
    def challenged(response: httpx.Response) -> bool:
        """Whether ``response`` is a nonce challenge: a 401 that does not reject the token."""
        return asks_for_nonce(response.status_code, response.headers.get("www-authenticate"))

    async def first_contact(self, request: httpx.Request) -> anyio.Event | None:
        """Wait while another request of this loop makes the first contact with the origin.

        Returns an event when this request is the first contact itself: the
        caller must pass it to ``contact_made`` once the answer (or a
        failure) is in, so that the waiting requests go on. Returns None at
        once when the origin has answered before.

        Concurrency and cancellation: a cancelled wait leaves the first
        contact alone; a first contact that is cancelled or fails releases
        the others (through ``contact_made`` in the caller's clean-up), and
        the next request becomes the first contact.
        """
        where = origin(str(request.url))
        if where in self._answered:
            return None
        try:
            contacts = self._first_contacts.get()
        except LookupError:
            contacts = {}
            self._first_contacts.set(contacts)
        while where not in self._answered:
            pending = contacts.get(where)
            if pending is None:
                mine = contacts[where] = anyio.Event()
                return mine
            await pending.wait()
        return None

    def contact_made(self, request: httpx.Request, event: anyio.Event) -> None:
        """End the first contact ``event`` stood for: the waiting requests go on."""
        contacts = self._first_contacts.get({})
        where = origin(str(request.url))
        if contacts.get(where) is event:
            del contacts[where]
        event.set()


class BoundSend:
    """One request's DPoP while ``TokenAuth`` sends it: the key, the nonce sent, the one retry.

    Made for each request whose token is bound (and again, keeping the
    retry already spent, for the fresh token of a resend after a 401).

    Args:
        requests: the ``TokenAuth``'s nonces and first contacts.
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

    async def first_contact(self, request: httpx.Request) -> None:
        """Wait, if another request is making the first contact with the origin (see the module)."""
        self._contact = await self._requests.first_contact(request)

    def attach(self, request: httpx.Request) -> None:
        """Put the token and a fresh proof on ``request``."""
        self.sent = self._requests.attach(request, self.token, self.key)

    def retry(self, request: httpx.Request, response: httpx.Response, replayable: bool) -> bool:
        """Learn from ``response``; True when it earns the one nonce retry, with a fresh proof on.

        RFC 9449 §9: a ``use_dpop_nonce`` challenge naming a nonce not yet
        sent is answered by sending the request once more, with a proof
        carrying that nonce. Never twice per request, never with a body that
        cannot be sent again.
        """
        requests = self._requests
        requests.answered(request, response)
        self.release(request)
        if self.retried or not replayable or not requests.wants_retry(request, response, self.sent):
            return False
        self.retried = True
        count_event("dpop_nonce_retry")
        self.attach(request)
        return True

    def answered(self, request: httpx.Request, response: httpx.Response) -> None:
        """Learn from the retry's ``response`` (its nonce)."""
        self._requests.answered(request, response)

    def challenged(self, response: httpx.Response) -> bool:
        """Whether ``response`` is a nonce challenge: a 401 that does not reject the token."""
        return self._requests.challenged(response)

    def release(self, request: httpx.Request) -> None:
        """End this request's first contact, if it is one, so that the waiting requests go on."""
        contact, self._contact = self._contact, None
        if contact is not None:
            self._requests.contact_made(request, contact)
