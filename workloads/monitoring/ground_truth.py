"""Ground truth: the label files that arrive after the predictions, and their join with what data capture saw.

A label file is JSON Lines under ``<labels>/<endpoint>/dt=YYYY-MM-DD/<any name>.jsonl`` (``dt`` is the day the
labels arrived), one object per line::

    {"inferenceId": "demo-fresh-0042", "label": 1, "labelTime": "2026-03-14T09:30:00Z"}

``inferenceId`` is the id the caller gave InvokeEndpoint (``InferenceId``, header
``X-Amzn-SageMaker-Inference-Id``) and data capture recorded as ``eventMetadata.inferenceId``. ``label`` is the
true outcome (0 or 1) of a one-row request, or a list with one outcome per row, in order, for a request that
scored several rows. ``labelTime`` is when the outcome became known (ISO 8601 UTC).

Every label line is accounted for: used, a duplicate superseded by a later one, outside the window (its
prediction is older than the window, so an earlier run counted it), or set aside with a reason (not JSON, a bad
field, a row count that differs from the prediction's, an id no prediction carries, conflicting duplicates).
Duplicates are resolved the same whatever the order files are read in: the label with the latest
``labelTime`` wins; two different labels with the same latest time conflict, and both are set aside.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable
from dataclasses import dataclass, field

UNKNOWN_ID = "unknown inference id"
CONFLICT = "conflicting labels with the same labelTime"


@dataclass(frozen=True)
class Prediction:
    """One captured request's scores, the model version that produced them and its inference id (may be None)."""

    inference_id: str | None
    scores: tuple[float, ...]
    version: str
    time: dt.datetime


@dataclass(frozen=True)
class Label:
    inference_id: str
    outcomes: tuple[int, ...]
    time: dt.datetime
    source: str
    """Where the line came from (``<url>#<line>``), kept in the quarantine record."""
    line: str


@dataclass
class SetAside:
    """Label lines not used, with the reason, as written to the quarantine prefix."""

    records: list[dict] = field(default_factory=list)

    def add(self, line: str, source: str, reason: str) -> None:
        self.records.append({"source": source, "reason": reason, "line": line})

    def count(self, reason: str | None = None) -> int:
        return sum(1 for r in self.records if reason is None or r["reason"].startswith(reason))


@dataclass
class Joined:
    """Predictions with their outcomes, and the accounting of every label line read."""

    pairs: list[tuple[Prediction, tuple[int, ...] | None]]
    labels_read: int
    labels_used: int
    duplicates: int
    outside_window: int
    set_aside: SetAside

    def reconciles(self) -> bool:
        """labels read = used + duplicates superseded + outside the window + set aside."""
        return self.labels_read == (self.labels_used + self.duplicates + self.outside_window
                                    + self.set_aside.count())


def parse_time(text: str) -> dt.datetime:
    when = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    return when if when.tzinfo else when.replace(tzinfo=dt.UTC)


def parse_labels(text: bytes, source: str, set_aside: SetAside) -> tuple[list[Label], int]:
    """The valid labels of one file, and how many lines it held; bad lines go to ``set_aside`` with the reason."""
    labels, lines = [], 0
    for number, raw in enumerate(text.decode("utf-8", errors="replace").splitlines(), 1):
        if not raw.strip():
            continue
        lines += 1
        where = f"{source}#{number}"
        try:
            record = json.loads(raw)
            labels.append(_label(record, where, raw))
        except (ValueError, TypeError, KeyError, AttributeError) as error:
            set_aside.add(raw, where, f"invalid label: {error}")
    return labels, lines


def _label(record: dict, source: str, line: str) -> Label:
    inference_id = record["inferenceId"]
    if not isinstance(inference_id, str) or not inference_id:
        raise ValueError(f"inferenceId must be a non-empty string, got {inference_id!r}")
    value = record["label"]
    outcomes = tuple(value) if isinstance(value, list) else (value,)
    if not outcomes or any(o not in (0, 1) or isinstance(o, bool) for o in outcomes):
        raise ValueError(f"label must be 0, 1 or a list of them, got {value!r}")
    return Label(inference_id, tuple(int(o) for o in outcomes), parse_time(record["labelTime"]), source, line)


def latest_labels(labels: Iterable[Label], set_aside: SetAside) -> tuple[dict[str, Label], int]:
    """One label per inference id (the latest; conflicting ties set aside) and the number superseded."""
    by_id: dict[str, list[Label]] = {}
    for label in labels:
        by_id.setdefault(label.inference_id, []).append(label)
    chosen, superseded = {}, 0
    for inference_id, candidates in by_id.items():
        latest = max(c.time for c in candidates)
        newest = [c for c in candidates if c.time == latest]
        superseded += len(candidates) - len(newest)
        if len({c.outcomes for c in newest}) > 1:
            for c in sorted(newest, key=lambda c: c.source):
                set_aside.add(c.line, c.source, f"{CONFLICT} ({inference_id})")
            continue
        superseded += len(newest) - 1  # identical copies: one is used
        chosen[inference_id] = min(newest, key=lambda c: c.source)
    return chosen, superseded


def join(window: list[Prediction], earlier_ids: set[str], labels: Iterable[Label], labels_read: int,
         set_aside: SetAside) -> Joined:
    """Each prediction of the window with its outcomes (None when its label has not arrived).

    ``earlier_ids`` are inference ids captured before the window: their labels belong to an earlier run and are
    counted as outside the window. A label whose id no capture carries is set aside as unknown."""
    chosen, duplicates = latest_labels(labels, set_aside)
    by_id = {p.inference_id: p for p in window if p.inference_id}
    pairs: list[tuple[Prediction, tuple[int, ...] | None]] = []
    used = outside = 0
    matched: set[str] = set()
    for inference_id, label in chosen.items():
        prediction = by_id.get(inference_id)
        if prediction is None:
            if inference_id in earlier_ids:
                outside += 1
            else:
                set_aside.add(label.line, label.source, f"{UNKNOWN_ID}: no captured prediction carries it")
            continue
        if len(label.outcomes) != len(prediction.scores):
            set_aside.add(label.line, label.source, f"label has {len(label.outcomes)} outcome(s), the prediction "
                                                    f"{len(prediction.scores)} score(s)")
            continue
        matched.add(inference_id)
        used += 1
    for prediction in window:
        labelled = prediction.inference_id in matched
        pairs.append((prediction, chosen[prediction.inference_id].outcomes if labelled else None))
    return Joined(pairs, labels_read, used, duplicates, outside, set_aside)


def label_partitions(urls: Iterable[str], first_day: dt.date, last_day: dt.date) -> list[str]:
    """Label files whose ``dt=`` partition lies in [first_day, last_day]."""
    chosen = []
    for url in urls:
        day = next((part[3:] for part in url.split("/") if part.startswith("dt=")), None)
        if day and url.endswith(".jsonl") and first_day <= dt.date.fromisoformat(day) <= last_day:
            chosen.append(url)
    return sorted(chosen)


def label_line(inference_id: str, outcomes: int | list[int], when: dt.datetime) -> str:
    """One label line in the documented format (used by the demo and the tests)."""
    return json.dumps({"inferenceId": inference_id, "label": outcomes,
                       "labelTime": when.strftime("%Y-%m-%dT%H:%M:%SZ")})
