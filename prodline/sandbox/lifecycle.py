"""One stack's sandbox: emulator, realized resources, hosting gateway, and the runtimes wired together.

Events flow as in AWS: a runtime emits what the service would (package registered, alarm changed,
endpoint updated), the router delivers it through the stack's EventBridge rules, and a rule that targets
the training pipeline starts the pipeline runtime. Workloads run as subprocesses against the emulator.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from prodline.sandbox import emulator as emu
from prodline.sandbox import hosting, realizer
from prodline.sandbox.clients import Clients
from prodline.sandbox.paths import EMULATOR_URL_FILE, sandbox_dir
from prodline.sandbox.runtimes import alarms, glue
from prodline.sandbox.runtimes.deploy import Deployer
from prodline.sandbox.runtimes.events import EventRouter
from prodline.sandbox.runtimes.pipeline import Execution, PipelineRunner, package_event
from prodline.sandbox.state import REALIZED, Entry


class SandboxError(RuntimeError):
    """Something the user can act on; the message says what."""


class Sandbox:
    def __init__(self, stack: str, overrides: Iterable[str] = (), on_progress: Callable[[str], None] | None = None):
        self.stack = stack
        self.overrides = list(overrides)
        self.dir = sandbox_dir(stack)
        self.region = realizer.region_of(stack, self.overrides)
        self.on_progress = on_progress or (lambda message: None)
        self.emulator = emu.ensure(self.dir)
        (self.dir / EMULATOR_URL_FILE).write_text(self.emulator.endpoint_url)
        self.clients = Clients(self.emulator.endpoint_url, self.region)
        self.account = self.clients("sts").get_caller_identity()["Account"]
        self.router = EventRouter(self.clients, self.account, self.region, start_pipeline=self._start_from_event)
        self.executions: list[Execution] = []
        self.deployer: Deployer | None = None

    # --- infrastructure ------------------------------------------------------------------------------------

    def up(self) -> realizer.UpResult:
        """Realize the program; roll changed endpoints out through the gateway; host new endpoints."""
        gateway = hosting.start_gateway(self.stack, self.emulator, self.region)
        self.deployer = Deployer(self.clients, gateway, self.router.emit, self.on_progress)
        _, result = realizer.up(self.stack, self.overrides, on_endpoint_update=self.deployer)
        hosting.reload(gateway)
        return result

    def down(self) -> list[str]:
        hosting.stop_gateway(self.stack)
        failures = realizer.destroy(self.stack)
        emu.stop(self.dir)
        (self.dir / EMULATOR_URL_FILE).unlink(missing_ok=True)
        return failures

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

        result = subprocess.run([sys.executable, "-m", module, *args], env={**os.environ, **self.environment},
                                capture_output=True, text=True, check=False)
        log = self.dir / "workloads.log"
        with log.open("a") as out:
            out.write(f"$ {module} {' '.join(args)}\n{result.stdout}{result.stderr}\n")
        if result.returncode != 0:
            raise SandboxError(f"{module} failed ({result.returncode}):\n{result.stderr[-2000:]}")
        return result

    def run_etl(self, job: str | None = None, arguments: dict[str, str] | None = None) -> list[glue.JobRun]:
        name = job or next(e.id for e in self.resources("aws:glue/job:Job") if e.id.endswith("-validate"))
        return glue.run_job(self.clients, name, self.dir, self.environment, arguments)

    def run_pipeline(self, trigger: str = "manual", parameters: dict[str, Any] | None = None) -> Execution:
        pipeline = self.one("aws:sagemaker/pipeline:Pipeline").id
        self.on_progress(f"pipeline {pipeline} ({trigger})")
        execution = PipelineRunner(self.clients, self.dir, self.environment, self.router.emit).start(
            pipeline, parameters, trigger)
        self.executions.append(execution)
        return execution

    def _start_from_event(self, pipeline_name: str, event: dict) -> None:
        self.run_pipeline(trigger=f"event: {event['detail-type']}")

    def approve(self, package_arn: str | None = None) -> str:
        """What a reviewer does in the registry: approve a version (the newest pending one by default)."""
        sm = self.clients("sagemaker")
        group = self.one("aws:sagemaker/modelPackageGroup:ModelPackageGroup").id
        if package_arn is None:
            pending = sm.list_model_packages(ModelPackageGroupName=group, ModelApprovalStatus="PendingManualApproval",
                                             SortBy="CreationTime", SortOrder="Descending")["ModelPackageSummaryList"]
            if not pending:
                raise SandboxError(f"no model version in {group} waits for approval")
            package_arn = pending[0]["ModelPackageArn"]
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
        return hosting.gateway_url(self.stack)

    def path(self, *parts: str) -> Path:
        return self.dir.joinpath(*parts)
