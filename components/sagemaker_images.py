"""SageMaker framework image URIs, resolved offline from data bundled in ``sagemaker-core``.

The scikit-learn container version matches the pinned scikit-learn, so a model trained in the
pipeline is unpickled by the same library version that serves it.
"""

from __future__ import annotations

import re
from functools import cache

SKLEARN_FRAMEWORK_VERSION = "1.9-0"


@cache
def sklearn_image_uri(region: str, instance_type: str = "ml.m5.large") -> str:
    from sagemaker.core import image_uris  # ~2 s import: only when a stack is built

    return image_uris.retrieve("sklearn", region=region, version=SKLEARN_FRAMEWORK_VERSION, py_version="py3",
                               instance_type=instance_type)


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
