"""The deploy path end to end in moto: smoke gate, restore, records, events, promotion, approval order."""

from __future__ import annotations

import json

from prodline.delivery import events, records, requests
from prodline.delivery.deploy import deploy, drain_queue
from prodline.delivery.promote import promote
from prodline.delivery.records import VersionRecord


def _record(world, stack: str, arn: str) -> None:
    records.write_version(world.ctx, VersionRecord(stack=stack, model_package_arn=arn, version=arn.rsplit("/", 1)[-1],
                                                   promoted_by="earlier", promoted_at="2026-11-01T00:00:00Z",
                                                   previous_arn=None, source="manual"))


def _approval_event(arn: str, event_id: str) -> str:
    """The body EventBridge puts on the queue when the registry approves a version."""
    return json.dumps({"version": "0", "id": event_id, "detail-type": "SageMaker Model Package State Change",
                       "source": "aws.sagemaker", "account": "123456789012", "region": "eu-west-1",
                       "resources": [arn], "detail": {"ModelPackageGroupName": "prodline-dev-churn",
                                                      "ModelPackageArn": arn, "ModelApprovalStatus": "Approved"}})


def test_a_failing_smoke_gate_restores_the_previous_version_and_alerts(world):
    good, bad = world.arns[0], world.arns[1]
    _record(world, "dev", good)
    world.runtime.behaviours[bad] = "5xx"

    outcome = deploy(world.ctx, "dev", bad, "alice", "manual")

    assert outcome.exit_code == 1 and not outcome.ok
    assert world.engine.calls == [("dev", bad), ("dev", good)], "the previous version must be `up`-ed back"
    assert world.engine.serving["dev"] == good
    assert outcome.restored_to == good
    assert world.detail_types() == [events.STARTED, events.FAILED]
    failed = world.events_of(events.FAILED)[0]
    assert failed["bus"] == "prodline-dev" and failed["source"] == "prodline.delivery"
    assert failed["detail"]["restoredTo"] == good
    assert failed["detail"]["modelPackageArn"] == bad and failed["detail"]["version"] == "2"
    assert "smoke gate failed" in failed["detail"]["reason"] and "HTTP 500" in failed["detail"]["reason"]
    assert failed["detail"]["smoke"]["errors"] > 0
    (alert,) = world.alert_messages("dev")
    assert "NOT deployed" in alert and good in alert
    assert records.read_version(world.ctx, "dev").model_package_arn == good, "a red deploy must not be recorded"
    assert world.queue_bodies("staging") == [], "a red deploy must not be promoted"


def test_a_failed_up_with_no_previous_version_restores_to_none(world):
    world.engine.fail_on.add(world.arns[0])

    outcome = deploy(world.ctx, "dev", world.arns[0], "alice", "manual")

    assert world.engine.calls == [("dev", world.arns[0]), ("dev", None)]
    assert outcome.exit_code == 1 and outcome.restored_to is None
    failed = world.events_of(events.FAILED)[0]["detail"]
    assert failed["restoredTo"] == "none"
    assert failed["reason"].startswith("up failed: error:") and "would not start" in failed["reason"]
    assert records.read_version(world.ctx, "dev") is None


def test_two_approvals_in_quick_succession_deploy_one_after_the_other_in_approval_order(world):
    sqs = world.client("sqs")
    url = requests.queue_url(world.ctx, "dev")
    first, second = world.arns[0], world.arns[1]
    for n, arn in enumerate((first, second)):
        sqs.send_message(QueueUrl=url, MessageBody=_approval_event(arn, f"event-{n}"), MessageGroupId="dev",
                         MessageDeduplicationId=f"event-{n}")
    seen_while_deploying = []
    world.engine.during_up = lambda stack, arn: seen_while_deploying.append(
        requests.receive_one(world.ctx, url, "dev"))

    outcomes = drain_queue(world.ctx, "dev")

    assert [o.model_package_arn for o in outcomes] == [first, second]
    assert all(o.ok for o in outcomes)
    assert world.engine.calls == [("dev", first), ("dev", second)]
    assert seen_while_deploying == [None, None], "no second request may be handed out while one is in flight"
    history = records.version_history(world.ctx, "dev")
    assert [h.record.model_package_arn for h in history] == [first, second]
    assert history[1].record.previous_arn == first
    assert all(h.record.source == "approval" for h in history)
    assert requests.receive_one(world.ctx, url, "dev") is None, "handled requests are deleted"


def test_a_green_dev_deploy_records_the_version_and_promotes_to_staging(world):
    arn = world.arns[2]

    outcome = deploy(world.ctx, "dev", "latest", "alice", "manual")

    assert outcome.ok and outcome.exit_code == 0 and outcome.model_package_arn == arn
    record = records.read_version(world.ctx, "dev")
    assert (record.model_package_arn, record.version, record.promoted_by, record.source) == (arn, "3", "alice",
                                                                                             "manual")
    assert record.promoted_at.endswith("Z") and record.promoted_at.startswith("2026-12-01T09:")
    assert record.previous_arn is None
    assert world.detail_types() == [events.STARTED, events.SUCCEEDED, events.PROMOTED]
    succeeded = world.events_of(events.SUCCEEDED)[0]["detail"]
    assert succeeded["smoke"]["ok"] and succeeded["smoke"]["rows"] == 20
    promoted = world.events_of(events.PROMOTED)[0]
    assert promoted["bus"] == "prodline-dev" and promoted["detail"]["to"] == "staging"
    assert outcome.promoted_to == "staging"
    assert len(world.builds("staging")) == 1, "staging's deployer must be woken"
    assert world.builds("dev") == []
    assert world.queue_bodies("staging") == [{"stack": "staging", "modelPackageArn": arn, "requestedBy": "alice",
                                              "source": "promotion"}]


