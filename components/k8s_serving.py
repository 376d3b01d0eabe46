"""The inference server on Kubernetes: the same image and contract (``GET /ping``, ``POST /invocations``) as
SageMaker hosting, so an environment can choose either with one config value.

The pod mimics SageMaker's container: an init container unpacks ``model.tar.gz`` from the lake into
``SM_MODEL_DIR`` (``/opt/ml/model``), then the server starts with ``serve`` on port 8080. Its identity
is an IAM role for its service account (IRSA) that can read the served model's folder and decrypt with the
lake key, nothing else. Canary releases use ingress-nginx's canary annotations: a second Deployment and
Service behind a second Ingress for the same host, which receives ``canary.weight`` percent of requests.
"""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from components import policy_documents as docs
from components.eks_access import web_identity_trust
from components.k8s_settings import (
    Canary,
    DisruptionBudget,
    ImageRef,
    K8sServingSettings,
    KubernetesServingArgs,
    k8s_serving_settings,
    quantity,
)
from workloads.s3_uri import objects_beside

__all__ = ["Canary", "DisruptionBudget", "ImageRef", "KubernetesServing", "KubernetesServingArgs",
           "k8s_serving_settings"]

PORT = 8080
SERVICE_PORT = 80
PROBE_PATH = "/ping"
MODEL_DIR = "/opt/ml/model"
# The image's non-root user (Dockerfile USER); tests keep the two in step.
RUN_AS_USER = 10001
ZONE_KEY = "topology.kubernetes.io/zone"
IRSA_ANNOTATION = "eks.amazonaws.com/role-arn"
# Where the cluster's DNS answers (CoreDNS on EKS keeps kube-dns's label).
DNS_NAMESPACE = "kube-system"
DNS_POD_LABELS = {"k8s-app": "kube-dns"}
# Addresses that hand out credentials other than the pod's own role: the EC2 instance metadata service (the node's
# role) and the EKS Pod Identity Agent.
LINK_LOCAL_CREDENTIALS = ("169.254.169.254/32", "169.254.170.23/32")
CANARY_ANNOTATIONS = ("nginx.ingress.kubernetes.io/canary", "nginx.ingress.kubernetes.io/canary-weight")
# checkov's "image should use digest" check, waived on a Deployment whose image names no digest, with the reason
# (checkov reads `checkov.io/skip<n>: <check>=<reason>` from the object's annotations; the reason has no "=").
DIGEST_CHECK = "CKV_K8S_43"
NO_DIGEST_REASON = ("no image digest given (image_digest): the image is pinned by an exact tag and pulled with "
                    "imagePullPolicy Always; give its digest to pin the content")


