"""Application Auto Scaling: scalable targets and target-tracking policies."""

from __future__ import annotations

from prodline.sandbox.realizer.base import Context, Handler, Outputs, drop_none, tag_map

SCALABLE = ("serviceNamespace", "resourceId", "scalableDimension")


def _scalable_target(ctx: Context, urn: str, logical: str, inputs: dict):
    ctx.clients("application-autoscaling").register_scalable_target(**drop_none({
        "ServiceNamespace": inputs["serviceNamespace"], "ResourceId": inputs["resourceId"],
        "ScalableDimension": inputs["scalableDimension"], "MinCapacity": int(inputs["minCapacity"]),
        "MaxCapacity": int(inputs["maxCapacity"]), "RoleARN": inputs.get("roleArn"),
        "Tags": tag_map(inputs) or None}))
    return inputs["resourceId"], {k: inputs[k] for k in SCALABLE}


def _delete_scalable_target(ctx: Context, resource_id: str, outputs: Outputs) -> None:
    ctx.clients("application-autoscaling").deregister_scalable_target(
        ServiceNamespace=outputs["serviceNamespace"], ResourceId=resource_id,
        ScalableDimension=outputs["scalableDimension"])


SCALABLE_TARGET = Handler(_scalable_target, _delete_scalable_target,
                          carries=(*SCALABLE, "minCapacity", "maxCapacity", "roleArn", "tags"))


def _tracking(tracking: dict) -> dict:
    return drop_none({
        "TargetValue": float(tracking["targetValue"]),
        "PredefinedMetricSpecification": drop_none({
            "PredefinedMetricType": tracking["predefinedMetricSpecification"]["predefinedMetricType"],
            "ResourceLabel": tracking["predefinedMetricSpecification"].get("resourceLabel")}),
        "ScaleInCooldown": int(tracking["scaleInCooldown"]) if tracking.get("scaleInCooldown") else None,
        "ScaleOutCooldown": int(tracking["scaleOutCooldown"]) if tracking.get("scaleOutCooldown") else None,
        "DisableScaleIn": tracking.get("disableScaleIn"),
    })


def _scaling_policy(ctx: Context, urn: str, logical: str, inputs: dict):
    name = inputs.get("name") or ctx.physical(urn, logical, limit=255)
    arn = ctx.clients("application-autoscaling").put_scaling_policy(
        PolicyName=name, ServiceNamespace=inputs["serviceNamespace"], ResourceId=inputs["resourceId"],
        ScalableDimension=inputs["scalableDimension"], PolicyType=inputs["policyType"],
        TargetTrackingScalingPolicyConfiguration=_tracking(inputs["targetTrackingScalingPolicyConfiguration"]),
    )["PolicyARN"]
    return name, {"name": name, "arn": arn, **{k: inputs[k] for k in SCALABLE}}


def _delete_scaling_policy(ctx: Context, name: str, outputs: Outputs) -> None:
    ctx.clients("application-autoscaling").delete_scaling_policy(
        PolicyName=name, ServiceNamespace=outputs["serviceNamespace"], ResourceId=outputs["resourceId"],
        ScalableDimension=outputs["scalableDimension"])


SCALING_POLICY = Handler(
    _scaling_policy, _delete_scaling_policy,
    carries=(*SCALABLE, "name", "policyType",
             *(f"targetTrackingScalingPolicyConfiguration.{path}" for path in (
                 "targetValue", "predefinedMetricSpecification.predefinedMetricType",
                 "predefinedMetricSpecification.resourceLabel", "scaleInCooldown", "scaleOutCooldown",
                 "disableScaleIn"))))
