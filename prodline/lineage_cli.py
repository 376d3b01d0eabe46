"""``prodline lineage``: the chain from an endpoint (or one model version) back to the data it was trained on.

Against a real account by default (boto3's credentials, the stack's region); against the sandbox when
``AWS_ENDPOINT_URL`` names it or, unset, when the stack is up in the sandbox (said on stderr). Runs are read from
``--tracking-uri``, else ``MLFLOW_TRACKING_URI``, else the sandbox's MLflow server, else the stack's SageMaker
tracking server (its ARN, which the sagemaker-mlflow plugin resolves).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable
from typing import Any

from prodline.stack_args import EXIT_CONFIG, EXIT_OK, add_stack_args, fail, stack_config
from workloads.etl.schema import DATASET

EXIT_NOT_FOUND = 1


def add_parser(commands: argparse._SubParsersAction) -> None:
    lineage = commands.add_parser(
        "lineage", help="endpoint -> model package -> MLflow run -> data manifest -> ETL runs, read back from AWS "
                        "or the sandbox")
    add_stack_args(lineage)
    which = lineage.add_mutually_exclusive_group()
    which.add_argument("--endpoint", help="the endpoint to follow (default: the stack's, prodline-<env>-churn)")
    which.add_argument("--model-version", metavar="ARN", help="follow one model package instead of an endpoint")
    lineage.add_argument("--tracking-uri", help="the MLflow tracking server (URL or SageMaker tracking server ARN)")
    lineage.add_argument("--json", action="store_true", help="the chain as JSON")
    lineage.set_defaults(handler=cmd_lineage)


def cmd_lineage(args: argparse.Namespace) -> int:
    from botocore.exceptions import BotoCoreError, ClientError

    from prodline import lineage

    config = stack_config(args)
    clients, sandbox_mlflow = _clients(args.stack, config.region)
    endpoint = args.endpoint or f"prodline-{config.environment}-{DATASET}"
    uri = args.tracking_uri or os.environ.get("MLFLOW_TRACKING_URI") or sandbox_mlflow or _tracking_server_arn(
        clients, f"prodline-{config.environment}-tracking")
    try:
        chain = lineage.assemble(clients, args.stack, endpoint=None if args.model_version else endpoint,
                                 model_version=args.model_version, runs=lineage.MlflowRuns(uri) if uri else None)
    except ClientError as err:
        fail(f"lineage: {err}", EXIT_NOT_FOUND)
    except BotoCoreError as err:
        fail(f"lineage: {err}", EXIT_CONFIG)
    if args.json:
        json.dump(chain, sys.stdout, indent=2, sort_keys=True, default=str)
        sys.stdout.write("\n")
    else:
        print(lineage.render(chain))
    return EXIT_OK


def _clients(stack: str, region: str) -> tuple[Callable[[str], Any], str | None]:
    """boto3 clients for AWS (or AWS_ENDPOINT_URL), or for the sandbox the stack is up in; and the sandbox's
    MLflow server when the sandbox is what is read."""
    import boto3

    if not os.environ.get("AWS_ENDPOINT_URL"):
        from prodline.sandbox import shared
        from prodline.sandbox.clients import Clients
        from prodline.sandbox.paths import running_stacks

        for name, emulator_url in running_stacks():
            if name == stack:
                print(f"prodline: lineage: reading the sandbox ({emulator_url}); stack {stack} is up there",
                      file=sys.stderr)
                return Clients(emulator_url, region), shared.tracking_url()
    return (lambda service: boto3.client(service, region_name=region)), None


def _tracking_server_arn(clients: Callable[[str], Any], name: str) -> str | None:
    """The stack's SageMaker tracking server, when it has one."""
    try:
        return clients("sagemaker").describe_mlflow_tracking_server(TrackingServerName=name)["TrackingServerArn"]
    except Exception:  # no server (tracking off), or an emulator without the API: runs are then not followed
        return None
