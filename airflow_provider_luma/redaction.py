"""
How a URL, or a request holding URLs, may appear in logs and errors: never with its secrets.

URLs carry secrets in two places: credentials (``user:password@``) and the query string (a
callback's ``?token=``, a presigned reference's or asset's ``X-Amz-Signature=``). Logs and errors
show scheme, host, port and path only; the full values stay in XCom, where the user's data belongs.

Written by hand, not with :func:`urllib.parse.urlsplit` alone: a password holding ``#``, ``?`` or
``/`` (unencoded, as people type them into a connection form) splits the URL in the wrong place,
so ``urlsplit`` sees no credentials at all and would show the password as host, port or fragment.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

#: How much of a URL an error or a log line shows (a ``data:`` URL can be megabytes long).
SHOWN_URL_CHARS = 200
#: What stands for the hidden credentials, and for a hidden query string or fragment.
HIDDEN = "***"
_AUTHORITY_END = re.compile(r"[/?#]")
_QUERY_OR_FRAGMENT = re.compile(r"[?#]")
#: A URL inside text: a scheme, "://", and everything up to a blank, a quote or a bracket.
_URL_IN_TEXT = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^\s\"'<>\\]+")
#: A query string inside text, after a bare path ("Max retries exceeded with url: /x.png?sig=...").
_QUERY_IN_TEXT = re.compile(r"\?[^\s\"'<>()\\]+")


def redacted(url: object) -> str:
    """
    ``url`` as it may be shown in a log or an error: credentials and query string hidden, cut short.

    ``user:password@`` becomes ``***@``, and whatever follows the path (``?query`` or ``#fragment``)
    becomes ``?***``. When an ``@`` comes past a ``/``, ``?`` or ``#`` that follows a ``:`` (a password
    holding one of them, or a port and an ``@`` in the path), everything up to that ``@`` is hidden,
    or all of it after the scheme: more is hidden than needed rather than a password shown.

    :param url: a URL (anything else is shown as its ``repr``, its URLs redacted).
    """
    if not isinstance(url, str):
        return _cut(redacted_text(repr(url)))
    scheme, separator, rest = url.partition("://")
    if not separator:
        scheme, rest = "", url
    rest = _without_credentials(rest)
    query = _QUERY_OR_FRAGMENT.search(rest)
    if query:
        rest = f"{rest[: query.start()]}?{HIDDEN}"
    return _cut(f"{scheme}{separator}{rest}")


def may_carry_credentials(url: str) -> bool:
    """
    Whether ``url`` carries credentials: a ``user@`` or ``user:password@``, however the password is
    written. A ``host:port`` followed by an ``@`` in the path or query is not taken for them (a
    valid URL), though :func:`redacted` hides it all, to be safe.

    :param url: a URL.
    """
    rest = url.partition("://")[2] or url
    return _credentials(rest) == "credentials"


def _credentials(rest: str) -> str:
    """
    What ``rest`` (a URL after its ``scheme://``) holds before its host: ``"credentials"``,
    ``"maybe"`` (a ``host:port``, or a digits-first password, then an ``@`` past a ``/``, ``?`` or
    ``#``) or ``"none"``.
    """
    end = _AUTHORITY_END.search(rest)
    authority = rest[: end.start()] if end else rest
    if "@" in authority:
        return "credentials"
    if ":" not in authority or "@" not in rest:
        return "none"  # no "@", or an "@" in the path or query of a plain host
    # An "@" past a "/", "?" or "#" that follows a ":": a password holding one of those characters,
    # unless what follows the ":" is a port (after an IPv6 literal's "]", if any).
    if authority.startswith("[") and "]" in authority:
        port = authority.partition("]")[2].removeprefix(":")
        if not port:
            return "none"  # the ":" were the IPv6 literal's
    else:
        port = authority.partition(":")[2]
    return "maybe" if port.isascii() and port.isdigit() else "credentials"


def _without_credentials(rest: str) -> str:
    """``rest`` (a URL after its ``scheme://``) with anything that may be credentials hidden."""
    found = _credentials(rest)
    if found == "none":
        return rest
    if found == "maybe":
        return HIDDEN
    end = _AUTHORITY_END.search(rest)
    authority = rest[: end.start()] if end else rest
    last_at = authority.rfind("@") if "@" in authority else rest.rfind("@")
    return f"{HIDDEN}@{rest[last_at + 1 :]}"


def redacted_text(text: str) -> str:
    """
    ``text`` with every URL in it :func:`redacted`, and any other query string hidden: for what
    Luma answers, whose error details may echo the request (FastAPI's validation errors quote each
    refused value), and for an HTTP library's messages, which quote the path and query they asked for.

    :param text: any text.
    """
    return _QUERY_IN_TEXT.sub(f"?{HIDDEN}", _URL_IN_TEXT.sub(lambda match: redacted(match.group()), text))


#: Longer than any prompt Luma takes: a value this long is inline media, shown by its size in logs.
LONG_VALUE_CHARS = 10_000


def redacted_values(value: Any) -> Any:
    """
    A request body (or any JSON-like value) with every string in it that holds a URL :func:`redacted`,
    and every string longer than any prompt (inline media) cut to its start and length.

    :param value: a dict, list or scalar, as sent to Luma.
    """
    if isinstance(value, Mapping):
        return {key: redacted_values(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [redacted_values(item) for item in value]
    if isinstance(value, str) and len(value) > LONG_VALUE_CHARS:  # inline media (base64): its size
        return f"{value[:32]}... ({len(value)} characters)"
    if isinstance(value, str) and "://" in value:
        return redacted(value)
    return value


def _cut(text: str) -> str:
    return text if len(text) <= SHOWN_URL_CHARS else text[:SHOWN_URL_CHARS] + "..."
