"""The data manifest: exactly which features partitions a training run read, so the same data can be found
and read again later, and which ETL run wrote each of them.

A SageMaker channel is a copy of an S3 prefix; the manifest ties that copy back to the lake. Per committed
file (``workloads.etl.commit``'s ``_committed.json`` decides, as for training itself): its S3 key, the
object's VersionId (the lake is versioned, so that version stays readable after the partition is replaced)
and ETag, its size, rows and sha256. Per partition: its rows, and the ETL run manifest that committed it
(job, run id, commit id, when), with whether that manifest names exactly these files. One content hash over
every file's key and sha256 names the whole training set: two runs with the same hash read the same rows.

Environment (set by the pipeline definition): ``PRODLINE_TRAIN_DATA_URL`` (the channel's S3 prefix),
``PRODLINE_ETL_MANIFESTS`` (the features job's run manifests), ``PRODLINE_DATA_MANIFESTS`` (where the manifest
is written, one object per training job). Without them (a local run) the manifest lists local files only.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from pathlib import Path

import pyarrow.parquet as pq

from workloads.etl import lake
from workloads.etl.commit import MANIFEST_NAME
from workloads.etl.schema import PARTITION_COLUMN
from workloads.s3_uri import split_s3

MANIFEST_FILE = "data_manifest.json"
FORMAT_VERSION = 1

Head = Callable[[str], Mapping[str, str]]
"""s3:// URL -> the object's ``VersionId`` and ``ETag`` (HeadObject)."""


def file_entry(path: Path, relative: str, data_url: str | None, head: Head | None) -> dict:
    """One file of the channel: where it is in the lake, which version, how many rows, its content hash."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    entry = {"path": relative, "bytes": path.stat().st_size, "rows": pq.ParquetFile(path).metadata.num_rows,
             "sha256": digest.hexdigest()}
    if data_url:
        url = lake.join(data_url, relative)
        entry["s3_uri"] = url
        if head is not None:
            found = head(url)
            entry["version_id"] = found.get("VersionId") or None
            entry["etag"] = (found.get("ETag") or "").strip('"') or None
    return entry


def partition_of(relative: str) -> str:
    """``dt=YYYY-MM-DD`` of a file's path under the channel ("" for a file outside any partition)."""
    return next((part for part in relative.split("/") if part.startswith(f"{PARTITION_COLUMN}=")), "")


def etl_run(etl_manifests: str, partition: str, urls: set[str],
            read: Callable[[str], bytes | None] = lake.read_bytes_if_exists) -> dict | None:
    """The run manifest of the ETL run that committed ``partition``, summarised, with whether it names exactly
    the files the training run read (False means the partition was replaced while training read it)."""
    url = lake.join(etl_manifests, partition, MANIFEST_NAME)
    data = read(url)
    if data is None:
        return None
    manifest = json.loads(data)
    named = {f["url"] for files in manifest.get("outputs", {}).values() for f in files}
    return {"manifest": url, "job": manifest.get("job"), "job_name": manifest.get("job_name"),
            "run_id": manifest.get("run_id"), "commit_id": manifest.get("commit_id"),
            "committed_at": manifest.get("committed_at"), "rows": manifest.get("rows"),
            "files_match": named == urls}


def build_manifest(files: list[Path], channel: Path, *, data_url: str | None = None,
                   etl_manifests: str | None = None, head: Head | None = None,
                   read: Callable[[str], bytes | None] = lake.read_bytes_if_exists) -> dict:
    """The manifest of the committed files ``files`` of a channel directory ``channel``."""
    entries = [file_entry(path, path.relative_to(channel).as_posix(), data_url, head) for path in files]
    partitions: dict[str, dict] = {}
    for entry in entries:
        part = partitions.setdefault(partition_of(entry["path"]), {"files": 0, "rows": 0, "urls": set()})
        part["files"] += 1
        part["rows"] += entry["rows"]
        part["urls"].add(entry.get("s3_uri", entry["path"]))
    summary = []
    for name, part in sorted(partitions.items()):
        run = etl_run(etl_manifests, name, part["urls"], read) if etl_manifests and name else None
        summary.append({"partition": name, "files": part["files"], "rows": part["rows"], "etl_run": run})
    content = hashlib.sha256("".join(f"{e.get('s3_uri', e['path'])} {e['sha256']}\n"
                                     for e in sorted(entries, key=lambda e: e["path"])).encode()).hexdigest()
    return {"format": FORMAT_VERSION, "source": data_url or str(channel), "rows": sum(e["rows"] for e in entries),
            "sha256": content, "partitions": summary, "files": entries}


def s3_head(url: str) -> Mapping[str, str]:
    bucket, key = split_s3(url)
    return lake.s3_client().head_object(Bucket=bucket, Key=key)


def write_manifest(manifest: dict, model_dir: Path, manifests_url: str | None, job_name: str) -> str:
    """Beside the model (inside model.tar.gz) and, when the pipeline names a place, in the lake next to the
    model artifacts; returns where it can be read later (the lake URL, or the local file)."""
    body = json.dumps(manifest, indent=2, sort_keys=True)
    model_dir.mkdir(parents=True, exist_ok=True)
    (model_dir / MANIFEST_FILE).write_text(body)
    if not manifests_url:
        return str(model_dir / MANIFEST_FILE)
    url = lake.join(manifests_url, f"{job_name}.json")
    lake.write_bytes(url, body.encode(), content_type="application/json")
    return url
