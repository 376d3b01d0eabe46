"""The sandbox's MLflow server: a real server on loopback that answers /health and lists the runs logged to it,
stands in for the declared SageMaker tracking server in pipeline jobs, and is gone after stop."""

from __future__ import annotations

import json
import urllib.request

import pytest

from prodline.net import free_port
from prodline.sandbox import tracking
from prodline.sandbox.processes import alive, group_members
from prodline.sandbox.realizer import sagemaker as realizer_sagemaker
from prodline.sandbox.realizer.base import Context
from prodline.sandbox.runtimes.pipeline import PipelineRunner
from workloads.training.tracking import TRACKING_URI_ENV

ARN = "arn:aws:sagemaker:eu-west-1:123456789012:mlflow-tracking-server/prodline-dev-tracking"


@pytest.fixture
def server(tmp_path, monkeypatch):
    if not tracking.available():
        pytest.skip("mlflow is not installed: the `tracking` extra (make test installs it)")
    monkeypatch.setenv(tracking.PORT_ENV, str(free_port()))
    monkeypatch.setenv("PRODLINE_SANDBOX_DIR", str(tmp_path))
    (tmp_path / "mlflow.log").write_text("an earlier server\n")
    url = tracking.start(tmp_path)
    try:
        yield tmp_path, tracking.wait(tmp_path)
    finally:
        tracking.stop(tmp_path)
    assert url


