"""`pulumi up` of a stack through the Automation API, against AWS or a local emulator (pulumilocal-style).

This is the path a user with the Pulumi CLI takes to deploy the real program into LocalStack: the same
program and stack config, with the AWS provider's endpoints pointed at the emulator and its credential
checks off. It needs the Pulumi CLI and the AWS provider plugin, which this project's offline paths never do.
"""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# The services the stack declares; each gets the emulator as its endpoint.
EMULATED_SERVICES = ("applicationautoscaling", "cloudwatch", "cloudwatchevents", "cloudwatchlogs", "ecr", "events",
                     "glue", "iam", "kms", "logs", "s3", "sagemaker", "sns", "sts")


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
    import json

    from pulumi import automation as auto

    workspace_stack = auto.create_or_select_stack(stack_name=stack, work_dir=str(ROOT))
    for key, value in emulator_provider_config(endpoint_url).items():
        text = json.dumps(value) if not isinstance(value, str) else value
        workspace_stack.set_config(key, auto.ConfigValue(value=text), path=not isinstance(value, str))
    return workspace_stack.up(on_output=on_output)
