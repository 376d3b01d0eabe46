"""The jobs on Spark: what the Glue Spark (glueetl) job runs, with the same functions as the pandas engine.

Spark reads the pending partitions' files, and ``mapInPandas`` applies ``validation.validate_rows`` and
``features.add_features`` to each Arrow batch, so both engines decide row by row in the same code. Spark
writes each output once into the staging area; the driver then reads back how many rows each staged file
holds, checks the accounting per partition and commits exactly as the pandas engine does (``commit``: new
names, one manifest switch, then catalog, pointers and clean-up), after finishing any commit a crash cut short.

Reading CSV through Spark differs in one way: a line with too few fields reads as nulls (so its required
fields are reported missing) and extra fields are dropped, where the pandas reader reports the line as
malformed. Either way the row is counted and quarantined, never lost.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import pandas as pd
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from workloads.etl import commit, lake, plans, raw_batches, stream_records, validation
from workloads.etl.features import add_features
from workloads.etl.plans import JobSettings, PartitionPlan
from workloads.etl.schema import CURATED_COLUMNS, FEATURES_COLUMNS, PARTITION_COLUMN, RAW_COLUMNS, Column
from workloads.s3_uri import is_s3

LOG = logging.getLogger(__name__)
SPARK_TYPES = {"string": T.StringType(), "int": T.LongType(), "float": T.DoubleType()}
SOURCE, REASON = raw_batches.SOURCE_COLUMN, validation.REASON_COLUMN
TEXT_COLUMNS = tuple(Column(c.name, "string") for c in RAW_COLUMNS)
"""The raw columns as read, before validation types them."""
_DT_IN_PATH = rf"{PARTITION_COLUMN}=(\d{{4}}-\d{{2}}-\d{{2}})/"


@contextmanager
def glue_or_local_session(job_name: str, argv: Sequence[str]) -> Iterator[SparkSession]:
    """Glue's session with Job init/commit inside Glue; otherwise the active or a new local session."""
    try:
        from awsglue.context import GlueContext
        from awsglue.job import Job
        from awsglue.utils import getResolvedOptions
        from pyspark.context import SparkContext
    except ImportError:
        yield SparkSession.builder.appName(job_name).getOrCreate()
        return
    glue = GlueContext(SparkContext.getOrCreate())
    job = Job(glue)
    job.init(job_name, getResolvedOptions(list(argv), ["JOB_NAME"]))
    yield glue.spark_session
    job.commit()


def run(job: str, settings: JobSettings, spark: SparkSession) -> list[dict]:
    return run_validation(settings, spark) if job == "validate" else run_features(settings, spark)


def spark_schema(columns: tuple[Column, ...], extra: Sequence[str] = ()) -> T.StructType:
    fields = [T.StructField(c.name, SPARK_TYPES[c.dtype], True) for c in columns]
    return T.StructType(fields + [T.StructField(name, T.StringType(), True) for name in extra])


