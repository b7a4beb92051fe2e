"""FileToken: a token file that its platform rotates (Kubernetes, Entra, AWS, SPIFFE)."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

import anyio
import anyio.to_thread

from .._errors import ConfigError, TokenRequestError
from .._source import Clock
from .._token import Token
from ._jwt_claims import claims_expiry, jwt_shape, naming_claims, unverified_claims

__all__ = ["FileToken"]

# A token file holds one JWT of a few KiB; anything far larger is not one.
MAX_FILE_BYTES = 64 * 1024


@dataclass(frozen=True, slots=True)
class _Version:
    """What tells one version of the file from another, without reading it.

    A Kubernetes ``..data`` swap points the path at a new file (a new inode);
    a writer that rewrites in place changes the size or the mtime.
    """

    device: int
    inode: int
    mtime_ns: int
    size: int


def _version(stat: os.stat_result) -> _Version:
    return _Version(stat.st_dev, stat.st_ino, stat.st_mtime_ns, stat.st_size)


class FileToken:
    """A token source reading a token file that its platform rotates.

    For Kubernetes projected service-account tokens, Entra's
    ``AZURE_FEDERATED_TOKEN_FILE``, ``AWS_WEB_IDENTITY_TOKEN_FILE`` and
    SPIFFE JWT-SVIDs written by a helper: the platform replaces the file
    before the token in it expires, and this source hands out what the file
    holds now.

    Guarantees:

    1. **Re-read when changed.** Each ``token()`` looks at the file's
       metadata (``os.stat``: device, inode, modification time, size) and
       reads it again only when that changed, when the token it read has
       expired, or after ``invalidate()`` of that token. Kubernetes' atomic
       ``..data`` symlink swap is a change (the path resolves to a new
       inode). Under ``reuse()`` the file is not even looked at until the
       cache wants a new token: no read is on the hot path.
    2. **Never past its own expiry.** The token's ``expires_at`` is the JWT's
       ``exp``, so caches above never keep it longer than the file says; a
       file whose token has expired is re-read, and if it still holds the
       expired token, ``token()`` raises instead of handing it out.
    3. **Clear errors.** A missing, empty or unreadable file, one being
       written (a cut-off JWT), or one holding an expired token is a
       ``TokenRequestError`` (transient: the platform writes the file
       again; ``retry()`` waits for it). A file that is not a JWT when
       ``require_jwt`` is set, or larger than 64 KiB, is a ``ConfigError``.
       No message holds the token.

    Args:
        path: the token file (symlinks are followed on every look).
        require_jwt: the file must hold a JWT (default). With False, any
            single token is accepted; one that is not a JWT has no known
            expiry and is re-read whenever the file changes.
        token_type: the ``token_type`` of the tokens handed out.
        clock: wall-clock time, for expiry.

    Raises:
        ConfigError: ``path`` is not a path, or ``token_type`` is empty.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        require_jwt: bool = True,
        token_type: str = "Bearer",  # noqa: S107 - a scheme name, not a secret
        clock: Clock = time.time,
    ) -> None:
        try:
            self.path = os.fspath(path)
        except TypeError:
            raise ConfigError("path must be a file path (str or os.PathLike)") from None
        if not isinstance(self.path, str) or not self.path:
            raise ConfigError("path must be a non-empty file path")
        if not isinstance(token_type, str) or not token_type.strip():
            raise ConfigError("token_type must be a non-empty string")
        self.require_jwt = bool(require_jwt)
        self.token_type = token_type
        self._clock = clock
        self._token: Token | None = None
        self._version: _Version | None = None
        self._reading: anyio.Event | None = None
        self.reads = 0
        """How many times the file was read (not merely looked at)."""

    def __repr__(self) -> str:
        return f"FileToken(path={self.path!r}, require_jwt={self.require_jwt!r})"

    async def token(self) -> Token:
        """The token the file holds now.

        Reads the file only when it changed since the last read (or the
        token read has expired or been invalidated); otherwise returns the
        token read before, after one ``os.stat``.

        Concurrency and cancellation: safe to call from many tasks of one
        event loop at once; callers that find the file changed while a read
        is in flight wait for that read (in a worker thread) instead of
        reading again, so each version of the file is read once. Cancelling
        the reading call releases the waiters, which then read themselves.

        Raises:
            TokenRequestError: the file is missing, empty, unreadable, being
                written, or holds an expired token (transient).
            ConfigError: the file holds something that is not a token (or
                not a JWT, with ``require_jwt``).
        """
        # Bounded: wait for at most one read in flight, then read ourselves.
        for _ in range(2):
            cached = self._token
            if cached is not None and self._current() and not cached.expired(self._clock()):
                return cached
            reading = self._reading
            if reading is None:
                break
            await reading.wait()
        return await self._read_now()

    async def _read_now(self) -> Token:
        done = anyio.Event()  # one per read: events are not reusable
        self._reading = done
        try:
            version, text = await anyio.to_thread.run_sync(self._read)
            token = self._parse(text)
            if token.expired(self._clock()):
                raise self._unavailable(
                    f"holds a token that expired at {token.expires_at:.0f}; "
                    "the platform has not rotated it yet"
                )
            self._token, self._version = token, version
            return token
        finally:
            if self._reading is done:
                self._reading = None
            done.set()

    def invalidate(self, token: Token) -> None:
        """Forget ``token`` if it is the one read last, so the next call reads the file again."""
        if self._token is not None and token == self._token:
            self._token = self._version = None

    def subject_claims(self) -> dict[str, str]:
        """The ``iss`` and ``sub`` of the file's JWT, for shared-cache identities.

        Never the token itself. Reads the file (once) if no token was read yet.

        Raises:
            ConfigError: the file cannot be read now, or holds no JWT.
        """
        token = self._token
        if token is None:
            try:
                token = self._parse(self._read()[1])
            except TokenRequestError as exc:
                raise ConfigError(f"{exc}: it cannot name its subject") from None
        claims = unverified_claims(token.access_token)
        if claims is None:
            raise ConfigError(
                f"the token file {self.path!r} holds no JWT, so it names no subject; "
                "pass key= to the shared cache"
            )
        return naming_claims(claims)

    def _current(self) -> bool:
        """Whether the file is still the version read last (one ``os.stat``)."""
        try:
            return _version(os.stat(self.path)) == self._version
        except OSError:
            return False  # the read that follows says what is wrong

    def _read(self) -> tuple[_Version, str]:
        """Read the file (in a worker thread): its version and its text, stripped."""
        self.reads += 1
        try:
            with open(self.path, "rb") as file:
                version = _version(os.fstat(file.fileno()))
                data = file.read(MAX_FILE_BYTES + 1)
        except FileNotFoundError:
            raise self._unavailable("does not exist") from None
        except OSError as exc:
            # The OS error names the path and the reason, never the contents.
            raise self._unavailable(f"cannot be read ({exc.strerror})") from None
        if len(data) > MAX_FILE_BYTES:
            raise ConfigError(
                f"the token file {self.path!r} is larger than {MAX_FILE_BYTES} bytes: "
                "not a token file"
            )
        try:
            text = data.decode("ascii").strip()
        except UnicodeDecodeError:
            raise ConfigError(f"the token file {self.path!r} does not hold a token") from None
        if not text:
            raise self._unavailable("is empty (being written?)")
        return version, text

    def _parse(self, text: str) -> Token:
        """The token ``text`` stands for.

        Raises:
            TokenRequestError: a JWT cut short (the file is being written).
            ConfigError: not a JWT (with ``require_jwt``), or not a token at all.
        """
        shape = jwt_shape(text)
        if shape == "prefix":
            raise self._unavailable("holds an incomplete JWT (being written?)")
        if shape == "other" and self.require_jwt:
            raise ConfigError(
                f"the token file {self.path!r} does not hold a JWT; "
                "pass require_jwt=False for an opaque token"
            )
        claims = unverified_claims(text) if shape == "complete" else None
        expires_at = claims_expiry(claims) if claims is not None else None
        try:
            return Token(text, token_type=self.token_type, expires_at=expires_at)
        except ConfigError:
            raise ConfigError(f"the token file {self.path!r} does not hold a token") from None

    def _unavailable(self, what: str) -> TokenRequestError:
        return TokenRequestError(f"the token file {self.path!r} {what}", reason=what)
