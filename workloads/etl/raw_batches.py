"""The raw zone's layout and how a batch is read back: the contract between ingestion and the ETL.

A batch lands as ``<source>/dt=YYYY-MM-DD/<batch-id>.csv`` followed by its manifest
``<batch-id>.manifest.json`` (rows, sha256, schema version). The manifest is written last, so it is the
batch's commit marker: a CSV without one is an upload still in flight and is left for a later run.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv

from workloads.etl import lake
from workloads.etl.schema import PARTITION_COLUMN, RAW_COLUMNS, SCHEMA_VERSION

DATA_SUFFIX = ".csv"
MANIFEST_SUFFIX = ".manifest.json"
SOURCE_COLUMN = "_source"
"""Quarantine column naming the batch a row came from."""
MALFORMED_PREFIX = "malformed line"
_DT = re.compile(rf"{PARTITION_COLUMN}=(\d{{4}}-\d{{2}}-\d{{2}})/")
_BATCH_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


class BatchError(RuntimeError):
    """A raw batch cannot be accounted for (checksum, row count or header mismatch): the run must stop."""


@dataclass(frozen=True)
class RawBatch:
    dt: str
    batch_id: str
    data_url: str
    rows: int
    sha256: str
    schema_version: int


def partition_url(source: str, dt: str) -> str:
    return lake.join(source, f"{PARTITION_COLUMN}={dt}/")


def data_url(source: str, dt: str, batch_id: str) -> str:
    return lake.join(partition_url(source, dt), batch_id + DATA_SUFFIX)


def manifest_url(source: str, dt: str, batch_id: str) -> str:
    return lake.join(partition_url(source, dt), batch_id + MANIFEST_SUFFIX)


def check_batch_id(batch_id: str) -> str:
    if not _BATCH_ID.match(batch_id):
        raise ValueError(f"batch id must be 1-128 letters, digits, '.', '_' or '-', got {batch_id!r}")
    return batch_id


def check_dt(dt: str) -> str:
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", dt):
        raise ValueError(f"dt must be YYYY-MM-DD, got {dt!r}")
    pd.Timestamp(dt)  # rejects 2026-02-30
    return dt


def partition_marker(url: str) -> str:
    """The ``dt=YYYY-MM-DD`` part of a URL (empty when it has none)."""
    found = _DT.search(url)
    return f"{PARTITION_COLUMN}={found.group(1)}" if found else ""


def batch_manifest(dt: str, batch_id: str, rows: int, data: bytes) -> dict:
    return {"dt": dt, "batch_id": batch_id, "rows": rows, "sha256": hashlib.sha256(data).hexdigest(),
            "bytes": len(data), "schema_version": SCHEMA_VERSION, "format": "csv"}


def listing_prefix(source: str, dt: str | None = None) -> str:
    """What to list for one date's partition, or for every partition of the raw zone."""
    return partition_url(source, dt) if dt else lake.join(source, f"{PARTITION_COLUMN}=")


def batches_in(listed: list[str]) -> dict[str, list[RawBatch]]:
    """The committed batches among the listed URLs of the raw zone (one listing serves this and the stream's
    objects), by partition date; batches sorted by id."""
    by_dt: dict[str, list[RawBatch]] = {}
    for url in listed:
        if not url.endswith(MANIFEST_SUFFIX):
            continue
        found = _DT.search(url)
        if not found:
            continue
        manifest = json.loads(lake.read_bytes(url))
        batch_id = url.rsplit("/", 1)[1][: -len(MANIFEST_SUFFIX)]
        by_dt.setdefault(found.group(1), []).append(RawBatch(
            dt=found.group(1), batch_id=batch_id, data_url=url[: -len(MANIFEST_SUFFIX)] + DATA_SUFFIX,
            rows=int(manifest["rows"]), sha256=manifest["sha256"],
            schema_version=int(manifest.get("schema_version", SCHEMA_VERSION))))
    return {day: sorted(batches, key=lambda b: b.batch_id) for day, batches in sorted(by_dt.items())}


