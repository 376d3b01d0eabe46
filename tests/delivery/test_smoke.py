"""The smoke gate: which rows it sends, and each check failing on its own."""

from __future__ import annotations

import json

import pytest

from prodline.delivery.settings import DeliverySettings
from prodline.delivery.smoke import judge_answer, run_smoke, sample_rows, to_csv
from tests.delivery.conftest import FEATURES_BUCKET, NEWEST_DT, REGION, features_frame
from workloads.etl.commit import POINTER_NAME
from workloads.etl.parquet_io import parquet_bytes, to_table
from workloads.etl.schema import FEATURES_COLUMNS
from workloads.training.data import is_holdout

DEV = DeliverySettings("dev", "dev", REGION, smoke_rows=12, smoke_latency_ms=200)


def _serve(world, behaviour: str) -> None:
    world.engine.serving["dev"] = world.arns[0]
    world.runtime.behaviours[world.arns[0]] = behaviour


def test_the_sample_is_held_out_customers_of_the_newest_partition(world):
    frame = sample_rows(world.ctx, "dev", 20)

    assert len(frame) == 20
    assert frame["customer_id"].str.startswith("new-").all(), "rows must come from the newest partition"
    assert is_holdout(frame).all(), "only customers training never fitted may be used"


def test_the_sample_reaches_into_older_partitions_when_the_newest_has_too_few(world):
    frame = sample_rows(world.ctx, "dev", 100)

    assert len(frame) == 100
    assert set(frame["customer_id"].str.split("-").str[0]) == {"new", "old"}


def test_the_sample_reads_only_the_generation_the_features_job_committed(world):
    """Mid-commit (or after a crash) a partition holds files its _committed.json does not name: a new
    generation not switched to yet, or a crashed attempt's. The gate must not score them."""
    s3 = world.client("s3")
    uncommitted = to_table(features_frame(300, 3, "uncommitted"), FEATURES_COLUMNS)
    s3.put_object(Bucket=FEATURES_BUCKET, Key=f"churn/dt={NEWEST_DT}/20261201T090000Z-0badc0de/part-00000.parquet",
                  Body=parquet_bytes(uncommitted))
    s3.put_object(Bucket=FEATURES_BUCKET, Key=f"churn/dt={NEWEST_DT}/{POINTER_NAME}",
                  Body=json.dumps({"dt": NEWEST_DT, "output": "features", "files": ["part-00000.parquet"]}))

    frame = sample_rows(world.ctx, "dev", 100)

    assert not frame["customer_id"].str.startswith("uncommitted-").any(), "scored rows no commit names"
    assert set(frame["customer_id"].str.split("-").str[0]) == {"new", "old"}


def test_the_csv_names_the_model_inputs_and_holds_one_line_per_row(world):
    text = to_csv(sample_rows(world.ctx, "dev", 3))
    header, *rows = text.splitlines()

    assert header.split(",")[:2] == ["tenure_months", "monthly_charges"] and "customer_id" not in header
    assert "churned" not in header and len(rows) == 3


def test_a_healthy_endpoint_passes(world):
    _serve(world, "good")

    result = run_smoke(world.ctx, DEV, clock=world.runtime.now)

    assert result.ok, result.problems
    assert (result.rows, result.scores, result.errors) == (12, 12, 0)
    assert result.calls == 3, "rows go in several calls of BATCH_ROWS"
    assert world.runtime.invocations[0]["EndpointName"] == "prodline-dev-churn"
    assert world.runtime.invocations[0]["ContentType"] == "text/csv"


@pytest.mark.parametrize(("behaviour", "words"), [
    ("short", "4 scores for 5 rows"),
    ("out-of-range", "is 1.5, outside [0, 1]"),
    ("text", "is not a number"),
    ("slow", "max latency 5000 ms is over smokeLatencyMs 200"),
    ("5xx", "HTTP 500 ModelError: model failed to load"),
    ("503", "HTTP 503 ServiceUnavailable"),
])
def test_each_check_fails_the_gate_on_its_own(world, behaviour, words):
    _serve(world, behaviour)

    result = run_smoke(world.ctx, DEV, clock=world.runtime.now)

    assert not result.ok
    assert any(words in problem for problem in result.problems), result.problems
    if behaviour in ("5xx", "503"):
        assert result.errors == result.calls and result.error_rate == 1.0


def test_no_features_is_a_red_gate_not_a_crash(world):
    world.client("glue").delete_table(DatabaseName="prodline_dev", Name="features_churn")

    result = run_smoke(world.ctx, DEV)

    assert not result.ok and "no catalog table prodline_dev.features_churn" in result.problems[0]
    assert result.calls == 0


def test_an_answer_is_judged_by_count_and_range():
    assert judge_answer(b'{"predictions": [0.0, 1.0, 0.3]}', 3) == ([], 3)
    assert judge_answer(b"0.1\n0.2\n", 2) == ([], 2)
    problems, count = judge_answer(b'{"predictions": [-0.1, NaN]}', 2)
    assert count == 2 and len(problems) == 2
