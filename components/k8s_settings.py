"""Arguments of ``KubernetesServing`` and their validation: pure, so tests and config checks run without Pulumi.

Kept apart from the component so the rules (names Kubernetes accepts, quantities that mean what they
say, a disruption budget that still lets nodes drain) read as one list.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any, NotRequired, TypedDict

import pulumi

if TYPE_CHECKING:
    import pulumi_kubernetes as k8s

    from components.data_lake import LakeRefs

# Set by the component (the model, the server's metrics and capture); ``environment`` may not override them.
RESERVED_ENV = ("MODEL_S3_URI", "SM_MODEL_DIR", "PRODLINE_METRICS_NAMESPACE", "PRODLINE_METRICS_DIMENSIONS",
                "PRODLINE_MODEL_VERSION", "PRODLINE_CAPTURE_DESTINATION", "PRODLINE_CAPTURE_ENDPOINT",
                "PRODLINE_CAPTURE_VARIANT", "PRODLINE_CAPTURE_PERCENT")
# Labels every object carries; ownership_labels must supply these keys (values are the AWS ownership tags).
OWNERSHIP_LABEL_KEYS = ("owner", "cost-center", "environment", "project")
DEFAULTS: dict[str, Any] = {
    "min_replicas": 1,
    "max_replicas": 2,
    "cpu_target_percent": 70,
    "requests_per_second_metric": "http_requests_per_second",
    "cpu_request": "250m",
    "cpu_limit": "1",
    "memory_request": "512Mi",
    "memory_limit": "1Gi",
    "model_volume_size": "1Gi",
    "spread_across_zones": False,
    "ingress_class_name": "nginx",
}
# A DNS-1035 label (what Service names must be), short enough for the "-canary" suffix.
_NAME = re.compile(r"[a-z]([-a-z0-9]{0,54}[a-z0-9])?")
_NAMESPACE = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")
_LABEL_VALUE = re.compile(r"([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?")
_HOST = re.compile(r"([a-z0-9]([-a-z0-9]*[a-z0-9])?\.)+[a-z]{2,63}")
# An image digest as registries print it (`docker buildx imagetools inspect`); only sha256 is in use.
_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")
DIGEST_FORMAT = "sha256: followed by 64 lowercase hex digits"
_QUANTITY = re.compile(r"(\d+(?:\.\d+)?)(m|k|M|G|T|Ki|Mi|Gi|Ti)?")
_SCALE = {None: 1.0, "m": 1e-3, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12,
          "Ki": 2.0**10, "Mi": 2.0**20, "Gi": 2.0**30, "Ti": 2.0**40}


class DisruptionBudget(TypedDict):
    """Give exactly one: pods that must stay up, or pods a voluntary disruption (node drain) may take."""

    min_available: NotRequired[int]
    max_unavailable: NotRequired[int]


class Canary(TypedDict):
    image: pulumi.Input[str]
    """The new image; it serves ``weight`` percent of the ingress traffic."""
    image_digest: NotRequired[str]
    """Its digest, as ``image_digest`` is the stable image's."""
    weight: int
    """1-99: ingress-nginx's ``canary-weight``."""
    replicas: NotRequired[int]
    """Defaults to 1; the canary is not autoscaled."""


class Capture(TypedDict):
    """Where the server writes the requests and answers it scored, in SageMaker's data-capture layout."""

    bucket: pulumi.Input[str]
    """The lake's raw bucket (SageMaker endpoints capture there too)."""
    prefix: str
    """Folder under the bucket, ending in ``/`` (``capture/``)."""
    endpoint_name: str
    """The folder under the prefix: the stack's logical endpoint name, the drift monitor's ``--endpoint``."""
    percent: int
    """1-100: share of requests captured."""


