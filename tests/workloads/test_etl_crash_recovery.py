"""Kill the ETL at every AWS call that changes the lake, look at what readers see, re-run, check the result.

The lake holds two committed days; then a new batch lands for the first day (a re-commit) and a first batch
for a third day (a first commit). Every S3 and Glue call goes through ``botocore``'s
``BaseClient._make_api_call``; the test records the calls of an uninterrupted run, then for each call that
writes (a kill before a read leaves the lake as a kill at the next write does) restores the lake to its state
before the run, kills the run at that call (it and every later call raise, as when the process dies; every
third time the repairing run is killed too, at a random call) and checks:

* at the moment of the kill, each reader sees, per date, exactly the old whole state or the new whole state:
  the manifest reader (curated and quarantine together; features), the reader of a partition prefix that
  follows ``_committed.json`` (what a training channel does), and Athena (the catalog partition's location);
  every Parquet file under a prefix is complete;
* after one more run: the lake equals the uninterrupted run's, rows in = rows curated + rows quarantined,
  no row twice, every committed date registered at its manifest's location, no file that no manifest names,
  no manifest left incomplete and an empty staging area.
"""

from __future__ import annotations

import io
import json
import os
import random
import threading
import time

import boto3
import botocore.client
import pyarrow.parquet as pq
import pytest

from tests.workloads.etl_helpers import land, run_features, run_validate, zone_urls
from workloads.etl import catalog, commit, lake
from workloads.etl.schema import CURATED_COLUMNS, FEATURES_COLUMNS

OLD_DAYS = ("2026-03-01", "2026-03-02")
NEW_DAY = "2026-03-03"
DAYS = (*OLD_DAYS, NEW_DAY)
DATABASE = "prodline_crash"
READ_ONLY = ("Get", "Head", "List")
TABLES = {"curated": ("curated_churn", CURATED_COLUMNS), "features": ("features_churn", FEATURES_COLUMNS)}
JOBS = {  # job -> (manifests zone, {output: data zone}), as zone_urls names them
    "validate": ("curated_runs", {"curated": "curated", "quarantine": "quarantine"}),
    "features": ("features_runs", {"features": "features"}),
}


class Killed(BaseException):
    """The process died at this call: a BaseException, so no ``except Exception`` in the jobs carries on."""


class Killer:
    """Wraps every botocore API call: counts them, and from call ``kill_at`` on raises Killed."""

    def __init__(self, real):
        self.real, self.lock = real, threading.Lock()
        self.counting, self.calls, self.kill_at, self.operations = False, 0, None, []

    def __call__(self, client, operation, params):
        if self.counting:
            with self.lock:  # s3transfer copies from worker threads
                index, self.calls = self.calls, self.calls + 1
                self.operations.append(f"{client.meta.service_model.service_name}.{operation}")
            if self.kill_at is not None and index >= self.kill_at:
                raise Killed(f"killed at call {index} ({operation})")
        return self.real(client, operation, params)

    def arm(self, kill_at: int | None) -> None:
        self.counting, self.calls, self.kill_at, self.operations = True, 0, kill_at, []

    def disarm(self) -> None:
        self.counting, self.kill_at = False, None


@pytest.fixture
def killer(monkeypatch):
    wrapper = Killer(botocore.client.BaseClient._make_api_call)

    def make_api_call(client, operation, params):  # a function, so that it binds to each client as a method
        return wrapper(client, operation, params)

    monkeypatch.setattr(botocore.client.BaseClient, "_make_api_call", make_api_call)
    return wrapper


@pytest.fixture
def urls(lake_buckets):
    glue = boto3.client("glue")
    glue.create_database(DatabaseInput={"Name": DATABASE})
    for zone, (table, columns) in TABLES.items():
        glue.create_table(DatabaseName=DATABASE, TableInput={
            "Name": table, "PartitionKeys": [{"Name": "dt", "Type": "string"}],
            "StorageDescriptor": {"Columns": [{"Name": c.name, "Type": c.glue_type} for c in columns],
                                  "Location": zone_urls(lake_buckets)[zone]}})
    # The buckets the jobs write to (the raw zone is only read).
    return {**zone_urls(lake_buckets), "buckets": [lake_buckets["curated"], lake_buckets["features"]]}


def run_etl(urls, jobs=tuple(JOBS)) -> None:
    """The jobs as the schedule runs them: validate, then features when validate succeeds."""
    for job in jobs:
        (run_validate if job == "validate" else run_features)(urls, "--database", DATABASE)


# --- the lake at one moment: every object with its ETag (a content hash), read through a content cache -------

