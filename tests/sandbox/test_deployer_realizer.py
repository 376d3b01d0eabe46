"""The Deployer component's resources as the realizer creates them: what the program declares is what the
emulator holds (queue attributes, the project's environment and buildspec, the targets' message group), and
what moto cannot hold is recorded with the reason.

In-process moto, with the inputs of the dev stack's own registrations (the recording mock's run of the program).
"""

from __future__ import annotations

import json

import pytest

from prodline.sandbox.realizer.mocks import delete_entry
from prodline.sandbox.runtimes.build import command_stack, deploy_command, project_environment
from tests.helpers import stack_registrations
from tests.sandbox.realizing import in_process_mocks, realize


@pytest.fixture
def mocks(tmp_path, monkeypatch):
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with in_process_mocks(tmp_path, "dev") as realizing:
        yield realizing


def declared(type_token: str, name: str) -> dict:
    """The inputs the dev stack's program gives resource ``name``."""
    (registration,) = [r for r in stack_registrations("dev") if r.type == type_token and r.name == name]
    return dict(registration.inputs)


def test_the_deploy_queue_is_fifo_and_encrypted_as_declared(mocks):
    inputs = declared("aws:sqs/queue:Queue", "deployer-requests")
    inputs.pop("redrivePolicy")  # names the dead-letter queue's ARN, which this test does not create
    url, outputs = realize(mocks, "aws:sqs/queue:Queue", "deployer-requests", inputs)
    attributes = mocks.ctx.clients("sqs").get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert outputs["name"] == "prodline-dev-deploy-requests.fifo" and outputs["arn"] == attributes["QueueArn"]
    assert attributes["FifoQueue"] == "true" and attributes["ContentBasedDeduplication"] == "true"
    assert attributes["KmsMasterKeyId"] == inputs["kmsMasterKeyId"]
    assert attributes["VisibilityTimeout"] == str(int(inputs["visibilityTimeoutSeconds"]))


def test_the_deployer_project_holds_its_environment_buildspec_and_source(mocks):
    inputs = declared("aws:codebuild/project:Project", "deployer-project")
    name, outputs = realize(mocks, "aws:codebuild/project:Project", "deployer-project", inputs)
    (project,) = mocks.ctx.clients("codebuild").batch_get_projects(names=[name])["projects"]
    environment = project_environment(project)
    assert environment["STACK"] == "dev" and environment["PRODLINE_REQUIRE_APPROVAL"] == "false"
    assert project["source"]["type"] == "S3" and project["source"]["location"] == inputs["source"]["location"]
    words = deploy_command(project["source"]["buildspec"])
    assert command_stack(words, environment) == "dev", f"the build runtime cannot read the command: {words}"
    assert project["logsConfig"]["cloudWatchLogs"]["groupName"] == "/aws/codebuild/prodline-dev-deployer"
    entry = mocks.state.get("aws:codebuild/project:Project::deployer-project")
    assert outputs["concurrentBuildLimit"] == 1 and "concurrentBuildLimit recorded, not applied" in entry.note
    assert "encryptionKey recorded, not applied" in entry.note


def test_the_approval_targets_carry_the_message_group(mocks):
    inputs = declared("aws:cloudwatch/eventTarget:EventTarget", "deployer-on-approval-queue")
    rule = declared("aws:cloudwatch/eventRule:EventRule", "deployer-on-approval")
    realize(mocks, "aws:cloudwatch/eventRule:EventRule", "deployer-on-approval", rule)
    realize(mocks, "aws:cloudwatch/eventTarget:EventTarget", "deployer-on-approval-queue", inputs)
    (target,) = mocks.ctx.clients("events").list_targets_by_rule(Rule=rule["name"])["Targets"]
    assert target["SqsParameters"] == {"MessageGroupId": "dev"} and target["RoleArn"] == inputs["roleArn"]
    assert json.loads(rule["eventPattern"])["detail"]["ModelApprovalStatus"] == ["Approved"]


def test_roles_carry_their_boundary_and_managed_policies_attach(mocks):
    role = declared("aws:iam/role:Role", "deployer-role")
    name, _ = realize(mocks, "aws:iam/role:Role", "deployer-role", role)
    iam = mocks.ctx.clients("iam")
    boundary = iam.get_role(RoleName=name)["Role"]["PermissionsBoundary"]["PermissionsBoundaryArn"]
    assert boundary == role["permissionsBoundary"]
    policy = declared("aws:iam/policy:Policy", "deployer-policy-1")
    arn, _ = realize(mocks, "aws:iam/policy:Policy", "deployer-policy-1", policy)
    realize(mocks, "aws:iam/rolePolicyAttachment:RolePolicyAttachment", "deployer-policy-1-attachment",
            {"role": name, "policyArn": arn})
    assert [p["PolicyArn"] for p in iam.list_attached_role_policies(RoleName=name)["AttachedPolicies"]] == [arn]
    for entry in reversed(mocks.state.entries):  # as `sandbox down` deletes: the attachment first, then the rest
        delete_entry(mocks.ctx, entry)
    assert iam.list_roles()["Roles"] == [] and iam.list_policies(Scope="Local")["Policies"] == []
