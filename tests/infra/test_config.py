"""Stack config validation: every rejected case names the key, the bad value and what is allowed."""

from __future__ import annotations

import pytest
import yaml

from infra import config as cfg
from prodline import stack_files
from standards import environments as envs
from tests.helpers import STACKS


def raw(stack: str = "dev", **overrides: str) -> dict:
    values = stack_files.load(stack)
    values.update({f"prodline:{k}": v for k, v in overrides.items()})
    return values


def problems(stack: str = "dev", drop: str | None = None, **overrides: str) -> str:
    values = raw(stack, **overrides)
    if drop:
        del values[drop]
    with pytest.raises(cfg.ConfigError) as err:
        cfg.parse_config(values, stack)
    return str(err.value)


@pytest.mark.parametrize("stack", STACKS)
def test_shipped_stacks_parse_into_their_environment(stack):
    config = cfg.parse_config(raw(stack), stack)
    assert config.environment == stack
    assert config.ownership.tags()["environment"] == stack
    assert set(config.ownership.tags()) == {"owner", "cost-center", "environment", "project", "managed-by"}


def test_prod_is_highly_available_and_dev_is_small():
    prod = cfg.parse_config(raw("prod"), "prod")
    dev = cfg.parse_config(raw("dev"), "dev")
    assert prod.serving.min_capacity >= 2
    assert dev.serving.instance_type in envs.SERVING_INSTANCE_TYPES["dev"]
    assert dev.serving.max_capacity <= envs.MAX_SERVING_CAPACITY["dev"]


def test_unknown_key_is_rejected_with_the_allowed_keys():
    message = problems(noSuchKey="1")
    assert "prodline:noSuchKey: unknown key" in message
    assert "prodline:servingMinCapacity" in message


@pytest.mark.parametrize("key", ["prodline:owner", "prodline:costCenter", "prodline:environment",
                                 "prodline:alertEmail"])
def test_missing_required_key_is_rejected(key):
    assert f"{key}: missing" in problems(drop=key)


def test_serving_instance_type_not_allowed_in_dev():
    message = problems("dev", servingInstanceType="ml.g4dn.xlarge")
    assert "prodline:servingInstanceType: 'ml.g4dn.xlarge' is not allowed in dev" in message
    assert "ml.t2.medium" in message


def test_training_instance_type_not_allowed_in_dev():
    message = problems("dev", trainingInstanceType="ml.m5.4xlarge")
    assert "prodline:trainingInstanceType: 'ml.m5.4xlarge' is not allowed in dev" in message


def test_malformed_instance_type_is_rejected():
    assert "expected a SageMaker instance type" in problems(servingInstanceType="m5.large")


def test_min_capacity_greater_than_max_is_rejected():
    message = problems("staging", servingMinCapacity="3", servingMaxCapacity="2")
    assert "prodline:servingMinCapacity: 3 is greater than prodline:servingMaxCapacity 2" in message


def test_prod_min_capacity_below_two_is_rejected():
    message = problems("prod", servingMinCapacity="1")
    assert "prodline:servingMinCapacity: 1 is not allowed in prod" in message
    assert "at least 2" in message


def test_max_capacity_above_environment_cap_is_rejected():
    message = problems("dev", servingMaxCapacity="10")
    assert "prodline:servingMaxCapacity: 10 is not allowed in dev; at most 2" in message


@pytest.mark.parametrize("email", ["not-an-email", "a@b", "team@@example.com", ""])
def test_malformed_email_is_rejected(email):
    message = problems(alertEmail=email)
    assert f"prodline:alertEmail: {email!r} is not allowed; expected an e-mail address" in message


@pytest.mark.parametrize("days", ["0", "-5", "ten"])
def test_retention_below_one_is_rejected(days):
    assert f"prodline:lakeRetentionDays: {days!r} is not allowed; expected an integer >= 1" in problems(
        lakeRetentionDays=days)


def test_log_retention_must_be_a_cloudwatch_value():
    message = problems(logRetentionDays="10")
    assert "prodline:logRetentionDays: '10' is not allowed; expected one of 1, 3, 5, 7, 14" in message


def test_raw_transition_below_s3_minimum_is_rejected():
    assert "prodline:lakeRawTransitionDays: '7' is not allowed" in problems(lakeRawTransitionDays="7")


