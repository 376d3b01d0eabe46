"""Glue entry script of the drift monitor (``workloads/monitoring/monitor.py``).

Arguments (Glue default arguments or a run's overrides): --JOB_NAME, --capture, --endpoint, --baseline, --report;
optional --variant, --dataset, --hours, --end, --min-rows, --no-publish true.
"""

import sys

from workloads.monitoring.glue_entry import run_from_glue
from workloads.monitoring.monitor import main

REQUIRED = ("capture", "endpoint", "baseline", "report")
OPTIONAL = ("variant", "dataset", "hours", "end", "min-rows")

if __name__ == "__main__":
    sys.exit(run_from_glue(main, sys.argv, REQUIRED, OPTIONAL))
