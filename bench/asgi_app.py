"""The second baseline of ``bench.serving_bench``: uvicorn + httptools serving the model with ``serve``'s own
handler and batching, so that what the figures compare is the HTTP server alone.

    python -m bench.asgi_app --port <port> --workers 2
    (= uvicorn bench.asgi_app:create_app --factory --http httptools --loop asyncio --workers 2 --no-access-log,
     with TCP_NODELAY on its connections: see ``main``)

The same per request as ``serve`` (workloads/serving/app.py): ``handler.prepare`` decodes the body, the request
is queued, and one ``flush``, scheduled with ``call_soon`` when the first request of a pass is queued, scores
every queued request in one ``handler.score_together`` call, which answers each; so requests whose bodies
the event loop read in one pass share a model call, as in ``serve``. Same model (``SM_MODEL_DIR``), same
inputs and answers, OpenMP/BLAS pinned to one thread per worker (the environment the bench starts it with).
What it lacks: ``serve``'s bounds on clients (time, size, connections, pipelining), its RFC 9112 checks beyond
llhttp's, and its other routes and content negotiation errors beyond the handler's.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import sys
from pathlib import Path

from workloads.serving import handler

PING = b'{"status": "healthy"}'


class BatchingApp:
    """An ASGI application: /ping and POST /invocations, the latter batched like ``serve``'s."""

    def __init__(self, model):
        self.model = model
        self.queue: list[tuple[handler.Scoring, asyncio.Future]] = []
        self.flush_scheduled = False

    async def __call__(self, scope, receive, send) -> None:
        if scope["path"] == "/ping":
            await answer(send, 200, PING, "application/json")
            return
        if scope["path"] != "/invocations" or scope["method"] != "POST":
            await answer(send, 404, b'{"error": "Not Found"}', "application/json")
            return
        parts, more = [], True
        while more:
            message = await receive()
            parts.append(message.get("body", b""))
            more = message.get("more_body", False)
        headers = dict(scope["headers"])
        scoring = handler.prepare(b"".join(parts), headers.get(b"content-type", b"").decode("latin-1"),
                                  headers.get(b"accept", b"").decode("latin-1"))
        future = asyncio.get_running_loop().create_future()
        self.queue.append((scoring, future))
        if not self.flush_scheduled:
            self.flush_scheduled = True
            asyncio.get_running_loop().call_soon(self.flush)
        status, body, content_type = await future
        await answer(send, status, body, content_type)

    def flush(self) -> None:
        self.flush_scheduled = False
        queued, self.queue = self.queue, []
        for (_, future), response in zip(queued, handler.score_together(self.model, [s for s, _ in queued]),
                                         strict=True):
            future.set_result(response)


async def answer(send, status: int, body: bytes, content_type: str) -> None:
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", content_type.encode()), (b"content-length", b"%d" % len(body))]})
    await send({"type": "http.response.body", "body": body})


def create_app() -> BatchingApp:
    """uvicorn's factory, called in each worker process: the model loaded as ``serve`` loads it."""
    from threadpoolctl import threadpool_limits

    threadpool_limits(1)
    return BatchingApp(handler.model_fn(str(Path(os.environ["SM_MODEL_DIR"]))))


def main(argv: list[str] | None = None) -> int:
    """uvicorn's own multi-worker start (``uvicorn.main``: bind, then ``Multiprocess``), with one change: the
    listening socket is made with ``IPPROTO_TCP``. uvicorn 0.54 binds it with protocol 0, and asyncio sets
    TCP_NODELAY only on connections whose socket says ``IPPROTO_TCP``; so with ``--workers`` above 1 Nagle's
    algorithm holds each response's body (written after its head) until the client's delayed ACK, ~40 ms
    (uvicorn issue #3149; the fix proposed there is this one). Measured without it, uvicorn would lose by that
    bug rather than by its design."""
    import uvicorn
    from uvicorn.supervisors import Multiprocess

    parser = argparse.ArgumentParser(description="uvicorn + httptools serving the model with serve's batching")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args(argv)
    config = uvicorn.Config("bench.asgi_app:create_app", factory=True, host=args.host, port=args.port,
                            http="httptools", loop="asyncio", workers=args.workers, access_log=False,
                            log_level="warning", lifespan="off")
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((args.host, args.port))
    sock.set_inheritable(True)
    Multiprocess(config, sockets=[sock]).run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
