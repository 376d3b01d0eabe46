"""KMS rules on one key: rotation, and a key policy that names its actions."""

from __future__ import annotations

import json

import pytest

from policies.rules import kms
from tests.policies.cases import DELETE, assert_fails, assert_passes, change, resource

ADMIN = {"Sid": "AccountAdministersKeyThroughIam", "Effect": "Allow",
         "Principal": {"AWS": "arn:aws:iam::123456789012:root"},
         "Action": ["kms:Decrypt", "kms:DescribeKey", "kms:EnableKeyRotation", "kms:PutKeyPolicy"], "Resource": "*"}
KEY = {"description": "lake key", "enableKeyRotation": True, "deletionWindowInDays": 30,
       "policy": json.dumps({"Version": "2012-10-17", "Statement": [ADMIN]})}


def key(**changes):
    inputs = KEY
    for path, value in changes.items():
        inputs = change(inputs, path, value)
    return [resource(kms.KEY, "lake-key", inputs)]


def with_actions(actions, effect="Allow") -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": [{**ADMIN, "Effect": effect, "Action": actions}]})


@pytest.mark.parametrize("rule", kms.RULES, ids=lambda r: r.name)
def test_a_rotating_key_with_named_actions_passes(rule):
    assert_passes(rule, key())


@pytest.mark.parametrize("rotation", [False, DELETE], ids=["off", "unset"])
def test_a_key_that_does_not_rotate_fails(rotation):
    assert_fails(kms.kms_key_rotation_enabled, key(enableKeyRotation=rotation), "lake-key", "rotation",
                 "enable_key_rotation=True")


def test_an_asymmetric_key_needs_no_rotation():
    assert_passes(kms.kms_key_rotation_enabled, key(enableKeyRotation=DELETE, customerMasterKeySpec="RSA_2048"))


@pytest.mark.parametrize("action", ["kms:*", "*"])
def test_a_key_policy_allowing_every_action_fails(action):
    assert_fails(kms.kms_key_policy_no_wildcard_actions, key(policy=with_actions([action])), "lake-key",
                 repr(action), "AccountAdministersKeyThroughIam")


def test_a_deny_of_every_action_is_fine():
    assert_passes(kms.kms_key_policy_no_wildcard_actions, key(policy=with_actions("kms:*", effect="Deny")))
