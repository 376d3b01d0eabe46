"""Loopback networking helpers shared by the sandbox, the tests and the benchmarks."""

from __future__ import annotations

import socket

LOOPBACK = "127.0.0.1"


def free_port(host: str = LOOPBACK) -> int:
    """A TCP port that nothing listens on right now (the OS picks it; a race with another binder is possible)."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]
