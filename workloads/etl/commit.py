"""Stage-then-commit writes and run manifests: how a partition is replaced all at once, exactly once.

Layout. A commit's files get names no earlier commit used,
``<prefix>/dt=YYYY-MM-DD/<commit-id>/part-00000.parquet``, where the commit id (a UTC time and a random
suffix) is new for every attempt. The run manifest (``<manifests>/dt=YYYY-MM-DD/manifest.json``) names the
files of exactly one commit per output; it is the one pointer that decides what the partition holds.

Protocol, per partition, in this order:

1. Stage: write the outputs under ``s3://<target-bucket>/_staging/<dataset>/<job>/<run-id>/`` and check that every
   input row is accounted for. A crash here leaves the partition untouched.
2. Mark the committed generation for direct readers: write ``_committed.json`` in each output's partition
   prefix, naming the files of the manifest now in place (or none). Same content as before in the usual case.
3. Publish: copy each staged file to its new name under the commit's own directory. The old files stay, so
   every reader still sees the old state whole.
4. Switch: write the manifest naming the new files, with ``"complete": false``. This single put is the commit;
   before it the old state is the committed one, after it the new one.
5. Finish, each step idempotent and driven by the manifest alone: register the partition (the catalogued
   output's commit directory) in the Glue catalog, rewrite each ``_committed.json`` to name the new files,
   delete every file under the partition prefixes that the manifest does not name (the old generation, and
   leftovers of crashed attempts), then rewrite the manifest with ``"complete": true``.

Recovery. A crash before step 4 leaves the old manifest (or none) and some unnamed files: the next run finds
the input fingerprint differs from the manifest's (or no manifest) and redoes the partition, and its finish
step deletes the crashed attempt's files. A crash during step 5 leaves a manifest with ``"complete": false``:
the planner (``plans``) hands such partitions, and any whose catalog registration is missing or points
elsewhere, or whose prefix holds files the manifest does not name, to ``finish_partition`` before new work.
Staging areas are cleared at the start of every run.

Readers. Readers that go through the manifests (the features job reads the curated manifests) see the old or
the new state whole, curated and quarantine together, since one put switches them. Athena reads the partition
location the catalog names, which is one commit's directory, so it too sees one whole generation. Readers of
a partition prefix (a SageMaker channel that downloads the features prefix, see ``training.data``) never see a
partial file: files only appear under their final names by a server-side copy of a complete staged object
(locally, write aside and rename). They find old and new files side by side from step 3 to step 5, and tell
them apart by ``_committed.json``: Hive, Spark and Athena skip files whose names start with ``_``.

Why stage and copy rather than write the final names directly: Spark writes a directory of files that appear
one by one, and on local disk a file is written in pieces; staging keeps both out of every reader's view.
S3 has no rename, so publishing is a server-side copy to a new key, which appears whole or not at all.

A re-run over the same input finds a manifest with the same fingerprint and does nothing, so each input is
reflected exactly once. The Glue jobs run one at a time (max concurrent runs 1), which is what makes clearing
the staging area and deleting unnamed files safe. A reader that picked up the old manifest just before a
switch may find its files deleted by step 5: it fails loudly (object not found) and never reads a mix.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import logging
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from workloads.etl import lake
from workloads.etl.schema import PARTITION_COLUMN

LOG = logging.getLogger(__name__)
MANIFEST_NAME = "manifest.json"
POINTER_NAME = "_committed.json"
"""In each output partition prefix: the files of the committed generation, relative to the prefix."""
STAGING_DIR = "_staging"


class AccountingError(RuntimeError):
    """The rows written do not add up to the rows read: nothing is committed."""


@dataclass(frozen=True)
class StagedFile:
    staged_url: str
    rows: int


@dataclass(frozen=True)
class Target:
    """Where one job's outputs go: each output's zone prefix, the run manifests, and the catalog's view."""

    prefixes: dict[str, str]
    """Output name (``curated``, ``quarantine``, ``features``) -> zone prefix ending in ``/``."""
    manifests: str
    catalogued: str
    """The output whose commit directory the Glue catalog's partition points at."""
    register: Callable[[str, str], object] | None = None
    """``register(dt, location)`` adds or updates the catalog partition; None when no catalog is used."""

    def partitions(self, dt: str) -> dict[str, str]:
        return {name: partition_prefix(prefix, dt) for name, prefix in self.prefixes.items()}


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
    data = lake.read_bytes_if_exists(manifest_url(manifests, dt))
    return None if data is None else json.loads(data)


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


def staged_files(staged_urls: list[str], rows: list[int]) -> list[StagedFile]:
    """Staged files with their row counts, in name order (the order their final names follow)."""
    pairs = sorted(zip(staged_urls, rows))  # noqa: B905 - Glue Python shell is 3.9: no strict=
    return [StagedFile(url, count) for url, count in pairs]


def check_accounting(rows_in: int, outputs: dict[str, list[StagedFile]], accounted_by: tuple[str, ...]) -> None:
    """Raise AccountingError unless ``rows_in`` equals the rows staged for the outputs named."""
    written = {name: sum(f.rows for f in outputs[name]) for name in accounted_by}
    if sum(written.values()) != rows_in:
        detail = " + ".join(f"{count} {name}" for name, count in written.items())
        raise AccountingError(f"rows do not add up: read {rows_in}, wrote {detail} = {sum(written.values())}")


