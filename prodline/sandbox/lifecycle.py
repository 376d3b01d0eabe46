"""One stack's sandbox: realized resources in the shared emulator, the shared hosting gateway, and the
runtimes wired together.

Events flow as in AWS: a runtime emits what the service would (package registered, alarm changed,
endpoint updated), the router delivers it through the EventBridge rules of every stack in the emulator,
a rule that targets the training pipeline starts the pipeline runtime, and a rule that targets a deployer's
CodeBuild project starts the build runtime, which deploys through ``prodline.delivery`` with this sandbox's
DeliveryContext (``prodline.sandbox.delivery``). Workloads run as subprocesses against the emulator.
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from infra.config import parse_config
from prodline import stack_files
from prodline.sandbox import hosting, realizer, shared, tracking, warm_start
from prodline.sandbox.clients import Clients
from prodline.sandbox.paths import BUILD_JOURNAL_FILE, WORKLOADS_LOG, remember_overrides, sandbox_dir
from prodline.sandbox.runtimes import alarms, firehose, glue
from prodline.sandbox.runtimes.build import BuildDropped, BuildRuntime
from prodline.sandbox.runtimes.deploy import Deployer, DeploymentRecord
from prodline.sandbox.runtimes.events import EventRouter
from prodline.sandbox.runtimes.pipeline import Execution, PipelineRunner, package_event
from prodline.sandbox.state import REALIZED, Entry
from workloads.ingest.stream import SendReport

MODEL_KEY = "prodline:modelPackageArn"


class SandboxError(RuntimeError):
    """Something the user can act on; the message says what."""


@dataclass(frozen=True)
class StreamRun:
    """Events put on a stack's stream and one delivery pass of its delivery stream."""

    stream: str
    delivery: str
    sent: SendReport
    delivered: firehose.DeliveryReport

    def summary(self) -> dict[str, int]:
        """sent = delivered + error-prefixed once every record sent has been delivered (one pass reads them all)."""
        return {"sent": self.sent.sent, "retried": self.sent.retried, "failed": len(self.sent.failed),
                "delivered": self.delivered.delivered, "errored": self.delivered.errored,
                "objects": len(self.delivered.objects)}


class _Started:
    """A call run in a thread from now on; ``result()`` waits for it and returns its value (or raises its error)."""

    def __init__(self, call: Callable[[], Any]):
        self._value: Any = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(call,), daemon=True)
        self._thread.start()

    def _run(self, call: Callable[[], Any]) -> None:
        try:
            self._value = call()
        except BaseException as err:  # handed to whoever waits for the result
            self._error = err

    def result(self) -> Any:
        self._thread.join()
        if self._error is not None:
            raise self._error
        return self._value


def down_all(sandboxes: list[Sandbox]) -> tuple[list[str], bool]:
    """Take the stacks down, in order: (what could not be deleted, whether they were discarded with the emulator).

    When they are all that uses the embedded emulator, stopping it discards their resources with it (each
    stack's state is cleared): deleting them one by one first would change nothing. Otherwise each stack's
    resources are deleted in reverse creation order, and only the last stack to leave stops anything."""
    emulator = sandboxes[0].emulator
    stacks = [sb.stack for sb in sandboxes]
    discard = emulator.embedded and set(shared.users(emulator.endpoint_url)) <= set(stacks)
    failures: list[str] = []
    for sandbox in sandboxes:
        if discard:
            realizer.forget(sandbox.stack)
        else:
            failures += realizer.destroy(sandbox.stack)
        sandbox.stopped = shared.leave(sandbox.stack)
    return failures, discard


