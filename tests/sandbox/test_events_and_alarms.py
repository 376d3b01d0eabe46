"""EventBridge matching and alarm evaluation, the two rules engines moto stores but never runs."""

from __future__ import annotations

import datetime as dt
import json

import boto3
import pytest
from moto import mock_aws

from prodline.sandbox.runtimes import alarms
from prodline.sandbox.runtimes.events import EventRouter, matches

ALARM_EVENT = {"source": "aws.cloudwatch", "detail-type": "CloudWatch Alarm State Change",
               "resources": ["arn:aws:cloudwatch:eu-west-1:123456789012:alarm:drift"],
               "detail": {"state": {"value": "ALARM"}, "alarmName": "drift"}}


@pytest.mark.parametrize(("pattern", "expected"), [
    ({"source": ["aws.cloudwatch"]}, True),
    ({"source": ["aws.s3"]}, False),
    ({"resources": ["arn:aws:cloudwatch:eu-west-1:123456789012:alarm:drift"]}, True),
    ({"detail": {"state": {"value": ["ALARM"]}}}, True),
    ({"detail": {"state": {"value": ["OK"]}}}, False),
    ({"detail": {"alarmName": [{"prefix": "dri"}]}}, True),
    ({"detail": {"missing": [{"exists": False}]}}, True),
    ({"detail": {"alarmName": [{"exists": False}]}}, False),
    ({"detail": {"alarmName": [{"anything-but": "other"}]}}, True),
    ({"detail": {"nested": {"x": ["1"]}}}, False),
])
def test_event_patterns_match_as_eventbridge_does(pattern, expected):
    assert matches(pattern, ALARM_EVENT) is expected


class _Clients:
    def __call__(self, service):
        return boto3.client(service, region_name="eu-west-1")


@pytest.fixture
def aws(monkeypatch):
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        yield _Clients()


def test_router_delivers_to_sns_and_starts_pipelines(aws):
    events, sns, sqs = aws("events"), aws("sns"), aws("sqs")
    topic = sns.create_topic(Name="alerts")["TopicArn"]
    queue = sqs.create_queue(QueueName="inbox")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)
    events.put_rule(Name="drift",
                    EventPattern='{"source": ["aws.cloudwatch"], "detail": {"state": {"value": ["ALARM"]}}}')
    pipeline_arn = "arn:aws:sagemaker:eu-west-1:123456789012:pipeline/training"
    events.put_targets(Rule="drift", Targets=[{"Id": "p", "Arn": pipeline_arn}, {"Id": "t", "Arn": topic}])
    events.put_rule(Name="other", EventPattern='{"source": ["aws.s3"]}')
    events.put_targets(Rule="other", Targets=[{"Id": "t", "Arn": topic}])
    started = []
    router = EventRouter(aws, "123456789012", "eu-west-1", start_pipeline=lambda name, event: started.append(name))

    delivered = router.emit(ALARM_EVENT)

    assert sorted(d.kind for d in delivered) == ["pipeline", "sns"]
    assert started == ["training"]
    assert "CloudWatch Alarm State Change" in sqs.receive_message(QueueUrl=queue)["Messages"][0]["Body"]


def put_alarm(cloudwatch, name="errors", **changes):
    request = {"AlarmName": name, "Namespace": "AWS/SageMaker", "MetricName": "Invocation5XXErrors",
               "Dimensions": [{"Name": "EndpointName", "Value": "e"}], "Statistic": "Sum", "Period": 60,
               "EvaluationPeriods": 1, "Threshold": 3.0, "ComparisonOperator": "GreaterThanOrEqualToThreshold",
               "TreatMissingData": "notBreaching", **changes}
    cloudwatch.put_metric_alarm(**request)


def put_errors(cloudwatch, count: float):
    cloudwatch.put_metric_data(Namespace="AWS/SageMaker", MetricData=[{
        "MetricName": "Invocation5XXErrors", "Dimensions": [{"Name": "EndpointName", "Value": "e"}],
        "Value": count, "Timestamp": dt.datetime.now(dt.UTC)}])


def test_alarm_fires_on_breaching_data_and_is_written_back(aws):
    cloudwatch = aws("cloudwatch")
    put_alarm(cloudwatch)
    put_errors(cloudwatch, 5)
    (judgement,) = alarms.evaluate(aws, ["errors"])
    assert judgement.state == alarms.ALARM and judgement.changed
    assert cloudwatch.describe_alarms(AlarmNames=["errors"])["MetricAlarms"][0]["StateValue"] == "ALARM"
    event = alarms.state_change_event(judgement)
    assert event["resources"] == [judgement.arn] and event["detail"]["state"]["value"] == "ALARM"


def test_alarm_stays_ok_below_threshold(aws):
    cloudwatch = aws("cloudwatch")
    put_alarm(cloudwatch)
    put_errors(cloudwatch, 1)
    (judgement,) = alarms.evaluate(aws, ["errors"])
    assert judgement.state == alarms.OK


def test_missing_data_can_breach(aws):
    cloudwatch = aws("cloudwatch")
    put_alarm(cloudwatch, name="floor", MetricName="Invocations", ComparisonOperator="LessThanThreshold",
              Threshold=1.0, TreatMissingData="breaching")
    (judgement,) = alarms.evaluate(aws, ["floor"])
    assert judgement.state == alarms.ALARM


