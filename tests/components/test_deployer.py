"""The Deployer: approvals become queued deploy requests that one CodeBuild build at a time serves."""

from __future__ import annotations

import json

import pytest
import yaml

from components import deployer_policy
from components.deployer import Deployer, buildspec, deployer_settings
from components.deployer_bundle import zip_bytes
from components.model_registry import approval_pattern
from tests.helpers import LAKE_KEY_ARN, as_list, component_registrations, named, of_type, statements

ACCOUNT = "123456789012"
BOUNDARY = f"arn:aws:iam::{ACCOUNT}:policy/prodline-deployer-boundary"
ALERTS_KEY = "arn:aws:kms:eu-west-1:123456789012:key/alerts"
TOPIC = "arn:aws:sns:eu-west-1:123456789012:prodline-staging-alerts"
SOURCE = {"pyproject.toml": b"[project]\nname = 'prodline'\n", "Pulumi.yaml": b"name: prodline\n",
          "infra/__main__.py": b"print('hi')\n"}
QUEUE = "aws:sqs/queue:Queue"
PROJECT = "aws:codebuild/project:Project"
RULE = "aws:cloudwatch/eventRule:EventRule"
TARGET = "aws:cloudwatch/eventTarget:EventTarget"


def args(**changes):
    values = {
        "environment": "staging", "stack": "staging", "account_id": ACCOUNT, "region": "eu-west-1",
        "model_package_group": "prodline-staging-churn", "artifacts_bucket": "bucket-artifacts",
        "artifacts_key_arn": LAKE_KEY_ARN, "queue_key_arn": ALERTS_KEY, "alert_topic_arn": TOPIC,
        "log_retention_days": 30, "boundary_arn": BOUNDARY, "state_bucket": f"prodline-pulumi-state-{ACCOUNT}",
        "backend_url": f"s3://prodline-pulumi-state-{ACCOUNT}", "require_approval": False,
        "source_files": SOURCE, "pulumi_version": "3.272.0", "promote_to": "prod",
    }
    values.update(changes)
    return values


@pytest.fixture(scope="module")
def regs():
    return component_registrations(lambda: Deployer("deployer", args()))


def environment_of(project) -> dict[str, str]:
    return {v["name"]: v.get("value") for v in project.inputs["environment"]["environmentVariables"]}


def test_requests_queue_is_fifo_and_encrypted_with_the_stack_key(regs):
    queue = named(regs, "deployer-requests")
    assert queue.inputs["name"] == "prodline-staging-deploy-requests.fifo"
    assert queue.inputs["fifoQueue"] is True and queue.inputs["contentBasedDeduplication"] is True
    assert queue.inputs["kmsMasterKeyId"] == ALERTS_KEY
    redrive = json.loads(queue.inputs["redrivePolicy"])
    assert redrive["deadLetterTargetArn"] == named(regs, "deployer-dead-letters").outputs["arn"]
    assert redrive["maxReceiveCount"] == 3


def test_a_request_outlasts_one_deploy_and_the_dead_letters_page_someone(regs):
    queue = named(regs, "deployer-requests")
    assert queue.inputs["visibilityTimeoutSeconds"] >= 3600, "a deploy with a canary bake takes up to an hour"
    dead = named(regs, "deployer-dead-letters")
    assert dead.inputs["fifoQueue"] is True and dead.inputs["kmsMasterKeyId"] == ALERTS_KEY
    alarm = named(regs, "deployer-dead-letters-alarm")
    assert alarm.inputs["dimensions"] == {"QueueName": dead.outputs["name"]}
    assert alarm.inputs["alarmActions"] == [TOPIC]


