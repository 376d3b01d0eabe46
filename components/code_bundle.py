"""Deterministic code bundles for SageMaker's script mode.

SageMaker's framework containers fetch ``sagemaker_submit_directory`` as a ``.tar.gz``; Pulumi archives
upload as zip. So the bundle is built here, byte-for-byte reproducible (sorted entries, zero mtimes,
fixed owners), named by its content hash: the same code gives the same key on every machine, and a
change of code is a change of the pipeline definition that ``pulumi preview`` shows.

The same files are also written as a zip, which Python imports from directly (``PYTHONPATH=.../sourcedir.zip``):
the evaluation step runs ``python3 -m workloads.training.evaluate`` on it with nothing to unpack first.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import tarfile
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

BUILD_DIR = Path(__file__).resolve().parent.parent / "build" / "bundles"


def bundle_hash(files: Mapping[str, bytes]) -> str:
    digest = hashlib.sha256()
    for name in sorted(files):
        digest.update(name.encode() + b"\0" + hashlib.sha256(files[name]).digest())
    return digest.hexdigest()[:12]


def tar_gz(files: Mapping[str, bytes]) -> bytes:
    """A reproducible .tar.gz of archive-name -> content."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name in sorted(files):
            info = tarfile.TarInfo(name)
            info.size = len(files[name])
            info.mode = 0o644
            info.mtime = 0
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            tar.addfile(info, io.BytesIO(files[name]))
    return gzip.compress(raw.getvalue(), mtime=0)


def zip_bytes(files: Mapping[str, bytes]) -> bytes:
    """A reproducible .zip of archive-name -> content (sorted entries, one fixed timestamp)."""
    raw = io.BytesIO()
    with zipfile.ZipFile(raw, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name in sorted(files):
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, files[name])
    return raw.getvalue()


@dataclass(frozen=True)
class Bundle:
    """The bundle's two forms on disk, named by the content hash ``version``."""

    tar_gz: Path
    zip: Path
    version: str


def write_bundle(files: Mapping[str, bytes], build_dir: Path = BUILD_DIR) -> Bundle:
    """Write the bundle (``.tar.gz`` and ``.zip``) once under its hash."""
    version = bundle_hash(files)
    paths = {}
    for suffix, build in ((".tar.gz", tar_gz), (".zip", zip_bytes)):
        path = paths[suffix] = build_dir / f"sourcedir-{version}{suffix}"
        if not path.exists():
            build_dir.mkdir(parents=True, exist_ok=True)
            partial = path.with_name(path.name + ".partial")
            partial.write_bytes(build(files))
            partial.replace(path)  # atomic: a crash never leaves a truncated bundle under the final name
    return Bundle(paths[".tar.gz"], paths[".zip"], version)


def read_tree(root: Path, relative_paths: list[str]) -> dict[str, bytes]:
    return {rel: (root / rel).read_bytes() for rel in relative_paths}
