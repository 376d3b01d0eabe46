"""What a run must do: the jobs' settings and the partitions whose input changed since their last commit.

Both engines (pandas and Spark) execute the same plans, so which partitions a run touches, and the run
ids that name its staging area, never depend on the engine.
"""

from __future__ import annotations

from dataclasses import dataclass

from workloads.etl import commit, lake, raw_batches
from workloads.etl.schema import DATASET, SCHEMA_VERSION

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


def pending_validation(settings: JobSettings) -> list[PartitionPlan]:
    """Raw partitions (one date, or all) whose committed batches differ from what was last validated."""
    plans = []
    for dt, batches in raw_batches.list_batches(settings.source, settings.dt).items():
        inputs = [{"batch_id": b.batch_id, "url": b.data_url, "rows": b.rows, "sha256": b.sha256,
                   "schema_version": b.schema_version} for b in batches]
        key = commit.fingerprint("validate", VALIDATE_VERSION, SCHEMA_VERSION,
                                 [(i["batch_id"], i["sha256"], i["rows"]) for i in inputs])
        plans.append(PartitionPlan(dt, key, inputs))
    return _not_committed(plans, settings.manifests)


def pending_features(settings: JobSettings) -> list[PartitionPlan]:
    """Committed curated partitions whose features are missing or were built from another curated run."""
    source_manifests = settings.source_manifests or lake.join(
        lake.bucket_root(settings.source), "_runs", settings.dataset) + "/"
    plans = []
    for dt, curated in commit.committed_manifests(source_manifests).items():
        if settings.dt and dt != settings.dt:
            continue
        inputs = curated["outputs"].get("curated", [])
        key = commit.fingerprint("features", FEATURES_VERSION, curated["input_fingerprint"])
        plans.append(PartitionPlan(dt, key, inputs))
    return _not_committed(plans, settings.manifests)


def base_manifest(settings: JobSettings, job: str, plan: PartitionPlan) -> dict:
    return {"dataset": settings.dataset, "job": job, "job_name": settings.job_name, "dt": plan.dt,
            "run_id": plan.run_id, "engine": settings.engine, "schema_version": SCHEMA_VERSION,
            "input_fingerprint": plan.fingerprint, "inputs": plan.inputs}


def _not_committed(plans: list[PartitionPlan], manifests: str) -> list[PartitionPlan]:
    pending = []
    for plan in plans:
        committed = commit.read_manifest(manifests, plan.dt)
        if committed is None or committed.get("input_fingerprint") != plan.fingerprint:
            pending.append(plan)
    return pending
