"""Kubernetes rules on objects in the API's shape (camelCase, as the provider hands them over), built like
KubernetesServing builds them; then on the shipped stacks served from Kubernetes."""

from __future__ import annotations

import json

import pytest

from policies.rules import kubernetes
from policies.rules.cloudwatch import METRIC_ALARM
from tests.helpers import stack_registrations
from tests.policies.cases import DELETE, assert_fails, assert_passes, change, judge, resource
from tests.policies.expected import KUBERNETES, assert_verdict

NAMESPACE = "churn-serving"
SELECTOR = {"app.kubernetes.io/name": "churn", "track": "stable"}
LOCKED = {"runAsNonRoot": True, "runAsUser": 10001, "allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
          "capabilities": {"drop": ["ALL"]}}
RESOURCES = {"requests": {"cpu": "250m", "memory": "512Mi"}, "limits": {"cpu": "1", "memory": "1Gi"}}
PROBE = {"httpGet": {"path": "/ping", "port": 8080}, "periodSeconds": 10}
IMAGE = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/prodline/serving:1.4.0"
MODEL_FOLDER = "arn:aws:s3:::bucket-artifacts/pipelines/p/models/job-1/output"
MODEL = [{"name": "MODEL_S3_URI", "value": "s3://bucket-artifacts/pipelines/p/models/job-1/output/model.tar.gz"}]
POD = {
    "serviceAccountName": "churn",
    "securityContext": {"runAsNonRoot": True, "runAsUser": 10001, "fsGroup": 10001},
    "initContainers": [{"name": "fetch-model", "image": IMAGE, "args": ["fetch-model"], "resources": RESOURCES,
                        "securityContext": LOCKED, "env": MODEL}],
    "containers": [{"name": "server", "image": IMAGE, "args": ["serve"], "resources": RESOURCES,
                    "securityContext": LOCKED, "readinessProbe": PROBE, "livenessProbe": PROBE, "env": MODEL}],
}
DEPLOYMENT = {"apiVersion": "apps/v1", "kind": "Deployment",
              "metadata": {"name": "churn", "namespace": NAMESPACE, "labels": {"app.kubernetes.io/name": "churn"}},
              "spec": {"selector": {"matchLabels": SELECTOR},
                       "template": {"metadata": {"labels": {**SELECTOR, "owner": "ml-platform"}}, "spec": POD}}}
HPA = {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
       "metadata": {"name": "churn", "namespace": NAMESPACE},
       "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "churn"},
                "minReplicas": 2, "maxReplicas": 6}}
PDB = {"apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": {"name": "churn", "namespace": NAMESPACE},
       "spec": {"maxUnavailable": 1, "selector": {"matchLabels": SELECTOR}}}
SERVER, INIT = "spec.template.spec.containers.0", "spec.template.spec.initContainers.0"
SERVICE = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "churn", "namespace": NAMESPACE},
           "spec": {"selector": SELECTOR, "ports": [{"port": 80, "targetPort": 8080}]}}
