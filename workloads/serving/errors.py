"""Typed request errors and the one place they become HTTP statuses.

Everything a client can get wrong raises a subclass of ``RequestError`` with its status and a message
naming the problem; anything else that escapes is a fault of ours and becomes a 500 with a generic body
(the traceback goes to the log, not to the caller).
"""

from __future__ import annotations

import json
from collections.abc import Sequence


class RequestError(Exception):
    status = 400
    reason = "Bad Request"


class BadPayload(RequestError):
    """The body cannot be read as rows of model inputs."""


class MalformedRequest(RequestError):
    """The HTTP request itself is broken (request line, headers, Content-Length)."""


class PayloadTooLarge(RequestError):
    status, reason = 413, "Payload Too Large"


class UnsupportedMediaType(RequestError):
    status, reason = 415, "Unsupported Media Type"

    def __init__(self, content_type: str, supported: Sequence[str]):
        super().__init__(f"content type {content_type or '(none)'!r} is not supported; "
                         f"send one of {', '.join(supported)}")


class NotAcceptable(RequestError):
    status, reason = 406, "Not Acceptable"

    def __init__(self, accept: str, supported: Sequence[str]):
        super().__init__(f"cannot answer in {accept!r}; accept one of {', '.join(supported)}")


class NotFound(RequestError):
    status, reason = 404, "Not Found"


class MethodNotAllowed(RequestError):
    status, reason = 405, "Method Not Allowed"


class LengthRequired(RequestError):
    status, reason = 411, "Length Required"


class HeadersTooLarge(RequestError):
    status, reason = 431, "Request Header Fields Too Large"


class URITooLong(RequestError):
    status, reason = 414, "URI Too Long"


class RequestTimeout(RequestError):
    status, reason = 408, "Request Timeout"


class VersionNotSupported(RequestError):
    """The client spoke an HTTP version other than 1.0 and 1.1 (a client error, with a 5xx code by RFC 9110)."""

    status, reason = 505, "HTTP Version Not Supported"


INTERNAL_ERROR = (500, "Internal Server Error")


def error_response(error: BaseException) -> tuple[int, str, bytes]:
    """(status, reason phrase, JSON body) for any exception: the only status mapping in the server."""
    if isinstance(error, RequestError):
        status, reason, message = error.status, error.reason, str(error)
    else:
        (status, reason), message = INTERNAL_ERROR, "internal error while scoring; see the server log"
    body = json.dumps({"error": reason, "message": message}).encode()
    return status, reason, body
