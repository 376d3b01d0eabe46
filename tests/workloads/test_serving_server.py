"""The HTTP server as SageMaker drives it: /ping, /invocations, bad requests, keep-alive, shutdown."""

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlparse

import pytest

from prodline.net import free_port
from tests.workloads.conftest import answers_http, start_server, stop_server, wait_until

ROW = b"12,70.5,800,one-year,card,dsl,1,2,40"


def connect(url: str) -> http.client.HTTPConnection:
    parsed = urlparse(url)
    return http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=10)


def request(url, method, path, body=None, headers=None):
    connection = connect(url)
    connection.request(method, path, body=body, headers=headers or {})
    response = connection.getresponse()
    return response.status, response.read(), response


def raw_exchange(url: str, data: bytes) -> bytes:
    parsed = urlparse(url)
    with socket.create_connection((parsed.hostname, parsed.port), timeout=10) as sock:
        sock.sendall(data)
        sock.shutdown(socket.SHUT_WR)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def test_ping_answers_200(server):
    status, body, _ = request(server, "GET", "/ping")
    assert status == 200 and json.loads(body) == {"status": "healthy"}


def test_csv_and_json_are_scored(server):
    status, body, response = request(server, "POST", "/invocations", ROW + b"\n" + ROW, {"Content-Type": "text/csv"})
    assert status == 200 and response.getheader("Content-Type") == "application/json"
    assert len(json.loads(body)["predictions"]) == 2
    record = {"tenure_months": 12, "monthly_charges": 70.5, "total_charges": 800, "contract": "one-year",
              "payment_method": "card", "internet_service": "dsl", "support_calls": 1, "num_products": 2, "age": 40}
    status, body, response = request(server, "POST", "/invocations", json.dumps({"instances": [record]}),
                                     {"Content-Type": "application/json", "Accept": "text/csv"})
    assert status == 200 and response.getheader("Content-Type") == "text/csv"
    assert 0 < float(body) < 1


def test_garbage_gets_a_4xx_and_the_connection_stays_usable(server):
    connection = connect(server)
    connection.request("POST", "/invocations", body=b"\x00\xffgarbage", headers={"Content-Type": "application/json"})
    response = connection.getresponse()
    assert response.status == 400 and "not UTF-8" in json.loads(response.read())["message"]
    connection.request("POST", "/invocations", body=ROW, headers={"Content-Type": "text/csv"})
    assert connection.getresponse().status == 200


@pytest.mark.parametrize(("data", "status"), [
    (b"GARBAGE\r\n\r\n", 400),
    (b"GET /ping HTTP/1.1\r\nHost: t\r\nno colon here\r\n\r\n", 400),
    (b"POST /invocations HTTP/1.1\r\nHost: t\r\nContent-Length: 99999999999\r\n\r\n", 413),
    (b"POST /invocations HTTP/1.1\r\nHost: t\r\nContent-Length: -1\r\n\r\n", 400),
    (b"POST /invocations HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n", 411),
    (b"GET /invocations HTTP/1.1\r\nHost: t\r\n\r\n", 405),
    (b"POST /ping HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n", 405),
    (b"GET /admin HTTP/1.1\r\nHost: t\r\n\r\n", 404),
    (b"GET /ping HTTP/1.1\r\nHost: t\r\n" + b"X-Long: " + b"a" * 70000 + b"\r\n\r\n", 431),
])
def test_malformed_http_gets_a_4xx_never_a_5xx(server, data, status):
    answer = raw_exchange(server, data)
    assert answer.startswith(f"HTTP/1.1 {status} ".encode()), answer[:100]


def test_pipelined_requests_are_answered_in_order(server):
    one = (b"POST /invocations HTTP/1.1\r\nHost: t\r\nContent-Type: text/csv\r\nContent-Length: %d\r\n\r\n%s"
           % (len(ROW), ROW))
    ping = b"GET /ping HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"
    answer = raw_exchange(server, one + one + ping)
    assert answer.count(b"HTTP/1.1 200 OK") == 3
    assert answer.rstrip().endswith(b'{"status": "healthy"}')


