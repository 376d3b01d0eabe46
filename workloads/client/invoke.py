"""Invoke a SageMaker endpoint by name with rows from a file or stdin, and print the predictions.

CSV (with or without a header line) or JSON (an array of records, or JSON Lines) is sent in batches of
``--batch-size`` rows through ``sagemaker-runtime`` InvokeEndpoint. Throttling, transient service
errors and a model that is still loading are retried by botocore's standard retry mode (exponential
backoff with full jitter, up to ``--max-attempts`` attempts in all); a missing endpoint, an endpoint that
is not InService, or a request the model rejects stops with a message saying which. boto3 honours
AWS_ENDPOINT_URL, so the same command reaches AWS, LocalStack or the local sandbox.

Exit codes: 0 all rows scored, 1 a request failed, 2 bad usage or input, no region or credentials, or an
endpoint URL that does not answer (nothing listens, or what answers is not SageMaker Runtime: no prediction
per row sent), 3 the endpoint is missing or not InService.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from workloads.etl.schema import RAW_COLUMNS

if TYPE_CHECKING:
    from botocore.config import Config

CSV, JSON = "text/csv", "application/json"
RETRY_MODE = "standard"
MODEL_NOT_READY = "ModelNotReadyException"
MAX_BACKOFF = 20.0
"""Seconds; the cap botocore's standard mode puts on one backoff."""
MAX_INFERENCE_ID = 64
"""InvokeEndpoint's limit on InferenceId."""
KNOWN_COLUMNS = frozenset(c.name for c in RAW_COLUMNS)


class EndpointUnavailable(RuntimeError):
    """The endpoint does not exist or is not InService."""


class InvokeFailed(RuntimeError):
    """A request failed for good (the model rejected it, or retries ran out)."""


class UnexpectedAnswer(RuntimeError):
    """The URL answered InvokeEndpoint, but not as SageMaker Runtime does: no prediction per row sent."""


@dataclass(frozen=True)
class Batch:
    body: bytes
    rows: int


def csv_batches(text: str, batch_size: int) -> Iterator[Batch]:
    """Batches of CSV lines; a header line, when the input has one, heads every batch."""
    lines = [line for line in text.splitlines() if line.strip()]
    header = None
    if lines and _is_header(lines[0]):
        header, lines = lines[0], lines[1:]
    for start in range(0, len(lines), batch_size):
        chunk = lines[start:start + batch_size]
        yield Batch((("\n".join([header, *chunk]) if header else "\n".join(chunk)) + "\n").encode(), len(chunk))


def json_batches(text: str, batch_size: int) -> Iterator[Batch]:
    """Batches of JSON rows (records or lists) from a JSON array or JSON Lines."""
    stripped = text.strip()
    try:
        rows = json.loads(stripped) if stripped.startswith("[") else [
            json.loads(line) for line in stripped.splitlines() if line.strip()]
    except ValueError as error:
        raise ValueError(f"input is neither a JSON array nor JSON Lines: {error}") from None
    for start in range(0, len(rows), batch_size):
        chunk = rows[start:start + batch_size]
        yield Batch(json.dumps(chunk).encode(), len(chunk))


def client_config(max_attempts: int) -> Config:
    """botocore retries throttling, 5xx answers and dropped connections; `max_attempts` counts every attempt."""
    from botocore.config import Config

    return Config(retries={"mode": RETRY_MODE, "total_max_attempts": max_attempts})


def runtime_client(max_attempts: int, jitter: Callable[[], float] = random.random):
    """A ``sagemaker-runtime`` client whose retries are botocore's, plus one for a model that is still loading."""
    import boto3

    client = boto3.client("sagemaker-runtime", config=client_config(max_attempts))
    retry_model_not_ready(client, max_attempts, jitter)
    return client


def retry_model_not_ready(client, max_attempts: int, jitter: Callable[[], float] = random.random) -> None:
    """Retry ModelNotReadyException as standard mode retries throttling (1 s doubling, capped, full jitter).

    The service model declares it a 429 without the retryable trait, so standard mode gives up on it at
    once, yet AWS documents it as "wait and try again": a serverless variant still provisioning or a
    multi-model endpoint still loading the model. This answers botocore's ``needs-retry`` event for
    InvokeEndpoint; every other error is left to the standard handler.
    """

    def needs_retry(response=None, attempts: int = 1, **_) -> float | None:
        if response is None or attempts >= max_attempts:
            return None
        if response[1].get("Error", {}).get("Code") != MODEL_NOT_READY:
            return None
        return jitter() * min(2.0 ** (attempts - 1), MAX_BACKOFF)

    service = client.meta.service_model.service_id.hyphenize()
    client.meta.events.register(f"needs-retry.{service}.InvokeEndpoint", needs_retry)


