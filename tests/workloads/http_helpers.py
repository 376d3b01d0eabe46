"""Raw-socket HTTP for the server tests: exact bytes out, every answer parsed back (llhttp's response parser)."""

from __future__ import annotations

import contextlib
import socket
import time
from dataclasses import dataclass, field
from urllib.parse import urlparse

import httptools

ROW = b"12,70.5,800,one-year,card,dsl,1,2,40"


@dataclass
class Response:
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""


class _Collector:
    def __init__(self):
        self.responses: list[Response] = []
        self.current = Response(0)
        self.parser: httptools.HttpResponseParser | None = None

    def on_message_begin(self):
        self.current = Response(0)

    def on_headers_complete(self):
        self.current.status = self.parser.get_status_code()

    def on_header(self, name: bytes, value: bytes):
        self.current.headers[name.decode("latin-1").lower()] = value.decode("latin-1")

    def on_body(self, body: bytes):
        self.current.body += body

    def on_message_complete(self):
        self.responses.append(self.current)


def parse_responses(raw: bytes) -> list[Response]:
    """Every complete response in ``raw``, in order (a torn last one is left out)."""
    collector = _Collector()
    parser = collector.parser = httptools.HttpResponseParser(collector)
    with contextlib.suppress(httptools.HttpParserError):
        parser.feed_data(raw)
    return collector.responses


def address(url: str) -> tuple[str, int]:
    parsed = urlparse(url)
    return parsed.hostname, parsed.port


def request(method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None,
            version: str = "HTTP/1.1") -> bytes:
    """One well-formed request: Host and Content-Length added."""
    lines = [f"{method} {path} {version}", "Host: test"]
    lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
    if body or method == "POST":
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def score(body: bytes = ROW, content_type: str = "text/csv") -> bytes:
    return request("POST", "/invocations", body, {"Content-Type": content_type})


def read_all(sock: socket.socket, timeout: float) -> tuple[bytes, bool]:
    """Read until the server closes or ``timeout`` passes: (bytes, whether the server closed)."""
    deadline = time.monotonic() + timeout
    chunks = []
    while (left := deadline - time.monotonic()) > 0:
        sock.settimeout(left)
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            break
        except ConnectionResetError:
            return b"".join(chunks), True
        if not chunk:
            return b"".join(chunks), True
        chunks.append(chunk)
    return b"".join(chunks), False


def exchange(url: str, data: bytes, *, half_close: bool = True, timeout: float = 10.0) -> tuple[bytes, bool]:
    """Send ``data`` on a new connection (then FIN unless ``half_close`` is False) and read every answer
    until the server closes: (bytes, whether it closed within ``timeout``)."""
    with socket.create_connection(address(url), timeout=timeout) as sock:
        sock.sendall(data)
        if half_close:
            sock.shutdown(socket.SHUT_WR)
        return read_all(sock, timeout)


def ping(url: str, timeout: float = 10.0) -> None:
    """A new client connects and gets 200 from /ping, within a bound generous enough for a loaded machine
    (how fast is the benchmark's business: bench/serving_compare.py)."""
    answer, _ = exchange(url, request("GET", "/ping", headers={"Connection": "close"}), timeout=timeout)
    assert [r.status for r in parse_responses(answer)] == [200], answer[:200]
