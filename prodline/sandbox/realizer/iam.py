"""IAM: roles (with their permissions boundary), inline policies, managed policies and their attachments."""

from __future__ import annotations

from prodline.sandbox.realizer.base import Context, Handler, Outputs, drop_none, tag_list


def _role(ctx: Context, urn: str, logical: str, inputs: dict):
    name = inputs.get("name") or ctx.physical(urn, logical, limit=64)
    role = ctx.clients("iam").create_role(**drop_none({
        "RoleName": name, "AssumeRolePolicyDocument": inputs["assumeRolePolicy"], "Path": inputs.get("path"),
        "Description": inputs.get("description"), "Tags": tag_list(inputs) or None,
        "MaxSessionDuration": int(inputs["maxSessionDuration"]) if inputs.get("maxSessionDuration") else None,
        "PermissionsBoundary": inputs.get("permissionsBoundary")}))["Role"]
    return name, {"name": name, "arn": role["Arn"], "uniqueId": role["RoleId"]}


def _delete_role(ctx: Context, name: str, _: Outputs) -> None:
    iam = ctx.clients("iam")
    for policy in iam.list_role_policies(RoleName=name)["PolicyNames"]:
        iam.delete_role_policy(RoleName=name, PolicyName=policy)
    for attached in iam.list_attached_role_policies(RoleName=name)["AttachedPolicies"]:
        iam.detach_role_policy(RoleName=name, PolicyArn=attached["PolicyArn"])
    iam.delete_role(RoleName=name)


ROLE = Handler(_role, _delete_role,
               carries=("name", "assumeRolePolicy", "path", "description", "tags", "maxSessionDuration",
                        "permissionsBoundary"))


def _role_policy(ctx: Context, urn: str, logical: str, inputs: dict):
    name = inputs.get("name") or ctx.physical(urn, logical, limit=128)
    ctx.clients("iam").put_role_policy(RoleName=inputs["role"], PolicyName=name, PolicyDocument=inputs["policy"])
    return f"{inputs['role']}:{name}", {"name": name, "role": inputs["role"]}


ROLE_POLICY = Handler(
    _role_policy,
    lambda ctx, ident, outputs: ctx.clients("iam").delete_role_policy(RoleName=outputs["role"],
                                                                      PolicyName=outputs["name"]),
    carries=("name", "role", "policy"))


def _policy(ctx: Context, urn: str, logical: str, inputs: dict):
    name = inputs.get("name") or ctx.physical(urn, inputs.get("namePrefix") or logical, limit=128)
    policy = ctx.clients("iam").create_policy(**drop_none({
        "PolicyName": name, "PolicyDocument": inputs["policy"], "Path": inputs.get("path"),
        "Description": inputs.get("description"), "Tags": tag_list(inputs) or None}))["Policy"]
    return policy["Arn"], {"name": name, "arn": policy["Arn"], "policyId": policy["PolicyId"]}


def _delete_policy(ctx: Context, arn: str, _: Outputs) -> None:
    iam = ctx.clients("iam")
    for version in iam.list_policy_versions(PolicyArn=arn)["Versions"]:
        if not version["IsDefaultVersion"]:
            iam.delete_policy_version(PolicyArn=arn, VersionId=version["VersionId"])
    iam.delete_policy(PolicyArn=arn)


POLICY = Handler(_policy, _delete_policy,
                 carries=("name", "namePrefix", "policy", "path", "description", "tags"))


def _attachment(ctx: Context, urn: str, logical: str, inputs: dict):
    ctx.clients("iam").attach_role_policy(RoleName=inputs["role"], PolicyArn=inputs["policyArn"])
    return f"{inputs['role']}/{inputs['policyArn']}", {"role": inputs["role"], "policyArn": inputs["policyArn"]}


ROLE_POLICY_ATTACHMENT = Handler(
    _attachment,
    lambda ctx, ident, outputs: ctx.clients("iam").detach_role_policy(RoleName=outputs["role"],
                                                                      PolicyArn=outputs["policyArn"]),
    carries=("role", "policyArn"))