def test_project_runs_the_deploy_one_build_at_a_time(regs):
    (project,) = of_type(regs, PROJECT)
    assert project.inputs["name"] == "prodline-staging-deployer"
    assert project.inputs["concurrentBuildLimit"] == 1
    assert project.inputs["serviceRole"] == named(regs, "deployer-role").outputs["arn"]
    assert project.inputs["environment"]["image"] == "aws/codebuild/standard:7.0"
    assert project.inputs["environment"]["computeType"] == "BUILD_GENERAL1_SMALL"
    assert project.inputs["encryptionKey"] == LAKE_KEY_ARN


def test_project_environment_tells_the_build_which_stack_and_backend(regs):
    (project,) = of_type(regs, PROJECT)
    assert environment_of(project) == {
        "STACK": "staging", "PRODLINE_DEPLOY_ENGINE": "pulumi",
        "PULUMI_BACKEND_URL": f"s3://prodline-pulumi-state-{ACCOUNT}",
        "PULUMI_SECRETS_PROVIDER": "awskms://alias/prodline-pulumi-secrets",
        "PRODLINE_REQUIRE_APPROVAL": "false",
        "DEPLOY_QUEUE_URL": named(regs, "deployer-requests").outputs["url"],
    }


def test_prod_like_settings_reach_the_build():
    regs = component_registrations(lambda: Deployer("deployer", args(require_approval=True)))
    assert environment_of(of_type(regs, PROJECT)[0])["PRODLINE_REQUIRE_APPROVAL"] == "true"


def test_buildspec_installs_the_pinned_cli_and_drains_the_queue(regs):
    (project,) = of_type(regs, PROJECT)
    spec = yaml.safe_load(project.inputs["source"]["buildspec"])
    install = " ".join(spec["phases"]["install"]["commands"])
    assert "--version 3.272.0" in install and "pip install" in install and " ." in install
    (command,) = spec["phases"]["build"]["commands"]
    assert command.endswith('prodline deploy --stack "$STACK" --from-queue')
    assert project.inputs["source"]["buildspec"] == buildspec("3.272.0")


def test_a_wake_up_that_finds_the_queue_empty_installs_and_deploys_nothing(regs):
    (project,) = of_type(regs, PROJECT)
    spec = yaml.safe_load(project.inputs["source"]["buildspec"])
    check, *rest = spec["phases"]["install"]["commands"] + spec["phases"]["build"]["commands"]
    assert '--queue-url "$DEPLOY_QUEUE_URL"' in check and "touch .nothing-to-deploy" in check
    assert all(command.startswith("test -f .nothing-to-deploy || ") for command in rest)


def test_source_is_the_content_hashed_repository_bundle(regs):
    source = named(regs, "deployer-source")
    (project,) = of_type(regs, PROJECT)
    assert source.inputs["key"].startswith("deployer/") and source.inputs["key"].endswith("/source.zip")
    assert source.inputs["kmsKeyId"] == LAKE_KEY_ARN
    assert project.inputs["source"] == {**project.inputs["source"], "type": "S3",
                                        "location": f"bucket-artifacts/{source.inputs['key']}"}


def test_the_bundle_is_reproducible():
    assert zip_bytes(SOURCE) == zip_bytes(dict(reversed(SOURCE.items())))
    assert zip_bytes(SOURCE) != zip_bytes({**SOURCE, "infra/__main__.py": b"changed\n"})


def test_build_logs_go_to_an_encrypted_group_with_the_stack_retention(regs):
    logs = named(regs, "deployer-logs")
    assert logs.inputs["name"] == "/aws/codebuild/prodline-staging-deployer"
    assert logs.inputs["kmsKeyId"] == LAKE_KEY_ARN and logs.inputs["retentionInDays"] == 30
    (project,) = of_type(regs, PROJECT)
    assert project.inputs["logsConfig"]["cloudwatchLogs"]["groupName"] == logs.inputs["name"]