def test_expect_100_continue_is_honoured(server):
    parsed = urlparse(server)
    with socket.create_connection((parsed.hostname, parsed.port), timeout=10) as sock:
        sock.sendall(b"POST /invocations HTTP/1.1\r\nHost: t\r\nContent-Type: text/csv\r\nExpect: 100-continue\r\n"
                     b"Content-Length: %d\r\n\r\n" % len(ROW))
        assert sock.recv(100).startswith(b"HTTP/1.1 100 Continue")
        sock.sendall(ROW)
        assert sock.recv(1000).startswith(b"HTTP/1.1 200 OK")


def test_execution_parameters_for_batch_transform(server):
    status, body, _ = request(server, "GET", "/execution-parameters")
    assert status == 200 and json.loads(body)["BatchStrategy"] == "MULTI_RECORD"


def children(pid: int) -> list[int]:
    return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="reads worker ids from /proc")
def test_sigterm_stops_every_worker_and_exits_zero(model_dir):
    process, url = start_server(model_dir, workers=2)
    workers = children(process.pid)
    assert len(workers) == 2
    connection = connect(url)
    connection.request("GET", "/ping")
    assert connection.getresponse().status == 200  # an idle keep-alive connection must not hold shutdown up
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=15) == 0
    assert not answers_http(url + "/ping")
    assert all(not Path(f"/proc/{pid}").exists() for pid in workers)


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="reads worker ids from /proc")
def test_a_worker_that_dies_is_replaced(model_dir):
    process, url = start_server(model_dir, workers=2)
    try:
        first = children(process.pid)
        os.kill(first[0], signal.SIGKILL)
        wait_until(lambda: len(children(process.pid)) == 2 and first[0] not in children(process.pid), 10, "new worker")
        for _ in range(4):
            assert request(url, "POST", "/invocations", ROW, {"Content-Type": "text/csv"})[0] == 200
    finally:
        assert stop_server(process) == 0


def test_a_missing_model_fails_at_start_with_a_clear_message(tmp_path):
    env = {**os.environ, "SM_MODEL_DIR": str(tmp_path), "SAGEMAKER_BIND_TO_PORT": str(free_port()),
           "PRODLINE_SERVER_HOST": "127.0.0.1"}
    started = time.monotonic()
    result = subprocess.run([sys.executable, "-m", "workloads.serving.server"], check=False, env=env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode != 0 and "no model.joblib in" in result.stderr
    assert time.monotonic() - started < 60


def test_requests_that_arrive_together_are_scored_together_and_answered_alone(server, model_dir):
    from workloads.ingest.generator import generate_typed
    from workloads.serving import payloads
    from workloads.training.artifacts import load_model

    frame = generate_typed(6, 77)[list(payloads.INPUTS)]
    rows = [",".join("" if str(v) == "nan" else str(v) for v in row).encode() for row in frame.to_numpy(dtype=object)]
    bodies = [*rows[:3], b"not,a,valid,row", *rows[3:]]
    data = b"".join(b"POST /invocations HTTP/1.1\r\nHost: t\r\nContent-Type: text/csv\r\nContent-Length: %d\r\n\r\n%s"
                    % (len(body), body) for body in bodies)
    data += b"GET /ping HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"
    answers = raw_exchange(server, data).split(b"HTTP/1.1 ")[1:]
    assert [a[:3] for a in answers] == [b"200"] * 3 + [b"400"] + [b"200"] * 3 + [b"200"]
    expected = load_model(model_dir).pipeline.predict_proba(frame)[:, 1]
    scored = [json.loads(a.split(b"\r\n\r\n", 1)[1])["predictions"][0] for i, a in enumerate(answers[:-1]) if i != 3]
    assert scored == pytest.approx(expected.tolist())


def test_nothing_after_connection_close_is_read(server):
    close = b"GET /ping HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"
    answer = raw_exchange(server, close + b"GET /ping HTTP/1.1\r\nHost: t\r\n\r\n")
    assert answer.count(b"HTTP/1.1 200 OK") == 1


def test_a_second_server_on_a_taken_port_fails_instead_of_sharing_it(server, model_dir):
    env = {**os.environ, "SM_MODEL_DIR": str(model_dir), "SAGEMAKER_BIND_TO_PORT": str(urlparse(server).port),
           "PRODLINE_SERVER_HOST": "127.0.0.1", "SAGEMAKER_MODEL_SERVER_WORKERS": "2"}
    result = subprocess.run([sys.executable, "-m", "workloads.serving.server"], check=False, env=env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode != 0 and "cannot listen on 127.0.0.1" in result.stderr
