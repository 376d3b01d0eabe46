"""The embedded emulator's slowest first answers are asked for in the background, on loopback only."""

from __future__ import annotations

import contextlib
import http.server
import json
import os
import time
from collections.abc import Iterator

import pytest

from prodline.net import free_port
from prodline.sandbox import emulator as emu
from prodline.sandbox import emulator_warm_up as warm
from tests.helpers import serving_in_thread


class _Quiet(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


@contextlib.contextmanager
def _served(handler: type[http.server.BaseHTTPRequestHandler]) -> Iterator[str]:
    """The URL of a loopback server answering with ``handler`` until the block ends."""
    with serving_in_thread(http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)) as server:
        yield f"http://127.0.0.1:{server.server_address[1]}"


class _Recorder(_Quiet):
    seen: list[tuple[str, str, str, str]] = []

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        scope = self.headers["Authorization"].split("Credential=", 1)[1].split(",", 1)[0]
        self.seen.append((self.command, self.path, scope.split("/")[3], self.headers.get("X-Amz-Target", "")))
        self.send_response(400 if self.path == "/restapis" else 200)  # any answer is an answer
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_GET = do_POST = _answer


@pytest.fixture
def recorder():
    _Recorder.seen = []
    with _served(_Recorder) as url:
        yield url


def test_each_slow_service_gets_one_read_routed_to_it_by_its_credential_scope(recorder):
    answered = warm.warm_up(recorder)
    assert answered == {"ssm": 200, "apigateway": 400, "glue": 200, "sagemaker": 200}
    assert _Recorder.seen == [("POST", "/", "ssm", "AmazonSSM.DescribeParameters"),
                              ("GET", "/restapis", "apigateway", ""),
                              ("POST", "/", "glue", "AWSGlue.GetDatabases"),
                              ("POST", "/", "sagemaker", "SageMaker.ListEndpoints")]


@pytest.mark.parametrize("url", ["http://example.com:4566", "http://10.0.0.5:4566", "ftp://127.0.0.1:4566"])
def test_anything_but_a_loopback_url_is_refused_before_a_request(url):
    with pytest.raises(ValueError, match="loopback"):
        warm.warm_up(url)


def test_a_server_that_is_gone_ends_the_warm_up_quietly():
    assert warm.warm_up(f"http://127.0.0.1:{free_port()}", timeout=2) == {}


@pytest.mark.e2e
def test_moto_routes_every_warm_up_read_and_answers_it(tmp_path, monkeypatch):
    """The embedded server started by ``ensure`` is warmed; each read is one moto answers with 200 (not a
    routing error), so it built the service."""
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    started: list[str] = []
    monkeypatch.setattr(emu, "start_warm_up", started.append)
    server = emu.ensure(tmp_path, port=free_port())
    try:
        assert started == [server.endpoint_url]
        assert warm.warm_up(server.endpoint_url) == {"ssm": 200, "apigateway": 200, "glue": 200, "sagemaker": 200}
    finally:
        emu.stop(tmp_path)


def test_a_server_that_cuts_its_answer_short_ends_the_warm_up_quietly():
    class _CutShort(_Quiet):
        def _answer(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            self.send_response(200)
            self.send_header("Content-Length", "100")  # promises a body it never sends
            self.end_headers()
            self.wfile.write(b"{")
            self.close_connection = True

        do_GET = do_POST = _answer

    with _served(_CutShort) as url:
        answered = warm.warm_up(url, timeout=5)
    assert answered == {}  # the first answer was cut short: nothing more is sent


def test_our_recorded_server_that_answers_slowly_while_it_warms_up_is_still_ours(tmp_path, monkeypatch):
    """moto answers nothing else while it builds a service: ``ensure`` waits for it instead of giving it up."""
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)

    class _Busy(_Quiet):
        def do_GET(self) -> None:
            time.sleep(2.0)  # longer than a stranger on the port gets
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

    with _served(_Busy) as url:
        (tmp_path / "emulator.json").write_text(json.dumps({"pid": os.getpid(), "url": url}))
        found = emu.ensure(tmp_path, port=int(url.rsplit(":", 1)[1]))
    assert found == emu.Emulator(url, embedded=True, pid=os.getpid())
    assert (tmp_path / "emulator.json").exists()
