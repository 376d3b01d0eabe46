"""`prodline sandbox ...`, `prodline invoke` and `prodline demo`: flags here, work in prodline.sandbox."""

from __future__ import annotations

import argparse
import functools
import json
import os
import sys
from collections.abc import Callable

from prodline.stack_args import EXIT_FAILED, EXIT_OK, EXIT_USAGE, add_stack_args, fail, stack_config, stack_errors


def add_parsers(commands) -> None:
    sandbox = commands.add_parser("sandbox", help="the same stack, realized into a local AWS emulator")
    actions = sandbox.add_subparsers(dest="action", required=True)
    for name, handler, text in (
        ("up", cmd_up, "start the emulator every stack shares (AWS_ENDPOINT_URL, or moto on 127.0.0.1:4566), realize "
                       "the stack, host its endpoints; roll changed endpoints out as their deployment config says"),
        ("down", cmd_down, "delete the realized resources; stop the gateway, model servers and emulator once no "
                           "other stack uses them"),
        ("status", cmd_status, "what the sandbox holds: realized, recorded or declared only"),
        ("etl", cmd_etl, "run the ETL job (and the jobs its triggers start) in the Glue runtime"),
        ("train", cmd_train, "run the training pipeline in the pipeline runtime"),
        ("score", cmd_score, "batch-score a features partition with the served model (the batch scoring pipeline: "
                             "records, model, Batch Transform against the real server, predictions table)"),
        ("approve", cmd_approve, "approve the newest model version waiting for approval; the approval event "
                                 "starts the stack's deployer, as in AWS"),
        ("alarms", cmd_alarms, "evaluate the stack's alarms and route their state changes through EventBridge"),
        ("stream", cmd_stream, "put churn events on the stack's Kinesis stream and deliver them into the raw zone "
                               "by its Firehose delivery stream's declared config"),
    ):
        parser = actions.add_parser(name, help=text, description=text)
        add_stack_args(parser)
        parser.set_defaults(handler=_user_errors(handler))
        if name == "etl":
            parser.add_argument("--job", help="Glue job name (default: the stack's validate job)")
            parser.add_argument("--arg", action="append", default=[], metavar="--KEY=VALUE",
                                help="run argument overriding a default argument (repeatable)")
        if name == "stream":
            parser.add_argument("--rows", type=_positive, default=1000, help="churn events to send (default 1000)")
            parser.add_argument("--bad", type=_not_negative, default=0,
                                help="records Firehose cannot partition, sent too (they go to the error prefix)")
            parser.add_argument("--invalid-fraction", type=float, default=0.05,
                                help="share of events with values the ETL quarantines (default 0.05)")
        if name == "score":
            parser.add_argument("--partition", default="latest",
                                help="features partition to score: latest (default) or dt=YYYY-MM-DD")
        if name == "approve":
            parser.add_argument("--package", help="model package ARN (default: the newest pending)")

    invoke = commands.add_parser("invoke", help="invoke an endpoint (AWS, LocalStack or the sandbox gateway)")
    invoke.add_argument("--endpoint", help="the SageMaker endpoint (with --via endpoint, the default)")
    invoke.add_argument("--via", choices=("endpoint", "front-door"), default="endpoint",
                        help="InvokeEndpoint directly, or POST /v1/predict through the stack's front door")
    invoke.add_argument("--stack", default="dev", help="whose front door (--via front-door)")
    invoke.add_argument("--client", default="app", help="whose API key (--via front-door; prodline:frontDoorClients)")
    invoke.add_argument("--api-key", help="the key to send instead of the client's (--via front-door)")
    invoke.add_argument("--file", default="-", help="CSV or JSON rows; - for stdin")
    invoke.add_argument("--content-type", default=None)
    invoke.add_argument("--batch-size", type=int, default=None)
    invoke.add_argument("--inference-id", metavar="PREFIX", default=None,
                        help="InferenceId of each batch: PREFIX-0, PREFIX-1, ... (data capture records it; labels "
                             "name it)")
    invoke.set_defaults(handler=cmd_invoke)

    demo = commands.add_parser("demo", help="the whole ML lifecycle of a stack, offline, in the sandbox")
    demo.add_argument("--stack", default="dev")
    demo.add_argument("--keep", action="store_true", help="leave the sandbox running (for prodline invoke)")
    demo.add_argument("--rows", type=int, default=4000, help="rows per ingested batch")
    demo.set_defaults(handler=cmd_demo)


