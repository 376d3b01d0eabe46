"""Reading a channel: the committed Parquet files under a directory (nested ``dt=...`` folders included).

A SageMaker channel is a download of the features prefix, so it can hold two generations of a partition
side by side while the features job replaces one (see ``workloads.etl.commit``). A directory holding the
job's ``_committed.json`` contributes only the files that names; elsewhere every Parquet file counts.
"""

from __future__ import annotations

import zlib
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from workloads.etl.commit import committed_paths
from workloads.etl.schema import FEATURES_COLUMNS, ID_COLUMN, LABEL_COLUMN, MODEL_INPUT_COLUMNS

HOLDOUT_BUCKETS = 5  # one customer in five is held out: 20% of the rows, the same customers every run


def read_channel(directory: Path) -> pd.DataFrame:
    """All rows of the committed features Parquet files under ``directory``; raises naming the directory when none."""
    files = committed_files(Path(directory))
    if not files:
        raise FileNotFoundError(f"no .parquet files under {directory}")
    frame = pd.concat([pq.read_table(f).to_pandas() for f in files], ignore_index=True)
    wanted = [c.name for c in MODEL_INPUT_COLUMNS] + [LABEL_COLUMN]
    missing = [name for name in wanted if name not in frame.columns]
    if missing:
        raise ValueError(f"files under {directory} lack columns {', '.join(missing)}; "
                         f"expected the features layout ({', '.join(c.name for c in FEATURES_COLUMNS)})")
    return frame


def committed_files(directory: Path) -> list[Path]:
    """The Parquet files under ``directory``, less those a ``_committed.json`` above them does not name."""
    listed = (p.as_posix() for p in directory.rglob("*") if p.is_file())
    return [Path(p) for p in committed_paths(listed, lambda p: Path(p).read_bytes()) if p.endswith(".parquet")]


def inputs_and_label(frame: pd.DataFrame) -> tuple[pd.DataFrame, pd.Series]:
    return frame[[c.name for c in MODEL_INPUT_COLUMNS]], frame[LABEL_COLUMN].astype(int)


def is_holdout(frame: pd.DataFrame) -> np.ndarray:
    """Rows of held-out customers, chosen by a stable hash of the customer id.

    Training never fits on them and evaluation scores only them, even though both steps read the same
    features prefix: the quality gate measures customers the model has not seen, in every run and process.
    """
    ids = frame[ID_COLUMN].astype(str)
    return np.fromiter((zlib.crc32(i.encode()) % HOLDOUT_BUCKETS == 0 for i in ids), dtype=bool, count=len(ids))
