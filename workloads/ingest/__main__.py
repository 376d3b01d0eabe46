"""``python -m workloads.ingest``: generate a synthetic batch and land it in the raw zone.

Example: python -m workloads.ingest --source s3://<raw-bucket>/churn/ --dt 2026-01-15 --rows 5000 --seed 7
"""

from __future__ import annotations

import argparse
import json
import sys

from workloads.ingest.generator import STRONG_DRIFT, generate_raw, to_csv
from workloads.ingest.uploader import upload_batch


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m workloads.ingest", description=__doc__.splitlines()[0])
    parser.add_argument("--source", required=True, help="raw zone prefix, e.g. s3://<raw-bucket>/churn/")
    parser.add_argument("--dt", required=True, help="partition date YYYY-MM-DD")
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--invalid-fraction", type=float, default=0.0)
    parser.add_argument("--drift", action="store_true", help="shift means, add a new category and more nulls")
    parser.add_argument("--batch-id", help="default: synthetic-<seed>")
    args = parser.parse_args(argv)
    table = generate_raw(args.rows, args.seed, args.invalid_fraction, STRONG_DRIFT if args.drift else None)
    upload = upload_batch(args.source, args.dt, args.batch_id or f"synthetic-{args.seed}", to_csv(table), args.rows)
    print(json.dumps({"data": upload.data_url, "rows": upload.rows, "uploaded": upload.uploaded}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