def _user_errors(handler: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """A sandbox command whose ``SandboxError`` (something the user can act on; its message says what) ends it
    with that message and exit 1 instead of a traceback."""

    @functools.wraps(handler)
    def run(args: argparse.Namespace) -> int:
        try:
            return handler(args)
        except Exception as err:
            # Only a loaded lifecycle can have raised its error; importing it here would load the sandbox's modules
            # before a bad stack or -c is refused.
            lifecycle = sys.modules.get("prodline.sandbox.lifecycle")
            if lifecycle is None or not isinstance(err, lifecycle.SandboxError):
                raise
            fail(f"sandbox {args.action}: {err}", EXIT_FAILED)

    return run


def _sandbox(args: argparse.Namespace, *, must_be_up: bool = True):
    """The stack's Sandbox. Every command but ``up`` and ``down`` needs the stack up: one that is not is refused
    before anything starts (``Sandbox`` starts the embedded emulator, which would be left running)."""
    stack_config(args)  # a bad stack or -c is refused before the sandbox's modules load (0.5 s) and anything starts
    if must_be_up:
        from prodline.sandbox.shared import not_up

        refusal = not_up(args.stack)
        if refusal:
            fail(f"sandbox {args.action}: {refusal}", EXIT_USAGE)
    from prodline.sandbox.emulator import EmulatorError
    from prodline.sandbox.lifecycle import Sandbox

    try:
        with stack_errors(args.stack):  # the config is checked before anything starts
            return Sandbox(args.stack, args.config,
                           on_progress=lambda message: print(f"  {message}", file=sys.stderr))
    except EmulatorError as err:
        fail(f"sandbox: {err}", EXIT_FAILED)


def _vacant(stack: str) -> str | None:
    """``shared.not_up``'s line when ``stack`` is not up and its realizer state holds nothing: there is nothing of
    it to list or take down (found without creating anything). A stack whose state still holds resources (a down
    killed half-way) is treated as one that is up, so that its down clears them."""
    from prodline.sandbox import shared
    from prodline.sandbox.paths import holds_state

    refusal = shared.not_up(stack)
    return refusal if refusal and not holds_state(stack) else None


def cmd_up(args: argparse.Namespace) -> int:
    from prodline.sandbox import shared
    from prodline.sandbox.runtimes.deploy import DeploymentRolledBack

    sandbox = _sandbox(args, must_be_up=False)
    # The MLflow server for the pipelines a user runs next: it takes 5-7 s to answer, so it starts before the
    # program runs (Sandbox.up leaves it to the first job that logs: a sandbox that runs no pipeline needs none).
    shared.start_tracking()
    try:
        result = sandbox.up()
    except DeploymentRolledBack as err:
        print(f"prodline: sandbox up: {err}", file=sys.stderr)
        return EXIT_FAILED
    kind = "embedded moto" if sandbox.emulator.embedded else "yours"
    print(f"emulator      {sandbox.emulator.endpoint_url} ({kind})")
    print(f"gateway       {sandbox.gateway_url} (SageMaker Runtime InvokeEndpoint)")
    print(f"mlflow        {_tracking_line()}")
    print(f"resources     {len(result.created)} created, {len(result.unchanged)} unchanged, "
          f"{len(result.replaced)} replaced or rolled out, {len(result.deleted)} deleted, "
          f"{len(result.declared_only)} declared only")
    endpoints = [e.id for e in sandbox.resources("aws:sagemaker/endpoint:Endpoint")]
    print(f"endpoints     {', '.join(endpoints) or 'none yet (approve a model version: the deployer deploys it)'}")
    print(f"try           prodline invoke --endpoint {endpoints[0] if endpoints else '<name>'} --file rows.csv")
    return EXIT_OK


def cmd_down(args: argparse.Namespace) -> int:
    stack_config(args)  # a bad stack or -c is refused first
    from prodline.sandbox import shared

    if _vacant(args.stack):
        # Sandbox() would start the embedded emulator only to stop it again. With no stack up, what a killed
        # sandbox left running still stops; in a sandbox directory never used nothing can be running.
        stopped = shared.stop_unused() if shared.was_used() else []
        print(f"sandbox {args.stack} is not up; "
              + (f"stopped what was left running: {', '.join(stopped)}" if stopped else "nothing to take down"))
        return EXIT_OK
    sandbox = _sandbox(args, must_be_up=False)
    failures = sandbox.down()
    for failure in failures:
        print(f"  not deleted: {failure}", file=sys.stderr)
    if sandbox.stopped:
        print(f"sandbox {args.stack} down; stopped: {', '.join(sandbox.stopped)}")
    else:
        others = shared.users(sandbox.emulator.endpoint_url)
        print(f"sandbox {args.stack} down; the emulator and the gateway keep serving "
              f"{', '.join(others) or 'the emulator you run'}")
    return EXIT_OK


def cmd_status(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table

    from prodline.sandbox import realizer, shared

    stack_config(args)  # a bad -c is refused here as by every other sandbox command
    vacant = _vacant(args.stack)
    if vacant:
        # Nothing to list, and nothing is created to say so: reading the state would make the stack's directory.
        print(vacant)
        if shared.was_used():  # what the stacks that are up share
            print(f"gateway: {shared.gateway_url() or 'not running'}")
            print(f"mlflow: {_tracking_line()}")
        return EXIT_OK
    table = Table(title=f"sandbox {args.stack}")
    for column in ("type", "name", "status", "id", "note"):
        table.add_column(column, overflow="fold")
    for entry in realizer.status(args.stack):
        table.add_row(entry.type, entry.name, entry.status, entry.id, entry.note)
    Console(width=200).print(table)
    print(f"gateway: {shared.gateway_url() or 'not running'}")
    print(f"mlflow: {_tracking_line()}")
    return EXIT_OK


def _tracking_line() -> str:
    """Where the MLflow server answers, or why there is none."""
    from prodline.sandbox import shared, tracking

    url = shared.tracking_url()
    if url:
        return f"{url} (tracking server; runs of every stack, one experiment per pipeline)"
    if not tracking.available():
        return "not running: mlflow is not installed (pip install -e '.[tracking]'); runs are not tracked"
    return "not running"


def cmd_etl(args: argparse.Namespace) -> int:
    malformed = [item for item in args.arg if not item.startswith("--") or "=" not in item]
    if malformed:
        fail(f"sandbox etl: --arg {malformed[0]!r}: expected --KEY=VALUE, for example --dt=2024-01-01",
             EXIT_USAGE)
    arguments = dict(item.split("=", 1) for item in args.arg)
    runs = _sandbox(args).run_etl(args.job, arguments)
    for run in runs:
        print(json.dumps({"job": run.job_name, "run_id": run.run_id, "state": run.state,
                          "seconds": round(run.completed_on - run.started_on, 1), "output": run.output or None,
                          "error": run.error or None}))
    return EXIT_OK if all(run.state == "SUCCEEDED" for run in runs) else EXIT_FAILED


def cmd_train(args: argparse.Namespace) -> int:
    execution = _sandbox(args).run_pipeline()
    print(json.dumps({"execution": execution.execution_arn, "status": execution.status,
                      "model_package": execution.model_package_arn or None, "failure": execution.failure or None,
                      "steps": [{"name": s.name, "status": s.status} for s in execution.steps]}, indent=1))
    return EXIT_OK if execution.status == "Succeeded" else EXIT_FAILED


def cmd_score(args: argparse.Namespace) -> int:
    execution = _sandbox(args).score(args.partition)
    from prodline.sandbox.runtimes.pipeline import scoring_summary

    summary = scoring_summary(execution)
    print(json.dumps(summary, indent=1))
    if execution.status != "Succeeded":
        print(f"batch scoring failed: {execution.failure}", file=sys.stderr)
        return EXIT_FAILED
    print(f"scored {summary['rows_scored']} rows of {summary['partition']} with model version "
          f"{summary['model_version']} (transform job {summary['job_id']})", file=sys.stderr)
    return EXIT_OK


def cmd_approve(args: argparse.Namespace) -> int:
    sandbox = _sandbox(args)
    print(sandbox.approve(args.package))
    failed = False
    for build in sandbox.builds.builds:
        print(f"  build {build.id} ({build.trigger}): {build.status}" + (f": {build.error}" if build.error else ""))
        for outcome in build.outcomes:
            print(f"    {outcome.summary()}")
        failed = failed or build.status != "SUCCEEDED"
    return EXIT_FAILED if failed else EXIT_OK


def cmd_alarms(args: argparse.Namespace) -> int:
    sandbox = _sandbox(args)
    for judgement in sandbox.evaluate_alarms():
        print(f"{judgement.alarm}: {judgement.previous} -> {judgement.state} ({judgement.reason})")
    for delivery in sandbox.router.deliveries:
        print(f"  routed by {delivery.rule} to {delivery.kind} {delivery.target}")
    return EXIT_OK


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _not_negative(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {value}")
    return value


def cmd_stream(args: argparse.Namespace) -> int:
    if not 0 <= args.invalid_fraction <= 1:
        fail(f"sandbox stream: --invalid-fraction must be from 0 to 1, got {args.invalid_fraction}", EXIT_USAGE)
    run = _sandbox(args).stream(args.rows, args.bad, args.invalid_fraction)
    summary = run.summary()
    print(f"stream {run.stream} -> delivery {run.delivery}")
    for key, value in summary.items():
        print(f"  {key:<10}{value}")
    for code, count in run.sent.failures_by_code().items():
        print(f"  failed    {count} x {code}")
    print(json.dumps(summary))
    return EXIT_OK if not run.sent.failed else EXIT_FAILED


def cmd_invoke(args: argparse.Namespace) -> int:
    """The endpoint client; with no endpoint URL set, a running sandbox gateway is used (and said so)."""
    from workloads.client import invoke

    if args.batch_size is not None and args.batch_size < 1:
        fail(f"invoke: --batch-size must be at least 1, got {args.batch_size}", EXIT_USAGE)
    if args.via == "front-door":
        return _invoke_front_door(args)
    if not args.endpoint:
        fail("invoke: --endpoint is required (or use --via front-door --stack <env>)", EXIT_USAGE)
    if not (os.environ.get("AWS_ENDPOINT_URL") or os.environ.get("AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME")):
        _use_running_sandbox()
    _check_listening()
    argv = ["--endpoint", args.endpoint, "--file", args.file]
    if args.content_type:
        argv += ["--content-type", args.content_type]
    if args.batch_size is not None:
        argv += ["--batch-size", str(args.batch_size)]
    if args.inference_id:
        argv += ["--inference-id", args.inference_id]
    return invoke.main(argv)


def _invoke_front_door(args: argparse.Namespace) -> int:
    """The front door's client, pointed at the stack's stage URL and the client's key (found through API Gateway's
    API: the sandbox's emulator and gateway when no endpoint URL is set and a sandbox runs, else AWS)."""
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    from prodline import front_door_client
    from prodline.sandbox import shared
    from workloads.client import front_door

    if not os.environ.get("AWS_ENDPOINT_URL"):
        _use_running_sandbox()
    gateway = shared.gateway_url() if os.environ.get("AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME") else None
    try:
        target = front_door_client.resolve(boto3.client("apigateway"), args.stack, client=args.client,
                                           api_key=args.api_key, region=boto3.session.Session().region_name
                                           or "eu-west-1", gateway_url=gateway)
    except (front_door_client.NoFrontDoor, ClientError, BotoCoreError) as error:
        fail(f"invoke: {error}", EXIT_USAGE)
    print(f"prodline: POST {target.url}/v1/predict as client {args.client}", file=sys.stderr)
    argv = ["--url", target.url, "--api-key", target.api_key, "--file", args.file]
    if args.content_type:
        argv += ["--content-type", args.content_type]
    if args.batch_size is not None:
        argv += ["--batch-size", str(args.batch_size)]
    return front_door.main(argv)


ENDPOINT_VARIABLES = ("AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME", "AWS_ENDPOINT_URL_SAGEMAKER", "AWS_ENDPOINT_URL")


def _check_listening(timeout: float = 2.0) -> None:
    """Exit 2 at once, naming the URL, when an endpoint URL on this machine has nothing listening (the client
    would retry a refused connection for many seconds first). Remote URLs are left to the client."""
    import socket
    from urllib.parse import urlsplit

    from prodline.net import is_loopback_url

    for variable in ENDPOINT_VARIABLES:
        url = os.environ.get(variable)
        if not url or not is_loopback_url(url):
            continue
        parts = urlsplit(url)
        try:
            with socket.create_connection((parts.hostname, parts.port or (443 if parts.scheme == "https" else 80)),
                                          timeout=timeout):
                pass
        except OSError as err:
            fail(f"invoke: nothing answers at {variable}={url}: {err.strerror or err}", EXIT_USAGE)


def _use_running_sandbox() -> None:
    from prodline.sandbox import shared
    from prodline.sandbox.emulator import DUMMY_CREDENTIALS
    from prodline.sandbox.paths import running_stacks

    for stack, emulator_url in running_stacks():
        gateway = shared.gateway_url()
        if gateway:
            print(f"prodline: using the sandbox's gateway {gateway} (stack {stack} is up)", file=sys.stderr)
            os.environ.update({"AWS_ENDPOINT_URL": emulator_url, "AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME": gateway,
                               **DUMMY_CREDENTIALS})
            from prodline.sandbox.realizer import region_of

            os.environ.setdefault("AWS_DEFAULT_REGION", region_of(stack))
            return


def cmd_demo(args: argparse.Namespace) -> int:
    from prodline.sandbox.demo import run_demo

    return run_demo(args.stack, keep=args.keep, rows=args.rows)
