"""Score rows through the front door: ``POST <stage URL>/v1/predict`` with the client's API key.

What a product team's application does instead of calling SageMaker Runtime: plain HTTPS with an ``x-api-key``
header (and, where the stack says ``frontDoorAuth=iam`` or ``cognito``, a signature or a token, which this
client does not make). The same batches and output as ``prodline invoke`` (``invoke.py``). A 429 (throttled) or a
503 is retried after the ``Retry-After`` the front door sends, up to ``--max-attempts`` attempts; any other error
stops with the front door's message, which has the inference server's shape (``{"error", "message"}``).

Exit codes: 0 all rows scored, 1 a request failed, 2 bad usage or input, or nothing answers at the URL.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from workloads.client.invoke import CSV, JSON, Batch, predictions, read_batches

PREDICT = "/v1/predict"
API_KEY_HEADER = "x-api-key"
INFERENCE_ID_HEADER = "X-Amzn-SageMaker-Inference-Id"
RETRIED = (429, 503)
MAX_WAIT_SECONDS = 20.0
TIMEOUT_SECONDS = 35.0
"""A little over the front door's 29 s integration timeout."""


class Refused(RuntimeError):
    """The front door (or the model behind it) answered an error that retrying does not cure, or retries ran out."""

    def __init__(self, status: int, body: bytes):
        self.status = status
        try:
            detail = json.loads(body)
            message = f"{detail.get('error', status)}: {detail.get('message', '')}"
        except (ValueError, AttributeError):
            message = body.decode(errors="replace")[:300]
        super().__init__(f"HTTP {status}: {message}")


@dataclass(frozen=True)
class Answer:
    status: int
    body: bytes
    retry_after: float | None


def http_post(url: str, body: bytes | None, headers: dict[str, str], method: str = "POST") -> Answer:
    """One request; an HTTP error is an answer too (with its Retry-After), only a dead connection raises."""
    request = urllib.request.Request(url, data=body, headers=headers, method=method)
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response:
            return Answer(response.status, response.read(), None)
    except urllib.error.HTTPError as error:
        wait = error.headers.get("Retry-After")
        return Answer(error.code, error.read(), float(wait) if wait and wait.replace(".", "", 1).isdigit() else None)


def predict(url: str, api_key: str, batch: Batch, content_type: str, accept: str, *, max_attempts: int = 6,
            post: Callable[[str, bytes, dict[str, str]], Answer] = http_post,
            sleep: Callable[[float], None] = time.sleep) -> bytes:
    """One batch through the front door; throttled and unavailable answers are retried after their Retry-After."""
    headers = {"Content-Type": content_type, "Accept": accept, API_KEY_HEADER: api_key,
               INFERENCE_ID_HEADER: str(uuid.uuid4())}
    for attempt in range(1, max_attempts + 1):
        answer = post(url.rstrip("/") + PREDICT, batch.body, headers)
        if 200 <= answer.status < 300:
            return answer.body
        if answer.status not in RETRIED or attempt == max_attempts:
            raise Refused(answer.status, answer.body)
        sleep(min(MAX_WAIT_SECONDS, answer.retry_after if answer.retry_after is not None else 2.0 ** attempt / 4))
    raise AssertionError("unreachable: the last attempt returns or raises")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="prodline invoke --via front-door",
                                     description="Score rows through the stack's front door.")
    parser.add_argument("--url", required=True, help="the stage's invoke URL (without /v1/predict)")
    parser.add_argument("--api-key", default=os.environ.get("PRODLINE_API_KEY"),
                        help="the client's API key (default: $PRODLINE_API_KEY)")
    parser.add_argument("--file", required=True, help="CSV or JSON input file, or - for stdin")
    parser.add_argument("--content-type", choices=(CSV, JSON), help="default: from the file name, else text/csv")
    parser.add_argument("--accept", default=JSON, choices=(CSV, JSON))
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--max-attempts", type=int, default=6)
    args = parser.parse_args(list(sys.argv[1:] if argv is None else argv))
    if not args.api_key:
        return _fail("no API key: pass --api-key or set PRODLINE_API_KEY", 2)
    if args.batch_size < 1 or args.max_attempts < 1:
        return _fail("--batch-size and --max-attempts must be >= 1", 2)
    try:
        content_type, batches = read_batches(args.file, args.content_type, args.batch_size)
    except ValueError as error:
        return _fail(str(error), 2)
    try:
        for batch in batches:
            for line in predictions(predict(args.url, args.api_key, batch, content_type, args.accept,
                                            max_attempts=args.max_attempts)):
                print(line)
    except Refused as error:
        return _fail(str(error), 1)
    except (urllib.error.URLError, OSError) as error:
        return _fail(f"the front door at {args.url} did not answer: {error}", 2)
    return 0


def _fail(message: str, code: int) -> int:
    print(f"error: {' '.join(message.split())}", file=sys.stderr)
    return code


if __name__ == "__main__":
    sys.exit(main())
