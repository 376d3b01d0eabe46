"""One client connection: bytes in, parsed requests to the App, answers out in order, every wait bounded.

Input is fed to llhttp in slices that end where a request head or body ends, so the server always knows
how many bytes the current head has taken (431 past the limit, counted exactly however the bytes arrive)
and stops at a request boundary when it must: after ``max_pipelined`` requests read ahead of their answers
(reading pauses until they are answered; the unread rest waits in ``stash``), after a request that asks
to close, and after one it rejects.

Closing never discards answers: after the last answer the connection sends FIN (half-close) and keeps
reading, dropping the input, until the client closes or LINGER_SECONDS pass once every answer is out.
Closing a socket with unread input makes the kernel send RST, and a client's kernel then drops the answers
it received but had not yet read.

The App's sweep calls ``expire`` about twice a second: a head must arrive within the header timeout
(counted from the connection's start for its first request, so a client that trickles a byte a second is
cut off), a body within the body timeout, an idle keep-alive connection lasts the keep-alive timeout, and a
client that stops reading its answers is cut off after the keep-alive timeout too.
"""

from __future__ import annotations

import asyncio
import logging
from time import monotonic
from typing import Protocol

import httptools

from workloads.serving import protocol
from workloads.serving.errors import HeadersTooLarge, MalformedRequest, RequestTimeout, URITooLong
from workloads.serving.settings import ServerSettings

LOG = logging.getLogger("workloads.serving")
IDLE, HEAD, BODY, CLOSING = range(4)
HEAD_END = protocol.HEAD_END
LINGER_SECONDS = 2.0
LINGER_BYTES = 8 * 1024 * 1024


class Worker(Protocol):
    """What a connection needs of its worker's ``App`` (workloads/serving/app.py), which imports this module."""

    settings: ServerSettings
    loop: asyncio.AbstractEventLoop
    stopping: bool

    def admit(self, connection: Connection) -> bool: ...
    def lingering(self, connection: Connection) -> None: ...
    def forget(self, connection: Connection) -> None: ...
    def submit(self, connection: Connection, keep_alive: bool, body: bytes) -> None: ...
    def enqueue_error(self, connection: Connection, error: BaseException) -> None: ...