DNS_EGRESS = {"to": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
                      "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}}}],
              "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}]}
HTTPS_EGRESS = {"to": [{"ipBlock": {"cidr": "0.0.0.0/0", "except": ["169.254.169.254/32", "169.254.170.23/32"]}}],
                "ports": [{"protocol": "TCP", "port": 443}]}
NETWORK = {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
           "metadata": {"name": "churn", "namespace": NAMESPACE},
           "spec": {"podSelector": {"matchLabels": {"app.kubernetes.io/name": "churn"}},
                    "policyTypes": ["Ingress", "Egress"],
                    "ingress": [{"from": [{"namespaceSelector": {"matchLabels": {
                        "kubernetes.io/metadata.name": "ingress-nginx"}}}],
                                 "ports": [{"protocol": "TCP", "port": 8080}]}],
                    "egress": [DNS_EGRESS, HTTPS_EGRESS]}}
ROLE_ARN = "arn:aws:iam::123456789012:role/churn-irsa"
SERVICE_ACCOUNT = {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {
    "name": "churn", "namespace": NAMESPACE, "annotations": {"eks.amazonaws.com/role-arn": ROLE_ARN}}}
READ_MODEL = {"Sid": "ReadModel", "Effect": "Allow", "Action": ["s3:GetObject"], "Resource": [f"{MODEL_FOLDER}/*"]}
TOPIC = "arn:aws:sns:eu-west-1:123456789012:alerts"
ALARM_METRICS = {"churn-5xx-alarm": "http_5xx_responses", "churn-latency-alarm": "http_request_duration_p99"}


def alarm(metric: str) -> dict:
    """An alarm as the platform could declare it: the server's metric, by namespace and Service (Container Insights)."""
    return {"namespace": "ContainerInsights/Prometheus", "metricName": metric, "statistic": "Maximum",
            "dimensions": {"ClusterName": "ml-platform", "Namespace": NAMESPACE, "Service": "churn"},
            "comparisonOperator": "GreaterThanThreshold", "threshold": 1, "alarmActions": [TOPIC]}


def serving(deployment_change=None, *, hpa=HPA, pdb=PDB, network=NETWORK, read=READ_MODEL, service=SERVICE,
            alarms=ALARM_METRICS):
    """A KubernetesServing-shaped stack: the Deployment and what it is judged with (each part replaceable)."""
    deployment = change(DEPLOYMENT, *deployment_change) if deployment_change else DEPLOYMENT
    regs = [resource(kubernetes.REPLICATED[0], "churn-deployment", deployment)]
    regs += [resource(kubernetes.HPAS[0], "churn-hpa", hpa)] if hpa else []
    regs += [resource(kubernetes.PDBS[0], "churn-pdb", pdb)] if pdb else []
    regs += [resource(kubernetes.NETWORK_POLICY, "churn-network-policy", network)] if network else []
    regs += [resource(kubernetes.SERVICE, "churn-service", service)] if service else []
    regs += [resource(kubernetes.SERVICE_ACCOUNT, "churn-service-account", SERVICE_ACCOUNT),
             resource(kubernetes.ROLE, "churn-irsa-role", {"name": "churn-irsa", "assumeRolePolicy": "{}"})]
    regs += [resource(kubernetes.ROLE_POLICY, "churn-irsa-policy", {"role": "churn-irsa", "policy": json.dumps(
        {"Version": "2012-10-17", "Statement": [read]})})] if read else []
    regs += [resource(METRIC_ALARM, name, alarm(metric)) for name, metric in alarms.items()]
    return regs


@pytest.mark.parametrize("rule", kubernetes.RULES, ids=lambda r: r.name)
def test_a_locked_down_probed_pinned_budgeted_deployment_passes(rule):
    assert_passes(rule, serving())


NON_ROOT = kubernetes.kubernetes_run_as_non_root


@pytest.mark.parametrize(("path", "value", "container", "words"), [
    (f"{SERVER}.securityContext.runAsUser", 0, "server", "runs as user 0"),
    (f"{SERVER}.securityContext.runAsNonRoot", False, "server", "does not require runAsNonRoot"),
    (f"{INIT}.securityContext.runAsUser", 0, "fetch-model", "runs as user 0"),
])
def test_root_containers_fail(path, value, container, words):
    assert_fails(NON_ROOT, serving((path, value)), "churn-deployment", f"container {container}", words,
                 "runAsNonRoot=true")


def test_a_root_pod_default_that_every_container_overrides_passes():
    assert_passes(NON_ROOT, serving(("spec.template.spec.securityContext.runAsUser", 0)))


def test_non_root_may_come_from_the_pod():
    regs = serving((f"{SERVER}.securityContext", {"allowPrivilegeEscalation": False}))
    assert_passes(NON_ROOT, regs)


def test_no_non_root_setting_anywhere_fails():
    regs = serving((f"{SERVER}.securityContext", {"allowPrivilegeEscalation": False}))
    regs = [resource(kubernetes.REPLICATED[0], "churn-deployment",
                     change(regs[0].inputs, "spec.template.spec.securityContext", DELETE))]
    assert_fails(NON_ROOT, regs, "churn-deployment", "does not require runAsNonRoot")


ESCALATION = kubernetes.kubernetes_no_privilege_escalation


@pytest.mark.parametrize(("path", "value", "container", "words"), [
    (f"{SERVER}.securityContext.privileged", True, "server", "runs privileged"),
    (f"{SERVER}.securityContext.allowPrivilegeEscalation", True, "server", "may escalate"),
    (f"{INIT}.securityContext.allowPrivilegeEscalation", DELETE, "fetch-model", "defaults it to true"),
])
def test_escalating_containers_fail(path, value, container, words):
    assert_fails(ESCALATION, serving((path, value)), "churn-deployment", f"container {container}", words,
                 "allowPrivilegeEscalation=false")


READ_ONLY = kubernetes.kubernetes_read_only_root_filesystem
DRIFT_CRONJOB = {"apiVersion": "batch/v1", "kind": "CronJob",
                 "metadata": {"name": "churn-drift", "namespace": NAMESPACE},
                 "spec": {"schedule": "0 * * * *", "jobTemplate": {"spec": {"template": {"spec": {
                     "serviceAccountName": "churn-drift", "restartPolicy": "Never",
                     "securityContext": {"runAsNonRoot": True, "runAsUser": 10001},
                     "containers": [{"name": "monitor", "image": IMAGE, "resources": RESOURCES,
                                     "securityContext": LOCKED,
                                     "args": ["python", "-m", "workloads.monitoring.monitor"]}]}}}}}}
MONITOR = "spec.jobTemplate.spec.template.spec.containers.0"


def drift_cronjob(path_and_value: tuple | None = None):
    return [resource("kubernetes:batch/v1:CronJob", "churn-drift-cronjob",
                     change(DRIFT_CRONJOB, *path_and_value) if path_and_value else DRIFT_CRONJOB)]


@pytest.mark.parametrize("rule", [READ_ONLY, NON_ROOT, ESCALATION], ids=lambda r: r.name)
def test_the_drift_cronjob_locked_down_like_the_deployment_passes(rule):
    assert_passes(rule, drift_cronjob())


@pytest.mark.parametrize(("path", "value"), [(f"{MONITOR}.securityContext.readOnlyRootFilesystem", False),
                                              (f"{MONITOR}.securityContext.readOnlyRootFilesystem", DELETE)])
def test_a_drift_cronjob_with_a_writable_root_filesystem_fails(path, value):
    assert_fails(READ_ONLY, drift_cronjob((path, value)), "churn-drift-cronjob", "container monitor",
                 "readOnlyRootFilesystem is not true", "emptyDir")


def test_a_drift_cronjob_running_as_root_fails():
    assert_fails(NON_ROOT, drift_cronjob((f"{MONITOR}.securityContext.runAsUser", 0)), "churn-drift-cronjob",
                 "container monitor", "runs as user 0")


@pytest.mark.parametrize("path", [f"{SERVER}.securityContext.readOnlyRootFilesystem",
                                  f"{INIT}.securityContext.readOnlyRootFilesystem"])
def test_deployment_containers_with_a_writable_root_filesystem_fail(path):
    assert_fails(READ_ONLY, serving((path, False)), "churn-deployment", "readOnlyRootFilesystem is not true")


LIMITS = kubernetes.kubernetes_resource_limits


@pytest.mark.parametrize(("path", "words"), [(f"{SERVER}.resources", "no cpu or memory limit"),
                                             (f"{SERVER}.resources.limits.memory", "no memory limit"),
                                             (f"{SERVER}.resources.limits.cpu", "no cpu limit"),
                                             (f"{INIT}.resources.limits", "init container fetch-model")])
def test_unbounded_containers_fail(path, words):
    assert_fails(LIMITS, serving((path, DELETE)), "churn-deployment", words, "memory_limit")


PROBES = kubernetes.kubernetes_probes


@pytest.mark.parametrize("probe", ["readinessProbe", "livenessProbe"])
def test_unprobed_servers_fail(probe):
    assert_fails(PROBES, serving((f"{SERVER}.{probe}", DELETE)), "churn-deployment", f"no {probe}", "/ping")


def test_init_containers_and_jobs_need_no_probes():
    pod = change(POD, "containers.0.livenessProbe", DELETE)
    job = {"apiVersion": "batch/v1", "kind": "Job", "spec": {"template": {"spec": pod}}}
    assert_passes(PROBES, [*serving(), resource("kubernetes:batch/v1:Job", "backfill", job)])


IMAGES = kubernetes.kubernetes_image_pinned


@pytest.mark.parametrize(("image", "words"), [
    ("123456789012.dkr.ecr.eu-west-1.amazonaws.com/prodline/serving:latest", "serving:latest"),
    ("123456789012.dkr.ecr.eu-west-1.amazonaws.com/prodline/serving", "no tag"),
    ("registry.local:5000/serving", "no tag"),
])
def test_unpinned_images_fail(image, words):
    assert_fails(IMAGES, serving((f"{SERVER}.image", image)), "churn-deployment", words, "digest")


@pytest.mark.parametrize("image", ["registry.local:5000/serving:2.0", "serving@sha256:" + "a" * 64])
def test_tags_and_digests_pass(image):
    assert_passes(IMAGES, serving((f"{SERVER}.image", image)))


def test_a_cronjob_pod_is_found_where_its_kind_keeps_it():
    cron = {"apiVersion": "batch/v1", "kind": "CronJob", "spec": {"jobTemplate": {"spec": {"template": {
        "spec": change(POD, "containers.0.image", "busybox")}}}}}
    assert_fails(IMAGES, [resource("kubernetes:batch/v1:CronJob", "nightly", cron)], "nightly", "no tag")


BUDGET = kubernetes.kubernetes_disruption_budget


def test_a_replicated_prod_deployment_without_a_budget_fails():
    assert_fails(BUDGET, serving(pdb=None), "churn-deployment", "no PodDisruptionBudget", "disruption_budget")


def test_a_budget_selecting_other_pods_does_not_count():
    other = change(PDB, "spec.selector.matchLabels.track", "canary")
    assert_fails(BUDGET, serving(pdb=other), "churn-deployment", "no PodDisruptionBudget")


def test_a_budget_selecting_another_app_does_not_count():
    # Label keys hold dots: app.kubernetes.io/name was once read as a path (app -> kubernetes -> io/name), found
    # missing on both sides, and taken as a match.
    other = change(PDB, "spec.selector.matchLabels", {"app.kubernetes.io/name": "other", "track": "stable"})
    assert_fails(BUDGET, serving(pdb=other), "churn-deployment", "no PodDisruptionBudget")


def test_a_budget_in_another_namespace_does_not_count():
    assert_fails(BUDGET, serving(pdb=change(PDB, "metadata.namespace", "elsewhere")), "churn-deployment")


def test_match_expressions_select_too():
    expressions = {"matchExpressions": [{"key": "track", "operator": "In", "values": ["stable", "canary"]}]}
    assert_passes(BUDGET, serving(pdb=change(PDB, "spec.selector", expressions)))


def test_replicas_make_a_deployment_replicated_without_an_autoscaler():
    assert_fails(BUDGET, serving(("spec.replicas", 3), hpa=None, pdb=None), "churn-deployment")


def test_a_single_pod_needs_no_budget():
    # A budget cannot protect one pod without blocking every drain (KubernetesServing's canary runs one).
    assert_passes(BUDGET, serving(("spec.replicas", 1), hpa=None, pdb=None))


def test_budgets_are_advisory_in_staging_and_off_in_dev():
    assert [v.enforcement for v in judge(BUDGET, serving(pdb=None), environment="staging")] == ["advisory"]
    assert judge(BUDGET, serving(pdb=None), environment="dev") == []


EGRESS = kubernetes.kubernetes_network_egress_restricted


@pytest.mark.parametrize("network", [
    None,
    change(NETWORK, "spec.policyTypes", ["Ingress"]),
    change(NETWORK, "spec.podSelector.matchLabels", {"app.kubernetes.io/name": "other"}),
    change(NETWORK, "metadata.namespace", "elsewhere"),
], ids=["no-policy", "ingress-only", "other-pods", "other-namespace"])
def test_pods_whose_egress_no_policy_limits_fail(network):
    assert_fails(EGRESS, serving(network=network), "churn-deployment", "may connect anywhere", "169.254.169.254",
                 "Egress")


@pytest.mark.parametrize(("path", "value", "words"), [
    ("spec.egress.1.to.0.ipBlock.except", DELETE, "reaches 169.254.169.254"),
    ("spec.egress.1.to.0.ipBlock.except", ["169.254.169.254/32"], "reaches 169.254.170.23"),
    ("spec.egress.1.to.0.ipBlock", {"cidr": "169.254.0.0/16"}, "reaches 169.254.169.254"),
    ("spec.egress.2", {"to": [{"ipBlock": {"cidr": "::/0"}}], "ports": [{"port": 443}]}, "reaches fd00:ec2::254"),
    ("spec.egress.0.to", DELETE, "egress rule #1 allows every destination"),
    ("spec.egress.1.ports", DELETE, "egress rule #2 allows every port"),
], ids=["no-except", "pod-identity-agent", "link-local", "ipv6", "dns-anywhere", "every-port"])
def test_egress_rules_that_reach_credentials_or_every_port_fail(path, value, words):
    assert_fails(EGRESS, serving(network=change(NETWORK, path, value)), "churn-network-policy", words)


def test_a_policy_for_the_whole_namespace_limits_its_pods_too():
    assert_passes(EGRESS, serving(network=change(NETWORK, "spec.podSelector", {})))


def test_a_policy_without_types_limits_egress_when_it_has_egress_rules():
    assert_passes(EGRESS, serving(network=change(NETWORK, "spec.policyTypes", DELETE)))


READS = kubernetes.kubernetes_serving_role_reads_only_its_model


@pytest.mark.parametrize(("read", "words"), [
    ({**READ_MODEL, "Resource": ["arn:aws:s3:::bucket-artifacts/pipelines/p/*"]}, "bucket-artifacts/pipelines/p/*"),
    ({**READ_MODEL, "Resource": "*"}, "read *"),
    ({**READ_MODEL, "Action": ["s3:Get*"], "Resource": ["arn:aws:s3:::bucket-features/*"]}, "bucket-features"),
    ({**READ_MODEL, "Resource": ["arn:aws:s3:::bucket-artifacts/pipelines/p/models/job-1/output-old/*"]}, "output-old"),
], ids=["pipeline-prefix", "everything", "pattern-other-bucket", "sibling-folder"])
def test_a_serving_role_reading_beyond_its_model_fails(read, words):
    assert_fails(READS, serving(read=read), "churn-irsa-policy", "'ReadModel'", "churn-deployment", words,
                 f"{MODEL_FOLDER.removeprefix('arn:aws:s3:::')}/*")


def test_a_serving_role_with_an_inline_policy_beyond_its_model_fails():
    regs = [r for r in serving() if r.name != "churn-irsa-role"] + [resource(kubernetes.ROLE, "churn-irsa-role", {
        "name": "churn-irsa", "inlinePolicies": [{"name": "extra", "policy": json.dumps(
            {"Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::other/*"}]})}]})]
    assert_fails(READS, regs, "churn-irsa-role", "arn:aws:s3:::other/*")


