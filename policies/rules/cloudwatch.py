"""CloudWatch, SNS and EventBridge rules: alarms reach someone, logs expire, alerts and events are encrypted.

EventBridge lives here because pulumi-aws declares it in the ``cloudwatch`` module; SNS because the
alert topic is where every alarm and rule ends.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pulumi_policy import PolicyResource, ReportViolation, ResourceValidationArgs

from policies.rule import ADVISORY_IN_DEV, ResourceRule, message
from policies.rules.props import UNKNOWN, get, is_false, items, missing, number
from standards.environments import LOG_RETENTION_DAYS

METRIC_ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"
ALARMS = (METRIC_ALARM, "aws:cloudwatch/compositeAlarm:CompositeAlarm")
LOG_GROUP = "aws:cloudwatch/logGroup:LogGroup"
TOPIC = "aws:sns/topic:Topic"
EVENT_BUS = "aws:cloudwatch/eventBus:EventBus"
AWS_MANAGED_SNS_KEY = "alias/aws/sns"


def silent(alarm_props) -> str | None:
    """Why an alarm notifies nobody (no actions, or actions disabled), or None when it acts or is not known yet."""
    actions = get(alarm_props, "alarmActions")
    if actions is UNKNOWN:
        return None
    if missing(actions):
        return "has no alarm actions"
    if is_false(get(alarm_props, "actionsEnabled")):
        return "has its actions disabled (actions_enabled=False)"
    return None


def alarm_metrics(alarm: PolicyResource) -> list[tuple[str, Any, Any, Any]]:
    """(property, namespace, metric name, dimensions) of an alarm's metric and of each metric of its metric math."""
    props = alarm.props
    found = [("dimensions", get(props, "namespace"), get(props, "metricName"), get(props, "dimensions"))]
    for query in items(get(props, "metricQueries")):
        metric = get(query, "metric")
        if isinstance(metric, Mapping):
            found.append(("metricQueries", get(metric, "namespace"), get(metric, "metricName"),
                          get(metric, "dimensions")))
    return found


def report_alarm_gap(report: ReportViolation, watched: PolicyResource, kind: str, alarms: list[PolicyResource],
                     missing_alarm: tuple[str, str, str]) -> None:
    """What a resource that must be watched lacks of one kind of alarm: any (``missing_alarm``: what is wrong, why,
    how to fix it), or one that pages someone."""
    if not alarms:
        report(message(watched.name, *missing_alarm), watched.urn)
    elif all(silent(a.props) for a in alarms):
        report(message(watched.name, f"{kind} alarm {alarms[0].name} has no alarm actions",
                       "an alarm without actions changes state silently; nobody is paged",
                       "set alarm_actions to the alert topic (Observability's alarms do)"), watched.urn)


def _validate_alarm_actions(args: ResourceValidationArgs, report: ReportViolation) -> None:
    problem = silent(args.props)
    if problem:
        report(message(args.name, problem, "an alarm that notifies nobody changes state silently: the outage it "
                                           "detects is found by users instead",
                       "set alarm_actions to the alert topic ARN (Observability's alarms publish to it; "
                       "prodline:alertEmail is subscribed)"))


cloudwatch_alarm_has_actions = ResourceRule(
    "cloudwatch-alarm-has-actions",
    "Requires every CloudWatch alarm to have enabled alarm actions.",
    _validate_alarm_actions,
    types=ALARMS,
)


def _validate_retention(args: ResourceValidationArgs, report: ReportViolation) -> None:
    days = get(args.props, "retentionInDays")
    if days is UNKNOWN:
        return
    value = number(days)
    if value is None or value == 0:
        problem = "keeps its logs forever (no retention_in_days)"
    elif value not in LOG_RETENTION_DAYS:
        problem = f"has a retention of {value:g} days, which CloudWatch Logs does not accept"
    else:
        return
    report(message(args.name, problem,
                   "logs without retention grow and are billed forever, and keep personal data longer than needed",
                   f"set retention_in_days through prodline:logRetentionDays (one of "
                   f"{', '.join(str(d) for d in LOG_RETENTION_DAYS[:8])}, ...)"))


cloudwatch_log_group_retention = ResourceRule(
    "cloudwatch-log-group-retention",
    "Requires every CloudWatch log group to set a retention period CloudWatch Logs accepts.",
    _validate_retention,
    types=[LOG_GROUP],
)


def _validate_log_encryption(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if missing(get(args.props, "kmsKeyId")):
        report(message(args.name, "is not encrypted with a customer key (no kms_key_id)",
                       "job and endpoint logs echo the data they process, so they belong under the lake key",
                       "set kms_key_id to the lake key, whose policy lets CloudWatch Logs use it (EtlJob and "
                       "Observability do)"))


cloudwatch_log_group_encrypted = ResourceRule(
    "cloudwatch-log-group-encrypted",
    "Requires every CloudWatch log group to be encrypted with a customer-managed KMS key.",
    _validate_log_encryption,
    types=[LOG_GROUP],
    enforcement=ADVISORY_IN_DEV,
)


def _validate_topic(args: ResourceValidationArgs, report: ReportViolation) -> None:
    key = get(args.props, "kmsMasterKeyId")
    why = "alert messages name endpoints, jobs and data; they must be encrypted at rest"
    fix = ("set kms_master_key_id to a customer-managed key whose policy lets cloudwatch.amazonaws.com and "
           "events.amazonaws.com use it (Observability's alerts key)")
    if missing(key):
        report(message(args.name, "is not encrypted (no kms_master_key_id)", why, fix))
    elif key == AWS_MANAGED_SNS_KEY:
        report(message(args.name, f"is encrypted with the AWS-managed key {AWS_MANAGED_SNS_KEY}",
                       "CloudWatch alarms and EventBridge cannot publish to a topic under that key (its policy "
                       "cannot grant them), so every alert would be dropped", fix))


sns_topic_encrypted = ResourceRule(
    "sns-topic-encrypted",
    "Requires every SNS topic to be encrypted with a customer-managed KMS key that alarms and events can use.",
    _validate_topic,
    types=[TOPIC],
)


def _validate_bus(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if missing(get(args.props, "kmsKeyIdentifier")):
        report(message(args.name, "is not encrypted with a customer key (no kms_key_identifier)",
                       "lifecycle events carry bucket names, model versions and endpoint states to other teams",
                       "set kms_key_identifier to the alerts key (the EventBus component takes kms_key_arn)"))


eventbridge_bus_encrypted = ResourceRule(
    "eventbridge-bus-encrypted",
    "Requires every custom EventBridge bus to be encrypted with a customer-managed KMS key.",
    _validate_bus,
    types=[EVENT_BUS],
    enforcement=ADVISORY_IN_DEV,
)

RULES = (cloudwatch_alarm_has_actions, cloudwatch_log_group_retention, cloudwatch_log_group_encrypted,
         sns_topic_encrypted, eventbridge_bus_encrypted)
