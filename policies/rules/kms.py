"""KMS rules: customer keys rotate, and their key policies name what each principal may do."""

from __future__ import annotations

from pulumi_policy import ReportViolation, ResourceValidationArgs

from policies.rule import ResourceRule, message
from policies.rules.props import UNKNOWN, allow_statements, get, is_true, label, strings

KEY = "aws:kms/key:Key"
# Only symmetric encryption keys can rotate automatically; asymmetric and HMAC keys cannot.
ROTATABLE_SPECS = (None, "SYMMETRIC_DEFAULT")


def _validate_rotation(args: ResourceValidationArgs, report: ReportViolation) -> None:
    spec = get(args.props, "customerMasterKeySpec") or get(args.props, "keySpec")
    rotation = get(args.props, "enableKeyRotation")
    if spec not in ROTATABLE_SPECS or rotation is UNKNOWN or is_true(rotation):
        return
    report(message(args.name, "does not enable automatic key rotation",
                   "a key that never rotates keeps encrypting with the same material for years, so one leaked or "
                   "weakened key version exposes everything written since the key was made",
                   "set enable_key_rotation=True on the aws.kms.Key (DataLake and Observability keys do)"))


kms_key_rotation_enabled = ResourceRule(
    "kms-key-rotation-enabled",
    "Requires every symmetric customer-managed KMS key to rotate automatically.",
    _validate_rotation,
    types=[KEY],
)


def _validate_key_policy(args: ResourceValidationArgs, report: ReportViolation) -> None:
    for index, statement in enumerate(allow_statements(get(args.props, "policy"))):
        wildcards = [a for a in strings(get(statement, "Action")) if a in ("*", "kms:*")]
        if wildcards:
            report(message(args.name, f"key policy {label(get(statement, 'Sid'), index)} allows {wildcards[0]!r}",
                           "kms:* lets its principal change the key policy, disable the key or schedule its deletion, "
                           "which is more than any user of the key needs",
                           "name the actions (policy_documents.KEY_ADMIN_ACTIONS for the account's administrators, "
                           "kms:Decrypt / kms:GenerateDataKey for services)"))


kms_key_policy_no_wildcard_actions = ResourceRule(
    "kms-key-policy-no-wildcard-actions",
    "Prohibits KMS key policies that allow kms:* or *.",
    _validate_key_policy,
    types=[KEY],
)

RULES = (kms_key_rotation_enabled, kms_key_policy_no_wildcard_actions)
