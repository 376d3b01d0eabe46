"""The ML half of the program, per environment: what `pulumi up` would create for training and serving."""

from __future__ import annotations

import json

import pytest

from infra.config import parse_config
from prodline import stack_files
from tests.helpers import (
    CANARY_IMAGE_DIGEST,
    IMAGE_DIGEST,
    PINNED_K8S,
    STACKS,
    named,
    of_type,
    stack_registrations,
    wildcard_actions,
)

PREVIEW_TYPES = {
    "aws:sagemaker/pipeline:Pipeline",
    "aws:sagemaker/modelPackageGroup:ModelPackageGroup",
    "aws:sagemaker/endpoint:Endpoint",
    "aws:sagemaker/endpointConfiguration:EndpointConfiguration",
    "aws:appautoscaling/target:Target",
    "aws:appautoscaling/policy:Policy",
    "aws:cloudwatch/dashboard:Dashboard",
    "aws:sns/topic:Topic",
}


def config(stack):
    return parse_config(stack_files.load(stack), stack)


@pytest.mark.parametrize("stack", STACKS)
def test_stack_declares_training_registry_serving_and_watching(stack):
    regs = stack_registrations(stack)
    assert {r.type for r in regs} >= PREVIEW_TYPES
    endpoint_alarms = [a for a in of_type(regs, "aws:cloudwatch/metricAlarm:MetricAlarm")
                       if "EndpointName" in json.dumps(a.inputs)]
    assert len(endpoint_alarms) >= 4


@pytest.mark.parametrize("stack", STACKS)
def test_no_role_in_the_stack_has_wildcard_actions(stack):
    regs = stack_registrations(stack)
    for policy in of_type(regs, "aws:iam/rolePolicy:RolePolicy") + of_type(regs, "aws:iam/policy:Policy"):
        assert wildcard_actions(policy.inputs["policy"]) == [], policy.name
    # Only the stack's own managed policies (the deployer's) are attached; never an AWS-managed one.
    own = {p.outputs["arn"] for p in of_type(regs, "aws:iam/policy:Policy")}
    for attachment in of_type(regs, "aws:iam/rolePolicyAttachment:RolePolicyAttachment"):
        assert attachment.inputs["policyArn"] in own, attachment.name


@pytest.mark.parametrize("stack", STACKS)
def test_rollback_alarms_are_alarms_the_stack_creates(stack):
    regs = stack_registrations(stack)
    alarm_names = {a.inputs["name"] for a in of_type(regs, "aws:cloudwatch/metricAlarm:MetricAlarm")}
    (endpoint,) = of_type(regs, "aws:sagemaker/endpoint:Endpoint")
    rollback = endpoint.inputs["deploymentConfig"]["autoRollbackConfiguration"]["alarms"]
    assert rollback and {a["alarmName"] for a in rollback} <= alarm_names


@pytest.mark.parametrize("stack", STACKS)
def test_autoscaling_and_canary_follow_config(stack):
    regs, cfg = stack_registrations(stack), config(stack)
    (target,) = of_type(regs, "aws:appautoscaling/target:Target")
    assert (target.inputs["minCapacity"], target.inputs["maxCapacity"]) == (cfg.serving.min_capacity,
                                                                            cfg.serving.max_capacity)
    (endpoint,) = of_type(regs, "aws:sagemaker/endpoint:Endpoint")
    routing = endpoint.inputs["deploymentConfig"]["blueGreenUpdatePolicy"]["trafficRoutingConfiguration"]
    assert routing["canarySize"]["value"] == cfg.serving.canary_percent
    assert routing["waitIntervalInSeconds"] == cfg.serving.canary_bake_seconds


def test_prod_is_highly_available_and_captures_data():
    regs = stack_registrations("prod")
    (target,) = of_type(regs, "aws:appautoscaling/target:Target")
    assert target.inputs["minCapacity"] >= 2
    (config_reg,) = of_type(regs, "aws:sagemaker/endpointConfiguration:EndpointConfiguration")
    assert config_reg.inputs["dataCaptureConfig"]["enableCapture"] is True
    assert config_reg.inputs["productionVariants"][0]["initialInstanceCount"] >= 2
    assert any(a.name.endswith("invocations-floor") for a in of_type(regs, "aws:cloudwatch/metricAlarm:MetricAlarm"))


@pytest.mark.parametrize(("stack", "status"), [("dev", "Approved"), ("staging", "PendingManualApproval"),
                                               ("prod", "PendingManualApproval")])
def test_registration_status_per_environment(stack, status):
    pipeline = named(stack_registrations(stack), "training-pipeline")
    parameters = json.loads(pipeline.inputs["pipelineDefinition"])["Parameters"]
    assert next(p for p in parameters if p["Name"] == "ModelApprovalStatus")["DefaultValue"] == status


