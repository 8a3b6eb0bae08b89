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


def redacted(url: object) -> str:
    """
    ``url`` as it may be shown in a log or an error: credentials and query string hidden, cut short.

    ``user:password@`` becomes ``***@``, and whatever follows the path (``?query`` or ``#fragment``)
    becomes ``?***``. When an ``@`` comes past a ``/``, ``?`` or ``#`` that follows a ``:`` (a password
    holding one of them, or a port and an ``@`` in the path), everything up to that ``@`` is hidden,
    or all of it after the scheme: more is hidden than needed rather than a password shown.

    :param url: a URL (anything else is shown as its ``repr``).
    """
    if not isinstance(url, str):
        return _cut(repr(url))
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
    Whether ``url`` has a part :func:`redacted` hides as credentials: a ``user@`` or
    ``user:password@``, however the password is written.

    :param url: a URL.
    """
    rest = url.partition("://")[2] or url
    return _without_credentials(rest) != rest


def _without_credentials(rest: str) -> str:
    """``rest`` (a URL after its ``scheme://``) with anything that may be credentials hidden."""
    end = _AUTHORITY_END.search(rest)
    authority = rest[: end.start()] if end else rest
    if "@" in authority:
        return f"{HIDDEN}@{rest[authority.rfind('@') + 1 :]}"
    if ":" not in authority or "@" not in rest:
        return rest  # no credentials, or an "@" in the path or query of a plain host
    # An "@" past a "/", "?" or "#" that follows a ":": a password holding one of those characters,
    # or a port and an "@" further on. The first hides all up to the last "@"; the second, all.
    port = authority.partition(":")[2]
    if port.isascii() and port.isdigit():
        return HIDDEN
    return f"{HIDDEN}@{rest[rest.rfind('@') + 1 :]}"


def redacted_text(text: str) -> str:
    """
    ``text`` with every URL in it :func:`redacted`: for what Luma answers, whose error details may
    echo the request (FastAPI's validation errors quote each refused value).

    :param text: any text.
    """
    return _URL_IN_TEXT.sub(lambda match: redacted(match.group()), text)


def redacted_values(value: Any) -> Any:
    """
    A request body (or any JSON-like value) with every string in it that holds a URL :func:`redacted`.

    :param value: a dict, list or scalar, as sent to Luma.
    """
    if isinstance(value, Mapping):
        return {key: redacted_values(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [redacted_values(item) for item in value]
    if isinstance(value, str) and "://" in value:
        return redacted(value)
    return value


def _cut(text: str) -> str:
    return text if len(text) <= SHOWN_URL_CHARS else text[:SHOWN_URL_CHARS] + "..."
