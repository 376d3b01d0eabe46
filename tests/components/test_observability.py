"""Observability, ModelRegistry and EventBus under mocks: real dimensions, actions, encryption, routing."""

from __future__ import annotations

import json

import pytest

from components.event_bus import EventBus
from components.model_registry import ModelRegistry
from components.observability import Observability, WatchedEndpoint, observability_settings
from tests.helpers import (
    LAKE_KEY_ARN,
    component_registrations,
    named,
    of_type,
    statements,
    trust_condition,
    wildcard_actions,
)

ENDPOINT = "prodline-test-churn"


def args(**changes):
    base = {
        "prefix": "prodline-test",
        "account_id": "123456789012",
        "region": "eu-west-1",
        "alert_email": "team@example.com",
        "log_retention_days": 30,
        "log_kms_key_arn": LAKE_KEY_ARN,
        "endpoints": [WatchedEndpoint(ENDPOINT, "primary", "churn")],
        "latency_p99_ms": 250,
        "errors_5xx": 3,
        "rate_4xx_percent": 5.0,
        "drift_threshold": 0.2,
        "invocations_floor": 2,
        "glue_job_names": ["prodline-test-validate"],
    }
    base.update(changes)
    return base


@pytest.fixture(scope="module")
def regs():
    return component_registrations(lambda: Observability("observability", args()))


def alarms(regs):
    return {r.name: r.inputs for r in of_type(regs, "aws:cloudwatch/metricAlarm:MetricAlarm")}


def test_every_alarm_has_actions_to_the_topic(regs):
    topic = named(regs, "observability-alerts").outputs["arn"]
    assert len(alarms(regs)) == 5
    for name, alarm in alarms(regs).items():
        assert alarm["alarmActions"] == [topic], name
        assert alarm["okActions"] == [topic], name


def test_endpoint_alarms_carry_endpoint_and_variant_dimensions(regs):
    dims = {"EndpointName": ENDPOINT, "VariantName": "primary"}
    found = alarms(regs)
    for suffix in ("latency-p99", "5xx", "invocations-floor"):
        assert found[f"{ENDPOINT}-primary-{suffix}"]["dimensions"] == dims, suffix
    for query in found[f"{ENDPOINT}-primary-4xx-rate"]["metricQueries"]:
        if "metric" in query:
            assert query["metric"]["dimensions"] == dims


def test_latency_threshold_is_converted_to_microseconds(regs):
    latency = alarms(regs)[f"{ENDPOINT}-primary-latency-p99"]
    assert latency["extendedStatistic"] == "p99"
    assert latency["threshold"] == 250_000


def test_floor_alarm_only_when_a_floor_is_set():
    regs = component_registrations(lambda: Observability("observability", args(invocations_floor=0)))
    assert not [n for n in alarms(regs) if n.endswith("invocations-floor")]


def test_drift_alarm_watches_the_monitor_metric(regs):
    drift = alarms(regs)[f"{ENDPOINT}-drift"]
    assert (drift["namespace"], drift["metricName"]) == ("prodline/Monitoring", "DriftScore")
    assert drift["dimensions"] == {"EndpointName": ENDPOINT, "FeatureSet": "churn"}
    assert drift["threshold"] == 0.2


def test_topic_is_encrypted_and_only_this_account_publishes(regs):
    key = named(regs, "observability-alerts-key")
    assert key.inputs["enableKeyRotation"] is True
    assert named(regs, "observability-alerts").inputs["kmsMasterKeyId"] == key.outputs["arn"]
    (statement,) = statements(named(regs, "observability-alerts-policy").inputs["policy"])
    assert statement["Condition"] == {"StringEquals": {"aws:SourceAccount": "123456789012"}}
    assert wildcard_actions(key.inputs["policy"]) == []
    subscription = named(regs, "observability-alerts-email").inputs
    assert (subscription["protocol"], subscription["endpoint"]) == ("email", "team@example.com")


def test_endpoint_log_group_has_retention_and_key(regs):
    logs = named(regs, f"observability-{ENDPOINT}-logs").inputs
    assert logs["name"] == f"/aws/sagemaker/Endpoints/{ENDPOINT}"
    assert (logs["retentionInDays"], logs["kmsKeyId"]) == (30, LAKE_KEY_ARN)


def test_glue_failures_are_routed_to_the_topic(regs):
    pattern = json.loads(named(regs, "observability-glue-failed").inputs["eventPattern"])
    assert pattern["detail"] == {"jobName": ["prodline-test-validate"], "state": ["FAILED", "TIMEOUT", "ERROR"]}
    topic = named(regs, "observability-alerts").outputs["arn"]
    assert named(regs, "observability-glue-failed-notify").inputs["arn"] == topic


def test_dashboard_shows_the_endpoint_and_the_jobs(regs):
    body = json.loads(named(regs, "observability-dashboard").inputs["dashboardBody"])
    titles = [w["properties"]["title"] for w in body["widgets"]]
    assert f"{ENDPOINT}: model latency p99 (us)" in titles
    assert "ETL prodline-test-validate: failed tasks" in titles
    assert all(w["properties"]["region"] == "eu-west-1" for w in body["widgets"])


