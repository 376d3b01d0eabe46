"""The parts the deploy path is built from: events, records, queue messages, settings, the AWS context."""

from __future__ import annotations

import json

import boto3
import pytest
from moto import mock_aws

from prodline.delivery import events, records, requests
from prodline.delivery.context import PublishFailed, aws_context
from prodline.delivery.records import ApprovalRecord, VersionRecord
from prodline.delivery.requests import BadRequest, parse_body
from prodline.delivery.settings import approval_forced, load_settings

ARN = "arn:aws:sagemaker:eu-west-1:123456789012:model-package/prodline-dev-churn/4"


def test_every_event_carries_stack_arn_and_version_on_the_stacks_bus():
    entry = events.entry(events.FAILED, environment="staging", stack="staging", model_package_arn=ARN, version=4,
                         reason="smoke gate failed", restoredTo="none", smoke=None)

    assert entry == {"source": "prodline.delivery", "detail-type": "Deployment Failed", "bus": "prodline-staging",
                     "detail": {"stack": "staging", "modelPackageArn": ARN, "version": "4",
                                "reason": "smoke gate failed", "restoredTo": "none"}}
    put = events.put_events_entry(entry)
    assert put["EventBusName"] == "prodline-staging" and json.loads(put["Detail"])["version"] == "4"


def test_the_detail_types_are_the_published_ones():
    from standards import delivery as names

    assert events.DETAIL_TYPES == names.DETAIL_TYPES and events.SOURCE == names.EVENT_SOURCE


def test_an_unknown_detail_type_is_refused():
    with pytest.raises(ValueError, match="Deployment Started"):
        events.entry("Deployment Exploded", environment="dev", stack="dev", model_package_arn=ARN, version=1)


def test_the_aws_context_puts_events_on_the_bus_and_says_when_one_is_refused():
    from botocore.stub import Stubber

    with mock_aws():
        boto3.client("events", region_name="eu-west-1").create_event_bus(Name="prodline-dev")
        ctx = aws_context("dev", "eu-west-1")
        started = events.entry(events.STARTED, environment="dev", stack="dev", model_package_arn=ARN, version=4)
        ctx.publish(started)
        with Stubber(ctx.clients("events")) as stub:
            stub.add_response("put_events", {"FailedEntryCount": 1, "Entries": [
                {"ErrorCode": "InternalFailure", "ErrorMessage": "try again"}]},
                {"Entries": [events.put_events_entry(started)]})
            with pytest.raises(PublishFailed, match="Deployment Started on prodline-dev: InternalFailure try again"):
                ctx.publish(started)


def test_a_bus_that_refuses_events_does_not_fail_the_deploy(world):
    from prodline.delivery.deploy import deploy

    def refuse(event):
        raise PublishFailed(f"{event['detail-type']} refused")

    world.ctx.publish = refuse

    outcome = deploy(world.ctx, "dev", world.arns[0], "alice", "manual")

    assert outcome.ok
    assert any("could not publish Deployment Succeeded" in line for line in world.progress)


def test_the_aws_contexts_runtime_client_never_retries_what_the_gate_must_see():
    ctx = aws_context("dev", "eu-west-1")

    assert ctx.clients("sagemaker-runtime").meta.config.retries["total_max_attempts"] == 1
    assert ctx.clients("sagemaker-runtime") is ctx.clients("sagemaker-runtime")


def test_records_round_trip_and_keep_their_history(world):
    first = VersionRecord("dev", ARN, "4", "alice", "2026-12-01T09:00:00Z", None, "approval")
    second = VersionRecord("dev", ARN.replace("/4", "/5"), "5", "bob", "2026-12-01T10:00:00Z", ARN, "manual")
    records.write_version(world.ctx, first)
    records.write_version(world.ctx, second)
    records.write_approval(world.ctx, "prod", ApprovalRecord(ARN, "carol", "2026-12-01T11:00:00Z"))

    assert records.read_version(world.ctx, "dev") == second
    assert [h.record for h in records.version_history(world.ctx, "dev")] == [first, second]
    stored = json.loads(world.client("ssm").get_parameter(Name="/prodline/dev/model-version")["Parameter"]["Value"])
    assert set(stored) == {"stack", "modelPackageArn", "version", "promotedBy", "promotedAt", "previousArn", "source"}
    assert records.read_approval(world.ctx, "prod").approved_by == "carol"
    assert records.read_version(world.ctx, "staging") is None and records.version_history(world.ctx, "staging") == []


def test_a_parameter_that_holds_no_record_is_named():
    with mock_aws():
        ctx = aws_context("dev", "eu-west-1")
        ctx.clients("ssm").put_parameter(Name="/prodline/dev/model-version", Value="latest", Type="String")
        with pytest.raises(records.RecordError, match="/prodline/dev/model-version"):
            records.read_version(ctx, "dev")
        assert records.version_history(ctx, "dev")[0].record is None


def test_a_request_body_and_a_raw_approval_event_both_parse():
    body = requests.request_body("dev", ARN, "alice", "manual")
    assert parse_body(body, "dev") == requests.DeployRequest("dev", ARN, "alice", "manual")

    event = {"id": "e-1", "detail-type": "SageMaker Model Package State Change", "resources": [ARN],
             "detail": {"ModelApprovalStatus": "Approved"}}
    request = parse_body(json.dumps(event), "dev")
    assert (request.model_package_arn, request.source) == (ARN, "approval") and "e-1" in request.requested_by


@pytest.mark.parametrize(("body", "words"), [
    ("[1]", "not a JSON object"),
    (json.dumps({"stack": "prod", "modelPackageArn": ARN}), "for stack 'prod', not 'dev'"),
    (json.dumps({"stack": "dev"}), "no modelPackageArn"),
    (json.dumps({"detail-type": "SageMaker Model Package State Change", "resources": [],
                 "detail": {"ModelApprovalStatus": "Rejected"}}), "Rejected, not Approved"),
    (json.dumps({"detail-type": "Object Created"}), "is not a model package approval"),
])
def test_a_message_that_is_no_request_says_why(body, words):
    with pytest.raises(BadRequest, match=words):
        parse_body(body, "dev")


def test_the_same_version_asked_for_at_another_time_is_another_request():
    assert requests.deduplication_id(ARN, "t1") != requests.deduplication_id(ARN, "t2")
    assert requests.deduplication_id(ARN, "t1") == requests.deduplication_id(ARN, "t1")


def test_settings_come_from_the_stack_files():
    dev, prod = load_settings("dev"), load_settings("prod")

    assert (dev.environment, dev.prefix, dev.endpoint_name) == ("dev", "prodline-dev", "prodline-dev-churn")
    assert prod.require_approval, "prod must always require a person's approval"
    assert (dev.promote_to, load_settings("staging").promote_to, prod.promote_to) == ("staging", "prod", "")
    assert dev.smoke_rows >= 1 and dev.smoke_latency_ms >= 1


def test_the_deployers_environment_can_only_add_the_approval_requirement():
    assert approval_forced({"PRODLINE_REQUIRE_APPROVAL": "true"})
    assert not approval_forced({"PRODLINE_REQUIRE_APPROVAL": "false"}) and not approval_forced({})
