"""HTTP/1.1 framing for ``serve``: llhttp (through httptools) parses; this module adds the checks RFC 9112
asks of a server that llhttp leaves to its caller, maps llhttp's errors to statuses, and writes responses.

llhttp (strict, its default) rejects by itself, each a 400 here unless noted: a Content-Length that is
not plain digits (negative, ``+1``, ``1 2``, ``²``, a list, empty), one given twice (even with the same
value), Content-Length together with Transfer-Encoding, a Transfer-Encoding whose last coding is not
``chunked``, whitespace between a header name and its colon, obsolete line folding, bare CR or LF line
ends, control characters in a header value, an unknown method, a version outside 0.9/1.0/1.1/2.0 (505) and
a Content-Length beyond 2^64 (413). It accepts, and this module then refuses once the head is complete: a
version other than 1.0 and 1.1 (HTTP/0.9, HTTP/2.0: 505), an HTTP/1.1 request without exactly one Host
(400; at most one on 1.0), a Transfer-Encoding whose last coding is not chunked (400: the length is
unknown), any other Transfer-Encoding (411 on HTTP/1.1: only Content-Length bodies are read, and every
SageMaker client sends one; 400 on 1.0, which has no Transfer-Encoding) and a Content-Length above the body
limit (413, before any of the body is read).
"""

from __future__ import annotations

import http

import httptools

from workloads.serving.errors import (
    LengthRequired,
    MalformedRequest,
    PayloadTooLarge,
    RequestError,
    VersionNotSupported,
)

HEAD_END = b"\r\n\r\n"
CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
JSON = "application/json"
RETRY_AFTER_SECONDS = 1
_PHRASES = {status.value: status.phrase.encode() for status in http.HTTPStatus}
_CONNECTION = {(True, False): b"", (True, True): b"Connection: keep-alive\r\n",
               (False, False): b"Connection: close\r\n", (False, True): b"Connection: close\r\n"}


def body_length(version: str, hosts: int, headers: dict[bytes, bytes], max_body: int) -> int:
    """The length of the body a complete head announces, or the RequestError the head deserves."""
    if version not in ("1.1", "1.0"):
        raise VersionNotSupported(f"HTTP/{version} is not supported; send HTTP/1.1")
    if hosts > 1 or (hosts == 0 and version == "1.1"):
        raise MalformedRequest(f"an HTTP/1.1 request needs exactly one Host header, got {hosts}")
    coding = headers.get(b"transfer-encoding")
    if coding is not None:
        if version == "1.0":
            raise MalformedRequest("Transfer-Encoding is not valid in an HTTP/1.0 request")
        if coding.rsplit(b",", 1)[-1].strip().lower() != b"chunked":
            raise MalformedRequest("the body's length is unknown: Transfer-Encoding must end with chunked")
        raise LengthRequired("chunked request bodies are not supported; send Content-Length")
    text = headers.get(b"content-length")
    if text is None:
        return 0
    length = int(text)  # llhttp has checked it is digits (optionally followed by spaces), below 2^64
    if length > max_body:
        raise PayloadTooLarge(f"a body of {length} bytes exceeds the limit of {max_body} bytes")
    return length


def parser_error(error: httptools.HttpParserError) -> RequestError:
    """llhttp's rejection of a request (or one of ours raised from its callbacks) as a RequestError."""
    if isinstance(error, httptools.HttpParserCallbackError):
        if isinstance(error.__context__, RequestError):
            return error.__context__
        raise error  # a fault of ours inside a callback: not the client's
    reason = str(error)
    if "HTTP version" in reason or "PRI/Upgrade" in reason:
        return VersionNotSupported(f"unsupported HTTP version ({reason}); send HTTP/1.1")
    if "Content-Length overflow" in reason:
        return PayloadTooLarge("the Content-Length is larger than any body this server accepts")
    if isinstance(error, httptools.HttpParserInvalidMethodError):
        return MalformedRequest("malformed request line: unknown or missing method")
    return MalformedRequest(f"malformed request: {reason}")


def response_bytes(status: int, content_type: str, body: bytes, keep_alive: bool, http10: bool = False) -> bytes:
    """Status line, headers and body. An HTTP/1.0 client keeps the connection only when told to."""
    key = (status, content_type, keep_alive, http10)
    head = _HEADS.get(key)
    if head is None:
        head = _HEADS[key] = (b"HTTP/1.1 %d %s\r\nContent-Type: %s\r\n%sContent-Length: "
                              % (status, _PHRASES[status], content_type.encode(), _CONNECTION[keep_alive, http10]))
    return head + b"%d\r\n\r\n" % len(body) + body


_HEADS: dict[tuple[int, str, bool, bool], bytes] = {}  # (status, type, keep-alive, HTTP/1.0) -> bytes before the length


def unavailable_bytes(message: str) -> bytes:
    """503 with Retry-After: the worker sheds a connection it has no room for."""
    body = b'{"error": "Service Unavailable", "message": "%s"}' % message.encode()
    return (b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nContent-Length: %d\r\n"
            b"Retry-After: %d\r\nConnection: close\r\n\r\n" % (len(body), RETRY_AFTER_SECONDS)) + body
