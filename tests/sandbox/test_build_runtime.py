"""The local CodeBuild runtime: a deployer build reads its project back from the emulator, runs the deploy
command's ``drain_queue`` with the project's environment, one build per project at a time.

In-process moto. ``drain_queue`` is replaced by a recorder that takes the requests off the queue as the real
one does (one at a time, deleting each), so the tests see what the build runs and in which order, without
deploying anything (tests/delivery covers the deploy itself; the demo, in test_lifecycle_e2e, the two together).
"""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import dataclass, field
from types import SimpleNamespace

import boto3
import pytest
from moto import mock_aws

from components.deployer import buildspec
from prodline.sandbox.delivery_context import LocalCodeBuild
from prodline.sandbox.runtimes import build as build_runtime
from prodline.sandbox.runtimes.build import (
    FAILED,
    SUCCEEDED,
    BuildDropped,
    BuildJournal,
    BuildRuntime,
    BuildSpecError,
)
from prodline.sandbox.runtimes.events import EventRouter

REGION = "eu-west-1"
ACCOUNT = "123456789012"
PROJECT = "prodline-dev-deployer"
QUEUE = "prodline-dev-deploy-requests.fifo"
LOG_GROUP = f"/aws/codebuild/{PROJECT}"
PATTERN = {"source": ["aws.sagemaker"], "detail-type": ["SageMaker Model Package State Change"],
           "detail": {"ModelPackageGroupName": ["prodline-dev-churn"], "ModelApprovalStatus": ["Approved"]}}
ENVIRONMENT = {"STACK": "dev", "PRODLINE_DEPLOY_ENGINE": "pulumi", "PRODLINE_REQUIRE_APPROVAL": "true"}


class LocalClients:
    def __call__(self, service: str):
        return boto3.client(service, region_name=REGION)


def approval(version: int) -> dict:
    arn = f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:model-package/prodline-dev-churn/{version}"
    return {"source": "aws.sagemaker", "detail-type": "SageMaker Model Package State Change", "resources": [arn],
            "detail": {"ModelPackageGroupName": "prodline-dev-churn", "ModelPackageArn": arn,
                       "ModelApprovalStatus": "Approved"}}


@dataclass
class Drains:
    """Stands in for prodline.delivery.deploy.drain_queue: takes the stack's requests off its queue in order."""

    clients: LocalClients
    deployed: list[str] = field(default_factory=list)
    environments: list[dict] = field(default_factory=list)
    contexts: list[str] = field(default_factory=list)
    fail: set[str] = field(default_factory=set)
    after_first: list = field(default_factory=list)
    """Callables run once the first drain found the queue empty (an approval arriving as the build ends)."""

    def __call__(self, ctx, stack: str) -> list:
        self.environments.append({k: os.environ.get(k) for k in ENVIRONMENT})
        sqs = self.clients("sqs")
        url = sqs.get_queue_url(QueueName=QUEUE)["QueueUrl"]
        outcomes = []
        while messages := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=1).get("Messages", []):
            arn = json.loads(messages[0]["Body"])["detail"]["ModelPackageArn"]
            self.deployed.append(arn.rsplit("/", 1)[-1])
            outcomes.append(SimpleNamespace(ok=arn not in self.fail))
            sqs.delete_message(QueueUrl=url, ReceiptHandle=messages[0]["ReceiptHandle"])
        ctx.on_progress(f"{stack}: deploy queue empty after {len(outcomes)} request(s)")
        while self.after_first:
            self.after_first.pop(0)()
        return outcomes


