"""The repository bundle the deployer's build runs: a reproducible zip, named by its content hash.

CodeBuild takes an S3 source as a zip. Like the training bundle (``components/code_bundle.py``), it is
built byte-for-byte the same on every machine (sorted entries, fixed timestamps and modes), so the same
code gives the same object key and a change of code shows in ``pulumi preview`` as a change of the project.
"""

from __future__ import annotations

import io
import os
import zipfile
from collections.abc import Mapping
from pathlib import Path

from components.code_bundle import BUILD_DIR, bundle_hash

ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)  # the earliest time a zip entry can carry


def zip_bytes(files: Mapping[str, bytes]) -> bytes:
    raw = io.BytesIO()
    with zipfile.ZipFile(raw, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name in sorted(files):
            info = zipfile.ZipInfo(name, date_time=ZIP_EPOCH)
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, files[name])
    return raw.getvalue()


def write_zip(files: Mapping[str, bytes], build_dir: Path = BUILD_DIR) -> tuple[Path, str]:
    """Write the bundle once under its hash; return its path and the hash."""
    version = bundle_hash(files)
    path = build_dir / f"deployer-{version}.zip"
    if not path.exists():
        build_dir.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(f".{os.getpid()}.partial")  # one per writer
        partial.write_bytes(zip_bytes(files))
        partial.replace(path)  # atomic: a crash never leaves a truncated bundle under the final name
    return path, version
