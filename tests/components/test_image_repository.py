"""ImageRepository under mocks: scan on push, immutable tags, the given KMS key, keep the last N images."""

from __future__ import annotations

import json

import pytest

from components.image_repository import (
    DEFAULT_KEEP_LAST_IMAGES,
    ImageRepository,
    image_repository_settings,
    pull_statements,
)
from tests.helpers import component_registrations, named

KEY = "arn:aws:kms:eu-west-1:123456789012:key/ecr"


def build(**changes):
    args = {"repository_name": "prodline/serving", "kms_key_arn": KEY, **changes}
    return component_registrations(lambda: ImageRepository("serving-image", args))


@pytest.fixture(scope="module")
def regs():
    return build()


def test_repository_scans_on_push_with_immutable_tags_and_the_given_key(regs):
    repo = named(regs, "serving-image-repository").inputs
    assert repo["name"] == "prodline/serving"
    assert repo["imageScanningConfiguration"] == {"scanOnPush": True}
    assert repo["imageTagMutability"] == "IMMUTABLE"
    assert repo["encryptionConfigurations"] == [{"encryptionType": "KMS", "kmsKey": KEY}]
    assert repo["forceDelete"] is False


def test_lifecycle_keeps_the_last_images_of_the_repository(regs):
    lifecycle = named(regs, "serving-image-lifecycle").inputs
    assert lifecycle["repository"] == "prodline/serving"
    (rule,) = json.loads(lifecycle["policy"])["rules"]
    assert rule["selection"] == {"tagStatus": "any", "countType": "imageCountMoreThan",
                                 "countNumber": DEFAULT_KEEP_LAST_IMAGES}
    assert rule["action"] == {"type": "expire"}


def test_keep_last_images_comes_from_args():
    (rule,) = json.loads(named(build(keep_last_images=5), "serving-image-lifecycle").inputs["policy"])["rules"]
    assert rule["selection"]["countNumber"] == 5


def test_children_are_parented_to_the_component(regs):
    assert regs[0].type == "prodline:serving:ImageRepository"
    assert all(r.parent_name == "serving-image" for r in regs[1:])


def test_pull_statements_name_the_repository_and_no_wildcard_action():
    repo_arn = "arn:aws:ecr:eu-west-1:123456789012:repository/prodline/serving"
    pull, token = pull_statements(repo_arn)
    assert pull["Resource"] == [repo_arn]
    assert pull["Action"] == ["ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"]
    assert token["Action"] == ["ecr:GetAuthorizationToken"], "the only action without resource-level permissions"


@pytest.mark.parametrize(("change", "message"), [
    ({"repository_name": "Prodline/Serving"}, "repository_name must be"),
    ({"repository_name": "prodline//serving"}, "repository_name must be"),
    ({"keep_last_images": 0}, "keep_last_images must be from 1 to 1000"),
])
def test_bad_args_are_rejected_with_the_field(change, message):
    with pytest.raises(ValueError, match=message):
        image_repository_settings({"repository_name": "prodline/serving", "kms_key_arn": KEY, **change})