class KubernetesServingArgs(TypedDict):
    namespace: str
    """Namespace the component creates for the server (enforces the ``restricted`` pod security standard)."""
    image: pulumi.Input[str]
    """Inference image with a tag or digest (``<repo>:<tag>``); the entry point accepts ``serve``."""
    image_digest: NotRequired[str]
    """``sha256:<64 hex>`` of ``image``: pods then run ``<image>@<digest>``, whatever the tag points at later."""
    model_data_url: pulumi.Input[str]
    """``s3://<artifacts bucket>/<folder>/model.tar.gz``: unpacked into SM_MODEL_DIR before start. The pod may read
    the objects of that folder (``workloads.s3_uri.objects_beside``) in the lake's artifacts zone, nothing else."""
    lake: LakeRefs
    """Artifacts bucket and the lake key the model is encrypted with."""
    region: str
    """Region of the lake; scopes kms:Decrypt to calls made through S3 there."""
    oidc_provider_arn: pulumi.Input[str]
    oidc_issuer_url: pulumi.Input[str]
    ingress_namespace: str
    """The only namespace whose pods may connect (the ingress controller's)."""
    ownership_labels: Mapping[str, str]
    """owner, cost-center, environment, project (the ownership tags), put on every object."""
    kubeconfig: NotRequired[pulumi.Input[str]]
    """Cluster to declare into; the component makes its own provider. Give this or ``provider``."""
    provider: NotRequired[k8s.Provider]
    """An explicit provider to reuse. Give this or ``kubeconfig``; there is no default cluster."""
    min_replicas: NotRequired[int]
    max_replicas: NotRequired[int]
    cpu_target_percent: NotRequired[int]
    """HPA target: average CPU utilization of the requests, in percent."""
    requests_per_second_target: NotRequired[int]
    """HPA target per pod for the Pods metric below (needs a metrics adapter); unset: CPU only."""
    requests_per_second_metric: NotRequired[str]
    cpu_request: NotRequired[str]
    cpu_limit: NotRequired[str]
    memory_request: NotRequired[str]
    memory_limit: NotRequired[str]
    model_volume_size: NotRequired[str]
    """Size limit of the emptyDir the model is unpacked into."""
    spread_across_zones: NotRequired[bool]
    """Require pods spread evenly over availability zones (prod)."""
    disruption_budget: NotRequired[DisruptionBudget]
    """Declare a PodDisruptionBudget (staging/prod); unset: none."""
    canary: NotRequired[Canary]
    ingress_host: NotRequired[str]
    """Host the Ingress routes; required with ``canary`` (the canary Ingress shares it)."""
    ingress_class_name: NotRequired[str]
    environment: NotRequired[Mapping[str, pulumi.Input[str]]]
    """Extra container environment (the server's own settings)."""
    metrics_namespace: NotRequired[str]
    """CloudWatch namespace of the server's request metrics (EMF lines on stdout, dimensioned by namespace and
    Deployment); unset: the server reports none."""
    model_version: NotRequired[str]
    """The served model version: one more dimension of the metrics."""
    capture: NotRequired[Capture]
    """Data capture to the lake; unset: none."""


@dataclass(frozen=True)
class ImageRef:
    """What a container runs: the reference, and whether it names a digest (content that can never change)."""

    reference: pulumi.Input[str]
    by_digest: bool

    @property
    def pull_policy(self) -> str:
        """By digest, a node's cached copy is the image itself, so a pod starts even when the registry does not
        answer. By tag, the kubelet asks the registry at every start: the node runs what the tag names there,
        and the pull is authorized for this pod, not served from another pod's pull."""
        return "IfNotPresent" if self.by_digest else "Always"


@dataclass(frozen=True)
class K8sServingSettings:
    """Validated arguments with their defaults filled in."""

    name: str
    namespace: str
    image: ImageRef
    model_data_url: pulumi.Input[str]
    ingress_namespace: str
    labels: dict[str, str]
    min_replicas: int
    max_replicas: int
    cpu_target_percent: int
    requests_per_second_metric: str
    resources: dict[str, dict[str, str]]
    model_volume_size: str
    spread_across_zones: bool
    ingress_class_name: str
    requests_per_second_target: int | None = None
    disruption_budget: dict[str, int] | None = None
    canary: Canary | None = None
    canary_image: ImageRef | None = None
    ingress_host: str | None = None
    environment: dict[str, pulumi.Input[str]] = field(default_factory=dict)
    metrics_namespace: str | None = None
    model_version: str = ""
    capture: Capture | None = None


def quantity(field_name: str, text: str) -> float:
    """A Kubernetes quantity in base units ("250m" -> 0.25, "1Gi" -> 1073741824.0)."""
    match = _QUANTITY.fullmatch(str(text))
    if not match:
        raise ValueError(f"{field_name} must be a Kubernetes quantity like 500m, 1, 512Mi or 2Gi, got {text!r}")
    return float(match.group(1)) * _SCALE[match.group(2)]


