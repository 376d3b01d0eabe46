"""KubernetesServing under mocks: locked-down pods probed on /ping, bounded autoscaling, least-privilege IRSA."""

from __future__ import annotations

import hashlib

import pulumi
import pulumi_kubernetes as k8s
import pytest

from components import k8s_serving as ks
from components.k8s_render import SECRET_SIG
from components.k8s_serving import k8s_serving_settings
from prodline.program import record
from tests.components.k8s_cases import (
    ARTIFACTS_ARN,
    CANARY_IMAGE,
    IMAGE,
    ISSUER_HOST,
    KEY_ARN,
    OWNERSHIP,
    build,
    kubernetes_objects,
    lake_refs,
    profile,
    serving_args,
)
from tests.helpers import as_list, named, of_type, statements
from workloads.s3_uri import objects_beside

DEPLOYMENT = "kubernetes:apps/v1:Deployment"
# Made-up digests of the right shape (no registry holds them): the component only checks the format.
DIGEST = "sha256:" + hashlib.sha256(b"stable image").hexdigest()
CANARY_DIGEST = "sha256:" + hashlib.sha256(b"canary image").hexdigest()
PDB = "kubernetes:policy/v1:PodDisruptionBudget"
INGRESS = "kubernetes:networking.k8s.io/v1:Ingress"
ENVS = ("dev", "staging", "prod")


def pods(regs):
    """(deployment name, pod spec) for every Deployment."""
    return [(d.name, d.inputs["spec"]["template"]["spec"]) for d in of_type(regs, DEPLOYMENT)]


def containers(regs):
    return [(f"{name}/{c['name']}", c) for name, spec in pods(regs)
            for c in [*spec.get("initContainers", []), *spec["containers"]]]


def server(regs, deployment="churn-deployment"):
    return named(regs, deployment).inputs["spec"]["template"]["spec"]["containers"][0]


@pytest.mark.parametrize("env", ENVS)
def test_every_object_carries_app_and_ownership_labels(env):
    expected = {"app.kubernetes.io/name": "churn", "app.kubernetes.io/part-of": "prodline",
                "app.kubernetes.io/managed-by": "pulumi", **OWNERSHIP}
    for obj in kubernetes_objects(profile(env)):
        labels = obj.inputs["metadata"]["labels"]
        missing = {k: v for k, v in expected.items() if labels.get(k) != v}
        assert not missing, f"{obj.name} lacks labels {missing}"
    for name, _ in pods(profile(env)):
        pod_labels = named(profile(env), name).inputs["spec"]["template"]["metadata"]["labels"]
        assert expected.items() <= pod_labels.items(), f"{name}: pods lack the labels"


@pytest.mark.parametrize("env", ENVS)
def test_every_child_is_parented_to_the_component(env):
    for reg in profile(env)[1:]:
        assert reg.parent_name == "churn", f"{reg.name} is parented to {reg.parent_name}"


def test_objects_use_the_components_own_provider_never_a_default_cluster():
    providers: dict[str, object] = {}

    def program():
        def spy(args: pulumi.ResourceTransformationArgs):
            if args.type_.startswith("kubernetes:"):
                providers[args.name] = args.opts.provider
        pulumi.runtime.register_stack_transformation(spy)
        ks.KubernetesServing("churn", {**serving_args(), "lake": lake_refs()})

    regs = record(program, stack="test")
    (provider,) = of_type(regs, "pulumi:providers:kubernetes")
    assert provider.name == "churn-k8s"
    assert providers and all(p is not None for p in providers.values()), f"objects without a provider: {providers}"
    assert len({id(p) for p in providers.values()}) == 1


def test_kubeconfig_is_kept_secret():
    (provider,) = of_type(profile("dev"), "pulumi:providers:kubernetes")
    assert SECRET_SIG in provider.inputs["kubeconfig"], "the kubeconfig must reach state as a secret"


