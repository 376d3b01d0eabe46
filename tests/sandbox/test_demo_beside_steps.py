"""The demo's work beside its steps: the later stacks (staging, prod), a stack's day of data landing while the
next stack is realized; the model libraries, imported before the first derived version needs them."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import threading
from types import SimpleNamespace

import joblib
import pytest

from prodline.sandbox import demo_delivery
from workloads.etl.schema import LABEL_COLUMN
from workloads.ingest.generator import generate_typed
from workloads.serving.payloads import INPUTS
from workloads.training.model import Hyperparameters, build_pipeline


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


LOAD_AFTER_PRELOAD = """\
import json, sys, joblib
from prodline.sandbox import demo_delivery
demo_delivery.preload_model_libraries().join()
before = set(sys.modules)
model = joblib.load(sys.argv[1])
demo_delivery.break_pipeline(model)
print(json.dumps(sorted(m for m in set(sys.modules) - before if m.split(".")[0] in ("sklearn", "workloads", "scipy"))))
"""


def test_the_preloaded_libraries_are_all_that_unpickling_and_breaking_the_model_imports(tmp_path):
    frame = generate_typed(300, 1, None)
    model = build_pipeline(Hyperparameters(max_iter=5)).fit(frame[list(INPUTS)], frame[LABEL_COLUMN])
    joblib.dump(model, tmp_path / "model.joblib")
    done = subprocess.run([sys.executable, "-c", LOAD_AFTER_PRELOAD, str(tmp_path / "model.joblib")],
                          capture_output=True, text=True, env=dict(os.environ), timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.strip().splitlines()[-1]) == []