def test_a_pod_that_serves_no_model_is_not_judged():
    no_model = serving(("spec.template.spec.containers.0.env", []),
                       read={**READ_MODEL, "Resource": "*"})
    no_model = [r if r.name != "churn-deployment" else resource(r.type, r.name, change(
        r.inputs, "spec.template.spec.initContainers.0.env", [])) for r in no_model]
    assert_passes(READS, no_model)


ALARMS = kubernetes.kubernetes_serving_alarms


@pytest.mark.parametrize(("missing_alarm", "kind"), [("churn-5xx-alarm", "5xx error"),
                                                     ("churn-latency-alarm", "latency")])
def test_a_served_deployment_without_an_alarm_fails(missing_alarm, kind):
    alarms = {name: metric for name, metric in ALARM_METRICS.items() if name != missing_alarm}
    assert_fails(ALARMS, serving(alarms=alarms), "churn-deployment", f"no {kind} alarm", "Service churn-service",
                 "alarm_actions")


def test_an_alarm_on_another_namespace_does_not_count():
    regs = [r if r.name != "churn-5xx-alarm" else resource(r.type, r.name, change(
        r.inputs, "dimensions.Namespace", "elsewhere")) for r in serving()]
    assert_fails(ALARMS, regs, "churn-deployment", "no 5xx error alarm")


