"""`make demo`: the whole ML lifecycle of the dev stack, offline, in the sandbox.

sandbox up -> ingest (some rows bad) -> ETL -> train / evaluate / register -> approve -> deploy -> invoke
-> the incoming data shifts -> drift alarm -> retraining -> approve -> canary promoted -> a broken version
whose canary fails and is rolled back. Every step goes through the resources the program declared.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import tempfile
import threading
import time
from collections.abc import Callable
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import joblib

from prodline.sandbox import report as html_report
from prodline.sandbox.lifecycle import Sandbox
from prodline.sandbox.runtimes.containers import extract, tar_directory
from prodline.sandbox.runtimes.deploy import DeploymentRolledBack

DEMO_OVERRIDES = ("prodline:modelApprovalStatus=PendingManualApproval",)  # a person approves, as in prod


def _broken_transform(frame):
    """The deliberately broken version's first step: every prediction fails (HTTP 5xx from the container)."""
    raise RuntimeError("deliberately broken model version")


@dataclass
class DemoState:
    steps: list[html_report.StepResult] = field(default_factory=list)
    facts: dict[str, str] = field(default_factory=dict)
    drift: dict[str, dict[str, float]] = field(default_factory=dict)
    versions: dict[str, dict[str, float]] = field(default_factory=dict)
    latencies: dict[str, list[float]] = field(default_factory=dict)
    predictions: list[str] = field(default_factory=list)


