"""SageMaker Processing entry point: score the trained model on held-out data, write evaluation.json.

Contract: the model at /opt/ml/processing/model (model.tar.gz, or its extracted files), test data (features
Parquet) under /opt/ml/processing/test, the report at /opt/ml/processing/evaluation/evaluation.json.
Each location can be moved with an argument (``--model``, ``--test``, ``--output``) or an environment
variable (PRODLINE_EVAL_MODEL, PRODLINE_EVAL_TEST, PRODLINE_EVAL_OUTPUT) for local runs.

The report's ``metrics.<name>.value`` entries are what the pipeline's condition step reads with JsonGet
(``metrics.auc.value``); ``binary_classification_metrics`` repeats them in the shape SageMaker's model
registry renders as model quality.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from workloads.training import tracking
from workloads.training.artifacts import load_model
from workloads.training.data import inputs_and_label, is_holdout, read_channel
from workloads.training.metrics import classification_metrics

REPORT_FILE = "evaluation.json"
DEFAULTS = {"model": "/opt/ml/processing/model", "test": "/opt/ml/processing/test",
            "output": "/opt/ml/processing/evaluation"}


def evaluation_report(pipeline, frame) -> dict:
    """The report for ``pipeline`` on ``frame`` (features rows with the label). Pure."""
    features, labels = inputs_and_label(frame)
    scores = classification_metrics(labels, pipeline.predict_proba(features)[:, 1])
    entries = {name: {"value": value} for name, value in scores.items()}
    return {
        "metrics": entries,
        "binary_classification_metrics": {name: {"value": value, "standard_deviation": "NaN"}
                                          for name, value in scores.items()},
    }


def lineage(metadata: dict) -> dict[str, str]:
    """The training's run id and data manifest, from the model's metadata; ``none`` for a model trained before
    (or without) them, since the registry refuses empty metadata values."""
    found = metadata.get("lineage") or {}
    return {key: str(found.get(key) or tracking.NO_RUN) for key in ("mlflow_run_id", "data_manifest", "data_sha256")}


def main(argv: Sequence[str] | None = None, env: Mapping[str, str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    env = os.environ if env is None else env
    parser = argparse.ArgumentParser(description="Evaluate the churn model on test data.")
    for name, default in DEFAULTS.items():
        parser.add_argument(f"--{name}", default=env.get(f"PRODLINE_EVAL_{name.upper()}", default))
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    model = load_model(Path(args.model))
    test = read_channel(Path(args.test))
    report = evaluation_report(model.pipeline, test[is_holdout(test)])
    # The registry reads these from the report (the package's customer metadata): the run and the data.
    report["lineage"] = lineage(model.metadata)
    tracking.log_evaluation(env, report["lineage"]["mlflow_run_id"], report)
    output = Path(args.output)
    output.mkdir(parents=True, exist_ok=True)
    (output / REPORT_FILE).write_text(json.dumps(report, indent=2))
    print(json.dumps({name: entry["value"] for name, entry in report["metrics"].items()}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
