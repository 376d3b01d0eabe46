"""Land a batch in the raw zone: the CSV first, then its manifest (the batch's commit marker).

Uploading the same batch again is a no-op: a batch id whose manifest already records the same checksum
is left alone. The same id with different content is refused, because the ETL may already have
committed the first version, and silently replacing it would change history under its manifest.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from workloads.etl import lake, raw_batches


class BatchConflict(RuntimeError):
    """A batch with this id exists with different content."""


@dataclass(frozen=True)
class Upload:
    data_url: str
    manifest_url: str
    rows: int
    sha256: str
    uploaded: bool
    """False when the identical batch was already there."""


def upload_batch(source: str, dt: str, batch_id: str, data: bytes, rows: int) -> Upload:
    """Put ``data`` (CSV with a header, ``rows`` data rows) at ``<source>/dt=<dt>/<batch_id>.csv``."""
    raw_batches.check_dt(dt)
    raw_batches.check_batch_id(batch_id)
    manifest = raw_batches.batch_manifest(dt, batch_id, rows, data)
    data_url = raw_batches.data_url(source, dt, batch_id)
    manifest_url = raw_batches.manifest_url(source, dt, batch_id)
    if lake.exists(manifest_url):
        existing = json.loads(lake.read_bytes(manifest_url))
        if existing.get("sha256") == manifest["sha256"]:
            return Upload(data_url, manifest_url, rows, manifest["sha256"], uploaded=False)
        raise BatchConflict(f"batch {batch_id} for dt={dt} already exists at {data_url} with sha256 "
                            f"{existing.get('sha256')}; refusing to replace it with {manifest['sha256']}. "
                            "Upload changed data under a new batch id.")
    lake.write_bytes(data_url, data, "text/csv")
    lake.write_bytes(manifest_url, json.dumps(manifest, indent=2).encode(), "application/json")
    return Upload(data_url, manifest_url, rows, manifest["sha256"], uploaded=True)
