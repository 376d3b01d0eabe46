"""What Kubernetes serving adds for observability under mocks: the server's metrics and capture settings per
Deployment, the capture write grant, and the drift monitor's CronJob with its own narrowly scoped role."""

from __future__ import annotations

import pulumi
import pytest

from components.k8s_drift_monitor import KubernetesDriftMonitor, drift_monitor_settings
from components.k8s_serving import KubernetesServing
from prodline.program import record
from tests.components.k8s_cases import (
    ACCOUNT,
    CANARY_IMAGE,
    IMAGE,
    ISSUER,
    ISSUER_HOST,
    KEY_ARN,
    OWNERSHIP,
    serving_args,
)
from tests.helpers import named, of_type, statements

CAPTURE = {"bucket": "bucket-raw", "prefix": "capture/", "endpoint_name": "prodline-prod-churn", "percent": 10}
MODEL = "s3://bucket-artifacts/models/churn/2026-11-01/model.tar.gz"


def lake():
    from components.data_lake import LakeRefs

    out = pulumi.Output.from_input
    zones = ("raw", "curated", "artifacts")
    return LakeRefs(bucket_names={z: out(f"bucket-{z}") for z in zones},
                    bucket_arns={z: out(f"arn:aws:s3:::bucket-{z}") for z in zones},
                    key_arn=out(KEY_ARN), database_name=out("db"))


def env_of(container: dict) -> dict[str, str]:
    return {item["name"]: item["value"] for item in container["env"]}


def serving(**changes):
    args = serving_args(metrics_namespace="prodline/Serving", model_version="7", capture=CAPTURE,
                        canary={"image": CANARY_IMAGE, "weight": 10}, ingress_host="churn.example.com", **changes)
    return record(lambda: KubernetesServing("churn", {**args, "lake": lake()}), stack="test")


def monitor_args(**changes) -> dict:
    import pulumi_kubernetes as k8s

    return {"namespace": "churn-serving", "provider": k8s.Provider("cluster", kubeconfig="{}"), "image": IMAGE,
            "lake": lake(), "region": "eu-west-1",
            "oidc_provider_arn": f"arn:aws:iam::{ACCOUNT}:oidc-provider/{ISSUER_HOST}", "oidc_issuer_url": ISSUER,
            "endpoint_name": "prodline-prod-churn", "feature_set": "churn", "capture_prefix": "capture/",
            "report_prefix": "drift/", "model_data_url": MODEL, "schedule": "0 * * * *",
            "ownership_labels": OWNERSHIP, **changes}


@pytest.fixture(scope="module")
def monitor():
    return record(lambda: KubernetesDriftMonitor("churn-drift", monitor_args()), stack="test")


# --- the serving pods ------------------------------------------------------------------------------------

def test_each_deployment_reports_its_own_metrics_and_captures_into_its_own_folder():
    regs = serving()
    for deployment, service in (("churn-deployment", "churn"), ("churn-canary-deployment", "churn-canary")):
        server = env_of(named(regs, deployment).inputs["spec"]["template"]["spec"]["containers"][0])
        assert server["PRODLINE_METRICS_NAMESPACE"] == "prodline/Serving", deployment
        assert server["PRODLINE_METRICS_DIMENSIONS"] == f"Namespace=churn-serving,Service={service}", deployment
        assert server["PRODLINE_MODEL_VERSION"] == "7"
        assert server["PRODLINE_CAPTURE_DESTINATION"] == "s3://bucket-raw/capture/"
        assert (server["PRODLINE_CAPTURE_ENDPOINT"], server["PRODLINE_CAPTURE_VARIANT"]) == (
            "prodline-prod-churn", service), "the drift monitor reads every variant of the endpoint"
        assert server["PRODLINE_CAPTURE_PERCENT"] == "10"


def test_without_telemetry_args_the_server_reports_and_captures_nothing():
    regs = record(lambda: KubernetesServing("churn", {**serving_args(), "lake": lake()}), stack="test")
    server = env_of(named(regs, "churn-deployment").inputs["spec"]["template"]["spec"]["containers"][0])
    assert not [key for key in server if key.startswith(("PRODLINE_METRICS", "PRODLINE_CAPTURE"))]
    assert [s["Sid"] for s in statements(named(regs, "churn-irsa-policy").inputs["policy"])] == [
        "ReadModel", "DecryptModel"]


def test_the_serving_role_may_write_only_its_endpoints_capture_folder():
    found = {s["Sid"]: s for s in statements(named(serving(), "churn-irsa-policy").inputs["policy"])}
    assert found["WriteCapture"]["Action"] == ["s3:PutObject"]
    assert found["WriteCapture"]["Resource"] == ["arn:aws:s3:::bucket-raw/capture/prodline-prod-churn/*"]
    assert found["EncryptCapture"]["Condition"] == {"StringEquals": {"kms:ViaService": "s3.eu-west-1.amazonaws.com"}}


