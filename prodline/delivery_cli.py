"""`prodline deploy`, `prodline promote` and `prodline status`: flags here, the work in prodline.delivery.

Exit codes: 0 done; 1 a deploy failed (the stack was restored) or was refused; 2 bad flags, a bad stack
config, or an environment that cannot deploy (no Pulumi CLI, no deploy queue, no credentials), always one
line on stderr and no traceback.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from prodline.stack_args import EXIT_CONFIG, EXIT_FAILED, EXIT_OK, EXIT_USAGE, add_stack_args, fail

if TYPE_CHECKING:
    from prodline.delivery.context import DeliveryContext

ENGINE_ENV = "PRODLINE_DEPLOY_ENGINE"
ENGINES = ("pulumi", "sandbox")


def add_parsers(commands) -> None:
    deploy = commands.add_parser(
        "deploy", help="deploy one model version to a stack: pulumi up, smoke gate, record and promote, or restore",
        description="Deploy one model version to a stack through the smoke gate (exit 1: failed and restored).")
    add_stack_args(deploy)
    deploy.add_argument("--model-version", metavar="ARN|latest|current",
                        help="a model package ARN, the newest approved (latest) or the recorded one (current)")
    deploy.add_argument("--from-queue", action="store_true",
                        help="deploy every request on the stack's deploy queue, in order (what the deployer runs)")
    deploy.add_argument("--requested-by", help="who asks for the deploy (default: the caller's IAM identity)")
    _engine_flag(deploy)
    deploy.set_defaults(handler=cmd_deploy)

    promote = commands.add_parser(
        "promote", help="record your approval of a version for a stack and hand it to that stack's deployer",
        description="Record an approval of a model version for a stack, queue its deploy and wake its deployer.")
    promote.add_argument("--to", required=True, metavar="STACK", help="stack to promote to (e.g. prod)")
    promote.add_argument("--model-version", required=True, metavar="ARN", help="the model package ARN to approve")
    promote.add_argument("--approver", help="name recorded as approver (default: the caller's IAM identity)")
    _engine_flag(promote)
    promote.set_defaults(handler=cmd_promote)

    canary = commands.add_parser(
        "canary", help="Kubernetes: canary a serving image, bake it under its alarms, then promote or roll back",
        description="Canary a serving image on a Kubernetes stack (pulumi up), bake it for canaryBakeSeconds under "
                    "its 5xx and latency alarms, then promote it or roll it back (exit 1: rolled back).")
    add_stack_args(canary)
    canary.add_argument("--image-tag", required=True, help="the image tag to canary (in the stack's repository)")
    canary.add_argument("--poll-seconds", type=float, default=15.0, help="how often the alarms are read")
    canary.set_defaults(handler=cmd_canary, engine="pulumi")  # the sandbox runs no Kubernetes

    status = commands.add_parser("status", help="the version a stack serves, its history and its approval")
    add_stack_args(status)
    status.add_argument("--json", action="store_true", help="print the status as JSON")
    _engine_flag(status)
    status.set_defaults(handler=cmd_status)


def _engine_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--engine", default=None, choices=ENGINES,
                        help=f"what runs `up` and where the records live: pulumi (AWS) or sandbox (offline); "
                             f"default ${ENGINE_ENV}, else pulumi")


# --- commands -------------------------------------------------------------------------------------------

def cmd_deploy(args: argparse.Namespace) -> int:
    from prodline.delivery.registry import check_model_version

    if args.from_queue == bool(args.model_version):
        fail("deploy: give exactly one of --model-version and --from-queue", EXIT_USAGE)
    if args.model_version:
        try:
            check_model_version(args.model_version)
        except ValueError as err:
            fail(f"deploy: {err}", EXIT_USAGE)
    with delivery_errors("deploy"):
        from prodline.delivery.deploy import deploy, drain_queue

        ctx = build_context(args, args.stack)
        if args.from_queue:
            outcomes = drain_queue(ctx, args.stack)
        else:
            who = args.requested_by or _caller(ctx)
            outcomes = [deploy(ctx, args.stack, args.model_version, who, "manual")]
    for outcome in outcomes:
        print(outcome.summary())
    if args.from_queue and not outcomes:
        print(f"{args.stack}: no deploy requests waiting")
    return max((o.exit_code for o in outcomes), default=EXIT_OK)


def cmd_promote(args: argparse.Namespace) -> int:
    from prodline.delivery.registry import is_arn

    if not is_arn(args.model_version):
        fail(f"promote: --model-version {args.model_version!r} is not a model package ARN "
             "(arn:aws:sagemaker:<region>:<account>:model-package/<group>/<version>)", EXIT_USAGE)
    with delivery_errors("promote"):
        from prodline.delivery.promote import promote
        from prodline.delivery.registry import Refused

        ctx = build_context(args, args.to)
        try:
            outcome = promote(ctx, args.to, args.model_version, args.approver)
        except Refused as err:
            print(f"prodline: promote: {err}", file=sys.stderr)
            return EXIT_FAILED
    build = f"build {outcome.hand_off.build_id} started" if outcome.hand_off.build_id else "no build started"
    print(f"{args.to}: version {outcome.version} approved by {outcome.approved_by}; deploy request queued, {build}")
    return EXIT_OK


def cmd_canary(args: argparse.Namespace) -> int:
    with delivery_errors("canary"):
        from prodline.delivery.canary import run_canary

        ctx = build_context(args, args.stack)
        try:
            outcome = run_canary(ctx, args.stack, args.image_tag, poll_seconds=args.poll_seconds)
        except ValueError as err:
            fail(f"canary: {err}", EXIT_USAGE)
    print(outcome.summary())
    return outcome.exit_code


def cmd_status(args: argparse.Namespace) -> int:
    with delivery_errors("status"):
        from prodline.delivery.status import render, stack_status

        status = stack_status(build_context(args, args.stack), args.stack)
    if args.json:
        json.dump(status.as_json(), sys.stdout, indent=2, sort_keys=True)
        sys.stdout.write("\n")
    else:
        print(render(status))
    return EXIT_OK


# --- wiring ---------------------------------------------------------------------------------------------

def engine_name(args: argparse.Namespace, environ=os.environ) -> str:
    name = args.engine or environ.get(ENGINE_ENV) or "pulumi"
    if name not in ENGINES:
        fail(f"${ENGINE_ENV}={name!r}: expected one of {', '.join(ENGINES)}", EXIT_USAGE)
    return name


def build_context(args: argparse.Namespace, stack: str) -> DeliveryContext:
    """The AWS context (region from the stack's config), or the sandbox's; ``-c`` overrides apply to ``stack``."""
    from prodline.delivery.settings import load_settings

    overrides = tuple(getattr(args, "config", ()) or ())
    settings = load_settings(stack, overrides)  # a bad stack or config stops here, before any AWS call
    if engine_name(args) == "sandbox":
        try:
            from prodline.sandbox.delivery import sandbox_context
        except ImportError as err:
            fail(f"--engine sandbox is not available here: {err}", EXIT_CONFIG)
        ctx = sandbox_context(stack)
        if overrides:
            ctx.settings = _overridden(stack, overrides)
        return ctx
    from prodline.delivery.context import aws_context

    return aws_context(stack, settings.region, overrides=overrides)


def _overridden(stack: str, overrides: tuple[str, ...]) -> Callable:
    from prodline.delivery.settings import load_settings

    return lambda name: load_settings(name, overrides if name == stack else ())


def _caller(ctx: DeliveryContext) -> str:
    from botocore.exceptions import BotoCoreError, ClientError

    from prodline.delivery.promote import caller_identity

    try:
        return caller_identity(ctx)
    except (ClientError, BotoCoreError):
        return "unknown"


@contextmanager
def delivery_errors(command: str) -> Iterator[None]:
    """Every problem that is the environment's or the config's, as `prodline: COMMAND: ...` and exit 2."""
    from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError, NoRegionError

    from infra.config import ConfigError
    from prodline.delivery.deploy import DeliverySetupError
    from prodline.delivery.engines import EngineUnavailable
    from prodline.delivery.records import RecordError
    from prodline.stack_files import StackFileError

    try:
        yield
    except ConfigError as err:
        fail(f"{command}: invalid stack config: {'; '.join(err.problems)}", EXIT_CONFIG)
    except (StackFileError, EngineUnavailable, DeliverySetupError, RecordError) as err:
        fail(f"{command}: {err}", EXIT_CONFIG)
    except (NoCredentialsError, NoRegionError) as err:
        fail(f"{command}: no AWS access: {err}", EXIT_CONFIG)
    except (ClientError, BotoCoreError) as err:
        fail(f"{command}: AWS call failed: {str(err).splitlines()[0] if str(err) else type(err).__name__}",
             EXIT_FAILED)
