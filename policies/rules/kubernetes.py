"""Kubernetes rules: pods run locked down, bounded, probed and pinned; replicated prod workloads survive drains;
pods reach only what they need; served models are watched by alarms and read with a role scoped to them.

Rules read objects in the API's own shape (``apiVersion``, ``kind``, ``metadata``, camelCase ``spec``),
which is how Pulumi's Kubernetes provider hands them over, wherever the pod template sits in the kind
(``spec.template.spec`` for a Deployment, ``spec.jobTemplate.spec.template.spec`` for a CronJob).
"""

from __future__ import annotations

import fnmatch
import ipaddress
import re
from collections.abc import Iterator, Mapping
from typing import Any

from pulumi_policy import PolicyResource, ReportViolation, ResourceValidationArgs, StackValidationArgs

from policies.rule import ADVISORY_IN_DEV, PROD_ONLY, ResourceRule, StackRule, message
from policies.rules import links
from policies.rules.cloudwatch import METRIC_ALARM, alarm_metrics, report_alarm_gap
from policies.rules.props import (
    UNKNOWN,
    allow_statements,
    entry,
    get,
    is_false,
    is_true,
    items,
    label,
    missing,
    number,
    strings,
)
from workloads.s3_uri import objects_beside

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
SERVICE = "kubernetes:core/v1:Service"
SERVICE_ACCOUNT = "kubernetes:core/v1:ServiceAccount"
NETWORK_POLICY = "kubernetes:networking.k8s.io/v1:NetworkPolicy"
ROLE, ROLE_POLICY = "aws:iam/role:Role", "aws:iam/rolePolicy:RolePolicy"
IRSA_ANNOTATION = "eks.amazonaws.com/role-arn"
MODEL_ENV = "MODEL_S3_URI"
"""Where the serving image's init container reads the model from (docker/fetch_model.py)."""
COMPONENT = "KubernetesServing"


def pod_spec(props: Mapping[str, Any], type_token: str) -> Any:
    return get(props, POD_SPECS[type_token])


def pod_labels(props: Mapping[str, Any], type_token: str) -> Any:
    """The labels of a workload's pods (its pod template's, or a Pod's own); UNKNOWN while not known."""
    labels = get(props, POD_SPECS[type_token].removesuffix("spec") + "metadata.labels")
    return labels if labels is UNKNOWN or isinstance(labels, Mapping) else {}


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


def _check_read_only_root(spec: Any, container: Mapping[str, Any]):
    value = get(container, "securityContext.readOnlyRootFilesystem")
    if value is not UNKNOWN and not is_true(value):
        yield ("may write to its root filesystem (readOnlyRootFilesystem is not true)",
               "a compromised process could then replace the image's code or tools in place, and the change would "
               "survive until the pod is replaced",
               f"set securityContext.readOnlyRootFilesystem=true and mount an emptyDir where it must write "
               f"({COMPONENT} and the drift CronJob mount one at /tmp)")


