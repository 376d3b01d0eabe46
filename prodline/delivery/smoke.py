"""The smoke gate: held-out customers from the lake, scored by the freshly deployed endpoint, judged.

Why these rows: the newest features partition is what the model will see next, and the held-out customers
(``workloads.training.data.is_holdout``, the split evaluation scores) are rows training never fitted, so a
model that only memorised cannot pass by accident. Why these checks: a deploy that `pulumi up` calls done
can still serve a model that does not load, answers the wrong shape, or is too slow; each check names the
call and what it saw. The rows are found through the lake's own index, the Glue table
``prodline_<env>.features_churn`` (its location is the features zone's bucket and prefix), and read as the
features job committed them: in each partition, only the files its ``_committed.json`` names.
"""

from __future__ import annotations

import io
import math
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from prodline.delivery.context import DeliveryContext
from prodline.delivery.settings import DeliverySettings
from workloads.client.invoke import Batch, csv_batches, predictions
from workloads.etl.catalog import table_name
from workloads.etl.commit import committed_paths
from workloads.etl.schema import DATASET, MODEL_INPUT_COLUMNS, PARTITION_COLUMN
from workloads.s3_uri import split_s3

if TYPE_CHECKING:
    import pandas as pd

BATCH_ROWS = 5
"""Rows per InvokeEndpoint call: several calls (each judged, each timed), none of them a bulk job."""
CSV, JSON = "text/csv", "application/json"
_PARTITION = re.compile(rf"/{PARTITION_COLUMN}=([^/]+)/")


class SmokeSetupError(RuntimeError):
    """The sample rows cannot be read; the gate cannot vouch for the version, so it fails."""


@dataclass
class SmokeResult:
    rows: int = 0
    calls: int = 0
    scores: int = 0
    errors: int = 0
    max_latency_ms: float = 0.0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def error_rate(self) -> float:
        return self.errors / self.calls if self.calls else 0.0

    def summary(self) -> str:
        head = (f"{self.rows} rows in {self.calls} calls, {self.scores} scores, max latency "
                f"{self.max_latency_ms:.0f} ms, error rate {self.error_rate:.0%}")
        return head if self.ok else f"{head}: {'; '.join(self.problems[:3])}"

    def as_detail(self) -> dict[str, Any]:
        """What the Deployment Succeeded / Failed events carry as ``smoke``."""
        return {"ok": self.ok, "rows": self.rows, "calls": self.calls, "scores": self.scores,
                "errors": self.errors, "errorRate": round(self.error_rate, 4),
                "maxLatencyMs": round(self.max_latency_ms, 1), "problems": self.problems[:10]}


# --- sample rows ----------------------------------------------------------------------------------------

def features_location(ctx: DeliveryContext, environment: str) -> str:
    """``s3://<features bucket>/churn/``: where the catalog says the features table lives."""
    glue = ctx.clients("glue")
    database, table = f"prodline_{environment}", table_name("features", DATASET)
    try:
        location = glue.get_table(DatabaseName=database, Name=table)["Table"]["StorageDescriptor"]["Location"]
    except glue.exceptions.EntityNotFoundException:
        raise SmokeSetupError(f"no catalog table {database}.{table}: the stack's lake is not deployed") from None
    return location if location.endswith("/") else location + "/"


def sample_rows(ctx: DeliveryContext, environment: str, rows: int) -> pd.DataFrame:
    """Up to ``rows`` held-out rows, from the newest features partition (older ones when it has too few)."""
    bucket, prefix = split_s3(features_location(ctx, environment))
    s3 = ctx.clients("s3")
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=f"{prefix}{PARTITION_COLUMN}=")
    keys = [item["Key"] for page in pages for item in page.get("Contents", [])]
    partitions: dict[str, list[str]] = {}
    # Only the generation each partition's _committed.json names: a commit in progress, or one a crash cut
    # short, leaves other files beside it (workloads.etl.commit).
    for key in committed_paths(keys, lambda pointer: s3.get_object(Bucket=bucket, Key=pointer)["Body"].read()):
        found = _PARTITION.search("/" + key)
        if found and key.endswith(".parquet"):
            partitions.setdefault(found.group(1), []).append(key)
    if not partitions:
        raise SmokeSetupError(f"no features partitions under s3://{bucket}/{prefix}: run the ETL first")
    # Here, not at the top: every delivery command imports this module (prodline status too), few sample rows.
    import pandas as pd
    import pyarrow.parquet as pq

    from workloads.training.data import is_holdout

    taken: list[pd.DataFrame] = []
    have = 0
    for dt in sorted(partitions, reverse=True):
        for key in sorted(partitions[dt]):
            frame = pq.read_table(io.BytesIO(s3.get_object(Bucket=bucket, Key=key)["Body"].read())).to_pandas()
            held_out = frame[is_holdout(frame)]
            taken.append(held_out)
            have += len(held_out)
            if have >= rows:
                return pd.concat(taken, ignore_index=True).head(rows)
    if not have:
        raise SmokeSetupError(f"no held-out customers in the features under s3://{bucket}/{prefix}")
    return pd.concat(taken, ignore_index=True)