def test_drift_and_quality_alarms_start_the_training_pipeline():
    regs = stack_registrations("prod")
    drift = named(regs, "prodline-prod-churn-drift")
    quality = named(regs, "monitoring-quality-alarm")
    rule = named(regs, "training-retrain-on-drift")
    assert json.loads(rule.inputs["eventPattern"])["resources"] == [drift.outputs["arn"], quality.outputs["arn"]]
    detected = json.loads(named(regs, "events-drift-detected").inputs["eventPattern"])
    assert detected["resources"] == [drift.outputs["arn"], quality.outputs["arn"]], "the lifecycle bus hears both"
    target = named(regs, "training-retrain-on-drift-target")
    assert target.inputs["arn"] == named(regs, "training-pipeline").outputs["arn"]


def test_lifecycle_events_are_forwarded_to_the_platform_bus():
    regs = stack_registrations("prod")
    bus = named(regs, "events-bus")
    assert bus.inputs["name"] == "prodline-prod"
    targets = of_type(regs, "aws:cloudwatch/eventTarget:EventTarget")
    forwards = [r for r in targets if r.inputs["arn"] == bus.outputs["arn"]]
    assert {f.name for f in forwards} == {f"events-{n}-forward" for n in
                                          ("data-landed", "model-registered", "model-deployed", "drift-detected")}
    assert named(regs, "lake-raw-events").inputs["eventbridge"] is True


def test_no_endpoint_until_a_model_is_approved():
    regs = stack_registrations("dev", "prodline:modelPackageArn=none")
    types = {r.type for r in regs}
    assert "aws:sagemaker/endpoint:Endpoint" not in types
    assert "aws:sagemaker/pipeline:Pipeline" in types
    assert not any(r.name == "training-retrain-on-drift" for r in regs)


def test_explicit_model_package_is_served():
    arn = "arn:aws:sagemaker:eu-west-1:123456789012:model-package/prodline-dev-churn/7"
    regs = stack_registrations("dev", f"prodline:modelPackageArn={arn}")
    (model,) = of_type(regs, "aws:sagemaker/model:Model")
    assert model.inputs["primaryContainer"]["modelPackageName"] == arn


def test_dev_may_serve_serverless_without_capture():
    regs = stack_registrations("dev", "prodline:servingServerless=true", "prodline:dataCapturePercent=0")
    (config_reg,) = of_type(regs, "aws:sagemaker/endpointConfiguration:EndpointConfiguration")
    assert "serverlessConfig" in config_reg.inputs["productionVariants"][0]
    assert not of_type(regs, "aws:appautoscaling/target:Target")


K8S_TYPES = {"kubernetes:apps/v1:Deployment", "kubernetes:core/v1:Service",
             "kubernetes:autoscaling/v2:HorizontalPodAutoscaler", "kubernetes:core/v1:Namespace",
             "kubernetes:networking.k8s.io/v1:NetworkPolicy", "kubernetes:core/v1:ServiceAccount"}


@pytest.mark.parametrize("stack", STACKS)
def test_kubernetes_platform_replaces_the_sagemaker_endpoint(stack):
    regs = stack_registrations(stack, "prodline:servingPlatform=kubernetes")
    types = {r.type for r in regs}
    assert types >= K8S_TYPES
    assert "aws:sagemaker/endpoint:Endpoint" not in types
    alarms = of_type(regs, "aws:cloudwatch/metricAlarm:MetricAlarm")
    assert not [a for a in alarms if "AWS/SageMaker" in json.dumps(a.inputs)], "no alarm on SageMaker's metrics"
    has_pdb = "kubernetes:policy/v1:PodDisruptionBudget" in types
    assert has_pdb == (stack != "dev"), f"{stack}: disruption budget only in staging and prod"
    (hpa,) = of_type(regs, "kubernetes:autoscaling/v2:HorizontalPodAutoscaler")
    k8s = config(stack).kubernetes
    spec = hpa.inputs["spec"]
    assert (spec["minReplicas"], spec["maxReplicas"]) == (k8s.min_replicas, k8s.max_replicas)
    (repo,) = of_type(regs, "aws:ecr/repository:Repository")
    assert repo.inputs["imageTagMutability"] == "IMMUTABLE"
    (deployment,) = of_type(regs, "kubernetes:apps/v1:Deployment")
    (server,) = deployment.inputs["spec"]["template"]["spec"]["containers"]
    assert server["image"].endswith(":" + k8s.image_tag)
    assert server["imagePullPolicy"] == "Always", f"{stack}: by tag, the kubelet must ask the registry"


def test_a_stack_that_names_the_digest_runs_the_image_by_digest():
    regs = stack_registrations("staging", *PINNED_K8S)
    images = {d.name: d.inputs["spec"]["template"]["spec"]["containers"][0]
              for d in of_type(regs, "kubernetes:apps/v1:Deployment")}
    assert images["churn-deployment"]["image"].endswith(f"/serving:0.1.0@{IMAGE_DIGEST}")
    assert images["churn-canary-deployment"]["image"].endswith(f"/serving:0.2.0@{CANARY_IMAGE_DIGEST}")
    assert {c["imagePullPolicy"] for c in images.values()} == {"IfNotPresent"}


