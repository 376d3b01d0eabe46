"""Events Firehose delivered into the raw zone: how the ``validate`` job finds, reads and de-duplicates them.

Firehose writes GZIP JSON lines (one event per line) under ``<source>/dt=YYYY-MM-DD/stream/``, beside the
uploaded CSV batches of the same date (``components/streaming_ingestion.py`` declares that prefix). An
object is complete once it is listed (Firehose writes each in one PUT and never changes it), so it needs no
manifest; its input record for the run manifest carries its row count and checksum, taken when the run
plans, and the read checks both, as for CSV batches.

Each event becomes a row of text columns, as a CSV line would, so the same validation and quarantine apply.
A line that is not a JSON object, or has no ``record_id``, or another schema version, is kept as a row
marked malformed (quarantined with the reason), never dropped. Delivery is at least once, so an event may
arrive twice: within a date partition the first copy of each ``record_id`` (in object order, then line
order) is kept and the others are counted as duplicates, so curated data has each event once and
rows in = curated + quarantined + duplicates.
"""

from __future__ import annotations

import gzip
import hashlib
import json
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from workloads.etl import lake
from workloads.etl.raw_batches import BatchError, partition_marker
from workloads.etl.schema import RAW_COLUMNS, SCHEMA_VERSION
from workloads.etl.validation import MALFORMED_COLUMN

STREAM_SEGMENT = "stream/"
"""The path segment inside a date partition under which Firehose delivers (the component's prefix)."""
KIND = "stream"
RECORD_ID = "record_id"
SOURCE_PREFIX = "stream:"
"""Quarantine ``_source`` of a stream row: ``stream:<record_id>`` (files carry their batch id)."""


def is_stream_input(item: dict) -> bool:
    return item.get("kind") == KIND


def objects_in(listed: list[str]) -> dict[str, list[str]]:
    """The delivered objects among the listed (sorted) URLs of the raw zone, by partition date."""
    by_dt: dict[str, list[str]] = {}
    for url in listed:
        marker = partition_marker(url)
        if marker and f"/{marker}/{STREAM_SEGMENT}" in url and not url.endswith("/"):
            by_dt.setdefault(marker.split("=", 1)[1], []).append(url)
    return by_dt


def object_input(url: str) -> dict:
    """The run manifest's record of one delivered object: its URL, events (lines) and checksum."""
    data = lake.read_bytes(url)
    return {"kind": KIND, "batch_id": STREAM_SEGMENT + url.rsplit("/", 1)[1], "url": url,
            "rows": len(_lines(data, url)), "sha256": hashlib.sha256(data).hexdigest(),
            "schema_version": SCHEMA_VERSION}


def read_objects(items: list[dict], source_column: str) -> tuple[pd.DataFrame, int]:
    """The events of delivered objects as text rows (plus ``source_column``), and how many duplicates were dropped.

    Checks each object against the checksum and row count its input record took when the run planned.
    """
    rows: list[dict[str, str]] = []
    seen: set[str] = set()
    duplicates = 0
    for item in items:
        data = lake.read_bytes(item["url"])
        digest = hashlib.sha256(data).hexdigest()
        if digest != item["sha256"]:
            raise BatchError(f"stream object {item['url']} has sha256 {digest}, the run planned {item['sha256']}")
        lines = _lines(data, item["url"])
        if len(lines) != item["rows"]:
            raise BatchError(f"stream object {item['url']} has {len(lines)} events, the run planned {item['rows']}")
        for number, line in enumerate(lines, 1):
            row = event_row(line, f"{item['batch_id']} line {number}")
            record_id = row[source_column] = SOURCE_PREFIX + row.pop(RECORD_ID)
            if record_id != SOURCE_PREFIX and record_id in seen:
                duplicates += 1
                continue
            seen.add(record_id)
            rows.append(row)
    names = [c.name for c in RAW_COLUMNS]
    columns = [*names, MALFORMED_COLUMN, source_column]
    frame = pd.DataFrame(rows, columns=columns).astype(pd.ArrowDtype(pa.string()))
    return frame, duplicates


def count_stream_rows(frame: pd.DataFrame, source_column: str = "_source") -> int:
    """Rows of an output that came from the stream (their source is ``stream:<record_id>``)."""
    if frame.empty:
        return 0
    sources = pa.array(frame[source_column], from_pandas=True)  # Arrow's kernel: no Python call per row
    if not pa.types.is_string(sources.type):
        sources = pc.cast(sources, pa.string())
    return pc.sum(pc.starts_with(sources, SOURCE_PREFIX)).as_py() or 0


def event_row(line: bytes, where: str) -> dict[str, str]:
    """One event as the CSV reader would give its row: every column text, '' for null, plus why it is malformed."""
    names = [c.name for c in RAW_COLUMNS]
    try:
        event: Any = json.loads(line)
    except ValueError:
        event = None
    row = dict.fromkeys(names, "")
    row[RECORD_ID] = ""
    if not isinstance(event, dict):
        row[MALFORMED_COLUMN] = f"malformed event ({where}): not a JSON object"
        return row
    row.update({name: _text(event.get(name)) for name in names})
    row[RECORD_ID] = _text(event.get(RECORD_ID))
    problems = []
    if not row[RECORD_ID]:
        problems.append("no record_id")
    if event.get("schema_version") != SCHEMA_VERSION:
        problems.append(f"schema_version {event.get('schema_version')!r}, this job reads {SCHEMA_VERSION}")
    row[MALFORMED_COLUMN] = f"malformed event ({where}): {', '.join(problems)}" if problems else ""
    return row


def _text(value: Any) -> str:
    """A JSON value as the raw zone's text: null -> '', numbers as Python prints them (12, 55.3), text as is."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    return str(value)


def _lines(data: bytes, url: str) -> list[bytes]:
    try:
        text = gzip.decompress(data) if url.endswith(".gz") else data
    except (OSError, EOFError) as error:
        raise BatchError(f"stream object {url} is not readable GZIP: {error}") from error
    return [line for line in text.split(b"\n") if line.strip()]
