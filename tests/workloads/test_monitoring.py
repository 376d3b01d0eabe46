"""Drift: detected on drifted traffic, not on fresh traffic from the training distribution."""

import base64
import datetime as dt
import json

import boto3
import numpy as np
import pytest

from workloads.etl import lake
from workloads.etl.schema import MODEL_INPUT_COLUMNS
from workloads.ingest.generator import STRONG_DRIFT, generate_typed
from workloads.monitoring import drift, monitor
from workloads.monitoring.capture import capture_key, capture_record, read_inputs
from workloads.training.artifacts import BASELINE_FILE, pack_model

INPUTS = [c.name for c in MODEL_INPUT_COLUMNS]
END = dt.datetime(2026, 3, 2, 12, 0, tzinfo=dt.UTC)


def csv_line(row) -> str:
    return ",".join("" if v is None or (isinstance(v, float) and np.isnan(v)) else str(v) for v in row)


def capture_lines(frame, rows_per_request=1, encoding="csv") -> list[str]:
    lines, values = [], frame[INPUTS].to_numpy(dtype=object)
    for start in range(0, len(values), rows_per_request):
        body = "\n".join(csv_line(r) for r in values[start:start + rows_per_request]).encode()
        record = capture_record(body, "text/csv", output=b"0.5", output_type="text/csv", event_id=str(start),
                                when=END - dt.timedelta(hours=1))
        if encoding == "base64":
            record["captureData"]["endpointInput"].update(data=base64.b64encode(body).decode(), encoding="BASE64")
        lines.append(json.dumps(record))
    return lines


def land_capture(capture: str, frame, hour: dt.datetime, name: str, **kwargs) -> str:
    url = capture_key(capture, "churn-endpoint", "AllTraffic", hour, name)
    lake.write_bytes(url, ("\n".join(capture_lines(frame, **kwargs)) + "\n").encode())
    return url


@pytest.fixture
def monitored(lake_buckets, model_dir):
    bucket = lake_buckets["artifacts"]
    lake.write_bytes(f"s3://{bucket}/models/churn/model.tar.gz",
                     pack_model(model_dir, model_dir.parent / "model.tar.gz").read_bytes())
    return {"capture": f"s3://{bucket}/datacapture/", "baseline": f"s3://{bucket}/models/churn/model.tar.gz",
            "report": f"s3://{bucket}/monitoring/churn/"}


def settings(monitored, **overrides) -> monitor.MonitorSettings:
    argv = ["--capture", monitored["capture"], "--endpoint", "churn-endpoint", "--baseline", monitored["baseline"],
            "--report", monitored["report"], "--end", END.strftime("%Y-%m-%dT%H:%M:%S"), "--min-rows", "200"]
    for key, value in overrides.items():
        argv += [f"--{key.replace('_', '-')}", str(value)]
    return monitor.MonitorSettings.from_argv(argv, END)


def drift_metric(endpoint="churn-endpoint"):
    cloudwatch = boto3.client("cloudwatch")
    stats = cloudwatch.get_metric_statistics(
        Namespace="prodline/Monitoring", MetricName="DriftScore",
        Dimensions=[{"Name": "EndpointName", "Value": endpoint}, {"Name": "FeatureSet", "Value": "churn"}],
        StartTime=END - dt.timedelta(days=1), EndTime=END + dt.timedelta(hours=1), Period=3600,
        Statistics=["Maximum"])
    return [point["Maximum"] for point in stats["Datapoints"]]


def test_drift_is_detected_on_drifted_traffic_and_published(monitored):
    land_capture(monitored["capture"], generate_typed(1500, 501, STRONG_DRIFT), END - dt.timedelta(hours=2), "a.jsonl",
                 rows_per_request=5)
    report = monitor.run(settings(monitored))
    assert report["drift_score"] > 0.2
    assert {"tenure_months", "payment_method"} <= set(report["drifted_features"])
    assert report["features"]["payment_method"]["unseen_top"] == {"crypto-wallet": pytest.approx(220, abs=60)}
    assert report["published"] and drift_metric() == [pytest.approx(report["drift_score"])]
    stored = json.loads(lake.read_bytes(report["report_url"]))
    assert stored["drift_score"] == report["drift_score"]
    assert "/endpoint=churn-endpoint/dt=2026-03-02/" in report["report_url"]


def test_fresh_traffic_from_the_training_distribution_is_not_drift(monitored):
    land_capture(monitored["capture"], generate_typed(1500, 777), END - dt.timedelta(hours=3), "b.jsonl",
                 encoding="base64")
    report = monitor.run(settings(monitored))
    assert report["rows"] == 1500
    assert report["drift_score"] < 0.1
    assert report["drifted_features"] == []


@pytest.mark.parametrize("variant", [None, "AllTraffic"])
def test_capture_outside_the_window_is_ignored(monitored, variant):
    land_capture(monitored["capture"], generate_typed(500, 1, STRONG_DRIFT), END - dt.timedelta(hours=30), "old.jsonl")
    land_capture(monitored["capture"], generate_typed(300, 2), END - dt.timedelta(hours=1), "new.jsonl")
    land_capture(monitored["capture"], generate_typed(300, 3), END - dt.timedelta(hours=13), "earlier.jsonl")
    report = monitor.run(settings(monitored, hours=24, **({"variant": variant} if variant else {})))
    assert report["capture_files"] == 2 and report["rows"] == 600


def test_too_few_rows_write_a_report_but_publish_nothing(monitored):
    land_capture(monitored["capture"], generate_typed(50, 3), END - dt.timedelta(hours=1), "few.jsonl")
    report = monitor.run(settings(monitored))
    assert report["status"].startswith("insufficient data") and not report["published"]
    assert drift_metric() == []
    assert lake.exists(report["report_url"])


def test_unreadable_capture_records_are_counted_not_fatal():
    good = capture_lines(generate_typed(3, 4))
    captured = read_inputs([("\n".join([*good, "not json", json.dumps({"captureData": {}})])).encode()])
    assert (captured.records, captured.unreadable, len(captured.frame)) == (5, 2, 3)
    assert captured.errors


def test_psi_is_zero_for_identical_shares_and_grows_with_the_shift():
    shares = np.array([0.25, 0.25, 0.5])
    assert drift.psi(shares, shares) == 0
    assert drift.psi(shares, np.array([0.3, 0.3, 0.4])) < drift.psi(shares, np.array([0.6, 0.3, 0.1]))


def test_more_nulls_alone_count_as_drift(model_dir):
    baseline = json.loads((model_dir / BASELINE_FILE).read_text())
    frame = generate_typed(2000, 8)
    frame.loc[frame.index[:800], "age"] = np.nan
    assert drift.drift_report(baseline, frame[INPUTS])["features"]["age"]["psi"] > 0.2