def test_the_server_answers_on_loopback_lists_runs_and_stops(server):
    shared, url = server
    assert url.startswith("http://127.0.0.1:") and tracking.healthy(url)
    assert (shared / "mlflow.log.1").read_text() == "an earlier server\n", "a new server logs to a new file"
    assert tracking.start(shared) == url, "a second start finds the running server"
    from workloads.training.tracking import client

    mlflow_client = client(url)
    experiment = mlflow_client.create_experiment("prodline-dev-churn-training")
    run = mlflow_client.create_run(experiment, run_name="pipelines-x-Train")
    mlflow_client.log_param(run.info.run_id, "max_iter", "100")
    request = urllib.request.Request(f"{url}/api/2.0/mlflow/runs/search", method="POST",
                                     data=json.dumps({"experiment_ids": [experiment]}).encode(),
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as answer:
        runs = json.loads(answer.read())["runs"]
    assert [r["info"]["run_id"] for r in runs] == [run.info.run_id]
    _lineage_reads_the_run_over_rest_as_the_client_does(mlflow_client, url, run.info.run_id)
    pid = json.loads((shared / tracking.RECORD).read_text())["pid"]
    assert sorted(group_members(pid)) == [pid], "uvicorn runs in the server's own process, not in a second one"
    assert tracking.stop(shared) and not alive(pid) and not tracking.healthy(url)
    assert tracking.url(shared) is None
    # The next server starts from the migrated, empty database the first one left as a template.
    again = shared / "again"
    again.mkdir()
    tracking.start(again)
    try:
        assert (again / tracking.DIRECTORY / "mlflow.db").read_bytes()[:16] == b"SQLite format 3\x00"
        mlflow_again = client(tracking.wait(again))
        assert [e.name for e in mlflow_again.search_experiments()] == ["Default"], "the template holds no runs"
    finally:
        tracking.stop(again)


def _lineage_reads_the_run_over_rest_as_the_client_does(mlflow_client, url: str, run_id: str) -> None:
    """``prodline lineage`` asks the sandbox's loopback server over REST, without importing mlflow: it must read
    what ``MlflowClient`` reads (the latest value of a metric logged twice; no mlflow.* tags) and find the run by
    its package tag."""
    from prodline.lineage import MlflowRuns
    from workloads.training.tracking import PACKAGE_TAG

    package = "arn:aws:sagemaker:eu-west-1:123456789012:model-package/prodline-dev-churn/1"
    for step, auc in enumerate((0.71, 0.83)):
        mlflow_client.log_metric(run_id, "auc", auc, step=step)
    mlflow_client.set_tag(run_id, PACKAGE_TAG, package)
    rest, through_client = MlflowRuns(url), MlflowRuns(url)
    through_client._rest = False  # the path every URI that is not on loopback takes
    read = rest.read(run_id)
    assert read == through_client.read(run_id)
    assert read["metrics"] == {"auc": 0.83} and read["params"] == {"max_iter": "100"}
    assert read["experiment"] == "prodline-dev-churn-training" and PACKAGE_TAG in read["tags"]
    assert not any(tag.startswith("mlflow.") for tag in read["tags"])
    assert rest.find(package) == through_client.find(package) == run_id
    assert rest.find(package + "0") is None
    with pytest.raises(RuntimeError, match="HTTP 404"):
        rest.read("0" * 32)


def test_a_server_command_other_than_uvicorns_still_starts_a_process(monkeypatch):
    pytest.importorskip("mlflow")
    from prodline.sandbox import mlflow_server

    started = []
    monkeypatch.setattr(mlflow_server, "_exec_cmd", lambda command, **kwargs: started.append((command, kwargs)))
    mlflow_server.serve_here(["python", "-m", "waitress", "--port", "1"], extra_env={"A": "1"}, synchronous=False)
    assert started == [(["python", "-m", "waitress", "--port", "1"], {"extra_env": {"A": "1"}, "synchronous": False})]


def test_without_mlflow_nothing_starts(tmp_path, monkeypatch):
    monkeypatch.setattr(tracking, "available", lambda: False)
    assert tracking.start(tmp_path) is None and tracking.wait(tmp_path) is None


def test_the_first_job_that_logs_starts_the_server_and_waits_for_it(tmp_path, monkeypatch):
    from prodline.sandbox import shared

    monkeypatch.setenv("PRODLINE_SANDBOX_DIR", str(tmp_path))
    calls = []
    monkeypatch.setattr(tracking, "start", lambda directory: calls.append(("start", directory)) or "http://s")
    monkeypatch.setattr(tracking, "wait", lambda directory: calls.append(("wait", directory)) or "http://s")
    assert shared.tracking_for_a_job() == "http://s"
    assert calls == [("start", shared.shared_dir()), ("wait", shared.shared_dir())], "started, then waited for"
    monkeypatch.setattr(tracking, "start", lambda directory: None)  # mlflow is not installed
    monkeypatch.setattr(tracking, "wait", lambda directory: pytest.fail("nothing started: nothing to wait for"))
    assert shared.tracking_for_a_job() is None, "the job runs untracked"


def test_jobs_get_the_local_server_for_the_declared_arn_and_nothing_when_none_runs(tmp_path):
    def env_with(local):
        runner = PipelineRunner(None, tmp_path, {"AWS_ENDPOINT_URL": "http://127.0.0.1:1"}, tracking_url=lambda: local)
        return runner._container_env({"Environment": {TRACKING_URI_ENV: ARN, "A": "b"}})

    assert env_with("http://127.0.0.1:5999")[TRACKING_URI_ENV] == "http://127.0.0.1:5999"
    assert TRACKING_URI_ENV not in env_with(None), "no local server: the job runs untracked"
    runner = PipelineRunner(None, tmp_path, {}, tracking_url=lambda: pytest.fail("not a declared server"))
    assert runner._container_env({"Environment": {TRACKING_URI_ENV: "http://elsewhere"}})[TRACKING_URI_ENV] == \
        "http://elsewhere"


def test_the_declared_tracking_server_is_recorded_with_the_arn_aws_would_give_it():
    handler = realizer_sagemaker.MLFLOW_TRACKING_SERVER
    inputs = {"trackingServerName": "prodline-dev-tracking", "trackingServerSize": "Small",
              "artifactStoreUri": "s3://artifacts/mlflow/prodline-dev-tracking/", "roleArn": "arn:aws:iam::1:role/r",
              "automaticModelRegistration": False, "weeklyMaintenanceWindowStart": "SUN:03:00", "tags": {"a": "b"}}
    handler.check("aws:sagemaker/mlflowTrackingServer:MlflowTrackingServer", "tracking-server", inputs)
    ident, outputs = handler.create(Context(None, "123456789012", "eu-west-1", "dev"), "urn", "tracking-server",
                                    inputs)
    assert (ident, outputs["arn"]) == ("prodline-dev-tracking", ARN)
    assert not handler.in_emulator and tracking.is_declared_server(outputs["arn"])
