"""KMS: customer managed keys and their aliases."""

from __future__ import annotations

from prodline.sandbox.realizer.base import Context, Handler, Outputs, drop_none, tag_list

DEFAULT_DELETION_WINDOW_DAYS = 30  # AWS's default for ScheduleKeyDeletion


def _key(ctx: Context, urn: str, logical: str, inputs: dict):
    kms = ctx.clients("kms")
    meta = kms.create_key(**drop_none({
        "Description": inputs.get("description"), "Policy": inputs.get("policy"),
        "Tags": [{"TagKey": t["Key"], "TagValue": t["Value"]} for t in tag_list(inputs)]}))["KeyMetadata"]
    if inputs.get("enableKeyRotation"):
        kms.enable_key_rotation(KeyId=meta["KeyId"])
    window = int(inputs.get("deletionWindowInDays") or DEFAULT_DELETION_WINDOW_DAYS)
    return meta["KeyId"], {"keyId": meta["KeyId"], "arn": meta["Arn"], "deletionWindowInDays": window}


def _delete_key(ctx: Context, key_id: str, outputs: Outputs) -> None:
    """Keys are never deleted at once: scheduled with the window the program declared, as in AWS."""
    window = int(outputs.get("deletionWindowInDays") or DEFAULT_DELETION_WINDOW_DAYS)
    ctx.clients("kms").schedule_key_deletion(KeyId=key_id, PendingWindowInDays=window)


KEY = Handler(_key, _delete_key,
              carries=("description", "policy", "tags", "enableKeyRotation", "deletionWindowInDays"))


class AliasTaken(ValueError):
    """An alias another stack of the sandbox holds: every stack shares one account, where aliases are unique."""


def _alias(ctx: Context, urn: str, logical: str, inputs: dict):
    kms = ctx.clients("kms")
    try:
        kms.create_alias(AliasName=inputs["name"], TargetKeyId=inputs["targetKeyId"])
    except kms.exceptions.AlreadyExistsException:
        raise AliasTaken(f"stack {ctx.stack}: KMS alias {inputs['name']} is already taken in the emulator (another "
                         "stack of the sandbox declares it): the stacks share one account and region, where an "
                         "alias names one key; give the alias the stack's prefix") from None
    return inputs["name"], {"name": inputs["name"], "arn": f"arn:aws:kms:{ctx.region}:{ctx.account}:{inputs['name']}"}


ALIAS = Handler(_alias, lambda ctx, name, _: ctx.clients("kms").delete_alias(AliasName=name),
                carries=("name", "targetKeyId"))