@pytest.mark.parametrize(("change", "message"), [
    ({"latency_p99_ms": 0}, "latency_p99_ms must be >= 1"),
    ({"rate_4xx_percent": 0}, "rate_4xx_percent must be > 0"),
    ({"drift_threshold": 0}, "drift_threshold must be > 0"),
    ({"invocations_floor": -1}, "invocations_floor must be >= 0"),
])
def test_bad_args_are_rejected_with_the_field(change, message):
    with pytest.raises(ValueError, match=message):
        observability_settings(args(**change))


def test_registry_announces_approvals_of_its_group():
    regs = component_registrations(lambda: ModelRegistry("registry", {
        "group_name": "prodline-test-churn", "description": "d", "notify_topic_arn": "arn:aws:sns:x:1:t"}))
    pattern = json.loads(named(regs, "registry-approved").inputs["eventPattern"])
    assert pattern["detail-type"] == ["SageMaker Model Package State Change"]
    assert pattern["detail"] == {"ModelPackageGroupName": ["prodline-test-churn"], "ModelApprovalStatus": ["Approved"]}
    assert named(regs, "registry-approved-notify").inputs["arn"] == "arn:aws:sns:x:1:t"


def test_event_bus_forwards_each_pattern_with_a_scoped_role():
    regs = component_registrations(lambda: EventBus("events", {
        "bus_name": "prodline-test", "account_id": "123456789012", "kms_key_arn": "arn:aws:kms:x:1:key/k",
        "forwarded": {"model-registered": {"source": ["aws.sagemaker"]}}}))
    bus = named(regs, "events-bus")
    assert bus.inputs["kmsKeyIdentifier"] == "arn:aws:kms:x:1:key/k"
    target = named(regs, "events-model-registered-forward").inputs
    assert target["arn"] == bus.outputs["arn"]
    policy = named(regs, "events-forward-role-policy").inputs["policy"]
    assert wildcard_actions(policy) == []
    assert statements(policy)[0]["Resource"] == [bus.outputs["arn"]]
    assert trust_condition(named(regs, "events-forward-role")) == {
        "StringEquals": {"aws:SourceAccount": "123456789012"},
        "ArnLike": {"aws:SourceArn": [named(regs, "events-model-registered").outputs["arn"]]}}


# --- Kubernetes targets: the same alarm list on the server's own metrics ------------------------------------

K8S = WatchedEndpoint(ENDPOINT, "churn", "churn", platform="kubernetes", k8s_namespace="prodline-serving",
                      canary_name="churn-canary")


@pytest.fixture(scope="module")
def k8s_regs():
    observability = {}

    def build():
        observability["component"] = Observability("observability", args(endpoints=[K8S]))

    regs = component_registrations(build)
    return regs, observability["component"]


def test_a_kubernetes_target_gets_every_serving_alarm_on_the_servers_metrics(k8s_regs, regs):
    regs_k8s, _ = k8s_regs
    on_k8s, on_sagemaker = alarms(regs_k8s), alarms(regs)
    kinds = {name.removeprefix(f"{ENDPOINT}-churn-") for name in on_k8s if name.startswith(f"{ENDPOINT}-churn-")
             and not name.startswith(f"{ENDPOINT}-churn-canary-")}
    assert kinds == {name.removeprefix(f"{ENDPOINT}-primary-") for name in on_sagemaker
                     if name.startswith(f"{ENDPOINT}-primary-")}
    latency = on_k8s[f"{ENDPOINT}-churn-latency-p99"]
    assert (latency["namespace"], latency["metricName"]) == ("prodline/Serving", "ModelLatency")
    assert latency["dimensions"] == {"Namespace": "prodline-serving", "Service": "churn"}
    assert on_k8s[f"{ENDPOINT}-drift"]["dimensions"] == {"EndpointName": ENDPOINT, "FeatureSet": "churn"}


def test_a_kubernetes_canary_is_rolled_back_on_its_own_5xx_and_latency_alarms(k8s_regs):
    regs_k8s, component = k8s_regs
    canary = {name: a for name, a in alarms(regs_k8s).items() if "-churn-canary-" in name}
    assert set(canary) == {f"{ENDPOINT}-churn-canary-latency-p99", f"{ENDPOINT}-churn-canary-5xx"}
    assert all(a["dimensions"]["Service"] == "churn-canary" for a in canary.values())
    assert len(component.endpoint_alarms[ENDPOINT].rollback_names) == 2


@pytest.mark.parametrize(("watched", "message"), [
    (WatchedEndpoint(ENDPOINT, "churn", "churn", platform="ecs"), "platform must be one of sagemaker, kubernetes"),
    (WatchedEndpoint(ENDPOINT, "churn", "churn", platform="kubernetes"), "k8s_namespace is required on kubernetes"),
    (WatchedEndpoint(ENDPOINT, "primary", "churn", canary_name="c"), "canary_name is for kubernetes only"),
])
def test_bad_watched_endpoints_name_the_field(watched, message):
    with pytest.raises(ValueError, match=message):
        observability_settings(args(endpoints=[watched]))
