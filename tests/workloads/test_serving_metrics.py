"""The server's own request metrics (EMF lines) and data capture, as it runs them on Kubernetes.

The real server is started with several workers, real requests go through it (good ones, bad ones, ones the
model fails on), and what it wrote to stdout and to the lake is read back: counts per status class must add up
to what was sent, across every worker.
"""

from __future__ import annotations

import json
import logging
import socket
from pathlib import Path

import joblib
import pytest

from tests.workloads.conftest import start_server, stop_server
from tests.workloads.http_helpers import ROW, address, parse_responses, read_all, request
from workloads.monitoring.capture import capture_urls, read_inputs
from workloads.serving.capture import Capture, CaptureSettings
from workloads.serving.metrics import BOUNDS, MAX_LINE_BYTES, MetricsSettings, RequestMetrics
from workloads.training.artifacts import MODEL_FILE, save_model

SENTINEL = 777
"""A tenure the faulty model refuses to score: its requests get a real 500 from the real server."""
FAULT_ROW = b"777,70.5,800,one-year,card,dsl,1,2,40"
METRICS_ENV = {"PRODLINE_METRICS_NAMESPACE": "prodline/Serving",
               "PRODLINE_METRICS_DIMENSIONS": "Namespace=prodline-serving,Service=churn",
               "PRODLINE_MODEL_VERSION": "7", "PRODLINE_METRICS_INTERVAL_SECONDS": "0.2"}


class FailsOnSentinel:
    """The trained pipeline, except that it raises on any row whose first input is SENTINEL (a fault of the
    model, which the server must answer 500)."""

    def __init__(self, pipeline):
        self.pipeline = pipeline

    def predict_proba(self, frame):
        if (frame.iloc[:, 0] == SENTINEL).any():
            raise RuntimeError("injected fault")
        return self.pipeline.predict_proba(frame)


@pytest.fixture(scope="module")
def faulty_model_dir(model_dir, tmp_path_factory) -> Path:
    directory = tmp_path_factory.mktemp("faulty-model")
    pipeline = FailsOnSentinel(joblib.load(model_dir / MODEL_FILE))
    save_model(directory, pipeline, {}, json.loads((model_dir / "baseline.json").read_text()))
    return directory


def exchange(url: str, requests: list[bytes]) -> list[int]:
    """Send requests on one new connection (pipelined), return their statuses."""
    with socket.create_connection(address(url), timeout=10) as sock:
        sock.sendall(b"".join(requests) + request("GET", "/ping", headers={"Connection": "close"}))
        raw, _ = read_all(sock, 10)
    return [r.status for r in parse_responses(raw)]


def emf_lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.startswith("{")]


# --- against the real server ---------------------------------------------------------------------------------

