"""Alerts, alarms with real dimensions, the dashboard, endpoint log groups, and ETL failure routing.

Created before the endpoints it watches (alarms name an endpoint by its explicit name, not by an
Output), so the endpoints' rollback configuration can name alarms that already exist.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import NotRequired, TypedDict

import pulumi
import pulumi_aws as aws

from components import policy_documents as docs

SAGEMAKER_NAMESPACE = "AWS/SageMaker"
API_GATEWAY_NAMESPACE = "AWS/ApiGateway"
DRIFT_NAMESPACE = "prodline/Monitoring"
DRIFT_METRIC = "DriftScore"
GLUE_FAILED_STATES = ["FAILED", "TIMEOUT", "ERROR"]
PUBLISHERS = ("budgets.amazonaws.com", "cloudwatch.amazonaws.com", "events.amazonaws.com")
"""Services that publish to the alert topic (alarms, rules, the stack's budget), each only for this account."""


@dataclass(frozen=True)
class WatchedEndpoint:
    endpoint_name: str
    variant_name: str
    feature_set: str
    """Dimension value the drift monitor publishes under (the dataset name)."""


@dataclass(frozen=True)
class WatchedApi:
    """A REST API stage (the front door), by the names API Gateway's metrics carry as dimensions."""

    api_name: str
    stage_name: str


@dataclass(frozen=True)
class EndpointAlarms:
    """Names and ARNs of one endpoint's alarms, for rollback and retraining wiring."""

    rollback_names: list[pulumi.Output[str]]
    drift_arn: pulumi.Output[str]
    drift_name: pulumi.Output[str]


class ObservabilityArgs(TypedDict):
    prefix: str
    account_id: pulumi.Input[str]
    region: str
    alert_email: str
    log_retention_days: int
    log_kms_key_arn: pulumi.Input[str]
    endpoints: Sequence[WatchedEndpoint]
    latency_p99_ms: int
    errors_5xx: int
    rate_4xx_percent: float
    drift_threshold: float
    invocations_floor: int
    """0 turns the traffic-floor alarm off."""
    glue_job_names: NotRequired[Sequence[pulumi.Input[str]]]
    apis: NotRequired[Sequence[WatchedApi]]
    """REST API stages watched like endpoints: 5xx, 4xx rate and p99 latency."""


def observability_settings(args: ObservabilityArgs) -> ObservabilityArgs:
    for field in ("latency_p99_ms", "errors_5xx"):
        if args[field] < 1:
            raise ValueError(f"{field} must be >= 1, got {args[field]}")
    if not 0 < args["rate_4xx_percent"] <= 100:
        raise ValueError(f"rate_4xx_percent must be > 0 and <= 100, got {args['rate_4xx_percent']}")
    if args["drift_threshold"] <= 0:
        raise ValueError(f"drift_threshold must be > 0, got {args['drift_threshold']}")
    if args["invocations_floor"] < 0:
        raise ValueError(f"invocations_floor must be >= 0, got {args['invocations_floor']}")
    return args


class Observability(pulumi.ComponentResource):
    """An encrypted alert topic and every alarm, rule and dashboard that feeds it."""

    topic_arn: pulumi.Output[str]
    alerts_key_arn: pulumi.Output[str]

    def __init__(self, name: str, args: ObservabilityArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("prodline:observability:Observability", name, None, opts)
        args = observability_settings(args)
        child = pulumi.ResourceOptions(parent=self)
        self._args = args

        # Its own key: CloudWatch alarms and EventBridge must be allowed to use the key of the topic they
        # publish to, and that grant belongs on an alerts key, not on the data lake's.
        self.alerts_key = aws.kms.Key(
            f"{name}-alerts-key", description=f"{args['prefix']} alerts and events", enable_key_rotation=True,
            deletion_window_in_days=30, policy=docs.document([
                docs.key_admin_statement(args["account_id"]),
                {"Sid": "AlarmsAndEventsPublishEncrypted", "Effect": "Allow",
                 "Principal": {"Service": list(PUBLISHERS)},
                 "Action": ["kms:Decrypt", "kms:GenerateDataKey"], "Resource": "*"},
            ]), opts=child)
        self.topic = aws.sns.Topic(f"{name}-alerts", name=f"{args['prefix']}-alerts",
                                   kms_master_key_id=self.alerts_key.arn, opts=child)
        aws.sns.TopicPolicy(f"{name}-alerts-policy", arn=self.topic.arn, policy=docs.document([{
            "Sid": "AlarmsAndRulesOfThisAccountPublish",
            "Effect": "Allow",
            "Principal": {"Service": list(PUBLISHERS)},
            "Action": "sns:Publish",
            "Resource": self.topic.arn,
            "Condition": {"StringEquals": {"aws:SourceAccount": args["account_id"]}},
        }]), opts=child)
        aws.sns.TopicSubscription(f"{name}-alerts-email", topic=self.topic.arn, protocol="email",
                                  endpoint=args["alert_email"], opts=child)

        self.endpoint_alarms: dict[str, EndpointAlarms] = {}
        self.alarms: list[aws.cloudwatch.MetricAlarm] = []
        for watched in args["endpoints"]:
            aws.cloudwatch.LogGroup(
                f"{name}-{watched.endpoint_name}-logs", name=f"/aws/sagemaker/Endpoints/{watched.endpoint_name}",
                retention_in_days=args["log_retention_days"], kms_key_id=args["log_kms_key_arn"], opts=child)
            self.endpoint_alarms[watched.endpoint_name] = self._endpoint_alarms(name, watched)

        for watched_api in args.get("apis", []):
            self._api_alarms(watched_api)

        glue_jobs = list(args.get("glue_job_names", []))
        if glue_jobs:
            rule = aws.cloudwatch.EventRule(
                f"{name}-glue-failed", description="an ETL job run failed, timed out or errored",
                event_pattern=pulumi.Output.json_dumps({
                    "source": ["aws.glue"], "detail-type": ["Glue Job State Change"],
                    "detail": {"jobName": glue_jobs, "state": GLUE_FAILED_STATES}}),
                opts=child)
            aws.cloudwatch.EventTarget(f"{name}-glue-failed-notify", rule=rule.name, arn=self.topic.arn, opts=child)

        self.dashboard = aws.cloudwatch.Dashboard(
            f"{name}-dashboard", dashboard_name=f"{args['prefix']}-ml",
            dashboard_body=pulumi.Output.json_dumps(dashboard_body(args["region"], args["endpoints"], glue_jobs,
                                                              args.get("apis", []))),
            opts=child)

        self.topic_arn = self.topic.arn
        self.alerts_key_arn = self.alerts_key.arn
        self.register_outputs({"topic_arn": self.topic_arn, "dashboard": self.dashboard.dashboard_name})

    def _alarm(self, name: str, **kwargs) -> aws.cloudwatch.MetricAlarm:
        alarm = aws.cloudwatch.MetricAlarm(
            name, name=name, alarm_actions=[self.topic.arn], ok_actions=[self.topic.arn],
            opts=pulumi.ResourceOptions(parent=self), **kwargs)
        self.alarms.append(alarm)
        return alarm

    def _endpoint_alarms(self, name: str, watched: WatchedEndpoint) -> EndpointAlarms:
        args = self._args
        dims = {"EndpointName": watched.endpoint_name, "VariantName": watched.variant_name}
        base = f"{watched.endpoint_name}-{watched.variant_name}"
        latency = self._alarm(
            f"{base}-latency-p99", alarm_description=f"p99 model latency above {args['latency_p99_ms']} ms",
            namespace=SAGEMAKER_NAMESPACE, metric_name="ModelLatency", dimensions=dims, extended_statistic="p99",
            period=60, evaluation_periods=3, datapoints_to_alarm=2, comparison_operator="GreaterThanThreshold",
            threshold=args["latency_p99_ms"] * 1000.0,  # ModelLatency is in microseconds
            treat_missing_data="notBreaching")
        errors = self._alarm(
            f"{base}-5xx", alarm_description=f"{args['errors_5xx']} or more 5xx errors in a minute",
            namespace=SAGEMAKER_NAMESPACE, metric_name="Invocation5XXErrors", dimensions=dims, statistic="Sum",
            period=60, evaluation_periods=1, comparison_operator="GreaterThanOrEqualToThreshold",
            threshold=float(args["errors_5xx"]), treat_missing_data="notBreaching")

        def metric(query_id: str, metric_name: str) -> dict:
            return {"id": query_id, "return_data": False, "metric": {
                "namespace": SAGEMAKER_NAMESPACE, "metric_name": metric_name, "dimensions": dims,
                "stat": "Sum", "period": 60}}

        self._alarm(
            f"{base}-4xx-rate", alarm_description=f"more than {args['rate_4xx_percent']}% of requests answered 4xx",
            metric_queries=[
                metric("client_errors", "Invocation4XXErrors"),
                metric("invocations", "Invocations"),
                {"id": "rate", "label": "4xx rate (%)", "return_data": True,
                 "expression": "IF(invocations > 0, 100 * client_errors / invocations, 0)"},
            ],
            evaluation_periods=5, datapoints_to_alarm=3, comparison_operator="GreaterThanThreshold",
            threshold=args["rate_4xx_percent"], treat_missing_data="notBreaching")
        if args["invocations_floor"] > 0:
            self._alarm(
                f"{base}-invocations-floor",
                alarm_description=f"fewer than {args['invocations_floor']} invocations in 5 minutes",
                namespace=SAGEMAKER_NAMESPACE, metric_name="Invocations", dimensions=dims, statistic="Sum",
                period=300, evaluation_periods=3, comparison_operator="LessThanThreshold",
                threshold=float(args["invocations_floor"]), treat_missing_data="breaching")
        drift = self._alarm(
            f"{watched.endpoint_name}-drift",
            alarm_description=f"feature drift (PSI) above {args['drift_threshold']}: retraining starts",
            namespace=DRIFT_NAMESPACE, metric_name=DRIFT_METRIC,
            dimensions={"EndpointName": watched.endpoint_name, "FeatureSet": watched.feature_set},
            statistic="Maximum", period=3600, evaluation_periods=1, comparison_operator="GreaterThanThreshold",
            threshold=args["drift_threshold"], treat_missing_data="notBreaching")
        return EndpointAlarms(rollback_names=[latency.name, errors.name], drift_arn=drift.arn, drift_name=drift.name)


    def _api_alarms(self, watched: WatchedApi) -> None:
        """The front door's own view: errors it answered and the latency callers saw, gateway included."""
        args = self._args
        dims = {"ApiName": watched.api_name, "Stage": watched.stage_name}
        base = f"{watched.api_name}-{watched.stage_name}"
        self._alarm(
            f"{base}-5xx", alarm_description=f"{args['errors_5xx']} or more 5xx answers of the front door in a minute",
            namespace=API_GATEWAY_NAMESPACE, metric_name="5XXError", dimensions=dims, statistic="Sum", period=60,
            evaluation_periods=1, comparison_operator="GreaterThanOrEqualToThreshold",
            threshold=float(args["errors_5xx"]), treat_missing_data="notBreaching")
        # 4XXError is 1 or 0 per request, so its Average is the share of requests answered 4xx.
        self._alarm(
            f"{base}-4xx-rate", alarm_description=f"more than {args['rate_4xx_percent']}% of front-door requests 4xx",
            namespace=API_GATEWAY_NAMESPACE, metric_name="4XXError", dimensions=dims, statistic="Average", period=60,
            evaluation_periods=5, datapoints_to_alarm=3, comparison_operator="GreaterThanThreshold",
            threshold=args["rate_4xx_percent"] / 100.0, treat_missing_data="notBreaching")
        self._alarm(
            f"{base}-latency-p99", alarm_description=f"p99 front-door latency above {args['latency_p99_ms']} ms",
            namespace=API_GATEWAY_NAMESPACE, metric_name="Latency", dimensions=dims, extended_statistic="p99",
            period=60, evaluation_periods=3, datapoints_to_alarm=2, comparison_operator="GreaterThanThreshold",
            threshold=float(args["latency_p99_ms"]),  # API Gateway's Latency is in milliseconds
            treat_missing_data="notBreaching")


def dashboard_body(region: str, endpoints: Sequence[WatchedEndpoint], glue_jobs: Sequence,
                   apis: Sequence[WatchedApi] = ()) -> dict:
    """Widgets per endpoint (traffic, errors, latency, drift) and per ETL job; Inputs resolved by json_dumps."""
    widgets = []

    def widget(title: str, metrics: list, stat: str = "Sum") -> None:
        widgets.append({"type": "metric", "width": 12, "height": 6,
                        "properties": {"title": title, "region": region, "stat": stat, "period": 300,
                                       "metrics": metrics}})

    for e in endpoints:
        ids = ["EndpointName", e.endpoint_name, "VariantName", e.variant_name]
        widget(f"{e.endpoint_name}: invocations and errors", [
            [SAGEMAKER_NAMESPACE, "Invocations", *ids],
            [SAGEMAKER_NAMESPACE, "Invocation4XXErrors", *ids],
            [SAGEMAKER_NAMESPACE, "Invocation5XXErrors", *ids]])
        widget(f"{e.endpoint_name}: model latency p99 (us)", [[SAGEMAKER_NAMESPACE, "ModelLatency", *ids]], "p99")
        widget(f"{e.endpoint_name}: drift (PSI)", [[DRIFT_NAMESPACE, DRIFT_METRIC, "EndpointName", e.endpoint_name,
                                                   "FeatureSet", e.feature_set]], "Maximum")
    for api in apis:
        ids = ["ApiName", api.api_name, "Stage", api.stage_name]
        widget(f"{api.api_name} ({api.stage_name}): requests and errors", [
            [API_GATEWAY_NAMESPACE, "Count", *ids], [API_GATEWAY_NAMESPACE, "4XXError", *ids],
            [API_GATEWAY_NAMESPACE, "5XXError", *ids]])
        widget(f"{api.api_name} ({api.stage_name}): latency p99 (ms)", [
            [API_GATEWAY_NAMESPACE, "Latency", *ids], [API_GATEWAY_NAMESPACE, "IntegrationLatency", *ids]], "p99")
    for job in glue_jobs:
        widget(pulumi.Output.concat("ETL ", job, ": failed tasks"), [
            ["Glue", "glue.driver.aggregate.numFailedTasks", "JobName", job, "JobRunId", "ALL", "Type", "count"]])
    return {"widgets": widgets}
