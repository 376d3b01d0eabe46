"""Run the real Pulumi program from ``infra/`` under mocks and record every registration.

One runner, two kinds of mocks (docs/architecture.md): the recording mocks here return plausible fake
outputs for the offline preview and the policy pack; the sandbox's realizing mocks create each resource
in an emulator. Both see the same registrations, so no resource is declared twice.
"""

from __future__ import annotations

import hashlib
import json
import os
import runpy
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
from pulumi.runtime import mocks as pulumi_mocks
from pulumi.runtime import rpc, settings

from infra.model_version import OFFLINE_ENV
from prodline import provider_imports, stack_files
from prodline.collector import collector_paused
from prodline.mock_run_shortcuts import shortcuts_in_place
from standards.delivery import BOOTSTRAP_PROJECT

PROGRAM = Path(__file__).resolve().parent.parent / "infra" / "__main__.py"
BOOTSTRAP_DIR = PROGRAM.parent.parent / "bootstrap"
BOOTSTRAP_PROGRAM = BOOTSTRAP_DIR / "__main__.py"
BOOTSTRAP_STACK = "account"
MOCK_ACCOUNT = "123456789012"


@dataclass
class Registration:
    """One resource the program registered: what `pulumi up` would create."""

    type: str
    name: str
    urn: str
    parent: str | None
    custom: bool
    inputs: dict[str, Any]
    dependencies: list[str] = field(default_factory=list)
    id: str | None = None
    outputs: dict[str, Any] = field(default_factory=dict)

    @property
    def parent_name(self) -> str | None:
        return self.parent.rsplit("::", 1)[-1] if self.parent else None


class RecordingMonitor(pulumi_mocks.MockMonitor):
    """A mock resource monitor that keeps each registration with its URN, parent and dependencies."""

    def __init__(self, mocks: pulumi.runtime.Mocks):
        super().__init__(mocks)
        self.registrations: list[Registration] = []

    def RegisterResource(self, request):
        response = super().RegisterResource(request)
        if request.type != "pulumi:pulumi:Stack":
            self.registrations.append(Registration(
                type=request.type,
                name=request.name,
                urn=response.urn,
                parent=request.parent or None,
                custom=bool(request.custom),
                inputs=rpc.deserialize_properties(request.object),
                dependencies=list(request.dependencies),
                id=response.id or None,
                outputs=self.resources[response.urn].state if response.urn in self.resources else {},
            ))
        return response


class RecordingMocks(pulumi.runtime.Mocks):
    """Plausible outputs (ids, names, ARNs) so the program's Output wiring resolves as it would in AWS."""

    def __init__(self, region: str, account_id: str = MOCK_ACCOUNT):
        self.region = region
        self.account_id = account_id

    def new_resource(self, args: pulumi.runtime.MockResourceArgs):
        if not args.custom:
            return "", {}
        physical = fake_physical_name(args.typ, args.name, args.inputs)
        outputs = {
            "id": physical,
            "name": args.inputs.get("name", physical),
            # An `arn` input names another resource (an event target's, a topic policy's topic): it stays.
            "arn": args.inputs.get("arn") or fake_arn(args.typ, physical, self.region, self.account_id),
        }
        if args.typ == "aws:s3/bucket:Bucket":
            outputs["bucket"] = physical
        if args.typ == "aws:kms/key:Key":
            outputs["keyId"] = physical
        if args.typ == "aws:sqs/queue:Queue":
            outputs["url"] = f"https://sqs.{self.region}.amazonaws.com/{self.account_id}/{physical}"
        if args.typ == "aws:ecr/repository:Repository":
            outputs["repositoryUrl"] = f"{self.account_id}.dkr.ecr.{self.region}.amazonaws.com/{physical}"
        return physical, {**args.inputs, **outputs}

    def call(self, args: pulumi.runtime.MockCallArgs):
        if args.token == "aws:index/getCallerIdentity:getCallerIdentity":
            return {"accountId": self.account_id, "arn": f"arn:aws:iam::{self.account_id}:user/prodline",
                    "userId": "AIDAPRODLINE", "id": self.account_id}
        if args.token == "aws:index/getRegion:getRegion":
            return {"name": self.region, "region": self.region, "id": self.region}
        if args.token == "aws:index/getPartition:getPartition":
            return {"partition": "aws", "dnsSuffix": "amazonaws.com", "id": "aws"}
        if args.token == "aws:eks/getCluster:getCluster":
            name = args.args["name"]
            return {"name": name, "id": name, "endpoint": f"https://{name}.eks.{self.region}.example.invalid",
                    "certificateAuthorities": [{"data": "Q0E="}],
                    "identities": [{"oidcs": [{"issuer": f"https://oidc.eks.{self.region}.amazonaws.com/id/{name.upper()}"}]}]}
        if args.token == "aws:lb/getLoadBalancer:getLoadBalancer":
            # The ingress controller's NLB, found by the tag its controller puts on it.
            name = "k8s-ingress-" + hashlib.sha1(json.dumps(args.args, sort_keys=True).encode()).hexdigest()[:10]
            return {"arn": f"arn:aws:elasticloadbalancing:{self.region}:{self.account_id}:loadbalancer/net/{name}/"
                           "0123456789abcdef", "name": name, "id": name, "loadBalancerType": "network",
                    "dnsName": f"{name}.elb.{self.region}.amazonaws.com", "internal": True}
        return {}


