"""The demo's later stacks (staging, prod): a stack's day of data lands while the next stack is realized."""

from __future__ import annotations

import datetime as dt
import threading
from types import SimpleNamespace

import pytest

from prodline.sandbox import demo_delivery


class FakeSandbox:
    """Records what ran, in which thread; staging's ETL must start before prod's ``up`` may end."""

    log: list[str] = []
    staging_seeding = threading.Event()
    fail_etl: str | None = None

    def __init__(self, stack, overrides, parent=None):
        self.stack = stack

    def up(self):
        if self.stack == "prod":
            # Without the overlap this would wait for ever: staging is seeded only after prod is realized.
            assert FakeSandbox.staging_seeding.wait(timeout=10), "staging's data did not land while prod was realized"
        FakeSandbox.log.append(f"up {self.stack}")
        return SimpleNamespace(created=["a", "b"], unchanged=["c"])

    def bucket(self, zone):
        return f"{self.stack}-{zone}"

    def run_workload(self, module, *args):
        if self.stack == "staging":
            FakeSandbox.staging_seeding.set()
        FakeSandbox.log.append(f"ingest {self.stack}")

    def run_etl(self):
        state = "FAILED" if FakeSandbox.fail_etl == self.stack else "SUCCEEDED"
        return [SimpleNamespace(job_name=f"{self.stack}-{job}", state=state, error="bad rows")
                for job in ("validate", "features")]


@pytest.fixture
def fake(monkeypatch):
    FakeSandbox.log = []
    FakeSandbox.staging_seeding = threading.Event()
    FakeSandbox.fail_etl = None
    monkeypatch.setattr(demo_delivery, "Sandbox", FakeSandbox)
    return FakeSandbox


def test_staging_is_seeded_while_prod_is_realized_and_the_line_keeps_the_stacks_order(fake):
    later = demo_delivery.LaterStacks(None, ["staging", "prod"], dt.date(2026, 12, 1)).start()
    line = later.wait()
    assert fake.log.index("ingest staging") < fake.log.index("up prod")
    assert set(fake.log) == {"up staging", "up prod", "ingest staging", "ingest prod"}
    assert line == ("staging 3, prod 3 resources realized beside dev; "
                    f"staging: {demo_delivery.SEED_ROWS} rows, staging-validate -> staging-features; "
                    f"prod: {demo_delivery.SEED_ROWS} rows, prod-validate -> prod-features")
    assert [sb.stack for sb in later.sandboxes] == ["staging", "prod"]


def test_a_failed_seed_is_raised_by_wait_after_every_stack_has_ended(fake):
    fake.fail_etl = "staging"
    later = demo_delivery.LaterStacks(None, ["staging", "prod"], dt.date(2026, 12, 1)).start()
    with pytest.raises(RuntimeError, match="staging: staging-validate failed: bad rows"):
        later.wait()
    assert "ingest prod" in fake.log  # the thread ended only once prod's seed had ended too
    assert not later.thread.is_alive()
