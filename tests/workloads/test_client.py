"""The endpoint client: batching, botocore's retries on throttling, a clear error for a missing endpoint.

Retries are botocore's (standard mode), so they are tested the way botocore meets them: a local HTTP
server on 127.0.0.1 answers InvokeEndpoint from a script of responses and records every request.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from prodline.net import free_port
from tests.helpers import serving_in_thread
from workloads.client import invoke
from workloads.client.invoke import (
    Batch,
    EndpointUnavailable,
    InvokeFailed,
    UnexpectedAnswer,
    invoke_batch,
    runtime_client,
)

ROW = "12,70.5,800,one-year,card,dsl,1,2,40"
HEADER = "tenure_months,monthly_charges,total_charges,contract,payment_method,internet_service,support_calls," \
         "num_products,age"
PREDICTIONS = b'{"predictions": [0.5]}'


@dataclass(frozen=True)
class Answer:
    status: int
    body: bytes = PREDICTIONS
    error_type: str | None = None
    """The x-amzn-ErrorType header: how a rest-json service names its error."""
    content_type: str = "application/json"


def error(status: int, code: str, message: str = "", **fields) -> Answer:
    return Answer(status, json.dumps({"message": message, **fields}).encode(), code)


OK = Answer(200)
THROTTLED = error(400, "ThrottlingException", "Rate exceeded")
UNAVAILABLE = error(503, "ServiceUnavailable", "busy")
NOT_READY = error(429, "ModelNotReadyException", "the model is still loading")


@dataclass
class FakeRuntime:
    """What the server was asked to answer, and the requests it saw (path, amz-sdk-request header)."""

    answers: list[Answer]
    requests: list[tuple[str, str]] = field(default_factory=list)
    inference_ids: list[str | None] = field(default_factory=list)
    """The X-Amzn-SageMaker-Inference-Id header of each request."""

    @property
    def attempts(self) -> list[str]:
        """The `attempt=N` part of each request's amz-sdk-request header (botocore's own attempt count)."""
        return [next(part for part in header.split("; ") if part.startswith("attempt="))
                for _, header in self.requests]


@pytest.fixture
def runtime_server(monkeypatch) -> Iterator[FakeRuntime]:
    """A SageMaker Runtime stand-in on 127.0.0.1; boto3's sagemaker-runtime clients are pointed at it."""
    fake = FakeRuntime([])

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            fake.requests.append((self.path, self.headers.get("amz-sdk-request", "")))
            fake.inference_ids.append(self.headers.get("X-Amzn-SageMaker-Inference-Id"))
            answer = fake.answers.pop(0)
            self.send_response(answer.status)
            self.send_header("Content-Type", answer.content_type)
            self.send_header("Content-Length", str(len(answer.body)))
            if answer.error_type:
                self.send_header("x-amzn-ErrorType", answer.error_type)
            self.end_headers()
            self.wfile.write(answer.body)

        def log_message(self, *args):
            pass

    with serving_in_thread(ThreadingHTTPServer(("127.0.0.1", 0), Handler)) as server:
        monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
        monkeypatch.setenv("AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME", f"http://127.0.0.1:{server.server_port}")
        yield fake


def call(fake: FakeRuntime, *answers: Answer, max_attempts: int = 6) -> bytes:
    fake.answers.extend(answers)
    client = runtime_client(max_attempts, jitter=lambda: 0.0)
    return invoke_batch(client, "churn", Batch(ROW.encode(), 1), "text/csv", "application/json")


# --- retries: botocore's standard mode ------------------------------------------------------------------

def test_the_client_uses_botocores_standard_retry_mode_counting_every_attempt():
    retries = runtime_client(4).meta.config.retries
    assert retries["mode"] == "standard"
    assert retries["total_max_attempts"] == 4


def test_throttling_is_retried_by_botocore(runtime_server):
    assert call(runtime_server, THROTTLED, OK) == PREDICTIONS
    # botocore numbers its own attempts in the amz-sdk-request header: the retry is botocore's, not a loop of ours
    assert runtime_server.attempts == ["attempt=1", "attempt=2"]
    assert all(path == "/endpoints/churn/invocations" for path, _ in runtime_server.requests)


def test_a_503_is_retried_by_botocore(runtime_server):
    assert call(runtime_server, UNAVAILABLE, UNAVAILABLE, OK) == PREDICTIONS
    assert runtime_server.attempts == ["attempt=1", "attempt=2", "attempt=3"]


def test_a_model_still_loading_is_retried(runtime_server):
    assert call(runtime_server, NOT_READY, NOT_READY, OK) == PREDICTIONS
    assert runtime_server.attempts == ["attempt=1", "attempt=2", "attempt=3"]


def test_retries_stop_after_max_attempts_in_all(runtime_server):
    with pytest.raises(InvokeFailed, match=r"after 3 attempt\(s\): ServiceUnavailable: busy"):
        call(runtime_server, *[UNAVAILABLE] * 5, max_attempts=3)
    assert len(runtime_server.requests) == 3
    assert runtime_server.requests[0][1] == "attempt=1; max=3"
    assert runtime_server.attempts == ["attempt=1", "attempt=2", "attempt=3"]


