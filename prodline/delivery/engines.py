"""What performs a deploy: `pulumi up` of one stack with one pinned model version.

Why a protocol: the deploy path (resolve -> up -> smoke -> record or restore) is the same in AWS and in the
sandbox; only the thing that turns "stack S serves version V" into resources differs. In AWS it is the
Automation API driving the Pulumi CLI against the S3 state backend; offline it is the sandbox's realizer
(``prodline.sandbox.delivery.SandboxEngine``). Neither ever calls UpdateEndpoint directly: the version is a
config value of the stack, and the program (with the endpoint's canary) does the rest.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any, Protocol, runtime_checkable

from prodline import automation

MODEL_KEY = "prodline:modelPackageArn"
NO_MODEL = "none"


class EngineError(RuntimeError):
    """`up` failed; the message is one line saying why."""


class EngineUnavailable(EngineError):
    """The engine cannot run here at all (for example, no Pulumi CLI); nothing was changed."""


@runtime_checkable
class Engine(Protocol):
    name: str

    def up(self, stack: str, model_package_arn: str | None) -> None:
        """Make ``stack`` serve ``model_package_arn`` (None: serve nothing); raise on failure."""


def model_config(model_package_arn: str | None) -> dict[str, str]:
    """The stack config that pins the served version: the ARN, or ``none``."""
    return {MODEL_KEY: model_package_arn or NO_MODEL}


class PulumiEngine:
    """`pulumi up` via the Automation API: state in ``$PULUMI_BACKEND_URL``, secrets by ``$PULUMI_SECRETS_PROVIDER``.

    Setting the pinned version writes ``prodline:modelPackageArn`` into the checkout's stack file, as
    ``pulumi config set`` would: in the deployer's build that checkout is a throwaway copy, and the version
    that is really served is recorded in SSM by the deploy path.
    """

    name = "pulumi"

    def __init__(self, on_output: Callable[[str], Any] | None = None):
        self.on_output = on_output or (lambda line: print(line, file=sys.stderr))

    def check(self) -> None:
        """Raise EngineUnavailable before anything is published or dequeued, when the CLI is missing."""
        try:
            automation.require_cli()
        except automation.PulumiCliMissing as err:
            raise EngineUnavailable(str(err)) from None

    def up(self, stack: str, model_package_arn: str | None) -> None:
        self.check()
        from pulumi.automation import errors

        try:
            result = automation.up(stack, model_config(model_package_arn), on_output=self.on_output)
        except automation.PulumiCliMissing as err:
            raise EngineUnavailable(str(err)) from None
        except errors.CommandError as err:
            raise EngineError(f"pulumi up of {stack} failed: {_last_line(str(err))}") from None
        outcome = getattr(getattr(result, "summary", None), "result", "succeeded")
        if outcome != "succeeded":
            raise EngineError(f"pulumi up of {stack} ended {outcome}")


def check_engine(engine: Engine) -> None:
    """Run the engine's own preflight when it has one (a duck-typed ``check()``)."""
    check = getattr(engine, "check", None)
    if callable(check):
        check()


def _last_line(text: str) -> str:
    """The CLI's error output ends with the reason; one line of it is what a person needs first."""
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[-1][:300] if lines else "unknown error"
