"""Loopback networking helpers shared by the sandbox, the tests and the benchmarks."""

from __future__ import annotations

import ipaddress
import socket
import urllib.request
from urllib.parse import urlsplit

LOOPBACK = "127.0.0.1"
LOOPBACK_SCHEMES = ("http", "https")
LOOPBACK_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))
"""urllib's opener for loopback URLs: never through a proxy, whatever HTTP_PROXY says."""


def free_port(host: str = LOOPBACK) -> int:
    """A TCP port that nothing listens on right now (the OS picks it; a race with another binder is possible)."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def is_loopback_address(address: str) -> bool:
    """True for a literal IP address on loopback (127.0.0.0/8, ::1, and 127.x mapped into IPv6)."""
    try:
        ip = ipaddress.ip_address(address.strip("[]").split("%", 1)[0])
    except ValueError:
        return False
    mapped = getattr(ip, "ipv4_mapped", None)
    return (mapped or ip).is_loopback


def is_loopback_host(host: str) -> bool:
    """True when ``host`` is a loopback address, or a name every address of which is one (``localhost``).

    A name is resolved, never matched by its spelling: ``127.evil.example`` is whatever its DNS says."""
    if is_loopback_address(host):
        return True
    try:
        addresses = {info[4][0] for info in socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)}
    except (OSError, UnicodeError, ValueError):
        return False
    return bool(addresses) and all(is_loopback_address(address) for address in addresses)


def is_loopback_url(url: str) -> bool:
    """True for an http:// or https:// URL whose host is on loopback (see ``is_loopback_host``)."""
    try:
        parts = urlsplit(url)
        host, _ = parts.hostname, parts.port  # a port that is not a number raises ValueError
    except ValueError:
        return False
    return parts.scheme in LOOPBACK_SCHEMES and bool(host) and is_loopback_host(host)