@pytest.mark.parametrize("env", ENVS)
def test_every_container_has_requests_limits_and_a_locked_down_security_context(env):
    for name, container in containers(profile(env)):
        resources = container["resources"]
        assert set(resources["requests"]) == {"cpu", "memory"}, f"{name}: requests"
        assert set(resources["limits"]) == {"cpu", "memory"}, f"{name}: limits"
        assert container["securityContext"] == {
            "runAsNonRoot": True, "runAsUser": ks.RUN_AS_USER, "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True, "capabilities": {"drop": ["ALL"]}}, f"{name}: security context"


def test_resources_come_from_args():
    assert server(profile("prod"))["resources"] == {"requests": {"cpu": "500m", "memory": "1Gi"},
                                                     "limits": {"cpu": "2", "memory": "2Gi"}}
    assert server(profile("dev"))["resources"]["limits"] == {"cpu": "1", "memory": "1Gi"}


@pytest.mark.parametrize("env", ENVS)
def test_pods_run_as_the_images_non_root_user_with_runtime_default_seccomp(env):
    for name, spec in pods(profile(env)):
        context = spec["securityContext"]
        assert context["runAsNonRoot"] is True and context["runAsUser"] == ks.RUN_AS_USER != 0, name
        assert context["seccompProfile"] == {"type": "RuntimeDefault"}, name
        assert spec["automountServiceAccountToken"] is False, f"{name}: no Kubernetes API token in the pod"
        assert spec["serviceAccountName"] == "churn", name


def test_namespace_enforces_the_restricted_pod_security_standard():
    namespace = named(profile("dev"), "churn-namespace").inputs["metadata"]
    assert namespace["name"] == "churn-serving"
    assert namespace["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"


@pytest.mark.parametrize("env", ENVS)
def test_server_is_probed_on_ping_and_listens_on_8080(env):
    for deployment in ("churn-deployment", *(["churn-canary-deployment"] if env == "staging" else [])):
        container = server(profile(env), deployment)
        for probe in ("readinessProbe", "livenessProbe"):
            assert container[probe]["httpGet"] == {"path": "/ping", "port": 8080}, f"{deployment}: {probe}"
        assert container["ports"] == [{"name": "http", "containerPort": 8080, "protocol": "TCP"}]
        assert container["args"] == ["serve"]


def test_extra_environment_reaches_both_containers():
    regs = build(environment={"LOG_LEVEL": "debug"})
    spec = named(regs, "churn-deployment").inputs["spec"]["template"]["spec"]
    for container in (*spec["initContainers"], *spec["containers"]):
        assert {"name": "LOG_LEVEL", "value": "debug"} in container["env"], container["name"]


@pytest.mark.parametrize(("env", "workers"), [("dev", "1"), ("prod", "2")])
def test_server_workers_follow_the_cpu_limit_not_the_nodes_cpus(env, workers):
    found = {e["name"]: e["value"] for e in server(profile(env))["env"]}
    assert found["SAGEMAKER_MODEL_SERVER_WORKERS"] == workers
    assert ks.server_workers("500m") == 1


def test_model_is_fetched_into_sm_model_dir_by_an_init_container():
    spec = named(profile("dev"), "churn-deployment").inputs["spec"]["template"]["spec"]
    (init,) = spec["initContainers"]
    assert init["args"] == ["fetch-model"] and init["image"] == IMAGE
    for container in (init, spec["containers"][0]):
        env = {e["name"]: e["value"] for e in container["env"]}
        assert env["SM_MODEL_DIR"] == "/opt/ml/model"
        assert env["MODEL_S3_URI"] == "s3://bucket-artifacts/models/churn/2026-11-01/model.tar.gz"
        assert {m["mountPath"] for m in container["volumeMounts"]} == {"/tmp", "/opt/ml/model"}
    assert {v["name"]: v for v in spec["volumes"]} == {
        "tmp": {"name": "tmp", "emptyDir": {"sizeLimit": "64Mi"}},
        "model": {"name": "model", "emptyDir": {"sizeLimit": "1Gi"}}}


def test_zone_spread_only_when_asked():
    (constraint,) = named(profile("prod"), "churn-deployment").inputs["spec"]["template"]["spec"][
        "topologySpreadConstraints"]
    assert constraint == {"maxSkew": 1, "topologyKey": "topology.kubernetes.io/zone",
                          "whenUnsatisfiable": "DoNotSchedule",
                          "labelSelector": {"matchLabels": {"app.kubernetes.io/name": "churn", "track": "stable"}}}
    assert "topologySpreadConstraints" not in named(profile("dev"), "churn-deployment").inputs["spec"]["template"][
        "spec"]


def test_service_maps_port_80_to_8080_on_stable_pods_only():
    spec = named(profile("staging"), "churn-service").inputs["spec"]
    assert spec["type"] == "ClusterIP"
    assert spec["ports"] == [{"name": "http", "port": 80, "targetPort": 8080, "protocol": "TCP"}]
    assert spec["selector"] == {"app.kubernetes.io/name": "churn", "track": "stable"}
    deployment = named(profile("staging"), "churn-deployment").inputs["spec"]
    assert deployment["selector"]["matchLabels"] == spec["selector"]
    assert "replicas" not in deployment, "the HPA owns the replica count"


@pytest.mark.parametrize(("env", "low", "high"), [("dev", 1, 2), ("prod", 2, 6)])
def test_hpa_bounds_come_from_args(env, low, high):
    hpa = named(profile(env), "churn-hpa").inputs["spec"]
    assert (hpa["minReplicas"], hpa["maxReplicas"]) == (low, high)
    assert hpa["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "churn"}
    assert hpa["metrics"][0] == {"type": "Resource", "resource": {
        "name": "cpu", "target": {"type": "Utilization", "averageUtilization": 70}}}


def test_hpa_adds_a_requests_per_second_metric_only_when_configured():
    assert len(named(profile("dev"), "churn-hpa").inputs["spec"]["metrics"]) == 1
    rps = named(profile("prod"), "churn-hpa").inputs["spec"]["metrics"][1]
    assert rps == {"type": "Pods", "pods": {"metric": {"name": "http_requests_per_second"},
                                            "target": {"type": "AverageValue", "averageValue": "20"}}}


@pytest.mark.parametrize(("env", "budget"), [("dev", None), ("staging", {"maxUnavailable": 1}),
                                             ("prod", {"minAvailable": 1})])
def test_disruption_budget_only_where_configured(env, budget):
    found = of_type(profile(env), PDB)
    if budget is None:
        assert not found, f"{env} must not declare a PodDisruptionBudget"
        return
    (pdb,) = found
    assert pdb.inputs["spec"] == {**budget, "selector": {"matchLabels": {"app.kubernetes.io/name": "churn",
                                                                          "track": "stable"}}}


def test_network_policy_admits_only_the_ingress_namespace_on_8080():
    spec = named(profile("dev"), "churn-network-policy").inputs["spec"]
    assert spec["podSelector"] == {"matchLabels": {"app.kubernetes.io/name": "churn"}}
    assert spec["policyTypes"] == ["Ingress", "Egress"]
    assert spec["ingress"] == [{"from": [{"namespaceSelector": {"matchLabels": {
        "kubernetes.io/metadata.name": "ingress-nginx"}}}], "ports": [{"protocol": "TCP", "port": 8080}]}]


def test_network_policy_lets_the_pod_out_only_to_dns_and_https_never_to_the_metadata_service():
    dns, https = named(profile("dev"), "churn-network-policy").inputs["spec"]["egress"]
    assert dns == {"to": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
                           "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}}}],
                   "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}]}
    assert https == {"to": [{"ipBlock": {"cidr": "0.0.0.0/0",
                                         "except": ["169.254.169.254/32", "169.254.170.23/32"]}}],
                     "ports": [{"protocol": "TCP", "port": 443}]}


@pytest.mark.parametrize("env", ENVS)
def test_by_tag_every_container_is_pulled_always_and_the_digest_check_is_waived_with_its_reason(env):
    for deployment in of_type(profile(env), DEPLOYMENT):
        spec = deployment.inputs["spec"]["template"]["spec"]
        for container in (*spec["initContainers"], *spec["containers"]):
            assert container["imagePullPolicy"] == "Always", f"{deployment.name}/{container['name']}"
        waiver = deployment.inputs["metadata"]["annotations"]["checkov.io/skip1"]
        check, reason = waiver.split("=")
        assert check == ks.DIGEST_CHECK and "no image digest given" in reason, deployment.name


def test_by_digest_every_container_runs_the_digest_and_nothing_is_waived():
    regs = build(image_digest=DIGEST, ingress_host="churn.example.com",
                 canary={"image": CANARY_IMAGE, "weight": 10, "image_digest": CANARY_DIGEST})
    for name, image in (("churn-deployment", f"{IMAGE}@{DIGEST}"),
                        ("churn-canary-deployment", f"{CANARY_IMAGE}@{CANARY_DIGEST}")):
        deployment = named(regs, name).inputs
        spec = deployment["spec"]["template"]["spec"]
        for container in (*spec["initContainers"], *spec["containers"]):
            assert (container["image"], container["imagePullPolicy"]) == (image, "IfNotPresent"), name
        assert "annotations" not in deployment["metadata"], f"{name}: pinned by digest, nothing to waive"


def test_canary_is_a_second_deployment_behind_a_weighted_ingress():
    regs = profile("staging")
    canary = named(regs, "churn-canary-deployment").inputs
    assert canary["metadata"]["name"] == "churn-canary"
    assert canary["spec"]["replicas"] == 1
    assert server(regs, "churn-canary-deployment")["image"] == CANARY_IMAGE
    assert server(regs)["image"] == IMAGE
    assert named(regs, "churn-canary-service").inputs["spec"]["selector"] == {
        "app.kubernetes.io/name": "churn", "track": "canary"}
    stable, weighted = named(regs, "churn-ingress").inputs, named(regs, "churn-canary-ingress").inputs
    assert weighted["metadata"]["annotations"] == {"nginx.ingress.kubernetes.io/canary": "true",
                                                   "nginx.ingress.kubernetes.io/canary-weight": "10"}
    assert "annotations" not in stable["metadata"]
    host = "churn.staging.example.com"
    for ingress, service in ((stable, "churn"), (weighted, "churn-canary")):
        (rule,) = ingress["spec"]["rules"]
        assert rule["host"] == host
        assert rule["http"]["paths"][0]["backend"] == {"service": {"name": service, "port": {"number": 80}}}
        assert ingress["spec"]["ingressClassName"] == "nginx"


@pytest.mark.parametrize(("env", "count"), [("dev", 0), ("staging", 2), ("prod", 1)])
def test_ingresses_only_with_a_host_and_a_pair_only_with_a_canary(env, count):
    assert len(of_type(profile(env), INGRESS)) == count


def test_irsa_role_trusts_only_this_service_account_through_sts():
    trust = statements(named(profile("dev"), "churn-irsa-role").inputs["assumeRolePolicy"])
    assert trust == [{
        "Sid": "AssumedByServiceAccount", "Effect": "Allow",
        "Principal": {"Federated": f"arn:aws:iam::123456789012:oidc-provider/{ISSUER_HOST}"},
        "Action": "sts:AssumeRoleWithWebIdentity",
        "Condition": {"StringEquals": {f"{ISSUER_HOST}:sub": "system:serviceaccount:churn-serving:churn",
                                       f"{ISSUER_HOST}:aud": "sts.amazonaws.com"}},
    }]


def test_irsa_role_reads_only_the_served_models_folder_and_decrypts_only_through_s3():
    found = statements(named(profile("dev"), "churn-irsa-policy").inputs["policy"])
    assert found == [
        {"Sid": "ReadModel", "Effect": "Allow", "Action": ["s3:GetObject"],
         "Resource": [f"{ARTIFACTS_ARN}/models/churn/2026-11-01/*"]},
        {"Sid": "DecryptModel", "Effect": "Allow", "Action": ["kms:Decrypt"], "Resource": [KEY_ARN],
         "Condition": {"StringEquals": {"kms:ViaService": "s3.eu-west-1.amazonaws.com"}}},
    ]
    for statement in found:
        assert all("*" not in action for action in as_list(statement["Action"])), statement["Sid"]


@pytest.mark.parametrize(("url", "pattern"), [
    ("s3://bucket/pipelines/p/models/job-1/output/model.tar.gz", "pipelines/p/models/job-1/output/*"),
    ("s3://bucket/model.tar.gz", "model.tar.gz"),
])
def test_the_pod_may_read_the_folder_of_its_model_never_its_whole_bucket(url, pattern):
    assert objects_beside(url) == ("bucket", pattern)


def test_a_model_url_known_only_at_deploy_time_still_scopes_the_read():
    url = pulumi.Output.from_input("s3://bucket-artifacts/pipelines/p/models/job-7/output/model.tar.gz")
    (read, _) = statements(named(build(model_data_url=url), "churn-irsa-policy").inputs["policy"])
    assert read["Resource"] == [f"{ARTIFACTS_ARN}/pipelines/p/models/job-7/output/*"]


def test_service_account_is_annotated_with_the_role():
    regs = profile("dev")
    account = named(regs, "churn-service-account").inputs
    assert account["metadata"]["annotations"] == {"eks.amazonaws.com/role-arn": named(regs, "churn-irsa-role")
                                                  .outputs["arn"]}
    assert account["automountServiceAccountToken"] is False


def test_a_given_provider_is_used_instead_of_a_new_one():
    def program():
        shared = k8s.Provider("shared", kubeconfig="{}")
        args = {**serving_args(), "lake": lake_refs(), "provider": shared}
        del args["kubeconfig"]
        ks.KubernetesServing("churn", args)

    regs = record(program, stack="test")
    assert [r.name for r in of_type(regs, "pulumi:providers:kubernetes")] == ["shared"]


def test_component_is_one_typed_resource_around_its_children():
    (component,) = [r for r in build() if not r.custom and r.type.startswith("prodline:")]
    assert (component.type, component.name) == ("prodline:serving:KubernetesServing", "churn")


def _settings(**changes):
    return k8s_serving_settings(serving_args(**changes), "churn")


@pytest.mark.parametrize(("change", "message"), [
    ({"namespace": "Churn"}, "namespace must be a DNS-1123 label"),
    ({"ingress_namespace": "churn-serving"}, "ingress_namespace must differ from namespace"),
    ({"ownership_labels": {"owner": "x"}}, "missing cost-center, environment, project"),
    ({"ownership_labels": {**OWNERSHIP, "owner": "ML Platform"}}, r"ownership_labels\['owner'\] must be a label"),
    ({"min_replicas": 0}, "min_replicas must be >= 1"),
    ({"min_replicas": 3, "max_replicas": 2}, r"max_replicas must be >= min_replicas \(3\)"),
    ({"cpu_target_percent": 0}, "cpu_target_percent must be from 1 to 100"),
    ({"requests_per_second_target": 0}, "requests_per_second_target must be >= 1"),
    ({"cpu_request": "2", "cpu_limit": "500m"}, r"cpu_limit must be >= cpu_request \(2\)"),
    ({"memory_limit": "512m"}, "memory_limit '512m' means milli-bytes"),
    ({"memory_request": "lots"}, "memory_request must be a Kubernetes quantity"),
    ({"disruption_budget": {"min_available": 1}}, r"min_available must be from 1 to min_replicas - 1 \(0\)"),
    ({"disruption_budget": {"min_available": 1, "max_unavailable": 1}}, "exactly one of min_available"),
    ({"canary": {"image": CANARY_IMAGE, "weight": 10}}, "canary needs ingress_host"),
    ({"canary": {"image": CANARY_IMAGE, "weight": 100}, "ingress_host": "a.example.com"},
     "canary.weight must be from 1 to 99"),
    ({"canary": {"image": "repo/serving:latest", "weight": 5}, "ingress_host": "a.example.com"},
     "canary.image must name an exact tag or digest"),
    ({"image": "repo/serving"}, "image must name an exact tag or digest"),
    ({"image_digest": "sha256:abc"}, "image_digest must be sha256: followed by 64 lowercase hex digits"),
    ({"image_digest": DIGEST.upper()}, "image_digest must be sha256: followed by 64 lowercase hex digits"),
    ({"image_digest": DIGEST.removeprefix("sha256:")}, "image_digest must be sha256: followed by 64 lowercase"),
    ({"image": "repo/serving@sha256:abc"}, "image must end in @sha256: followed by 64 lowercase hex digits"),
    ({"image": f"repo/serving@{DIGEST}", "image_digest": DIGEST}, "image already names a digest"),
    ({"canary": {"image": CANARY_IMAGE, "weight": 5, "image_digest": "latest"}, "ingress_host": "a.example.com"},
     "canary.image_digest must be sha256: followed by 64 lowercase hex digits, got 'latest'"),
    ({"model_data_url": "https://example.com/model.tar.gz"}, "model_data_url must be an s3:// URL"),
    ({"ingress_host": "not a host"}, "ingress_host must be a DNS name"),
    ({"environment": {"SM_MODEL_DIR": "/model"}}, "environment must not set SM_MODEL_DIR"),
])
def test_bad_args_are_rejected_with_the_field(change, message):
    with pytest.raises(ValueError, match=message):
        _settings(**change)


def test_exactly_one_way_to_reach_the_cluster():
    neither = serving_args()
    del neither["kubeconfig"]
    for args in (neither, serving_args(provider=object())):
        with pytest.raises(ValueError, match="exactly one of kubeconfig or provider"):
            k8s_serving_settings(args, "churn")


def test_name_must_leave_room_for_the_canary_suffix():
    with pytest.raises(ValueError, match="name must be a DNS-1035 label of at most 56"):
        k8s_serving_settings(serving_args(), "x" * 57)


def test_image_by_digest_is_accepted_and_defaults_fill_in():
    digest = f"repo/serving@{DIGEST}"
    settings = _settings(image=digest)
    assert settings.image == ks.ImageRef(digest, by_digest=True)
    assert (settings.min_replicas, settings.max_replicas, settings.cpu_target_percent) == (1, 2, 70)
    assert settings.disruption_budget is None and settings.canary is None