def k8s_serving_settings(args: KubernetesServingArgs, name: str = "serving") -> K8sServingSettings:
    """Validate args and fill defaults; raise ValueError naming the field and what is allowed.

    ``name`` is the component's name: it names the Kubernetes objects, so it must be a label too.
    """
    values = {**DEFAULTS, **args}
    _check_names(name, values)
    _check_cluster(values)
    labels = _labels(name, values["ownership_labels"])
    _check_scaling(values)
    resources = _resources(values)
    quantity("model_volume_size", values["model_volume_size"])
    budget = _budget(values.get("disruption_budget"), values["min_replicas"])
    canary = _canary(values.get("canary"), values.get("ingress_host"))
    image = image_ref("image", values["image"], values.get("image_digest"))
    _check_model(values["model_data_url"])
    _check_capture(values.get("capture"))
    reserved = sorted(set(values.get("environment", {})) & set(RESERVED_ENV))
    if reserved:
        raise ValueError(f"environment must not set {', '.join(reserved)}: the component sets them for the model")
    known = {f.name for f in fields(K8sServingSettings)}
    return K8sServingSettings(**{
        **{key: value for key, value in values.items() if key in known},
        "name": name, "labels": labels, "resources": resources, "disruption_budget": budget, "canary": canary,
        "image": image, "canary_image": None if canary is None else image_ref(
            "canary.image", canary["image"], canary.get("image_digest")),
        "spread_across_zones": bool(values["spread_across_zones"]), "environment": dict(values.get("environment", {})),
    })


def _check_names(name: str, values: Mapping[str, Any]) -> None:
    if not _NAME.fullmatch(name):
        raise ValueError(f"name must be a DNS-1035 label of at most 56 characters (a-z, 0-9, -; starts with a "
                         f"letter; room for -canary), got {name!r}")
    for key in ("namespace", "ingress_namespace"):
        if not _NAMESPACE.fullmatch(values[key]):
            raise ValueError(f"{key} must be a DNS-1123 label (a-z, 0-9, -; at most 63), got {values[key]!r}")
    if values["namespace"] == values["ingress_namespace"]:
        raise ValueError("ingress_namespace must differ from namespace: the network policy admits only the "
                         f"ingress controller's namespace, got {values['namespace']!r} for both")


def _check_model(url: pulumi.Input[str]) -> None:
    if isinstance(url, str) and not (url.startswith("s3://") and url.endswith(".tar.gz")):
        raise ValueError(f"model_data_url must be an s3:// URL of a .tar.gz (what training writes), got {url!r}")


def _check_capture(capture: Capture | None) -> None:
    if capture is None:
        return
    if not 1 <= capture["percent"] <= 100:
        raise ValueError(f"capture.percent must be from 1 to 100, got {capture['percent']}")
    if not capture["prefix"].endswith("/") or capture["prefix"].startswith("/"):
        raise ValueError(f"capture.prefix must be a folder like capture/ (no leading /, trailing /), "
                         f"got {capture['prefix']!r}")
    if not _NAME.fullmatch(capture["endpoint_name"]) and not _NAMESPACE.fullmatch(capture["endpoint_name"]):
        raise ValueError(f"capture.endpoint_name must be a folder name (a-z, 0-9, -), got {capture['endpoint_name']!r}")


def _check_cluster(values: Mapping[str, Any]) -> None:
    if ("kubeconfig" in values) == ("provider" in values):
        raise ValueError("give exactly one of kubeconfig or provider: the component never uses a default cluster")


def _labels(name: str, ownership: Mapping[str, str]) -> dict[str, str]:
    missing = [key for key in OWNERSHIP_LABEL_KEYS if key not in ownership]
    if missing:
        raise ValueError(f"ownership_labels must include {', '.join(OWNERSHIP_LABEL_KEYS)}; "
                         f"missing {', '.join(missing)}")
    for key, value in ownership.items():
        if not _LABEL_VALUE.fullmatch(str(value)):
            raise ValueError(f"ownership_labels[{key!r}] must be a label value (at most 63 of A-Z a-z 0-9 - _ ., "
                             f"alphanumeric at both ends), got {value!r}")
    return {
        "app.kubernetes.io/name": name,
        "app.kubernetes.io/part-of": "prodline",
        "app.kubernetes.io/managed-by": "pulumi",
        **{key: str(value) for key, value in ownership.items()},
    }


