"""Stack-wide names and the permissions boundary: what lets one scoped deploy role run ``pulumi up``.

The deploy role (``components/deployer.py``) may manage only resources whose names start with the
stack's prefix (``prodline-<env>-``) and may create roles only if they carry the account's permissions
boundary. A stack transformation gives every role, default-bus rule and bucket that a component left to
autonaming a name under that prefix (buckets also end in the account id: their names are global), and
every role that has none the boundary. Like the ownership tags (``infra/tags.py``), the result sits in
each resource's own inputs, where the previews and the policy pack see it.
"""

from __future__ import annotations

import hashlib
import re

import pulumi

# Type token -> (name property, prefix property, longest name AWS accepts).
NAMED_TYPES: dict[str, tuple[str, str, int]] = {
    "aws:iam/role:Role": ("name", "name_prefix", 64),
    "aws:cloudwatch/eventRule:EventRule": ("name", "name_prefix", 64),
    "aws:s3/bucket:Bucket": ("bucket", "bucket_prefix", 63),
}
ROLE = "aws:iam/role:Role"
BUCKET = "aws:s3/bucket:Bucket"
ACCOUNT_ID_LENGTH = 12


def physical_name(prefix: str, logical: str, limit: int) -> str:
    """``<prefix>-<logical>``, lowercased to what every named type accepts; shortened with a hash past ``limit``."""
    name = re.sub(r"[^a-z0-9-]+", "-", f"{prefix}-{logical}".lower()).strip("-")
    if len(name) <= limit:
        return name
    digest = hashlib.sha1(name.encode()).hexdigest()[:7]  # naming, not security
    return f"{name[: limit - 8].rstrip('-')}-{digest}"


def stack_naming(prefix: str, account_id: pulumi.Input[str], boundary_arn: pulumi.Input[str]):
    """A transformation that names unnamed resources under ``prefix`` and puts the boundary on every role."""

    def transform(args: pulumi.ResourceTransformationArgs) -> pulumi.ResourceTransformationResult | None:
        if not isinstance(args.resource, pulumi.CustomResource) or args.type_ not in NAMED_TYPES:
            return None
        props = dict(args.props)
        name_key, prefix_key, limit = NAMED_TYPES[args.type_]
        if props.get(name_key) is None and props.get(prefix_key) is None:
            if args.type_ == BUCKET:
                base = physical_name(prefix, args.name, limit - ACCOUNT_ID_LENGTH - 1)
                props[name_key] = pulumi.Output.concat(base, "-", account_id)
            else:
                props[name_key] = physical_name(prefix, args.name, limit)
        if args.type_ == ROLE and props.get("permissions_boundary") is None:
            props["permissions_boundary"] = boundary_arn
        return pulumi.ResourceTransformationResult(props, args.opts)

    return transform


def register_stack_naming(prefix: str, account_id: pulumi.Input[str], boundary_arn: pulumi.Input[str]) -> None:
    pulumi.runtime.register_stack_transformation(stack_naming(prefix, account_id, boundary_arn))