def test_the_server_counts_4xx_and_5xx_separately_across_workers(faulty_model_dir, tmp_path):
    out = tmp_path / "stdout"
    process, url = start_server(faulty_model_dir, workers=2, settings=METRICS_ENV, stdout_path=out)
    good = request("POST", "/invocations", ROW, {"Content-Type": "text/csv"})
    bad = request("POST", "/invocations", b"not,a,row", {"Content-Type": "text/csv"})
    unsupported = request("POST", "/invocations", ROW, {"Content-Type": "application/xml"})
    fault = request("POST", "/invocations", FAULT_ROW, {"Content-Type": "text/csv"})
    sent = {2: 0, 4: 0, 5: 0}
    try:
        # Many short connections: SO_REUSEPORT spreads them over both workers.
        for _ in range(24):
            statuses = exchange(url, [good, good, bad, unsupported, fault])
            assert statuses[-1] == 200, "the /ping after the requests"
            for status in statuses[:-1]:
                sent[status // 100] += 1
    finally:
        assert stop_server(process) == 0
    assert sent == {2: 48, 4: 48, 5: 24}, "the requests got the statuses this test counts on"
    lines = emf_lines(out)
    assert len({line["Worker"] for line in lines}) == 2, "both workers served and reported"
    total = {name: sum(line[name] for line in lines)
             for name in ("Invocations", "Invocation4XXErrors", "Invocation5XXErrors")}
    assert total == {"Invocations": 120, "Invocation4XXErrors": 48, "Invocation5XXErrors": 24}, \
        "every scoring request counted once, 4xx and 5xx apart, the health checks not at all"
    assert sum(sum(line["ModelLatency"]["Counts"]) for line in lines) == 120
    directive = lines[0]["_aws"]["CloudWatchMetrics"][0]
    assert directive["Namespace"] == "prodline/Serving"
    assert directive["Dimensions"] == [["Namespace", "Service"], ["Namespace", "Service", "ModelVersion"]]
    assert (lines[0]["Namespace"], lines[0]["Service"], lines[0]["ModelVersion"]) == ("prodline-serving", "churn", "7")
    assert {m["Name"]: m["Unit"] for m in directive["Metrics"]}["ModelLatency"] == "Microseconds"


def test_the_server_captures_what_it_scored_in_sagemakers_format(model_dir, tmp_path):
    destination = str(tmp_path / "capture") + "/"
    env = {"PRODLINE_CAPTURE_DESTINATION": destination, "PRODLINE_CAPTURE_ENDPOINT": "prodline-dev-churn",
           "PRODLINE_CAPTURE_VARIANT": "churn", "PRODLINE_CAPTURE_FLUSH_SECONDS": "0.2"}
    process, url = start_server(model_dir, workers=2, settings=env)
    try:
        requests = [request("POST", "/invocations", ROW, {"Content-Type": "text/csv",
                                                          "X-Amzn-SageMaker-Inference-Id": f"id-{i}"})
                    for i in range(10)]
        requests.append(request("POST", "/invocations", b"garbage", {"Content-Type": "text/csv"}))
        assert exchange(url, requests) == [200] * 10 + [400, 200]
    finally:
        assert stop_server(process) == 0  # the workers upload what they hold as they stop
    import datetime as dt

    now = dt.datetime.now(dt.UTC)
    urls = capture_urls(destination, "prodline-dev-churn", "churn", now - dt.timedelta(hours=1),
                        now + dt.timedelta(hours=1))
    texts = [Path(u).read_bytes() for u in urls]
    records = [json.loads(line) for text in texts for line in text.splitlines()]
    assert len(records) == 10, "every answered request once; the refused one is not the model's input"
    assert sorted(r["eventMetadata"]["inferenceId"] for r in records) == sorted(f"id-{i}" for i in range(10))
    assert read_inputs(texts).frame.shape[0] == 10, "the drift monitor reads every captured row"


# --- the pieces --------------------------------------------------------------------------------------------

def test_a_full_histogram_line_still_fits_one_atomic_write():
    lines = []
    metrics = RequestMetrics(MetricsSettings("prodline/Serving", (("Namespace", "n" * 63), ("Service", "s" * 63)),
                                             "123456"), write=lines.append)
    for bound in (*BOUNDS, BOUNDS[-1] * 10):
        metrics.record(500, bound * 0.99)
    assert metrics.emit(now=0)
    assert len(lines[0]) <= MAX_LINE_BYTES
    assert len(json.loads(lines[0])["ModelLatency"]["Values"]) == len(BOUNDS) + 1


def test_nothing_counted_writes_nothing_and_a_line_resets_the_counts():
    lines = []
    metrics = RequestMetrics(MetricsSettings("ns", (("Service", "churn"),)), write=lines.append)
    assert not metrics.emit(now=0) and lines == []
    metrics.record(404, 120.0)
    assert metrics.emit(now=0) and not metrics.emit(now=1)
    line = json.loads(lines[0])
    assert (line["Invocations"], line["Invocation4XXErrors"], line["Invocation5XXErrors"]) == (1, 1, 0)
    assert line["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == [["Service"]], "no version: no version set"


@pytest.mark.parametrize(("env", "problem"), [
    ({"PRODLINE_METRICS_DIMENSIONS": ""}, "PRODLINE_METRICS_DIMENSIONS must name the target"),
    ({"PRODLINE_METRICS_DIMENSIONS": "Service"}, "Name=value pairs"),
    ({"PRODLINE_METRICS_INTERVAL_SECONDS": "0"}, "PRODLINE_METRICS_INTERVAL_SECONDS must be > 0"),
    ({"PRODLINE_METRICS_INTERVAL_SECONDS": "soon"}, "must be a number"),
])
def test_bad_metrics_settings_name_the_variable(env, problem):
    with pytest.raises(ValueError, match=problem):
        MetricsSettings.from_env({**METRICS_ENV, **env})


def test_metrics_and_capture_are_off_unless_configured():
    assert MetricsSettings.from_env({}) is None and CaptureSettings.from_env({}) is None
    with pytest.raises(ValueError, match="PRODLINE_CAPTURE_VARIANT"):
        CaptureSettings.from_env({"PRODLINE_CAPTURE_DESTINATION": "s3://b/c/", "PRODLINE_CAPTURE_ENDPOINT": "e"})


def test_capture_is_bounded_keeps_records_through_a_failed_upload_and_says_what_it_dropped(caplog):
    written: list[tuple[str, bytes]] = []
    failing = [True]

    def write(url: str, data: bytes) -> None:
        if failing[0]:
            raise OSError("lake unreachable")
        written.append((url, data))

    capture = Capture(CaptureSettings("s3://lake-raw/capture/", "ep", "churn", flush_seconds=3600, max_records=3),
                      write=write)
    for i in range(5):
        capture.add(ROW, "text/csv", f"id-{i}".encode(), b"0.5", "text/csv")
    assert capture.dropped == 2, "past the bound, records are dropped and counted"
    with caplog.at_level(logging.WARNING, logger="workloads.serving"):
        assert capture.upload() == 0
    assert "3 records kept" in caplog.text and "2 records dropped so far" in caplog.text
    failing[0] = False
    capture.close()
    assert capture.written == 3 and len(written) == 1
    assert written[0][0].startswith("s3://lake-raw/capture/ep/churn/")
