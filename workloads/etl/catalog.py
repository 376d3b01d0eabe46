"""Register committed partitions in the Glue Data Catalog, so Athena sees a date the moment it is committed."""

from __future__ import annotations

import logging

from workloads.etl import lake
from workloads.etl.schema import PARTITION_COLUMN

LOG = logging.getLogger(__name__)


def table_name(zone: str, dataset: str) -> str:
    """The catalog's naming: ``curated_churn``, ``features_churn``."""
    return f"{zone}_{dataset}"


def add_partition(database: str, table: str, dt: str, location: str) -> bool:
    """Add ``dt`` to the table with the table's storage format; False (and a warning) when the table is
    absent. The data is committed either way: the catalog is an index over it, not its source of truth."""
    import boto3

    glue = boto3.client("glue")
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


def register(settings, zone: str, prefix: str, dt: str) -> None:
    if settings.database:
        add_partition(settings.database, table_name(zone, settings.dataset), dt,
                      lake.join(prefix, f"{PARTITION_COLUMN}={dt}/"))