def _check_scaling(values: Mapping[str, Any]) -> None:
    low, high = values["min_replicas"], values["max_replicas"]
    if low < 1:
        raise ValueError(f"min_replicas must be >= 1, got {low}")
    if high < low:
        raise ValueError(f"max_replicas must be >= min_replicas ({low}), got {high}")
    if not 1 <= values["cpu_target_percent"] <= 100:
        raise ValueError(f"cpu_target_percent must be from 1 to 100, got {values['cpu_target_percent']}")
    rps = values.get("requests_per_second_target")
    if rps is not None and rps < 1:
        raise ValueError(f"requests_per_second_target must be >= 1, got {rps}")


def _resources(values: Mapping[str, Any]) -> dict[str, dict[str, str]]:
    """Requests and limits; a limit below its request would be rejected by the API server at deploy time."""
    for kind in ("cpu", "memory"):
        request, limit = values[f"{kind}_request"], values[f"{kind}_limit"]
        if kind == "memory":
            for key, text in ((f"{kind}_request", request), (f"{kind}_limit", limit)):
                if str(text).endswith("m"):
                    raise ValueError(f"{key} {text!r} means milli-bytes; use Mi or Gi")
        if quantity(f"{kind}_limit", limit) < quantity(f"{kind}_request", request):
            raise ValueError(f"{kind}_limit must be >= {kind}_request ({request}), got {limit!r}")
    return {
        "requests": {"cpu": values["cpu_request"], "memory": values["memory_request"]},
        "limits": {"cpu": values["cpu_limit"], "memory": values["memory_limit"]},
    }


def _budget(budget: DisruptionBudget | None, min_replicas: int) -> dict[str, int] | None:
    if budget is None:
        return None
    if len(budget) != 1 or not set(budget) <= {"min_available", "max_unavailable"}:
        raise ValueError(f"disruption_budget must give exactly one of min_available or max_unavailable, got {budget}")
    if "min_available" in budget and not 0 < budget["min_available"] < min_replicas:
        raise ValueError(f"disruption_budget.min_available must be from 1 to min_replicas - 1 ({min_replicas - 1}) "
                         f"so node drains can evict a pod, got {budget['min_available']}")
    if "max_unavailable" in budget and budget["max_unavailable"] < 1:
        raise ValueError(f"disruption_budget.max_unavailable must be >= 1, got {budget['max_unavailable']}")
    return dict(budget)


def _canary(canary: Canary | None, host: str | None) -> Canary | None:
    if host is not None and not _HOST.fullmatch(host):
        raise ValueError(f"ingress_host must be a DNS name like churn.example.com, got {host!r}")
    if canary is None:
        return None
    if not 1 <= canary["weight"] <= 99:
        raise ValueError(f"canary.weight must be from 1 to 99 (percent of ingress traffic), got {canary['weight']}")
    if canary.get("replicas", 1) < 1:
        raise ValueError(f"canary.replicas must be >= 1, got {canary['replicas']}")
    if host is None:
        raise ValueError("canary needs ingress_host: ingress-nginx splits traffic between two Ingresses of one host")
    return {"replicas": 1, **canary}


def image_ref(key: str, image: pulumi.Input[str], digest: str | None = None) -> ImageRef:
    """``image``, with ``digest`` appended when given. Refuse mutable references (latest, no tag) and malformed
    digests: a pod restart must run the image that was reviewed."""
    if digest is not None and not (isinstance(digest, str) and _DIGEST.fullmatch(digest)):
        raise ValueError(f"{key}_digest must be {DIGEST_FORMAT}, got {digest!r}")
    if isinstance(image, str) and "@" in image:
        if digest is not None:
            raise ValueError(f"{key} already names a digest: give it in {key} or in {key}_digest, not both; "
                             f"got {image!r}")
        if not _DIGEST.fullmatch(image.partition("@")[2]):
            raise ValueError(f"{key} must end in @{DIGEST_FORMAT} when it names a digest, got {image!r}")
        return ImageRef(image, by_digest=True)
    if digest is None:
        if isinstance(image, str) and (":" not in image.rsplit("/", 1)[-1] or image.endswith(":latest")):
            raise ValueError(f"{key} must name an exact tag or digest (not latest), got {image!r}")
        return ImageRef(image, by_digest=False)
    pinned = f"{image}@{digest}" if isinstance(image, str) else pulumi.Output.concat(image, "@", digest)
    return ImageRef(pinned, by_digest=True)
