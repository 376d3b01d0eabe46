"""Stage-then-commit writes and run manifests: how a partition is replaced all at once, exactly once.

A run writes its files under ``s3://<target-bucket>/_staging/<dataset>/<job>/<run-id>/``, checks that every
input row is accounted for, then commits: copies each staged file to its final, deterministic name
(``<prefix>/dt=YYYY-MM-DD/part-00000.parquet``; an S3 copy replaces an object atomically), deletes final
files the new run no longer has, and writes the run manifest last. The manifest is the commit marker:
readers downstream read only the files a manifest lists, and a partition without a manifest, or with one
whose input fingerprint differs from the input now present, is processed (again) by the next run.

A crash before the commit leaves the final prefixes untouched; the next run clears the staging area and
redoes the partition. A re-run over the same input finds a manifest with the same fingerprint and does
nothing, so each input is reflected exactly once. The Glue jobs run one at a time (max concurrent runs 1),
which is what makes clearing the staging area safe.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import logging
from dataclasses import dataclass

from workloads.etl import lake
from workloads.etl.schema import PARTITION_COLUMN

LOG = logging.getLogger(__name__)
MANIFEST_NAME = "manifest.json"
STAGING_DIR = "_staging"


class AccountingError(RuntimeError):
    """The rows written do not add up to the rows read: nothing is committed."""


@dataclass(frozen=True)
class StagedFile:
    staged_url: str
    final_url: str
    rows: int


def fingerprint(*parts: object) -> str:
    """A stable hash of JSON-serialisable parts: identifies a run's input (and the code version)."""
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


def staging_root(target: str, dataset: str, job: str, staging: str | None = None) -> str:
    """Where a job stages: beside the target's zone, under ``_staging/<dataset>/<job>/``."""
    base = staging or lake.join(lake.bucket_root(target), STAGING_DIR, dataset)
    return lake.join(base, job) + "/"


def partition_prefix(prefix: str, dt: str) -> str:
    return lake.join(prefix, f"{PARTITION_COLUMN}={dt}/")


def manifest_url(manifests: str, dt: str) -> str:
    return lake.join(partition_prefix(manifests, dt), MANIFEST_NAME)


def read_manifest(manifests: str, dt: str) -> dict | None:
    url = manifest_url(manifests, dt)
    return json.loads(lake.read_bytes(url)) if lake.exists(url) else None


def committed_manifests(manifests: str) -> dict[str, dict]:
    """Every committed partition's manifest, by date."""
    found = {}
    for url in lake.list_urls(lake.join(manifests, f"{PARTITION_COLUMN}=")):
        if url.endswith("/" + MANIFEST_NAME):
            manifest = json.loads(lake.read_bytes(url))
            found[manifest["dt"]] = manifest
    return dict(sorted(found.items()))


def clear_staging(root: str) -> None:
    """Delete what a crashed run left under the job's staging area."""
    leftovers = lake.list_urls(root)
    if leftovers:
        LOG.info("clearing %d staged objects left by an earlier run under %s", len(leftovers), root)
        lake.delete(leftovers)


def final_names(staged_urls: list[str], final_prefix: str, rows: list[int]) -> list[StagedFile]:
    """Staged files, sorted, mapped to ``part-00000.parquet``, ``part-00001.parquet``... under the prefix."""
    pairs = sorted(zip(staged_urls, rows))  # noqa: B905 - Glue Python shell is 3.9: no strict=
    return [StagedFile(url, lake.join(final_prefix, f"part-{i:05d}.parquet"), count)
            for i, (url, count) in enumerate(pairs)]


def check_accounting(rows_in: int, outputs: dict[str, list[StagedFile]], accounted_by: tuple[str, ...]) -> None:
    """Raise AccountingError unless ``rows_in`` equals the rows staged for the outputs named."""
    written = {name: sum(f.rows for f in outputs[name]) for name in accounted_by}
    if sum(written.values()) != rows_in:
        detail = " + ".join(f"{count} {name}" for name, count in written.items())
        raise AccountingError(f"rows do not add up: read {rows_in}, wrote {detail} = {sum(written.values())}")


def commit_partition(outputs: dict[str, list[StagedFile]], final_prefixes: dict[str, str],
                     manifests: str, manifest: dict) -> dict:
    """Publish staged files under their final names, drop stale ones, then write the manifest (the marker)."""
    for files in outputs.values():
        for staged in files:
            lake.copy(staged.staged_url, staged.final_url)
    keep = {f.final_url for files in outputs.values() for f in files}
    stale = [url for prefix in final_prefixes.values() for url in lake.list_urls(prefix) if url not in keep]
    lake.delete(stale)
    manifest = {
        **manifest,
        "outputs": {name: [{"url": f.final_url, "rows": f.rows} for f in files] for name, files in outputs.items()},
        "committed_at": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),  # noqa: UP017 - Glue 3.9
    }
    lake.write_bytes(manifest_url(manifests, manifest["dt"]), json.dumps(manifest, indent=2).encode(),
                     "application/json")
    lake.delete(f.staged_url for files in outputs.values() for f in files)
    return manifest