def invoke_batch(client, endpoint: str, batch: Batch, content_type: str, accept: str, *,
                 inference_id: str | None = None) -> bytes:
    """The response body of one InvokeEndpoint call, checked to hold one prediction per row; its errors, once the
    client's retries are spent, named. ``inference_id`` is recorded by data capture: the key labels join on."""
    from botocore.exceptions import ClientError

    extra = {"InferenceId": inference_id} if inference_id else {}
    try:
        response = client.invoke_endpoint(EndpointName=endpoint, Body=batch.body, ContentType=content_type,
                                          Accept=accept, **extra)
        body = response["Body"].read()
    except ClientError as error:
        code = error.response.get("Error", {}).get("Code", "")
        message = error.response.get("Error", {}).get("Message", str(error))
        if _is_missing_endpoint(code, message):
            raise EndpointUnavailable(f"endpoint {endpoint!r} not found: {message}") from None
        if code == "ModelError":
            status = error.response.get("OriginalStatusCode", "?")
            raise InvokeFailed(f"the model rejected a batch of {batch.rows} rows (HTTP {status}): "
                               f"{error.response.get('OriginalMessage', message)}") from None
        attempts = error.response.get("ResponseMetadata", {}).get("RetryAttempts", 0) + 1
        raise InvokeFailed(f"InvokeEndpoint failed after {attempts} attempt(s): {code}: {message}") from None
    check_answer(client.meta.endpoint_url, endpoint, batch, response.get("ContentType", ""), body)
    return body


def check_answer(url: str, endpoint: str, batch: Batch, content_type: str, body: bytes) -> None:
    """UnexpectedAnswer, saying where the client is pointed and what it got, unless the answer is CSV or JSON
    with one prediction per row: an emulator without models (moto) answers 200 with a placeholder."""
    readable = content_type.split(";", 1)[0].strip().lower() in (CSV, JSON)
    found = len(predictions(body)) if readable else 0
    if readable and found == batch.rows:
        return
    shown = body[:60] + (b"..." if len(body) > 60 else b"")
    raise UnexpectedAnswer(
        f"{url} answered InvokeEndpoint {endpoint!r} with {found} prediction(s) for {batch.rows} row(s) "
        f"(Content-Type {content_type!r}, {len(body)} bytes: {shown!r}); that is not SageMaker Runtime: point "
        "AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME at the endpoint's runtime (in the sandbox, its gateway, not its emulator)")


def check_endpoint(sagemaker, endpoint: str) -> None:
    """Fail early and clearly when the endpoint is missing or not InService (skipped if not permitted)."""
    from botocore.exceptions import ClientError

    try:
        status = sagemaker.describe_endpoint(EndpointName=endpoint)["EndpointStatus"]
    except ClientError as error:
        code = error.response.get("Error", {}).get("Code", "")
        message = error.response.get("Error", {}).get("Message", "")
        if code in ("AccessDenied", "AccessDeniedException"):
            return
        if _is_missing_endpoint(code, message):
            raise EndpointUnavailable(f"endpoint {endpoint!r} not found in this account and region") from None
        raise
    if status not in ("InService", "Updating"):
        raise EndpointUnavailable(f"endpoint {endpoint!r} is {status}, not InService")


def predictions(body: bytes) -> list[str]:
    """Printable predictions from a response: the JSON ``predictions`` list, CSV lines, or the text itself."""
    text = body.decode("utf-8", errors="replace")
    try:
        document = json.loads(text)
    except ValueError:
        return [line for line in text.splitlines() if line.strip()]
    if isinstance(document, dict) and isinstance(document.get("predictions"), list):
        return [json.dumps(p) if not isinstance(p, str) else p for p in document["predictions"]]
    return [text.strip()]


