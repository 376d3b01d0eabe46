"""Alerts, alarms with real dimensions, the dashboard, endpoint log groups, and ETL failure routing.

Created before the endpoints it watches (alarms name an endpoint by its explicit name, not by an
Output), so the endpoints' rollback configuration can name alarms that already exist.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import NotRequired, TypedDict

import pulumi
import pulumi_aws as aws

from components import policy_documents as docs

SAGEMAKER_NAMESPACE = "AWS/SageMaker"
SERVING_NAMESPACE = "prodline/Serving"
"""Where the inference server's own metrics land on Kubernetes (embedded metric format, serving/metrics.py)."""
PLATFORMS = ("sagemaker", "kubernetes")
API_GATEWAY_NAMESPACE = "AWS/ApiGateway"
DRIFT_NAMESPACE = "prodline/Monitoring"
DRIFT_METRIC = "DriftScore"
GLUE_FAILED_STATES = ["FAILED", "TIMEOUT", "ERROR"]
PUBLISHERS = ("budgets.amazonaws.com", "cloudwatch.amazonaws.com", "events.amazonaws.com")
"""Services that publish to the alert topic (alarms, rules, the stack's budget), each only for this account."""


@dataclass(frozen=True)
class ServingMetrics:
    """Where one serving target's request metrics are in CloudWatch: namespace, dimensions, and the alarm names'
    stem. The metric names and units are SageMaker's on both platforms (the server publishes them as such on
    Kubernetes), so one alarm list serves both."""

    namespace: str
    dimensions: dict[str, str]
    label: str


@dataclass(frozen=True)
class WatchedEndpoint:
    endpoint_name: str
    """The SageMaker endpoint, or on Kubernetes the stack's logical endpoint name: the drift monitor publishes
    under it on both platforms, so the drift alarm and the retraining it starts are the same."""
    variant_name: str
    """The production variant, or on Kubernetes the stable Deployment (and its Service)."""
    feature_set: str
    """Dimension value the drift monitor publishes under (the dataset name)."""
    platform: str = "sagemaker"
    """``sagemaker`` (AWS/SageMaker metrics) or ``kubernetes`` (the server's own, by embedded metric format)."""
    k8s_namespace: str = ""
    """Kubernetes only: the namespace the Deployments run in (a dimension of their metrics)."""
    canary_name: str = ""
    """Kubernetes only: the canary Deployment, when one is declared; its rollback alarms are what the deployer's
    bake watches (SageMaker watches the variant itself during a blue/green shift)."""

    def metrics(self, target: str | None = None) -> ServingMetrics:
        """The metrics of the stable target, or of ``target`` (the canary) on Kubernetes."""
        name = target or self.variant_name
        if self.platform == "kubernetes":
            return ServingMetrics(SERVING_NAMESPACE, {"Namespace": self.k8s_namespace, "Service": name},
                                  f"{self.endpoint_name}-{name}")
        return ServingMetrics(SAGEMAKER_NAMESPACE, {"EndpointName": self.endpoint_name, "VariantName": name},
                              f"{self.endpoint_name}-{name}")


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
    for watched in args["endpoints"]:
        if watched.platform not in PLATFORMS:
            raise ValueError(f"endpoints[{watched.endpoint_name}].platform must be one of {', '.join(PLATFORMS)}, "
                             f"got {watched.platform!r}")
        if watched.platform == "kubernetes" and not watched.k8s_namespace:
            raise ValueError(f"endpoints[{watched.endpoint_name}].k8s_namespace is required on kubernetes: it is a "
                             "dimension of the server's metrics")
        if watched.canary_name and watched.platform != "kubernetes":
            raise ValueError(f"endpoints[{watched.endpoint_name}].canary_name is for kubernetes only: SageMaker's "
                             "blue/green canary is watched through its variant")
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
        """The serving alarms on the stable target, the rollback ones on a Kubernetes canary, and drift."""
        args = self._args
        target = watched.metrics()
        stable = [(spec, self._alarm(f"{target.label}-{spec.suffix}", **kwargs))
                  for spec in SERVING_ALARMS if (kwargs := spec.build(args, target)) is not None]
        rollback = [alarm.name for spec, alarm in stable if spec.rollback]
        if watched.canary_name:
            canary = watched.metrics(watched.canary_name)
            rollback = [self._alarm(f"{canary.label}-{spec.suffix}", **spec.build(args, canary)).name
                        for spec in SERVING_ALARMS if spec.rollback]
        elif watched.platform == "kubernetes":
            rollback = []  # no canary: nothing to roll back
        drift = self._alarm(
            f"{watched.endpoint_name}-drift",
            alarm_description=f"feature drift (PSI) above {args['drift_threshold']}: retraining starts",
            namespace=DRIFT_NAMESPACE, metric_name=DRIFT_METRIC,
            dimensions={"EndpointName": watched.endpoint_name, "FeatureSet": watched.feature_set},
            statistic="Maximum", period=3600, evaluation_periods=1, comparison_operator="GreaterThanThreshold",
            threshold=args["drift_threshold"], treat_missing_data="notBreaching")
        return EndpointAlarms(rollback_names=rollback, drift_arn=drift.arn, drift_name=drift.name)

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