def new_commit_id() -> str:
    """A directory name no earlier commit or crashed attempt used; sorts by time for people reading a listing."""
    now = _dt.datetime.now(_dt.timezone.utc)  # noqa: UP017 - Glue Python shell is 3.9
    return f"{now:%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:8]}"


def locations(manifest: dict, target: Target) -> dict[str, str]:
    """Each output's directory in this commit (manifests written before commit directories: the partition)."""
    return manifest.get("locations") or target.partitions(manifest["dt"])


def named_files(manifest: dict | None) -> dict[str, list[str]]:
    if manifest is None:
        return {}
    return {name: [f["url"] for f in files] for name, files in manifest["outputs"].items()}


def commit_partition(target: Target, outputs: dict[str, list[StagedFile]], manifest: dict) -> dict:
    """Publish staged files under new names, switch the manifest to them, then finish (see the module doc)."""
    dt = manifest["dt"]
    partitions = target.partitions(dt)
    write_pointers(partitions, dt, named_files(read_manifest(target.manifests, dt)))
    commit_id = new_commit_id()
    directories = {name: lake.join(partitions[name], commit_id) + "/" for name in outputs}
    published = {name: [] for name in outputs}
    for name, files in outputs.items():
        for i, staged in enumerate(files):
            url = lake.join(directories[name], f"part-{i:05d}.parquet")
            lake.copy(staged.staged_url, url)
            published[name].append({"url": url, "rows": staged.rows})
    manifest = {
        **manifest,
        "commit_id": commit_id,
        "locations": directories,
        "outputs": published,
        "committed_at": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),  # noqa: UP017 - Glue 3.9
        "complete": False,
    }
    write_manifest(target.manifests, manifest)
    lake.delete(f.staged_url for files in outputs.values() for f in files)
    return finish_partition(target, manifest)


def finish_partition(target: Target, manifest: dict) -> dict:
    """Bring everything derived from a committed manifest in line with it; safe to repeat after any crash."""
    dt = manifest["dt"]
    partitions = target.partitions(dt)
    if target.register is not None:
        target.register(dt, locations(manifest, target)[target.catalogued])
    named = named_files(manifest)
    write_pointers(partitions, dt, named)
    keep = {url for urls in named.values() for url in urls}
    unnamed = [url for prefix in partitions.values() for url in lake.list_urls(prefix)
               if url not in keep and not _is_pointer(url)]
    if unnamed:
        LOG.info("%s: deleting %d files no manifest names", dt, len(unnamed))
        lake.delete(unnamed)
    if manifest.get("complete") is not True:
        manifest = {**manifest, "complete": True}
        write_manifest(target.manifests, manifest)
    return manifest


def is_finished(target: Target, manifest: dict, listed: dict[str, set[str]],
                registered: dict[str, str] | None) -> bool:
    """Whether a committed partition needs ``finish_partition``.

    ``listed``: output name -> every file now under the output's partition prefix; ``registered``: the catalog's
    partition locations by date, or None when the catalog is not checked.
    """
    if manifest.get("complete") is False:
        return False
    dt = manifest["dt"]
    if registered is not None and registered.get(dt) != locations(manifest, target)[target.catalogued]:
        return False
    named = named_files(manifest)
    for name, prefix in target.partitions(dt).items():
        files = listed.get(name, set())
        pointer = lake.join(prefix, POINTER_NAME)
        if pointer not in files or files - set(named.get(name, [])) - {pointer}:
            return False
    return True


def write_manifest(manifests: str, manifest: dict) -> None:
    lake.write_bytes(manifest_url(manifests, manifest["dt"]), json.dumps(manifest, indent=2).encode(),
                     "application/json")


def write_pointers(partitions: dict[str, str], dt: str, named: dict[str, list[str]]) -> None:
    """``_committed.json`` in each output partition: the committed files, relative to the partition prefix."""
    for name, prefix in partitions.items():
        files = [url[len(prefix):] if url.startswith(prefix) else url for url in named.get(name, [])]
        body = {"dt": dt, "output": name, "files": files}
        lake.write_bytes(lake.join(prefix, POINTER_NAME), json.dumps(body, indent=2).encode(), "application/json")


def _is_pointer(path: str) -> bool:
    return path.rsplit("/", 1)[-1] == POINTER_NAME


def committed_paths(paths: Iterable[str], read: Callable[[str], bytes]) -> list[str]:
    """What a reader of a partition prefix may read: the ``/``-separated file paths (local paths, S3 keys or
    URLs, all listed from one root) less the ``_committed.json`` pointers and the files the nearest pointer above
    them does not name; a file with no pointer above it counts. ``read(path)`` returns a listed pointer's bytes."""
    paths = sorted(paths)
    pointers = {}
    for path in paths:
        if _is_pointer(path):
            directory = path[:-len(POINTER_NAME)]
            pointers[directory] = {directory + name for name in json.loads(read(path))["files"]}

    def committed(path: str) -> bool:
        parts = path.split("/")
        for depth in range(len(parts) - 1, -1, -1):
            directory = "/".join(parts[:depth]) + "/" if depth else ""
            if directory in pointers:
                return path in pointers[directory]
        return True

    return [path for path in paths if not _is_pointer(path) and committed(path)]
