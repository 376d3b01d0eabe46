"""The sandbox's side of ``prodline.delivery``: its engine, and the DeliveryContext a deploy runs with.

- ``SandboxEngine``: ``up(stack, arn)`` realizes the stack in the emulator every stack shares, with the
  overrides it was brought up with and ``prodline:modelPackageArn=<arn or none>``; a changed endpoint rolls
  out through the gateway's canary, as ``prodline sandbox up`` does. A rolled-back canary is a failed ``up``.
- ``context_for(sandbox, stack)``: clients reach the emulator, except SageMaker Runtime (the gateway) and
  CodeBuild's StartBuild (the build runtime, since moto runs no build); a stack's settings are its config with
  the ``-c`` overrides it was brought up with; ``publish`` goes through the sandbox's EventRouter (moto's
  PutEvents fails when a matched rule targets SNS); queue receives do not long-poll (the emulator's queue is
  one server: a short poll sees every message, and an empty queue ends a build at once instead of after the
  wait).

``prodline.sandbox.delivery`` is the entry point (``sandbox_context``); this module never imports the
lifecycle, which builds its contexts here.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from prodline.delivery.context import DeliveryContext
from prodline.delivery.engines import EngineError, model_config
from prodline.delivery.settings import DeliverySettings, load_settings
from prodline.sandbox.emulator import DUMMY_CREDENTIALS
from prodline.sandbox.paths import remembered_overrides
from prodline.sandbox.runtimes.build import BuildDropped, BuildJournal
from prodline.sandbox.runtimes.deploy import DeploymentRolledBack

Sandbox = Any
"""A ``prodline.sandbox.lifecycle.Sandbox``; not imported: the lifecycle builds its contexts with this module."""

# The smoke gate judges every answer itself: a retried 5xx would hide the error it must see.
_RUNTIME_CONFIG = Config(retries={"total_max_attempts": 1, "mode": "standard"}, connect_timeout=5, read_timeout=60)


class SandboxEngine:
    """`pulumi up` of one stack with one pinned model version, done by the realizer in the shared emulator."""

    name = "sandbox"

    def __init__(self, parent: Sandbox):
        self.parent = parent

    def up(self, stack: str, model_package_arn: str | None) -> None:
        pinned = [f"{key}={value}" for key, value in model_config(model_package_arn).items()]
        # The parent's class: a Sandbox sharing its router, builds and records (no import of the lifecycle).
        sandbox = type(self.parent)(stack, [*remembered_overrides(stack), *pinned], parent=self.parent)
        try:
            sandbox.up()
        except DeploymentRolledBack as err:
            raise EngineError(str(err)) from None


class LocalCodeBuild:
    """The emulator's CodeBuild client, whose StartBuild starts the sandbox's build runtime, and which says how the
    builds that runtime ran ended (moto says SUCCEEDED of every build it is asked about) and lists them newest
    first when asked to (moto lists them oldest first)."""

    def __init__(self, client: Any, start: Callable[[str, str], Any], journal: BuildJournal):
        self._client = client
        self._start = start
        self._journal = journal

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def start_build(self, projectName: str, **_: Any) -> dict:  # boto3 spells the parameter so
        try:
            build = self._start(projectName, "StartBuild")
        except BuildDropped as err:
            raise ClientError({"Error": {"Code": "AccountLimitExceededException", "Message": str(err)}},
                              "StartBuild") from None
        return {"build": {"id": build.id, "projectName": projectName, "buildStatus": build.status}}

    def list_builds_for_project(self, projectName: str, sortOrder: str = "DESCENDING", **kwargs: Any) -> dict:
        ids = self._client.list_builds_for_project(projectName=projectName, **kwargs).get("ids", [])
        return {"ids": ids[::-1] if sortOrder == "DESCENDING" else ids}  # moto keeps them in start order

    def batch_get_builds(self, ids: list[str], **kwargs: Any) -> dict:
        answer = self._client.batch_get_builds(ids=ids, **kwargs)
        ran = self._journal.read()
        for build in answer.get("builds", []):
            record = ran.get(build.get("id"))
            if record:  # a build this runtime started: what it did, not moto's answer
                build["buildStatus"] = record["status"]
                if record.get("ended"):
                    build["endTime"] = dt.datetime.fromtimestamp(record["ended"], dt.UTC)
        return answer


def context_for(sandbox: Sandbox, stack: str) -> DeliveryContext:
    """The DeliveryContext of a deploy of ``stack``, sharing ``sandbox``'s router, builds and progress."""
    runtime: dict[str, Any] = {}

    def clients(service: str) -> Any:
        if service == "sagemaker-runtime":
            from prodline.sandbox import shared

            url = shared.gateway_url()
            if url is None:
                raise EngineError("the sandbox's gateway is not running: bring a stack up first")
            if runtime.get("url") != url:
                runtime.update(url=url, client=boto3.client(
                    "sagemaker-runtime", endpoint_url=url, region_name=sandbox.region, config=_RUNTIME_CONFIG,
                    **{k.lower(): v for k, v in DUMMY_CREDENTIALS.items()}))
            return runtime["client"]
        if service == "codebuild":
            return LocalCodeBuild(sandbox.clients("codebuild"), sandbox.builds.start, sandbox.builds.journal)
        return sandbox.clients(service)

    def settings(name: str) -> DeliverySettings:
        """A stack's delivery settings from its config, with the overrides it was brought up with."""
        return load_settings(name, remembered_overrides(name))

    return DeliveryContext(clients=clients, publish=sandbox.router.emit, engine=SandboxEngine(sandbox),
                           on_progress=sandbox.on_progress, settings=settings, poll_seconds=0)
