"""Arguments and runs of KubernetesServing shared by its tests and the manifest-validation tests."""

from __future__ import annotations

from functools import cache

import pulumi

from prodline.program import Registration, record

ACCOUNT = "123456789012"
ISSUER = "https://oidc.eks.eu-west-1.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE"
ISSUER_HOST = ISSUER.removeprefix("https://")
KEY_ARN = f"arn:aws:kms:eu-west-1:{ACCOUNT}:key/lake"
ARTIFACTS_ARN = "arn:aws:s3:::bucket-artifacts"
IMAGE = f"{ACCOUNT}.dkr.ecr.eu-west-1.amazonaws.com/prodline/serving:1.4.0"
CANARY_IMAGE = f"{ACCOUNT}.dkr.ecr.eu-west-1.amazonaws.com/prodline/serving:1.5.0"
OWNERSHIP = {"owner": "ml-platform", "cost-center": "cc-ml-test", "environment": "prod", "project": "prodline",
             "managed-by": "pulumi"}

# The shapes infra/ is expected to ask for, per environment.
PROFILES = {
    "dev": {},
    "staging": {"canary": {"image": CANARY_IMAGE, "weight": 10}, "ingress_host": "churn.staging.example.com",
                "disruption_budget": {"max_unavailable": 1}},
    "prod": {"min_replicas": 2, "max_replicas": 6, "spread_across_zones": True, "requests_per_second_target": 20,
             "disruption_budget": {"min_available": 1}, "ingress_host": "churn.example.com",
             "cpu_request": "500m", "cpu_limit": "2", "memory_request": "1Gi", "memory_limit": "2Gi"},
}


def lake_refs():
    from components.data_lake import LakeRefs

    out = pulumi.Output.from_input
    return LakeRefs(bucket_names={"artifacts": out("bucket-artifacts")},
                    bucket_arns={"artifacts": out(ARTIFACTS_ARN)}, key_arn=out(KEY_ARN), database_name=out("db"))


def serving_args(**changes) -> dict:
    """Plain arguments (no Outputs), so the pure validator can take them too; ``lake`` is added per run."""
    args = {
        "namespace": "churn-serving",
        "image": IMAGE,
        "model_data_url": "s3://bucket-artifacts/models/churn/2026-11-01/model.tar.gz",
        "lake": None,
        "region": "eu-west-1",
        "oidc_provider_arn": f"arn:aws:iam::{ACCOUNT}:oidc-provider/{ISSUER_HOST}",
        "oidc_issuer_url": ISSUER,
        "ingress_namespace": "ingress-nginx",
        "ownership_labels": OWNERSHIP,
        "kubeconfig": '{"apiVersion": "v1", "kind": "Config"}',
    }
    args.update(changes)
    return args


def build(**changes) -> list[Registration]:
    from components.k8s_serving import KubernetesServing

    return record(lambda: KubernetesServing("churn", {**serving_args(**changes), "lake": lake_refs()}), stack="test")


@cache
def profile(env: str) -> tuple[Registration, ...]:
    return tuple(build(**PROFILES[env]))


def kubernetes_objects(regs) -> list[Registration]:
    return [r for r in regs if r.custom and r.type.startswith("kubernetes:")]
