"""The endpoint URLs of ``tokensources token``, checked in the command line's own terms.

The library's own check (``check_endpoint_url``) is the rule; this module
only words its refusals for a command line: it names the flag, echoes the
URL as it was typed (not rebuilt from its parts, which turns
``127.0.0.1:9096/oauth/token`` into ``://127.0.0.1...``) and advises
``--allow-insecure-http``, not a Python keyword.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from .._errors import ConfigError
from .._http import check_endpoint_url

__all__ = ["as_given", "check_url", "in_cli_terms"]

# The user-info part of a URL (``user:secret@``), with or without a scheme.
_USERINFO = re.compile(r"^(?P<start>(?:[A-Za-z][A-Za-z0-9+.-]*:)?//)?[^/?#@]*@")


def check_url(flag: str, url: str | None, *, allow_insecure_http: bool) -> None:
    """Refuse ``url``, given as ``flag``, unless it is an acceptable endpoint URL.

    Raises:
        ConfigError: the URL cannot be parsed, is not absolute ``http(s)``
            (the message suggests the URL with a scheme), carries
            credentials, or is plain ``http`` to a host other than loopback
            without ``--allow-insecure-http``.
    """
    if url is None:
        return
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - urlsplit checks the port only when it is read
    except ValueError:
        # Raised outside the handler: the parse error would quote the URL.
        parts = None
    if parts is None:
        raise ConfigError(f"{flag} is not a valid URL")
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(
            f"{flag} must be an absolute http:// or https:// URL, got {as_given(url)!r}"
            + _suggestion(url)
        )
    check_endpoint_url(url, name=flag, allow_insecure_http=True)
    if not allow_insecure_http and not _secure_enough(url):
        raise ConfigError(
            f"{flag} {as_given(url)!r} uses plain http to a host other than loopback, which "
            "would send the client's credentials in clear; use https, or add "
            "--allow-insecure-http if you really mean it"
        )


def _secure_enough(url: str) -> bool:
    # Its structure passed the library's check already: a refusal now can
    # only be plain http to a host other than loopback.
    try:
        check_endpoint_url(url, allow_insecure_http=False)
    except ConfigError:
        return False
    return True


def as_given(url: str) -> str:
    """``url`` as the user typed it, with any user info and query masked."""
    shown = _USERINFO.sub(lambda match: (match["start"] or "") + "…@", url, count=1)
    path, query, _ = shown.partition("?")
    return path + ("?…" if query else "")


def _suggestion(url: str) -> str:
    if "://" in url or url.startswith("/"):
        return ""
    # The scheme is missing: suggest http for loopback (where the library
    # accepts it) and https anywhere else.
    for candidate in ("http://" + url, "https://" + url):
        try:
            check_endpoint_url(candidate, allow_insecure_http=False)
        except ConfigError:
            continue
        return f"; did you mean {as_given(candidate)!r}?"
    return ""  # not a URL even with a scheme


def in_cli_terms(exc: ConfigError) -> ConfigError:
    """``exc`` reworded for the command line: its Python keyword replaced by the flag.

    A URL found through discovery is refused by the library, whose advice
    names the keyword ``allow_insecure_http=True``; the command line's
    user has ``--allow-insecure-http`` instead.
    """
    text = str(exc)
    if "allow_insecure_http=True" not in text:
        return exc
    return ConfigError(text.replace("allow_insecure_http=True", "--allow-insecure-http"))
