"""The server's bounds on clients: slow clients are cut off, idle connections never lock others out, and a
worker with no room left answers 503 with Retry-After instead of leaving a client hanging."""

from __future__ import annotations

import contextlib
import resource
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest

from tests.workloads.conftest import start_server, stop_server
from tests.workloads.http_helpers import ROW, address, parse_responses, ping, read_all, request, score
from workloads.serving.server import BACKLOG
from workloads.serving.settings import ServerSettings

TIMEOUT = 1.5  # the header, body and keep-alive timeouts of the server under test
# How late a cut-off may come: the server checks deadlines a few times a second, and a loaded machine adds
# more. Generous on purpose: what is asserted is a cut-off (within seconds) against none (the trickles below
# would take a minute or more), not how fast it comes.
SLACK = 3.0


@pytest.fixture(scope="module")
def short_timeouts(model_dir):
    process, url = start_server(model_dir, workers=1, settings={
        "PRODLINE_SERVER_HEADER_TIMEOUT_SECONDS": str(TIMEOUT), "PRODLINE_SERVER_BODY_TIMEOUT_SECONDS": str(TIMEOUT),
        "PRODLINE_SERVER_KEEPALIVE_TIMEOUT_SECONDS": str(TIMEOUT)})
    yield url
    stop_server(process)


@pytest.fixture(scope="module")
def few_connections(model_dir):
    process, url = start_server(model_dir, workers=1, settings={"PRODLINE_SERVER_MAX_CONNECTIONS": "20"})
    yield url
    stop_server(process)


def trickle(sock: socket.socket, data: bytes, seconds_per_byte: float, limit: float) -> tuple[bytes, float, int]:
    """Send ``data`` a byte at a time until the server answers or closes, or ``limit`` seconds pass:
    (answer, seconds, bytes sent by then)."""
    started = time.monotonic()
    for sent, byte in enumerate(data, 1):
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):  # closed: its answer is still read
            sock.sendall(bytes([byte]))
        sock.settimeout(seconds_per_byte)
        try:
            first = sock.recv(65536)
        except TimeoutError:
            if time.monotonic() - started > limit:
                break
            continue
        except ConnectionResetError:
            return b"", time.monotonic() - started, sent
        return first + (read_all(sock, 5)[0] if first else b""), time.monotonic() - started, sent
    return b"", time.monotonic() - started, len(data)


def test_a_client_sending_one_byte_a_second_is_cut_off_within_the_header_timeout(short_timeouts):
    head = request("GET", "/ping")[:-2] + b"X-Padding: " + b"a" * 100 + b"\r\n\r\n"  # 150 s at this pace
    with socket.create_connection(address(short_timeouts), timeout=10) as sock:
        answer, seconds, sent = trickle(sock, head, 1.0, limit=TIMEOUT + 10)
    assert seconds <= TIMEOUT + SLACK and sent < len(head)
    assert [r.status for r in parse_responses(answer)] == [408]


def test_a_body_that_trickles_is_cut_off_within_the_body_timeout(short_timeouts):
    head, body = score()[:-len(ROW)], ROW
    with socket.create_connection(address(short_timeouts), timeout=10) as sock:
        sock.sendall(head)
        answer, seconds, sent = trickle(sock, body, 0.5, limit=TIMEOUT + 10)
    assert seconds <= TIMEOUT + SLACK and sent < len(body)
    assert [r.status for r in parse_responses(answer)] == [408]


def test_an_idle_keep_alive_connection_is_closed_after_the_keep_alive_timeout(short_timeouts):
    with socket.create_connection(address(short_timeouts), timeout=10) as sock:
        sock.sendall(request("GET", "/ping"))
        started = time.monotonic()
        answer, closed = read_all(sock, TIMEOUT + 10)
    assert [r.status for r in parse_responses(answer)] == [200]
    assert closed and time.monotonic() - started <= TIMEOUT + SLACK


def test_a_connection_that_sends_nothing_is_closed_within_the_header_timeout(short_timeouts):
    started = time.monotonic()
    with socket.create_connection(address(short_timeouts), timeout=10) as sock:
        answer, closed = read_all(sock, TIMEOUT + 10)
    assert answer == b"" and closed and time.monotonic() - started <= TIMEOUT + SLACK


