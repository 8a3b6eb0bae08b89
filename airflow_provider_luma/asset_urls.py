"""
Which asset URLs may be shown and downloaded: a generation's asset URL is untrusted input.

Shown (returned, pushed to XCom, linked): :func:`shown_refusal`, a rule on the URL's text alone
(``https``, or the connection's own origin), so that no ``javascript:``, ``data:`` or ``file:`` URL
ever reaches a browser or a downstream task. Where no connection is known (the extra link and the
gallery, which never read one), :func:`web_url` lets ``http`` and ``https`` through, and nothing else.

Downloaded: :func:`refusal`. A URL passes when it is ``https`` on a host whose every address is
public, or when it has exactly the scheme, host and port of the connection's base URL (the
emulator, or a proxy in front of Luma, which may well live on loopback or a private network).
Everything else is refused: ``file:``, ``ftp:`` and other schemes, plain ``http`` elsewhere,
credentials in the URL, and hosts that resolve to loopback, private, link-local (cloud metadata
services), unspecified, multicast or reserved addresses, IPv4-mapped IPv6 forms included. The
standard library's ``ipaddress`` knows the special-purpose ranges; what is written here is only
the rule.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

from airflow_provider_luma.redaction import may_carry_credentials

#: Looks up the addresses of ``(host, port)``; injectable so that tests need no DNS.
Resolver = Callable[[str, int], Iterable[str]]

_DEFAULT_PORTS = {"http": 80, "https": 443}
#: The only schemes a browser is ever given by the link and the gallery.
WEB_SCHEMES = ("http", "https")
#: Characters a browser drops from or tolerates in a URL (ASCII controls and the space): a URL with
#: any is refused, so that the text checked is the text a browser would follow.
_CONTROL_OR_SPACE = re.compile(r"[\x00-\x20\x7f]")


def resolve_addresses(host: str, port: int) -> list[str]:
    """
    Return every address ``host`` resolves to (what a connection to it could reach).

    :param host: a host name or an IP literal.
    :param port: the port, passed to the resolver as a connection would.
    :raises OSError: when the name does not resolve.
    """
    return [str(info[4][0]) for info in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)]


@dataclass(frozen=True)
class Origin:
    """
    The scheme, host and port of a URL, normalised (lower case, default ports filled in).

    :param scheme: ``http``, ``https``...
    :param host: the host name or IP literal, without brackets or a trailing dot.
    :param port: the explicit port, or the scheme's default (None when the scheme has none).
    """

    scheme: str
    host: str
    port: int | None

    @classmethod
    def of(cls, url: str) -> Origin:
        """
        The origin of ``url``.

        :param url: an absolute URL.
        :raises ValueError: when the port is not a number or an IPv6 literal is malformed.
        """
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        host = (parts.hostname or "").rstrip(".")
        return cls(scheme, host, parts.port or _DEFAULT_PORTS.get(scheme))

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}" + (f":{self.port}" if self.port else "")


def shown_refusal(url: object, trusted_origin: str | None) -> str | None:
    """
    Say why ``url`` may not be returned, pushed or linked as an asset URL, or return None when it may.

    It may when it is ``https`` with a host, or has exactly the scheme, host and port of the
    connection's base URL; never with credentials, control characters or spaces in it. The text
    alone is judged (no DNS): the copy to storage checks the host's addresses too (:func:`refusal`).

    :param url: the asset URL, as Luma (or whoever wrote the XCom) gave it.
    :param trusted_origin: the connection's base URL (only its scheme, host and port count), or
        None to allow ``https`` only.
    """
    reason = _malformed(url)
    if reason:
        return reason
    origin = Origin.of(str(url))
    trusted = Origin.of(trusted_origin) if trusted_origin else None
    if origin == trusted:
        return None
    if origin.scheme != "https":
        allowed = "https" + (f" or the connection's own origin {trusted}" if trusted else "")
        return f"its scheme {origin.scheme or '(none)'!r} is not allowed for assets (allowed: {allowed})"
    if not origin.host:
        return "it has no host"
    return None


def web_url(url: object) -> str | None:
    """
    ``url`` when a browser may be given it as a link or an image source, else None.

    For the extra link and the gallery, which never read a connection: ``http`` or ``https`` with a
    host, no credentials, no control characters or spaces. Every other scheme (``javascript:``,
    ``data:``, ``file:``...) and every relative URL is left out, whatever an XCom holds.

    :param url: a URL read from XCom (any type).
    """
    if _malformed(url):
        return None
    origin = Origin.of(str(url))
    return str(url) if origin.scheme in WEB_SCHEMES and origin.host else None


def _malformed(url: object) -> str | None:
    """Why ``url`` is not a parseable URL string free of credentials and hidden characters."""
    if not isinstance(url, str):
        return f"it is a {type(url).__name__}, not a URL"
    if _CONTROL_OR_SPACE.search(url):
        return "it contains spaces or control characters"
    if may_carry_credentials(url):
        return "it carries credentials"
    try:
        urlsplit(url).port  # noqa: B018 (raises ValueError for a port that is not a number)
    except ValueError:  # its message may quote the URL
        return "it is not a valid URL (its host or port does not parse)"
    return None


def refusal(url: str, trusted_origin: str | None, resolve: Resolver = resolve_addresses) -> str | None:
    """
    Say why ``url`` may not be downloaded, or return None when it may.

    :param url: the asset URL (or a redirect's target), absolute.
    :param trusted_origin: the connection's base URL (only its scheme, host and port count), or
        None to allow public ``https`` only.
    :param resolve: looks up a host's addresses; IP literals are never looked up.
    :raises OSError: when the host does not resolve (a network problem, not a verdict).
    """
    reason = shown_refusal(url, trusted_origin)
    if reason:
        return reason
    origin = Origin.of(url)
    if trusted_origin and origin == Origin.of(trusted_origin):
        return None
    for address in _addresses(origin, resolve):
        reason = non_public_reason(address)
        if reason:
            shown = origin.host if origin.host == address else f"{origin.host} resolves to {address}"
            return f"{shown}, {reason}; only public hosts (or the connection's own origin) may serve assets"
    return None


def _addresses(origin: Origin, resolve: Resolver) -> list[str]:
    try:
        return [str(ipaddress.ip_address(origin.host))]
    except ValueError:
        return list(resolve(origin.host, origin.port or 443))


def non_public_reason(address: str) -> str | None:
    """
    Say what kind of non-public address ``address`` is, or None when it is a public one.

    :param address: an IPv4 or IPv6 address (an IPv6 zone suffix such as ``%eth0`` is ignored).
    """
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        mapped = non_public_reason(str(ip.ipv4_mapped))
        return f"an IPv4-mapped form of {mapped}" if mapped else None
    if ip.is_loopback:
        return "a loopback address"
    if ip.is_link_local:
        return "a link-local address (where cloud metadata services answer)"
    if ip.is_unspecified:
        return "the unspecified address"
    if ip.is_multicast:
        return "a multicast address"
    if ip.is_reserved:
        return "a reserved address"
    if ip.is_private:
        return "a private address"
    if not ip.is_global:
        return "a reserved address"
    return None