class Demo:
    def __init__(self, stack: str = "dev", console=None, rows: int = 4000):
        from rich.console import Console

        self.stack = stack
        self.rows = rows
        self.console = console or Console()
        self.state = DemoState()
        self.sandbox: Sandbox | None = None
        self.today = dt.date.today()

    # --- plumbing ------------------------------------------------------------------------------------------

    @contextmanager
    def step(self, name: str):
        """Time a step, show it as it runs, record its one-line result."""
        started = time.monotonic()
        holder: dict[str, Any] = {"result": "done"}
        with self.console.status(f"[bold]{name}[/bold] ..."):
            try:
                yield holder
            except Exception as err:
                self.state.steps.append(html_report.StepResult(name, f"FAILED: {err}", time.monotonic() - started,
                                                               ok=False))
                self.console.print(f"[red]x[/red] {name}: {err}")
                raise
        seconds = time.monotonic() - started
        self.state.steps.append(html_report.StepResult(name, holder["result"], seconds, holder.get("ok", True)))
        self.console.print(f"[green]v[/green] {name} [dim]({seconds:.1f} s)[/dim]: {holder['result']}")

    def runtime(self):
        assert self.sandbox and self.sandbox.gateway_url
        return boto3.client("sagemaker-runtime", endpoint_url=self.sandbox.gateway_url, region_name=self.sandbox.region,
                            **{k.lower(): v for k, v in _credentials().items()})

    # --- the lifecycle -------------------------------------------------------------------------------------

    def run(self, keep: bool = False) -> int:
        try:
            self._lifecycle()
        finally:
            report = self._write_report()
            self._summary(report)
            if not keep and self.sandbox:
                with self.step("sandbox down") as s:
                    failures = self.sandbox.down()
                    s["result"] = "emulator, gateway and model servers stopped" + (
                        f"; {len(failures)} resources could not be deleted" if failures else "")
        return 0 if all(s.ok for s in self.state.steps) else 1

    def _lifecycle(self) -> None:
        with self.step("sandbox up") as s:
            self.sandbox = Sandbox(self.stack, DEMO_OVERRIDES,
                                   on_progress=lambda m: self.console.print(f"  [dim]{m}[/dim]"))
            result = self.sandbox.up()
            s["result"] = (f"{len(result.created)} resources realized in {self.sandbox.emulator.endpoint_url}, "
                           f"{len(result.declared_only)} declared only; no model approved yet, so no endpoint")
        sb = self.sandbox
        endpoint = f"prodline-{self.stack}-churn"
        raw = f"s3://{sb.bucket('raw')}/churn/"

        with self.step("ingest day 1 (5% bad rows)") as s:
            sb.run_workload("workloads.ingest", "--source", raw, "--dt", str(self.today - dt.timedelta(days=1)),
                            "--rows", str(self.rows), "--seed", "1", "--invalid-fraction", "0.05")
            s["result"] = f"{self.rows} rows landed in {raw}"
        with self.step("ETL: validate + features (Glue runtime)") as s:
            s["result"] = self._etl()

        with self.step("train -> evaluate -> register v1 (pipeline runtime)") as s:
            s["result"] = self._train("v1")
        with self.step("approve v1") as s:
            arn = sb.approve()
            s["result"] = f"{_version(arn)} approved"
        with self.step("deploy v1 (pulumi up of the approved version)") as s:
            result = sb.up()
            s["result"] = f"endpoint {endpoint} created and hosted at {sb.gateway_url} ({len(result.created)} new)"
        with self.step("invoke with sample rows") as s:
            self.state.predictions = self._invoke_sample(endpoint)
            s["result"] = "predictions " + ", ".join(self.state.predictions[:5])
        with self.step("traffic from the training distribution, drift check") as s:
            self._traffic(endpoint, rows=400, seed=2, drift=False, label="fresh")
            fresh = self._monitor(endpoint, "fresh")
            s["result"] = f"drift score {fresh['drift_score']:.3f}: no drift" if not fresh["drifted_features"] else \
                f"drift score {fresh['drift_score']:.3f} on fresh data: {fresh['drifted_features']}"
            s["ok"] = not fresh["drifted_features"]

        with self.step("the incoming data shifts (ingest + ETL day 2)") as s:
            sb.run_workload("workloads.ingest", "--source", raw, "--dt", str(self.today), "--rows", str(self.rows),
                            "--seed", "3", "--invalid-fraction", "0.02", "--drift")
            s["result"] = self._etl()
        with self.step("drifted traffic -> drift monitor -> drift alarm -> retraining") as s:
            s["result"] = self._drift_loop(endpoint)
        with self.step("approve v2") as s:
            arn = sb.approve()
            s["result"] = f"{_version(arn)} approved"
        with self.step("canary of v2 under traffic") as s:
            s["result"] = self._deploy_under_traffic(endpoint, expect_rollback=False)

        with self.step("a broken v3 is approved and deployed") as s:
            s["result"] = self._broken_version(endpoint)
        with self.step("endpoint still serves v2 after the rollback") as s:
            predictions = self._invoke_sample(endpoint)
            model = self.sandbox.served_model_url(endpoint).split("/")[-3]
            s["result"] = f"{len(predictions)} predictions, model {model}"

    # --- steps ---------------------------------------------------------------------------------------------

    def _etl(self) -> str:
        runs = self.sandbox.run_etl()
        failed = [r for r in runs if r.state != "SUCCEEDED"]
        if failed:
            raise RuntimeError(f"{failed[0].job_name} failed: {failed[0].error}")
        curated = quarantined = 0
        for run in runs:
            if run.job_name.endswith("-validate") and run.output:
                for partition in json.loads(run.output).get("committed", []):
                    rows = partition["rows"]
                    curated += int(rows.get("curated", 0)) if isinstance(rows, dict) else 0
                    quarantined += int(rows.get("quarantined", 0)) if isinstance(rows, dict) else 0
        self.state.facts["rows quarantined (total)"] = str(
            int(self.state.facts.get("rows quarantined (total)", "0")) + quarantined)
        return f"{' -> '.join(r.job_name for r in runs)}: {curated} rows curated, {quarantined} quarantined"

    def _train(self, version: str) -> str:
        execution = self.sandbox.run_pipeline()
        return self._record_execution(execution, version)

    def _record_execution(self, execution, version: str) -> str:
        if execution.status != "Succeeded":
            raise RuntimeError(f"pipeline {execution.execution_id} {execution.status}: {execution.failure}")
        metrics = {k: v["value"] for k, v in execution.evaluation.get("metrics", {}).items()
                   if isinstance(v, dict) and isinstance(v.get("value"), int | float)}
        self.state.versions[version] = {k: metrics[k] for k in ("auc", "accuracy") if k in metrics}
        self.state.facts["model versions registered"] = str(len(self.state.versions))
        auc = metrics.get("auc", float("nan"))
        return f"AUC {auc:.3f}; registered {_version(execution.model_package_arn)} ({execution.trigger})"

    def _rows(self, rows: int, seed: int, drift: bool) -> list[str]:
        from workloads.ingest.generator import STRONG_DRIFT, generate_typed
        from workloads.serving.payloads import INPUTS

        frame = generate_typed(rows, seed, STRONG_DRIFT if drift else None)[list(INPUTS)]
        return [",".join("" if _missing(v) else str(v) for v in row) for row in frame.itertuples(index=False)]

    def _invoke_sample(self, endpoint: str) -> list[str]:
        body = "\n".join(self._rows(5, seed=99, drift=False)).encode()
        answer = self.runtime().invoke_endpoint(EndpointName=endpoint, Body=body, ContentType="text/csv",
                                                Accept="application/json")
        return [f"{p:.3f}" for p in json.loads(answer["Body"].read())["predictions"]]

    def _traffic(self, endpoint: str, *, rows: int, seed: int, drift: bool, label: str,
                 stop: threading.Event | None = None) -> tuple[int, int]:
        """One request per row, as live traffic; returns (ok, failed)."""
        client, ok, failed, latencies = self.runtime(), 0, 0, []
        for line in self._rows(rows, seed, drift):
            if stop is not None and stop.is_set():
                break
            started = time.perf_counter()
            try:
                client.invoke_endpoint(EndpointName=endpoint, Body=line.encode(), ContentType="text/csv")
                ok += 1
            except Exception:  # any failed request: what the canary measures
                failed += 1
            latencies.append((time.perf_counter() - started) * 1000)
        self.state.latencies.setdefault(label, []).extend(latencies)
        return ok, failed

    def _monitor(self, endpoint: str, label: str, since: dt.datetime | None = None) -> dict:
        from prodline.sandbox import hosting

        sb = self.sandbox
        hosting.flush(sb.gateway_url)
        hours = 1.0 if since is None else max((dt.datetime.now(dt.UTC) - since).total_seconds() / 3600, 1e-3)
        summary = json.loads(sb.run_workload(
            "workloads.monitoring.monitor", "--capture", sb.capture_uri(endpoint), "--endpoint", endpoint,
            "--baseline", sb.served_model_url(endpoint), "--report", f"s3://{sb.bucket('curated')}/drift/",
            "--hours", f"{hours:.6f}", "--min-rows", "50").stdout.strip().splitlines()[-1])
        # The full report (per-feature PSI) is what the monitor wrote to the lake.
        bucket, key = summary["report_url"][5:].split("/", 1)
        report = json.loads(sb.clients("s3").get_object(Bucket=bucket, Key=key)["Body"].read())
        for name, feature in report.get("features", {}).items():
            self.state.drift.setdefault(name, {})[label] = float(feature["psi"])
        return report

    def _drift_loop(self, endpoint: str) -> str:
        sb = self.sandbox
        since = dt.datetime.now(dt.UTC)
        self._traffic(endpoint, rows=400, seed=4, drift=True, label="drifted")
        report = self._monitor(endpoint, "drifted", since=since)
        executions_before = len(sb.executions)
        judgements = sb.evaluate_alarms([f"{endpoint}-drift"])
        fired = [j for j in judgements if j.state == "ALARM"]
        self.state.facts["drift alarm fired"] = "yes" if fired else "no"
        if not fired:
            raise RuntimeError(f"drift score {report['drift_score']:.3f} did not fire the drift alarm")
        retrained = sb.executions[executions_before:]
        if not retrained:
            raise RuntimeError("the drift alarm fired but no rule started the training pipeline")
        summary = self._record_execution(retrained[-1], "v2")
        return (f"drift score {report['drift_score']:.3f} ({', '.join(report['drifted_features'][:4])}); "
                f"alarm {fired[0].alarm} -> EventBridge -> retraining: {summary}")

    def _deploy_under_traffic(self, endpoint: str, expect_rollback: bool) -> str:
        stop = threading.Event()
        counts: dict[str, tuple[int, int]] = {}
        label = "canary (broken)" if expect_rollback else "canary v2"

        def drive() -> None:
            seed = 10
            while not stop.is_set():
                ok, failed = self._traffic(endpoint, rows=20, seed=seed, drift=False, label=label, stop=stop)
                previous = counts.get("all", (0, 0))
                counts["all"] = (previous[0] + ok, previous[1] + failed)
                seed += 1

        worker = threading.Thread(target=drive, daemon=True)
        worker.start()
        try:
            self.sandbox.up()
            outcome = "promoted"
        except DeploymentRolledBack as err:
            outcome = f"rolled back: {err}"
        finally:
            stop.set()
            worker.join(timeout=30)
        ok, failed = counts.get("all", (0, 0))
        record = self.sandbox.deployer.records[-1] if self.sandbox.deployer and self.sandbox.deployer.records else None
        if record is None:
            raise RuntimeError("no deployment happened: the approved version was not picked up")
        key = "canary rolled back" if expect_rollback else "canary promoted"
        if (record.outcome == "rolled back") != expect_rollback:
            raise RuntimeError(f"expected the canary to be {'rolled back' if expect_rollback else 'promoted'}, "
                               f"it was {record.outcome}")
        self.state.facts[key] = f"{record.to_config} ({record.canary_percent}% for {record.bake_seconds:.0f} s)"
        return f"{outcome.split(';')[0]}; traffic during the deployment: {ok} answered, {failed} failed"

    def _broken_version(self, endpoint: str) -> str:
        sb = self.sandbox
        sm = sb.clients("sagemaker")
        group = sb.one("aws:sagemaker/modelPackageGroup:ModelPackageGroup").id
        good = sb.served_model_url(endpoint)
        broken_url = good.replace("/output/model.tar.gz", "-broken/output/model.tar.gz")
        with tempfile.TemporaryDirectory() as tmp:
            archive = Path(tmp) / "model.tar.gz"
            bucket, key = good[5:].split("/", 1)
            s3 = sb.clients("s3")
            s3.download_file(bucket, key, str(archive))
            model_dir = extract(archive, Path(tmp) / "model")
            from sklearn.pipeline import Pipeline
            from sklearn.preprocessing import FunctionTransformer

            pipeline = joblib.load(model_dir / "model.joblib")
            joblib.dump(Pipeline([("broken", FunctionTransformer(_broken_transform)), ("model", pipeline)]),
                        model_dir / "model.joblib")
            tar_directory(model_dir, archive)
            b_bucket, b_key = broken_url[5:].split("/", 1)
            s3.upload_file(str(archive), b_bucket, b_key)
        current = sm.describe_model_package(ModelPackageName=sm.list_model_packages(
            ModelPackageGroupName=group, ModelApprovalStatus="Approved", SortBy="CreationTime",
            SortOrder="Descending")["ModelPackageSummaryList"][0]["ModelPackageArn"])
        spec = current["InferenceSpecification"]
        spec["Containers"][0]["ModelDataUrl"] = broken_url
        arn = sm.create_model_package(ModelPackageGroupName=group, ModelApprovalStatus="PendingManualApproval",
                                      InferenceSpecification=spec,
                                      ModelPackageDescription="deliberately broken version")["ModelPackageArn"]
        sb.approve(arn)
        return self._deploy_under_traffic(endpoint, expect_rollback=True)

    # --- output --------------------------------------------------------------------------------------------

    def _write_report(self) -> Path | None:
        if not self.sandbox:
            return None
        charts = []
        if self.state.drift:
            charts.append(html_report.bar_chart("Drift per feature (PSI)", self.state.drift, threshold=0.2))
        if self.state.versions:
            charts.append(html_report.bar_chart("Model metrics per version", dict(self.state.versions)))
        if self.state.latencies:
            charts.append(html_report.line_chart("Endpoint latency per request (client side)",
                                                 {k: v[:400] for k, v in self.state.latencies.items()}, "ms"))
        path = self.sandbox.path("report.html")
        path.write_text(html_report.render(self.stack, self.state.steps, charts, self.state.facts))
        return path

    def _summary(self, report: Path | None) -> None:
        from rich.table import Table

        table = Table(title=f"prodline sandbox lifecycle: {self.stack}")
        for column in ("step", "result", "time"):
            table.add_column(column, overflow="fold")
        for s in self.state.steps:
            table.add_row(("" if s.ok else "[red]") + s.step, s.result, f"{s.seconds:.1f} s")
        self.console.print(table)
        for key, value in self.state.facts.items():
            self.console.print(f"  {key}: [bold]{value}[/bold]")
        total = sum(s.seconds for s in self.state.steps)
        self.console.print(f"  total: {total:.0f} s" + (f"; report: {report}" if report else ""))


def _version(package_arn: str) -> str:
    """``arn:...:model-package/prodline-dev-churn/2`` -> ``prodline-dev-churn/2``."""
    return package_arn.split(":model-package/", 1)[-1]


def _missing(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _credentials() -> dict[str, str]:
    from prodline.sandbox.emulator import DUMMY_CREDENTIALS

    return DUMMY_CREDENTIALS


def run_demo(stack: str = "dev", keep: bool = False, rows: int = 4000,
             console_factory: Callable[[], Any] | None = None) -> int:
    demo = Demo(stack, console_factory() if console_factory else None, rows)
    with suppress(KeyboardInterrupt):
        return demo.run(keep=keep)
    return 130
