"""Data capture off SageMaker: the server writes requests and answers to the lake in SageMaker's own format.

SageMaker captures an endpoint's traffic itself; on Kubernetes the server does, into the same layout
(``<destination>/<endpoint>/<variant>/yyyy/mm/dd/hh/<file>.jsonl``, records from
``workloads.monitoring.capture``), so the drift monitor reads either without knowing which platform served.

Never on the request path: ``add`` (what a request costs) is a sampling draw and a deque append; a thread
of the worker groups the records per hour and uploads one object per group every few seconds. Bounded: at
most ``max_records`` wait; past that, new records are dropped and counted, and the count is logged at each
upload and at shutdown, never silently. A failed upload keeps its records for the next one (within the same
bound). ``close`` (the worker stopping) uploads what is left and logs what could not be.

Settings (environment): PRODLINE_CAPTURE_DESTINATION (``s3://bucket/prefix/``; empty: no capture),
PRODLINE_CAPTURE_ENDPOINT and PRODLINE_CAPTURE_VARIANT (the folders), PRODLINE_CAPTURE_PERCENT (100),
PRODLINE_CAPTURE_FLUSH_SECONDS (10), PRODLINE_CAPTURE_MAX_RECORDS (20000).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import random
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass

LOG = logging.getLogger("workloads.serving")


@dataclass(frozen=True)
class CaptureSettings:
    destination: str
    endpoint: str
    variant: str
    percent: float = 100.0
    flush_seconds: float = 10.0
    max_records: int = 20000

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> CaptureSettings | None:
        """None when PRODLINE_CAPTURE_DESTINATION is unset or empty; ValueError naming a bad variable."""
        destination = env.get("PRODLINE_CAPTURE_DESTINATION", "").strip()
        if not destination:
            return None
        names = {}
        for key in ("PRODLINE_CAPTURE_ENDPOINT", "PRODLINE_CAPTURE_VARIANT"):
            names[key] = env.get(key, "").strip()
            if not names[key] or "/" in names[key]:
                raise ValueError(f"{key} must name the capture folder (no '/') when PRODLINE_CAPTURE_DESTINATION is "
                                 f"set, got {names[key]!r}")
        settings = cls(destination, names["PRODLINE_CAPTURE_ENDPOINT"], names["PRODLINE_CAPTURE_VARIANT"],
                       _number(env, "PRODLINE_CAPTURE_PERCENT", 100.0),
                       _number(env, "PRODLINE_CAPTURE_FLUSH_SECONDS", 10.0),
                       int(_number(env, "PRODLINE_CAPTURE_MAX_RECORDS", 20000)))
        if not 0 < settings.percent <= 100:
            raise ValueError(f"PRODLINE_CAPTURE_PERCENT must be > 0 and <= 100, got {settings.percent}")
        if settings.flush_seconds <= 0 or settings.max_records < 1:
            raise ValueError("PRODLINE_CAPTURE_FLUSH_SECONDS must be > 0 and PRODLINE_CAPTURE_MAX_RECORDS >= 1, got "
                             f"{settings.flush_seconds} and {settings.max_records}")
        return settings


def _number(env: Mapping[str, str], name: str, default: float) -> float:
    text = env.get(name, "") or str(default)
    try:
        return float(text)
    except ValueError:
        raise ValueError(f"{name} must be a number, got {text!r}") from None


class Capture:
    """One worker's capture buffer and the thread that uploads it."""

    def __init__(self, settings: CaptureSettings, write: Callable[[str, bytes], object] | None = None):
        # Imported here, not at the top: settings import this module before the server pins the thread pools
        # that pandas (under the monitor's capture module) would start.
        from workloads.etl import lake
        from workloads.monitoring.capture import capture_key, capture_record

        self.settings = settings
        self._write = write or (lambda url, data: lake.write_bytes(url, data, "application/jsonlines"))
        self._record, self._key = capture_record, capture_key
        self._pending: deque[tuple] = deque()
        self._draw = random.Random().random
        self._stopped = threading.Event()
        self._upload_lock = threading.Lock()
        self.written = self.dropped = self.failed = 0
        self._thread = threading.Thread(target=self._run, name="capture-upload", daemon=True)
        self._thread.start()

    def add(self, body: bytes, content_type: str, inference_id: bytes | None, output: bytes,
            output_type: str) -> None:
        """Keep one answered request for upload (the request path's whole cost)."""
        if self.settings.percent < 100 and self._draw() * 100 >= self.settings.percent:
            return
        if len(self._pending) >= self.settings.max_records:
            self.dropped += 1
            return
        self._pending.append((body, content_type, inference_id, output, output_type, time.time()))

    def upload(self) -> int:
        """Write every waiting record, one object per hour folder; returns the records written."""
        with self._upload_lock:
            taken = [self._pending.popleft() for _ in range(len(self._pending))]
            groups: dict[str, list[tuple]] = {}
            for item in taken:
                groups.setdefault(time.strftime("%Y%m%d%H", time.gmtime(item[5])), []).append(item)
            written = 0
            for items in groups.values():
                first = dt.datetime.fromtimestamp(items[0][5], dt.UTC)
                lines = [json.dumps(self._record(
                    body, content_type, output=output, output_type=output_type, event_id=str(uuid.uuid4()),
                    when=dt.datetime.fromtimestamp(when, dt.UTC),
                    inference_id=inference_id.decode("latin-1") if inference_id else None), separators=(",", ":"))
                    for body, content_type, inference_id, output, output_type, when in items]
                name = f"{first:%M-%S}-{first.microsecond // 1000:03d}-{uuid.uuid4()}.jsonl"
                url = self._key(self.settings.destination, self.settings.endpoint, self.settings.variant, first,
                                  name)
                try:
                    self._write(url, ("\n".join(lines) + "\n").encode())
                except Exception as error:  # the lake is unreachable: keep them for the next upload, within bounds
                    self.failed += 1
                    room = self.settings.max_records - len(self._pending)
                    kept = items[:max(room, 0)]
                    self._pending.extendleft(reversed(kept))
                    self.dropped += len(items) - len(kept)
                    LOG.warning("capture upload to %s failed (%s); %d records kept, %d dropped", url, error,
                                len(kept), len(items) - len(kept))
                    continue
                written += len(items)
            self.written += written
            if self.dropped:
                LOG.error("capture: %d records dropped so far (buffer full at %d or uploads failing)", self.dropped,
                          self.settings.max_records)
            return written

    def _run(self) -> None:
        while not self._stopped.wait(self.settings.flush_seconds):
            try:
                self.upload()
            except Exception:
                LOG.exception("capture upload failed")

    def close(self) -> None:
        """Stop the thread and upload what is left; what cannot be uploaded is logged with its count."""
        self._stopped.set()
        self._thread.join(timeout=self.settings.flush_seconds + 30)
        self.upload()
        if self._pending:
            LOG.error("capture: %d records could not be uploaded before the worker stopped", len(self._pending))
        LOG.info("capture: %d records written, %d dropped", self.written, self.dropped)