def test_approval_rule_queues_a_request_and_wakes_the_build(regs):
    rule = named(regs, "deployer-on-approval")
    assert rule.inputs["name"] == "prodline-staging-deploy-on-approval"
    assert json.loads(rule.inputs["eventPattern"]) == approval_pattern("prodline-staging-churn")
    targets = {t.name: t.inputs for t in of_type(regs, TARGET) if t.inputs["rule"] == rule.inputs["name"]}
    queue, build = targets["deployer-on-approval-queue"], targets["deployer-on-approval-build"]
    assert queue["arn"] == named(regs, "deployer-requests").outputs["arn"]
    assert queue["sqsTarget"] == {"messageGroupId": "staging"}, "one message group per stack: one deploy at a time"
    assert build["arn"] == of_type(regs, PROJECT)[0].outputs["arn"]
    events_role = named(regs, "deployer-events-role").outputs["arn"]
    assert queue["roleArn"] == build["roleArn"] == events_role


def test_an_hourly_wake_up_means_no_request_is_stranded(regs):
    rule = named(regs, "deployer-wake-up")
    assert rule.inputs["scheduleExpression"] == "rate(1 hour)"
    (target,) = [t for t in of_type(regs, TARGET) if t.inputs["rule"] == rule.inputs["name"]]
    assert target.inputs["arn"] == of_type(regs, PROJECT)[0].outputs["arn"]


def test_deploy_role_is_codebuilds_and_carries_the_boundary(regs):
    role = named(regs, "deployer-role")
    assert role.inputs["name"] == "prodline-staging-deployer"
    assert role.inputs["permissionsBoundary"] == BOUNDARY
    (trust,) = statements(role.inputs["assumeRolePolicy"])
    assert trust["Principal"] == {"Service": ["codebuild.amazonaws.com"]}
    assert trust["Condition"] == {
        "StringEquals": {"aws:SourceAccount": ACCOUNT},
        "ArnLike": {"aws:SourceArn": [f"arn:aws:codebuild:eu-west-1:{ACCOUNT}:project/prodline-staging-deployer"]}}
    assert of_type(regs, PROJECT)[0].inputs["name"] == "prodline-staging-deployer"


def deploy_statements_of(regs) -> list[dict]:
    return [s for p in of_type(regs, "aws:iam/policy:Policy") for s in statements(p.inputs["policy"])]


def test_deploy_role_policies_are_attached_managed_policies_within_the_size_limit(regs):
    policies = of_type(regs, "aws:iam/policy:Policy")
    attached = {a.inputs["policyArn"] for a in of_type(regs, "aws:iam/rolePolicyAttachment:RolePolicyAttachment")
                if a.inputs["role"] == "prodline-staging-deployer"}
    assert policies and attached == {p.outputs["arn"] for p in policies}
    for policy in policies:
        assert policy.inputs["name"].startswith("prodline-staging-deployer-")
        document = json.loads(policy.inputs["policy"])
        assert len(json.dumps(document, separators=(",", ":"))) <= deployer_policy.MANAGED_POLICY_LIMIT


def test_deploy_role_names_every_action(regs):
    for statement in deploy_statements_of(regs):
        for action in as_list(statement["Action"]):
            assert action != "*" and not action.endswith(":*"), f"{statement['Sid']}: {action}"
            assert not (action.startswith("iam:") and "*" in action), f"{statement['Sid']}: {action}"


def by_sid(regs) -> dict[str, dict]:
    return {s["Sid"]: s for s in deploy_statements_of(regs)}


def test_roles_are_created_only_with_the_boundary_and_passed_only_when_the_stacks(regs):
    sids = by_sid(regs)
    create = sids["CreateBoundedRoles"]
    assert {"iam:CreateRole", "iam:PutRolePolicy", "iam:AttachRolePolicy", "iam:DeleteRolePolicy"} <= set(
        create["Action"])
    assert create["Condition"] == {"StringEquals": {"iam:PermissionsBoundary": BOUNDARY}}
    every_create = [s for s in sids.values() if "iam:CreateRole" in s["Action"] or "iam:PutRolePolicy" in s["Action"]]
    assert every_create == [create], "no statement may grant a role change without the boundary condition"
    assert sids["PassStackRoles"]["Resource"] == [f"arn:aws:iam::{ACCOUNT}:role/prodline-staging-*"]


