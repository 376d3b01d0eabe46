"""Kubernetes rules on objects in the API's shape (camelCase, as the provider hands them over), built like
KubernetesServing builds them; then on the shipped stacks served from Kubernetes."""

from __future__ import annotations

import pytest

from policies.rules import kubernetes
from tests.helpers import stack_registrations
from tests.policies.cases import DELETE, assert_fails, assert_passes, change, judge, resource

NAMESPACE = "churn-serving"
SELECTOR = {"app.kubernetes.io/name": "churn", "track": "stable"}
LOCKED = {"runAsNonRoot": True, "runAsUser": 10001, "allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
          "capabilities": {"drop": ["ALL"]}}
RESOURCES = {"requests": {"cpu": "250m", "memory": "512Mi"}, "limits": {"cpu": "1", "memory": "1Gi"}}
PROBE = {"httpGet": {"path": "/ping", "port": 8080}, "periodSeconds": 10}
IMAGE = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/prodline/serving:1.4.0"
POD = {
    "serviceAccountName": "churn",
    "securityContext": {"runAsNonRoot": True, "runAsUser": 10001, "fsGroup": 10001},
    "initContainers": [{"name": "fetch-model", "image": IMAGE, "args": ["fetch-model"], "resources": RESOURCES,
                        "securityContext": LOCKED}],
    "containers": [{"name": "server", "image": IMAGE, "args": ["serve"], "resources": RESOURCES,
                    "securityContext": LOCKED, "readinessProbe": PROBE, "livenessProbe": PROBE}],
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


def serving(deployment_change=None, *, hpa=HPA, pdb=PDB):
    deployment = change(DEPLOYMENT, *deployment_change) if deployment_change else DEPLOYMENT
    regs = [resource(kubernetes.REPLICATED[0], "churn-deployment", deployment)]
    regs += [resource(kubernetes.HPAS[0], "churn-hpa", hpa)] if hpa else []
    regs += [resource(kubernetes.PDBS[0], "churn-pdb", pdb)] if pdb else []
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


@pytest.mark.parametrize("stack", ["dev", "staging", "prod"])
def test_the_shipped_stacks_served_from_kubernetes_pass(stack):
    from policies.registry import RULES

    regs = stack_registrations(stack, "prodline:servingPlatform=kubernetes")
    assert any(r.type == kubernetes.REPLICATED[0] for r in regs), "the kubernetes platform declared no Deployment"
    for rule in RULES:
        assert_passes(rule, regs, environment=stack)
