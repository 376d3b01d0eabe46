"""The realizing mock of ``prodline sandbox up`` over moto's in-process mock, for tests of single registrations."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import boto3
import pulumi
from moto import mock_aws

from prodline.sandbox.realizer import Context, RealizingMocks, UpResult
from prodline.sandbox.state import SandboxState

REGION = "eu-west-1"
ACCOUNT = "123456789012"


class LocalClients:
    """boto3 clients for moto's in-process mock (the sandbox's Clients talk to a server instead), one per service
    as the sandbox's Clients keeps them: a new client per realizer call was a ninth of test_front_door's time."""

    def __init__(self):
        self._clients: dict[str, object] = {}

    def __call__(self, service: str):
        if service not in self._clients:
            self._clients[service] = boto3.client(service, region_name=REGION)
        return self._clients[service]


@contextlib.contextmanager
def in_process_mocks(state_dir: Path, stack: str) -> Iterator[RealizingMocks]:
    """Call with AWS_ENDPOINT_URL unset, or boto3 would reach past the in-process mock to that emulator."""
    with mock_aws():
        ctx = Context(clients=LocalClients(), account=ACCOUNT, region=REGION, stack=stack)
        yield RealizingMocks(ctx, SandboxState(state_dir / "state.json"), UpResult())


def realize(mocks: RealizingMocks, type_token: str, name: str, inputs: dict) -> tuple[str, dict]:
    """One registration through the realizing mock, as the Pulumi engine would send it."""
    return mocks.new_resource(pulumi.runtime.MockResourceArgs(type_token, name, inputs, custom=True))
