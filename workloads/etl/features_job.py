"""Glue entry script: committed curated partitions -> features Parquet (schema.FEATURES_COLUMNS).

Arguments: --JOB_NAME, --source s3://<curated>/churn/, --target s3://<features>/churn/,
  --manifests s3://<features>/_runs/churn/, --dataset churn, --engine pandas|spark,
  optional --dt, --source_manifests (default s3://<curated>/_runs/churn/), --staging, --database.
"""

import sys

from workloads.etl.job_main import main_for

REQUIRED = ("JOB_NAME", "source", "target", "manifests", "dataset", "engine")
OPTIONAL = ("dt", "source_manifests", "staging", "database")


def main(argv=None) -> int:
    return main_for("features", REQUIRED, OPTIONAL, argv)


if __name__ == "__main__":
    sys.exit(main())
