"""The server's HTTP framing under attack: every ambiguity RFC 9112 says to reject is a 4xx (505 for an
unsupported version) followed by a clean close, and answers already due are never lost to the close."""

from __future__ import annotations

import io
import json
import socket

import numpy as np
import pytest

from tests.workloads.http_helpers import ROW, address, exchange, parse_responses, ping, read_all, request, score

HOST = b"Host: test\r\n"
SMUGGLED = b"GET /admin HTTP/1.1\r\nHost: test\r\n\r\n"


def post(headers: bytes, body: bytes = b"", version: bytes = b"HTTP/1.1") -> bytes:
    return b"POST /invocations " + version + b"\r\n" + headers + b"Content-Type: text/csv\r\n\r\n" + body


REJECTED = {
    "conflicting content-lengths": (post(HOST + b"Content-Length: 36\r\nContent-Length: 0\r\n", ROW + SMUGGLED), 400),
    "repeated identical content-length": (post(HOST + b"Content-Length: 36\r\nContent-Length: 36\r\n", ROW), 400),
    "content-length as a list": (post(HOST + b"Content-Length: 36, 36\r\n", ROW), 400),
    "content-length superscript two": (post(HOST + "Content-Length: ²\r\n".encode(), ROW), 400),
    "content-length of 5000 digits": (post(HOST + b"Content-Length: " + b"9" * 5000 + b"\r\n"), 413),
    "negative content-length": (post(HOST + b"Content-Length: -1\r\n"), 400),
    "content-length with a plus sign": (post(HOST + b"Content-Length: +36\r\n", ROW), 400),
    "content-length above the body limit": (post(HOST + b"Content-Length: 7000000\r\n"), 413),
    "content-length beyond 2^63": (post(HOST + b"Content-Length: 9223372036854775808\r\n"), 413),
    "transfer-encoding with content-length": (
        post(HOST + b"Transfer-Encoding: chunked\r\nContent-Length: 5\r\n", b"0\r\n\r\n" + SMUGGLED), 400),
    "chunked body": (post(HOST + b"Transfer-Encoding: chunked\r\n", b"24\r\n" + ROW + b"\r\n0\r\n\r\n"), 411),
    "transfer-encoding other than chunked": (post(HOST + b"Transfer-Encoding: gzip\r\n", ROW), 400),
    "transfer-encoding in HTTP/1.0": (
        post(b"Transfer-Encoding: chunked\r\n", b"24\r\n" + ROW + b"\r\n0\r\n\r\n", b"HTTP/1.0"), 400),
    "whitespace before the colon": (b"GET /ping HTTP/1.1\r\nHost : test\r\n\r\n", 400),
    "content-length with whitespace before the colon": (post(HOST + b"Content-Length : 36\r\n", ROW), 400),
    "tab before the colon": (b"GET /ping HTTP/1.1\r\n" + HOST + b"X-Trace\t: 1\r\n\r\n", 400),
    "obsolete line folding": (b"GET /ping HTTP/1.1\r\n" + HOST + b"X-Trace: a\r\n b\r\n\r\n", 400),
    "header line starting with whitespace": (b"GET /ping HTTP/1.1\r\n Host: test\r\n\r\n", 400),
    "bare LF line ends": (b"GET /ping HTTP/1.1\nHost: test\n\n", 400),
    "control character in a header value": (b"GET /ping HTTP/1.1\r\n" + HOST + b"X-Trace: a\x01b\r\n\r\n", 400),
    "missing host on HTTP/1.1": (b"GET /ping HTTP/1.1\r\n\r\n", 400),
    "two hosts": (b"GET /ping HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400),
    "HTTP/1.9": (b"GET /ping HTTP/1.9\r\n" + HOST + b"\r\n", 505),
    "HTTP/2.0": (b"GET /ping HTTP/2.0\r\n" + HOST + b"\r\n", 505),
    "HTTP/0.9": (b"GET /ping HTTP/0.9\r\n\r\n", 505),
    "HTTP/3.0": (b"GET /ping HTTP/3.0\r\n" + HOST + b"\r\n", 505),
    "HTTP/2 preface": (b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 505),
    "unknown method": (b"BREW /ping HTTP/1.1\r\n" + HOST + b"\r\n", 400),
    "not HTTP at all": (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 40, 400),
    "space in the target": (b"GET /pi ng HTTP/1.1\r\n" + HOST + b"\r\n", 400),
    "head over the header limit": (b"GET /ping HTTP/1.1\r\n" + HOST + b"X-Long: " + b"a" * 20000 + b"\r\n\r\n", 431),
    "many small headers over the limit": (
        b"GET /ping HTTP/1.1\r\n" + HOST + b"".join(b"X-%d: 1\r\n" % i for i in range(3000)) + b"\r\n", 431),
    "request line over the header limit": (b"GET /" + b"a" * 20000 + b" HTTP/1.1\r\n" + HOST + b"\r\n", 414),
}


@pytest.mark.parametrize(("data", "status"), REJECTED.values(), ids=REJECTED.keys())
def test_an_ambiguous_or_malformed_request_is_rejected_and_the_connection_closed(server, data, status):
    answer, closed = exchange(server, data, half_close=False)
    responses = parse_responses(answer)
    assert [r.status for r in responses] == [status], answer[:300]
    assert closed, "the server must close after a request it cannot frame"
    assert responses[0].headers["connection"] == "close"
    assert json.loads(responses[0].body)["message"]


def test_a_smuggled_request_behind_conflicting_lengths_is_never_answered(server):
    answer, _ = exchange(server, REJECTED["conflicting content-lengths"][0] + SMUGGLED)
    assert [r.status for r in parse_responses(answer)] == [400]


def test_an_oversized_body_is_refused_before_it_is_sent(server):
    """413 on the head alone: the client is not made to upload (or the server to buffer) 7 MB first."""
    answer, closed = exchange(server, post(HOST + b"Content-Length: 7000000\r\n"), half_close=False, timeout=5)
    assert [r.status for r in parse_responses(answer)] == [413] and closed


def test_http10_without_host_is_answered(server):
    answer, _ = exchange(server, b"GET /ping HTTP/1.0\r\n\r\n")
    assert [r.status for r in parse_responses(answer)] == [200]


def test_http10_keep_alive_is_acknowledged(server):
    data = request("GET", "/ping", headers={"Connection": "keep-alive"}, version="HTTP/1.0") * 2
    responses = parse_responses(exchange(server, data)[0])
    assert [r.status for r in responses] == [200, 200]
    assert responses[0].headers["connection"] == "keep-alive"


def test_absolute_form_targets_are_routed_by_their_path(server):
    answer, _ = exchange(server, b"GET http://test/ping HTTP/1.1\r\n" + HOST + b"\r\n")
    assert [r.status for r in parse_responses(answer)] == [200]


def test_an_upgrade_request_is_answered_and_the_connection_closed(server):
    data = request("GET", "/ping", headers={"Connection": "Upgrade", "Upgrade": "websocket"}) + request("GET", "/ping")
    answer, closed = exchange(server, data, half_close=False)
    responses = parse_responses(answer)
    assert [r.status for r in responses] == [200] and closed
    assert responses[0].headers["connection"] == "close"


def test_a_request_cut_short_by_the_client_gets_a_400(server):
    answer, _ = exchange(server, score()[:-10])
    assert [r.status for r in parse_responses(answer)] == [400]


# pipelining: answers already due are flushed before any close, and never lost to a reset


def test_answers_due_before_a_rejected_request_all_arrive_despite_unread_input(server):
    """Without a lingering close, the junk left unread makes the kernel reset the connection, and the
    client's kernel drops the five answers it had received but not yet read."""
    data = score() * 5 + b"GET /ping HTTP/1.1\r\nHost : test\r\n\r\n" + b"x" * 500_000
    with socket.create_connection(address(server), timeout=10) as sock:
        sock.sendall(data)
        answer, closed = read_all(sock, 10)
    assert [r.status for r in parse_responses(answer)] == [200] * 5 + [400]
    assert closed


def test_answers_due_before_connection_close_all_arrive_and_later_requests_are_not_read(server):
    data = score() * 3 + request("GET", "/ping", headers={"Connection": "close"}) + score() * 2000
    with socket.create_connection(address(server), timeout=10) as sock:
        sock.sendall(data)
        answer, closed = read_all(sock, 10)
    assert [r.status for r in parse_responses(answer)] == [200] * 4
    assert closed


def test_many_pipelined_requests_are_all_answered_in_order(server):
    """More than the read-ahead bound: reading pauses until answers go out, then resumes."""
    bodies = [b"%d,70.5,800,one-year,card,dsl,1,2,40" % tenure for tenure in range(300)]
    data = b"".join(score(body) for body in bodies) + request("GET", "/ping", headers={"Connection": "close"})
    answer, closed = exchange(server, data, half_close=False, timeout=30)
    responses = parse_responses(answer)
    assert [r.status for r in responses] == [200] * 301 and closed
    alone = [json.loads(parse_responses(exchange(server, score(body))[0])[0].body) for body in bodies[:3]]
    assert [json.loads(r.body) for r in responses[:3]] == alone


def test_a_client_that_does_not_read_its_answers_does_not_hold_up_others(server):
    with socket.create_connection(address(server), timeout=10) as greedy:
        greedy.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        greedy.setblocking(False)
        flood = request("GET", "/execution-parameters") * 20_000
        sent = 0
        try:
            while sent < len(flood):
                sent += greedy.send(flood[sent:sent + 65536])
        except BlockingIOError:
            pass  # the server stopped reading it: its answers are not being read
        ping(server)


# bodies that used to escape as 500


def npy(array: np.ndarray) -> bytes:
    out = io.BytesIO()
    np.save(out, array)
    return out.getvalue()


HUGE_SHAPE = npy(np.zeros((1, 9))).replace(b"(1, 9)", b"(99999999999, 9)")
PAYLOADS = {
    "deeply nested JSON": (b"[" * 100_000 + b"]" * 100_000, "application/json", 400, "nests"),
    "a 400-digit integer": (json.dumps([[int("9" * 400), 1, 1, "a", "b", "c", 1, 1, 1]]).encode(),
                            "application/json", 400, "range"),
    "a CSV field over 131072 characters": (b'"' + b"a" * 140_000 + b'",1,1,a,b,c,1,1,1', "text/csv", 400, "limit"),
    "an NPY header claiming a huge shape": (HUGE_SHAPE, "application/x-npy", 413, "at most"),
    "a complex NPY array": (npy(np.zeros((2, 9), dtype=complex)), "application/x-npy", 400, "complex"),
    "an NPY array with zero rows": (npy(np.zeros((0, 9))), "application/x-npy", 400, "no rows"),
}


@pytest.mark.parametrize(("body", "content_type", "status", "message"), PAYLOADS.values(), ids=PAYLOADS.keys())
def test_a_hostile_body_gets_a_4xx_with_a_message(server, body, content_type, status, message):
    answer, _ = exchange(server, score(body, content_type))
    (response,) = parse_responses(answer)
    assert response.status == status and message in json.loads(response.body)["message"]