def test_a_model_still_loading_is_retried_no_more_than_max_attempts(runtime_server):
    with pytest.raises(InvokeFailed, match=r"after 2 attempt\(s\): ModelNotReadyException"):
        call(runtime_server, *[NOT_READY] * 5, max_attempts=2)
    assert len(runtime_server.requests) == 2


def test_one_attempt_means_no_retry(runtime_server):
    with pytest.raises(InvokeFailed, match=r"after 1 attempt\(s\): ThrottlingException"):
        call(runtime_server, THROTTLED, OK, max_attempts=1)
    assert len(runtime_server.requests) == 1


# --- errors that are not retried ------------------------------------------------------------------------

def test_a_model_error_is_not_retried_and_says_what_the_model_answered(runtime_server):
    model_error = error(424, "ModelError", "boom", OriginalStatusCode=400,
                        OriginalMessage='{"message": "row 1 has 3 fields"}')
    with pytest.raises(InvokeFailed, match=r"HTTP 400.*row 1 has 3 fields"):
        call(runtime_server, model_error, OK)
    assert len(runtime_server.requests) == 1


def test_a_missing_endpoint_at_invoke_time_is_named_and_not_retried(runtime_server):
    missing = error(400, "ValidationError", "Endpoint churn of account 123 not found.")
    with pytest.raises(EndpointUnavailable, match="'churn' not found"):
        call(runtime_server, missing, OK)
    assert len(runtime_server.requests) == 1


def test_a_bad_request_is_not_retried(runtime_server):
    with pytest.raises(InvokeFailed, match=r"after 1 attempt\(s\): ValidationError: bad content type"):
        call(runtime_server, error(400, "ValidationError", "bad content type"), OK)
    assert len(runtime_server.requests) == 1


# --- answers that are not SageMaker Runtime's ------------------------------------------------------------

def test_an_emulators_placeholder_answer_says_where_the_client_points_and_what_it_got(runtime_server):
    # moto answers InvokeEndpoint of any endpoint with this, as 200, when no result is queued
    with pytest.raises(UnexpectedAnswer) as unexpected:
        call(runtime_server, Answer(200, b"body", content_type="content_type"))
    message = str(unexpected.value)
    url = runtime_client(1).meta.endpoint_url
    assert message.startswith(f"{url} answered InvokeEndpoint 'churn' with 0 prediction(s) for 1 row(s)")
    assert "Content-Type 'content_type', 4 bytes: b'body'" in message
    assert len(runtime_server.requests) == 1, "a wrong answer is not retried"


@pytest.mark.parametrize("body", [b'{"predictions": []}', b'{"predictions": [0.1, 0.2]}', b"", b"0.1\n0.2\n"])
def test_a_count_of_predictions_other_than_the_rows_sent_is_unexpected(runtime_server, body):
    with pytest.raises(UnexpectedAnswer, match=r"for 1 row\(s\)"):
        call(runtime_server, Answer(200, body))


