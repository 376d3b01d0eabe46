"""Recorded ``kubernetes:*`` registrations -> plain Kubernetes manifests (YAML), with no Pulumi engine.

Under mocks each Kubernetes object arrives with its inputs already in the API's own shape (``apiVersion``,
``kind``, ``metadata``, camelCase ``spec``), so rendering is a clean-up: numbers back to integers, secrets
unwrapped, empty values dropped. The files then go to any schema validator or ``kubectl diff``.
"""

from __future__ import annotations

import os
import re
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
# The list of files the last write_manifests put in a directory, so the next run removes the ones it no longer
# writes and nothing else. No .yaml/.json suffix: `kubectl apply -f DIR` reads only those.
WRITTEN_LIST = ".prodline-manifests"
_WRITTEN_HEADER = "# Kubernetes manifests written here by `prodline preview --k8s-yaml`; the next run replaces them.\n"
# What write_manifests names a file; a name in WRITTEN_LIST must match it, so the list cannot point elsewhere.
_MANIFEST_NAME = re.compile(r"\d{3}-[A-Za-z0-9][A-Za-z0-9._-]*\.yaml")


class ManifestDirError(ValueError):
    """The manifest directory cannot be used (it is a file, or is under one)."""


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


def check_manifest_dir(out_dir: str | Path) -> Path:
    """The directory to write into, refused when it or a parent is an existing file (before any work is done)."""
    out = Path(out_dir)
    for path in (out, *out.parents):
        if path.exists() and not path.is_dir():
            what = "is" if path == out else f"is under {path}, which is"
            raise ManifestDirError(f"{out} {what} an existing file, not a directory; give a directory for the "
                                   "manifests (created if missing)")
    return out


def write_manifests(registrations: Iterable[RegistrationLike], out_dir: str | Path) -> list[Path]:
    """Write one YAML file per object into out_dir (created if missing); return the paths in apply order.

    Names are ``NNN-<kind>-<namespace>-<name>.yaml``, so ``kubectl apply -f out_dir`` keeps that order.
    Files an earlier run wrote (listed in WRITTEN_LIST) and this one does not are removed, so the directory
    never applies an object the program no longer declares; every other file is left alone.
    """
    out = check_manifest_dir(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rendered = {}
    for index, obj in enumerate(manifests(registrations)):
        meta = obj.get("metadata", {})
        parts = [f"{index:03d}", obj.get("kind", "object").lower(), meta.get("namespace"), meta.get("name")]
        rendered[out / ("-".join(str(p) for p in parts if p) + ".yaml")] = obj
    before = _written_before(out)
    # List old and new first: a run cut short here leaves nothing the next run would not recognise as its own.
    _write_list(out, before | {path.name for path in rendered})
    for path, obj in rendered.items():
        _replace(path, yaml.safe_dump(obj, sort_keys=False, default_flow_style=False))
    for name in sorted(before - {path.name for path in rendered}):
        stale = out / name
        if stale.is_file() or stale.is_symlink():
            stale.unlink()
    _write_list(out, {path.name for path in rendered})
    return list(rendered)


def _written_before(out: Path) -> set[str]:
    """Names WRITTEN_LIST records; anything that is not a manifest name this module makes is ignored."""
    listed = out / WRITTEN_LIST
    if not listed.is_file():
        return set()
    return {line for line in listed.read_text().splitlines() if _MANIFEST_NAME.fullmatch(line)}


def _write_list(out: Path, names: set[str]) -> None:
    _replace(out / WRITTEN_LIST, _WRITTEN_HEADER + "".join(f"{name}\n" for name in sorted(names)))


def _replace(path: Path, text: str) -> None:
    """Write aside, then rename over ``path``: a reader sees the old file or the new one, and a symlink at
    ``path`` is replaced rather than followed out of the directory."""
    aside = path.with_name(f".{path.name}.tmp")
    aside.unlink(missing_ok=True)  # a link left there would otherwise be followed
    aside.write_text(text)
    os.replace(aside, path)


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
