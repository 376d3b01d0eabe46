"""The demo's delivery pieces: the stacks a version is promoted through, their lakes, the versions that must
fail (one the canary catches, one only the smoke gate catches), and the deployments as a table.

Every deploy of the demo after ``sandbox up`` is started by an approval (or a promotion) reaching a deployer:
the approval event goes through the stack's rule to its FIFO queue and its CodeBuild project, and the build
runtime runs ``drain_queue`` as the buildspec's ``prodline deploy --from-queue`` does.
"""

from __future__ import annotations

import datetime as dt
import importlib
import os
import re
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prodline.delivery import events as delivery_events
from prodline.sandbox.lifecycle import Sandbox
from prodline.sandbox.runtimes.containers import extract, tar_directory
from prodline.sandbox.runtimes.events import Routed

DEMO_OVERRIDES = ("prodline:modelApprovalStatus=PendingManualApproval",)  # a person approves, as in prod
PROD_APPROVER = "demo-reviewer"
SEED_ROWS = 500
"""Rows landed in each later stack's lake: its smoke gate scores held-out customers (one in five) from it."""
DEMO_TIME_SCALE = "0.00085"
"""Bakes in the demo: dev's five minutes and staging's ten both become about half a second (the deployment
runtime's floor: two flushes of the gateway's metrics, each judged by every rollback alarm)."""
FAULTY_MODELS = "prodline.sandbox.faulty_models"
LATER_STACK_OVERRIDES = ("prodline:etlJobType=pythonshell",)
"""Later stacks run their ETL on Glue Python shell (pandas) instead of Spark: the config allows it in every
environment, the jobs run the same transforms, and a local Spark would take longer than the whole demo."""
OUTCOMES = {delivery_events.SUCCEEDED: "Succeeded", delivery_events.FAILED: "Failed",
            delivery_events.AWAITING_APPROVAL: "Awaiting Approval"}


def promotion_chain(stack: str) -> list[str]:
    """``stack`` and the stacks its green deploys promote to, in order (dev -> staging -> prod)."""
    from prodline.delivery.settings import load_settings

    chain = [stack]
    while (nxt := load_settings(chain[-1]).promote_to) and nxt not in chain:
        chain.append(nxt)
    return chain


# --- the demo's delivery steps -------------------------------------------------------------------------------

class DeliverySteps:
    """The delivery steps of ``prodline.sandbox.demo.Demo`` (its ``sandbox``, ``log``, ``state`` and ``stack``)."""

    sandbox: Sandbox
    log: DeliveryLog
    state: Any
    stack: str
    _progress: Callable[[str], None]

    def _up(self) -> str:
        # The program's modules load while the emulator and the gateway start (other processes, other cores).
        threading.Thread(target=importlib.import_module, args=("infra.stack",), daemon=True).start()
        self.sandbox = Sandbox(self.stack, DEMO_OVERRIDES, on_progress=self._progress)
        self.sandbox.router.observers.append(self.log)
        result = self.sandbox.up()
        os.environ.update(self.sandbox.environment)  # from here on this process talks to the emulator only
        return (f"{len(result.created)} resources realized in {self.sandbox.emulator.endpoint_url}, "
                f"{len(result.declared_only)} declared only; no model approved yet, so no endpoint")

    def _deployers(self) -> str:
        projects = self.sandbox.clients("codebuild").list_projects()["projects"]
        return f"{len(projects)} deployers (FIFO queue, CodeBuild project, approval rule)"

    @staticmethod
    def _approval_route(approval) -> str:
        """Where the approval event went: the deployer's rule, its queue and its build (the rest is notices)."""
        routed = [d for d in approval.deliveries if d.kind in ("sqs", "codebuild", "failed")]
        if not routed:
            raise RuntimeError("the approval event matched no deployer rule")
        targets = ", ".join(f"{d.kind} {d.target.rsplit(':', 1)[-1].rsplit('/', 1)[-1]}" for d in routed)
        return f"rule {routed[0].rule} -> {targets}"

    def _run_builds(self) -> str:
        mark = len(self.log.events)
        builds = self.sandbox.builds.run_pending()
        if not builds:
            raise RuntimeError("no deployer build was started by the approval event")
        first = builds[0]
        started = f"build {first.id.split(':')[0]} started by {first.trigger.split(':')[0]}"
        return f"{started}; {self.log.outcome_line(self.log.since(mark))}"

    def _promote(self, stack: str, arn: str) -> str:
        from prodline.delivery.promote import promote

        sb = self.sandbox
        mark = len(self.log.events)
        with sb.builds.held():
            promoted = promote(sb.delivery_context(stack), stack, arn, approver=PROD_APPROVER)
        sb.builds.run_pending()
        self.state.facts["prod approved by"] = f"{promoted.approved_by} at {promoted.approved_at}"
        return f"approval recorded by {promoted.approved_by}; {self.log.outcome_line(self.log.since(mark))}"