class Connection(asyncio.Protocol):
    """asyncio protocol and llhttp callback target in one (llhttp calls the ``on_*`` methods)."""

    def __init__(self, app: Worker):
        self.app = app
        self.settings = app.settings
        self.parser = httptools.HttpRequestParser(self)
        self.transport: asyncio.Transport | None = None
        self.phase = IDLE
        self.since = monotonic()  # when the phase began
        self.requests = 0  # requests read on this connection
        self.pending = 0  # requests read and not yet answered
        self.head_bytes = 0
        self.tail = b""  # the head's last 3 bytes, to find its end across reads
        self.stash = b""  # input read while the pipeline was full, not yet parsed
        self.done_reading = False  # no more requests will be read: later input is dropped
        self.eof = False  # the client has half-closed
        self.pipeline_full = self.write_paused = self.reading_paused = False
        self.write_paused_since = self.closing_since = 0.0
        self.drained = 0
        # the request being parsed
        self.url = b""
        self.version = "1.1"
        self.headers: dict[bytes, bytes] = {}
        self.hosts = 0
        self.body: list[bytes] = []
        self.body_expected = self.body_received = 0
        self.complete = self.keep_alive = False

    # asyncio's callbacks

    def connection_made(self, transport) -> None:
        self.transport = transport
        if not self.app.admit(self):
            transport.write(protocol.unavailable_bytes(
                f"the worker has {self.settings.max_connections} connections busy; retry shortly"))
            self.finish()

    def connection_lost(self, exc) -> None:
        self.transport = None
        self.app.forget(self)

    def pause_writing(self) -> None:
        self.write_paused, self.write_paused_since = True, monotonic()
        self._update_reading()

    def resume_writing(self) -> None:
        self.write_paused = False
        self._update_reading()

    def eof_received(self) -> bool:
        self.eof = True
        if self.phase == CLOSING:
            return False
        if not self.done_reading and (self.phase != IDLE or self.stash):
            self.reject(MalformedRequest("the connection ended inside a request"))
        self.done_reading = True
        return self.pending > 0  # True keeps a half-closed connection open for the answers still owed

    def data_received(self, data: bytes) -> None:
        if self.done_reading:
            self.drained += len(data)
            if self.drained > LINGER_BYTES and self.transport is not None:
                self.transport.close()
            return
        if self.stash:
            data, self.stash = self.stash + data, b""
        try:
            self._consume(data)
        except Exception as error:  # a fault of ours: the client gets a 500, the log the traceback
            LOG.exception("failed reading a request")
            self.reject(error)

    # llhttp's callbacks (the request's fields are reset when it is handed on, in _submit)

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        name = name.lower()
        if name == b"host":
            self.hosts += 1
        self.headers[name] = value

    def on_headers_complete(self) -> None:
        self.version = self.parser.get_http_version()
        self.body_expected = protocol.body_length(self.version, self.hosts, self.headers, self.settings.max_body_bytes)
        self.phase, self.since = BODY, monotonic()
        if (self.body_expected and self.pending == 0
                and self.headers.get(b"expect", b"").lower() == b"100-continue"):
            self.transport.write(protocol.CONTINUE)

    def on_body(self, body: bytes) -> None:
        self.body.append(body)
        self.body_received += len(body)

    def on_message_complete(self) -> None:
        self.complete, self.keep_alive, self.phase = True, self.parser.should_keep_alive(), IDLE

    # parsing

    def _consume(self, data: bytes) -> None:
        view, pos, end = memoryview(data), 0, len(data)
        feed, max_head = self.parser.feed_data, self.settings.max_header_bytes
        while pos < end:
            phase = self.phase
            if phase == BODY:
                take = min(end - pos, self.body_expected - self.body_received) or end - pos
            else:
                if phase == IDLE:
                    self.phase, self.head_bytes, self.tail = HEAD, 0, b""
                    if self.requests:  # the first request's clock started when the connection opened
                        self.since = monotonic()
                window = max_head - self.head_bytes
                found = -1 if self.tail else data.find(HEAD_END, pos, pos + window)
                take = found + 4 - pos if found >= 0 else self._head_slice(data, pos, end, window)
            try:
                feed(data if take == end else view[pos:pos + take])
            except httptools.HttpParserUpgrade:
                if not self.complete:
                    self.reject(MalformedRequest("switching protocols is not supported"))
                    return
                self.keep_alive = False  # a complete request that asks to switch protocols: answered, then closed
            except httptools.HttpParserError as error:
                self.reject(protocol.parser_error(error))
                return
            if self.phase == HEAD:
                self.head_bytes += take
                self.tail = (self.tail + bytes(view[max(pos, pos + take - 3):pos + take]))[-3:]
                if self.head_bytes >= max_head:
                    self.reject(URITooLong(f"the request line exceeds {max_head} bytes") if not self.headers
                                else HeadersTooLarge(f"the request head exceeds {max_head} bytes"))
                    return
            pos += take
            if self.complete:
                self._submit()
                if self.done_reading:
                    return
                if self.pending >= self.settings.max_pipelined:
                    self.stash, self.pipeline_full = bytes(view[pos:]), True
                    self._update_reading()
                    return

    def _head_slice(self, data: bytes, pos: int, end: int, window: int) -> int:
        """How many bytes to feed: up to the end of the head if it is in sight, else what the limit allows."""
        if self.tail:
            found = (self.tail + data[pos:pos + 3]).find(protocol.HEAD_END)
            if found >= 0:
                return found + 4 - len(self.tail)
        found = data.find(protocol.HEAD_END, pos, pos + window)
        return found + 4 - pos if found >= 0 else min(window, end - pos)

    def _submit(self) -> None:
        parts = self.body
        body = parts[0] if len(parts) == 1 else b"".join(parts)
        keep_alive = self.keep_alive and not self.app.stopping
        if not keep_alive:
            self.done_reading = True
        self.requests += 1
        self.app.submit(self, keep_alive, body)
        self.complete, self.url, self.headers, self.hosts, self.body = False, b"", {}, 0, []
        self.body_expected = self.body_received = 0

    def reject(self, error: BaseException) -> None:
        """Answer a broken request (after the answers already due) and read nothing more; a RequestError
        gets its 4xx, anything else a 500."""
        self.done_reading = True
        self.stash = b""
        self.app.enqueue_error(self, error)

    # answers and closing

    def send(self, data: bytes, keep_alive: bool) -> None:
        self.pending -= 1
        transport = self.transport
        if transport is None or self.phase == CLOSING:
            return
        transport.write(data)
        if not keep_alive or (self.eof and not self.pending):
            self.finish()
            return
        if not self.pending and self.phase == IDLE:
            self.since = monotonic()  # idle from now
        if self.pipeline_full and self.pending < self.settings.max_pipelined:
            self.pipeline_full = False
            self.app.loop.call_soon(self._resume)

    def _resume(self) -> None:
        if self.transport is None or self.phase == CLOSING or self.pipeline_full:
            return
        stash, self.stash = self.stash, b""
        if stash:
            self.data_received(stash)
        self._update_reading()

    def _update_reading(self) -> None:
        transport = self.transport
        pause = (self.pipeline_full or self.write_paused) and self.phase != CLOSING
        if transport is None or pause == self.reading_paused:
            return
        self.reading_paused = pause
        if pause:
            transport.pause_reading()
        else:
            transport.resume_reading()
            if self.phase in (HEAD, BODY):
                self.since = monotonic()  # time spent paused by us is not the client's

    def finish(self) -> None:
        """The last answer is written: send FIN after it, drop further input, close when the client does."""
        if self.phase == CLOSING or self.transport is None:
            return
        self.phase, self.since, self.done_reading = CLOSING, monotonic(), True
        self.closing_since = self.since
        self.app.lingering(self)
        transport = self.transport
        if self.eof or not transport.can_write_eof():
            transport.close()
            return
        transport.write_eof()
        if self.reading_paused:
            self.reading_paused = False
            transport.resume_reading()

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()

    def is_between(self) -> bool:
        """Between requests: nothing of the next one read yet."""
        return self.phase == IDLE and not self.stash

    def is_idle(self) -> bool:
        """Between requests with nothing owed: closing it loses nothing."""
        return self.phase == IDLE and not self.pending and not self.done_reading and not self.stash

    def expire(self, now: float) -> None:
        """Enforce the connection's current deadline (called by the App's sweep)."""
        transport, settings = self.transport, self.settings
        if transport is None:
            return
        if self.phase == CLOSING:
            if now - self.closing_since > settings.keepalive_timeout + LINGER_SECONDS:
                transport.abort()  # the client has not taken its last answers in all that time
            elif transport.get_write_buffer_size():
                self.since = now  # the linger starts once every answer is out
            elif now - self.since > LINGER_SECONDS:
                transport.close()
        elif self.write_paused:
            if now - self.write_paused_since > settings.keepalive_timeout:
                LOG.info("closing a connection whose client stopped reading its answers")
                transport.abort()
        elif self.done_reading or self.reading_paused:
            return  # waiting for answers of ours
        elif self.phase == HEAD:
            if now - self.since > settings.header_timeout:
                self.reject(RequestTimeout(f"the request head did not arrive within {settings.header_timeout:g} s"))
        elif self.phase == BODY:
            if now - self.since > settings.body_timeout:
                self.reject(RequestTimeout(f"the request body did not arrive within {settings.body_timeout:g} s"))
        elif not self.pending:
            limit = settings.keepalive_timeout if self.requests else settings.header_timeout
            if now - self.since > limit:
                transport.close()
