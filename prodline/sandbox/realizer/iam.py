"""IAM: roles and their inline policies."""

from __future__ import annotations

from prodline.sandbox.realizer.base import Context, Handler, Outputs, drop_none, tag_list


def _role(ctx: Context, urn: str, logical: str, inputs: dict):
    name = inputs.get("name") or ctx.physical(urn, logical, limit=64)
    role = ctx.clients("iam").create_role(**drop_none({
        "RoleName": name, "AssumeRolePolicyDocument": inputs["assumeRolePolicy"], "Path": inputs.get("path"),
        "Description": inputs.get("description"), "Tags": tag_list(inputs) or None,
        "MaxSessionDuration": int(inputs["maxSessionDuration"]) if inputs.get("maxSessionDuration") else None}))["Role"]
    return name, {"name": name, "arn": role["Arn"], "uniqueId": role["RoleId"]}


def _delete_role(ctx: Context, name: str, _: Outputs) -> None:
    iam = ctx.clients("iam")
    for policy in iam.list_role_policies(RoleName=name)["PolicyNames"]:
        iam.delete_role_policy(RoleName=name, PolicyName=policy)
    iam.delete_role(RoleName=name)


ROLE = Handler(_role, _delete_role,
               carries=("name", "assumeRolePolicy", "path", "description", "tags", "maxSessionDuration"))


def _role_policy(ctx: Context, urn: str, logical: str, inputs: dict):
    name = inputs.get("name") or ctx.physical(urn, logical, limit=128)
    ctx.clients("iam").put_role_policy(RoleName=inputs["role"], PolicyName=name, PolicyDocument=inputs["policy"])
    return f"{inputs['role']}:{name}", {"name": name, "role": inputs["role"]}


ROLE_POLICY = Handler(
    _role_policy,
    lambda ctx, ident, outputs: ctx.clients("iam").delete_role_policy(RoleName=outputs["role"],
                                                                      PolicyName=outputs["name"]),
    carries=("name", "role", "policy"))
