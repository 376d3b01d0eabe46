"""The demo's labels: some never arrive, some twice, some for ids nobody sent; the job accounts for each."""

from __future__ import annotations

import datetime as dt
import json

from prodline.sandbox import demo_quality
from workloads.monitoring import ground_truth as gt

WHEN = dt.datetime(2026, 3, 2, 12, 0, tzinfo=dt.UTC)
SERVED = [(f"fresh-{n}", [n % 2, 1 - n % 2]) for n in range(100)]


def joined(text: str) -> tuple[gt.Joined, gt.SetAside]:
    predictions = [gt.Prediction(i, (0.9, 0.1), "1", WHEN) for i, _ in SERVED]
    set_aside = gt.SetAside()
    labels, read = gt.parse_labels(text.encode(), "s3://raw/labels/e/dt=2026-03-02/fresh.jsonl", set_aside)
    return gt.join(predictions, set(), labels, read, set_aside), set_aside


def test_the_demos_labels_miss_one_request_in_ten_repeat_three_and_name_five_unknown_ids():
    result, set_aside = joined(demo_quality.label_file(SERVED, "fresh", WHEN))
    assert result.labels_read == 90 + demo_quality.DUPLICATE_LABELS + demo_quality.UNKNOWN_LABELS
    assert result.labels_used == 90 and result.duplicates == demo_quality.DUPLICATE_LABELS
    assert set_aside.count(gt.UNKNOWN_ID) == demo_quality.UNKNOWN_LABELS and result.reconciles()
    assert sum(outcomes is not None for _, outcomes in result.pairs) == 90


def test_a_concept_shift_flips_the_chosen_rows_and_only_those():
    flipped = {1, 3, 50}
    text = demo_quality.label_file(SERVED[:1] + SERVED[25:26], "shifted", WHEN, flip=lambda row: row in flipped)
    first, second = (json.loads(line)["label"] for line in text.splitlines()[:2])
    assert first == [0, 0], "the truth [0, 1]: row 1 (the first request's second row) is flipped"
    assert second == [1, 1], "the truth [1, 0]: rows 2 and 3 are the second request's, only row 3 is flipped"
