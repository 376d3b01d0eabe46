"""SageMaker training entry point: features Parquet in the channels -> model directory.

Contract (SageMaker script mode): channels at SM_CHANNEL_TRAIN / SM_CHANNEL_VALIDATION (default
/opt/ml/input/data/<channel>), the model written to SM_MODEL_DIR (default /opt/ml/model), extra outputs to
SM_OUTPUT_DATA_DIR (default /opt/ml/output/data), hyperparameters as ``--name value`` arguments (dashes or
underscores). Without a validation channel, one customer in five (a stable hash of the customer id, the
same customers evaluate.py scores) is held out.

Local run: SM_MODEL_DIR=out/model SM_CHANNEL_TRAIN=data/train python -m workloads.training.train --max-iter 100
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import sklearn

from workloads.etl.schema import (
    CATEGORICAL_INPUTS,
    DATASET,
    LABEL_COLUMN,
    MODEL_INPUT_COLUMNS,
    NUMERIC_INPUTS,
    SCHEMA_VERSION,
)
from workloads.training import data_manifest, tracking
from workloads.training.artifacts import save_model
from workloads.training.baseline import build_baseline
from workloads.training.data import committed_files, inputs_and_label, is_holdout, read_channel
from workloads.training.metrics import classification_metrics
from workloads.training.model import Hyperparameters, build_pipeline

LOG = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainingPaths:
    model_dir: Path
    train: Path
    validation: Path | None
    output_dir: Path

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> TrainingPaths:
        validation = Path(env.get("SM_CHANNEL_VALIDATION", "/opt/ml/input/data/validation"))
        return cls(model_dir=Path(env.get("SM_MODEL_DIR", "/opt/ml/model")),
                   train=Path(env.get("SM_CHANNEL_TRAIN", "/opt/ml/input/data/train")),
                   validation=validation if validation.is_dir() else None,
                   output_dir=Path(env.get("SM_OUTPUT_DATA_DIR", "/opt/ml/output/data")))


def parse_hyperparameters(argv: Sequence[str]) -> Hyperparameters:
    defaults = Hyperparameters()
    parser = argparse.ArgumentParser(description="Train the churn model.")
    for name, value in defaults.as_dict().items():
        kind = int if name in ("max_iter", "min_samples_leaf", "random_state", "max_depth") else float
        parser.add_argument(f"--{name.replace('_', '-')}", f"--{name}", dest=name, type=_optional(kind), default=value)
    args, unknown = parser.parse_known_args(list(argv))
    if unknown:
        LOG.warning("ignoring unknown hyperparameters: %s", " ".join(unknown))
    return Hyperparameters(**vars(args))


def train(train_frame: pd.DataFrame, validation_frame: pd.DataFrame | None, hp: Hyperparameters):
    """Fit the pipeline; returns (pipeline, metadata, baseline). Pure: no files, no environment."""
    if validation_frame is None:
        # The same customers evaluate.py scores: a stable split by customer id, not a random one.
        holdout = is_holdout(train_frame)
        train_frame, validation_frame = train_frame[~holdout], train_frame[holdout]
    features, labels = inputs_and_label(train_frame)
    if labels.nunique() < 2:
        raise ValueError(f"training data needs both classes of {LABEL_COLUMN}; got only {sorted(labels.unique())}")
    pipeline = build_pipeline(hp).fit(features, labels)
    val_features, val_labels = inputs_and_label(validation_frame)
    validation = classification_metrics(val_labels, pipeline.predict_proba(val_features)[:, 1])
    metadata = {
        "dataset": DATASET,
        "schema_version": SCHEMA_VERSION,
        "features": [c.name for c in MODEL_INPUT_COLUMNS],
        "numeric_features": list(NUMERIC_INPUTS),
        "categorical_features": list(CATEGORICAL_INPUTS),
        "label": LABEL_COLUMN,
        "output": "probability of churn (predict_proba[:, 1])",
        "hyperparameters": hp.as_dict(),
        "metrics": {"validation": validation},
        "training_rows": len(train_frame),
        "versions": {"scikit-learn": sklearn.__version__, "pandas": pd.__version__, "python": sys.version.split()[0]},
    }
    baseline = build_baseline(features, list(NUMERIC_INPUTS), list(CATEGORICAL_INPUTS))
    return pipeline, metadata, baseline


def main(argv: Sequence[str] | None = None, env: Mapping[str, str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    paths = TrainingPaths.from_env(os.environ if env is None else env)
    hp = parse_hyperparameters(sys.argv[1:] if argv is None else argv)
    validation = read_channel(paths.validation) if paths.validation else None
    pipeline, metadata, baseline = train(read_channel(paths.train), validation, hp)
    metadata["lineage"] = record_lineage(os.environ if env is None else env, paths, metadata)
    save_model(paths.model_dir, pipeline, metadata, baseline)
    tracking.log_model(os.environ if env is None else env, metadata["lineage"]["mlflow_run_id"], paths.model_dir)
    paths.output_dir.mkdir(parents=True, exist_ok=True)
    (paths.output_dir / "validation_metrics.json").write_text(json.dumps(metadata["metrics"], indent=2))
    # SageMaker's metric definitions scrape the log: one "name=value;" line is easy to match.
    print(" ".join(f"validation:{k}={v:.6f};" for k, v in metadata["metrics"]["validation"].items()))
    return 0


def record_lineage(env: Mapping[str, str], paths: TrainingPaths, metadata: dict) -> dict[str, str]:
    """Write the data manifest of what this run read and start its MLflow run (when tracking is configured);
    returns what the model's metadata carries so evaluation and the registry can pass it on."""
    data_url = env.get("PRODLINE_TRAIN_DATA_URL") or None
    manifest = data_manifest.build_manifest(
        committed_files(paths.train), paths.train, data_url=data_url, etl_manifests=env.get("PRODLINE_ETL_MANIFESTS"),
        head=data_manifest.s3_head if data_url else None)
    job_name = json.loads(env.get("SM_TRAINING_ENV") or "{}").get("job_name", "local")
    manifest_uri = data_manifest.write_manifest(manifest, paths.model_dir, env.get("PRODLINE_DATA_MANIFESTS"), job_name)
    run_id = tracking.start_training_run(env, run_name=job_name, params=metadata["hyperparameters"],
                                         metrics=metadata["metrics"]["validation"], manifest=manifest,
                                         manifest_uri=manifest_uri)
    return {"mlflow_run_id": run_id, "data_manifest": manifest_uri, "data_sha256": manifest["sha256"]}


def _optional(kind):
    def parse(text: str):
        text = text.strip().strip('"')
        return None if text.lower() in ("none", "null", "") else kind(text)
    return parse


if __name__ == "__main__":
    sys.exit(main())
