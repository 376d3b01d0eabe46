"""ECR: image repositories and their lifecycle policies."""

from __future__ import annotations

from prodline.sandbox.realizer.base import Context, Handler, drop_none, tag_list


def _encryption(inputs: dict) -> dict | None:
    """Pulumi takes a list of encryption configurations; ECR takes one (the provider sends the first)."""
    configs = inputs.get("encryptionConfigurations") or []
    if not configs:
        return None
    return drop_none({"encryptionType": configs[0]["encryptionType"], "kmsKey": configs[0].get("kmsKey")})


def _repository(ctx: Context, urn: str, logical: str, inputs: dict):
    name = inputs.get("name") or ctx.physical(urn, logical, limit=256)
    scanning = inputs.get("imageScanningConfiguration") or {}
    repo = ctx.clients("ecr").create_repository(**drop_none({
        "repositoryName": name, "imageTagMutability": inputs.get("imageTagMutability"),
        "imageScanningConfiguration": {"scanOnPush": bool(scanning.get("scanOnPush"))} if scanning else None,
        "encryptionConfiguration": _encryption(inputs), "tags": tag_list(inputs) or None}))["repository"]
    return name, {"name": name, "arn": repo["repositoryArn"], "repositoryUrl": repo["repositoryUri"],
                  "registryId": repo["registryId"]}


REPOSITORY = Handler(
    _repository, lambda ctx, name, _: ctx.clients("ecr").delete_repository(repositoryName=name, force=True),
    carries=("name", "imageTagMutability", "imageScanningConfiguration.scanOnPush",
             "encryptionConfigurations.encryptionType", "encryptionConfigurations.kmsKey", "tags"),
    recorded={"forceDelete": "the sandbox deletes every repository with its images, so `down` never stops at "
                             "a non-empty one"})


def _lifecycle_policy(ctx: Context, urn: str, logical: str, inputs: dict):
    ctx.clients("ecr").put_lifecycle_policy(repositoryName=inputs["repository"],
                                            lifecyclePolicyText=inputs["policy"])
    return inputs["repository"], {"repository": inputs["repository"]}


LIFECYCLE_POLICY = Handler(_lifecycle_policy, carries=("repository", "policy"))  # deleted with its repository
