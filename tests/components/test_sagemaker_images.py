"""The scikit-learn image URI read from the SDK's table is the one the SDK's ``image_uris.retrieve`` gives."""

from __future__ import annotations

import pytest

from components.sagemaker_images import (
    SKLEARN_FRAMEWORK_VERSION,
    ImageLookupError,
    _framework_table,
    sklearn_image_uri,
)

REGIONS = sorted(_framework_table("sklearn")["inference"]["versions"][SKLEARN_FRAMEWORK_VERSION]["registries"])


def test_every_region_matches_the_sdk():
    from sagemaker.core import image_uris

    for region in REGIONS:
        expected = image_uris.retrieve("sklearn", region=region, version=SKLEARN_FRAMEWORK_VERSION, py_version="py3",
                                       instance_type="ml.m5.large")
        assert sklearn_image_uri(region) == expected, region
    assert len(REGIONS) > 20


def test_a_region_without_an_image_is_named_with_the_ones_that_have_it():
    with pytest.raises(ImageLookupError, match=r"region mars-east-1 has no scikit-learn image; regions: .*eu-west-1"):
        sklearn_image_uri("mars-east-1")


def test_gpu_instances_are_refused_naming_the_processors():
    with pytest.raises(ImageLookupError, match=r"ml.g5.xlarge: scikit-learn images are for cpu instances only"):
        sklearn_image_uri("eu-west-1", "ml.g5.xlarge")
