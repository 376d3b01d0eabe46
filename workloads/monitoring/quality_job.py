"""Glue entry script of the model-quality job (``workloads/monitoring/quality.py``).

Arguments (Glue default arguments or a run's overrides): --JOB_NAME, --capture, --labels, --endpoint, --report,
--quarantine; optional --hours, --end, --lookback-hours, --min-labels, --min-coverage, --no-publish true.
"""

import sys

from workloads.monitoring.glue_entry import run_from_glue
from workloads.monitoring.quality import main

REQUIRED = ("capture", "labels", "endpoint", "report", "quarantine")
OPTIONAL = ("hours", "end", "lookback-hours", "min-labels", "min-coverage")

if __name__ == "__main__":
    sys.exit(run_from_glue(main, sys.argv, REQUIRED, OPTIONAL))
