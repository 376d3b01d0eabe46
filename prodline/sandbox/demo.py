"""`make demo`: the whole ML lifecycle of the dev stack, and its delivery to staging and prod, offline.

sandbox up (dev, staging, prod in one emulator) -> ingest (some rows bad) -> ETL -> train / evaluate /
register -> approve -> the deployer deploys dev, promotes to staging, prod awaits approval -> promote to
prod -> invoke (requests carry inference ids) -> labels arrive, the model-quality job measures v1 -> the
incoming data shifts -> drift alarm -> retraining -> approve -> canary promoted (and promoted to staging) -> a
broken version whose canary is rolled back -> a version only the smoke gate catches, restored -> a concept
shift: labels disagree, the quality alarm fires and starts retraining. Every step goes through the resources
the program declared; after ``sandbox up`` every deploy is started by an approval or a promotion reaching a
deployer, never by the demo.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import threading
import time
from collections.abc import Callable
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3

from prodline.collector import settle_long_run
from prodline.sandbox import demo_delivery as delivery
from prodline.sandbox import demo_quality as quality
from prodline.sandbox import report as html_report
from prodline.sandbox.demo_front_door import front_door_sample
from prodline.sandbox.lifecycle import Sandbox, down_all
from prodline.sandbox.runtimes.pipeline import scoring_summary

STREAM_EVENTS = 300
STREAM_UNDELIVERABLE = 6
"""Records put on the stream that Firehose cannot partition (not JSON, no event_time): the error prefix's."""
TRAFFIC_PACE_SECONDS = 0.02
DRIFT_ROWS_PER_REQUEST = 4  # the drift steps' 400 rows as 100 requests: the monitor reads rows, not requests
"""Live traffic during a canary: 50 requests a second, enough for the 5xx alarm to judge a canary share, and
leaving CPU to the deployment on a small machine."""


@dataclass
class DemoState:
    steps: list[html_report.StepResult] = field(default_factory=list)
    facts: dict[str, str] = field(default_factory=dict)
    drift: dict[str, dict[str, float]] = field(default_factory=dict)
    versions: dict[str, dict[str, float]] = field(default_factory=dict)
    latencies: dict[str, list[float]] = field(default_factory=dict)
    predictions: list[str] = field(default_factory=list)
    deliveries: list[delivery.DeliveryRow] = field(default_factory=list)
    streaming: dict[str, int] = field(default_factory=dict)
    """Streamed records at each stage: sent, retried, failed, delivered, errored, then the ETL's stream rows."""
    scoring: list[tuple] = field(default_factory=list)


