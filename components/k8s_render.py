"""Recorded ``kubernetes:*`` registrations -> plain Kubernetes manifests (YAML), with no Pulumi engine.

Under mocks each Kubernetes object arrives with its inputs already in the API's own shape (``apiVersion``,
``kind``, ``metadata``, camelCase ``spec``), so rendering is a clean-up: numbers back to integers, secrets
unwrapped, empty values dropped. The files then go to any schema validator or ``kubectl diff``.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any, Protocol

import yaml

# Pulumi's wire marker for a secret value ({SECRET_SIG: SECRET_VALUE, "value": ...}).
SECRET_SIG = "4dabf18193072939515e22adb298388d"
SECRET_VALUE = "1b47061264138c4ac30d75fd1eb44270"
# Apply order, after Helm's install order: namespaces first, workloads after what they use, ingresses last.
# `kubectl apply -f DIR` goes by file name, and the names start with this rank. Other kinds come after.
KIND_ORDER = ("Namespace", "NetworkPolicy", "ResourceQuota", "LimitRange", "PodDisruptionBudget", "ServiceAccount",
              "Secret", "ConfigMap", "Role", "RoleBinding", "Service", "Deployment", "StatefulSet",
              "HorizontalPodAutoscaler", "Job", "CronJob", "Ingress")


class RegistrationLike(Protocol):
    """The fields of ``prodline.program.Registration`` this module reads."""

    type: str
    custom: bool
    inputs: dict[str, Any]


def is_kubernetes_object(registration: RegistrationLike) -> bool:
    """Kubernetes objects, not their providers (``pulumi:providers:kubernetes``) nor component resources."""
    return registration.custom and registration.type.startswith("kubernetes:")


def manifest(inputs: dict[str, Any]) -> dict[str, Any]:
    """One object as the API server would receive it."""
    cleaned = _clean(inputs)
    ordered = {key: cleaned[key] for key in ("apiVersion", "kind", "metadata") if key in cleaned}
    return {**ordered, **{key: value for key, value in cleaned.items() if key not in ordered}}


def manifests(registrations: Iterable[RegistrationLike]) -> list[dict[str, Any]]:
    """Every Kubernetes object in apply order, then by kind, namespace and name: the same order every run."""
    rank = {kind: i for i, kind in enumerate(KIND_ORDER)}

    def key(obj: dict[str, Any]) -> tuple:
        meta = obj.get("metadata", {})
        kind = obj.get("kind", "")
        return rank.get(kind, len(KIND_ORDER)), kind, meta.get("namespace", ""), meta.get("name", "")

    return sorted((manifest(r.inputs) for r in registrations if is_kubernetes_object(r)), key=key)


def write_manifests(registrations: Iterable[RegistrationLike], out_dir: str | Path) -> list[Path]:
    """Write one YAML file per object into out_dir (created if missing); return the paths in apply order.

    Names are ``NNN-<kind>-<namespace>-<name>.yaml``, so ``kubectl apply -f out_dir`` keeps that order.
    Existing files with other names are left alone.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for index, obj in enumerate(manifests(registrations)):
        meta = obj.get("metadata", {})
        parts = [f"{index:03d}", obj.get("kind", "object").lower(), meta.get("namespace"), meta.get("name")]
        path = out / ("-".join(str(p) for p in parts if p) + ".yaml")
        path.write_text(yaml.safe_dump(obj, sort_keys=False, default_flow_style=False))
        paths.append(path)
    return paths


def _clean(value: Any) -> Any:
    if isinstance(value, dict):
        if value.get(SECRET_SIG) == SECRET_VALUE:
            return _clean(value.get("value"))
        # Sorted keys: the wire format has no order, and the files must not change from run to run.
        cleaned = {key: _clean(value[key]) for key in sorted(value)}
        return {key: item for key, item in cleaned.items() if item is not None}
    if isinstance(value, list | tuple):
        return [_clean(item) for item in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)  # the Pulumi wire format has only floats; ports and replicas must be integers
    return value
