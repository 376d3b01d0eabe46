"""The jobs on one machine with pandas and Arrow: what the Glue Python shell job runs.

Partitions whose commit a crash left unfinished are finished first. Then each pending partition is read
whole, split by the shared validation functions, staged, accounted for and committed (see ``commit``).
Two partitions are in flight at most: one is written and committed while the next is read and checked
(``pipelined``), which keeps two cores busy and the memory to about two partitions' worth.
Reads and writes go through ``lake``, so S3 and local disk behave alike.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import TypeVar

import pandas as pd
import pyarrow as pa

from workloads.etl import commit, lake, parquet_io, plans, raw_batches, stream_records, validation
from workloads.etl.features import add_features
from workloads.etl.plans import JobSettings, PartitionPlan
from workloads.etl.schema import CURATED_COLUMNS, FEATURES_COLUMNS, RAW_COLUMNS

LOG = logging.getLogger(__name__)
T, P, R = TypeVar("T"), TypeVar("P"), TypeVar("R")
QUARANTINE_EXTRA = (raw_batches.SOURCE_COLUMN, validation.REASON_COLUMN)


def run_validation(settings: JobSettings) -> list[dict]:
    """Validate every pending raw partition; returns the manifests committed (empty when nothing changed)."""
    root = commit.staging_root(settings.target, settings.dataset, "validate", settings.staging)
    commit.clear_staging(root)
    target = plans.target(settings, "validate")
    work = plans.validation_work(settings)
    plans.finish_unfinished(work, target)
    return pipelined(work.pending, check_partition,
                     lambda checked: commit_checked(settings, target, checked, root))


@dataclass(frozen=True)
class CheckedPartition:
    """A partition read and split, as Arrow tables ready to write, with what its manifest reports."""

    plan: PartitionPlan
    curated: pa.Table
    quarantine: pa.Table
    rows: dict
    failures_by_column: dict[str, int]


def check_partition(plan: PartitionPlan) -> CheckedPartition:
    raw, duplicates = read_raw(plan)
    checked = validation.validate_rows(raw)
    del raw  # the text columns the outputs do not share are freed before the next partition is read
    rows = plans.validate_rows_report(
        plan, curated=len(checked.curated), quarantined=len(checked.quarantined),
        curated_stream=stream_records.count_stream_rows(checked.curated),
        quarantined_stream=stream_records.count_stream_rows(checked.quarantined), duplicates=duplicates)
    return CheckedPartition(
        plan=plan, curated=parquet_io.to_table(checked.curated, CURATED_COLUMNS),
        quarantine=parquet_io.to_table(checked.quarantined, parquet_io.quarantine_columns(RAW_COLUMNS),
                                       QUARANTINE_EXTRA),
        rows=rows, failures_by_column=validation.reason_counts(checked.quarantined))


def commit_checked(settings: JobSettings, target: commit.Target, checked: CheckedPartition, staging: str) -> dict:
    plan = checked.plan
    run_dir = lake.join(staging, plan.run_id)
    outputs = {"curated": stage(lake.join(run_dir, "curated"), checked.curated),
               "quarantine": stage(lake.join(run_dir, "quarantine"), checked.quarantine)}
    commit.check_accounting(plan.rows_in - checked.rows["duplicates"], outputs, ("curated", "quarantine"))
    manifest = plans.base_manifest(settings, "validate", plan)
    manifest["rows"] = checked.rows
    manifest["failures_by_column"] = checked.failures_by_column
    committed = commit.commit_partition(target, outputs, manifest)
    LOG.info("validated %s: %s", plan.dt, manifest["rows"])
    return committed


def pipelined(items: list[T], prepare: Callable[[T], P], finish: Callable[[P], R]) -> list[R]:
    """``[finish(prepare(item)) for item in items]``, with one item's ``finish`` (Parquet encoding, the commit's
    copies) on a second thread while the next item is prepared, so both cores work.

    Items finish one at a time and in order, and a failure surfaces as it would in the plain loop: an earlier
    item's failure is raised before a later item is finished; an item prepared but not finished leaves nothing
    behind, since preparing only reads.
    """
    if validation.THREADS < 2:  # one core: a second partition in memory would buy nothing
        return [finish(prepare(item)) for item in items]
    results: list[R] = []
    with ThreadPoolExecutor(max_workers=1) as pool:
        finishing: Future[R] | None = None
        try:
            for item in items:
                prepared = prepare(item)
                if finishing is not None:
                    done, finishing = finishing, None
                    results.append(done.result())
                finishing = pool.submit(finish, prepared)
            if finishing is not None:
                done, finishing = finishing, None
                results.append(done.result())
        finally:
            if finishing is not None:  # prepare failed: the item before it finishes (or fails) first
                finishing.result()
    return results


def read_raw(plan: PartitionPlan) -> tuple[pd.DataFrame, int]:
    """The partition's rows as text: CSV batches first, then stream events (de-duplicated); and duplicates dropped."""
    frames = [raw_batches.read_batch(raw_batches.RawBatch(
        dt=plan.dt, batch_id=i["batch_id"], data_url=i["url"], rows=i["rows"], sha256=i["sha256"],
        schema_version=i["schema_version"])) for i in plan.file_inputs]
    duplicates = 0
    events = plan.stream_inputs
    if events:
        stream_frame, duplicates = stream_records.read_objects(events, raw_batches.SOURCE_COLUMN)
        frames.append(stream_frame)
    raw = pd.concat(frames, ignore_index=True) if frames else _empty_raw()
    if validation.MALFORMED_COLUMN in raw.columns:
        raw[validation.MALFORMED_COLUMN] = raw[validation.MALFORMED_COLUMN].fillna("")
    return raw, duplicates


def run_features(settings: JobSettings) -> list[dict]:
    """Build features for every committed curated partition that changed; returns the manifests committed."""
    root = commit.staging_root(settings.target, settings.dataset, "features", settings.staging)
    commit.clear_staging(root)
    target = plans.target(settings, "features")
    work = plans.features_work(settings)
    plans.finish_unfinished(work, target)
    return [features_partition(settings, target, plan, root) for plan in work.pending]


def features_partition(settings: JobSettings, target: commit.Target, plan: PartitionPlan, staging: str) -> dict:
    urls = [item["url"] for item in plan.inputs]
    curated = parquet_io.read_parquet(urls).to_pandas() if urls else _empty(CURATED_COLUMNS)
    table = parquet_io.to_table(add_features(curated), FEATURES_COLUMNS)
    outputs = {"features": stage(lake.join(staging, plan.run_id, "features"), table)}
    commit.check_accounting(plan.rows_in, outputs, ("features",))
    manifest = plans.base_manifest(settings, "features", plan)
    manifest["rows"] = {"in": plan.rows_in, "features": table.num_rows}
    committed = commit.commit_partition(target, outputs, manifest)
    LOG.info("features %s: %d rows", plan.dt, table.num_rows)
    return committed


def stage(staging_dir: str, table: pa.Table) -> list[commit.StagedFile]:
    """Write the table as one staged Parquet file (none when it has no rows)."""
    if table.num_rows == 0:
        return []
    url = lake.join(staging_dir, "part-00000.parquet")
    parquet_io.write_parquet(url, table)
    return commit.staged_files([url], [table.num_rows])


def _empty(columns) -> pd.DataFrame:
    return parquet_io.to_table(pd.DataFrame(), columns).to_pandas()


def _empty_raw() -> pd.DataFrame:
    return pd.DataFrame({c.name: pd.Series([], dtype=pd.ArrowDtype(pa.string())) for c in RAW_COLUMNS})
