"""The endpoint client: batching, retries with backoff on throttling, a clear error for a missing endpoint."""

import io
import json

import pytest
from botocore.exceptions import ClientError

from workloads.client import invoke
from workloads.client.invoke import Batch, EndpointUnavailable, InvokeFailed, invoke_with_retries

ROW = "12,70.5,800,one-year,card,dsl,1,2,40"
HEADER = "tenure_months,monthly_charges,total_charges,contract,payment_method,internet_service,support_calls," \
         "num_products,age"


def client_error(code: str, message: str = "", **extra) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": message}, **extra}, "InvokeEndpoint")


class FakeRuntime:
    def __init__(self, *outcomes):
        self.outcomes, self.calls = list(outcomes), []

    def invoke_endpoint(self, **kwargs):
        self.calls.append(kwargs)
        outcome = self.outcomes.pop(0)
        if isinstance(outcome, Exception):
            raise outcome
        return {"Body": io.BytesIO(outcome)}


def test_throttling_is_retried_with_growing_backoff():
    throttled = client_error("ThrottlingException")
    runtime = FakeRuntime(throttled, throttled, b'{"predictions": [0.5]}')
    sleeps = []
    body = invoke_with_retries(runtime, "ep", Batch(b"x", 1), "text/csv", "application/json",
                               sleep=sleeps.append, jitter=lambda: 1.0, base_delay=0.1)
    assert body == b'{"predictions": [0.5]}'
    assert len(runtime.calls) == 3 and sleeps == [0.1, 0.2]


def test_retries_stop_after_the_last_attempt():
    runtime = FakeRuntime(*[client_error("ServiceUnavailable", "busy")] * 3)
    with pytest.raises(InvokeFailed, match="after 3 attempt"):
        invoke_with_retries(runtime, "ep", Batch(b"x", 1), "text/csv", "application/json", attempts=3,
                            sleep=lambda s: None)


def test_a_model_error_is_not_retried_and_says_what_the_model_answered():
    runtime = FakeRuntime(client_error("ModelError", "boom", OriginalStatusCode=400,
                                       OriginalMessage='{"message": "row 1 has 3 fields"}'))
    with pytest.raises(InvokeFailed, match=r"HTTP 400.*row 1 has 3 fields"):
        invoke_with_retries(runtime, "ep", Batch(b"x", 1), "text/csv", "application/json", sleep=lambda s: None)
    assert len(runtime.calls) == 1


def test_a_missing_endpoint_at_invoke_time_is_named():
    runtime = FakeRuntime(client_error("ValidationError", "Endpoint churn of account 123 not found."))
    with pytest.raises(EndpointUnavailable, match="'churn' not found"):
        invoke_with_retries(runtime, "churn", Batch(b"x", 1), "text/csv", "application/json")


def test_a_missing_endpoint_is_a_clear_error_and_exit_code_3(aws, tmp_path, capsys):
    rows = tmp_path / "rows.csv"
    rows.write_text(ROW + "\n")
    assert invoke.main(["--endpoint", "no-such-endpoint", "--file", str(rows)]) == 3
    assert "endpoint 'no-such-endpoint' not found" in capsys.readouterr().err


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
