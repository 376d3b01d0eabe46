"""`prodline sandbox stream` on a realized dev stack: events through Kinesis and Firehose into the ETL, reconciled."""

from __future__ import annotations

import json

import pytest

from prodline import cli
from prodline.sandbox import realizer, shared
from prodline.sandbox.lifecycle import Sandbox

pytestmark = pytest.mark.e2e
NO_MODEL = "prodline:modelPackageArn=none"


@pytest.fixture
def realized(emulator_url, tmp_path, monkeypatch):
    """dev realized and counted among the emulator's users, as `sandbox up` leaves it (without its gateway)."""
    monkeypatch.setenv("PRODLINE_SANDBOX_DIR", str(tmp_path))
    monkeypatch.setenv("AWS_ENDPOINT_URL", emulator_url)
    realizer.up("dev", [NO_MODEL])
    shared.join("dev", emulator_url)
    yield
    realizer.destroy("dev")
    shared.leave("dev")


def test_streamed_events_are_delivered_and_reconcile_through_the_etl(realized, capsys):
    assert cli.main(["sandbox", "stream", "--stack", "dev", "-c", NO_MODEL, "--rows", "200", "--bad", "4"]) == 0
    counts = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert (counts["sent"], counts["failed"]) == (204, 0)
    assert (counts["delivered"], counts["errored"]) == (200, 4), "sent = delivered + error-prefixed"

    [validate, _] = Sandbox("dev", [NO_MODEL]).run_etl()
    [partition] = json.loads(validate.output)["committed"]
    stream = partition["rows"]["stream"]
    assert stream["in"] == counts["delivered"]
    assert stream["in"] == stream["curated"] + stream["quarantined"] + stream["duplicates"]
    assert stream["quarantined"] > 0, "the invalid events are quarantined"


@pytest.mark.parametrize(("flag", "value"), [("--rows", "0"), ("--bad", "-1")])
def test_stream_refuses_counts_out_of_range(flag, value, capsys):
    with pytest.raises(SystemExit) as stopped:
        cli.main(["sandbox", "stream", "--stack", "dev", flag, value])
    assert stopped.value.code == 2
    assert flag in capsys.readouterr().err