def to_csv(frame: pd.DataFrame) -> str:
    """The model inputs as the server takes them: a header naming the columns, then one line per row."""
    inputs = [c.name for c in MODEL_INPUT_COLUMNS]
    return frame[inputs].to_csv(index=False, header=True, na_rep="", lineterminator="\n")


# --- the gate -------------------------------------------------------------------------------------------

def run_smoke(ctx: DeliveryContext, settings: DeliverySettings, *, sample: pd.DataFrame | None = None,
              clock: Callable[[], float] = time.perf_counter, batch_rows: int = BATCH_ROWS) -> SmokeResult:
    """Score the sample through ``prodline-<env>-churn`` and judge every answer; never raises for a red gate."""
    result = SmokeResult()
    try:
        frame = sample if sample is not None else sample_rows(ctx, settings.environment, settings.smoke_rows)
    except SmokeSetupError as err:
        result.problems.append(f"no sample rows: {err}")
        return result
    runtime = ctx.clients("sagemaker-runtime")
    start_row = 1
    for number, batch in enumerate(csv_batches(to_csv(frame), batch_rows), 1):
        result.calls += 1
        result.rows += batch.rows
        where = f"call {number} (rows {start_row}-{start_row + batch.rows - 1})"
        start_row += batch.rows
        started = clock()
        status, body, failure = _invoke(runtime, settings.endpoint_name, batch)
        latency_ms = (clock() - started) * 1000.0
        result.max_latency_ms = max(result.max_latency_ms, latency_ms)
        if failure or not 200 <= status < 300:
            result.errors += 1
            result.problems.append(f"{where}: HTTP {status or 'none'} {failure}".rstrip())
            continue
        problems, scores = judge_answer(body, batch.rows)
        result.scores += scores
        result.problems.extend(f"{where}: {p}" for p in problems)
    if result.max_latency_ms > settings.smoke_latency_ms:
        result.problems.append(f"max latency {result.max_latency_ms:.0f} ms is over smokeLatencyMs "
                               f"{settings.smoke_latency_ms}")
    return result


def judge_answer(body: bytes, rows: int) -> tuple[list[str], int]:
    """Problems with one answer (one score per row, each a number in [0, 1]) and how many scores it had."""
    texts = predictions(body)
    problems = []
    if len(texts) != rows:
        problems.append(f"{len(texts)} scores for {rows} rows")
    for position, text in enumerate(texts, 1):
        try:
            score = float(text)
        except ValueError:
            problems.append(f"score {position} is not a number: {text[:40]!r}")
            continue
        if not math.isfinite(score) or not 0.0 <= score <= 1.0:
            problems.append(f"score {position} is {score}, outside [0, 1]")
    return problems, len(texts)


def _invoke(runtime: Any, endpoint: str, batch: Batch) -> tuple[int, bytes, str]:
    """(HTTP status, body, failure text) of one InvokeEndpoint call; the model's own status for a ModelError."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        answer = runtime.invoke_endpoint(EndpointName=endpoint, Body=batch.body, ContentType=CSV, Accept=JSON)
    except ClientError as err:
        error = err.response.get("Error", {})
        status = err.response.get("OriginalStatusCode") or err.response.get("ResponseMetadata", {}).get(
            "HTTPStatusCode", 0)
        message = err.response.get("OriginalMessage") or error.get("Message", "")
        return int(status), b"", f"{error.get('Code', 'error')}: {str(message)[:200]}"
    except BotoCoreError as err:
        return 0, b"", f"no answer: {err}"
    status = answer.get("ResponseMetadata", {}).get("HTTPStatusCode", 200)
    body = answer["Body"].read() if hasattr(answer["Body"], "read") else answer["Body"]
    return int(status), body, ""