@pytest.mark.parametrize(("key", "value", "allowed"), [
    ("environment", "qa", "one of dev, staging, prod"),
    ("etlJobType", "lambda", "one of pythonshell, glueetl"),
    ("etlWorkerType", "G.16X", "one of G.025X, G.1X"),
    ("etlNumberOfWorkers", "1", "an integer from 2 to 100"),
    ("etlMaxRetries", "9", "an integer from 0 to 3"),
    ("etlSchedule", "every day", "cron(min hour"),
    ("canaryPercent", "80", "an integer from 1 to 50"),
    ("trainingQualityThreshold", "0", "a number > 0.0 and <= 1.0"),
    ("trainingQualityThreshold", "1.5", "a number > 0.0 and <= 1.0"),
    ("alarm4xxRatePercent", "nan", "a number > 0.0 and <= 100.0"),
    ("owner", "bad<owner>", "1-256 characters"),
])
def test_bad_values_name_key_value_and_allowed(key, value, allowed):
    message = problems(**{key: value})
    assert f"prodline:{key}: {value!r} is not allowed" in message
    assert allowed in message


def test_bad_region_is_rejected():
    values = raw()
    values["aws:region"] = "mars-1"
    with pytest.raises(cfg.ConfigError, match="aws:region: 'mars-1' is not allowed"):
        cfg.parse_config(values, "dev")


def test_every_problem_is_reported_at_once():
    message = problems("prod", servingMinCapacity="1", alertEmail="x", noSuchKey="1")
    assert message.count("\n  - ") == 3


def test_pulumi_yaml_describes_exactly_the_keys_the_program_reads():
    project = yaml.safe_load(stack_files.PROJECT_FILE.read_text())
    described = {k: v for k, v in project["config"].items() if ":" not in k}
    assert set(described) == set(cfg.KEYS)
    for name, key in cfg.KEYS.items():
        assert described[name]["type"] == key.kind, name
        assert described[name]["description"], name
        assert ("default" in described[name]) != key.required, f"{name}: required keys have no default"


def test_project_defaults_parse():
    """Defaults in Pulumi.yaml must themselves be valid, or every stack inherits a bad value."""
    defaults = stack_files.project_defaults(yaml.safe_load(stack_files.PROJECT_FILE.read_text()))
    for name, key in cfg.KEYS.items():
        if not key.required:
            key.parse(cfg._as_text(defaults[f"prodline:{name}"]))


def test_stack_files_set_only_prodline_keys_that_differ_from_defaults():
    defaults = stack_files.project_defaults(yaml.safe_load(stack_files.PROJECT_FILE.read_text()))
    for stack in STACKS:
        doc = yaml.safe_load((stack_files.ROOT / f"Pulumi.{stack}.yaml").read_text())
        for key, value in doc["config"].items():
            assert key.startswith("prodline:"), f"{stack}: {key} belongs in Pulumi.yaml"
            assert cfg._as_text(defaults.get(key)) != cfg._as_text(value), f"{stack}: {key} repeats the default"


def test_from_pulumi_reads_runtime_config():
    import pulumi

    from prodline.program import RecordingMocks

    values = {k: cfg._as_text(v) for k, v in raw("staging").items()}
    pulumi.runtime.set_all_config(values)
    pulumi.runtime.set_mocks(RecordingMocks("eu-west-1"), project="prodline", stack="staging")
    config = cfg.from_pulumi()
    assert config.stack == "staging"
    assert config.etl.job_type == "glueetl"


@pytest.mark.parametrize(("stack", "overrides", "expected"), [
    ("prod", {"modelApprovalStatus": "Approved"}, "prodline:modelApprovalStatus: 'Approved' is not allowed in prod"),
    ("staging", {"servingServerless": "true"}, "prodline:servingServerless: true is not allowed in staging"),
    ("dev", {"servingServerless": "true"}, "prodline:dataCapturePercent: 100 is not allowed with servingServerless"),
    ("prod", {"dataCapturePercent": "0"}, "prodline:dataCapturePercent: 0 is not allowed in prod"),
    ("prod", {"alarmInvocationsFloor": "0"}, "prodline:alarmInvocationsFloor: 0 is not allowed in prod"),
    ("dev", {"modelPackageArn": "my-model"}, "prodline:modelPackageArn: 'my-model' is not allowed"),
    ("dev", {"servingServerless": "yes"}, "expected true or false"),
])
def test_ml_settings_are_checked_per_environment(stack, overrides, expected):
    assert expected in problems(stack, **overrides)


def test_model_package_arn_accepts_latest_none_and_arns():
    for value in ("latest", "none", "arn:aws:sagemaker:eu-west-1:123456789012:model-package/prodline-dev-churn/3"):
        config = cfg.parse_config(raw("dev", modelPackageArn=value), "dev")
        assert config.serving.model_package == value