@pytest.fixture
def world(monkeypatch, tmp_path):
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    for key in ENVIRONMENT:
        monkeypatch.delenv(key, raising=False)
    with mock_aws():
        clients = LocalClients()
        drains = Drains(clients)
        monkeypatch.setattr("prodline.delivery.deploy.drain_queue", drains)
        sqs, events = clients("sqs"), clients("events")
        queue = sqs.create_queue(QueueName=QUEUE, Attributes={"FifoQueue": "true"})["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        clients("logs").create_log_group(logGroupName=LOG_GROUP)
        project = create_project(clients, PROJECT, buildspec("3.200.0"))
        events.put_rule(Name="prodline-dev-deploy-on-approval", EventPattern=json.dumps(PATTERN))
        events.put_targets(Rule="prodline-dev-deploy-on-approval", Targets=[
            {"Id": "queue", "Arn": queue_arn, "SqsParameters": {"MessageGroupId": "dev"}},
            {"Id": "build", "Arn": project}])
        progress: list[str] = []
        journal = tmp_path / "builds.json"
        runtime = BuildRuntime(clients, lambda stack: drains.contexts.append(stack) or SimpleNamespace(
            on_progress=progress.append), progress.append, journal=journal)

        def start_build(name, event, rule):
            with contextlib.suppress(BuildDropped):
                runtime.start(name, f"rule {rule}")

        router = EventRouter(clients, ACCOUNT, REGION, start_build=start_build)
        yield SimpleNamespace(clients=clients, drains=drains, runtime=runtime, router=router, progress=progress,
                              journal=journal)


def create_project(clients, name: str, spec: str) -> str:
    return clients("codebuild").create_project(
        name=name, source={"type": "S3", "location": "artifacts/deployer/source.zip", "buildspec": spec},
        artifacts={"type": "NO_ARTIFACTS"}, serviceRole=f"arn:aws:iam::{ACCOUNT}:role/{name}",
        environment={"type": "LINUX_CONTAINER", "image": "aws/codebuild/standard:7.0",
                     "computeType": "BUILD_GENERAL1_SMALL",
                     "environmentVariables": [{"name": k, "value": v, "type": "PLAINTEXT"}
                                              for k, v in ENVIRONMENT.items()]},
        logsConfig={"cloudWatchLogs": {"status": "ENABLED", "groupName": LOG_GROUP}})["project"]["arn"]


def test_one_build_drains_the_queue_in_approval_order(world):
    with world.runtime.held():
        for version in (1, 2, 3):
            world.router.emit(approval(version))
    assert len(world.runtime.builds) == 1, "starts while the project's build waits are dropped (limit 1)"

    ran = world.runtime.run_pending()

    assert [b.status for b in ran] == [SUCCEEDED] and world.drains.deployed == ["1", "2", "3"]
    assert world.drains.contexts == ["dev"], "the context is the one of the project's STACK"
    recorded = world.clients("codebuild").list_builds_for_project(projectName=PROJECT)["ids"]
    assert recorded == [ran[0].id], "the build is recorded in the emulator, under the emulator's id"


def test_a_start_while_the_build_runs_is_dropped_and_a_wake_up_build_follows(world):
    world.drains.after_first.append(lambda: world.router.emit(approval(2)))

    world.router.emit(approval(1))

    builds = world.runtime.builds
    assert [b.status for b in builds] == [SUCCEEDED, SUCCEEDED] and world.drains.deployed == ["1", "2"]
    assert "wake-up" in builds[1].trigger, "the request that arrived as the build ended must not be stranded"
    assert any("is dropped" in line for line in world.progress)


def test_the_build_runs_with_the_projects_environment_and_logs_to_its_group(world):
    world.router.emit(approval(1))

    (build,) = world.runtime.builds
    assert world.drains.environments == [{"STACK": "dev", "PRODLINE_DEPLOY_ENGINE": "sandbox",
                                          "PRODLINE_REQUIRE_APPROVAL": "true"}]
    assert all(os.environ.get(k) is None for k in ENVIRONMENT), "the build's variables must not outlive it"
    assert build.command == '.venv/bin/prodline deploy --stack $STACK --from-queue' and build.stack == "dev"
    logs = world.clients("logs")
    (stream,) = logs.describe_log_streams(logGroupName=LOG_GROUP)["logStreams"]
    messages = [e["message"] for e in logs.get_log_events(logGroupName=LOG_GROUP,
                                                          logStreamName=stream["logStreamName"])["events"]]
    assert any("deploy queue empty after 1 request" in m for m in messages) and messages[-1].endswith(SUCCEEDED)


def test_a_failed_deploy_fails_the_build(world):
    world.drains.fail.add(approval(1)["resources"][0])
    world.router.emit(approval(1))
    (build,) = world.runtime.builds
    assert build.status == FAILED and build.error == "1 of 1 deploys failed"


def test_the_builds_are_read_back_as_they_ended_newest_first_also_by_another_process(world):
    world.router.emit(approval(1))
    world.drains.fail.add(approval(2)["resources"][0])
    world.router.emit(approval(2))
    first, second = world.runtime.builds
    # What `prodline status` in another process reads: the emulator's CodeBuild and the journal, no runtime.
    codebuild = LocalCodeBuild(world.clients("codebuild"), lambda *_: pytest.fail("nothing starts"),
                               BuildJournal(world.journal))
    assert codebuild.list_builds_for_project(projectName=PROJECT, sortOrder="DESCENDING")["ids"] == [second.id,
                                                                                                  first.id]
    assert codebuild.list_builds_for_project(projectName=PROJECT, sortOrder="ASCENDING")["ids"] == [first.id,
                                                                                                 second.id]
    builds = codebuild.batch_get_builds(ids=[second.id, first.id])["builds"]
    assert {b["id"]: b["buildStatus"] for b in builds} == {first.id: SUCCEEDED, second.id: FAILED}, \
        "moto says SUCCEEDED of every build"
    ended = {b["id"]: b["endTime"].timestamp() for b in builds}
    assert ended == pytest.approx({first.id: first.ended, second.id: second.ended})


def test_a_buildspec_that_runs_something_else_fails_the_build_saying_why(world):
    create_project(world.clients, "other", "version: 0.2\nphases:\n  build:\n    commands: [make test]\n")
    build = world.runtime.start("other", "manual")
    assert build.status == FAILED and "runs: make test" in build.error
    assert world.drains.deployed == []


@pytest.mark.parametrize(("spec", "stack"), [
    (buildspec("3.200.0"), "dev"),
    ("phases:\n  build:\n    commands: ['prodline deploy --stack=${STACK} --from-queue']\n", "dev"),
    ("phases:\n  build:\n    commands: ['prodline deploy --stack prod --from-queue && echo done']\n", "prod"),
])
def test_the_deploy_command_and_its_stack_are_read_from_the_buildspec(spec, stack):
    assert build_runtime.command_stack(build_runtime.deploy_command(spec), {"STACK": "dev"}) == stack


def test_a_deploy_without_the_queue_is_not_what_the_runtime_runs():
    with pytest.raises(BuildSpecError, match="from-queue"):
        build_runtime.deploy_command("phases:\n  build:\n    commands: ['prodline deploy --stack dev']\n")