def test_delivery_steps_are_scoped_to_this_stack_and_the_next(regs):
    sids = by_sid(regs)
    queue = f"arn:aws:sqs:eu-west-1:{ACCOUNT}:prodline-staging-deploy-requests.fifo"
    assert sids["DrainOwnDeployQueue"]["Resource"] == [queue]
    assert {"sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:SendMessage"} <= set(sids["DrainOwnDeployQueue"]["Action"])
    assert sids["RequestDeployOfNextStack"]["Resource"] == [
        f"arn:aws:sqs:eu-west-1:{ACCOUNT}:prodline-prod-deploy-requests.fifo"]
    assert sids["StartDeployOfNextStack"]["Resource"] == [
        f"arn:aws:codebuild:eu-west-1:{ACCOUNT}:project/prodline-prod-deployer"]
    assert sids["DeliveryRecords"]["Resource"] == [f"arn:aws:ssm:eu-west-1:{ACCOUNT}:parameter/prodline/staging/*"]
    assert "events:PutEvents" in sids["ManageStackBus"]["Action"]
    assert sids["ManageStackBus"]["Resource"] == [f"arn:aws:events:eu-west-1:{ACCOUNT}:event-bus/prodline-staging"]
    assert "sns:Publish" in sids["ManageStackTopics"]["Action"]


def test_pulumi_state_is_reachable_only_for_this_stack(regs):
    sids = by_sid(regs)
    state = f"arn:aws:s3:::prodline-pulumi-state-{ACCOUNT}"
    assert all(r.startswith(f"{state}/.pulumi/") and "/prodline/staging" in r
               for r in sids["WriteOwnPulumiState"]["Resource"])
    assert sids["UsePulumiSecretsKey"]["Condition"] == {
        "ForAnyValue:StringEquals": {"kms:ResourceAliases": "alias/prodline-pulumi-secrets"}}


def test_the_last_stack_promotes_nowhere():
    regs = component_registrations(lambda: Deployer("deployer", args(environment="prod", stack="prod",
                                                                     promote_to="", require_approval=True)))
    sids = by_sid(regs)
    assert "RequestDeployOfNextStack" not in sids and "StartDeployOfNextStack" not in sids


def test_events_role_may_only_queue_and_start_this_deployer(regs):
    role = named(regs, "deployer-events-role")
    assert role.inputs["permissionsBoundary"] == BOUNDARY
    (trust,) = statements(role.inputs["assumeRolePolicy"])
    assert trust["Principal"] == {"Service": ["events.amazonaws.com"]}
    rules = [named(regs, rule).outputs["arn"] for rule in ("deployer-on-approval", "deployer-wake-up")]
    assert trust["Condition"] == {"StringEquals": {"aws:SourceAccount": ACCOUNT}, "ArnLike": {"aws:SourceArn": rules}}
    granted = {s["Sid"]: (s["Action"], s["Resource"])
               for s in statements(named(regs, "deployer-events-role-policy").inputs["policy"])}
    assert granted == {
        "QueueDeployRequests": (["sqs:SendMessage"], [named(regs, "deployer-requests").outputs["arn"]]),
        "EncryptDeployRequests": (["kms:Decrypt", "kms:GenerateDataKey"], [ALERTS_KEY]),
        "StartDeployer": (["codebuild:StartBuild"], [of_type(regs, PROJECT)[0].outputs["arn"]]),
    }


@pytest.mark.parametrize(("change", "field"), [
    ({"promote_to": "staging"}, "promote_to"),
    ({"backend_url": "file://state"}, "backend_url"),
    ({"source_files": {"README.md": b""}}, "source_files"),
])
def test_bad_args_are_refused_naming_the_field(change, field):
    with pytest.raises(ValueError, match=field):
        deployer_settings(args(**change))
