"""Register committed partitions in the Glue Data Catalog, so Athena sees a date the moment it is committed.

A partition's location is the directory of the commit its manifest names (``commit``), so the catalog switches
Athena from one whole generation to the next with one call, and a location that differs from the manifest's
tells a later run that the registration is stale.
"""

from __future__ import annotations

import logging

from workloads.etl.schema import PARTITION_COLUMN

LOG = logging.getLogger(__name__)


def table_name(zone: str, dataset: str) -> str:
    """The catalog's naming: ``curated_churn``, ``features_churn``."""
    return f"{zone}_{dataset}"


_glue_client = None


def _glue():
    """One Glue client per process (boto3 reads AWS_ENDPOINT_URL and the region from the environment)."""
    global _glue_client  # noqa: PLW0603 - a process-wide cache of an expensive client
    if _glue_client is None:
        import boto3

        _glue_client = boto3.client("glue")
    return _glue_client


def reset_clients() -> None:
    """Forget the cached client (tests switch endpoints and credentials between cases)."""
    global _glue_client  # noqa: PLW0603
    _glue_client = None


def add_partition(database: str, table: str, dt: str, location: str) -> bool:
    """Add ``dt`` to the table with the table's storage format; False (and a warning) when the table is
    absent. The data is committed either way: the catalog is an index over it, not its source of truth."""
    glue = _glue()
    try:
        descriptor = dict(glue.get_table(DatabaseName=database, Name=table)["Table"]["StorageDescriptor"])
    except glue.exceptions.EntityNotFoundException:
        LOG.warning("catalog table %s.%s not found: partition %s=%s not registered", database, table,
                    PARTITION_COLUMN, dt)
        return False
    descriptor["Location"] = location if location.endswith("/") else location + "/"
    partition = {"Values": [dt], "StorageDescriptor": descriptor}
    try:
        glue.create_partition(DatabaseName=database, TableName=table, PartitionInput=partition)
    except glue.exceptions.AlreadyExistsException:
        glue.update_partition(DatabaseName=database, TableName=table, PartitionValueList=[dt],
                              PartitionInput=partition)
    return True


def partition_locations(database: str, table: str) -> dict[str, str] | None:
    """Each registered partition's location by date; None (and a warning) when the table is absent."""
    glue = _glue()
    found = {}
    try:
        for page in glue.get_paginator("get_partitions").paginate(DatabaseName=database, TableName=table):
            for partition in page["Partitions"]:
                found[partition["Values"][0]] = partition["StorageDescriptor"].get("Location", "")
    except glue.exceptions.EntityNotFoundException:
        LOG.warning("catalog table %s.%s not found: registrations not checked", database, table)
        return None
    return found


def register(settings, zone: str, dt: str, location: str) -> None:
    if settings.database:
        add_partition(settings.database, table_name(zone, settings.dataset), dt, location)


def registered(settings, zone: str) -> dict[str, str] | None:
    """The zone table's partition locations by date; None when the job uses no catalog or the table is absent."""
    if not settings.database:
        return None
    return partition_locations(settings.database, table_name(zone, settings.dataset))