def read_batches(file: str, content_type: str | None, batch_size: int) -> tuple[str, list[Batch]]:
    """(content type, batches) of an input file or stdin (``-``); a ValueError says why there are none."""
    content_type = content_type or (JSON if file.endswith((".json", ".jsonl")) else CSV)
    try:
        text = sys.stdin.read() if file == "-" else Path(file).read_text()
        batches = list((json_batches if content_type == JSON else csv_batches)(text, batch_size))
    except (OSError, ValueError, UnicodeDecodeError) as error:
        raise ValueError(f"cannot read {file}: {error}") from None
    if not batches:
        raise ValueError(f"no rows in {file}")
    return content_type, batches


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="prodline invoke", description="Score rows with a deployed endpoint.")
    parser.add_argument("--endpoint", required=True, help="SageMaker endpoint name")
    parser.add_argument("--file", required=True, help="CSV or JSON input file, or - for stdin")
    parser.add_argument("--content-type", choices=(CSV, JSON), help="default: from the file name, else text/csv")
    parser.add_argument("--accept", default=JSON, choices=(CSV, JSON))
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--max-attempts", type=int, default=6)
    parser.add_argument("--no-check", dest="check", action="store_false", help="skip DescribeEndpoint")
    parser.add_argument("--inference-id", metavar="PREFIX",
                        help="InferenceId of each batch: PREFIX-0, PREFIX-1, ... (data capture records it; labels "
                             "that arrive later name it)")
    args = parser.parse_args(list(sys.argv[1:] if argv is None else argv))
    if args.batch_size < 1:
        return _fail(f"--batch-size must be >= 1, got {args.batch_size}", 2)
    if args.max_attempts < 1:
        return _fail(f"--max-attempts must be >= 1, got {args.max_attempts}", 2)
    try:
        content_type, batches = read_batches(args.file, args.content_type, args.batch_size)
    except ValueError as error:
        return _fail(str(error), 2)
    ids = [f"{args.inference_id}-{n}" for n in range(len(batches))] if args.inference_id else [None] * len(batches)
    if args.inference_id and any(len(i) > MAX_INFERENCE_ID for i in ids):
        return _fail(f"--inference-id: {ids[-1]!r} is longer than {MAX_INFERENCE_ID} characters", 2)

    import boto3
    from botocore.exceptions import BotoCoreError, ClientError, HTTPClientError, NoRegionError
    from botocore.exceptions import ConnectionError as NoConnection

    try:
        sagemaker = boto3.client("sagemaker", config=client_config(args.max_attempts)) if args.check else None
        runtime = runtime_client(args.max_attempts)
    except NoRegionError:
        return _fail("no AWS region: set AWS_DEFAULT_REGION (or AWS_REGION)", 2)
    except (BotoCoreError, ValueError) as error:  # ValueError: an endpoint URL botocore cannot use
        return _fail(f"cannot set up the AWS clients: {error}", 2)
    try:
        if sagemaker is not None:
            check_endpoint(sagemaker, args.endpoint)
        if args.inference_id:
            print(f"inference ids {ids[0]} .. {ids[-1]} (one per batch of {args.batch_size} rows)", file=sys.stderr)
        for batch, inference_id in zip(batches, ids, strict=True):
            body = invoke_batch(runtime, args.endpoint, batch, content_type, args.accept, inference_id=inference_id)
            for line in predictions(body):
                print(line)
    except EndpointUnavailable as error:
        return _fail(str(error), 3)
    except InvokeFailed as error:
        return _fail(str(error), 1)
    except UnexpectedAnswer as error:
        return _fail(str(error), 2)
    except (NoConnection, HTTPClientError) as error:  # refused, unreachable, timed out: after the retries
        return _fail(f"the endpoint URL did not answer: {error}", 2)
    except ClientError as error:  # DescribeEndpoint refused for a reason that is not the endpoint's
        return _fail(f"DescribeEndpoint {args.endpoint!r} failed: {error}", 2)
    except BotoCoreError as error:  # no credentials, a response that is not AWS's: nothing can be scored
        return _fail(f"cannot call AWS: {error}", 2)
    return 0


def _is_missing_endpoint(code: str, message: str) -> bool:
    lowered = message.lower()
    return code in ("ValidationError", "ValidationException") and "endpoint" in lowered and (
        "not found" in lowered or "could not find" in lowered)


def _is_header(line: str) -> bool:
    fields = [field.strip().strip('"') for field in line.split(",")]
    return any(f in KNOWN_COLUMNS for f in fields) and all(not _is_number(f) for f in fields)


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _fail(message: str, code: int) -> int:
    """One line on stderr (a service's multi-line message folded into it), and the exit code."""
    print(f"error: {' '.join(message.split())}", file=sys.stderr)
    return code


if __name__ == "__main__":
    sys.exit(main())
