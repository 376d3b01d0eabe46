"""PublishPredictions: the transform job's answers joined back to their input keys, as the predictions table.

Runs as a SageMaker processing step after the transform. For every input part it reads the keys and the
``.out`` file Batch Transform wrote (one score per line, in input order) and fails loudly when the counts
differ or a score is not a probability: a prediction that cannot be traced to its input is not written.
Rows go to ``dt=<partition>/part-<scoring job>.parquet`` with the model package ARN, its version and the
scoring job's id; a report (rows, model version, job id) goes to the report output.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from workloads.batch.records import KEYS_DIR, KEYS_SUFFIX, MANIFEST, OUTPUT_SUFFIX, PREDICTION_COLUMNS
from workloads.etl.schema import PARTITION_COLUMN

COLUMNS = tuple(name for name, _, _ in PREDICTION_COLUMNS)
ARROW_TYPES = {"string": pa.string(), "double": pa.float64(), "int": pa.int32()}
REPORT = "report.json"


def model_version(package_arn: str) -> int:
    """``arn:...:model-package/<group>/<version>`` -> version."""
    tail = package_arn.rsplit("/", 1)[-1]
    if not tail.isdigit():
        raise SystemExit(f"{package_arn!r} is not a versioned model package ARN (.../<group>/<version>)")
    return int(tail)


def find_output(transformed: Path, name: str) -> Path:
    found = sorted(transformed.rglob(name + OUTPUT_SUFFIX))
    if len(found) != 1:
        raise SystemExit(f"expected one {name}{OUTPUT_SUFFIX} under the transform output, found {len(found)}")
    return found[0]


def scores_of(path: Path) -> np.ndarray:
    text = path.read_text()
    lines = [line for line in text.splitlines() if line.strip()]
    try:
        scores = np.array([float(line) for line in lines], dtype=np.float64)
    except ValueError as error:
        raise SystemExit(f"{path.name}: an answer is not a number ({error})") from None
    if len(scores) and not ((scores >= 0) & (scores <= 1)).all():
        raise SystemExit(f"{path.name}: scores outside [0, 1]; the model's answers are not probabilities")
    return scores


def join(records: Path, transformed: Path, package_arn: str, job_id: str) -> tuple[pd.DataFrame, dict]:
    manifest = json.loads((records / MANIFEST).read_text())
    frames = []
    for part in manifest["parts"]:
        keys = (records / KEYS_DIR / (part["name"] + KEYS_SUFFIX)).read_text().splitlines()
        scores = scores_of(find_output(transformed, part["name"]))
        if not (len(keys) == len(scores) == part["rows"]):
            raise SystemExit(f"{part['name']}: {part['rows']} records, {len(keys)} keys, {len(scores)} scores; "
                             "every record needs exactly one answer")
        frames.append(pd.DataFrame({COLUMNS[0]: keys, "score": scores}))
    frame = pd.concat(frames, ignore_index=True)
    frame["model_package_arn"] = package_arn
    frame["model_version"] = model_version(package_arn)
    frame["scoring_job_id"] = job_id
    return frame[list(COLUMNS)], manifest


def write(frame: pd.DataFrame, dt: str, job_id: str, output: Path) -> Path:
    directory = output / f"{PARTITION_COLUMN}={dt}"
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"part-{job_id}.parquet"
    schema = pa.schema([(name, ARROW_TYPES[kind]) for name, kind, _ in PREDICTION_COLUMNS])
    pq.write_table(pa.Table.from_pandas(frame, schema=schema, preserve_index=False), path)
    return path


def main(env: dict[str, str] | None = None) -> int:
    env = dict(os.environ if env is None else env)
    records, transformed = Path(env["PRODLINE_BATCH_RECORDS"]), Path(env["PRODLINE_BATCH_TRANSFORMED"])
    package_arn, job_id = env["PRODLINE_MODEL_PACKAGE_ARN"], env["PRODLINE_SCORING_JOB_ID"]
    frame, manifest = join(records, transformed, package_arn, job_id)
    write(frame, manifest["dt"], job_id, Path(env["PRODLINE_BATCH_OUTPUT"]))
    report = {"dt": manifest["dt"], "rows": len(frame), "model_package_arn": package_arn,
              "model_version": model_version(package_arn), "scoring_job_id": job_id,
              "mean_score": round(float(frame["score"].mean()), 6),
              "table": f"{env.get('PRODLINE_PREDICTIONS_DATABASE', '')}.{env.get('PRODLINE_PREDICTIONS_TABLE', '')}"}
    report_dir = env.get("PRODLINE_BATCH_REPORT")
    if report_dir:
        Path(report_dir).mkdir(parents=True, exist_ok=True)
        (Path(report_dir) / REPORT).write_text(json.dumps(report, indent=1))
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
