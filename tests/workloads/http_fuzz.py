"""Odd requests for the server's fuzz tests: valid templates bent by mutations at the byte, line, header,
framing and payload level, and the rule every answer must follow."""

from __future__ import annotations

import io
import json
import random
import re

import numpy as np

from tests.workloads.http_helpers import ROW, Response, parse_responses, request, score

RECORD = {"tenure_months": 12, "monthly_charges": 70.5, "total_charges": 800, "contract": "one-year",
          "payment_method": "card", "internet_service": "dsl", "support_calls": 1, "num_products": 2, "age": 40}


def _npy(array: np.ndarray) -> bytes:
    out = io.BytesIO()
    np.save(out, array)
    return out.getvalue()


TEMPLATES = [
    request("GET", "/ping"),
    request("GET", "/execution-parameters"),
    score(),
    score(ROW + b"\n" + ROW, "text/csv; charset=utf-8"),
    score(json.dumps([RECORD]).encode(), "application/json"),
    score(json.dumps({"instances": [list(RECORD.values())]}).encode(), "application/json"),
    score(json.dumps(RECORD).encode() + b"\n" + json.dumps(RECORD).encode(), "application/jsonlines"),
    score(_npy(np.array([[str(v) for v in RECORD.values()]])), "application/x-npy"),
]
HOSTILE_BODIES = [
    b"[" * 50_000 + b"]" * 50_000,
    b'{"a":' * 3000 + b"1" + b"}" * 3000,
    json.dumps([[int("7" * 400), 1, 1, "a", "b", "c", 1, 1, 1]]).encode(),
    b'"' + b"a" * 140_000 + b'",1,1,a,b,c,1,1,1',
    _npy(np.zeros((1, 9))).replace(b"(1, 9)", b"(99999999999, 9)"),
    _npy(np.zeros((1, 9))).replace(b"(1, 9)", b"(500, 9)"),
    _npy(np.zeros((2, 9), dtype=complex)),
    _npy(np.zeros((0, 9))),
    _npy(np.zeros((1, 9), dtype="S4")),
    _npy(np.zeros((1, 9), dtype=[("a", "f8")])),
    b"\x93NUMPY\x01\x00\xff\xff{'descr': '<f8', 'fortran_order': False, 'shape': (1, 9), }",
    b"\x00\xff" * 100,
    b"1e999,1,1,a,b,c,1,1,1",
    b"NaN,1,1,a,b,c,1,1,1",
    b'[{"tenure_months": [[[[[[1]]]]]]}]',
    b'{"instances": 7}',
    b'[null, true, "x", 1.5]',
    ",".join(["\u2028"] * 9).encode(),
]
CONTENT_TYPES = [b"text/csv", b"application/json", b"application/jsonlines", b"application/x-npy", b"image/png", b""]
CONTENT_LENGTHS = [b"-1", b"+5", "²".encode(), b"9" * 5000, b"1, 1", b"", b"0x10", b"99999999999", b" 5", b"5 5",
                   b"18446744073709551616", b"7000000", b"0", b"3", b"1000"]
VERSIONS = [b"HTTP/1.9", b"HTTP/2.0", b"HTTP/0.9", b"HTTP/1.0", b"HTTP/1.10", b"HTTP/11", b"http/1.1", b"HTTP/1.1 ",
            b"HTTP/", b"HTTP/3.0", b"HTTP/1.1\r\n"]
METHODS = [b"get", b"PUT", b"DELETE", b"BREW", b"G ET", b"", b"HEAD", b"OPTIONS", b"CONNECT", b"PRI", b"POST" * 50]
TARGETS = [b"*", b"/" + b"a" * 20_000, b"http://test/ping", b"/ping?x=1", b"/invocations#f", b"//", b"/%00", b"a:80",
           b"/\xff\xfe", b"http://[bad/ping"]


def _header_lines(data: bytes) -> tuple[bytes, list[bytes], bytes]:
    head, sep, body = data.partition(b"\r\n\r\n")
    first, *headers = head.split(b"\r\n")
    return first, headers, sep + body


def _join(first: bytes, headers: list[bytes], rest: bytes) -> bytes:
    return b"\r\n".join([first, *headers]) + (rest or b"\r\n\r\n")


def flip_byte(data: bytes, rng: random.Random) -> bytes:
    if not data:
        return data
    at = rng.randrange(len(data))
    return data[:at] + bytes([rng.randrange(256)]) + data[at + 1:]


def insert_bytes(data: bytes, rng: random.Random) -> bytes:
    at = rng.randrange(len(data) + 1)
    return data[:at] + rng.randbytes(rng.randrange(1, 8)) + data[at:]


def delete_slice(data: bytes, rng: random.Random) -> bytes:
    at = rng.randrange(len(data) + 1)
    return data[:at] + data[at + rng.randrange(1, 20):]


def truncate(data: bytes, rng: random.Random) -> bytes:
    return data[:rng.randrange(len(data) + 1)]


def duplicate_header(data: bytes, rng: random.Random) -> bytes:
    first, headers, rest = _header_lines(data)
    if headers:
        headers.insert(rng.randrange(len(headers) + 1), rng.choice(headers))
    return _join(first, headers, rest)


