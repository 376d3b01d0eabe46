"""The front door's client: the key and an inference id on every request, 429/503 retried after Retry-After,
anything else stopped with the server-shaped message; and its command line against a local HTTP server."""

from __future__ import annotations

import json
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.helpers import serving_in_thread
from workloads.client import front_door
from workloads.client.front_door import Answer, Refused, predict
from workloads.client.invoke import Batch

BATCH = Batch(b"1,2,3", 1)


class Script:
    """Answers in order, recording what was sent."""

    def __init__(self, *answers: Answer):
        self.answers, self.sent = list(answers), []

    def __call__(self, url, body, headers):
        self.sent.append((url, body, dict(headers)))
        return self.answers.pop(0)


def test_a_throttled_request_is_retried_after_the_wait_the_front_door_asks_for():
    post, waits = Script(Answer(429, b"{}", 3.0), Answer(200, b'{"predictions": [0.5]}', None)), []
    body = predict("http://door/dev", "k-1", BATCH, "text/csv", "application/json", post=post, sleep=waits.append)
    assert body == b'{"predictions": [0.5]}' and waits == [3.0]
    (url, sent, headers), _ = post.sent
    assert url == "http://door/dev/v1/predict" and sent == b"1,2,3" and headers["x-api-key"] == "k-1"
    assert headers[front_door.INFERENCE_ID_HEADER], "each request carries an inference id"


def test_a_refusal_stops_at_once_with_the_servers_message():
    post = Script(Answer(403, json.dumps({"error": "Forbidden", "message": "send an API key"}).encode(), None))
    with pytest.raises(Refused, match="HTTP 403: Forbidden: send an API key"):
        predict("http://door/dev", "bad", BATCH, "text/csv", "application/json", post=post, sleep=lambda _: None)
    assert len(post.sent) == 1


def test_retries_end_after_max_attempts():
    post = Script(*[Answer(503, b'{"error": "Service Unavailable", "message": "x"}', 1.0)] * 3)
    with pytest.raises(Refused, match="503"):
        predict("http://door/dev", "k", BATCH, "text/csv", "application/json", max_attempts=3, post=post,
                sleep=lambda _: None)
    assert len(post.sent) == 3


@pytest.fixture
def door():
    """A stand-in front door on loopback: 200 for key 'good', else 403 in the server's shape."""
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers["Content-Length"]))
            good = self.headers.get("x-api-key") == "good" and self.path == "/dev/v1/predict"
            answer = json.dumps({"predictions": [0.1] * len(body.splitlines())} if good else
                                {"error": "Forbidden", "message": "no key"}).encode()
            self.send_response(200 if good else 403)
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, *args):
            pass

    with serving_in_thread(ThreadingHTTPServer(("127.0.0.1", 0), Handler)) as server:
        yield f"http://127.0.0.1:{server.server_address[1]}/dev"


def test_the_command_prints_one_prediction_per_row_or_fails_with_the_message(door, tmp_path, capsys):
    rows = tmp_path / "rows.csv"
    rows.write_text("1,2\n3,4\n5,6\n")
    assert front_door.main(["--url", door, "--api-key", "good", "--file", str(rows), "--batch-size", "2"]) == 0
    assert capsys.readouterr().out.split() == ["0.1"] * 3
    assert front_door.main(["--url", door, "--api-key", "bad", "--file", str(rows)]) == 1
    assert "HTTP 403: Forbidden: no key" in capsys.readouterr().err
