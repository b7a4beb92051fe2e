"""No client authentication (``none``): a public client, or a grant whose assertion is the proof."""

from __future__ import annotations

from ._client_auth import ClientAuth, Credentials, check_client_id

__all__ = ["PublicClient"]


class PublicClient(ClientAuth):
    """Sends at most its ``client_id`` (RFC 6749 §2.1 public clients; RFC 8693 §2.1 "none").

    Token exchange and the JWT-bearer grant may authenticate the subject
    alone; some servers still want to know which client asks.
    """

    __slots__ = ()

    method = "none"

    def __init__(self, client_id: str | None = None) -> None:
        super().__init__(None if client_id is None else check_client_id(client_id))

    def __repr__(self) -> str:
        return f"PublicClient(client_id={self.client_id!r})"

    async def credentials(self, token_url: str) -> Credentials:
        """``client_id`` in the form when there is one; nothing else."""
        return Credentials(form={"client_id": self.client_id} if self.client_id else {})

    def cache_key(self) -> tuple[str, str]:
        """``none`` and no credential."""
        return self.method, ""