kubernetes_read_only_root_filesystem = ResourceRule(
    "kubernetes-read-only-root-filesystem",
    "Requires every container, init containers and CronJob containers included, to run with a read-only root "
    "filesystem.",
    _each_container(_check_read_only_root),
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


def matches_labels(match: Any, labels: Any) -> bool:
    """Whether every key of a label map (a matchLabels, a Service's selector) has the same value in ``labels``.

    Label keys hold dots (``app.kubernetes.io/name``): they are looked up whole (``entry``), never as a path.
    """
    return isinstance(match, Mapping) and all(entry(labels, key) == entry(match, key) for key in match)


def selects(selector: Any, labels: Mapping[str, Any]) -> bool:
    """Whether a label selector (matchLabels and matchExpressions) selects pods with these labels."""
    if selector is UNKNOWN:
        return True
    if not isinstance(selector, Mapping) or not selector:
        return False
    match = get(selector, "matchLabels") or {}
    if match is UNKNOWN:
        return True
    if not matches_labels(match, labels):
        return False
    for expression in items(get(selector, "matchExpressions")):
        key, operator, values = get(expression, "key"), get(expression, "operator"), strings(get(expression, "values"))
        present = isinstance(key, str) and key in labels
        value = entry(labels, key) if present else None
        held = {"In": present and value in values, "NotIn": not present or value not in values,
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
        labels = pod_labels(workload.props, workload.resource_type)
        if labels is UNKNOWN:
            continue
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

# --- network egress ---------------------------------------------------------------------------------

CREDENTIAL_ADDRESSES = tuple(ipaddress.ip_address(a) for a in (
    "169.254.169.254", "fd00:ec2::254",   # EC2 instance metadata: the node's IAM role
    "169.254.170.23", "fd00:ec2::23",     # EKS Pod Identity Agent: credentials of pod identity associations
))


def _selects_pods(policy: PolicyResource, workload: PolicyResource, labels: Mapping[str, Any]) -> bool:
    """Whether a NetworkPolicy applies to a workload's pods (an empty podSelector selects its whole namespace)."""
    if not _same_namespace(policy, workload):
        return False
    selector = get(policy.props, "spec.podSelector")
    if selector is None or (isinstance(selector, Mapping) and not any(
            get(selector, key) for key in ("matchLabels", "matchExpressions"))):
        return True
    return selects(selector, labels)


def _limits_egress(policy: PolicyResource) -> bool:
    """Kubernetes limits a selected pod's egress when a policy lists Egress (or, listing no types, has egress rules)."""
    types = get(policy.props, "spec.policyTypes")
    if types is UNKNOWN:
        return True
    return "Egress" in strings(types) if types is not None else get(policy.props, "spec.egress") is not None


def _credential_address_reached(block: Any) -> str | None:
    """A credentials address an ipBlock lets through (inside its cidr, outside its excepts), or None."""
    cidr = get(block, "cidr") if isinstance(block, Mapping) else None
    if not isinstance(cidr, str):
        return None
    try:
        network = ipaddress.ip_network(cidr, strict=False)
        excepted = [ipaddress.ip_network(e, strict=False) for e in strings(get(block, "except"))]
    except ValueError:
        return None
    for address in CREDENTIAL_ADDRESSES:
        if address in network and not any(address in e for e in excepted):
            return str(address)
    return None


def _egress_problems(policy: PolicyResource) -> Iterator[str]:
    for index, rule in enumerate(items(get(policy.props, "spec.egress"))):
        where = f"egress rule #{index + 1}"
        if missing(get(rule, "ports")):
            yield f"{where} allows every port"
        peers = get(rule, "to")
        if missing(peers):
            yield f"{where} allows every destination, the instance metadata address 169.254.169.254 included"
            continue
        for peer in items(peers):
            reached = _credential_address_reached(get(peer, "ipBlock"))
            if reached:
                yield f"{where} reaches {reached} (its ipBlock {get(peer, 'ipBlock.cidr')} does not except it)"


EGRESS_WHY = ("a pod that may connect anywhere can ask the instance metadata service (169.254.169.254) or the EKS Pod "
              "Identity Agent (169.254.170.23) for credentials other than its own role's, and send data anywhere")
EGRESS_FIX = ("select the pods with a NetworkPolicy that lists Egress and allows only DNS to the cluster DNS pods and "
              "TCP 443 to 0.0.0.0/0 except 169.254.169.254/32 and 169.254.170.23/32 (KubernetesServing's does)")


def _network_egress(args: StackValidationArgs, report: ReportViolation) -> None:
    policies = links.of_type(args.resources, NETWORK_POLICY)
    for workload in links.of_type(args.resources, *POD_SPECS):
        labels = pod_labels(workload.props, workload.resource_type)
        if labels is UNKNOWN:
            continue
        if not any(_limits_egress(p) and _selects_pods(p, workload, labels) for p in policies):
            report(message(workload.name, "may connect anywhere: no NetworkPolicy selecting its pods limits egress",
                           EGRESS_WHY, EGRESS_FIX), workload.urn)
    for policy in policies:
        if _limits_egress(policy):
            for problem in _egress_problems(policy):
                report(message(policy.name, problem, EGRESS_WHY, EGRESS_FIX), policy.urn)


kubernetes_network_egress_restricted = StackRule(
    "kubernetes-network-egress-restricted",
    "Requires every pod to be selected by a NetworkPolicy that limits its egress, each egress rule naming its ports "
    "and destinations and none reaching the instance metadata (169.254.169.254) or EKS Pod Identity (169.254.170.23) "
    "addresses.",
    _network_egress,
)


# --- what a serving pod's role may read --------------------------------------------------------------

OBJECT_READS = ("s3:getobject", "s3:getobjectversion")
_S3_OBJECTS = re.compile(r"arn:[a-z-]+:s3:::(?P<path>.+)")


def served_objects(url: str) -> str | None:
    """``bucket/folder/*`` of a model URL: what its pod may read (``bucket/key`` at the top of a bucket), or None."""
    try:
        bucket, pattern = objects_beside(url)
    except ValueError:
        return None
    return f"{bucket}/{pattern}"


def _served_models(spec: Any) -> list[str]:
    """What a pod may read of the models it serves (its containers' MODEL_S3_URI), where known."""
    found = []
    for _, container in containers(spec):
        for variable in items(get(container, "env")):
            value = get(variable, "value")
            if get(variable, "name") == MODEL_ENV and isinstance(value, str) and (objects := served_objects(value)):
                found.append(objects)
    return found


def _named_by_arn(arn: Any, resource: PolicyResource, kind: str) -> bool:
    """Whether an IAM ARN names a resource: by its ARN, or (that unknown during preview) by its name."""
    name = get(resource.props, "name")
    return isinstance(arn, str) and (arn in links.identities(resource)
                                     or (isinstance(name, str) and arn.endswith(f":{kind}/{name}")))


def _pod_roles(stack: StackValidationArgs, workload: PolicyResource, spec: Any) -> list[PolicyResource]:
    """The IAM roles a workload's pods assume: their service account's IRSA annotation."""
    account = get(spec, "serviceAccountName")
    account = "default" if account is None else account
    roles = []
    for sa in links.of_type(stack.resources, SERVICE_ACCOUNT):
        if not _same_namespace(sa, workload) or get(sa.props, "metadata.name") not in (account, UNKNOWN):
            continue
        arn = entry(get(sa.props, "metadata.annotations"), IRSA_ANNOTATION)
        roles += [role for role in links.of_type(stack.resources, ROLE)
                  if _named_by_arn(arn, role, "role") or links.refers_to(sa, "metadata", role, [])]
    return roles


def _role_documents(stack: StackValidationArgs, role: PolicyResource) -> Iterator[tuple[PolicyResource, Any]]:
    """(the resource declaring it, document) for each policy a role holds: inline, RolePolicy, attached."""
    for inline in items(get(role.props, "inlinePolicies")):
        yield role, get(inline, "policy")
    for policy in links.referring(stack.resources, [ROLE_POLICY], "role", role):
        yield policy, get(policy.props, "policy")
    for attachment in links.referring(stack.resources, ["aws:iam/rolePolicyAttachment:RolePolicyAttachment"],
                                      "role", role):
        for managed in links.of_type(stack.resources, "aws:iam/policy:Policy"):
            if links.refers_to(attachment, "policyArn", managed):
                yield managed, get(managed.props, "policy")


def _reads_objects(statement: Mapping[str, Any]) -> bool:
    return any(fnmatch.fnmatchcase(read, action.lower())
               for action in strings(get(statement, "Action")) for read in OBJECT_READS)


def _inside(resource: str, allowed: set[str]) -> bool:
    """Whether an S3 resource ARN (or pattern) names only objects that one of the ``allowed`` patterns covers."""
    match = _S3_OBJECTS.fullmatch(resource)
    return bool(match) and any(match["path"].startswith(a.removesuffix("*")) if a.endswith("/*") else match["path"] == a
                               for a in allowed)


def _serving_role_reads(args: StackValidationArgs, report: ReportViolation) -> None:
    served: dict[str, tuple[PolicyResource, set[str], list[str]]] = {}
    for workload in links.of_type(args.resources, *POD_SPECS):
        spec = pod_spec(workload.props, workload.resource_type)
        allowed = _served_models(spec) if spec is not UNKNOWN else []
        for role in _pod_roles(args, workload, spec) if allowed else []:
            _, readable, readers = served.setdefault(role.urn, (role, set(), []))
            readable.update(allowed)
            readers.append(workload.name)
    for role, allowed, workloads in served.values():
        for source, document in _role_documents(args, role):
            for index, statement in enumerate(allow_statements(document)):
                if not _reads_objects(statement):
                    continue
                outside = [r for r in strings(get(statement, "Resource")) if not _inside(r, allowed)]
                outside += ["every object but its NotResource"] if get(statement, "NotResource") is not None else []
                if outside:
                    report(message(source.name, f"{label(get(statement, 'Sid'), index)} lets the pods of "
                                                f"{', '.join(workloads)} read {outside[0]}, outside the folder of "
                                                f"the model they serve ({sorted(allowed)[0]})",
                                   "a pod needs its own model only; anything more is what an attacker in the pod "
                                   "reads too (other models, training data, other teams' artifacts)",
                                   f"grant s3:GetObject on <bucket ARN>/<model folder>/* only ({COMPONENT} derives it "
                                   "from model_data_url)"), source.urn)


kubernetes_serving_role_reads_only_its_model = StackRule(
    "kubernetes-serving-role-reads-only-its-model",
    f"Requires the IAM role of a serving pod (IRSA) to read S3 objects only in the folder of the model the pod serves "
    f"(its {MODEL_ENV}).",
    _serving_role_reads,
)


# --- alarms on what pods serve -----------------------------------------------------------------------

ALARM_KINDS = {"5xx error": ("5xx",), "latency": ("latency", "duration")}
"""Alarm kind -> what the metric's name contains (case-insensitively)."""


def _exposing_services(stack: StackValidationArgs, workload: PolicyResource, labels: Any) -> list[PolicyResource]:
    """Services whose selector picks the workload's pods: what makes a workload a served one."""
    found = []
    for service in links.of_type(stack.resources, SERVICE):
        selector = get(service.props, "spec.selector")
        if labels is UNKNOWN or selector is UNKNOWN:
            named = links.refers_to(service, "spec", workload, [])
        else:
            named = bool(selector) and matches_labels(selector, labels)
        if named and _same_namespace(service, workload):
            found.append(service)
    return found


def _watches(alarm: PolicyResource, kind: str, namespace: Any, names: set[str], targets: list[PolicyResource]) -> bool:
    """Whether an alarm is of a kind (by metric name) and its dimensions name the namespace and the workload or one
    of its Services (Container Insights' Namespace and Service, or the same on the server's own metrics)."""
    for key, _, metric, dimensions in alarm_metrics(alarm):
        if isinstance(metric, str) and not any(word in metric.lower() for word in ALARM_KINDS[kind]):
            continue
        if dimensions is UNKNOWN or metric is UNKNOWN:
            if any(links.refers_to(alarm, key, target, []) for target in targets):
                return True
            continue
        values = set(strings(dimensions))
        if values & names and (namespace is UNKNOWN or namespace in values):
            return True
    return False


def _serving_alarms(args: StackValidationArgs, report: ReportViolation) -> None:
    alarms = links.of_type(args.resources, METRIC_ALARM)
    for workload in links.of_type(args.resources, *REPLICATED):
        services = _exposing_services(args, workload, pod_labels(workload.props, workload.resource_type))
        if not services:
            continue
        names = {n for r in (workload, *services) if isinstance(n := get(r.props, "metadata.name"), str)}
        for kind in ALARM_KINDS:
            watching = [a for a in alarms if _watches(a, kind, namespace(workload), names, [workload, *services])]
            report_alarm_gap(report, workload, kind, watching, (
                f"serves through Service {services[0].name} with no {kind} alarm",
                "a failing or slow model on Kubernetes would go unnoticed, and a canary would have nothing to roll "
                "back on",
                f"declare a CloudWatch alarm on the server's {kind} metric whose dimensions name the namespace and "
                "the Deployment or Service, with alarm_actions to the alert topic"))


kubernetes_serving_alarms = StackRule(
    "kubernetes-serving-alarms",
    "Requires every Deployment or StatefulSet behind a Service to have a 5xx error alarm and a latency alarm, each "
    "with alarm actions, as sagemaker-endpoint-alarms requires of SageMaker endpoints.",
    _serving_alarms,
    enforcement=ADVISORY_IN_DEV,
)

RULES = (kubernetes_run_as_non_root, kubernetes_no_privilege_escalation, kubernetes_read_only_root_filesystem,
         kubernetes_resource_limits, kubernetes_probes, kubernetes_image_pinned, kubernetes_disruption_budget,
         kubernetes_network_egress_restricted, kubernetes_serving_role_reads_only_its_model, kubernetes_serving_alarms)