# --- work beside the main steps --------------------------------------------------------------------------------

class Beside:
    """One step's work in a thread beside the steps that follow it, as a person's approval of prod and its
    deployer build go on while dev's life does. The lines it reports go to ``held`` (the demo prints them with
    the step that waits for it, so no other step's output is interleaved with them); its error is raised there."""

    def __init__(self, work: Callable[[], str], held: threading.local, name: str):
        self.lines: list[str] = []
        self.result = ""
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, args=(work, held), name=name, daemon=True)

    def start(self) -> Beside:
        self.thread.start()
        return self

    def _run(self, work: Callable[[], str], held: threading.local) -> None:
        held.lines = self.lines
        try:
            self.result = work()
        except BaseException as err:  # handed to the step that waits for it
            self.error = err

    def wait(self) -> str:
        """The work's result once it is over (its lines are in ``lines``); its error, if it failed."""
        self.thread.join()
        if self.error:
            raise self.error
        return self.result


# --- the later stacks ------------------------------------------------------------------------------------------

class LaterStacks:
    """Realizes the stacks dev promotes to in the same emulator, then lands a day of data in each one's raw
    zone and runs its ETL (their smoke gates score it), in threads beside the main steps: a stack's data is
    landed while the next stack is realized (workloads and jobs are other processes; the program is not).

    Safe beside them: those steps run workloads and runtimes, never the Pulumi program, which only this thread
    runs meanwhile; the process already talks to the emulator only (``os.environ`` holds its settings)."""

    def __init__(self, parent: Sandbox, stacks: list[str], day: dt.date):
        self.parent, self.stacks, self.day = parent, stacks, day
        self.sandboxes: list[Sandbox] = []
        self.realized: dict[str, Any] = {}
        self.seeded: dict[str, str] = {}
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, name="later-stacks", daemon=True)

    def start(self) -> LaterStacks:
        self.thread.start()
        return self

    def _run(self) -> None:
        seeds: list[threading.Thread] = []
        try:
            for stack in self.stacks:
                sandbox = Sandbox(stack, LATER_STACK_OVERRIDES, parent=self.parent)
                self.sandboxes.append(sandbox)
                self.realized[stack] = sandbox.up()
                seeds.append(threading.Thread(target=self._seed, args=(sandbox,), name=f"seed-{stack}", daemon=True))
                seeds[-1].start()
        except BaseException as err:  # handed to the main thread by wait()
            self.error = err
        for seed in seeds:  # the stacks are taken down (or the demo ends) only once their data has landed
            seed.join()

    def _seed(self, sandbox: Sandbox) -> None:
        try:
            raw = f"s3://{sandbox.bucket('raw')}/churn/"
            sandbox.run_workload("workloads.ingest", "--source", raw, "--dt", str(self.day), "--rows",
                                 str(SEED_ROWS), "--seed", "5", "--invalid-fraction", "0.02")
            runs = sandbox.run_etl()
            failed = [r for r in runs if r.state != "SUCCEEDED"]
            if failed:
                raise RuntimeError(f"{sandbox.stack}: {failed[0].job_name} failed: {failed[0].error}")
            self.seeded[sandbox.stack] = " -> ".join(r.job_name for r in runs)
        except BaseException as err:  # handed to the main thread by wait(); the first error wins
            self.error = self.error or err

    def wait(self) -> str:
        self.thread.join()
        if self.error:
            raise self.error
        counts = ", ".join(f"{stack} {len(r.created) + len(r.unchanged)}" for stack, r in self.realized.items())
        seeded = "; ".join(f"{stack}: {SEED_ROWS} rows, {self.seeded[stack]}" for stack in self.stacks)
        return f"{counts} resources realized beside dev; {seeded}"


# --- versions that must fail ----------------------------------------------------------------------------------

def derived_version(sandbox: Sandbox, endpoint: str, label: str) -> str:
    """Register a copy of the served version, its model changed as ``faulty_models`` makes ``label`` ("broken"
    or "percent"); returns its package ARN (pending)."""
    sm, s3 = sandbox.clients("sagemaker"), sandbox.clients("s3")
    group = sandbox.one("aws:sagemaker/modelPackageGroup:ModelPackageGroup").id
    served = sandbox.served_model_url(endpoint)
    url = served.replace("/output/model.tar.gz", f"-{label}/output/model.tar.gz")
    with tempfile.TemporaryDirectory() as tmp:
        archive = Path(tmp) / "model.tar.gz"
        bucket, key = served[5:].split("/", 1)
        s3.download_file(bucket, key, str(archive))
        model_dir = extract(archive, Path(tmp) / "model")
        sandbox.run_workload(FAULTY_MODELS, label, str(model_dir / "model.joblib"))
        tar_directory(model_dir, archive)
        bucket, key = url[5:].split("/", 1)
        s3.upload_file(str(archive), bucket, key)
    approved = sm.list_model_packages(ModelPackageGroupName=group, ModelApprovalStatus="Approved",
                                      SortBy="CreationTime", SortOrder="Descending")["ModelPackageSummaryList"]
    spec = sm.describe_model_package(ModelPackageName=approved[0]["ModelPackageArn"])["InferenceSpecification"]
    spec["Containers"][0]["ModelDataUrl"] = url
    return sm.create_model_package(ModelPackageGroupName=group, ModelApprovalStatus="PendingManualApproval",
                                   InferenceSpecification=spec,
                                   ModelPackageDescription=f"deliberately {label} version")["ModelPackageArn"]