class Sandbox:
    """A stack in the sandbox. ``parent``: the sandbox whose router, builds and records this one shares (a
    deploy of another stack started by its events); the emulator and the gateway are shared by every stack."""

    def __init__(self, stack: str, overrides: Iterable[str] = (), on_progress: Callable[[str], None] | None = None,
                 *, parent: Sandbox | None = None):
        self.stack = stack
        self.overrides = list(overrides)
        # A bad stack, override or config value stops here (ConfigError, StackFileError): before any directory
        # is made and before the emulator or the gateway starts.
        self.config = parse_config(stack_files.load(stack, self.overrides), stack)
        self.dir = sandbox_dir(stack)
        self.region = self.config.region
        self.on_progress = on_progress or (parent.on_progress if parent else (lambda message: None))
        self.emulator = shared.emulator()
        self.clients = Clients(self.emulator.endpoint_url, self.region)
        self.account = self.clients("sts").get_caller_identity()["Account"]
        if parent is not None:
            self.router, self.builds = parent.router, parent.builds
            self.executions, self.rollouts = parent.executions, parent.rollouts
        else:
            self.router = EventRouter(self.clients, self.account, self.region, start_pipeline=self._start_from_event,
                                      start_build=self._start_build)
            self.builds = BuildRuntime(self.clients, self.delivery_context, self.on_progress,
                                       journal=shared.shared_dir() / BUILD_JOURNAL_FILE)
            self.executions: list[Execution] = []
            self.rollouts: list[DeploymentRecord] = []
            """Every endpoint rollout (canary) of any stack this sandbox deployed, in order."""
        self.deployer: Deployer | None = None
        self.stopped: list[str] = []
        """What ``down`` stopped (nothing while another stack still uses the emulator)."""

    # --- infrastructure ------------------------------------------------------------------------------------

    def up(self) -> realizer.UpResult:
        """Realize the program; roll changed endpoints out through the gateway; host new endpoints."""
        # The containers load MLflow's client too when its server runs (the demo starts it first): a job that
        # logs then saves two seconds. Otherwise the first job that logs starts the server (tracking_for_a_job).
        preload = warm_start.PRELOAD + (tracking.PRELOAD if shared.tracking_url() else ())
        warm_start.prewarm(f"sandbox {self.dir}", preload)  # the containers' libraries load while the program runs
        shared.join(self.stack, self.emulator.endpoint_url)
        # The gateway starts (when no stack has started it yet) while the program runs; it is waited for
        # only when an endpoint rolls out, and before it reloads what the program created.
        gateway = _Started(lambda: shared.gateway(self.emulator, self.region))
        self.deployer = Deployer(self.clients, gateway.result, self.router.emit, self.on_progress,
                                 records=self.rollouts)
        try:
            _, result = realizer.up(self.stack, self.overrides, on_endpoint_update=self.deployer,
                                    emulator=self.emulator, account=self.account)
        except BaseException:
            with contextlib.suppress(Exception):  # the program's error is the one to see; the start still ends
                gateway.result()
            raise
        hosting.reload(gateway.result())
        self._remember_overrides()
        return result

    def down(self) -> list[str]:
        """Delete the stack's resources; stop the gateway and the emulator when no other stack uses them.

        The last stack of the embedded emulator is not deleted resource by resource: stopping the emulator
        discards everything in it, and the stack's state is cleared."""
        return down_all([self])[0]

    def _remember_overrides(self) -> None:
        """The stack's ``-c`` overrides (not the pinned model version): a deployer build deploys with them, as
        ``pulumi up`` in AWS uses the config set on the stack."""
        remember_overrides(self.stack, [o for o in self.overrides if not o.startswith(f"{MODEL_KEY}=")])

    @property
    def environment(self) -> dict[str, str]:
        """What a workload process needs to reach this sandbox's emulator (and nothing else)."""
        return self.emulator.environment(self.region)

    def resources(self, type_token: str) -> list[Entry]:
        return [e for e in realizer.status(self.stack) if e.type == type_token and e.status == REALIZED
                and "#superseded-" not in e.urn]

    def one(self, type_token: str, logical: str | None = None) -> Entry:
        found = [e for e in self.resources(type_token) if logical is None or e.name == logical]
        if len(found) != 1:
            raise SandboxError(f"expected one {type_token}{' named ' + logical if logical else ''} in the sandbox, "
                               f"found {len(found)}; run `prodline sandbox up --stack {self.stack}` first")
        return found[0]

    def bucket(self, zone: str) -> str:
        return self.one("aws:s3/bucket:Bucket", f"lake-{zone}").outputs["bucket"]

    # --- runtimes ------------------------------------------------------------------------------------------

    def run_workload(self, module: str, *args: str) -> subprocess.CompletedProcess:
        """Run a workload module as its own process against the emulator, as it would run in AWS."""
        import os
        import tempfile

        with tempfile.TemporaryDirectory(prefix="workload-", dir=self.dir) as scratch:
            stdout, stderr = Path(scratch) / "stdout", Path(scratch) / "stderr"
            argv = [sys.executable, "-m", module, *args]
            returncode = warm_start.run(argv, env={**os.environ, **self.environment}, cwd=None, stdout=stdout,
                                        stderr=stderr)
            result = subprocess.CompletedProcess(argv, returncode, stdout.read_text(errors="replace"),
                                                 stderr.read_text(errors="replace"))
        log = self.dir / WORKLOADS_LOG
        with log.open("a") as out:
            out.write(f"$ {module} {' '.join(args)}\n{result.stdout}{result.stderr}\n")
        if result.returncode != 0:
            raise SandboxError(f"{module} failed ({result.returncode}):\n{result.stderr[-2000:]}")
        return result

    def run_etl(self, job: str | None = None, arguments: dict[str, str] | None = None, *,
                announce: bool = True) -> list[glue.JobRun]:
        """Run the job (and the jobs its triggers start); with ``announce``, each run's end then goes through
        EventBridge (``announce_runs``)."""
        jobs = sorted(e.id for e in self.resources("aws:glue/job:Job"))
        name = job or next(j for j in jobs if j.endswith("-validate"))
        if name not in jobs:
            raise SandboxError(f"--job {name!r}: stack {self.stack} declares no such Glue job; its jobs are "
                               f"{', '.join(jobs)}")
        runs = glue.run_job(self.clients, name, self.dir, self.environment, arguments)
        if announce:
            self.announce_runs(runs)
        return runs

    def announce_runs(self, runs: list[glue.JobRun]) -> list[Execution]:
        """Glue's state-change events for the runs, through the stacks' rules (a new features partition starts
        batch scoring where the stack declares it); returns the pipeline executions they started."""
        before = len(self.executions)
        for run in runs:
            self.router.emit(glue.state_change_event(run))
        return self.executions[before:]

    def stream(self, rows: int, bad: int = 0, invalid_fraction: float = 0.05, seed: int = 0) -> StreamRun:
        """Put ``rows`` churn events (and ``bad`` records Firehose cannot partition) on the stack's stream, then
        run one delivery pass of its Firehose delivery stream into the raw zone."""
        from prodline.sandbox.emulator import DUMMY_CREDENTIALS
        from workloads.ingest import generator
        from workloads.ingest import stream as producer

        stream = self.one("aws:kinesis/stream:Stream").id
        delivery = self.one("aws:kinesis/firehoseDeliveryStream:FirehoseDeliveryStream").id
        records = [producer.encode(e) for e in producer.events(generator.generate_raw(rows, seed, invalid_fraction))]
        records += producer.undeliverable(bad)
        client = producer.kinesis_client(
            endpoint_url=self.emulator.endpoint_url, region_name=self.region,
            aws_access_key_id=DUMMY_CREDENTIALS["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=DUMMY_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
            aws_session_token=DUMMY_CREDENTIALS["AWS_SESSION_TOKEN"])
        sent = producer.put_records(client, stream, records)
        delivered = firehose.deliver(self.clients, delivery, self.path("firehose", f"{delivery}.checkpoint.json"))
        return StreamRun(stream, delivery, sent, delivered)

    def run_pipeline(self, trigger: str = "manual", parameters: dict[str, Any] | None = None) -> Execution:
        return self._execute(self.one("aws:sagemaker/pipeline:Pipeline", "training-pipeline").id, parameters, trigger)

    def score(self, partition: str = "latest", trigger: str = "manual") -> Execution:
        """Run the batch scoring pipeline on one features partition (``latest``, or a date)."""
        found = [e for e in self.resources("aws:sagemaker/pipeline:Pipeline") if e.name == "batch-pipeline"]
        if not found:
            raise SandboxError(f"stack {self.stack} declares no batch scoring: it needs an approved model version "
                               "(approve one, let the deployer deploy it) and prodline:batchScoringEnabled=true")
        return self._execute(found[0].id, {"Partition": partition}, trigger)

    def _execute(self, pipeline: str, parameters: dict[str, Any] | None, trigger: str) -> Execution:
        """Run a pipeline (any stack's: they share the emulator) in the pipeline runtime, and keep its execution."""
        self.on_progress(f"pipeline {pipeline} ({trigger})")
        execution = PipelineRunner(self.clients, self.dir, self.environment, self.router.emit,
                                   tracking_url=shared.tracking_for_a_job).start(
            pipeline, parameters, trigger)
        self.executions.append(execution)
        return execution

    def _start_from_event(self, pipeline_name: str, event: dict) -> None:
        """A rule's pipeline target: run the pipeline it names."""
        self._execute(pipeline_name, None, f"event: {event['detail-type']}")

    def _start_build(self, project: str, event: dict, rule: str) -> None:
        """A rule's CodeBuild target: start the project's build in the build runtime."""
        with contextlib.suppress(BuildDropped):  # said by the runtime; the running build drains the queue
            self.builds.start(project, f"rule {rule}: {event['detail-type']}")

    def delivery_context(self, stack: str | None = None):
        """The DeliveryContext a deploy of ``stack`` (default: this one) runs with in the sandbox."""
        from prodline.sandbox.delivery_context import context_for

        return context_for(self, stack or self.stack)

    def approve(self, package_arn: str | None = None) -> str:
        """What a reviewer does in the registry: approve a version (the newest pending one by default). Its
        event goes through the rules, the deployer's included: a build deploys it (unless builds are held)."""
        sm = self.clients("sagemaker")
        group = self.one("aws:sagemaker/modelPackageGroup:ModelPackageGroup").id
        if package_arn is None:
            pending = sm.list_model_packages(ModelPackageGroupName=group, ModelApprovalStatus="PendingManualApproval",
                                             SortBy="CreationTime", SortOrder="Descending")["ModelPackageSummaryList"]
            if not pending:
                raise SandboxError(f"no model version in {group} waits for approval")
            package_arn = pending[0]["ModelPackageArn"]
        else:
            try:
                named = sm.describe_model_package(ModelPackageName=package_arn).get("ModelPackageGroupName")
            except ClientError as err:
                raise SandboxError(f"{package_arn} is not a model version in {group}: "
                                   f"{err.response['Error'].get('Message') or err}") from None
            if named != group:
                raise SandboxError(f"{package_arn} is a model version of {named}, not of {group}")
        sm.update_model_package(ModelPackageArn=package_arn, ModelApprovalStatus="Approved")
        self.router.emit(package_event(group, package_arn, "Approved"))
        return package_arn

    def evaluate_alarms(self, names: list[str] | None = None) -> list[alarms.Judgement]:
        """Judge alarms as CloudWatch would and route their state changes through EventBridge."""
        names = names or [e.id for e in self.resources("aws:cloudwatch/metricAlarm:MetricAlarm")]
        judgements = alarms.evaluate(self.clients, names)
        for judgement in judgements:
            if judgement.changed:
                self.router.emit(alarms.state_change_event(judgement))
        return judgements

    def served_model_url(self, endpoint: str) -> str:
        """model.tar.gz of the version an endpoint serves, read back through config, model and package."""
        sm = self.clients("sagemaker")
        config = sm.describe_endpoint_config(
            EndpointConfigName=sm.describe_endpoint(EndpointName=endpoint)["EndpointConfigName"])
        model = sm.describe_model(ModelName=config["ProductionVariants"][0]["ModelName"])
        container = model.get("PrimaryContainer", {})
        if container.get("ModelDataUrl"):
            return container["ModelDataUrl"]
        package = sm.describe_model_package(ModelPackageName=container["ModelPackageName"])
        return package["InferenceSpecification"]["Containers"][0]["ModelDataUrl"]

    def capture_uri(self, endpoint: str) -> str:
        sm = self.clients("sagemaker")
        config = sm.describe_endpoint_config(
            EndpointConfigName=sm.describe_endpoint(EndpointName=endpoint)["EndpointConfigName"])
        return config["DataCaptureConfig"]["DestinationS3Uri"]

    @property
    def gateway_url(self) -> str | None:
        return shared.gateway_url()

    def path(self, *parts: str) -> Path:
        return self.dir.joinpath(*parts)