@pytest.mark.parametrize(("stack", "overrides", "expected"), [
    ("dev", {"servingPlatform": "ecs"}, "prodline:servingPlatform: 'ecs' is not allowed; expected one of sagemaker"),
    ("dev", {"servingPlatform": "kubernetes", "eksClusterName": ""},
     "give exactly one when servingPlatform is kubernetes"),
    ("dev", {"servingPlatform": "kubernetes", "kubeconfig": "apiVersion: v1"}, "give exactly one"),
    ("dev", {"servingPlatform": "kubernetes", "eksClusterName": "", "kubeconfig": "apiVersion: v1"},
     "prodline:k8sOidcIssuerUrl: missing"),
    ("dev", {"servingPlatform": "kubernetes", "k8sCanaryImageTag": "0.2.0"}, "a canary needs prodline:k8sIngressHost"),
    ("prod", {"servingPlatform": "kubernetes", "k8sMinReplicas": "1"},
     "prodline:k8sMinReplicas: 1 is not allowed in prod"),
    ("dev", {"servingPlatform": "kubernetes", "k8sMaxReplicas": "9"},
     "prodline:k8sMaxReplicas: 9 is not allowed in dev"),
    ("dev", {"servingImageTag": "latest"}, "prodline:servingImageTag: 'latest' is not allowed"),
    ("dev", {"k8sImageDigest": "sha256:1234"},
     "prodline:k8sImageDigest: 'sha256:1234' is not allowed; expected an image digest: sha256: followed by 64 "
     "lowercase hex digits"),
    ("dev", {"k8sCanaryImageDigest": "0.2.0"}, "prodline:k8sCanaryImageDigest: '0.2.0' is not allowed"),
    ("dev", {"servingPlatform": "kubernetes", "k8sCanaryImageDigest": "sha256:" + "0" * 64},
     "prodline:k8sCanaryImageDigest: names the digest of prodline:k8sCanaryImageTag, which is not set"),
    ("dev", {"k8sNamespace": "Bad_NS"}, "expected a DNS label"),
    ("dev", {"servingPlatform": "kubernetes", "k8sIngressNamespace": "prodline-serving"},
     "prodline:k8sIngressNamespace: must differ"),
])
def test_kubernetes_settings_are_checked(stack, overrides, expected):
    assert expected in problems(stack, **overrides)


@pytest.mark.parametrize(("overrides", "expected"), [
    ({"streamMode": "BURST"}, "prodline:streamMode: 'BURST' is not allowed; expected one of ON_DEMAND, PROVISIONED"),
    ({"streamShardCount": "0"}, "prodline:streamShardCount: '0' is not allowed"),
    ({"streamRetentionHours": "12"}, "prodline:streamRetentionHours: '12' is not allowed"),
    ({"streamBufferSizeMiB": "5"}, "prodline:streamBufferSizeMiB: '5' is not allowed"),
    ({"streamBufferIntervalSeconds": "900", "streamFreshnessSeconds": "600"},
     "prodline:streamFreshnessSeconds: 600 is not allowed with prodline:streamBufferIntervalSeconds 900"),
])
def test_stream_settings_are_checked(overrides, expected):
    assert expected in problems("dev", **overrides)


def test_stream_settings_differ_where_environments_do():
    dev, prod = (cfg.parse_config(raw(stack), stack).stream for stack in ("dev", "prod"))
    assert (dev.mode, dev.buffer_interval_seconds) == ("ON_DEMAND", 60)
    assert (prod.mode, prod.shard_count, prod.retention_hours) == ("PROVISIONED", 2, 168)


@pytest.mark.parametrize(("overrides", "expected"), [
    ({"frontDoorAuth": "none"}, "prodline:frontDoorAuth: 'none' is not allowed; expected one of api-key, iam, cognito"),
    ({"frontDoorAuth": "cognito"}, "prodline:frontDoorCognitoUserPoolArn: missing"),
    ({"frontDoorDomain": "churn.example.com"},
     "prodline:frontDoorDomain / prodline:frontDoorCertificateArn: give both"),
    ({"frontDoorClientRateLimit": "80"}, "prodline:frontDoorClientRateLimit: 80 is greater than "
                                         "prodline:frontDoorRateLimit 50"),
    ({"frontDoorClientBurstLimit": "500"}, "prodline:frontDoorClientBurstLimit: 500 is greater than"),
    ({"frontDoorRateLimit": "0"}, "prodline:frontDoorRateLimit: '0' is not allowed"),
    ({"frontDoorClients": "App,app"}, "prodline:frontDoorClients: 'App,app' is not allowed"),
    ({"frontDoorCertificateArn": "arn:aws:iam::123456789012:server-certificate/x",
      "frontDoorDomain": "churn.example.com"}, "prodline:frontDoorCertificateArn: 'arn:aws:iam"),
])
def test_front_door_settings_are_checked(overrides, expected):
    assert expected in problems("dev", **overrides)


def test_a_disabled_front_door_skips_its_cross_checks():
    config = cfg.parse_config(raw("dev", frontDoorEnabled="false", frontDoorAuth="cognito"), "dev")
    assert not config.front_door.enabled and config.front_door.auth == "cognito"
