"""What the runtimes share: S3 transfer against the emulator, and running a "container" as a process.

A local container is a process (started warm: ``prodline.sandbox.warm_start``) whose filesystem root for
SageMaker/Glue paths (``/opt/ml``, ``/tmp``) is a directory of the sandbox: absolute container paths in a
command and its environment are rewritten under that root, so the workload code and the job definition stay
exactly what AWS runs.
"""

from __future__ import annotations

import os
import re
import sys
import tarfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from prodline.sandbox import warm_start
from prodline.sandbox.zygote import THREAD_VARIABLES
from workloads.archives import extract_tar
from workloads.s3_uri import split_s3

CONTAINER_PREFIXES = ("/opt/ml/", "/tmp/")
ONE_THREAD = dict.fromkeys(THREAD_VARIABLES, "1")
"""A local container's BLAS/OpenMP threads, unless its definition or the caller's environment sets them: in AWS a
job has its instance's cores to itself; here every container, model server, the emulator and the demo share a
laptop's few, and OpenMP threads that spin-wait for a busy core turn a 0.2 s tree fit into seconds."""


def download_prefix(s3, url: str, target: Path) -> list[Path]:
    """Download every object under an s3:// prefix (or one object) into ``target``, keeping relative paths."""
    bucket, prefix = split_s3(url)
    target.mkdir(parents=True, exist_ok=True)
    files = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for item in page.get("Contents", []):
            relative = item["Key"][len(prefix):].lstrip("/") or Path(item["Key"]).name
            if relative.endswith("/"):
                continue
            path = target / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            s3.download_file(bucket, item["Key"], str(path))
            files.append(path)
    return files


def upload_tree(s3, source: Path, url: str, kms_key: str | None = None) -> list[str]:
    """Upload a directory's files under an s3:// prefix; returns the keys written."""
    bucket, prefix = split_s3(url)
    extra = {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": kms_key} if kms_key else {}
    keys = []
    for path in sorted(p for p in source.rglob("*") if p.is_file()):
        key = f"{prefix.rstrip('/')}/{path.relative_to(source)}" if prefix else str(path.relative_to(source))
        s3.upload_file(str(path), bucket, key, ExtraArgs=extra or None)
        keys.append(key)
    return keys


def tar_directory(source: Path, target: Path) -> Path:
    """model.tar.gz as SageMaker writes it: the model directory's contents at the archive root."""
    with tarfile.open(target, "w:gz") as tar:
        for path in sorted(source.rglob("*")):
            tar.add(path, arcname=str(path.relative_to(source)), recursive=False)
    return target


def extract(archive: Path, target: Path) -> Path:
    extract_tar(archive, target)
    return target


_CONTAINER_PATH = re.compile(r"(?<![\w./-])(" + "|".join(re.escape(p) for p in CONTAINER_PREFIXES) + ")")


def rooted(value: str, root: Path | None) -> str:
    """Rewrite absolute container paths inside a string to live under ``root`` (one pass: never twice)."""
    if root is None:
        return value
    return _CONTAINER_PATH.sub(lambda match: f"{root}{match.group(1)}", value)


@dataclass(frozen=True)
class ProcessResult:
    returncode: int
    log: Path


def run_container(command: Sequence[str], *, root: Path | None, env: Mapping[str, str], log: Path,
                  cwd: Path | None = None, timeout: float | None = None) -> ProcessResult:
    """Run a command as a local container: container paths rooted (when ``root`` is given), the project's
    Python first on PATH, output logged. Only strings of the job's definition belong in ``command``/``env``.
    A Python command starts from the warm interpreter (``prodline.sandbox.warm_start``), with one BLAS/OpenMP
    thread unless the job or the caller says otherwise (``ONE_THREAD``)."""
    full_env = {**ONE_THREAD, **os.environ, **{k: rooted(v, root) for k, v in env.items()}}
    full_env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{full_env.get('PATH', '')}"
    log.parent.mkdir(parents=True, exist_ok=True)
    returncode = warm_start.run([rooted(part, root) for part in command], env=full_env, cwd=cwd, stdout=log,
                                timeout=timeout)
    return ProcessResult(returncode, log)


def tail(log: Path, lines: int = 15) -> str:
    try:
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        return ""