def set_content_length(data: bytes, rng: random.Random) -> bytes:
    first, headers, rest = _header_lines(data)
    headers = [h for h in headers if not h.lower().startswith(b"content-length")]
    headers.append(b"Content-Length: " + rng.choice(CONTENT_LENGTHS))
    return _join(first, headers, rest)


def add_transfer_encoding(data: bytes, rng: random.Random) -> bytes:
    first, headers, rest = _header_lines(data)
    headers.append(b"Transfer-Encoding: " + rng.choice([b"chunked", b"gzip", b"chunked, gzip", b"gzip, chunked", b"x"]))
    return _join(first, headers, rest)


def set_version(data: bytes, rng: random.Random) -> bytes:
    first, headers, rest = _header_lines(data)
    return _join(first.rsplit(b" ", 1)[0] + b" " + rng.choice(VERSIONS), headers, rest)


def set_method(data: bytes, rng: random.Random) -> bytes:
    first, headers, rest = _header_lines(data)
    return _join(rng.choice(METHODS) + b" " + first.split(b" ", 1)[-1], headers, rest)


def set_target(data: bytes, rng: random.Random) -> bytes:
    first, headers, rest = _header_lines(data)
    parts = first.split(b" ")
    return _join(b" ".join([parts[0], rng.choice(TARGETS), *parts[2:]]), headers, rest)


def space_before_colon(data: bytes, rng: random.Random) -> bytes:
    first, headers, rest = _header_lines(data)
    if headers:
        at = rng.randrange(len(headers))
        headers[at] = headers[at].replace(b":", rng.choice([b" :", b"\t:", b"  :"]), 1)
    return _join(first, headers, rest)


def fold_line(data: bytes, rng: random.Random) -> bytes:
    first, headers, rest = _header_lines(data)
    if headers:
        at = rng.randrange(len(headers))
        headers[at] = headers[at] + b"\r\n" + rng.choice([b" ", b"\t"]) + b"continued"
    return _join(first, headers, rest)


def bare_line_feeds(data: bytes, rng: random.Random) -> bytes:
    return data.replace(b"\r\n", b"\n", rng.randrange(1, 4))


def change_host(data: bytes, rng: random.Random) -> bytes:
    first, headers, rest = _header_lines(data)
    if rng.random() < 0.5:
        headers = [h for h in headers if not h.lower().startswith(b"host")]
    else:
        headers.append(b"Host: other")
    return _join(first, headers, rest)


def add_header(data: bytes, rng: random.Random) -> bytes:
    first, headers, rest = _header_lines(data)
    headers.append(rng.choice([
        b"Expect: 100-continue", b"Connection: close", b"Connection: keep-alive",
        b"Connection: Upgrade\r\nUpgrade: h2c", b"X-Control: a\x01b", b"X-Nul: a\x00b", b"X-High: \xff\xfe",
        b"X-Long: " + b"a" * 20_000, b": empty", b"Content-Type: " + rng.choice(CONTENT_TYPES),
        b"Accept: " + rng.choice([b"text/csv", b"application/xml", b"*/*"]),
        b"".join(b"X-%d: 1\r\n" % i for i in range(rng.randrange(1, 3000))).rstrip(b"\r\n")]))
    return _join(first, headers, rest)


def hostile_body(data: bytes, rng: random.Random) -> bytes:
    body = rng.choice(HOSTILE_BODIES)
    return score(body, rng.choice(CONTENT_TYPES).decode("latin-1"))


def append_request(data: bytes, rng: random.Random) -> bytes:
    return data + rng.choice(TEMPLATES)


MUTATORS = {f.__name__: f for f in (
    flip_byte, insert_bytes, delete_slice, truncate, duplicate_header, set_content_length, add_transfer_encoding,
    set_version, set_method, set_target, space_before_colon, fold_line, bare_line_feeds, change_host, add_header,
    hostile_body, append_request)}


def mutate(data: bytes, names: list[str], rng: random.Random) -> bytes:
    for name in names:
        data = MUTATORS[name](data, rng)
    return data


def random_case(rng: random.Random) -> bytes:
    """One connection's input: a template with 1-3 mutations, now and then raw noise."""
    if rng.random() < 0.03:
        return rng.randbytes(rng.randrange(1, 300))
    names = rng.choices(list(MUTATORS), k=rng.randrange(1, 4))
    return mutate(rng.choice(TEMPLATES), names, rng)


VERSION_MESSAGE = re.compile(rb"version|HTTP/", re.IGNORECASE)


def check_answers(data: bytes, answer: bytes, closed: bool) -> list[Response]:
    """The rule: every non-empty input gets at least one answer and then a close, never a 5xx for the
    client's mistake (505 is the status for an unsupported HTTP version, and only for that)."""
    responses = [r for r in parse_responses(answer) if r.status >= 200]
    assert closed, f"no close within the timeout for {data[:200]!r}"
    if data:
        assert responses, f"closed with no answer for {data[:200]!r}"
    for response in responses:
        if response.status >= 500:
            assert response.status == 505 and VERSION_MESSAGE.search(response.body), \
                f"{response.status} {response.body[:200]!r} for {data[:200]!r}"
    return responses