class Demo(delivery.DeliverySteps, quality.QualitySteps):
    def __init__(self, stack: str = "dev", console=None, rows: int = 4000):
        from rich.console import Console

        self.stack = stack
        self.rows = rows
        self.console = console or Console()
        self.state = DemoState()
        self.sandbox: Sandbox | None = None
        self.later: list[Sandbox] = []
        """The stacks dev's green deploys promote to (staging, prod), in the same emulator."""
        self._later: delivery.LaterStacks | None = None
        self._held = threading.local()
        """In a thread of ``delivery.Beside``: the list its progress lines are held in until its step prints them."""
        self._besides: list[delivery.Beside] = []
        self.log = delivery.DeliveryLog(self._progress)
        self.today = dt.date.today()
        self.started = time.monotonic()
        self.quality = quality.QualityState()

    # --- plumbing ------------------------------------------------------------------------------------------

    def _progress(self, message: str) -> None:
        held = getattr(self._held, "lines", None)
        if held is not None:
            held.append(message)
            return
        self.console.print(f"  [dim]{message}[/dim]")

    def _beside(self, name: str, work: Callable[[], str]) -> delivery.Beside:
        self._besides.append(delivery.Beside(work, self._held, name).start())
        return self._besides[-1]

    def _waited(self, beside: delivery.Beside) -> str:
        """Wait for work started beside the steps, print the lines it held, return its result."""
        try:
            return beside.wait()
        finally:
            for line in beside.lines:
                self._progress(line)  # in this thread, printed

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
            for beside in self._besides:  # a step failed before waiting for it: nothing is taken down under it
                beside.thread.join()
            if self._later is not None:
                self._later.thread.join()  # its stacks are taken down with dev's
            self._cost()
            if self.quality.runs:
                self.state.facts["model quality per version (labelled traffic)"] = self._quality_by_version()
            self.state.deliveries = self.log.rows()
            if self.state.deliveries:
                self.state.facts["deployments"] = delivery.tally(self.state.deliveries)
            report = self._write_report()
            self._summary(report)
            if not keep and self.sandbox:
                with self.step("sandbox down") as s:
                    stacks = [*reversed(self.later), self.sandbox]
                    failures, discarded = down_all(stacks)
                    how = "discarded with the emulator" if discarded else "deleted"
                    stopped = [thing for sb in stacks for thing in sb.stopped]
                    s["result"] = (f"{', '.join(sb.stack for sb in stacks)} {how}; "
                                   f"{', '.join(stopped) or 'nothing'} stopped"
                                   + (f"; {len(failures)} resources could not be deleted" if failures else ""))
        return 0 if all(s.ok for s in self.state.steps) else 1

    def _lifecycle(self) -> None:
        endpoint = f"prodline-{self.stack}-churn"
        self._start_tracking()
        with self.step(f"sandbox up: {self.stack}, then the stacks it promotes to beside it") as s:
            s["result"] = self._up()
        settle_long_run()
        sb = self.sandbox
        raw = f"s3://{sb.bucket('raw')}/churn/"
        later = delivery.LaterStacks(sb, delivery.promotion_chain(self.stack)[1:],
                                     self.today - dt.timedelta(days=1)).start()
        self._later, self.later = later, later.sandboxes  # filled by its thread; taken down with dev's

        with self.step("ingest day 1 (5% bad rows)") as s:
            sb.run_workload("workloads.ingest", "--source", raw, "--dt", str(self.today - dt.timedelta(days=1)),
                            "--rows", str(self.rows), "--seed", "1", "--invalid-fraction", "0.05")
            s["result"] = f"{self.rows} rows landed in {raw}"
        with self.step("ETL: validate + features (Glue runtime)") as s:
            s["result"] = self._etl()
        with self.step("train -> evaluate -> register v1 (pipeline runtime)") as s:
            s["result"] = self._train("v1")
        with self.step(f"{', '.join(later.stacks)}: realized in the same emulator, a day of data each "
                       "(beside the steps above)") as s:
            s["result"] = f"{later.wait()}; {self._deployers()}"

        with self.step("approve v1 -> approval rule -> deploy queue + deployer build") as s:
            mark = len(sb.router.journal)
            with sb.builds.held():
                arn = sb.approve()
            s["result"] = f"{_version(arn)} approved; {self._approval_route(sb.router.journal[mark])}"
        with self.step("deployer on the approval event: deploy, smoke gate, promote") as s:
            s["result"] = self._run_builds()
        # A person approves prod while dev's life goes on: prod's deployer runs beside the next steps (no step
        # before the approval of v2 deploys or runs the program), and its step waits for it before v2's approval.
        promotion = self._beside("promote-prod", lambda: self._promote("prod", arn))
        with self.step("invoke with sample rows through the front door (POST /v1/predict)") as s:
            self.state.predictions, s["result"] = front_door_sample(sb, self._rows(5, seed=99, drift=False))
        with self.step("traffic from the training distribution, drift check") as s:
            fresh_since = dt.datetime.now(dt.UTC)
            served = self._labelled_traffic(endpoint, rows=400, seed=2, drift=False, label="fresh",
                                            per_request=DRIFT_ROWS_PER_REQUEST)
            fresh = self._monitor(endpoint, "fresh")
            s["result"] = f"drift score {fresh['drift_score']:.3f}: no drift" if not fresh["drifted_features"] else \
                f"drift score {fresh['drift_score']:.3f} on fresh data: {fresh['drifted_features']}"
            s["ok"] = not fresh["drifted_features"]

        with self.step("labels arrive (some never, some for unknown ids) -> model-quality job (Glue runtime)") as s:
            s["result"] = self._fresh_quality(endpoint, fresh_since, served)

        with self.step(f"stream {STREAM_EVENTS} events ({STREAM_UNDELIVERABLE} undeliverable) -> Kinesis -> "
                       "Firehose -> raw zone") as s:
            s["result"], s["ok"] = self._stream()
        with self.step("the incoming data shifts (ingest + ETL day 2, with the streamed events)") as s:
            sb.run_workload("workloads.ingest", "--source", raw, "--dt", str(self.today), "--rows", str(self.rows),
                            "--seed", "3", "--invalid-fraction", "0.02", "--drift")
            runs = sb.run_etl(announce=False)
            s["result"] = self._etl(runs)
        with self.step("features SUCCEEDED -> EventBridge -> batch scoring (Batch Transform, real server)") as s:
            started = [e for e in sb.announce_runs(runs) if e.pipeline.endswith("-batch")]
            if not started:
                raise RuntimeError("the features job succeeded but no rule started the batch scoring pipeline")
            s["result"] = self._score(started[-1])
        with self.step("drifted traffic -> drift monitor -> drift alarm -> retraining") as s:
            s["result"] = self._drift_loop(endpoint)
        with self.step(f"prodline promote --to prod (approver {delivery.PROD_APPROVER}): its deployer, beside the "
                       "steps above") as s:
            s["result"] = self._waited(promotion)
        with self.step("approve v2 -> deployer: canary under traffic, promoted to staging") as s:
            s["result"] = self._deploy_under_traffic(endpoint, sb.approve, expect="promoted")
        with self.step("a broken v3 is approved: its canary is rolled back, the deploy fails") as s:
            broken = delivery.derived_version(sb, endpoint, "broken")
            s["result"] = self._deploy_under_traffic(endpoint, lambda: sb.approve(broken), expect="rolled back")
        with self.step("v4 answers in percent: the canary passes it, the smoke gate does not") as s:
            percent = delivery.derived_version(sb, endpoint, "percent")
            mark = len(self.log.events)
            sb.approve(percent)
            s["result"] = self.log.outcome_line(self.log.since(mark))
            s["ok"] = "Deployment Failed" in s["result"]
        with self.step("endpoint still serves v2 after the rollback and the restore") as s:
            predictions = self._invoke_sample(endpoint)
            model = self.sandbox.served_model_url(endpoint).split("/")[-3]
            s["result"] = f"{len(predictions)} predictions, model {model}"
        with self.step("concept shift: labels disagree -> quality job -> quality alarm -> retraining") as s:
            s["result"] = self._concept_shift(endpoint, self._record_execution)
        with self.step("prodline lineage: endpoint -> model package -> MLflow run -> data manifest -> ETL runs") as s:
            s["result"] = self._lineage(endpoint)

    # --- steps ---------------------------------------------------------------------------------------------

    def _etl(self, runs: list | None = None) -> str:
        runs = self.sandbox.run_etl() if runs is None else runs
        failed = [r for r in runs if r.state != "SUCCEEDED"]
        if failed:
            raise RuntimeError(f"{failed[0].job_name} failed: {failed[0].error}")
        curated = quarantined = 0
        stream = dict.fromkeys(("in", "curated", "quarantined", "duplicates"), 0)
        for run in runs:
            if run.job_name.endswith("-validate") and run.output:
                for partition in json.loads(run.output).get("committed", []):
                    rows = partition["rows"]
                    if not isinstance(rows, dict):
                        continue
                    curated += int(rows.get("curated", 0))
                    quarantined += int(rows.get("quarantined", 0))
                    for key in stream:
                        stream[key] += int(rows.get("stream", {}).get(key, 0))
        self.state.facts["rows quarantined (total)"] = str(
            int(self.state.facts.get("rows quarantined (total)", "0")) + quarantined)
        line = f"{' -> '.join(r.job_name for r in runs)}: {curated} rows curated, {quarantined} quarantined"
        if stream["in"]:
            self.state.streaming.update({f"ETL stream {key}": value for key, value in stream.items()})
            line += (f"; from the stream {stream['in']} in = {stream['curated']} curated + {stream['quarantined']} "
                     f"quarantined + {stream['duplicates']} duplicates")
        return line

    def _stream(self) -> tuple[str, bool]:
        """Events onto the stack's stream, one delivery pass; sent must equal delivered + error-prefixed."""
        run = self.sandbox.stream(STREAM_EVENTS, STREAM_UNDELIVERABLE, invalid_fraction=0.05, seed=5)
        counts = run.summary()
        self.state.streaming.update(counts)
        landed = run.delivered.objects[0].rsplit("/", 1)[0] + "/" if run.delivered.objects else "nowhere"
        reconciled = counts["sent"] == counts["delivered"] + counts["errored"] and not counts["failed"]
        self.state.facts["streamed records"] = (f"{counts['sent']} sent = {counts['delivered']} delivered + "
                                                f"{counts['errored']} to the error prefix")
        return (f"sent {counts['sent']} (retried {counts['retried']}, failed {counts['failed']}) = delivered "
                f"{counts['delivered']} + error prefix {counts['errored']}; {counts['objects']} GZIP object(s) in "
                f"{landed}", reconciled)

    def _score(self, execution) -> str:
        summary = scoring_summary(execution)
        self.state.scoring.append((execution.trigger, summary["partition"], summary["rows_scored"],
                                   summary["model_version"], summary["job_id"], summary["requests"], execution.status))
        if execution.status != "Succeeded":
            raise RuntimeError(f"batch scoring {execution.execution_id} {execution.status}: {execution.failure}")
        self.state.facts["rows batch-scored"] = str(sum(row[2] for row in self.state.scoring))
        return (f"scored {summary['rows_scored']} rows of {summary['partition']} with model version "
                f"{summary['model_version']}, transform job {summary['job_id']} ({summary['requests']} requests)")

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
        return (f"AUC {auc:.3f}; registered {_version(execution.model_package_arn)} ({execution.trigger})"
                f"{self._run_of(execution)}")

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
                 stop: threading.Event | None = None, pace: float = 0.0, per_request: int = 1,
                 id_prefix: str | None = None) -> tuple[int, int]:
        """Live traffic: ``per_request`` rows a request (a client scoring a small batch), at most one request
        per ``pace`` seconds; returns (requests answered, requests failed). With ``id_prefix``, request n carries
        InferenceId ``<id_prefix>-<n>``, which data capture records and labels name."""
        client, ok, failed, latencies = self.runtime(), 0, 0, []
        lines = self._rows(rows, seed, drift)
        for first in range(0, len(lines), per_request):
            if stop is not None and stop.is_set():
                break
            started = time.perf_counter()
            body = "\n".join(lines[first:first + per_request]).encode()
            extra = {"InferenceId": f"{id_prefix}-{first // per_request}"} if id_prefix else {}
            try:
                client.invoke_endpoint(EndpointName=endpoint, Body=body, ContentType="text/csv", **extra)
                ok += 1
            except Exception:  # any failed request: what the canary measures
                failed += 1
            latencies.append((time.perf_counter() - started) * 1000)
            time.sleep(max(0.0, pace - (time.perf_counter() - started)))
        self.state.latencies.setdefault(label, []).extend(latencies)
        return ok, failed

    def _monitor(self, endpoint: str, label: str, since: dt.datetime | None = None) -> dict:
        from prodline.sandbox import hosting

        sb = self.sandbox
        hosting.flush(sb.gateway_url)
        hours = 1.0 if since is None else max((dt.datetime.now(dt.UTC) - since).total_seconds() / 3600, 1e-3)
        # The stack's scheduled drift monitor (a Glue job), run by the Glue runtime from its declared definition;
        # the window is the run's own argument, as a StartJobRun's may be.
        job = next(e.id for e in sb.resources("aws:glue/job:Job") if e.id.endswith("-drift-monitor"))
        (run,) = sb.run_etl(job, {"--hours": f"{hours:.6f}", "--min-rows": "50"}, announce=False)
        if run.state != "SUCCEEDED":
            raise RuntimeError(f"{job} {run.state}: {run.error}")
        summary = json.loads(run.output)
        # The full report (per-feature PSI) is what the monitor wrote to the lake.
        bucket, key = summary["report_url"][5:].split("/", 1)
        report = json.loads(sb.clients("s3").get_object(Bucket=bucket, Key=key)["Body"].read())
        for name, feature in report.get("features", {}).items():
            self.state.drift.setdefault(name, {})[label] = float(feature["psi"])
        return report

    def _drift_loop(self, endpoint: str) -> str:
        since = dt.datetime.now(dt.UTC)
        served = self._labelled_traffic(endpoint, rows=400, seed=4, drift=True, label="drifted",
                                        per_request=DRIFT_ROWS_PER_REQUEST)
        report = self._monitor(endpoint, "drifted", since=since)
        measured = self._drifted_quality(endpoint, since, served)
        fired, execution = self._alarm_retrains(f"{endpoint}-drift", "drift alarm fired",
                                                f"drift score {report['drift_score']:.3f}")
        summary = self._record_execution(execution, "v2")
        return (f"drift score {report['drift_score']:.3f} ({', '.join(report['drifted_features'][:4])}); "
                f"{measured}; alarm {fired.alarm} -> EventBridge -> retraining: {summary}")

    def _alarm_retrains(self, alarm: str, fact: str, measured: str) -> tuple[Any, Any]:
        """Judge one alarm as CloudWatch would: it must fire, and its state change must reach the retraining rule
        and start the training pipeline; returns the judgement and the execution it started."""
        sb = self.sandbox
        before = len(sb.executions)
        fired = [j for j in sb.evaluate_alarms([alarm]) if j.state == "ALARM"]
        self.state.facts[fact] = "yes" if fired else "no"
        if not fired:
            raise RuntimeError(f"{measured} did not fire the alarm {alarm}")
        retrained = sb.executions[before:]
        if not retrained:
            raise RuntimeError(f"the alarm {alarm} fired but no rule started the training pipeline")
        return fired[0], retrained[-1]

    def _deploy_under_traffic(self, endpoint: str, approve: Callable[[], str], expect: str) -> str:
        """Approve while requests keep arriving: the deployer's canary is judged under that traffic."""
        stop = threading.Event()
        counts: dict[str, tuple[int, int]] = {}
        label = "canary (broken)" if expect == "rolled back" else "canary v2"

        rollouts_before, mark = len(self.sandbox.rollouts), len(self.log.events)

        def drive() -> None:  # until the endpoint's rollout has ended (the next stack's has no traffic)
            seed = 10
            while not stop.is_set() and not any(r.ended for r in self.sandbox.rollouts[rollouts_before:]
                                                if r.endpoint == endpoint):
                ok, failed = self._traffic(endpoint, rows=20, seed=seed, drift=False, label=label, stop=stop,
                                           pace=TRAFFIC_PACE_SECONDS)
                previous = counts.get("all", (0, 0))
                counts["all"] = (previous[0] + ok, previous[1] + failed)
                seed += 1

        worker = threading.Thread(target=drive, daemon=True)
        worker.start()
        try:
            approve()
        finally:
            stop.set()
            worker.join(timeout=30)
        ok, failed = counts.get("all", (0, 0))
        records = [r for r in self.sandbox.rollouts[rollouts_before:] if r.endpoint == endpoint]
        if not records:
            raise RuntimeError("no deployment happened: the approved version was not picked up by the deployer")
        record = records[0]
        if record.outcome != expect:
            raise RuntimeError(f"expected the canary to be {expect}, it was {record.outcome}")
        key = "canary rolled back" if expect == "rolled back" else "canary promoted"
        self.state.facts[key] = f"{record.to_config} ({record.canary_percent}% for {record.bake_seconds:.1f} s)"
        return (f"canary {record.outcome}{' (alarm ' + record.alarm + ')' if record.alarm else ''}; "
                f"{self.log.outcome_line(self.log.since(mark))}; traffic during the deployment: {ok} answered, "
                f"{failed} failed")

    # --- experiment tracking and lineage -------------------------------------------------------------------

    def _start_tracking(self) -> None:
        """The MLflow server starts before the emulator (it takes the longest to answer); mlflow, the ``tracking``
        extra, is installed on first use, and the demo goes on without tracking when that fails."""
        from prodline.sandbox import shared, tracking

        if not tracking.available():
            self._progress("installing the tracking extra (mlflow; about a minute, once) ...")
            installed, detail = install_tracking_extra()
            self._progress("tracking extra installed" if installed else
                           f"could not install the tracking extra ({detail}); the demo goes on without tracking")
        url = shared.start_tracking()
        self.state.facts["experiment tracking"] = (f"MLflow {url}" if url else
                                                   "off (mlflow not installed): model versions carry no run")

    @staticmethod
    def _run_of(execution) -> str:
        """The MLflow run a registered version came from, as the package records it."""
        run = (execution.evaluation.get("lineage") or {}).get("mlflow_run_id")
        return f"; MLflow run {run}" if run and run != "none" else "; no MLflow run (tracking off)"

    def _lineage(self, endpoint: str) -> str:
        """``prodline lineage`` of the endpoint, printed whole; the line says how far the chain reaches."""
        from prodline import lineage
        from prodline.sandbox import shared

        url = shared.tracking_url()
        chain = lineage.assemble(self.sandbox.clients, self.stack, endpoint=endpoint,
                                 runs=lineage.MlflowRuns(url) if url else None)
        self.console.print(lineage.render(chain), highlight=False, markup=False)
        variant = chain["variants"][0]
        manifest, run = variant.get("data_manifest") or {}, variant.get("run") or {}
        parts = [f"{len(chain['variants'])} variant(s)", f"v{variant['model_package']['version']}",
                 f"run {run['run_id']}" if not run.get("missing") else "no run",
                 f"{len(manifest.get('partitions', []))} partition(s) in the data manifest"
                 if not manifest.get("missing") else "no manifest"]
        return " -> ".join(parts)

    # --- output --------------------------------------------------------------------------------------------

    def _cost(self) -> None:
        """The stack's monthly estimate as last deployed (the endpoint included), from the registrations the
        sandbox's latest ``up`` of it recorded: no extra program run."""
        from prodline.cost_report import one_line
        from prodline.sandbox.realizer.commands import LAST_REGISTRATIONS
        from standards.cost.prices import MissingPriceFile

        registrations = LAST_REGISTRATIONS.get(self.stack)
        if registrations:
            try:
                fact = one_line(registrations)
            except MissingPriceFile as err:  # a fact, not a failed demo: the region's prices are not shipped
                fact = f"not estimated: {err}"
            self.state.facts[f"monthly cost of {self.stack} (prodline cost)"] = fact

    def _write_report(self) -> Path | None:
        if not self.sandbox:
            return None
        charts = []
        if self.state.drift:
            charts.append(html_report.bar_chart("Drift per feature (PSI)", self.state.drift, threshold=0.2,
                                                x_label="model input (feature)",
                                                y_label="population stability index (PSI, unitless)"))
        if self.state.versions:
            charts.append(html_report.bar_chart("Model metrics per version (evaluation at training)",
                                                dict(self.state.versions), x_label="model version",
                                                y_label="metric on the test split (0-1)"))
        watched = self.sandbox.config.monitoring
        quality_series = self._quality_chart_series(watched.quality_metric)
        if quality_series:
            charts.append(html_report.xy_chart(
                "Model quality over time per version (labelled production traffic)", quality_series, markers=True,
                threshold=watched.quality_floor, x_label="time since the demo began (s)",
                y_label=f"{watched.quality_metric} on labelled requests (0-1)"))
        if self.state.latencies:
            charts.append(html_report.line_chart("Endpoint latency per request (client side)",
                                                 {k: v[:400] for k, v in self.state.latencies.items()},
                                                 x_label="request number within the phase (first 400)",
                                                 y_label="InvokeEndpoint latency (ms)"))
        path = self.sandbox.path("report.html")
        deliveries = [(r.stack, r.version, r.promoted_by, r.when, r.outcome) for r in self.state.deliveries]
        path.write_text(html_report.render(self.stack, self.state.steps, charts, self.state.facts, deliveries,
                                           streaming=self.state.streaming, scoring=self.state.scoring))
        return path

    def _summary(self, report: Path | None) -> None:
        html_report.print_summary(self.console, self.stack, self.state.steps, self.state.deliveries,
                                  self.state.facts, report=report)


