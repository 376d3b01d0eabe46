"""PrepareRecords: one committed features partition -> headerless CSV records and a keys manifest.

Runs as a SageMaker processing step. ``PRODLINE_BATCH_PARTITION`` is ``latest`` (the newest committed
partition) or a date (``2026-01-15`` or ``dt=2026-01-15``). Every row of the partition becomes one record
(keys go beside the records, never through the model); a partition with no rows fails the step.
"""

from __future__ import annotations

import io
import json
import os
import sys
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq

from workloads.batch.records import INPUTS_DIR, KEYS_DIR, KEYS_SUFFIX, MANIFEST, ROWS_PER_PART, part_name
from workloads.etl import lake
from workloads.etl.commit import committed_paths
from workloads.etl.schema import ID_COLUMN, MODEL_INPUT_COLUMNS, PARTITION_COLUMN

INPUTS = [c.name for c in MODEL_INPUT_COLUMNS]


def partitions(features: str) -> list[str]:
    """Dates of the partitions under the features prefix, oldest first."""
    marker = f"/{PARTITION_COLUMN}="
    found = {url.split(marker, 1)[1].split("/", 1)[0] for url in lake.list_urls(features) if marker in url}
    return sorted(found)


def choose(features: str, wanted: str) -> str:
    available = partitions(features)
    if not available:
        raise SystemExit(f"no features partition under {features}: run the ETL first")
    if wanted in ("", "latest"):
        return available[-1]
    dt = wanted.removeprefix(f"{PARTITION_COLUMN}=")
    if dt not in available:
        raise SystemExit(f"partition {PARTITION_COLUMN}={dt} is not under {features}; "
                         f"there are: {', '.join(available[-5:])}")
    return dt


def read_partition(features: str, dt: str) -> pd.DataFrame:
    prefix = lake.join(features, f"{PARTITION_COLUMN}={dt}/")
    files = [u for u in committed_paths(lake.list_urls(prefix), lake.read_bytes) if u.endswith(".parquet")]
    if not files:
        raise SystemExit(f"partition {prefix} holds no committed Parquet file")
    columns = [ID_COLUMN, *INPUTS]
    frame = pd.concat([pq.read_table(io.BytesIO(lake.read_bytes(f)), columns=columns).to_pandas() for f in files],
                      ignore_index=True)
    if frame.empty:
        raise SystemExit(f"partition {prefix} has no rows")
    return frame


def write_records(frame: pd.DataFrame, dt: str, output: Path) -> dict:
    (output / INPUTS_DIR).mkdir(parents=True, exist_ok=True)
    (output / KEYS_DIR).mkdir(parents=True, exist_ok=True)
    parts = []
    for index, start in enumerate(range(0, len(frame), ROWS_PER_PART)):
        chunk = frame.iloc[start:start + ROWS_PER_PART]
        name = part_name(index)
        # Headerless, schema order, empty field for a missing value: the server's CSV contract.
        chunk[INPUTS].to_csv(output / INPUTS_DIR / name, header=False, index=False, lineterminator="\n")
        keys = chunk[ID_COLUMN].astype(str)
        if keys.str.contains("\n").any():
            raise SystemExit("an input key holds a line break; keys are written one per line")
        (output / KEYS_DIR / (name + KEYS_SUFFIX)).write_text("\n".join(keys) + "\n")
        parts.append({"name": name, "rows": len(chunk)})
    manifest = {"dt": dt, "rows": len(frame), "parts": parts}
    (output / MANIFEST).write_text(json.dumps(manifest, indent=1))
    return manifest


def main(env: dict[str, str] | None = None) -> int:
    env = dict(os.environ if env is None else env)
    features = env["PRODLINE_BATCH_FEATURES"]
    dt = choose(features, env.get("PRODLINE_BATCH_PARTITION", "latest"))
    manifest = write_records(read_partition(features, dt), dt, Path(env["PRODLINE_BATCH_OUTPUT"]))
    print(json.dumps({"dt": dt, "rows": manifest["rows"], "parts": len(manifest["parts"])}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