class Lake:
    """A listing of the zone buckets (one request per bucket) and the catalog's partitions (one per table).

    Objects are read once per content: the cache is keyed by ETag, the MD5 of the bytes for these objects.
    """

    cache: dict[str, bytes] = {}
    parsed: dict[str, tuple] = {}

    def __init__(self, urls):
        self.etags, self.glue = {}, catalog._glue()
        for bucket in urls["buckets"]:
            for page in lake.s3_client().get_paginator("list_objects_v2").paginate(Bucket=bucket):
                self.etags.update({f"s3://{bucket}/{o['Key']}": o["ETag"] for o in page.get("Contents", [])})
        self.partitions = {table: self.registered(table) for table, _ in TABLES.values()}

    def registered(self, table: str) -> dict[str, str]:
        pages = self.glue.get_paginator("get_partitions").paginate(DatabaseName=DATABASE, TableName=table)
        return {p["Values"][0]: p["StorageDescriptor"]["Location"] for page in pages for p in page["Partitions"]}

    def read(self, url: str) -> bytes | None:
        if url not in self.etags:
            return None
        etag = self.etags[url]
        if etag not in self.cache:
            self.cache[etag] = lake.read_bytes(url)
        return self.cache[etag]

    def under(self, prefix: str) -> list[str]:
        return sorted(url for url in self.etags if url.startswith(prefix))

    def manifest(self, urls, job: str, dt: str) -> dict | None:
        data = self.read(commit.manifest_url(urls[JOBS[job][0]], dt))
        return None if data is None else json.loads(data)

    def rows(self, file_urls) -> tuple:
        """The rows of the files, as a sorted tuple: equal for equal data whatever the file names."""
        found = []
        for url in file_urls:
            data = self.read(url)
            assert data is not None, f"{url} is named but not there"
            assert data[:4] == data[-4:] == b"PAR1", f"{url} is not a complete Parquet file"
            etag = self.etags[url]
            if etag not in self.parsed:
                table = pq.read_table(io.BytesIO(data)).to_pylist()
                self.parsed[etag] = tuple(tuple(map(str, row.values())) for row in table)
            found += self.parsed[etag]
        return tuple(sorted(found))


def save(urls) -> Lake:
    return Lake(urls)


def restore(now: Lake, saved: Lake) -> None:
    """Put the lake back as it was saved: delete what is new, rewrite what changed, re-register partitions."""
    lake.delete(url for url in now.etags if url not in saved.etags)
    for url, etag in saved.etags.items():
        if now.etags.get(url) != etag:
            lake.write_bytes(url, saved.read(url))
    for table, locations in saved.partitions.items():
        for dt in set(now.partitions[table]) - set(locations):
            now.glue.delete_partition(DatabaseName=DATABASE, TableName=table, PartitionValues=[dt])
        for dt, location in locations.items():
            if now.partitions[table].get(dt) != location:
                catalog.add_partition(DATABASE, table, dt, location)


# --- what each kind of reader sees --------------------------------------------------------------------------

def through_manifests(seen: Lake, urls, job, dt):
    """A reader that goes through the run manifest: every output of the job for the date, or None."""
    manifest = seen.manifest(urls, job, dt)
    if manifest is None:
        return None
    return {name: seen.rows(f["url"] for f in files) for name, files in sorted(manifest["outputs"].items())}


def through_prefix(seen: Lake, urls, zone, dt):
    """A reader of the partition prefix (a training channel): the files _committed.json names, else all."""
    prefix = commit.partition_prefix(urls[zone], dt)
    files = [u for u in seen.under(prefix) if u.endswith(".parquet")]
    pointer = seen.read(prefix + commit.POINTER_NAME)
    if pointer is not None:
        named = {prefix + name for name in json.loads(pointer)["files"]}
        assert named <= set(files), f"{prefix}{commit.POINTER_NAME} names files that are not there"
        files = sorted(named)
    return seen.rows(files) if files else None


def through_catalog(seen: Lake, zone, dt):
    """Athena: the files under the catalog partition's location, or None when the date is not registered."""
    location = seen.partitions[TABLES[zone][0]].get(dt)
    if location is None:
        return None
    return seen.rows(u for u in seen.under(location) if u.endswith(".parquet"))


def views(urls, seen: Lake) -> dict[tuple[str, ...], object]:
    for url in seen.etags:  # what a reader listing any prefix could open: only whole files
        data = seen.read(url) if url.endswith(".parquet") else b"PAR1"
        assert data[:4] == data[-4:] == b"PAR1", f"{url} is not a complete Parquet file"
    found = {}
    for dt in DAYS:
        for job, (_, outputs) in JOBS.items():
            found["manifest", job, dt] = through_manifests(seen, urls, job, dt)
            for output in outputs.values():
                found["prefix", output, dt] = through_prefix(seen, urls, output, dt)
        for zone in TABLES:
            found["catalog", zone, dt] = through_catalog(seen, zone, dt)
    return found


# --- the lake after a run: accounting, catalog, no leftovers --------------------------------------------------

