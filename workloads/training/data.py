"""Reading a channel: every Parquet file under a directory (nested ``dt=...`` folders included)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq

from workloads.etl.schema import FEATURES_COLUMNS, LABEL_COLUMN, MODEL_INPUT_COLUMNS


def read_channel(directory: Path) -> pd.DataFrame:
    """All rows of the features Parquet files under ``directory``; raises naming the directory when none."""
    files = sorted(p for p in Path(directory).rglob("*.parquet") if p.is_file())
    if not files:
        raise FileNotFoundError(f"no .parquet files under {directory}")
    frame = pd.concat([pq.read_table(f).to_pandas() for f in files], ignore_index=True)
    wanted = [c.name for c in MODEL_INPUT_COLUMNS] + [LABEL_COLUMN]
    missing = [name for name in wanted if name not in frame.columns]
    if missing:
        raise ValueError(f"files under {directory} lack columns {', '.join(missing)}; "
                         f"expected the features layout ({', '.join(c.name for c in FEATURES_COLUMNS)})")
    return frame


def inputs_and_label(frame: pd.DataFrame) -> tuple[pd.DataFrame, pd.Series]:
    return frame[[c.name for c in MODEL_INPUT_COLUMNS]], frame[LABEL_COLUMN].astype(int)