def run_validation(settings: JobSettings, spark: SparkSession) -> list[dict]:
    root = commit.staging_root(settings.target, settings.dataset, "validate", settings.staging)
    commit.clear_staging(root)
    target = plans.target(settings, "validate")
    work = plans.validation_work(settings)
    plans.finish_unfinished(work, target)
    pending = work.pending
    if not pending:
        return []
    files = [dataclasses.replace(plan, inputs=plan.file_inputs) for plan in pending]
    urls = [item["url"] for plan in files for item in plan.inputs]
    text = spark_schema(TEXT_COLUMNS)
    raw = spark.createDataFrame([], spark_schema(TEXT_COLUMNS, [SOURCE, PARTITION_COLUMN]))
    if urls:
        _verify_checksums(spark, files)
        raw = (spark.read.schema(text).option("header", True).option("enforceSchema", False)
               .option("mode", "PERMISSIVE").csv([_spark_path(u) for u in urls])
               .withColumn(SOURCE, F.regexp_extract(F.input_file_name(), r"([^/]+)\.csv$", 1))
               .withColumn(PARTITION_COLUMN, F.regexp_extract(F.input_file_name(), _DT_IN_PATH, 1)))
    events, duplicates = _stream_events(spark, pending)
    raw = raw.unionByName(events).persist()
    _verify_row_counts(raw, files)

    curated_schema = spark_schema(CURATED_COLUMNS, [PARTITION_COLUMN])
    quarantine_schema = spark_schema(TEXT_COLUMNS, [SOURCE, PARTITION_COLUMN, REASON])

    def curated_batches(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        for batch in batches:
            yield validation.validate_rows(_blank_nulls(batch)).curated[curated_schema.fieldNames()]

    def quarantined_batches(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        for batch in batches:
            yield validation.validate_rows(_blank_nulls(batch)).quarantined[quarantine_schema.fieldNames()]

    run_dir = lake.join(root, _combined_id(pending))
    staged = {
        "curated": _write(raw.mapInPandas(curated_batches, curated_schema), lake.join(run_dir, "curated")),
        "quarantine": _write(raw.mapInPandas(quarantined_batches, quarantine_schema),
                             lake.join(run_dir, "quarantine")),
    }
    committed = []
    for plan in pending:
        outputs = {name: _staged_files(staged[name], plan.dt) for name in ("curated", "quarantine")}
        commit.check_accounting(plan.rows_in - duplicates.get(plan.dt, 0), outputs, ("curated", "quarantine"))
        manifest = plans.base_manifest(settings, "validate", plan)
        rows = {name: sum(f.rows for f in files) for name, files in outputs.items()}
        # Curated files hold no source column: the stream's curated rows are what it read less the rest.
        stream_in = plan.stream_rows_in
        quarantined_stream = _stream_quarantined(spark, staged["quarantine"], plan.dt)
        dropped = duplicates.get(plan.dt, 0)
        manifest["rows"] = plans.validate_rows_report(
            plan, curated=rows["curated"], quarantined=rows["quarantine"],
            curated_stream=stream_in - dropped - quarantined_stream, quarantined_stream=quarantined_stream,
            duplicates=dropped)
        manifest["failures_by_column"] = _failure_counts(spark, staged["quarantine"], plan.dt)
        committed.append(commit.commit_partition(target, outputs, manifest))
    raw.unpersist()
    commit.clear_staging(run_dir + "/")
    return committed


def run_features(settings: JobSettings, spark: SparkSession) -> list[dict]:
    root = commit.staging_root(settings.target, settings.dataset, "features", settings.staging)
    commit.clear_staging(root)
    target = plans.target(settings, "features")
    work = plans.features_work(settings)
    plans.finish_unfinished(work, target)
    pending = work.pending
    urls = [item["url"] for plan in pending for item in plan.inputs]
    run_dir = lake.join(root, _combined_id(pending)) if pending else ""
    staged: dict[str, dict[str, int]] = {}
    if urls:
        curated = (spark.read.schema(spark_schema(CURATED_COLUMNS)).parquet(*[_spark_path(u) for u in urls])
                   .withColumn(PARTITION_COLUMN, F.regexp_extract(F.input_file_name(), _DT_IN_PATH, 1)))

        features_schema = spark_schema(FEATURES_COLUMNS, [PARTITION_COLUMN])

        def feature_batches(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
            for batch in batches:
                yield add_features(batch)[features_schema.fieldNames()]

        staged = _write(curated.mapInPandas(feature_batches, features_schema), lake.join(run_dir, "features"))
    committed = []
    for plan in pending:
        outputs = {"features": _staged_files(staged, plan.dt)}
        commit.check_accounting(plan.rows_in, outputs, ("features",))
        manifest = plans.base_manifest(settings, "features", plan)
        manifest["rows"] = {"in": plan.rows_in, "features": sum(f.rows for f in outputs["features"])}
        committed.append(commit.commit_partition(target, outputs, manifest))
    if run_dir:
        commit.clear_staging(run_dir + "/")
    return committed


def _write(frame: DataFrame, directory: str) -> dict[str, int]:
    """Write partitioned by date into ``directory``; returns rows per staged file, read back from the files."""
    frame.repartition(PARTITION_COLUMN).write.mode("overwrite").partitionBy(PARTITION_COLUMN).parquet(
        _spark_path(directory))
    spark = frame.sparkSession
    written = spark.read.parquet(_spark_path(directory)).groupBy(F.input_file_name().alias("file")).count()
    rows = {_tail(row["file"]): row["count"] for row in written.collect()}
    return {url: rows[_tail(url)] for url in lake.list_urls(lake.join(directory, ""))
            if url.endswith(".parquet") and _tail(url) in rows}


def _staged_files(staged: dict[str, int], dt: str) -> list[commit.StagedFile]:
    marker = f"/{PARTITION_COLUMN}={dt}/"
    urls = sorted(url for url in staged if marker in url)
    return commit.staged_files(urls, [staged[url] for url in urls])


def _failure_counts(spark: SparkSession, staged: dict[str, int], dt: str) -> dict[str, int]:
    urls = [url for url in staged if f"/{PARTITION_COLUMN}={dt}/" in url]
    if not urls:
        return {}
    reasons = spark.read.parquet(*[_spark_path(u) for u in urls]).select(REASON).toPandas()
    return validation.reason_counts(reasons)


def _stream_events(spark: SparkSession, pending: list[PartitionPlan]) -> tuple[DataFrame, dict[str, int]]:
    """The partitions' stream events, read and de-duplicated on the driver as the pandas engine does.

    Delivered objects are small (Firehose's buffer, at most 128 MiB before GZIP) and de-duplication needs every
    record id of a partition in one place. A malformed line reads as empty fields here (its required fields are
    reported missing) where the pandas engine names it malformed; either way it is quarantined.
    """
    schema = spark_schema(TEXT_COLUMNS, [SOURCE, PARTITION_COLUMN])
    frames, duplicates = [], {}
    for plan in pending:
        items = plan.stream_inputs
        if items:
            frame, duplicates[plan.dt] = stream_records.read_objects(items, SOURCE)
            frames.append(frame.drop(columns=[validation.MALFORMED_COLUMN]).assign(**{PARTITION_COLUMN: plan.dt}))
    if not frames:
        return spark.createDataFrame([], schema), duplicates
    rows = pd.concat(frames, ignore_index=True).astype(str)
    return spark.createDataFrame(rows[schema.fieldNames()], schema), duplicates


def _stream_quarantined(spark: SparkSession, staged: dict[str, int], dt: str) -> int:
    urls = [url for url in staged if f"/{PARTITION_COLUMN}={dt}/" in url]
    if not urls:
        return 0
    sources = spark.read.parquet(*[_spark_path(u) for u in urls]).select(SOURCE)
    return sources.filter(F.col(SOURCE).startswith(stream_records.SOURCE_PREFIX)).count()


def _verify_row_counts(raw: DataFrame, pending: list[PartitionPlan]) -> None:
    read = {(row[PARTITION_COLUMN], row[SOURCE]): row["count"]
            for row in raw.groupBy(PARTITION_COLUMN, SOURCE).count().collect()}
    for plan in pending:
        for item in plan.inputs:
            got = read.get((plan.dt, item["batch_id"]), 0)
            if got != item["rows"]:
                raise raw_batches.BatchError(f"batch {item['url']} has {got} rows, its manifest says {item['rows']}")


def _verify_checksums(spark: SparkSession, pending: list[PartitionPlan]) -> None:
    expected = {_tail(item["url"]): (item["url"], item["sha256"]) for plan in pending for item in plan.inputs}
    paths = ",".join(_spark_path(url) for url, _ in expected.values())
    digests = spark.sparkContext.binaryFiles(paths).mapValues(lambda data: hashlib.sha256(data).hexdigest()).collect()
    found = {_tail(path): digest for path, digest in digests}
    for tail, (url, sha256) in expected.items():
        if found.get(tail) != sha256:
            raise raw_batches.BatchError(f"batch {url} has sha256 {found.get(tail)}, its manifest says {sha256}")


def _blank_nulls(batch: pd.DataFrame) -> pd.DataFrame:
    """Spark reads an empty CSV field as null; the pandas reader as ''. Make them one."""
    names = [c.name for c in RAW_COLUMNS]
    return batch.assign(**{n: batch[n].fillna("") for n in names})


def _combined_id(pending: list[PartitionPlan]) -> str:
    return "spark-" + commit.fingerprint([p.run_id for p in pending])[:16]


def _tail(url: str) -> str:
    """``.../dt=2026-01-01/b1.csv`` for any scheme spelling of the same object."""
    found = raw_batches.partition_marker(url)
    return f"{found}/{url.rsplit('/', 1)[1]}"


def _spark_path(url: str) -> str:
    """S3 URLs as they are (Glue reads s3://); local paths as file: URLs."""
    if is_s3(url):
        return url
    return "file://" + str(lake.local_path(url).resolve()) + ("/" if url.endswith("/") else "")
