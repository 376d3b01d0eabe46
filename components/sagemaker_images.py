"""SageMaker framework image URIs, resolved offline from a small table written from ``sagemaker-core``'s own data.

The scikit-learn container version matches the pinned scikit-learn, so a model trained in the
pipeline is unpickled by the same library version that serves it.
"""

from __future__ import annotations

import json
import re
import sys
from functools import cache
from pathlib import Path

SKLEARN_FRAMEWORK_VERSION = "1.9-0"
TABLE = Path(__file__).with_name("sagemaker_image_table.json")
"""The scikit-learn rows of the SDK's framework table (``sagemaker/core/image_uri_config/sklearn.json``) with each
region's ECR host from botocore's endpoint data, written by ``python -m components.sagemaker_images``.
Reading the SDK's data and botocore's endpoints on every program run cost a tenth of a second, importing
``sagemaker.core`` to call ``image_uris.retrieve`` two; ``tests/components/test_sagemaker_images.py`` fails
when the table and the installed SDK part."""
IMAGE_CONFIG = ("core", "image_uri_config")


class ImageLookupError(ValueError):
    """The framework table has no image for the asked region, version or instance."""


@cache
def image_table() -> dict:
    table = json.loads(TABLE.read_text())
    if table["framework_version"] != SKLEARN_FRAMEWORK_VERSION:
        raise ImageLookupError(f"{TABLE.name} holds scikit-learn {table['framework_version']}, not "
                               f"{SKLEARN_FRAMEWORK_VERSION}: write it again with "
                               "python -m components.sagemaker_images")
    return table


@cache
def sklearn_image_uri(region: str, instance_type: str = "ml.m5.large") -> str:
    """What ``sagemaker.core.image_uris.retrieve("sklearn", ...)`` answers for CPU inference (the image the
    pipeline trains and serves with); ``tests/components/test_sagemaker_images.py`` holds the two equal."""
    table = image_table()
    processor = "gpu" if instance_type.split(".")[1][:1] in ("g", "p") else "cpu"
    if processor not in table["processors"]:
        raise ImageLookupError(f"instance type {instance_type}: scikit-learn images are for "
                               f"{', '.join(table['processors'])} instances only")
    registry = table["registries"].get(region)
    if registry is None:
        raise ImageLookupError(f"region {region} has no scikit-learn image; regions: "
                               f"{', '.join(sorted(table['registries']))}")
    return (f"{registry['account']}.dkr.{registry['ecr_host']}/{table['repository']}:"
            f"{SKLEARN_FRAMEWORK_VERSION}-{processor}-{table['py_version']}")


def build_table() -> dict:
    """The table from the installed SDK's data and botocore's endpoints, as the SDK itself resolves them."""
    versions = _framework_table("sklearn")["inference"]["versions"]
    version = versions.get(SKLEARN_FRAMEWORK_VERSION)
    if version is None:
        raise ImageLookupError(f"scikit-learn image {SKLEARN_FRAMEWORK_VERSION} is not in the SDK's table; "
                               f"it has {', '.join(sorted(versions))}")
    hostname = _ecr_hostnames()
    return {
        "framework_version": SKLEARN_FRAMEWORK_VERSION,
        "repository": version["repository"],
        "processors": version["processors"],
        "py_version": version["py_versions"][0],
        "registries": {region: {"account": account, "ecr_host": hostname(region)}
                       for region, account in sorted(version["registries"].items())},
    }


def _framework_table(framework: str) -> dict:
    import importlib.util

    spec = importlib.util.find_spec("sagemaker")  # the top-level package is located, not imported
    if spec is None or not spec.submodule_search_locations:
        raise ImageLookupError("the sagemaker SDK is not installed: its image table resolves framework images")
    path = Path(next(iter(spec.submodule_search_locations)), *IMAGE_CONFIG, f"{framework}.json")
    return json.loads(path.read_text())


def _ecr_hostnames():
    """ECR's host in a region's partition (``amazonaws.com``, ``.com.cn``, the ISO domains), from botocore's
    endpoint data, as the SDK finds it."""
    import botocore.loaders
    import botocore.regions

    resolver = botocore.regions.EndpointResolver(botocore.loaders.create_loader().load_data("endpoints"))

    def hostname(region: str) -> str:
        endpoint = resolver.construct_endpoint("ecr", region) or {"hostname": f"ecr.{region}.amazonaws.com"}
        return endpoint["hostname"]

    return hostname


def write_table() -> None:
    TABLE.write_text(json.dumps(build_table(), indent=2, sort_keys=True) + "\n")


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


if __name__ == "__main__":
    write_table()
    print(f"wrote {TABLE.name}", file=sys.stderr)
