"""End to end against an emulator: the moto server on 127.0.0.1, or whatever AWS_ENDPOINT_URL names.

Raw batches land, the Glue scripts run as Glue runs them (a process of their own with Glue's arguments), training,
evaluation and registration follow the SageMaker contracts, the model is served over HTTP, the captured
traffic is checked for drift and the metric the alarm watches is published.
"""

from __future__ import annotations

import datetime as dt
import json
import urllib.request
from pathlib import Path

import boto3
import pytest

from tests.helpers import unhosted_endpoint
from tests.workloads.conftest import answers_http, run_warm, start_server, stop_server
from tests.workloads.etl_helpers import features_argv, validate_argv, zone_urls
from workloads.etl import lake
from workloads.etl.schema import MODEL_INPUT_COLUMNS
from workloads.ingest.generator import STRONG_DRIFT, generate_typed
from workloads.monitoring import monitor
from workloads.monitoring.capture import capture_key, capture_record
from workloads.training import evaluate, register, train
from workloads.training.artifacts import pack_model

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]
INPUTS = [c.name for c in MODEL_INPUT_COLUMNS]


def run(*argv: str) -> str:
    """``python <argv>`` as a process of its own, forked warm, as the sandbox starts its Glue jobs."""
    code, stdout, stderr = run_warm(list(argv), cwd=ROOT, timeout=300)
    assert code == 0, stderr[-3000:]
    return stdout


def download(prefix: str, directory: Path) -> Path:
    for url in lake.list_urls(prefix):
        target = directory / url[len(prefix):]
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(lake.read_bytes(url))
    return directory


def score(url: str, body: bytes, content_type: str = "text/csv") -> tuple[int, bytes]:
    request = urllib.request.Request(url + "/invocations", data=body, headers={"Content-Type": content_type})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def csv_rows(frame) -> list[bytes]:
    return [",".join("" if str(v) in ("nan", "None") else str(v) for v in row).encode()
            for row in frame[INPUTS].to_numpy(dtype=object)]


def capture_traffic(server: str, capture: str, frame, hour: dt.datetime, name: str) -> None:
    """Score the rows through the server and write what SageMaker's data capture would have written."""
    lines = []
    for number, body in enumerate(csv_rows(frame)):
        status, answer = score(server, body)
        assert status == 200
        lines.append(json.dumps(capture_record(body, "text/csv", output=answer, output_type="application/json",
                                               event_id=f"{name}-{number}", when=hour)))
    lake.write_bytes(capture_key(capture, "churn-e2e", "AllTraffic", hour, name), ("\n".join(lines) + "\n").encode())