def test_at_the_connection_limit_the_longest_idle_connection_makes_room(few_connections):
    with contextlib.ExitStack() as stack:
        idle = []
        for _ in range(20):
            sock = stack.enter_context(socket.create_connection(address(few_connections), timeout=10))
            sock.sendall(request("GET", "/ping"))
            assert parse_responses(sock.recv(65536))[0].status == 200
            idle.append(sock)
        ping(few_connections)
        answer, closed = read_all(idle[0], 5)
        assert answer == b"" and closed, "the oldest idle connection is the one closed"


def test_at_the_connection_limit_with_none_idle_a_new_client_gets_503_with_retry_after(few_connections):
    with contextlib.ExitStack() as stack:
        for _ in range(20):  # each has sent half a request: busy, not idle
            sock = stack.enter_context(socket.create_connection(address(few_connections), timeout=10))
            sock.sendall(b"GET /ping HTTP/1.1\r\nHost: te")
        time.sleep(0.2)
        with socket.create_connection(address(few_connections), timeout=10) as late:
            late.sendall(request("GET", "/ping"))
            answer, closed = read_all(late, 5)
        (response,) = parse_responses(answer)
        assert response.status == 503 and int(response.headers["retry-after"]) >= 1 and closed
    time.sleep(0.2)
    ping(few_connections)


def raise_open_file_limit(needed: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < needed:
        if hard != resource.RLIM_INFINITY and hard < needed:
            pytest.skip(f"the open-file hard limit ({hard}) is below the {needed} this test needs")
        resource.setrlimit(resource.RLIMIT_NOFILE, (needed, hard))


def test_with_2000_idle_connections_open_a_new_client_still_gets_ping(model_dir):
    """One worker, started with the common default of 1024 open files: it must raise its own limit and
    bound its connections (closing idle ones to make room), not stop accepting when descriptors run out.
    How fast the new client is answered is measured by the benchmark (bench/serving_compare.py)."""
    raise_open_file_limit(2300)
    process, url = start_server(model_dir, workers=1, open_files=1024)
    try:
        with contextlib.ExitStack() as stack:
            for number in range(2000):
                sock = stack.enter_context(socket.create_connection(address(url), timeout=10))
                if number % 2:  # half have been used once and idle between requests, half never sent anything
                    sock.sendall(request("GET", "/ping"))
            ping(url)
            ping(url)
    finally:
        stop_server(process)


def test_the_listening_socket_queues_the_backlog_the_server_asked_for(few_connections):
    """asyncio's create_server listens again with a backlog of its own (100) unless given one: a burst of new
    connections beyond it had SYNs dropped, each such client waiting a second for its retry."""
    if shutil.which("ss") is None:
        pytest.skip("ss (iproute2) is not installed: it reads a listening socket's backlog")
    listing = subprocess.run(["ss", "-Hltn", f"sport = :{address(few_connections)[1]}"], capture_output=True,
                             text=True, timeout=30, check=True).stdout.splitlines()
    somaxconn = int(Path("/proc/sys/net/core/somaxconn").read_text())
    assert listing and [int(line.split()[2]) for line in listing] == [min(BACKLOG, somaxconn)] * len(listing)


def test_bad_settings_are_refused_naming_the_variable():
    base = {"SM_MODEL_DIR": "/m"}
    with pytest.raises(ValueError, match="PRODLINE_SERVER_MAX_CONNECTIONS must be an integer"):
        ServerSettings.from_env({**base, "PRODLINE_SERVER_MAX_CONNECTIONS": "many"})
    with pytest.raises(ValueError, match="header_timeout must be > 0"):
        ServerSettings.from_env({**base, "PRODLINE_SERVER_HEADER_TIMEOUT_SECONDS": "0"})
    with pytest.raises(ValueError, match="max_pipelined must be >= 1"):
        ServerSettings.from_env({**base, "PRODLINE_SERVER_MAX_PIPELINED": "0"})
    settings = ServerSettings.from_env({**base, "SAGEMAKER_MAX_PAYLOAD_IN_MB": "1.5"})
    assert settings.max_body_bytes == 1572864 and settings.max_connections == 1024
