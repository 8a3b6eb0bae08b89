"""The asset URL policy on its own: schemes, origins and address ranges, with no DNS and no network."""

from __future__ import annotations

import socket

import pytest

from airflow_provider_luma.asset_urls import Origin, non_public_reason, refusal
from airflow_provider_luma.redaction import redacted

EMULATOR = "http://127.0.0.1:8765/dream-machine/v1"


def resolver(answers: dict[str, list[str]]):
    """A resolver that knows only ``answers``, and records what it was asked."""
    asked: list[tuple[str, int]] = []

    def resolve(host: str, port: int) -> list[str]:
        asked.append((host, port))
        return answers[host]

    resolve.asked = asked  # type: ignore[attr-defined]
    return resolve


@pytest.fixture
def no_network(monkeypatch):
    """Any DNS lookup or connection fails the test."""

    def refuse(*args, **kwargs):
        raise AssertionError(f"network used: {args}")

    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)


def test_https_on_a_public_host_is_allowed_without_network(no_network):
    resolve = resolver({"cdn-luma.example": ["93.184.216.34", "2606:2800:220:1:248:1893:25c8:1946"]})
    assert refusal("https://cdn-luma.example/a/b.png?sig=1", EMULATOR, resolve) is None
    assert resolve.asked == [("cdn-luma.example", 443)]
    assert refusal("https://93.184.216.34:8443/x.png", None, resolve) is None
    assert len(resolve.asked) == 1  # IP literals are never looked up


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("file:///etc/passwd", "scheme 'file' is not allowed"),
        ("ftp://cdn-luma.example/x.png", "scheme 'ftp' is not allowed"),
        ("gopher://cdn-luma.example/", "scheme 'gopher' is not allowed"),
        ("data:image/png;base64,AAAA", "scheme 'data' is not allowed"),
        ("//cdn-luma.example/x.png", "scheme '(none)' is not allowed"),
        ("http://cdn-luma.example/x.png", "scheme 'http' is not allowed for assets (allowed: https or the "),
        ("https://user:secret@cdn-luma.example/x.png", "carries credentials"),
        ("https:///x.png", "no host"),
        ("https://cdn-luma.example:port/x.png", "not a valid URL (its host or port does not parse)"),
        ("https://[::1/x.png", "not a valid URL (its host or port does not parse)"),
    ],
)
def test_refused_urls_say_why(no_network, url, reason):
    result = refusal(url, EMULATOR, resolver({"cdn-luma.example": ["93.184.216.34"]}))
    assert result is not None
    assert reason in result
    assert "secret" not in result


def test_without_a_trusted_origin_only_https_is_named():
    assert refusal("http://cdn-luma.example/x.png", None) == (
        "its scheme 'http' is not allowed for assets (allowed: https)"
    )


@pytest.mark.parametrize(
    ("address", "kind"),
    [
        ("127.0.0.1", "loopback"),
        ("127.8.9.10", "loopback"),
        ("::1", "loopback"),
        ("10.1.2.3", "private"),
        ("172.16.0.1", "private"),
        ("172.31.255.254", "private"),
        ("192.168.1.1", "private"),
        ("fd00:ec2::254", "private"),  # an IPv6 metadata address
        ("fc00::1", "private"),
        ("169.254.169.254", "link-local"),
        ("169.254.0.1", "link-local"),
        ("fe80::1", "link-local"),
        ("fe80::1%eth0", "link-local"),
        ("0.0.0.0", "unspecified"),
        ("::", "unspecified"),
        ("224.0.0.1", "multicast"),
        ("239.255.255.250", "multicast"),
        ("ff02::1", "multicast"),
        ("240.0.0.1", "reserved"),
        ("255.255.255.255", "reserved"),  # broadcast
        ("100.64.0.1", "reserved"),  # carrier-grade NAT, not global
        ("::ffff:127.0.0.1", "IPv4-mapped form of a loopback"),
        ("::ffff:169.254.169.254", "IPv4-mapped form of a link-local"),
        ("::ffff:10.0.0.1", "IPv4-mapped form of a private"),
    ],
)
def test_non_public_addresses_are_named(address, kind):
    reason = non_public_reason(address)
    assert reason is not None
    assert kind in reason


@pytest.mark.parametrize("address", ["93.184.216.34", "8.8.8.8", "2606:4700::1111", "::ffff:8.8.8.8"])
def test_public_addresses_pass(address):
    assert non_public_reason(address) is None


@pytest.mark.parametrize(
    "url",
    [
        "https://[::1]/x.png",
        "https://[::ffff:127.0.0.1]/x.png",
        "https://169.254.169.254/latest/meta-data/",
        "https://10.0.0.7/x.png",
    ],
)
def test_ip_literal_hosts_are_checked_without_lookup(no_network, url):
    assert refusal(url, EMULATOR, resolver({})) is not None


def test_a_host_is_refused_when_any_of_its_addresses_is_not_public(no_network):
    resolve = resolver({"cdn-luma.example": ["93.184.216.34", "10.0.0.5"]})
    assert refusal("https://cdn-luma.example/x.png", None, resolve) == (
        "cdn-luma.example resolves to 10.0.0.5, a private address; only public hosts (or the "
        "connection's own origin) may serve assets"
    )


def test_the_connections_own_origin_is_allowed_on_loopback_and_http(no_network):
    resolve = resolver({})
    assert refusal("http://127.0.0.1:8765/assets/x.png", EMULATOR, resolve) is None
    assert refusal("HTTP://127.0.0.1.:8765/assets/x.png", EMULATOR + "/", resolve) is None
    proxy = "https://luma-proxy.internal/dream-machine/v1"
    assert refusal("https://luma-proxy.internal/assets/x.png", proxy, resolve) is None
    assert refusal("https://LUMA-PROXY.internal:443/assets/x.png", proxy, resolve) is None
    assert resolve.asked == []


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8766/assets/x.png",  # another port
        "https://127.0.0.1:8765/assets/x.png",  # another scheme
        "http://localhost:8765/assets/x.png",  # another host name
    ],
)
def test_only_the_exact_origin_is_trusted(no_network, url):
    assert refusal(url, EMULATOR, resolver({"localhost": ["127.0.0.1"]})) is not None


def test_a_private_address_is_refused_even_next_to_a_trusted_proxy(no_network):
    resolve = resolver({"luma-proxy.internal": ["10.0.0.2"], "other.internal": ["10.0.0.3"]})
    proxy = "https://luma-proxy.internal/dream-machine/v1"
    assert "10.0.0.3, a private address" in refusal("https://other.internal/x.png", proxy, resolve)


def test_origin_and_redaction():
    assert str(Origin.of("https://[::1]/x")) == "https://[::1]:443"
    assert Origin.of("http://Example.COM./x") == Origin("http", "example.com", 80)
    assert redacted("https://user:pw@cdn.example/x?y=1") == "https://***@cdn.example/x?***"
    assert redacted("https://cdn.example/x") == "https://cdn.example/x"


def test_an_unresolvable_host_raises_the_lookup_error():
    def fail(host, port):
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    with pytest.raises(OSError, match="not known"):
        refusal("https://nowhere.invalid/x.png", None, fail)