def test_staging_to_prod_waits_for_a_persons_approval(world):
    arn = world.arns[0]
    deploy(world.ctx, "dev", arn, "alice", "manual")
    world.published.clear()

    (outcome,) = drain_queue(world.ctx, "staging")

    assert outcome.ok and outcome.awaiting_approval == "prod" and not outcome.promoted_to
    assert records.read_version(world.ctx, "staging").source == "promotion"
    assert world.detail_types() == [events.STARTED, events.SUCCEEDED, events.AWAITING_APPROVAL]
    waiting = world.events_of(events.AWAITING_APPROVAL)[0]
    assert waiting["bus"] == "prodline-prod"
    assert waiting["detail"] == {"stack": "prod", "modelPackageArn": arn, "version": "1", "from": "staging"}
    assert world.queue_bodies("prod") == [] and world.builds("prod") == []


def test_prod_refuses_a_version_nobody_approved_for_it(world):
    arn = world.arns[0]

    outcome = deploy(world.ctx, "prod", arn, "ci", "manual")

    assert outcome.exit_code == 1
    assert world.engine.calls == [], "a refused version must not reach the engine"
    assert "requires a person's approval" in outcome.reason and "prodline promote --to prod" in outcome.reason
    (failed,) = world.events_of(events.FAILED)
    assert failed["bus"] == "prodline-prod" and failed["detail"]["reason"].startswith("refused:")
    assert world.alert_messages("prod"), "a refused prod deploy is an alert"


def test_prod_refuses_a_version_when_the_approval_is_for_another(world):
    promote(world.ctx, "prod", world.arns[0], approver="carol")
    world.queue_bodies("prod")

    outcome = deploy(world.ctx, "prod", world.arns[1], "ci", "manual")

    assert outcome.exit_code == 1 and world.arns[0] in outcome.reason


def test_promote_records_the_approver_and_prod_then_deploys(world):
    arn = world.arns[1]

    promoted = promote(world.ctx, "prod", arn, approver="carol")

    approval = records.read_approval(world.ctx, "prod")
    assert (approval.model_package_arn, approval.approved_by) == (arn, "carol")
    assert promoted.approved_at == approval.approved_at
    assert len(world.builds("prod")) == 1
    (event,) = world.events_of(events.PROMOTED)
    assert event["bus"] == "prodline-prod" and event["detail"]["to"] == "prod"
    assert event["detail"]["approvedBy"] == "carol"

    (outcome,) = drain_queue(world.ctx, "prod")

    assert outcome.ok and world.engine.calls == [("prod", arn)]
    record = records.read_version(world.ctx, "prod")
    assert (record.promoted_by, record.source) == ("carol", "promotion")


def test_promote_without_an_approver_records_the_callers_identity(world):
    promote(world.ctx, "prod", world.arns[0])

    assert records.read_approval(world.ctx, "prod").approved_by == "arn:aws:sts::123456789012:user/moto"


def test_a_version_the_registry_has_not_approved_is_refused_everywhere(world):
    pending = world.arns[3]

    outcome = deploy(world.ctx, "dev", pending, "alice", "manual")

    assert outcome.exit_code == 1 and "PendingManualApproval" in outcome.reason
    assert world.engine.calls == []


def test_an_unknown_version_is_refused_with_the_registrys_words(world):
    missing = world.arns[0].rsplit("/", 1)[0] + "/99"

    outcome = deploy(world.ctx, "dev", missing, "alice", "manual")

    assert outcome.exit_code == 1 and "not in the model registry" in outcome.reason


def test_current_redeploys_the_recorded_version(world):
    _record(world, "staging", world.arns[1])

    outcome = deploy(world.ctx, "staging", "current", "ops", "manual")

    assert outcome.ok and world.engine.calls == [("staging", world.arns[1])]
    assert records.read_version(world.ctx, "staging").previous_arn == world.arns[1]


def test_current_without_a_record_is_refused(world):
    outcome = deploy(world.ctx, "staging", "current", "ops", "manual")

    assert outcome.exit_code == 1 and "no version record" in outcome.reason and world.engine.calls == []


def test_a_message_that_is_no_deploy_request_is_dropped_and_the_next_one_deployed(world):
    sqs = world.client("sqs")
    url = requests.queue_url(world.ctx, "dev")
    sqs.send_message(QueueUrl=url, MessageBody="not json", MessageGroupId="dev", MessageDeduplicationId="junk")
    requests.enqueue(world.ctx, "dev", "dev", world.arns[0], requested_by="bob", source="manual")

    junk, deployed = drain_queue(world.ctx, "dev")

    assert junk.exit_code == 1 and "not JSON" in junk.reason
    assert deployed.ok and deployed.requested_by == "bob"


def test_an_empty_queue_drains_to_nothing(world):
    assert drain_queue(world.ctx, "dev") == []
    assert world.engine.calls == [] and world.published == []


def test_a_gate_that_cannot_reach_the_endpoint_is_red_and_restores(world):
    _record(world, "dev", world.arns[0])
    clients = world.ctx.clients

    def no_runtime(service):
        if service == "sagemaker-runtime":
            raise RuntimeError("the sandbox's gateway is not running")
        return clients(service)

    world.ctx.clients = no_runtime

    outcome = deploy(world.ctx, "dev", world.arns[1], "alice", "manual")

    assert outcome.exit_code == 1 and "gateway is not running" in outcome.reason
    assert world.engine.calls[-1] == ("dev", world.arns[0])