def test_prod_pods_spread_across_zones():
    regs = stack_registrations("prod", "prodline:servingPlatform=kubernetes")
    (deployment,) = of_type(regs, "kubernetes:apps/v1:Deployment")
    spread = deployment.inputs["spec"]["template"]["spec"]["topologySpreadConstraints"]
    assert spread[0]["topologyKey"] == "topology.kubernetes.io/zone"


def test_sagemaker_can_serve_the_projects_image():
    regs = stack_registrations("prod", "prodline:servingImageSource=project")
    (model,) = of_type(regs, "aws:sagemaker/model:Model")
    container = model.inputs["primaryContainer"]
    (repo,) = of_type(regs, "aws:ecr/repository:Repository")
    assert container["image"] == f"{repo.outputs['repositoryUrl']}:0.1.0"
    assert container["modelDataUrl"].endswith("/output/model.tar.gz")
    policy = named(regs, "serving-role-policy").inputs["policy"]
    pull = next(s for s in json.loads(policy)["Statement"] if s["Sid"] == "PullServingImage")
    assert pull["Resource"] == [repo.outputs["arn"]]


def serving_alarms(regs, stack: str, target: str) -> dict[str, dict]:
    """The endpoint's alarms by kind (the name after the target), without names, ARNs, namespaces, dimensions."""
    endpoint = f"prodline-{stack}-churn"
    found = {}
    for alarm in of_type(regs, "aws:cloudwatch/metricAlarm:MetricAlarm"):
        name = alarm.inputs["name"]
        if name.startswith(f"{endpoint}-{target}-") or name == f"{endpoint}-drift":
            kind = name.removeprefix(f"{endpoint}-{target}-").removeprefix(f"{endpoint}-")
            found[kind] = json.loads(json.dumps(alarm.inputs).replace("AWS/SageMaker", "NS").replace(
                "prodline/Serving", "NS"), object_hook=lambda d: {k: v for k, v in d.items()
                                                                  if k not in ("name", "dimensions")})
    return found


@pytest.mark.parametrize("stack", STACKS)
def test_kubernetes_serving_has_the_sagemaker_alarm_set_on_the_same_topic_plus_the_drift_cronjob(stack):
    sagemaker = stack_registrations(stack)
    kube = stack_registrations(stack, "prodline:servingPlatform=kubernetes")
    on_sagemaker, on_kubernetes = serving_alarms(sagemaker, stack, "primary"), serving_alarms(kube, stack, "churn")
    assert set(on_kubernetes) == set(on_sagemaker) >= {"latency-p99", "5xx", "4xx-rate", "drift"}
    assert on_kubernetes == on_sagemaker, "same metrics, statistics, thresholds and actions"
    (drift,) = [a for a in of_type(kube, "aws:cloudwatch/metricAlarm:MetricAlarm") if a.name.endswith("-drift")]
    assert drift.inputs["dimensions"] == {"EndpointName": f"prodline-{stack}-churn", "FeatureSet": "churn"}
    latency = named(kube, f"prodline-{stack}-churn-churn-latency-p99")
    assert latency.inputs["namespace"] == "prodline/Serving"
    assert latency.inputs["dimensions"] == {"Namespace": config(stack).kubernetes.namespace, "Service": "churn"}
    assert any(r.name == "training-retrain-on-drift" for r in kube), "drift still starts retraining"
    (dashboard,) = of_type(kube, "aws:cloudwatch/dashboard:Dashboard")
    assert "prodline/Serving" in json.dumps(dashboard.inputs)
    (job,) = of_type(kube, "kubernetes:batch/v1:CronJob")
    assert "workloads.monitoring.monitor" in job.inputs["spec"]["jobTemplate"]["spec"]["template"]["spec"][
        "containers"][0]["args"]
    glue_jobs = {platform: {r.inputs["name"] for r in of_type(regs, "aws:glue/job:Job")}
                 for platform, regs in (("sagemaker", sagemaker), ("kubernetes", kube))}
    assert f"prodline-{stack}-drift-monitor" in glue_jobs["sagemaker"]
    assert f"prodline-{stack}-drift-monitor" not in glue_jobs["kubernetes"], "the CronJob is the drift monitor there"
    assert f"prodline-{stack}-model-quality" in glue_jobs["kubernetes"], "quality is measured on both platforms"


def test_a_kubernetes_canary_gets_its_own_rollback_alarms():
    regs = stack_registrations("staging", "prodline:servingPlatform=kubernetes", "prodline:k8sCanaryImageTag=1.5.0",
                               "prodline:k8sIngressHost=churn.example.com")
    for kind, metric in (("latency-p99", "ModelLatency"), ("5xx", "Invocation5XXErrors")):
        alarm = named(regs, f"prodline-staging-churn-churn-canary-{kind}")
        assert alarm.inputs["metricName"] == metric
        assert alarm.inputs["dimensions"]["Service"] == "churn-canary"
