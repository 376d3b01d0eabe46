"""Ownership tags on AWS resources and labels on Kubernetes objects."""

from __future__ import annotations

import pytest

from policies.rules import tagging
from tests.helpers import OWNERSHIP_TAGS
from tests.policies.cases import DELETE, assert_fails, assert_passes, change, judge, resource

TAGS = {"owner": "ml-platform", "cost-center": "cc-ml-prod", "environment": "prod", "project": "prodline",
        "managed-by": "pulumi"}
BUCKET = "aws:s3/bucket:Bucket"
DEPLOYMENT = "kubernetes:apps/v1:Deployment"
LABELS = {**{k: v for k, v in TAGS.items() if k != "managed-by"}, "app.kubernetes.io/name": "churn"}


def bucket(path="tags", value=TAGS):
    return [resource(BUCKET, "lake-raw", change({"forceDestroy": False, "tags": TAGS}, path, value))]


def deployment(path="metadata.labels", value=LABELS):
    inputs = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "churn", "labels": LABELS}}
    return [resource(DEPLOYMENT, "churn-deployment", change(inputs, path, value))]


def test_the_rule_keys_are_the_ones_the_stack_transformation_adds():
    assert set(tagging.OWNERSHIP_TAGS) == set(OWNERSHIP_TAGS)


def test_a_tagged_bucket_passes():
    assert_passes(tagging.tags_ownership_required, bucket())


@pytest.mark.parametrize("tag", OWNERSHIP_TAGS)
def test_each_missing_ownership_tag_fails(tag):
    assert_fails(tagging.tags_ownership_required, bucket(f"tags.{tag}", DELETE), "lake-raw", tag,
                 "prodline:costCenter")


def test_an_untagged_bucket_fails():
    assert_fails(tagging.tags_ownership_required, bucket("tags", DELETE), "lake-raw", "owner, cost-center")


def test_an_empty_tag_fails():
    assert_fails(tagging.tags_ownership_required, bucket("tags.owner", ""), "lake-raw", "owner")


def test_the_environment_tag_must_be_the_stacks():
    assert_fails(tagging.tags_ownership_required, bucket("tags.environment", "dev"), "lake-raw",
                 "environment='dev' in the prod environment")


def test_provider_default_tags_count():
    regs = [resource(BUCKET, "lake-raw", {"tagsAll": TAGS, "tags": {"team-extra": "x"}})]
    assert_passes(tagging.tags_ownership_required, regs)


UNTAGGABLE = ("aws:s3/bucketPolicy:BucketPolicy", "aws:glue/securityConfiguration:SecurityConfiguration",
              "prodline:data:DataLake", "pulumi:providers:aws", "kubernetes:apps/v1:Deployment")


@pytest.mark.parametrize("type_token", UNTAGGABLE)
def test_types_that_take_no_tags_are_left_alone(type_token):
    assert judge(tagging.tags_ownership_required, [resource(type_token, "x", {})]) == []


def test_a_labelled_kubernetes_object_passes():
    assert_passes(tagging.kubernetes_ownership_labels, deployment())


@pytest.mark.parametrize("label", tagging.OWNERSHIP_LABELS)
def test_each_missing_ownership_label_fails(label):
    assert_fails(tagging.kubernetes_ownership_labels, deployment(f"metadata.labels.{label}", DELETE),
                 "churn-deployment", label, "ownership_labels")


def test_the_environment_label_must_be_the_stacks():
    assert_fails(tagging.kubernetes_ownership_labels, deployment("metadata.labels.environment", "staging"),
                 "churn-deployment", "environment='staging' in the prod environment")


def test_a_kubernetes_component_is_not_an_object():
    assert judge(tagging.kubernetes_ownership_labels, [resource("kubernetes:helm.sh/v3:Chart", "chart", {})]) == []
