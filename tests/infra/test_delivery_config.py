"""The delivery keys: where each stack promotes, prod's approval, the smoke gate, the boundary and the backend."""

from __future__ import annotations

import pytest

from infra import config as cfg
from standards import delivery
from tests.infra.test_config import problems, raw


def test_defaults_are_the_designed_ones():
    settings = cfg.parse_config(raw("staging"), "staging").delivery
    assert settings.smoke_rows == 20 and settings.smoke_latency_ms == 2000
    assert settings.permissions_boundary == delivery.BOUNDARY_POLICY == "prodline-deployer-boundary"
    assert settings.backend_url == ""


@pytest.mark.parametrize(("stack", "promote_to", "require_approval"), [
    ("dev", "staging", False), ("staging", "prod", False), ("prod", "", True)])
def test_each_stack_promotes_to_the_next_and_prod_waits_for_a_person(stack, promote_to, require_approval):
    settings = cfg.parse_config(raw(stack), stack).delivery
    assert (settings.promote_to, settings.require_approval) == (promote_to, require_approval)


def test_prod_must_require_approval():
    message = problems("prod", deliveryRequireApproval="false")
    assert "prodline:deliveryRequireApproval: false is not allowed in prod" in message
    assert "approval" in message


def test_staging_may_require_approval_too():
    assert cfg.parse_config(raw("staging", deliveryRequireApproval="true"), "staging").delivery.require_approval


@pytest.mark.parametrize(("stack", "target"), [("dev", "prod"), ("staging", "dev"), ("prod", "staging"),
                                               ("dev", "dev")])
def test_a_stack_promotes_only_to_the_next_one(stack, target):
    assert f"prodline:deliveryPromoteTo: '{target}' is not allowed in {stack}" in problems(
        stack, deliveryPromoteTo=target)


def test_promotion_may_be_turned_off():
    assert cfg.parse_config(raw("dev", deliveryPromoteTo=""), "dev").delivery.promote_to == ""


@pytest.mark.parametrize(("key", "value", "allowed"), [
    ("smokeRows", "0", "an integer from 1 to 1000"),
    ("smokeRows", "1001", "an integer from 1 to 1000"),
    ("smokeLatencyMs", "0", "an integer from 1 to 60000"),
    ("deliveryRequireApproval", "yes", "true or false"),
    ("deliveryPromoteTo", "qa", "one of , dev, staging, prod"),
    ("pulumiBackendUrl", "https://api.pulumi.com", "an s3:// URL"),
    ("deployerPermissionsBoundary", "no spaces", "an IAM policy name"),
])
def test_bad_delivery_values_name_the_key_and_what_is_allowed(key, value, allowed):
    message = problems("dev", **{key: value})
    assert f"prodline:{key}: {value!r} is not allowed; expected {allowed}" in message


def test_an_s3_backend_is_accepted():
    settings = cfg.parse_config(raw("dev", pulumiBackendUrl="s3://my-state/prodline"), "dev").delivery
    assert settings.backend_url == "s3://my-state/prodline"


def test_recorded_is_an_allowed_model_version():
    assert cfg.parse_config(raw("prod", modelPackageArn="recorded"), "prod").serving.model_package == "recorded"
    assert "recorded" in cfg.KEYS["modelPackageArn"].description
