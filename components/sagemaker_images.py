"""SageMaker framework image URIs, resolved offline from data bundled in ``sagemaker-core``.

The scikit-learn container version matches the pinned scikit-learn, so a model trained in the
pipeline is unpickled by the same library version that serves it.
"""

from __future__ import annotations

import importlib.util
import json
import re
from functools import cache
from pathlib import Path

SKLEARN_FRAMEWORK_VERSION = "1.9-0"
# The SDK's own table of framework images (account per region, repository, processors, Python versions).
# Read as data: importing ``sagemaker.core`` to call ``image_uris.retrieve`` costs two seconds a program run.
IMAGE_CONFIG = ("core", "image_uri_config")


class ImageLookupError(ValueError):
    """The framework table has no image for the asked region, version or instance."""


@cache
def _framework_table(framework: str) -> dict:
    spec = importlib.util.find_spec("sagemaker")  # the top-level package is located, not imported
    if spec is None or not spec.submodule_search_locations:
        raise ImageLookupError("the sagemaker SDK is not installed: its image table resolves framework images")
    path = Path(next(iter(spec.submodule_search_locations)), *IMAGE_CONFIG, f"{framework}.json")
    return json.loads(path.read_text())


@cache
def sklearn_image_uri(region: str, instance_type: str = "ml.m5.large") -> str:
    """What ``sagemaker.core.image_uris.retrieve("sklearn", ...)`` answers for CPU inference (the image the
    pipeline trains and serves with); ``tests/components/test_sagemaker_images.py`` holds the two equal."""
    versions = _framework_table("sklearn")["inference"]["versions"]
    version = versions.get(SKLEARN_FRAMEWORK_VERSION)
    if version is None:
        raise ImageLookupError(f"scikit-learn image {SKLEARN_FRAMEWORK_VERSION} is not in the SDK's table; "
                               f"it has {', '.join(sorted(versions))}")
    processor = "gpu" if instance_type.split(".")[1][:1] in ("g", "p") else "cpu"
    if processor not in version["processors"]:
        raise ImageLookupError(f"instance type {instance_type}: scikit-learn images are for "
                               f"{', '.join(version['processors'])} instances only")
    account = version["registries"].get(region)
    if account is None:
        raise ImageLookupError(f"region {region} has no scikit-learn image; regions: "
                               f"{', '.join(sorted(version['registries']))}")
    return (f"{account}.dkr.{_ecr_hostname(region)}/{version['repository']}:"
            f"{SKLEARN_FRAMEWORK_VERSION}-{processor}-{version['py_versions'][0]}")


def _ecr_hostname(region: str) -> str:
    """ECR's host in the region's partition (``amazonaws.com``, ``.com.cn``, the ISO domains), from botocore's
    endpoint data, as the SDK finds it."""
    import botocore.loaders
    import botocore.regions

    resolver = botocore.regions.EndpointResolver(botocore.loaders.create_loader().load_data("endpoints"))
    endpoint = resolver.construct_endpoint("ecr", region) or {"hostname": f"ecr.{region}.amazonaws.com"}
    return endpoint["hostname"]


def ecr_repository_arn(image_uri: str) -> str:
    """ARN of the ECR repository an image URI lives in, to scope pull permissions to it."""
    registry, _, rest = image_uri.partition("/")
    account, _, _, region, *_ = registry.split(".")
    repository = rest.split(":")[0].split("@")[0]
    return f"arn:aws:ecr:{region}:{account}:repository/{repository}"


def has_instance_storage(instance_type: str) -> bool:
    """Instance families with local NVMe storage; SageMaker refuses a volume KMS key for them."""
    family = instance_type.split(".")[1]
    return bool(re.fullmatch(r"[a-z]+\d+[a-z]*d[a-z]*", family)) or family in ("g5", "g6", "p5")
