"""What counts as loopback: the resolved address, never the spelling of the host, and http(s) only."""

from __future__ import annotations

import socket

import pytest

from prodline.net import is_loopback_address, is_loopback_url
from prodline.sandbox.emulator import EmulatorError, require_loopback


@pytest.fixture
def dns(monkeypatch):
    """Names resolved from a table of ours (anything else does not resolve), so no test depends on real DNS."""
    table: dict[str, list[str]] = {"localhost": ["127.0.0.1", "::1"]}

    def getaddrinfo(host, port, *args, **kwargs):
        if host not in table:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return [(socket.AF_INET6 if ":" in address else socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, 0))
                for address in table[host]]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return table


@pytest.mark.parametrize("url", ["http://127.0.0.1:4566", "https://127.10.0.1/", "http://[::1]:4571/x",
                                 "http://localhost:4566", "http://[::ffff:127.0.0.1]:4566"])
def test_loopback_urls(dns, url):
    assert is_loopback_url(url)


@pytest.mark.parametrize("url", [
    "http://127.evil.example:4566",      # spelled like 127.x, resolves elsewhere
    "http://127.0.0.1.evil.example:80",  # does not resolve at all
    "http://mixed.example:4566",         # one of its addresses is not loopback
    "ftp://127.0.0.1/", "file:///etc/passwd", "gopher://127.0.0.1:70/", "127.0.0.1:4566",
    "http://0.0.0.0:4566", "http://10.0.0.1:4566", "http://[::]:4566", "http://127.0.0.1:port/", "http://",
])
def test_other_urls_are_not_loopback(dns, url):
    dns.update({"127.evil.example": ["203.0.113.7"], "mixed.example": ["127.0.0.1", "198.51.100.1"]})
    assert not is_loopback_url(url)


def test_a_peer_address_is_judged_by_value():
    assert is_loopback_address("127.0.0.1") and is_loopback_address("::1") and is_loopback_address("::ffff:127.0.0.9")
    assert not is_loopback_address("::ffff:10.0.0.1") and not is_loopback_address("127.evil.example")


def test_the_sandbox_refuses_an_emulator_that_is_not_on_loopback(dns):
    dns["127.evil.example"] = ["203.0.113.7"]
    assert require_loopback("http://127.0.0.1:4566/") == "http://127.0.0.1:4566"
    for url in ("http://127.evil.example:4566", "ftp://127.0.0.1:4566"):
        with pytest.raises(EmulatorError, match="not an http:// or https:// URL on a loopback address"):
            require_loopback(url)