def test_a_silent_alarm_fails():
    regs = [r if r.name != "churn-latency-alarm" else resource(r.type, r.name, change(
        r.inputs, "alarmActions", [])) for r in serving()]
    assert_fails(ALARMS, regs, "churn-deployment", "latency alarm churn-latency-alarm has no alarm actions")


def own_alarm(metric: str, service: str = "churn") -> dict:
    """An alarm as Observability declares it on Kubernetes: the server's own EMF metric, by namespace and Service."""
    return {"namespace": "prodline/Serving", "metricName": metric, "extendedStatistic": "p99",
            "dimensions": {"Namespace": NAMESPACE, "Service": service},
            "comparisonOperator": "GreaterThanThreshold", "threshold": 1, "alarmActions": [TOPIC]}


def test_alarms_on_the_servers_own_metrics_count():
    regs = [r for r in serving(alarms={}) if r.type != METRIC_ALARM]
    regs += [resource(METRIC_ALARM, "own-latency", own_alarm("ModelLatency")),
             resource(METRIC_ALARM, "own-5xx", own_alarm("Invocation5XXErrors"))]
    assert_passes(ALARMS, regs)


def test_an_alarm_on_the_canary_does_not_watch_the_stable_deployment():
    regs = [r for r in serving(alarms={}) if r.type != METRIC_ALARM]
    regs += [resource(METRIC_ALARM, "own-latency", own_alarm("ModelLatency")),
             resource(METRIC_ALARM, "canary-5xx", own_alarm("Invocation5XXErrors", "churn-canary"))]
    assert_fails(ALARMS, regs, "churn-deployment", "no 5xx error alarm")


def test_a_deployment_no_service_exposes_needs_no_alarms():
    assert_passes(ALARMS, serving(service=None, alarms={}))


def test_alarms_are_advisory_in_dev():
    assert [v.enforcement for v in judge(ALARMS, serving(alarms={}), environment="dev")] == ["advisory", "advisory"]


@pytest.mark.parametrize("stack", ["dev", "staging", "prod"])
def test_the_shipped_stacks_served_from_kubernetes_pass(stack):
    from policies.registry import RULES

    regs = stack_registrations(stack, *KUBERNETES)
    assert any(r.type == kubernetes.REPLICATED[0] for r in regs), "the kubernetes platform declared no Deployment"
    assert_verdict([v for rule in RULES for v in judge(rule, regs, stack)], stack, KUBERNETES)
