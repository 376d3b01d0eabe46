"""Kubernetes rules: pods run locked down, bounded, probed and pinned; replicated prod workloads survive drains.

Rules read objects in the API's own shape (``apiVersion``, ``kind``, ``metadata``, camelCase ``spec``),
which is how Pulumi's Kubernetes provider hands them over, wherever the pod template sits in the kind
(``spec.template.spec`` for a Deployment, ``spec.jobTemplate.spec.template.spec`` for a CronJob).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from pulumi_policy import PolicyResource, ReportViolation, ResourceValidationArgs, StackValidationArgs

from policies.rule import ADVISORY_IN_DEV, PROD_ONLY, ResourceRule, StackRule, message
from policies.rules import links
from policies.rules.props import UNKNOWN, get, is_false, is_true, items, missing, number, strings

# Kind -> where its pod spec is.
POD_SPECS = {
    "kubernetes:apps/v1:Deployment": "spec.template.spec",
    "kubernetes:apps/v1:StatefulSet": "spec.template.spec",
    "kubernetes:apps/v1:DaemonSet": "spec.template.spec",
    "kubernetes:apps/v1:ReplicaSet": "spec.template.spec",
    "kubernetes:batch/v1:Job": "spec.template.spec",
    "kubernetes:batch/v1:CronJob": "spec.jobTemplate.spec.template.spec",
    "kubernetes:core/v1:Pod": "spec",
}
# Long-running workloads: the ones probes and disruption budgets are about.
SERVICES = ("kubernetes:apps/v1:Deployment", "kubernetes:apps/v1:StatefulSet", "kubernetes:apps/v1:DaemonSet",
            "kubernetes:apps/v1:ReplicaSet")
REPLICATED = ("kubernetes:apps/v1:Deployment", "kubernetes:apps/v1:StatefulSet")
HPAS = ("kubernetes:autoscaling/v2:HorizontalPodAutoscaler", "kubernetes:autoscaling/v1:HorizontalPodAutoscaler")
PDBS = ("kubernetes:policy/v1:PodDisruptionBudget",)
COMPONENT = "KubernetesServing"


def pod_spec(props: Mapping[str, Any], type_token: str) -> Any:
    return get(props, POD_SPECS[type_token])


def containers(spec: Any, *, init: bool = True) -> Iterator[tuple[str, Mapping[str, Any]]]:
    """(description, container) for each app container and, with ``init``, each init container."""
    kinds = ("containers", "initContainers") if init else ("containers",)
    for kind in kinds:
        for container in items(get(spec, kind)):
            if isinstance(container, Mapping):
                prefix = "init container" if kind == "initContainers" else "container"
                yield f"{prefix} {get(container, 'name')!s}", container


def _each_container(check, *, init: bool = True):
    """A resource validation that runs ``check(args, pod spec, where, container)`` on every container."""

    def validate(args: ResourceValidationArgs, report: ReportViolation) -> None:
        spec = pod_spec(args.props, args.resource_type)
        if spec is UNKNOWN:
            return
        for where, container in containers(spec, init=init):
            for problem, why, fix in check(spec, container):
                report(message(f"{args.name} {where}", problem, why, fix))

    return validate


def _effective(spec: Any, container: Mapping[str, Any], key: str) -> Any:
    """A security setting as Kubernetes applies it: the container's, else the pod's."""
    own = get(container, f"securityContext.{key}")
    return own if own is not None else get(spec, f"securityContext.{key}")


def _check_non_root(spec: Any, container: Mapping[str, Any]):
    user, non_root = _effective(spec, container, "runAsUser"), _effective(spec, container, "runAsNonRoot")
    why = "a process running as root inside the container is one kernel bug away from root on the node"
    fix = f"set securityContext.runAsNonRoot=true with a non-zero runAsUser ({COMPONENT} runs as the image's user)"
    if number(user) == 0:
        yield "runs as user 0 (root)", why, fix
    elif non_root is not UNKNOWN and not is_true(non_root):
        yield "does not require runAsNonRoot", why, fix


kubernetes_run_as_non_root = ResourceRule(
    "kubernetes-run-as-non-root",
    "Requires every container, init containers included, to run as a non-root user.",
    _each_container(_check_non_root),
    types=list(POD_SPECS),
)


def _check_escalation(spec: Any, container: Mapping[str, Any]):
    why = "a privileged or escalating process can gain the node's capabilities and reach other pods' data"
    fix = f"set securityContext.allowPrivilegeEscalation=false and leave privileged unset ({COMPONENT} does)"
    if is_true(get(container, "securityContext.privileged")):
        yield "runs privileged", why, fix
    escalation = get(container, "securityContext.allowPrivilegeEscalation")
    if escalation is not UNKNOWN and not is_false(escalation):
        yield ("may escalate privileges (allowPrivilegeEscalation is not false; Kubernetes defaults it to true)",
               why, fix)


kubernetes_no_privilege_escalation = ResourceRule(
    "kubernetes-no-privilege-escalation",
    "Prohibits privileged containers and containers that may escalate privileges.",
    _each_container(_check_escalation),
    types=list(POD_SPECS),
)


def _check_limits(spec: Any, container: Mapping[str, Any]):
    limits = get(container, "resources.limits")
    if limits is UNKNOWN:
        return
    absent = [kind for kind in ("cpu", "memory") if missing(get(limits, kind) if limits is not None else None)]
    if absent:
        yield (f"has no {' or '.join(absent)} limit",
               "one container with a leak or a runaway loop would starve every pod on its node",
               f"set resources.limits.cpu and .memory ({COMPONENT}'s cpu_limit and memory_limit)")


kubernetes_resource_limits = ResourceRule(
    "kubernetes-resource-limits",
    "Requires every container, init containers included, to set CPU and memory limits.",
    _each_container(_check_limits),
    types=list(POD_SPECS),
)


def _check_probes(spec: Any, container: Mapping[str, Any]):
    for probe, why in (("readinessProbe", "traffic would reach a pod before its model is loaded"),
                       ("livenessProbe", "a hung server would never be restarted")):
        if get(container, probe) is None:
            yield (f"has no {probe}", why, f"probe the server's health path ({COMPONENT} probes GET /ping)")


kubernetes_probes = ResourceRule(
    "kubernetes-probes",
    "Requires every container of a long-running workload to have readiness and liveness probes.",
    _each_container(_check_probes, init=False),
    types=SERVICES,
    enforcement=ADVISORY_IN_DEV,
)


def image_problem(image: str) -> str | None:
    """Why an image reference is not pinned, or None when it names a digest or an exact tag."""
    if "@sha256:" in image:
        return None
    last = image.rsplit("/", 1)[-1]
    if ":" not in last:
        return f"uses image {image!r} with no tag, which means latest"
    if last.rsplit(":", 1)[1] == "latest":
        return f"uses image {image!r}"
    return None


def _check_image(spec: Any, container: Mapping[str, Any]):
    image = get(container, "image")
    problem = image_problem(image) if isinstance(image, str) else None
    if problem:
        yield (problem, "latest moves: a pod restarted tomorrow runs an image nobody reviewed, and a rollback "
                        "cannot return to what ran before",
               "reference an immutable tag or a digest (<repo>:<version> or <repo>@sha256:...)")


kubernetes_image_pinned = ResourceRule(
    "kubernetes-image-pinned",
    "Prohibits container images without a tag or with the latest tag.",
    _each_container(_check_image),
    types=list(POD_SPECS),
)


# --- disruption budgets -----------------------------------------------------------------------------

def namespace(resource: PolicyResource) -> Any:
    value = get(resource.props, "metadata.namespace")
    return "default" if value is None else value


def _same_namespace(a: PolicyResource, b: PolicyResource) -> bool:
    first, second = namespace(a), namespace(b)
    return first is UNKNOWN or second is UNKNOWN or first == second


def selects(selector: Any, labels: Mapping[str, Any]) -> bool:
    """Whether a label selector (matchLabels and matchExpressions) selects pods with these labels."""
    if selector is UNKNOWN:
        return True
    if not isinstance(selector, Mapping) or not selector:
        return False
    match = get(selector, "matchLabels") or {}
    if match is UNKNOWN:
        return True
    if any(get(labels, key) != get(match, key) for key in match):
        return False
    for expression in items(get(selector, "matchExpressions")):
        key, operator, values = get(expression, "key"), get(expression, "operator"), strings(get(expression, "values"))
        present = isinstance(key, str) and key in labels
        held = {"In": present and get(labels, key) in values, "NotIn": not present or get(labels, key) not in values,
                "Exists": present, "DoesNotExist": not present}.get(operator, False)
        if not held:
            return False
    return True


def _replicated(stack: StackValidationArgs, workload: PolicyResource) -> bool:
    """More than one pod: replicas >= 2, or an autoscaler that may scale it beyond one."""
    replicas = number(get(workload.props, "spec.replicas"))
    if replicas is not None and replicas >= 2:
        return True
    name = get(workload.props, "metadata.name")
    kind = workload.resource_type.rsplit(":", 1)[-1]
    for hpa in links.of_type(stack.resources, *HPAS):
        target = get(hpa.props, "spec.scaleTargetRef")
        if not _same_namespace(hpa, workload) or get(target, "kind") not in (kind, UNKNOWN):
            continue
        target_name = get(target, "name")
        named = target_name == name if isinstance(target_name, str) else links.refers_to(hpa, "spec", workload, [])
        most = number(get(hpa.props, "spec.maxReplicas"))
        if named and (most is None or most >= 2):
            return True
    return False


def _disruption_budgets(args: StackValidationArgs, report: ReportViolation) -> None:
    budgets = links.of_type(args.resources, *PDBS)
    for workload in links.of_type(args.resources, *REPLICATED):
        if not _replicated(args, workload):
            continue
        labels = get(workload.props, "spec.template.metadata.labels")
        if labels is UNKNOWN:
            continue
        labels = labels if isinstance(labels, Mapping) else {}
        if not any(_same_namespace(pdb, workload) and selects(get(pdb.props, "spec.selector"), labels)
                   for pdb in budgets):
            report(message(workload.name, "runs several replicas with no PodDisruptionBudget selecting its pods",
                           "a node drain or cluster upgrade may then evict every replica at once and take the "
                           "service down",
                           f"pass disruption_budget (for example {{'min_available': 1}}) to {COMPONENT}, or declare a "
                           "PodDisruptionBudget whose selector matches the pod template's labels"), workload.urn)


kubernetes_disruption_budget = StackRule(
    "kubernetes-disruption-budget",
    "Requires every replicated prod Deployment or StatefulSet to be covered by a PodDisruptionBudget.",
    _disruption_budgets,
    enforcement=PROD_ONLY,
)

RULES = (kubernetes_run_as_non_root, kubernetes_no_privilege_escalation, kubernetes_resource_limits,
         kubernetes_probes, kubernetes_image_pinned, kubernetes_disruption_budget)
