"""The scikit-learn image URI read from the generated table is the one the SDK's ``image_uris.retrieve`` gives,
and the table is the one the installed SDK's data writes."""

from __future__ import annotations

import json

import pytest

from components import sagemaker_images
from components.sagemaker_images import (
    SKLEARN_FRAMEWORK_VERSION,
    TABLE,
    ImageLookupError,
    build_table,
    image_table,
    sklearn_image_uri,
)

REGIONS = sorted(build_table()["registries"])


def test_the_table_is_the_one_the_installed_sdk_data_writes():
    """Fails when sagemaker-core is upgraded (or the pinned version changes) until the table is written again
    with ``python -m components.sagemaker_images``."""
    assert image_table() == build_table()
    assert TABLE.read_text() == json.dumps(build_table(), indent=2, sort_keys=True) + "\n"


def test_a_table_of_another_version_is_refused_naming_the_command(tmp_path, monkeypatch):
    stale = tmp_path / TABLE.name
    stale.write_text(json.dumps({**build_table(), "framework_version": "1.2-1"}))
    monkeypatch.setattr(sagemaker_images, "TABLE", stale)
    image_table.cache_clear()
    try:
        with pytest.raises(ImageLookupError, match=r"holds scikit-learn 1.2-1, not 1.9-0: .*python -m components"):
            image_table()
    finally:
        image_table.cache_clear()


def test_every_region_matches_the_sdk():
    from sagemaker.core import image_uris

    for region in REGIONS:
        expected = image_uris.retrieve("sklearn", region=region, version=SKLEARN_FRAMEWORK_VERSION, py_version="py3",
                                       instance_type="ml.m5.large")
        assert sklearn_image_uri(region) == expected, region
    assert len(REGIONS) > 20
    assert sorted(image_table()["registries"]) == REGIONS


def test_a_region_without_an_image_is_named_with_the_ones_that_have_it():
    with pytest.raises(ImageLookupError, match=r"region mars-east-1 has no scikit-learn image; regions: .*eu-west-1"):
        sklearn_image_uri("mars-east-1")


def test_gpu_instances_are_refused_naming_the_processors():
    with pytest.raises(ImageLookupError, match=r"ml.g5.xlarge: scikit-learn images are for cpu instances only"):
        sklearn_image_uri("eu-west-1", "ml.g5.xlarge")
