"""Parquet in and out of the lake with the schema's exact column types.

Files hold exactly the schema's columns; the partition date lives in the path (``dt=YYYY-MM-DD/``), as
the Glue catalog's partitioned tables expect. Row groups are large (up to 1M rows): small groups double
the files' size and the time to write them.
"""

from __future__ import annotations

import io

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from workloads.etl import lake
from workloads.etl.schema import Column
from workloads.etl.validation import ARROW_TYPES

ROW_GROUP_ROWS = 1_000_000
COMPRESSION = "snappy"


def arrow_schema(columns: tuple[Column, ...], extra: tuple[str, ...] = ()) -> pa.Schema:
    fields = [pa.field(c.name, ARROW_TYPES[c.dtype]) for c in columns]
    return pa.schema(fields + [pa.field(name, pa.string()) for name in extra])


def quarantine_columns(columns: tuple[Column, ...]) -> tuple[Column, ...]:
    """Quarantined rows keep every value as received: the schema's columns, all as text."""
    return tuple(Column(c.name, "string", required=False, description=c.description) for c in columns)


def to_table(frame: pd.DataFrame, columns: tuple[Column, ...], extra: tuple[str, ...] = ()) -> pa.Table:
    """The frame's schema columns (and ``extra`` text columns) cast to the declared types, in order."""
    schema = arrow_schema(columns, extra)
    arrays = [pa.array(frame[f.name], type=f.type, from_pandas=True) if len(frame) else pa.array([], f.type)
              for f in schema]
    return pa.Table.from_arrays(arrays, schema=schema)


def parquet_bytes(table: pa.Table) -> bytes:
    sink = io.BytesIO()
    pq.write_table(table, sink, row_group_size=ROW_GROUP_ROWS, compression=COMPRESSION)
    return sink.getvalue()


def write_parquet(url: str, table: pa.Table) -> None:
    lake.write_bytes(url, parquet_bytes(table))


def read_parquet(urls: list[str]) -> pa.Table:
    tables = [pq.read_table(io.BytesIO(lake.read_bytes(url))) for url in urls]
    return pa.concat_tables(tables) if tables else pa.table({})
