"""What a run must do: the jobs' settings, the partitions whose input changed since their last commit, and
the committed partitions whose commit a crash left unfinished.

Both engines (pandas and Spark) execute the same plans, so which partitions a run touches, and the run
ids that name its staging area, never depend on the engine.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from functools import partial

from workloads.etl import catalog, commit, lake, raw_batches, stream_records
from workloads.etl.schema import DATASET, PARTITION_COLUMN, SCHEMA_VERSION

LOG = logging.getLogger(__name__)
ENGINES = ("pandas", "spark")
VALIDATE_VERSION = 1
"""Bump when validation or the curated layout changes: every partition is then redone."""
FEATURES_VERSION = 1
"""Bump when the features change."""


@dataclass(frozen=True)
class JobSettings:
    job_name: str
    source: str
    target: str
    manifests: str
    dataset: str
    engine: str
    dt: str | None = None
    quarantine: str | None = None
    """validate only: where invalid rows go."""
    source_manifests: str | None = None
    """features only: the curated zone's run manifests (default: ``_runs/<dataset>/`` in the source bucket)."""
    staging: str | None = None
    """Override of ``s3://<target-bucket>/_staging/<dataset>/``."""
    database: str | None = None
    """Glue database whose ``<zone>_<dataset>`` table gets each committed partition."""

    @classmethod
    def from_options(cls, options: dict[str, str]) -> JobSettings:
        """Check Glue-style options (names without dashes) and build settings; errors name the argument."""
        engine = options.get("engine", "pandas")
        if engine not in ENGINES:
            raise ValueError(f"--engine must be one of {', '.join(ENGINES)}, got {engine!r}")
        if options["dataset"] != DATASET:
            raise ValueError(f"--dataset must be {DATASET!r} (the schema this code declares), "
                             f"got {options['dataset']!r}")
        for name in ("source", "target", "manifests", "quarantine", "source_manifests", "staging"):
            if options.get(name) and not options[name].endswith("/"):
                raise ValueError(f"--{name} must be a prefix ending in '/', got {options[name]!r}")
        if options.get("dt"):
            raw_batches.check_dt(options["dt"])
        return cls(job_name=options["JOB_NAME"], source=options["source"], target=options["target"],
                   manifests=options["manifests"], dataset=options["dataset"], engine=engine,
                   dt=options.get("dt") or None, quarantine=options.get("quarantine"),
                   source_manifests=options.get("source_manifests"), staging=options.get("staging"),
                   database=options.get("database"))


@dataclass(frozen=True)
class PartitionPlan:
    dt: str
    fingerprint: str
    inputs: list[dict]
    """validate: the raw batches; features: the curated files (url, rows)."""

    @property
    def run_id(self) -> str:
        return f"{self.dt}-{self.fingerprint[:16]}"

    @property
    def rows_in(self) -> int:
        return sum(int(item["rows"]) for item in self.inputs)

    @property
    def file_inputs(self) -> list[dict]:
        """validate: the uploaded CSV batches."""
        return [item for item in self.inputs if not stream_records.is_stream_input(item)]

    @property
    def stream_inputs(self) -> list[dict]:
        """validate: the objects Firehose delivered from the stream."""
        return [item for item in self.inputs if stream_records.is_stream_input(item)]

    @property
    def stream_rows_in(self) -> int:
        return sum(int(item["rows"]) for item in self.stream_inputs)


@dataclass(frozen=True)
class Work:
    pending: list[PartitionPlan] = field(default_factory=list)
    """Partitions to (re)process: no manifest, or one whose input fingerprint differs from the input now."""
    unfinished: list[dict] = field(default_factory=list)
    """Manifests of committed partitions whose finish steps (catalog, pointers, clean-up) must be (re)done."""


def target(settings: JobSettings, job: str) -> commit.Target:
    """The job's outputs, manifests and catalog registration (``validate``: curated + quarantine)."""
    if job == "validate":
        prefixes = {"curated": settings.target, "quarantine": settings.quarantine}
        zone = "curated"
    else:
        prefixes, zone = {"features": settings.target}, "features"
    register = partial(catalog.register, settings, zone) if settings.database else None
    return commit.Target(prefixes=prefixes, manifests=settings.manifests, catalogued=zone, register=register)


def validation_work(settings: JobSettings) -> Work:
    return _split(validation_plans(settings), settings, target(settings, "validate"))


def features_work(settings: JobSettings) -> Work:
    return _split(features_plans(settings), settings, target(settings, "features"))


