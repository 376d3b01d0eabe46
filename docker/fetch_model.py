"""Unpack the model into SM_MODEL_DIR before the server starts, as SageMaker hosting does for its containers.

Runs as the pod's init container (``entrypoint.sh fetch-model``) with the pod's IRSA credentials, in the
image's virtualenv, where the ``workloads`` package is installed (its URL parser is the one every layer uses).
It reads one object, ``MODEL_S3_URI`` (a ``model.tar.gz``), and refuses archive members that would land outside
the model directory. Extraction goes to a staging directory first and is moved into place at the end, so
a retried init container never serves a half-unpacked model.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from workloads.archives import extract_tar
from workloads.s3_uri import split_s3

DEFAULT_MODEL_DIR = "/opt/ml/model"


def unpack(archive: Path, model_dir: Path) -> list[str]:
    """Replace model_dir's contents with the archive's; return the member names."""
    staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=model_dir))
    try:
        # tarfile's "data" filter and stricter: absolute paths, "..", links out of the directory and device
        # files are refused before anything is written; a Python without the filter is refused too.
        names = extract_tar(archive, staging)
        for old in model_dir.iterdir():
            if old == staging:
                continue
            if old.is_dir() and not old.is_symlink():
                shutil.rmtree(old)
            else:
                old.unlink()
        for item in staging.iterdir():
            item.rename(model_dir / item.name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return names


def fetch(url: str, model_dir: Path, s3_client) -> list[str]:
    """Download the archive to a temporary file and unpack it into model_dir."""
    bucket, key = split_s3(url, object_key=True)
    model_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as scratch:
        archive = Path(scratch) / "model.tar.gz"
        s3_client.download_file(bucket, key, str(archive))
        return unpack(archive, model_dir)


def main(argv: Sequence[str] | None = None) -> int:
    """Settings from argv (``URL [DIR]``) or the environment (MODEL_S3_URI, SM_MODEL_DIR)."""
    args = list(sys.argv[1:] if argv is None else argv)
    url = args[0] if args else os.environ.get("MODEL_S3_URI", "")
    model_dir = Path(args[1] if len(args) > 1 else os.environ.get("SM_MODEL_DIR", DEFAULT_MODEL_DIR))
    try:
        split_s3(url, object_key=True)
    except ValueError:
        print(f"fetch-model: MODEL_S3_URI must be s3://bucket/key of one object, got {url!r}", file=sys.stderr)
        return 2
    import boto3

    names = fetch(url, model_dir, boto3.client("s3"))
    print(f"fetch-model: unpacked {len(names)} entries from {url} into {model_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
