"""SageMaker data capture: where the files are and how their records become rows of model inputs.

An endpoint with data capture writes JSON Lines under
``<destination>/<endpoint>/<variant>/yyyy/mm/dd/hh/<file>.jsonl``, one record per request:
``{"captureData": {"endpointInput": {"observedContentType", "mode", "data", "encoding"},
"endpointOutput": {...}}, "eventMetadata": {"eventId", "inferenceId", "inferenceTime"}, "eventVersion"}``, where
``encoding`` is CSV, JSON or BASE64. Inputs are decoded by the serving code's own parser, so the monitor
reads exactly what the model read.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

import pandas as pd

from workloads.etl import lake
from workloads.monitoring.ground_truth import Prediction, parse_time
from workloads.serving import payloads
from workloads.serving.errors import RequestError

T = TypeVar("T")

UNKNOWN_VERSION = "unknown"
_HOUR_PATH = re.compile(r"/(\d{4})/(\d{2})/(\d{2})/(\d{2})/[^/]+\.jsonl$")


@dataclass
class CapturedInputs:
    frame: pd.DataFrame
    records: int = 0
    unreadable: int = 0
    errors: list[str] = field(default_factory=list)
    """A few examples of why records could not be read."""


def capture_urls(destination: str, endpoint: str, variant: str | None,
                 start: dt.datetime, end: dt.datetime) -> list[str]:
    """Capture files of the endpoint (one variant, or all) whose hour folder falls in [start, end).

    With a variant, only the window's day folders are listed; without one, the endpoint's whole prefix."""
    first_hour = start.replace(minute=0, second=0, microsecond=0)
    if variant:
        days = {(first_hour + dt.timedelta(hours=h)).strftime("%Y/%m/%d")
                for h in range(int((end - first_hour).total_seconds() // 3600) + 1)}
        prefixes = [lake.join(destination, endpoint, variant, day, "") for day in sorted(days)]
    else:
        prefixes = [lake.join(destination, endpoint, "")]
    urls = []
    for url in (u for prefix in prefixes for u in lake.list_urls(prefix)):
        found = _HOUR_PATH.search(url)
        if found:
            hour = dt.datetime(*map(int, found.groups()), tzinfo=dt.UTC)
            if first_hour <= hour < end:
                urls.append(url)
    return urls


def record_data(channel: dict) -> tuple[bytes, str]:
    """(raw bytes, content type) of an endpointInput or endpointOutput entry."""
    data = channel.get("data", "")
    encoding = channel.get("encoding", "CSV").upper()
    raw = base64.b64decode(data) if encoding == "BASE64" else data.encode("utf-8")
    return raw, channel.get("observedContentType", payloads.CSV)


def _read_records(texts: list[bytes], read: Callable[[dict], T], unreadable_when: tuple[type[Exception], ...],
                  max_examples: int) -> tuple[list[T], int, int, list[str]]:
    """``read`` applied to every capture record of the files' contents: (results, records, unreadable, examples);
    a record that fails with one of ``unreadable_when`` is counted, with the first few errors, not fatal."""
    found, records, unreadable, errors = [], 0, 0, []
    for text in texts:
        for line in text.splitlines():
            if not line.strip():
                continue
            records += 1
            try:
                found.append(read(json.loads(line)))
            except unreadable_when as error:
                unreadable += 1
                if len(errors) < max_examples:
                    errors.append(f"{type(error).__name__}: {str(error)[:200]}")
    return found, records, unreadable, errors


def read_inputs(texts: list[bytes], max_examples: int = 5) -> CapturedInputs:
    """Every request's input rows from capture files' contents; unreadable records are counted, not fatal."""
    frames, records, unreadable, errors = _read_records(
        texts, lambda record: payloads.decode(*record_data(record["captureData"]["endpointInput"])),
        (ValueError, KeyError, TypeError, RequestError), max_examples)
    frame = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=list(payloads.INPUTS))
    return CapturedInputs(frame=frame, records=records, unreadable=unreadable, errors=errors)


def read_predictions(texts: list[bytes], max_examples: int = 5) -> tuple[list[Prediction], int, list[str]]:
    """Every captured request's scores, model version and inference id; (predictions, unreadable, examples).

    The version is what the server put in its JSON answer (``modelVersion``: the model package version its
    container was started with); an answer without one (CSV, or a server that does not know) is ``unknown``."""
    found, _, unreadable, errors = _read_records(texts, _prediction, (ValueError, KeyError, TypeError, AttributeError),
                                                 max_examples)
    return found, unreadable, errors


def _prediction(record: dict) -> Prediction:
    raw, kind = record_data(record["captureData"]["endpointOutput"])
    text = raw.decode("utf-8")
    version = UNKNOWN_VERSION
    if "json" in kind:
        answer = json.loads(text)
        scores = answer["predictions"]
        version = str(answer.get("modelVersion") or UNKNOWN_VERSION)
    else:
        scores = [line for line in text.splitlines() if line.strip()]
    metadata = record["eventMetadata"]
    return Prediction(metadata.get("inferenceId"), tuple(float(s) for s in scores), version,
                      parse_time(metadata["inferenceTime"]))


def capture_record(body: bytes, content_type: str, *, output: bytes, output_type: str, event_id: str,
                   when: dt.datetime, inference_id: str | None = None) -> dict:
    """One record as SageMaker writes it (the server's capture on Kubernetes, tests); ``inference_id`` is the
    caller's X-Amzn-SageMaker-Inference-Id, kept as SageMaker keeps it, for joining ground truth later."""
    def channel(data: bytes, kind: str, mode: str) -> dict:
        try:
            text, encoding = data.decode("utf-8"), ("JSON" if "json" in kind else "CSV")
        except UnicodeDecodeError:
            text, encoding = base64.b64encode(data).decode(), "BASE64"
        return {"observedContentType": kind, "mode": mode, "data": text, "encoding": encoding}

    metadata = {"eventId": event_id, "inferenceTime": when.strftime("%Y-%m-%dT%H:%M:%SZ")}
    if inference_id:
        metadata["inferenceId"] = inference_id
    return {"captureData": {"endpointInput": channel(body, content_type, "INPUT"),
                            "endpointOutput": channel(output, output_type, "OUTPUT")},
            "eventMetadata": metadata, "eventVersion": "0"}


def capture_key(destination: str, endpoint: str, variant: str, when: dt.datetime, name: str) -> str:
    return lake.join(destination, endpoint, variant, when.strftime("%Y/%m/%d/%H"), name)