def finish_unfinished(work: Work, job_target: commit.Target) -> None:
    """Complete what crashed runs left half done, before any new commit."""
    for manifest in work.unfinished:
        LOG.info("finishing the commit of %s left incomplete by an earlier run", manifest["dt"])
        commit.finish_partition(job_target, manifest)


def validation_plans(settings: JobSettings) -> list[PartitionPlan]:
    """Raw partitions (one date, or all) with their current input; ``validation_work`` sorts out which need work.

    A partition's input is its committed CSV batches, then the objects Firehose delivered into it.
    """
    plans = []
    listed = lake.list_urls(raw_batches.listing_prefix(settings.source, settings.dt))  # once for both kinds
    batches_by_dt = raw_batches.batches_in(listed)
    stream_by_dt = stream_records.objects_in(listed)
    for dt in sorted(set(batches_by_dt) | set(stream_by_dt)):
        inputs = [{"batch_id": b.batch_id, "url": b.data_url, "rows": b.rows, "sha256": b.sha256,
                   "schema_version": b.schema_version} for b in batches_by_dt.get(dt, [])]
        inputs += [stream_records.object_input(url) for url in stream_by_dt.get(dt, [])]
        key = commit.fingerprint("validate", VALIDATE_VERSION, SCHEMA_VERSION,
                                 [(i["batch_id"], i["sha256"], i["rows"]) for i in inputs])
        plans.append(PartitionPlan(dt, key, inputs))
    return plans


def features_plans(settings: JobSettings) -> list[PartitionPlan]:
    """Committed curated partitions (one date, or all) with the curated files their features derive from."""
    source_manifests = settings.source_manifests or lake.join(
        lake.bucket_root(settings.source), "_runs", settings.dataset) + "/"
    plans = []
    for dt, curated in commit.committed_manifests(source_manifests).items():
        if settings.dt and dt != settings.dt:
            continue
        inputs = curated["outputs"].get("curated", [])
        key = commit.fingerprint("features", FEATURES_VERSION, curated["input_fingerprint"])
        plans.append(PartitionPlan(dt, key, inputs))
    return plans


def validate_rows_report(plan: PartitionPlan, *, curated: int, quarantined: int, curated_stream: int,
                         quarantined_stream: int, duplicates: int) -> dict:
    """The run's row counts, in total and by origin (uploaded files, the stream).

    ``in`` counts every row read, duplicates included: in = curated + quarantined + duplicates, overall and for
    each origin (files never have duplicates).
    """
    stream_in = plan.stream_rows_in
    return {
        "in": plan.rows_in, "curated": curated, "quarantined": quarantined, "duplicates": duplicates,
        "files": {"in": plan.rows_in - stream_in, "curated": curated - curated_stream,
                  "quarantined": quarantined - quarantined_stream},
        "stream": {"in": stream_in, "curated": curated_stream, "quarantined": quarantined_stream,
                   "duplicates": duplicates},
    }


def base_manifest(settings: JobSettings, job: str, plan: PartitionPlan) -> dict:
    return {"dataset": settings.dataset, "job": job, "job_name": settings.job_name, "dt": plan.dt,
            "run_id": plan.run_id, "engine": settings.engine, "schema_version": SCHEMA_VERSION,
            "input_fingerprint": plan.fingerprint, "inputs": plan.inputs}


def _split(plans: list[PartitionPlan], settings: JobSettings, job_target: commit.Target) -> Work:
    """Plans without a manifest for their input are pending; committed ones whose finish steps a crash cut
    short (manifest not complete, catalog missing or stale, files the manifest does not name) are unfinished."""
    listed = {name: _files_by_dt(prefix) for name, prefix in job_target.prefixes.items()}
    registered = catalog.registered(settings, job_target.catalogued)
    work = Work()
    for plan in plans:
        committed = commit.read_manifest(job_target.manifests, plan.dt)
        if committed is None or committed.get("input_fingerprint") != plan.fingerprint:
            work.pending.append(plan)
        elif not commit.is_finished(job_target, committed,
                                    {name: files.get(plan.dt, set()) for name, files in listed.items()},
                                    registered):
            work.unfinished.append(committed)
    return work


def _files_by_dt(prefix: str) -> dict[str, set[str]]:
    """Every file under the zone's ``dt=`` partitions, grouped by date (one listing for the whole zone)."""
    found: dict[str, set[str]] = {}
    start = lake.join(prefix, f"{PARTITION_COLUMN}=")
    for url in lake.list_urls(start):
        dt = url[len(start):].split("/", 1)[0]
        found.setdefault(dt, set()).add(url)
    return found