def test_raw_batches_to_a_served_model_and_a_drift_alarm_metric(emulator_lake, tmp_path):
    urls = zone_urls(emulator_lake)
    artifacts = f"s3://{emulator_lake['artifacts']}"
    for day, seed in (("2026-03-01", 1), ("2026-03-02", 2)):
        for batch in range(2):
            run("-m", "workloads.ingest", "--source", urls["raw"], "--dt", day, "--rows", "2500",
                "--seed", str(seed * 10 + batch), "--invalid-fraction", "0.03", "--batch-id", f"b{batch}")
    run("workloads/etl/validate_job.py", *validate_argv(urls)[1:])
    assert json.loads(run("workloads/etl/validate_job.py", *validate_argv(urls)[1:]))["committed"] == []
    run("workloads/etl/features_job.py", *features_argv(urls)[1:])
    for day in ("2026-03-01", "2026-03-02"):
        runs = json.loads(lake.read_bytes(f"{urls['curated_runs']}dt={day}/manifest.json"))
        assert runs["rows"]["in"] == 5000 == runs["rows"]["curated"] + runs["rows"]["quarantined"]

    channels = {name: download(f"{urls['features']}dt={day}/", tmp_path / name)
                for name, day in (("train", "2026-03-01"), ("validation", "2026-03-02"))}
    model_dir = tmp_path / "model"
    train.main(["--max-iter", "60"], {"SM_MODEL_DIR": str(model_dir), "SM_CHANNEL_TRAIN": str(channels["train"]),
                                      "SM_CHANNEL_VALIDATION": str(channels["validation"]),
                                      "SM_OUTPUT_DATA_DIR": str(tmp_path / "output")})
    evaluate.main(["--model", str(model_dir), "--test", str(channels["validation"]),
                   "--output", str(tmp_path / "evaluation")])
    report = json.loads((tmp_path / "evaluation" / "evaluation.json").read_text())
    assert report["metrics"]["auc"]["value"] > 0.75
    lake.write_bytes(f"{artifacts}/models/churn/model.tar.gz",
                     pack_model(model_dir, tmp_path / "model.tar.gz").read_bytes())
    lake.write_bytes(f"{artifacts}/models/churn/evaluation.json", json.dumps(report).encode())

    sagemaker = boto3.client("sagemaker")
    group = f"churn-{emulator_lake['raw'].split('-')[2]}"
    sagemaker.create_model_package_group(ModelPackageGroupName=group)
    register.main(["--group", group, "--model-data-url", f"{artifacts}/models/churn/model.tar.gz",
                   "--image-uri", "123456789012.dkr.ecr.eu-west-1.amazonaws.com/prodline-serving:e2e",
                   "--evaluation-url", f"{artifacts}/models/churn/evaluation.json", "--approval-status", "Approved"])
    approved = sagemaker.list_model_packages(ModelPackageGroupName=group, ModelApprovalStatus="Approved",
                                             SortBy="CreationTime", SortOrder="Descending")
    assert len(approved["ModelPackageSummaryList"]) == 1

    process, server = start_server(model_dir)
    try:
        assert score(server, b"not,a,row")[0] == 400
        capture = f"{artifacts}/datacapture/"
        end = dt.datetime(2026, 3, 3, 12, tzinfo=dt.UTC)
        capture_traffic(server, capture, generate_typed(400, 300), end - dt.timedelta(hours=5), "fresh.jsonl")
        argv = ["--capture", capture, "--endpoint", "churn-e2e", "--baseline", f"{artifacts}/models/churn/model.tar.gz",
                "--report", f"{artifacts}/monitoring/churn/", "--min-rows", "300"]
        fresh = monitor.run(monitor.MonitorSettings.from_argv([*argv, "--end", "2026-03-03T09:00:00"], end))
        assert fresh["drift_score"] < 0.1 and fresh["drifted_features"] == []
        capture_traffic(server, capture, generate_typed(400, 301, STRONG_DRIFT), end - dt.timedelta(hours=1),
                        "drifted.jsonl")
        drifted = monitor.run(monitor.MonitorSettings.from_argv([*argv, "--end", "2026-03-03T12:00:00",
                                                                 "--hours", "2"], end))
        assert drifted["drift_score"] > 0.2 and drifted["published"]
    finally:
        assert stop_server(process) == 0
    assert not answers_http(server + "/ping")

    cloudwatch = boto3.client("cloudwatch")
    dimensions = [{"Name": "EndpointName", "Value": "churn-e2e"}, {"Name": "FeatureSet", "Value": "churn"}]
    points = cloudwatch.get_metric_statistics(
        Namespace="prodline/Monitoring", MetricName="DriftScore", Dimensions=dimensions,
        StartTime=end - dt.timedelta(days=1), EndTime=end + dt.timedelta(hours=1), Period=300,
        Statistics=["Maximum"])["Datapoints"]
    assert max(p["Maximum"] for p in points) == pytest.approx(drifted["drift_score"])


def test_the_client_invokes_an_endpoint_by_name_through_the_emulator(emulator, tmp_path, capsys):
    if not answers_http(emulator + "/moto-api/"):
        pytest.skip("canned SageMaker runtime answers need moto's API; this emulator has none")
    unhosted_endpoint(boto3.client("sagemaker"), "churn-client")
    canned = {"region": "eu-west-1", "results": [{"Body": '{"predictions": [0.25, 0.75]}',
                                                   "ContentType": "application/json"}]}
    urllib.request.urlopen(urllib.request.Request(
        emulator + "/moto-api/static/sagemaker/endpoint-results", data=json.dumps(canned).encode(),
        headers={"Content-Type": "application/json"}), timeout=10)
    rows = tmp_path / "rows.csv"
    rows.write_text("12,70.5,800,one-year,card,dsl,1,2,40\n3,99,,month-to-month,card,fiber,4,1,\n")
    from workloads.client import invoke

    assert invoke.main(["--endpoint", "churn-client", "--file", str(rows)]) == 0
    assert capsys.readouterr().out.split() == ["0.25", "0.75"]
    assert invoke.main(["--endpoint", "churn-missing", "--file", str(rows)]) == 3