def read_batch(batch: RawBatch) -> pd.DataFrame:
    """The batch's rows as text (every column a string, '' for empty), plus ``_source``.

    Checks the bytes against the manifest's checksum and the rows read against its count, so a
    truncated or altered upload stops the run instead of silently losing rows.
    """
    if batch.schema_version != SCHEMA_VERSION:
        raise BatchError(f"batch {batch.data_url} has schema version {batch.schema_version}; "
                         f"this job reads version {SCHEMA_VERSION}")
    data = lake.read_bytes(batch.data_url)
    with ThreadPoolExecutor(max_workers=1) as pool:  # hashlib releases the GIL: hash while Arrow parses
        hashing = pool.submit(lambda: hashlib.sha256(data).hexdigest())
        try:
            frame, parse_error = parse_csv(data, batch.data_url), None
        except Exception as error:  # the checksum's verdict comes first, as when checked before parsing
            frame, parse_error = None, error
        digest = hashing.result()
    if digest != batch.sha256:
        raise BatchError(f"batch {batch.data_url} has sha256 {digest}, its manifest says {batch.sha256}")
    if parse_error is not None:
        raise parse_error
    if len(frame) != batch.rows:
        raise BatchError(f"batch {batch.data_url} has {len(frame)} rows, its manifest says {batch.rows}")
    return frame.assign(**{SOURCE_COLUMN: source_column(batch.batch_id, frame.index)})


def source_column(batch_id: str, index: pd.Index) -> pd.Series:
    """The batch's id on every row, as Arrow text like the other columns: a column of Python strings would be
    copied reference by reference wherever rows are split, and converted again for Arrow and Parquet."""
    return pd.Series(pd.arrays.ArrowExtensionArray(pa.repeat(pa.scalar(batch_id, pa.string()), len(index))),
                     index=index)


def parse_csv(data: bytes, name: str = "<csv>") -> pd.DataFrame:
    """Parse CSV text into string columns backed by Arrow; lines with the wrong field count are kept.

    A malformed line becomes a row whose fields fill the columns in order (extra fields joined into the
    last column) and whose ``_malformed`` column says what was wrong, so the validator quarantines it
    instead of the reader dropping it.
    """
    names = [c.name for c in RAW_COLUMNS]
    header = next(csv.reader(io.StringIO(data[: data.find(b"\n") if b"\n" in data else len(data)].decode())), [])
    if sorted(header) != sorted(names):
        missing = sorted(set(names) - set(header))
        unknown = sorted(set(header) - set(names))
        raise BatchError(f"{name}: header must have the columns {', '.join(names)}; "
                         f"missing {missing or 'none'}, unknown {unknown or 'none'}")
    malformed: list[tuple[int, str]] = []

    def keep_malformed(row) -> str:
        malformed.append((row.number or 0, row.text))
        return "skip"

    table = pacsv.read_csv(
        io.BytesIO(data),
        parse_options=pacsv.ParseOptions(invalid_row_handler=keep_malformed),
        convert_options=pacsv.ConvertOptions(
            column_types={n: pa.string() for n in names}, strings_can_be_null=False,
            quoted_strings_can_be_null=False),
    ).select(names)
    frame = table.to_pandas(types_mapper=pd.ArrowDtype)
    if malformed:
        frame = pd.concat([frame, _malformed_rows(sorted(malformed), header, names)], ignore_index=True)
    return frame


MALFORMED_COLUMN = "_malformed"


def _malformed_rows(lines: list[tuple[int, str]], header: list[str], names: list[str]) -> pd.DataFrame:
    rows = []
    for number, text in lines:
        fields = next(csv.reader(io.StringIO(text)), [])
        if len(fields) > len(header):
            fields = [*fields[: len(header) - 1], ",".join(fields[len(header) - 1:])]
        row = dict.fromkeys(names, "")
        row.update({header[i]: value for i, value in enumerate(fields)})
        row[MALFORMED_COLUMN] = (f"{MALFORMED_PREFIX} {number}: expected {len(header)} fields, "
                                 f"got {len(next(csv.reader(io.StringIO(text)), []))}")
        rows.append(row)
    return pd.DataFrame(rows, columns=[*names, MALFORMED_COLUMN]).astype(pd.ArrowDtype(pa.string()))