@pytest.mark.parametrize(("capture", "message"), [
    ({**CAPTURE, "percent": 0}, "capture.percent must be from 1 to 100"),
    ({**CAPTURE, "prefix": "/capture"}, "capture.prefix must be a folder"),
    ({**CAPTURE, "endpoint_name": "a/b"}, "capture.endpoint_name must be a folder name"),
])
def test_bad_capture_args_name_the_field(capture, message):
    from components.k8s_settings import k8s_serving_settings

    with pytest.raises(ValueError, match=message):
        k8s_serving_settings({**serving_args(capture=capture), "lake": None}, "churn")


def test_the_component_owns_the_telemetry_variables():
    from components.k8s_settings import k8s_serving_settings

    with pytest.raises(ValueError, match="environment must not set PRODLINE_METRICS_DIMENSIONS"):
        k8s_serving_settings({**serving_args(environment={"PRODLINE_METRICS_DIMENSIONS": "x=y"}), "lake": None})


# --- the drift CronJob -----------------------------------------------------------------------------------

def cronjob(regs) -> dict:
    (job,) = of_type(regs, "kubernetes:batch/v1:CronJob")
    return job.inputs


def test_the_cronjob_runs_the_monitor_over_the_endpoints_capture_on_schedule(monitor):
    spec = cronjob(monitor)["spec"]
    assert spec["schedule"] == "0 * * * *" and spec["concurrencyPolicy"] == "Forbid"
    pod = spec["jobTemplate"]["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["args"] == [
        "python", "-m", "workloads.monitoring.monitor", "--capture", "s3://bucket-raw/capture/",
        "--endpoint", "prodline-prod-churn", "--dataset", "churn", "--baseline", MODEL,
        "--report", "s3://bucket-curated/drift/", "--hours", "24.0", "--min-rows", "100"]
    assert pod["serviceAccountName"] == "churn-drift"
    assert spec["jobTemplate"]["spec"]["activeDeadlineSeconds"] == 1800


def test_the_cronjob_is_locked_down_like_the_deployment(monitor):
    from components.k8s_serving import container_security_context, pod_security_context

    pod = cronjob(monitor)["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    security = container["securityContext"]
    assert security["runAsNonRoot"] is True and security["runAsUser"] == 10001
    assert security["readOnlyRootFilesystem"] is True and security["allowPrivilegeEscalation"] is False
    assert security["capabilities"] == {"drop": ["ALL"]}
    assert set(container["resources"]["limits"]) == {"cpu", "memory"}
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert {"name": "tmp", "mountPath": "/tmp"} in container["volumeMounts"]
    assert container_security_context()["read_only_root_filesystem"] and pod_security_context()["run_as_non_root"]


def test_the_monitors_role_is_its_own_service_accounts_and_scoped_to_capture_reports_and_its_namespace(monitor):
    import json

    trust = json.loads(named(monitor, "churn-drift-irsa-role").inputs["assumeRolePolicy"])["Statement"][0]
    assert trust["Condition"]["StringEquals"][f"{ISSUER_HOST}:sub"] == "system:serviceaccount:churn-serving:churn-drift"
    found = {s["Sid"]: s for s in statements(named(monitor, "churn-drift-irsa-policy").inputs["policy"])}
    assert found["ListCapture"]["Condition"] == {"StringLike": {"s3:prefix": ["capture/prodline-prod-churn/*"]}}
    assert found["ReadCapture"]["Resource"] == ["arn:aws:s3:::bucket-raw/capture/prodline-prod-churn/*"]
    assert found["ReadBaseline"]["Resource"] == ["arn:aws:s3:::bucket-artifacts/models/churn/2026-11-01/*"]
    assert found["WriteReports"] == {"Sid": "WriteReports", "Effect": "Allow", "Action": ["s3:PutObject"],
                                     "Resource": ["arn:aws:s3:::bucket-curated/drift/endpoint=prodline-prod-churn/*"]}
    assert found["PublishDrift"]["Condition"] == {"StringEquals": {"cloudwatch:namespace": "prodline/Monitoring"}}
    assert set(found) == {"ListCapture", "ReadCapture", "ReadBaseline", "WriteReports", "UseLakeKeyThroughS3",
                          "PublishDrift"}


def test_the_cronjobs_pods_may_only_reach_dns_and_https(monitor):
    (policy,) = of_type(monitor, "kubernetes:networking.k8s.io/v1:NetworkPolicy")
    spec = policy.inputs["spec"]
    assert spec["podSelector"] == {"matchLabels": {"app.kubernetes.io/name": "churn-drift"}}
    assert spec["policyTypes"] == ["Ingress", "Egress"] and not spec.get("ingress")
    assert [rule["ports"][-1]["port"] for rule in spec["egress"]] == [53, 443]


@pytest.mark.parametrize(("change", "message"), [
    ({"schedule": "@hourly"}, "schedule must be a five-field cron"),
    ({"window_hours": 0}, "window_hours must be > 0"),
    ({"min_rows": 0}, "min_rows must be >= 1"),
    ({"report_prefix": "drift"}, "report_prefix must be a folder"),
    ({"cpu_request": "2", "cpu_limit": "1"}, r"cpu_limit must be >= cpu_request \(2\)"),
])
def test_bad_monitor_args_name_the_field(change, message):
    with pytest.raises(ValueError, match=message):
        drift_monitor_settings({"schedule": "0 * * * *", "capture_prefix": "capture/", "report_prefix": "drift/",
                                **change})
