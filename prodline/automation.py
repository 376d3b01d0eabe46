"""`pulumi up` of a stack through the Automation API, against AWS or a local emulator (pulumilocal-style).

Two callers share the stack selection here: the delivery engine (``prodline.delivery.engines.PulumiEngine``),
which deploys one pinned model version into AWS with the state in the S3 backend, and the path a user with
the Pulumi CLI takes to deploy the real program into LocalStack: the same program and stack config, with the
AWS provider's endpoints pointed at the emulator and its credential checks off. Both need the Pulumi CLI and
the AWS provider plugin, which this project's offline paths never do; ``require_cli`` says so in one line.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent

BACKEND_ENV = "PULUMI_BACKEND_URL"
"""Where the stacks' state lives (``s3://<state bucket>``, made by the bootstrap program)."""
SECRETS_PROVIDER_ENV = "PULUMI_SECRETS_PROVIDER"
"""``awskms://alias/prodline-pulumi-secrets``: how a stack created here encrypts its secrets."""
CLI_MISSING = ("the Pulumi CLI is not installed (no `pulumi` on PATH): install the Pulumi CLI and the AWS "
               "plugin to deploy for real, or use --engine sandbox")

# The services the stack declares; each gets the emulator as its endpoint.
EMULATED_SERVICES = ("applicationautoscaling", "cloudwatch", "cloudwatchevents", "cloudwatchlogs", "ecr", "events",
                     "glue", "iam", "kms", "logs", "s3", "sagemaker", "sns", "sts")


class PulumiCliMissing(RuntimeError):
    """The Automation API drives the Pulumi CLI, and there is none."""

    def __init__(self) -> None:
        super().__init__(CLI_MISSING)


def require_cli() -> None:
    """Raise PulumiCliMissing unless a `pulumi` executable is on PATH."""
    if shutil.which("pulumi") is None:
        raise PulumiCliMissing


def backend_env(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The workspace's environment: the backend URL (and secrets provider) when the process has them.

    Passed as the workspace's env vars rather than written into Pulumi.yaml's ``backend:``, so the project
    file stays the one in the repository and the same checkout deploys to whichever account it runs in.
    """
    environ = os.environ if environ is None else environ
    return {name: environ[name] for name in (BACKEND_ENV, SECRETS_PROVIDER_ENV) if environ.get(name)}


def select_stack(stack: str, environ: Mapping[str, str] | None = None) -> Any:
    """Select (or create) ``stack`` of the program at the repository root, with the process's backend."""
    require_cli()
    from pulumi import automation as auto

    env_vars = backend_env(environ)
    options = auto.LocalWorkspaceOptions(env_vars=env_vars, secrets_provider=env_vars.get(SECRETS_PROVIDER_ENV))
    try:
        return auto.create_or_select_stack(stack_name=stack, work_dir=str(ROOT), opts=options)
    except FileNotFoundError as err:  # the CLI vanished between the check and the call, or a plugin is missing
        raise PulumiCliMissing from err


def set_configs(workspace_stack: Any, values: Mapping[str, object]) -> None:
    """Set config values on the stack: strings as they are, anything else as JSON at a path."""
    from pulumi import automation as auto

    for key, value in values.items():
        text = json.dumps(value) if not isinstance(value, str) else value
        workspace_stack.set_config(key, auto.ConfigValue(value=text), path=not isinstance(value, str))


def up(stack: str, config: Mapping[str, object], on_output: Callable[[str], Any] = print) -> Any:
    """`pulumi up` of ``stack`` after setting ``config`` on it; returns the Automation API's UpResult."""
    workspace_stack = select_stack(stack)
    set_configs(workspace_stack, config)
    return workspace_stack.up(on_output=on_output)


def emulator_provider_config(endpoint_url: str) -> dict[str, object]:
    """Provider settings `pulumilocal` applies: dummy credentials, no account lookups, every endpoint local."""
    return {
        "aws:accessKey": "test",
        "aws:secretKey": "test",
        "aws:skipCredentialsValidation": "true",
        "aws:skipRequestingAccountId": "true",
        "aws:skipMetadataApiCheck": "true",
        "aws:s3UsePathStyle": "true",
        "aws:endpoints": [dict.fromkeys(EMULATED_SERVICES, endpoint_url)],
    }


def up_against_emulator(stack: str, endpoint_url: str, on_output=print):
    """Select (or create) the stack, point it at the emulator, and run `pulumi up`."""
    return up(stack, emulator_provider_config(endpoint_url), on_output=on_output)