def _version(package_arn: str) -> str:
    """``arn:...:model-package/prodline-dev-churn/2`` -> ``prodline-dev-churn/2``."""
    return package_arn.split(":model-package/", 1)[-1]


def _missing(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _credentials() -> dict[str, str]:
    from prodline.sandbox.emulator import DUMMY_CREDENTIALS

    return DUMMY_CREDENTIALS


def install_tracking_extra() -> tuple[bool, str]:
    """``pip install -e '.[tracking]'`` into the running interpreter, as ``make test`` installs it: (ok, detail)."""
    import subprocess
    import sys

    from prodline.sandbox.paths import ROOT

    command = [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-compile",
               "-e", f"{ROOT}[tracking]"]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False)
    except (OSError, subprocess.TimeoutExpired) as err:
        return False, str(err)
    if done.returncode != 0:
        return False, (done.stderr.strip().splitlines() or ["pip failed"])[-1]
    import importlib

    importlib.invalidate_caches()
    return True, ""


def run_demo(stack: str = "dev", keep: bool = False, rows: int = 4000,
             console_factory: Callable[[], Any] | None = None) -> int:
    os.environ.setdefault("PRODLINE_SANDBOX_TIME_SCALE", delivery.DEMO_TIME_SCALE)
    demo = Demo(stack, console_factory() if console_factory else None, rows)
    with suppress(KeyboardInterrupt):
        return demo.run(keep=keep)
    return 130