# --- the serving alarms: one list for every platform, each built from where the target's metrics are --------

@dataclass(frozen=True)
class AlarmSpec:
    suffix: str
    """The alarm's name after the target's label."""
    rollback: bool
    """A canary that sets it off is rolled back (SageMaker's auto-rollback, or the deployer's bake on Kubernetes)."""
    build: Callable[[ObservabilityArgs, ServingMetrics], dict | None]
    """The MetricAlarm's arguments, or None when the stack turns this alarm off."""


def _latency(args: ObservabilityArgs, m: ServingMetrics) -> dict:
    return {"alarm_description": f"p99 model latency above {args['latency_p99_ms']} ms",
            "namespace": m.namespace, "metric_name": "ModelLatency", "dimensions": m.dimensions,
            "extended_statistic": "p99", "period": 60, "evaluation_periods": 3, "datapoints_to_alarm": 2,
            "comparison_operator": "GreaterThanThreshold",
            "threshold": args["latency_p99_ms"] * 1000.0,  # ModelLatency is in microseconds
            "treat_missing_data": "notBreaching"}


def _errors_5xx(args: ObservabilityArgs, m: ServingMetrics) -> dict:
    return {"alarm_description": f"{args['errors_5xx']} or more 5xx errors in a minute",
            "namespace": m.namespace, "metric_name": "Invocation5XXErrors", "dimensions": m.dimensions,
            "statistic": "Sum", "period": 60, "evaluation_periods": 1,
            "comparison_operator": "GreaterThanOrEqualToThreshold", "threshold": float(args["errors_5xx"]),
            "treat_missing_data": "notBreaching"}


def _rate_4xx(args: ObservabilityArgs, m: ServingMetrics) -> dict:
    def metric(query_id: str, metric_name: str) -> dict:
        return {"id": query_id, "return_data": False, "metric": {
            "namespace": m.namespace, "metric_name": metric_name, "dimensions": m.dimensions,
            "stat": "Sum", "period": 60}}

    return {"alarm_description": f"more than {args['rate_4xx_percent']}% of requests answered 4xx",
            "metric_queries": [
                metric("client_errors", "Invocation4XXErrors"),
                metric("invocations", "Invocations"),
                {"id": "rate", "label": "4xx rate (%)", "return_data": True,
                 "expression": "IF(invocations > 0, 100 * client_errors / invocations, 0)"},
            ],
            "evaluation_periods": 5, "datapoints_to_alarm": 3, "comparison_operator": "GreaterThanThreshold",
            "threshold": args["rate_4xx_percent"], "treat_missing_data": "notBreaching"}


def _invocations_floor(args: ObservabilityArgs, m: ServingMetrics) -> dict | None:
    if args["invocations_floor"] <= 0:
        return None
    return {"alarm_description": f"fewer than {args['invocations_floor']} invocations in 5 minutes",
            "namespace": m.namespace, "metric_name": "Invocations", "dimensions": m.dimensions, "statistic": "Sum",
            "period": 300, "evaluation_periods": 3, "comparison_operator": "LessThanThreshold",
            "threshold": float(args["invocations_floor"]), "treat_missing_data": "breaching"}


SERVING_ALARMS = (
    AlarmSpec("latency-p99", True, _latency),
    AlarmSpec("5xx", True, _errors_5xx),
    AlarmSpec("4xx-rate", False, _rate_4xx),
    AlarmSpec("invocations-floor", False, _invocations_floor),
)
"""Every serving target's alarms, SageMaker variant or Kubernetes Deployment alike (the drift alarm is per endpoint)."""


def dashboard_body(region: str, endpoints: Sequence[WatchedEndpoint], glue_jobs: Sequence,
                   apis: Sequence[WatchedApi] = ()) -> dict:
    """Widgets per endpoint (traffic, errors, latency, drift) and per ETL job; Inputs resolved by json_dumps."""
    widgets = []

    def widget(title: str, metrics: list, stat: str = "Sum") -> None:
        widgets.append({"type": "metric", "width": 12, "height": 6,
                        "properties": {"title": title, "region": region, "stat": stat, "period": 300,
                                       "metrics": metrics}})

    for e in endpoints:
        targets = [e.metrics(), *([e.metrics(e.canary_name)] if e.canary_name else [])]
        ids = [[m.namespace, [part for item in m.dimensions.items() for part in item]] for m in targets]
        widget(f"{e.endpoint_name}: invocations and errors", [
            [namespace, metric, *dims] for namespace, dims in ids
            for metric in ("Invocations", "Invocation4XXErrors", "Invocation5XXErrors")])
        widget(f"{e.endpoint_name}: model latency p99 (us)",
               [[namespace, "ModelLatency", *dims] for namespace, dims in ids], "p99")
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