class KubernetesServing(pulumi.ComponentResource):
    """Namespace, IRSA service account, Deployment, Service, HPA, NetworkPolicy, optional PDB and canary."""

    namespace: pulumi.Output[str]
    service_name: pulumi.Output[str]
    role_arn: pulumi.Output[str]

    def __init__(self, name: str, args: KubernetesServingArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("prodline:serving:KubernetesServing", name, None, opts)
        s = k8s_serving_settings(args, name)
        provider = args.get("provider") or k8s.Provider(
            f"{name}-k8s", kubeconfig=pulumi.Output.secret(args["kubeconfig"]),
            opts=pulumi.ResourceOptions(parent=self))
        on_cluster = pulumi.ResourceOptions(parent=self, provider=provider)

        ns = k8s.core.v1.Namespace(f"{name}-namespace", metadata={
            "name": s.namespace,
            # Pod Security Admission rejects any pod here that is not locked down like ours.
            "labels": {**s.labels, "pod-security.kubernetes.io/enforce": "restricted"},
        }, opts=on_cluster)
        namespace = ns.metadata.name

        self.role = aws.iam.Role(
            f"{name}-irsa-role",
            assume_role_policy=web_identity_trust(args["oidc_provider_arn"], args["oidc_issuer_url"],
                                                  s.namespace, name),
            description=f"Service account {s.namespace}/{name}: reads its model prefix, nothing else",
            opts=pulumi.ResourceOptions(parent=self))
        aws.iam.RolePolicy(f"{name}-irsa-policy", role=self.role.id,
                           policy=docs.document(model_read_statements(args, s)),
                           opts=pulumi.ResourceOptions(parent=self))
        k8s.core.v1.ServiceAccount(f"{name}-service-account", metadata=meta(
            name, namespace, s.labels, {IRSA_ANNOTATION: self.role.arn}),
            automount_service_account_token=False, opts=on_cluster)

        stable = _select(name, "stable")
        deployment = k8s.apps.v1.Deployment(f"{name}-deployment", metadata=meta(
            name, namespace, s.labels, image_check_waivers(s.image)), spec={
            "selector": {"match_labels": stable},
            "strategy": {"type": "RollingUpdate", "rolling_update": {"max_surge": 1, "max_unavailable": 0}},
            "revision_history_limit": 5,
            "template": pod_template(s, s.image, "stable"),
        }, opts=on_cluster)
        service = k8s.core.v1.Service(f"{name}-service", metadata=meta(name, namespace, s.labels),
                                      spec=service_spec(stable), opts=on_cluster)
        k8s.autoscaling.v2.HorizontalPodAutoscaler(
            f"{name}-hpa", metadata=meta(name, namespace, s.labels),
            spec=hpa_spec(s, deployment.metadata.name),
            opts=on_cluster)
        if s.disruption_budget is not None:
            k8s.policy.v1.PodDisruptionBudget(f"{name}-pdb", metadata=meta(name, namespace, s.labels),
                                              spec={**s.disruption_budget, "selector": {"match_labels": stable}},
                                              opts=on_cluster)
        k8s.networking.v1.NetworkPolicy(f"{name}-network-policy", metadata=meta(name, namespace, s.labels),
                                        spec=network_policy_spec(s), opts=on_cluster)
        if s.ingress_host is not None:
            k8s.networking.v1.Ingress(f"{name}-ingress", metadata=meta(name, namespace, s.labels),
                                      spec=ingress_spec(s, name), opts=on_cluster)
        if s.canary is not None:
            self._canary(name, namespace, s, s.canary, on_cluster)

        self.provider = provider
        self.namespace = namespace
        self.service_name = service.metadata.name
        self.role_arn = self.role.arn
        self.register_outputs({"namespace": self.namespace, "service_name": self.service_name,
                               "role_arn": self.role_arn})

    def _canary(self, name: str, namespace: pulumi.Input[str], s: K8sServingSettings, canary: Canary,
                opts: pulumi.ResourceOptions) -> None:
        """A second Deployment and Service for the new image, and an Ingress that sends it a share of requests."""
        image = s.canary_image
        assert image is not None, "the settings resolve canary_image whenever there is a canary"
        canary_name = f"{name}-canary"
        selector = _select(name, "canary")
        k8s.apps.v1.Deployment(f"{canary_name}-deployment", metadata=meta(
            canary_name, namespace, s.labels, image_check_waivers(image)), spec={
            "replicas": canary["replicas"],
            "selector": {"match_labels": selector},
            "template": pod_template(s, image, "canary"),
        }, opts=opts)
        k8s.core.v1.Service(f"{canary_name}-service", metadata=meta(canary_name, namespace, s.labels),
                            spec=service_spec(selector), opts=opts)
        weights = dict(zip(CANARY_ANNOTATIONS, ("true", str(canary["weight"])), strict=True))
        k8s.networking.v1.Ingress(f"{canary_name}-ingress",
                                  metadata=meta(canary_name, namespace, s.labels, weights),
                                  spec=ingress_spec(s, canary_name), opts=opts)


# --- pure builders: dicts in the SDK's snake_case, which Pulumi sends to Kubernetes as camelCase ---------

def model_read_statements(args: KubernetesServingArgs, s: K8sServingSettings) -> list[dict]:
    """GetObject in the served model's folder of the artifacts zone, and Decrypt with the lake key through S3 only;
    with data capture, PutObject in the endpoint's capture folder of the raw zone, encrypted with the lake key."""
    lake = args["lake"]
    through_s3 = {"StringEquals": {"kms:ViaService": f"s3.{args['region']}.amazonaws.com"}}
    statements = [
        docs.allow("ReadModel", ["s3:GetObject"], [model_objects(lake.bucket_arns["artifacts"], s.model_data_url)]),
        docs.allow("DecryptModel", ["kms:Decrypt"], [lake.key_arn], through_s3),
    ]
    if s.capture is not None:
        statements += [
            docs.allow("WriteCapture", ["s3:PutObject"], [docs.objects(
                lake.bucket_arns["raw"], f"{s.capture['prefix']}{s.capture['endpoint_name']}/")]),
            docs.allow("EncryptCapture", ["kms:GenerateDataKey"], [lake.key_arn], through_s3),
        ]
    return statements


def model_objects(artifacts_arn: pulumi.Input[str], model_data_url: pulumi.Input[str]) -> pulumi.Output[str]:
    """``<artifacts ARN>/<model folder>/*``: the objects beside a model.tar.gz (its baseline among them)."""
    return pulumi.Output.all(artifacts_arn, model_data_url).apply(
        lambda values: f"{values[0]}/{objects_beside(values[1])[1]}")


def telemetry_env(s: K8sServingSettings, deployment: str) -> dict[str, pulumi.Input[str]]:
    """The server's metrics and capture settings for one Deployment (workloads/serving/metrics.py, capture.py):
    its own dimensions and capture folder, so the stable and canary Deployments are told apart."""
    env: dict[str, pulumi.Input[str]] = {}
    if s.metrics_namespace:
        env.update(PRODLINE_METRICS_NAMESPACE=s.metrics_namespace,
                   PRODLINE_METRICS_DIMENSIONS=f"Namespace={s.namespace},Service={deployment}")
        if s.model_version:
            env["PRODLINE_MODEL_VERSION"] = s.model_version
    if s.capture is not None:
        env.update(PRODLINE_CAPTURE_DESTINATION=pulumi.Output.concat("s3://", s.capture["bucket"], "/",
                                                                     s.capture["prefix"]),
                   PRODLINE_CAPTURE_ENDPOINT=s.capture["endpoint_name"], PRODLINE_CAPTURE_VARIANT=deployment,
                   PRODLINE_CAPTURE_PERCENT=str(s.capture["percent"]))
    return env


def pod_template(s: K8sServingSettings, image: ImageRef, track: str) -> dict[str, Any]:
    """The pod: model fetched by an init container, server on 8080, locked down, probed on /ping."""
    values = {"SM_MODEL_DIR": MODEL_DIR, "MODEL_S3_URI": s.model_data_url,
              "SAGEMAKER_MODEL_SERVER_WORKERS": str(server_workers(s.resources["limits"]["cpu"])), **s.environment,
              **telemetry_env(s, s.name if track == "stable" else f"{s.name}-canary")}
    env = [{"name": key, "value": value} for key, value in sorted(values.items())]
    mounts = [{"name": "tmp", "mount_path": "/tmp"}, {"name": "model", "mount_path": MODEL_DIR}]
    common = {"image": image.reference, "image_pull_policy": image.pull_policy, "env": env, "volume_mounts": mounts,
              "resources": s.resources, "security_context": container_security_context()}
    spec: dict[str, Any] = {
        "service_account_name": s.name,
        "automount_service_account_token": False,
        "security_context": pod_security_context(),
        "init_containers": [{"name": "fetch-model", "args": ["fetch-model"], **common}],
        "containers": [{
            "name": "server",
            "args": ["serve"],
            "ports": [{"name": "http", "container_port": PORT, "protocol": "TCP"}],
            "readiness_probe": _probe(initial_delay=5, period=10, failures=3),
            "liveness_probe": _probe(initial_delay=15, period=20, failures=3),
            **common,
        }],
        "volumes": [{"name": "tmp", "empty_dir": {"size_limit": "64Mi"}},
                    {"name": "model", "empty_dir": {"size_limit": s.model_volume_size}}],
    }
    selector = _select(s.name, track)
    if s.spread_across_zones:
        spec["topology_spread_constraints"] = [{"max_skew": 1, "topology_key": ZONE_KEY,
                                                "when_unsatisfiable": "DoNotSchedule",
                                                "label_selector": {"match_labels": selector}}]
    return {"metadata": {"labels": {**s.labels, **selector}}, "spec": spec}


def image_check_waivers(image: ImageRef) -> dict[str, str] | None:
    """The annotation that waives checkov's digest check, with its reason, on a Deployment whose image has no
    digest; none when it has one, so checkov then holds the Deployment to it."""
    return None if image.by_digest else {"checkov.io/skip1": f"{DIGEST_CHECK}={NO_DIGEST_REASON}"}


def server_workers(cpu_limit: str) -> int:
    """One worker per whole CPU of the limit: the server would otherwise count the node's CPUs, start a
    worker (and a model copy) for each, and run out of the pod's memory."""
    return max(1, int(quantity("cpu_limit", cpu_limit)))


def pod_security_context() -> dict[str, Any]:
    return {"run_as_non_root": True, "run_as_user": RUN_AS_USER, "run_as_group": RUN_AS_USER,
            "fs_group": RUN_AS_USER, "seccomp_profile": {"type": "RuntimeDefault"}}


def container_security_context() -> dict[str, Any]:
    return {"run_as_non_root": True, "run_as_user": RUN_AS_USER, "allow_privilege_escalation": False,
            "read_only_root_filesystem": True, "capabilities": {"drop": ["ALL"]}}


def service_spec(selector: dict[str, str]) -> dict[str, Any]:
    return {"type": "ClusterIP", "selector": selector,
            "ports": [{"name": "http", "port": SERVICE_PORT, "target_port": PORT, "protocol": "TCP"}]}


def hpa_spec(s: K8sServingSettings, deployment_name: pulumi.Input[str]) -> dict[str, Any]:
    """CPU utilization always; requests per second per pod when a target is set (served by a metrics adapter)."""
    metrics: list[dict[str, Any]] = [{"type": "Resource", "resource": {
        "name": "cpu", "target": {"type": "Utilization", "average_utilization": s.cpu_target_percent}}}]
    if s.requests_per_second_target is not None:
        metrics.append({"type": "Pods", "pods": {
            "metric": {"name": s.requests_per_second_metric},
            "target": {"type": "AverageValue", "average_value": str(s.requests_per_second_target)}}})
    return {"scale_target_ref": {"api_version": "apps/v1", "kind": "Deployment", "name": deployment_name},
            "min_replicas": s.min_replicas, "max_replicas": s.max_replicas, "metrics": metrics}


def network_policy_spec(s: K8sServingSettings) -> dict[str, Any]:
    """In: only pods of the ingress namespace, only on the server's port. Out: only what the pod needs.

    The init container fetches the model from S3 and both containers get their IRSA credentials from STS, all
    over HTTPS, after a DNS lookup at the cluster's DNS. Egress is therefore DNS to the cluster DNS pods and TCP
    443 to any address except the instance metadata service and the EKS Pod Identity Agent: through either, a pod
    could take the node's (or another pod's) credentials instead of its own role.
    """
    return {
        "pod_selector": {"match_labels": {"app.kubernetes.io/name": s.name}},
        "policy_types": ["Ingress", "Egress"],
        "ingress": [{
            "from": [{"namespace_selector": {"match_labels": {"kubernetes.io/metadata.name": s.ingress_namespace}}}],
            "ports": [{"protocol": "TCP", "port": PORT}],
        }],
        "egress": aws_only_egress(),
    }


def aws_only_egress() -> list[dict[str, Any]]:
    """DNS to the cluster DNS pods, TCP 443 anywhere but the addresses that hand out other credentials."""
    return [
        {"to": [{"namespace_selector": {"match_labels": {"kubernetes.io/metadata.name": DNS_NAMESPACE}},
                 "pod_selector": {"match_labels": DNS_POD_LABELS}}],
         "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}]},
        {"to": [{"ip_block": {"cidr": "0.0.0.0/0", "except": list(LINK_LOCAL_CREDENTIALS)}}],
         "ports": [{"protocol": "TCP", "port": 443}]},
    ]


def ingress_spec(s: K8sServingSettings, service: str) -> dict[str, Any]:
    backend = {"service": {"name": service, "port": {"number": SERVICE_PORT}}}
    return {"ingress_class_name": s.ingress_class_name,
            "rules": [{"host": s.ingress_host,
                       "http": {"paths": [{"path": "/", "path_type": "Prefix", "backend": backend}]}}]}


def _probe(*, initial_delay: int, period: int, failures: int) -> dict[str, Any]:
    return {"http_get": {"path": PROBE_PATH, "port": PORT}, "initial_delay_seconds": initial_delay,
            "period_seconds": period, "timeout_seconds": 2, "failure_threshold": failures}


def _select(name: str, track: str) -> dict[str, str]:
    """Pod selector: one app, one track (stable or canary), so each Service reaches only its own pods."""
    return {"app.kubernetes.io/name": name, "track": track}


def meta(name: str, namespace: pulumi.Input[str], labels: dict[str, str],
          annotations: dict[str, pulumi.Input[str]] | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "namespace": namespace, "labels": labels}
    if annotations:
        meta["annotations"] = annotations
    return meta
