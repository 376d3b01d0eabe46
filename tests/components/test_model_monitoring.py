"""ModelMonitoring under mocks: scheduled Glue jobs with scoped roles, and the quality alarm on the served version."""

from __future__ import annotations

import pytest

from components.model_monitoring import QUALITY_NAMESPACE, ModelMonitoring, monitoring_settings
from tests.helpers import (
    component_registrations,
    fake_lake_refs,
    named,
    of_type,
    stack_registrations,
    statements,
    wildcard_actions,
)

ENDPOINT = "prodline-test-churn"
JOB = "aws:glue/job:Job"


def args(lake=None, **changes):
    base = {
        "prefix": "prodline-test", "endpoint_name": ENDPOINT, "model_version": "3", "lake": lake,
        "account_id": "123456789012", "region": "eu-west-1", "capture_prefix": "capture/",
        "labels_prefix": "labels/", "reports_prefix": "monitoring/", "quarantine_prefix": "quarantine/labels/",
        "model_artifact_prefixes": ["pipelines/p/"], "library_files": {}, "drift_schedule": "cron(5 * * * ? *)",
        "quality_schedule": "cron(35 * * * ? *)", "quality_metric": "AUC", "quality_floor": 0.7,
        "quality_min_coverage": 0.1, "quality_min_labels": 50, "alert_topic_arn": "arn:aws:sns:eu-west-1:1:alerts",
        "log_retention_days": 30,
    }
    return {**base, **changes}


@pytest.fixture(scope="module")
def regs():
    return component_registrations(lambda: ModelMonitoring("monitoring", args(fake_lake_refs())))


def role_statements(regs, job: str) -> list[dict]:
    return statements(named(regs, f"monitoring-{job}-role-policy").inputs["policy"])


def by_sid(regs, job: str) -> dict[str, dict]:
    return {s["Sid"]: s for s in role_statements(regs, job)}


def test_both_jobs_are_small_python_shell_jobs_on_their_schedules(regs):
    jobs = {j.inputs["name"]: j for j in of_type(regs, JOB)}
    assert set(jobs) == {"prodline-test-drift-monitor", "prodline-test-model-quality"}
    for job in jobs.values():
        assert job.inputs["command"]["name"] == "pythonshell" and job.inputs["maxCapacity"] == 0.0625, job.name
    schedules = {t.inputs["actions"][0]["jobName"]: t.inputs["schedule"]
                 for t in of_type(regs, "aws:glue/trigger:Trigger") if t.inputs["type"] == "SCHEDULED"}
    assert schedules == {"prodline-test-drift-monitor": "cron(5 * * * ? *)",
                         "prodline-test-model-quality": "cron(35 * * * ? *)"}


def test_the_quality_job_is_told_where_captures_labels_reports_and_quarantine_are(regs):
    arguments = named(regs, "monitoring-quality-job").inputs["defaultArguments"]
    assert arguments["--capture"] == "s3://bucket-raw/capture/" and arguments["--labels"] == "s3://bucket-raw/labels/"
    assert arguments["--report"] == "s3://bucket-curated/monitoring/quality/"
    assert arguments["--quarantine"] == "s3://bucket-curated/quarantine/labels/"
    assert (arguments["--endpoint"], arguments["--min-labels"], arguments["--min-coverage"]) == (ENDPOINT, "50", "0.1")
    assert named(regs, "monitoring-drift-job").inputs["defaultArguments"]["--baseline"] == "served"


def test_the_quality_role_reads_only_capture_and_labels_and_writes_only_reports_and_quarantine(regs):
    sids = by_sid(regs, "quality")
    assert sids["ReadRaw"]["Resource"] == [f"arn:aws:s3:::bucket-raw/capture/{ENDPOINT}/*",
                                           f"arn:aws:s3:::bucket-raw/labels/{ENDPOINT}/*"]
    assert sids["WriteCurated"]["Resource"] == ["arn:aws:s3:::bucket-curated/monitoring/quality/*",
                                                "arn:aws:s3:::bucket-curated/quarantine/labels/*"]
    writes = [s for s in role_statements(regs, "quality") if "s3:PutObject" in s["Action"]]
    assert {r for s in writes for r in s["Resource"]} <= {
        "arn:aws:s3:::bucket-curated/monitoring/quality/*", "arn:aws:s3:::bucket-curated/quarantine/labels/*",
        "arn:aws:s3:::bucket-artifacts/tmp/glue/prodline-test-model-quality/*"}
    assert "DescribeServedModel" not in sids, "the quality job needs no SageMaker access"
    assert not wildcard_actions(named(regs, "monitoring-quality-role-policy").inputs["policy"])


def test_each_job_publishes_only_to_its_own_namespace(regs):
    quality = by_sid(regs, "quality")["PublishGlueMetrics"]["Condition"]["StringEquals"]["cloudwatch:namespace"]
    drift = by_sid(regs, "drift")["PublishGlueMetrics"]["Condition"]["StringEquals"]["cloudwatch:namespace"]
    assert quality == ["Glue", QUALITY_NAMESPACE] and drift == ["Glue", "prodline/Monitoring"]


def test_the_drift_role_may_describe_only_this_stacks_endpoint_and_packages(regs):
    describe = by_sid(regs, "drift")["DescribeServedModel"]
    assert f"arn:aws:sagemaker:eu-west-1:123456789012:endpoint/{ENDPOINT}" in describe["Resource"]
    assert "arn:aws:sagemaker:eu-west-1:123456789012:model-package/prodline-test-*" in describe["Resource"]
    assert all(a.startswith("sagemaker:Describe") for a in describe["Action"])


def test_the_quality_alarm_watches_the_served_version_under_the_floor(regs):
    alarm = named(regs, "monitoring-quality-alarm").inputs
    assert (alarm["namespace"], alarm["metricName"]) == (QUALITY_NAMESPACE, "AUC")
    assert alarm["dimensions"] == {"EndpointName": ENDPOINT, "ModelVersion": "3"}
    assert (alarm["comparisonOperator"], alarm["threshold"]) == ("LessThanThreshold", 0.7)
    assert alarm["treatMissingData"] == "notBreaching" and alarm["alarmActions"]


@pytest.mark.parametrize(("field", "value", "words"), [
    ("quality_metric", "F1", "quality_metric must be one of AUC, Accuracy"),
    ("quality_floor", 0.0, "quality_floor must be > 0"),
    ("quality_min_coverage", 1.5, "quality_min_coverage must be from 0 to 1"),
    ("quality_min_labels", 0, "quality_min_labels must be >= 1"),
    ("labels_prefix", "labels", "labels_prefix must be a relative prefix"),
    ("model_version", "", "model_version must name"),
])
def test_bad_args_are_refused_naming_the_field(field, value, words):
    with pytest.raises(ValueError, match=words):
        monitoring_settings(args(**{field: value}))


def test_the_stack_config_reaches_the_alarm_and_the_serving_container():
    regs = stack_registrations("staging", "prodline:qualityMetric=Accuracy", "prodline:qualityFloor=0.8",
                               "prodline:qualitySchedule=rate(2 hours)")
    alarm = named(regs, "monitoring-quality-alarm").inputs
    assert (alarm["metricName"], alarm["threshold"]) == ("Accuracy", 0.8)
    version = alarm["dimensions"]["ModelVersion"]
    model = named(regs, "serving-model").inputs["primaryContainer"]
    assert model["environment"] == {"PRODLINE_MODEL_VERSION": version}, \
        "capture must carry the version the alarm watches"
    assert named(regs, "monitoring-quality-schedule").inputs["schedule"] == "rate(2 hours)"
