"""The stream producer: batches within Kinesis' limits, only refused records re-sent, every record accounted."""

from __future__ import annotations

import json

import boto3
import pytest
from botocore.stub import Stubber

from workloads.ingest import stream
from workloads.ingest.generator import generate_raw
from workloads.ingest.stream import Record, batches, encode, events, put_records

STREAM = "prodline-test-churn-events"


def records(count: int, size: int = 10) -> list[Record]:
    return [Record(b"x" * size, f"key-{i}") for i in range(count)]


def answer(codes: list[str | None]) -> dict:
    results = [{"ErrorCode": c, "ErrorMessage": f"{c} on shard"} if c else
               {"SequenceNumber": "1", "ShardId": "shardId-000000000000"} for c in codes]
    failed = sum(1 for c in codes if c)
    return {"Records": results, **({"FailedRecordCount": failed} if failed else {})}  # the model's minimum is 1


def expect(stubber: Stubber, sent: list[Record], codes: list[str | None]) -> None:
    stubber.add_response("put_records", answer(codes), {
        "StreamName": STREAM, "Records": [{"Data": r.data, "PartitionKey": r.partition_key} for r in sent]})


@pytest.fixture
def client():
    kinesis = boto3.client("kinesis", region_name="eu-west-1")
    with Stubber(kinesis) as stubber:
        yield kinesis, stubber
        stubber.assert_no_pending_responses()


def test_batches_hold_at_most_500_records():
    sizes = [len(b) for b in batches(records(1201))]
    assert sizes == [500, 500, 201]


def test_batches_hold_at_most_5_mib():
    big = records(12, size=1000 * 1024 - 10)  # ~1 MB each with the key: five fit in 5 MiB, a sixth does not
    found = list(batches(big))
    assert [len(b) for b in found] == [5, 5, 2]
    assert all(sum(r.size for r in b) <= stream.MAX_BYTES_PER_CALL for b in found)


def test_only_the_refused_records_are_sent_again_and_counted_exactly(client):
    kinesis, stubber = client
    sent = records(4)
    throttled = "ProvisionedThroughputExceededException"
    expect(stubber, sent, [None, throttled, None, "InternalFailure"])
    expect(stubber, [sent[1], sent[3]], [None, throttled])
    expect(stubber, [sent[3]], [None])
    report = put_records(kinesis, STREAM, sent, sleep=lambda _: None)
    assert (report.sent, report.retried, report.failed, report.calls) == (4, 3, [], 3)


def test_records_still_refused_after_the_last_round_fail_with_their_code(client):
    kinesis, stubber = client
    sent = records(3)
    throttled = "ProvisionedThroughputExceededException"
    expect(stubber, sent, [throttled, None, "KMSAccessDeniedException"])
    expect(stubber, [sent[0]], [throttled])
    report = put_records(kinesis, STREAM, sent, rounds=1, sleep=lambda _: None)
    assert (report.sent, report.retried) == (1, 1)
    assert report.failures_by_code() == {throttled: 1, "KMSAccessDeniedException": 1}
    assert {f.partition_key for f in report.failed} == {"key-0", "key-2"}, "a non-retryable code is never re-sent"


def test_a_record_over_1_mib_is_reported_and_never_sent(client):
    kinesis, stubber = client
    small, huge = Record(b"{}", "small"), Record(b"x" * stream.MAX_BYTES_PER_RECORD, "huge")
    expect(stubber, [small], [None])
    report = put_records(kinesis, STREAM, [huge, small], sleep=lambda _: None)
    assert report.sent == 1 and [f.code for f in report.failed] == [stream.TOO_LARGE]
    assert report.sent + len(report.failed) == 2


def test_events_carry_a_record_id_event_time_and_the_row_with_json_types():
    raw = generate_raw(50, 3, invalid_fraction=0.3)
    found = events(raw)
    assert len({e["record_id"] for e in found}) == 50
    decoded = json.loads(encode(found[0]).data)
    assert decoded["schema_version"] == 1 and decoded["event_time"].endswith("Z")
    typed = [e for e in found if isinstance(e["tenure_months"], int)]
    assert typed, "valid integers go as JSON numbers"
    assert any(e["tenure_months"] == "twelve" for e in found), "an unparsable value goes as the text received"


def test_retry_mode_must_be_one_botocore_knows():
    with pytest.raises(ValueError, match="retry_mode"):
        stream.kinesis_client("legacy-ish")
    assert stream.kinesis_client("adaptive").meta.config.retries["mode"] == "adaptive"


def test_the_entry_point_sends_every_event_and_prints_the_accounting(monkeypatch, capsys):
    from moto import mock_aws

    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        boto3.client("kinesis", region_name="eu-west-1").create_stream(
            StreamName=STREAM, StreamModeDetails={"StreamMode": "ON_DEMAND"})
        assert stream.main(["--stream", STREAM, "--rows", "30", "--invalid-fraction", "0.1"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert (printed["sent"], printed["failed"], printed["calls"]) == (30, 0, 1)
