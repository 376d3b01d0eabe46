"""SageMaker Processing entry point (the pipeline's LinkRun step): tag the training's MLflow run with the model
package it was registered as, and leave a record of the link beside the evaluation reports.

Environment: ``PRODLINE_MLFLOW_RUN_ID`` (from evaluation.json's lineage), ``PRODLINE_MODEL_PACKAGE_ARN`` (the
Register step's output), ``MLFLOW_TRACKING_URI`` and ``PRODLINE_LINK_OUTPUT`` (the step's output directory).
"""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Mapping
from pathlib import Path

from workloads.training import tracking


def main(env: Mapping[str, str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    env = os.environ if env is None else env
    run_id, package = env["PRODLINE_MLFLOW_RUN_ID"], env["PRODLINE_MODEL_PACKAGE_ARN"]
    tagged = tracking.tag_package(env, run_id, package)
    record = {"mlflow_run_id": run_id, "model_package_arn": package, "tagged": tagged}
    output = env.get("PRODLINE_LINK_OUTPUT")
    if output:
        Path(output).mkdir(parents=True, exist_ok=True)
        (Path(output) / "link.json").write_text(json.dumps(record, indent=2))
    print(json.dumps(record))
    return 0


if __name__ == "__main__":
    sys.exit(main())