def test_data_before_a_deployment_is_not_judged(aws):
    cloudwatch = aws("cloudwatch")
    put_alarm(cloudwatch)
    put_errors(cloudwatch, 5)
    later = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=5)
    (judgement,) = alarms.evaluate(aws, ["errors"], since=later, now=later + dt.timedelta(seconds=1))
    assert judgement.state != alarms.ALARM


# --- delivery targets: queues, builds, buses -------------------------------------------------------------------

APPROVAL = {"source": "aws.sagemaker", "detail-type": "SageMaker Model Package State Change",
            "resources": ["arn:aws:sagemaker:eu-west-1:123456789012:model-package/prodline-dev-churn/1"],
            "detail": {"ModelPackageGroupName": "prodline-dev-churn", "ModelApprovalStatus": "Approved"}}
APPROVAL_PATTERN = ('{"source": ["aws.sagemaker"], "detail": {"ModelPackageGroupName": ["prodline-dev-churn"], '
                    '"ModelApprovalStatus": ["Approved"]}}')
PROJECT_ARN = "arn:aws:codebuild:eu-west-1:123456789012:project/prodline-dev-deployer"


def fifo_queue(sqs, name="prodline-dev-deploy-requests.fifo") -> tuple[str, str]:
    url = sqs.create_queue(QueueName=name, Attributes={"FifoQueue": "true"})["QueueUrl"]
    return url, sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]


def test_router_queues_an_approval_with_the_message_group_then_wakes_the_build(aws):
    events, sqs = aws("events"), aws("sqs")
    url, arn = fifo_queue(sqs)
    events.put_rule(Name="deploy-on-approval", EventPattern=APPROVAL_PATTERN)
    # The build target first: the router still delivers to the queue before it wakes the build.
    events.put_targets(Rule="deploy-on-approval", Targets=[
        {"Id": "build", "Arn": PROJECT_ARN},
        {"Id": "queue", "Arn": arn, "SqsParameters": {"MessageGroupId": "dev"}}])
    waiting_when_woken = []

    def start_build(project, event, rule):
        waiting_when_woken.append((project, rule, sqs.get_queue_attributes(
            QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])["Attributes"]["ApproximateNumberOfMessages"]))

    router = EventRouter(aws, "123456789012", "eu-west-1", start_build=start_build)
    delivered = router.emit(APPROVAL)

    assert [d.kind for d in delivered] == ["sqs", "codebuild"]
    assert waiting_when_woken == [("prodline-dev-deployer", "deploy-on-approval", "1")], \
        "the build must be woken after the event's message is on its queue"
    (message,) = sqs.receive_message(QueueUrl=url, MessageSystemAttributeNames=["All"])["Messages"]
    body = json.loads(message["Body"])
    assert body["detail-type"] == APPROVAL["detail-type"] and body["resources"] == APPROVAL["resources"]
    assert message["Attributes"]["MessageGroupId"] == "dev"
    assert message["Attributes"]["MessageDeduplicationId"] == body["id"], "EventBridge deduplicates by event id"


def test_a_target_that_cannot_be_reached_fails_alone(aws):
    events, sqs, sns = aws("events"), aws("sqs"), aws("sns")
    url, arn = fifo_queue(sqs)
    topic = sns.create_topic(Name="alerts")["TopicArn"]
    events.put_rule(Name="deploy-on-approval", EventPattern=APPROVAL_PATTERN)
    events.put_targets(Rule="deploy-on-approval", Targets=[
        {"Id": "queue", "Arn": arn, "SqsParameters": {"MessageGroupId": "dev"}}, {"Id": "t", "Arn": topic}])
    sqs.delete_queue(QueueUrl=url)
    delivered = EventRouter(aws, "123456789012", "eu-west-1").emit(APPROVAL)
    kinds = {d.kind: d for d in delivered}
    assert set(kinds) == {"failed", "sns"} and "NonExistentQueue" in kinds["failed"].error


def test_events_forwarded_to_a_bus_reach_that_buses_rules(aws):
    """moto's PutEvents fails when a matched rule targets SNS: the router delivers on the bus itself."""
    events, sns, sqs = aws("events"), aws("sns"), aws("sqs")
    bus = events.create_event_bus(Name="prodline-dev")["EventBusArn"]
    topic = sns.create_topic(Name="alerts")["TopicArn"]
    inbox = sqs.create_queue(QueueName="inbox")["QueueUrl"]
    inbox_arn = sqs.get_queue_attributes(QueueUrl=inbox, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=inbox_arn)
    events.put_rule(Name="forward", EventPattern='{"source": ["aws.sagemaker"]}')
    events.put_targets(Rule="forward", Targets=[{"Id": "bus", "Arn": bus}])
    events.put_rule(Name="failed", EventBusName="prodline-dev", EventPattern='{"detail-type": ["Deployment Failed"]}')
    events.put_targets(Rule="failed", EventBusName="prodline-dev", Targets=[{"Id": "t", "Arn": topic}])
    router = EventRouter(aws, "123456789012", "eu-west-1")

    assert [d.kind for d in router.emit(APPROVAL)] == ["bus"]
    delivered = router.emit({"source": "prodline.delivery", "detail-type": "Deployment Failed",
                             "detail": {"stack": "dev"}, "bus": "prodline-dev"})

    assert [d.kind for d in delivered] == ["sns"]
    assert [r.bus for r in router.journal] == ["default", "prodline-dev", "prodline-dev"]
    assert "Deployment Failed" in sqs.receive_message(QueueUrl=inbox)["Messages"][0]["Body"]