def test_the_command_exits_2_on_an_unexpected_answer_and_prints_no_prediction(runtime_server, tmp_path, capsys):
    rows = tmp_path / "rows.csv"
    rows.write_text(ROW + "\n")
    runtime_server.answers.append(Answer(200, b"", content_type="text/html"))
    assert invoke.main(["--endpoint", "churn", "--file", str(rows), "--no-check"]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1 and "Content-Type 'text/html', 0 bytes" in err


def test_the_command_exits_2_naming_the_url_where_nothing_listens(monkeypatch, tmp_path, capsys):
    url = f"http://127.0.0.1:{free_port()}"
    monkeypatch.setenv("AWS_ENDPOINT_URL", url)
    rows = tmp_path / "rows.csv"
    rows.write_text(ROW + "\n")
    assert invoke.main(["--endpoint", "churn", "--file", str(rows), "--max-attempts", "1"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert f'the endpoint URL did not answer: Could not connect to the endpoint URL: "{url}/' in err


@pytest.mark.parametrize("url", ["not-a-url", "http://[::1"])
def test_the_command_exits_2_on_an_endpoint_url_botocore_cannot_use(monkeypatch, tmp_path, capsys, url):
    monkeypatch.setenv("AWS_ENDPOINT_URL", url)
    rows = tmp_path / "rows.csv"
    rows.write_text(ROW + "\n")
    assert invoke.main(["--endpoint", "churn", "--file", str(rows)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: cannot set up the AWS clients: ") and err.count("\n") == 1


def test_the_command_exits_2_without_a_region(monkeypatch, tmp_path, capsys):
    for variable in ("AWS_DEFAULT_REGION", "AWS_REGION"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))  # nor a region in a profile
    rows = tmp_path / "rows.csv"
    rows.write_text(ROW + "\n")
    assert invoke.main(["--endpoint", "churn", "--file", str(rows)]) == 2
    assert capsys.readouterr().err == "error: no AWS region: set AWS_DEFAULT_REGION (or AWS_REGION)\n"


# --- the command ----------------------------------------------------------------------------------------

def test_the_command_scores_rows_through_a_throttled_endpoint(runtime_server, tmp_path, capsys):
    rows = tmp_path / "rows.csv"
    rows.write_text(f"{ROW}\n{ROW}\n")
    runtime_server.answers.extend([THROTTLED, OK, OK])
    code = invoke.main(["--endpoint", "churn", "--file", str(rows), "--batch-size", "1", "--no-check"])
    assert code == 0
    assert capsys.readouterr().out.split() == ["0.5", "0.5"]
    assert runtime_server.attempts == ["attempt=1", "attempt=2", "attempt=1"]


def test_the_command_gives_each_batch_an_inference_id_that_retries_keep(runtime_server, tmp_path, capsys):
    rows = tmp_path / "rows.csv"
    rows.write_text(f"{ROW}\n{ROW}\n")
    runtime_server.answers.extend([OK, THROTTLED, OK])
    code = invoke.main(["--endpoint", "churn", "--file", str(rows), "--batch-size", "1", "--no-check",
                        "--inference-id", "run7"])
    assert code == 0
    assert runtime_server.inference_ids == ["run7-0", "run7-1", "run7-1"], "a retry must carry the same id"
    assert "run7-0 .. run7-1" in capsys.readouterr().err


def test_without_an_inference_id_none_is_sent(runtime_server):
    call(runtime_server, OK)
    assert runtime_server.inference_ids == [None]


def test_the_command_exits_1_when_retries_run_out(runtime_server, tmp_path, capsys):
    rows = tmp_path / "rows.csv"
    rows.write_text(ROW + "\n")
    runtime_server.answers.extend([UNAVAILABLE] * 2)
    code = invoke.main(["--endpoint", "churn", "--file", str(rows), "--max-attempts", "2", "--no-check"])
    assert code == 1
    assert "InvokeEndpoint failed after 2 attempt(s): ServiceUnavailable" in capsys.readouterr().err
    assert len(runtime_server.requests) == 2


def test_a_missing_endpoint_is_a_clear_error_and_exit_code_3(aws, tmp_path, capsys):
    rows = tmp_path / "rows.csv"
    rows.write_text(ROW + "\n")
    assert invoke.main(["--endpoint", "no-such-endpoint", "--file", str(rows)]) == 3
    assert "endpoint 'no-such-endpoint' not found" in capsys.readouterr().err


# --- batching and output --------------------------------------------------------------------------------

def test_csv_batches_repeat_the_header():
    batches = list(invoke.csv_batches("\n".join([HEADER, ROW, ROW, ROW]), batch_size=2))
    assert [b.rows for b in batches] == [2, 1]
    assert all(b.body.decode().startswith(HEADER + "\n") for b in batches)
    assert [b.rows for b in invoke.csv_batches(f"{ROW}\n{ROW}\n", 5)] == [2]


def test_json_arrays_and_json_lines_are_batched():
    record = {"tenure_months": 1}
    assert [b.rows for b in invoke.json_batches(json.dumps([record] * 5), 2)] == [2, 2, 1]
    assert [json.loads(b.body) for b in invoke.json_batches("\n".join([json.dumps(record)] * 2), 10)] == [[record] * 2]


def test_predictions_are_printed_one_per_line():
    assert invoke.predictions(b'{"predictions": [0.1, 0.2]}') == ["0.1", "0.2"]
    assert invoke.predictions(b"0.1\n0.2\n") == ["0.1", "0.2"]


def test_bad_input_is_exit_code_2(tmp_path, capsys):
    assert invoke.main(["--endpoint", "e", "--file", str(tmp_path / "absent.csv")]) == 2
    assert "cannot read" in capsys.readouterr().err
    empty = tmp_path / "empty.json"
    empty.write_text("[]")
    assert invoke.main(["--endpoint", "e", "--file", str(empty)]) == 2
    rows = tmp_path / "rows.csv"
    rows.write_text(ROW + "\n")
    assert invoke.main(["--endpoint", "e", "--file", str(rows), "--max-attempts", "0"]) == 2
    assert "--max-attempts must be >= 1" in capsys.readouterr().err


def test_prodline_invoke_hands_the_inference_id_prefix_to_the_client(runtime_server, tmp_path, monkeypatch):
    from prodline import cli

    rows = tmp_path / "rows.csv"
    rows.write_text(ROW + "\n")
    seen: list[list[str]] = []
    monkeypatch.setattr(invoke, "main", lambda argv: seen.append(list(argv)) or 0)
    assert cli.main(["invoke", "--endpoint", "churn", "--file", str(rows), "--inference-id", "batch9"]) == 0
    assert seen[0][-2:] == ["--inference-id", "batch9"]


def test_an_inference_id_longer_than_invokeendpoint_allows_is_refused_before_any_call(runtime_server, tmp_path,
                                                                                      capsys):
    rows = tmp_path / "rows.csv"
    rows.write_text(ROW + "\n")
    assert invoke.main(["--endpoint", "churn", "--file", str(rows), "--no-check", "--inference-id", "x" * 64]) == 2
    assert "longer than 64" in capsys.readouterr().err and not runtime_server.requests