# --- what the deployers did -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class DeliveryRow:
    stack: str
    version: str
    promoted_by: str
    when: str
    outcome: str


class DeliveryLog:
    """Watches the buses for the deploy path's events: prints each one, keeps the outcomes as table rows."""

    def __init__(self, say: Callable[[str], None]):
        self.say = say
        self.events: list[dict] = []

    def __call__(self, routed: Routed) -> None:
        event = routed.event
        if event.get("source") != delivery_events.SOURCE:
            return
        self.events.append(event)
        detail = event["detail"]
        extra = detail.get("to") or detail.get("reason") or ""
        self.say(f"event {event['detail-type']} on {routed.bus}: {detail['stack']} version {detail.get('version')}"
                 + (f" ({extra[:160]})" if extra else ""))

    def since(self, mark: int) -> list[dict]:
        return self.events[mark:]

    def rows(self) -> list[DeliveryRow]:
        rows = []
        for event in self.events:
            outcome = OUTCOMES.get(event["detail-type"])
            if outcome is None:
                continue
            detail = event["detail"]
            if outcome == "Failed":
                outcome += f": {short_reason(detail.get('reason', ''))}; restored {_version(detail.get('restoredTo'))}"
            elif outcome == "Succeeded" and isinstance(detail.get("smoke"), dict):
                smoke = detail["smoke"]
                outcome += f" (smoke {smoke.get('scores')}/{smoke.get('rows')} scores, {smoke.get('maxLatencyMs')} ms)"
            rows.append(DeliveryRow(detail["stack"], str(detail.get("version")),
                                    _who(detail.get("requestedBy") or detail.get("approvedBy") or "-"),
                                    event.get("time", "")[11:19], outcome))
        return rows

    def outcome_line(self, events: list[dict]) -> str:
        """One line per stack, in order: what the deploy path said about it."""
        said: dict[str, list[str]] = {}
        for event in events:
            detail = event["detail"]
            kind = event["detail-type"].removeprefix("Deployment ")
            if kind == "Started":
                continue
            if kind == "Promoted":
                kind = (f"promoted to {detail.get('to')}" if detail.get("to") != detail["stack"] else
                        f"approved by {detail.get('approvedBy') or detail.get('requestedBy')}, queued")
            elif kind == "Succeeded" and isinstance(detail.get("smoke"), dict):
                kind = f"smoke green ({detail['smoke'].get('scores')} scores), Deployment Succeeded"
            elif kind == "Failed":
                kind = (f"Deployment Failed ({short_reason(detail.get('reason', ''))}), "
                        f"restored {_version(detail.get('restoredTo'))}")
            else:
                kind = f"Deployment {kind}"
            said.setdefault(detail["stack"], []).append(kind)
        return "; ".join(f"{stack}: {', '.join(kinds)}" for stack, kinds in said.items())


def short_reason(reason: str) -> str:
    """The deploy path's reason, cut to what a table cell holds: which gate said no, and its first words."""
    alarm = re.search(r"rolled back \(alarm (\S+) fired", reason)
    if alarm:
        return f"the canary rolled back on alarm {alarm.group(1)}"
    if reason.startswith("smoke gate failed: "):
        first = reason.removeprefix("smoke gate failed: ").split("; ")[0]
        return "smoke gate: " + re.sub(r"^call \d+ \(rows [\d-]+\): ", "", first)
    return reason[:100]


def tally(rows: list[DeliveryRow]) -> str:
    """``5 succeeded, 2 failed and restored, 2 awaited approval``: the deployments table in one line."""
    counts = {kind: sum(r.outcome.startswith(kind) for r in rows) for kind in ("Succeeded", "Failed", "Awaiting")}
    return (f"{counts['Succeeded']} succeeded, {counts['Failed']} failed and restored, "
            f"{counts['Awaiting']} awaited a person's approval")


def _version(arn: str | None) -> str:
    return "nothing" if not arn or arn == "none" else f"version {arn.rsplit('/', 1)[-1]}"


def _who(requested_by: str) -> str:
    """``registry approval (event 1234...)`` -> ``registry approval``: the table has no room for event ids."""
    return requested_by.split(" (event ", 1)[0]