def fake_physical_name(type_token: str, name: str, inputs: dict[str, Any]) -> str:
    """A stable stand-in for the name AWS or Pulumi's autonaming would give."""
    if type_token == "aws:kms/key:Key":
        return str(uuid.UUID(hashlib.md5(name.encode()).hexdigest()))
    for key in ("name", "bucket"):
        if isinstance(inputs.get(key), str):
            return inputs[key]
    return f"{name}-{hashlib.sha1(name.encode()).hexdigest()[:7]}"


def fake_arn(type_token: str, physical: str, region: str, account: str) -> str:
    service = type_token.split(":")[1].split("/", maxsplit=1)[0]
    kind = type_token.rsplit(":", 1)[-1]
    if service == "s3":
        return f"arn:aws:s3:::{physical}"
    if service == "iam":
        return f"arn:aws:iam::{account}:{kind[0].lower() + kind[1:]}/{physical}"
    if service == "cloudwatch" and kind == "LogGroup":
        return f"arn:aws:logs:{region}:{account}:log-group:{physical}"
    if service == "kms":
        return f"arn:aws:kms:{region}:{account}:{'alias' if kind == 'Alias' else 'key'}/{physical}"
    return f"arn:aws:{service}:{region}:{account}:{kind[0].lower() + kind[1:]}/{physical}"


def record(program: Callable[[], Any], *, stack: str, config: dict[str, str] | None = None,
           mocks: pulumi.runtime.Mocks | None = None, region: str = "eu-west-1",
           project: str | None = None) -> list[Registration]:
    """Run any Pulumi program function under mocks and return its registrations, in order.

    ``project`` defaults to the name in the repository's ``Pulumi.yaml``.
    """
    provider_imports.install()
    mocks = mocks or RecordingMocks(region)
    monitor = RecordingMonitor(mocks)
    pulumi.runtime.set_all_config(dict(config or {}))
    settings.ROOT.set(None)  # a fresh root stack per run, so transformations never leak between runs
    with shortcuts_in_place():
        pulumi.runtime.set_mocks(mocks, project=project or stack_files.project()["name"], stack=stack,
                                 preview=False, monitor=monitor)  # registers the run's root Stack
        with collector_paused():
            pulumi.runtime.test(program)()
    return monitor.registrations


def run_program(stack: str, overrides: Iterable[str] = (), mocks: pulumi.runtime.Mocks | None = None,
                raw_config: dict[str, Any] | None = None, offline_lookups: bool = True) -> list[Registration]:
    """Run ``infra/__main__.py`` for a stack under mocks; return every registration in order.

    ``offline_lookups`` tells the program there is no account to query (the served model version then
    resolves to a stand-in); the sandbox turns it off so lookups reach its emulator.

    Raises ``infra.config.ConfigError`` (before any resource is declared) when the config is bad and
    ``stack_files.StackFileError`` when the stack or an override cannot be read.
    """
    from infra.config import parse_config

    raw = raw_config if raw_config is not None else stack_files.load(stack, overrides)
    # Parsed here too so a bad config surfaces as ConfigError, not as the program's RunError.
    config = parse_config(raw, stack)
    return _run(PROGRAM, stack, raw, region=config.region, mocks=mocks, offline_lookups=offline_lookups)


def run_bootstrap(overrides: Iterable[str] = (), mocks: pulumi.runtime.Mocks | None = None,
                  stack: str = BOOTSTRAP_STACK) -> list[Registration]:
    """Run the account bootstrap (``bootstrap/__main__.py``) under mocks, offline; return its registrations.

    Its config comes from ``bootstrap/Pulumi.yaml`` and ``bootstrap/Pulumi.<stack>.yaml`` with the ``-c``
    overrides. Raises ``ConfigError`` and ``StackFileError`` as ``run_program`` does.
    """
    from infra.bootstrap_config import parse_bootstrap_config

    raw = stack_files.load(stack, overrides, root=BOOTSTRAP_DIR)
    previous = os.environ.get(OFFLINE_ENV)
    os.environ[OFFLINE_ENV] = "1"  # the example's placeholder repository is accepted offline only
    try:
        config = parse_bootstrap_config(raw)
    finally:
        _restore(previous)
    return _run(BOOTSTRAP_PROGRAM, stack, raw, region=config.region, mocks=mocks,
                project=BOOTSTRAP_PROJECT)


def _run(program: Path, stack: str, raw: dict[str, Any], *, region: str, mocks: pulumi.runtime.Mocks | None,
         offline_lookups: bool = True, project: str | None = None) -> list[Registration]:
    previous = os.environ.get(OFFLINE_ENV)
    if offline_lookups:
        os.environ[OFFLINE_ENV] = "1"
    try:
        return record(lambda: runpy.run_path(str(program), run_name="__main__"), stack=stack,
                      config={k: _engine_text(v) for k, v in raw.items()}, mocks=mocks, region=region,
                      project=project)
    finally:
        _restore(previous)


def _restore(previous: str | None) -> None:
    if previous is None:
        os.environ.pop(OFFLINE_ENV, None)
    else:
        os.environ[OFFLINE_ENV] = previous


def _engine_text(value: Any) -> str:
    from infra.config import _as_text

    return _as_text(value)
