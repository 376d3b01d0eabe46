"""Glue entry script: raw CSV batches -> curated Parquet (valid rows) + quarantine (invalid rows, with reasons).

Arguments (Glue default arguments or a run's overrides):
  --JOB_NAME, --source s3://<raw>/churn/, --target s3://<curated>/churn/,
  --quarantine s3://<curated>/quarantine/churn/, --manifests s3://<curated>/_runs/churn/,
  --dataset churn, --engine pandas|spark,
  optional --dt YYYY-MM-DD (default: every raw partition not yet committed), --staging, --database.
"""

import sys

from workloads.etl.job_main import main_for

REQUIRED = ("JOB_NAME", "source", "target", "quarantine", "manifests", "dataset", "engine")
OPTIONAL = ("dt", "staging", "database")


def main(argv=None) -> int:
    return main_for("validate", REQUIRED, OPTIONAL, argv)


if __name__ == "__main__":
    sys.exit(main())
