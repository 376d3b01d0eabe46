"""Ownership rules: every resource says who owns it, who pays for it, and which environment it belongs to.

The AWS rule asks exactly what the stack transformation (``infra/tags.py``) promises: the ownership tags
on every resource whose type takes tags, and no other. Provider ``default_tags`` count too (they show
in ``tagsAll``). Kubernetes objects carry the same facts as labels.
"""

from __future__ import annotations

from collections.abc import Mapping

from pulumi_policy import ReportViolation, ResourceValidationArgs

from policies.rule import ADVISORY_IN_DEV, ResourceRule, environment, message
from policies.rules.props import UNKNOWN, get
from standards.ownership import OWNERSHIP_TAG_KEYS, type_takes_tags

# The keys the stack transformation puts on every taggable resource.
OWNERSHIP_TAGS = OWNERSHIP_TAG_KEYS
# Kubernetes says who manages an object with app.kubernetes.io/managed-by, so the labels are the other four.
OWNERSHIP_LABELS = tuple(key for key in OWNERSHIP_TAGS if key != "managed-by")


def takes_tags(type_token: str) -> bool:
    try:
        return type_takes_tags(type_token)
    except (ValueError, ImportError):  # not a package:module:Type token, or a module this provider lacks
        return False


def _merged(*values) -> dict[str, object] | None:
    """Tag or label maps merged into one dict; None when one of them is not known yet."""
    merged: dict[str, object] = {}
    for value in values:
        if value is UNKNOWN:
            return None
        if isinstance(value, Mapping):
            merged.update({key: get(value, key) for key in value})
    return merged


def _ownership_problem(found: Mapping[str, object], keys: tuple[str, ...], env: str, kind: str) -> str | None:
    """What is wrong with a resource's ownership tags (``kind``: tag or label), or None."""
    absent = [key for key in keys if not (found.get(key) is UNKNOWN or (isinstance(found.get(key), str)
                                                                          and found.get(key) != ""))]
    if absent:
        return f"lacks the ownership {kind}s {', '.join(absent)}"
    stated = found.get("environment")
    if isinstance(stated, str) and stated != env:
        return f"has the {kind} environment={stated!r} in the {env} environment"
    return None


def _report_ownership(args: ResourceValidationArgs, report: ReportViolation, found: Mapping[str, object] | None,
                      keys: tuple[str, ...], *, kind: str, fix: str) -> None:
    problem = None if found is None else _ownership_problem(found, keys, environment(args), kind)
    if problem:
        report(message(args.name, problem,
                       "cost reports bill by these, on-call finds owners by them, and access rules select by "
                       "environment; a resource without them belongs to nobody", fix))


def _validate_tags(args: ResourceValidationArgs, report: ReportViolation) -> None:
    _report_ownership(args, report, _merged(get(args.props, "tagsAll"), get(args.props, "tags")), OWNERSHIP_TAGS,
                      kind="tag", fix="declare the resource inside the prodline program, whose stack "
                      "transformation (infra/tags.py) adds the tags from prodline:owner, prodline:costCenter and "
                      "prodline:environment; do not override them")


tags_ownership_required = ResourceRule(
    "tags-ownership-required",
    f"Requires every AWS resource that takes tags to carry the ownership tags ({', '.join(OWNERSHIP_TAGS)}), "
    "with the stack's environment.",
    _validate_tags,
    types=takes_tags,
)


def is_kubernetes_object(type_token: str) -> bool:
    return type_token.startswith("kubernetes:")


def _validate_labels(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if get(args.props, "kind") is None:
        return  # a component (a Helm chart, a YAML bundle), not an object of the API
    _report_ownership(args, report, _merged(get(args.props, "metadata.labels")), OWNERSHIP_LABELS, kind="label",
                      fix="pass ownership_labels (the ownership tags) to KubernetesServing, which labels every object "
                      "with them")


kubernetes_ownership_labels = ResourceRule(
    "kubernetes-ownership-labels",
    f"Requires every Kubernetes object to carry the ownership labels ({', '.join(OWNERSHIP_LABELS)}), with the "
    "stack's environment.",
    _validate_labels,
    types=is_kubernetes_object,
    enforcement=ADVISORY_IN_DEV,
)

RULES = (tags_ownership_required, kubernetes_ownership_labels)
