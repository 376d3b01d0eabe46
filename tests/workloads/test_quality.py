"""Model quality: captured predictions joined with late labels by inference id, metrics per model version."""

import datetime as dt
import json

import boto3
import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from workloads.etl import lake
from workloads.monitoring import ground_truth as gt
from workloads.monitoring import quality
from workloads.monitoring.capture import capture_key, capture_record
from workloads.monitoring.glue_entry import job_argv
from workloads.monitoring.quality_metrics import auc, calibration_error

END = dt.datetime(2026, 3, 2, 12, 0, tzinfo=dt.UTC)
ENDPOINT = "churn-endpoint"


def prediction_line(inference_id, scores, version="1", when=END - dt.timedelta(minutes=30)) -> str:
    answer = json.dumps({"predictions": scores, "modelVersion": version}).encode()
    body = "\n".join("1,2,3" for _ in scores).encode()
    return json.dumps(capture_record(body, "text/csv", output=answer, output_type="application/json",
                                     event_id=inference_id or "no-id", when=when, inference_id=inference_id))


@pytest.fixture
def prefixes(lake_buckets):
    raw, curated = lake_buckets["raw"], lake_buckets["curated"]
    return {"capture": f"s3://{raw}/capture/", "labels": f"s3://{raw}/labels/",
            "report": f"s3://{curated}/monitoring/quality/", "quarantine": f"s3://{curated}/quarantine/labels/"}


def land(prefixes, predictions: list[str], labels: dict[str, list[str]], hour=END - dt.timedelta(hours=1)) -> None:
    lake.write_bytes(capture_key(prefixes["capture"], ENDPOINT, "AllTraffic", hour, "00-00-000-a.jsonl"),
                     ("\n".join(predictions) + "\n").encode())
    for name, lines in labels.items():
        lake.write_bytes(lake.join(prefixes["labels"], ENDPOINT, f"dt={END:%Y-%m-%d}", name),
                         ("\n".join(lines) + "\n").encode())


def settings(prefixes, **overrides) -> quality.QualitySettings:
    argv = ["--capture", prefixes["capture"], "--labels", prefixes["labels"], "--endpoint", ENDPOINT,
            "--report", prefixes["report"], "--quarantine", prefixes["quarantine"],
            "--end", END.strftime("%Y-%m-%dT%H:%M:%SZ"), "--hours", "2", "--min-labels", "1"]
    for key, value in overrides.items():
        argv += [f"--{key.replace('_', '-')}", *([str(value)] if value != "" else [])]
    return quality.QualitySettings.from_argv(argv, END)


def label(inference_id, outcome, minutes=10) -> str:
    return gt.label_line(inference_id, outcome, END - dt.timedelta(minutes=minutes))


def test_a_prediction_whose_label_never_arrives_lowers_coverage_not_accuracy(prefixes):
    predictions = [prediction_line("a", [0.9]), prediction_line("b", [0.1]), prediction_line("c", [0.8]),
                   prediction_line("d", [0.2])]
    land(prefixes, predictions, {"all.jsonl": [label("a", 1), label("b", 0), label("c", 1), label("d", 0)]})
    complete = quality.run(settings(prefixes, no_publish=""))["versions"]["1"]
    land(prefixes, predictions, {"all.jsonl": [label("a", 1), label("b", 0), label("c", 1)]})  # d's never came
    partial = quality.run(settings(prefixes, no_publish=""))["versions"]["1"]

    assert complete["coverage"] == 1.0 and partial["coverage"] == 0.75
    assert complete["accuracy"] == partial["accuracy"] == 1.0, "a missing label must not count as a wrong answer"
    assert partial["captured"] == 4 and partial["labelled"] == 3


def test_labels_for_an_unknown_inference_id_are_counted_and_set_aside(prefixes):
    land(prefixes, [prediction_line("a", [0.9]), prediction_line("b", [0.2])],
         {"day.jsonl": [label("a", 1), label("b", 0), label("ghost-1", 1), label("ghost-2", 0), "not json"]})
    report = quality.run(settings(prefixes, no_publish=""))

    assert report["labels"]["unknown_ids"] == 2
    assert report["labels"]["read"] == 5 and report["labels"]["used"] == 2 and report["labels"]["set_aside"] == 3
    assert report["labels"]["reconciled"]
    set_aside = [json.loads(line) for line in lake.read_bytes(report["quarantine_url"]).decode().splitlines()]
    assert sorted(json.loads(r["line"])["inferenceId"] for r in set_aside if r["reason"].startswith(gt.UNKNOWN_ID)) \
        == ["ghost-1", "ghost-2"]
    assert any(r["reason"].startswith("invalid label") and r["line"] == "not json" for r in set_aside)
    assert report["quarantine_url"].startswith(prefixes["quarantine"])
    assert report["versions"]["1"]["accuracy"] == 1.0, "the unknown labels must not enter the metrics"


@pytest.mark.parametrize("order", [("first.jsonl", "second.jsonl"), ("second.jsonl", "first.jsonl")])
def test_duplicate_labels_resolve_to_the_latest_whatever_the_file_order(prefixes, order):
    early, late = label("a", 0, minutes=50), label("a", 1, minutes=5)
    land(prefixes, [prediction_line("a", [0.9])], dict(zip(order, [[early], [late]], strict=True)))
    report = quality.run(settings(prefixes, no_publish=""))
    assert report["versions"]["1"]["accuracy"] == 1.0, "the later label (1) must win"
    assert report["labels"]["duplicates_superseded"] == 1 and report["labels"]["reconciled"]


