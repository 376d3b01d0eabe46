"""The one place a Glue entry script reads argv: parse, run the chosen engine, print a summary.

``validate_job.py`` and ``features_job.py`` are thin scripts over ``run_job`` so that Glue's
ScriptLocation stays a file while the logic lives in the importable package shipped as --extra-py-files.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Sequence

from workloads.etl import pandas_engine
from workloads.etl.glue_args import resolve_options
from workloads.etl.plans import JobSettings

JOBS = ("validate", "features")


def run_job(job: str, argv: Sequence[str], required: Sequence[str], optional: Sequence[str]) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = JobSettings.from_options(resolve_options(argv, required, optional))
    if settings.engine == "spark":
        from workloads.etl import spark_engine

        with spark_engine.glue_or_local_session(settings.job_name, argv) as spark:
            manifests = spark_engine.run(job, settings, spark)
    else:
        run = pandas_engine.run_validation if job == "validate" else pandas_engine.run_features
        manifests = run(settings)
    print(json.dumps({"job": job, "committed": [{"dt": m["dt"], "rows": m["rows"]} for m in manifests]}))
    return 0


def main_for(job: str, required: Sequence[str], optional: Sequence[str], argv: Sequence[str] | None = None) -> int:
    return run_job(job, list(sys.argv if argv is None else argv), required, optional)