def check_finished_lake(urls, seen: Lake, jobs) -> None:
    for job in jobs:
        outputs = JOBS[job][1]
        zone = "curated" if job == "validate" else "features"
        for dt in DAYS:
            manifest = seen.manifest(urls, job, dt)
            assert manifest is not None and manifest["complete"] is True, f"{job} {dt}: manifest not complete"
            counts = {name: len(found) for name, found in through_manifests(seen, urls, job, dt).items()}
            if job == "validate":
                assert counts["curated"] + counts["quarantine"] == manifest["rows"]["in"], f"{dt}: rows lost"
                rows = manifest["rows"]
                assert (rows["curated"], rows["quarantined"], rows["duplicates"]) == (
                    counts["curated"], counts["quarantine"], 0)
                curated = through_manifests(seen, urls, job, dt)["curated"]
                assert len({row[0] for row in curated}) == len(curated), f"{dt}: a curated customer appears twice"
            else:
                assert counts["features"] == manifest["rows"]["in"] == manifest["rows"]["features"]
            assert seen.partitions[TABLES[zone][0]].get(dt) == manifest["locations"][zone], f"{job} {dt}: catalog"
            named = {f["url"] for files in manifest["outputs"].values() for f in files}
            for output in outputs.values():
                prefix = commit.partition_prefix(urls[output], dt)
                extra = set(seen.under(prefix)) - named - {prefix + commit.POINTER_NAME}
                assert not extra, f"{job} {dt}: files no manifest names: {sorted(extra)}"
    staged = [url for url in seen.etags if f"/{commit.STAGING_DIR}/" in url]
    assert not staged, f"staging left behind: {staged}"


@pytest.mark.parametrize("killed_job", list(JOBS))
def test_a_job_killed_at_any_call_leaves_readers_a_whole_state_and_the_next_run_completes_it(urls, killer,
                                                                                            killed_job):
    """``validate``: the validate job is killed and re-run. ``features``: validate has run; the schedule's runs
    (validate, which finds nothing to do, then features) are killed during features and re-run. Features built
    on a repaired validate run are the features case: the repair reaches the same curated rows and inputs."""
    for number, dt in enumerate(OLD_DAYS):
        land(urls, dt, "b1", 60, seed=10 + number, invalid_fraction=0.2)
    run_etl(urls)
    land(urls, OLD_DAYS[0], "b2", 40, seed=20, invalid_fraction=0.2)
    land(urls, NEW_DAY, "b1", 50, seed=30, invalid_fraction=0.2)
    jobs = ("validate",) if killed_job == "validate" else tuple(JOBS)
    if killed_job == "features":
        run_etl(urls, ("validate",))
    before = Lake(urls)
    old = views(urls, before)

    killer.arm(None)
    run_etl(urls, jobs)
    killer.disarm()
    operations = killer.operations
    after = Lake(urls)
    new = views(urls, after)
    check_finished_lake(urls, after, jobs)
    changed = {key for key in new if new[key] != old[key]}
    assert {("manifest", killed_job, OLD_DAYS[0]), ("manifest", killed_job, NEW_DAY),
            ("catalog", "curated" if killed_job == "validate" else "features", NEW_DAY)} <= changed

    started, failures, rng = time.monotonic(), [], random.Random(seed())
    points = kill_points(operations)
    for number, kill_at in enumerate(points):
        restore(after, before)
        kills = [kill_at]
        if number % 3 == 0:  # every third time the run that repairs is killed too, at a random call of its own
            kills.append(rng.randrange(len(operations)))
        for attempt, at in enumerate(kills):
            killer.arm(at)
            try:
                run_etl(urls, jobs)
            except Killed:
                pass
            else:
                assert attempt > 0, f"the run made fewer calls than {kill_at}: it is not deterministic"
            killer.disarm()
            try:
                at_kill = views(urls, Lake(urls))
            except AssertionError as error:
                failures.append(f"killed at call {kill_at} ({operations[kill_at]}): {error}")
                break
            mixed = [key for key in at_kill if at_kill[key] not in (old[key], new[key])]
            if mixed:
                failures.append(f"killed at call {kill_at} ({operations[kill_at]}), then at call {at} of the "
                                f"re-run: readers saw a mix at {mixed}" if attempt else
                                f"killed at call {kill_at} ({operations[kill_at]}): readers saw a mix at {mixed}")
        run_etl(urls, jobs)
        after = Lake(urls)
        if views(urls, after) != new:
            failures.append(f"killed at call {kill_at} ({operations[kill_at]}): the re-run did not reach the new state")
            continue
        try:
            check_finished_lake(urls, after, jobs)
        except AssertionError as error:
            failures.append(f"killed at call {kill_at} ({operations[kill_at]}), then re-run: {error}")
    assert not failures, "\n".join(failures)
    print(f"{killed_job}: killed at {len(points)} of {len(operations)} calls in {time.monotonic() - started:.1f} s")


def seed() -> int:
    return int(os.environ.get("PRODLINE_CRASH_SEED", "20260301"))


def kill_points(operations: list[str]) -> list[int]:
    """Every call that changes the lake. Killing the run at a call that only reads leaves the same lake as
    killing it at the next call that writes, so these are all the states a kill can leave; with
    PRODLINE_CRASH_POINTS=all the test kills at every call anyway."""
    if os.environ.get("PRODLINE_CRASH_POINTS") == "all":
        return list(range(len(operations)))
    return [i for i, name in enumerate(operations) if not name.split(".")[1].startswith(READ_ONLY)]