def test_conflicting_labels_with_the_same_time_are_set_aside_not_guessed(prefixes):
    land(prefixes, [prediction_line("a", [0.9]), prediction_line("b", [0.1])],
         {"x.jsonl": [label("a", 1), label("b", 0)], "y.jsonl": [label("a", 0)]})
    report = quality.run(settings(prefixes, no_publish=""))
    assert report["versions"]["1"]["labelled"] == 1, "a's label is ambiguous: a counts as unlabelled"
    assert report["labels"]["set_aside"] == 2 and report["labels"]["reconciled"]


def test_metrics_are_per_model_version_and_a_label_for_an_earlier_prediction_is_not_unknown(prefixes):
    before = END - dt.timedelta(hours=5)
    predictions = [prediction_line("v1-a", [0.9], "1"), prediction_line("v1-b", [0.1], "1"),
                   prediction_line("v2-a", [0.9, 0.2], "2"), prediction_line("v2-b", [0.3], "2")]
    land(prefixes, predictions, {"l.jsonl": [label("v1-a", 1), label("v1-b", 0), label("v2-a", [0, 0]),
                                             label("v2-b", 1), label("old", 1)]})
    land(prefixes, [prediction_line("old", [0.5], "1", when=before)], {}, hour=before)
    report = quality.run(settings(prefixes, no_publish=""))
    assert report["versions"]["1"]["accuracy"] == 1.0 and report["versions"]["1"]["captured"] == 2
    assert report["versions"]["2"]["accuracy"] == pytest.approx(1 / 3) and report["versions"]["2"]["captured"] == 3
    assert report["labels"]["outside_window"] == 1 and report["labels"]["unknown_ids"] == 0


def test_a_label_whose_row_count_differs_from_the_prediction_is_set_aside(prefixes):
    land(prefixes, [prediction_line("a", [0.9, 0.1])], {"l.jsonl": [label("a", 1)]})
    report = quality.run(settings(prefixes, no_publish=""))
    assert report["versions"]["1"]["labelled"] == 0 and report["labels"]["set_aside"] == 1


def test_quality_is_published_per_endpoint_and_version_only_with_enough_labels(prefixes):
    land(prefixes, [prediction_line(f"i{n}", [0.9 if n % 2 else 0.1], "3") for n in range(4)],
         {"l.jsonl": [label(f"i{n}", n % 2) for n in range(3)]})
    cloudwatch = boto3.client("cloudwatch", region_name="us-east-1")
    report = quality.run(settings(prefixes, min_labels=3), cloudwatch=cloudwatch)
    names = {m["MetricName"]: m["Dimensions"] for m in cloudwatch.list_metrics(Namespace=quality.NAMESPACE)["Metrics"]}
    assert set(names) == {"AUC", "Accuracy", "CalibrationError", "LabelCoverage"}
    assert {d["Name"]: d["Value"] for d in names["AUC"]} == {"EndpointName": ENDPOINT, "ModelVersion": "3"}
    assert "AUC[3]" in report["published"]

    few = quality.metric_data(ENDPOINT, quality.evaluate(settings(prefixes, min_labels=4))[0], END)
    assert [d["MetricName"] for d in few] == ["LabelCoverage"], "3 labels < 4: only coverage is published"
    low = quality.metric_data(ENDPOINT, quality.evaluate(settings(prefixes, min_labels=1, min_coverage=0.8))[0], END)
    assert [d["MetricName"] for d in low] == ["LabelCoverage"], "coverage 0.75 < 0.8: quality is not published"


def test_auc_matches_sklearn_and_is_none_for_one_class():
    rng = np.random.default_rng(0)
    scores, outcomes = rng.random(200).round(2), rng.integers(0, 2, 200)
    assert auc(scores, outcomes) == pytest.approx(roc_auc_score(outcomes, scores))
    assert auc(scores, np.ones(200, dtype=int)) is None


def test_calibration_error_uses_ten_equal_bins():
    scores = np.array([0.05, 0.05, 0.95, 0.95])
    assert calibration_error(scores, np.array([0, 0, 1, 1])) == pytest.approx(0.05)
    assert calibration_error(scores, np.array([1, 1, 0, 0])) == pytest.approx(0.95)
    assert calibration_error(np.array([1.0]), np.array([1])) == 0.0, "a score of exactly 1 falls in the last bin"


def test_glue_arguments_reach_the_job_and_glues_own_are_left_out():
    argv = ["script.py", "--JOB_NAME", "q", "--TempDir", "s3://t/", "--capture", "s3://c/", "--labels", "s3://l/",
            "--endpoint", "e", "--report", "s3://r/", "--quarantine", "s3://q/", "--min-labels", "5",
            "--no-publish", "true", "--job-bookmark-option", "job-bookmark-disable"]
    from workloads.monitoring.quality_job import OPTIONAL, REQUIRED

    picked = job_argv(argv, ["JOB_NAME", *REQUIRED], OPTIONAL)
    assert picked == ["--capture", "s3://c/", "--labels", "s3://l/", "--endpoint", "e", "--report", "s3://r/",
                      "--quarantine", "s3://q/", "--min-labels", "5", "--no-publish"]
    assert quality.QualitySettings.from_argv(picked, END).publish is False


def test_bad_settings_name_the_option():
    with pytest.raises(ValueError, match="--min-coverage"):
        quality.QualitySettings.from_argv(["--capture", "c", "--labels", "l", "--endpoint", "e", "--report", "r",
                                           "--quarantine", "q", "--min-coverage", "1.5"], END)
