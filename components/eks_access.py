"""Reaching an existing EKS cluster: a kubeconfig for its API, and IAM roles for service accounts (IRSA).

Declaring the cluster is out of scope: platform teams usually own it. What a workload needs from it is
an API endpoint to declare objects against and the cluster's OIDC issuer, which lets a Kubernetes
service account assume an IAM role through ``sts:AssumeRoleWithWebIdentity`` without node credentials.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

STS_AUDIENCE = "sts.amazonaws.com"
EXEC_API_VERSION = "client.authentication.k8s.io/v1beta1"


@dataclass(frozen=True)
class ClusterAccess:
    """What a Kubernetes component needs from a cluster: how to reach it and who issues its pod identities."""

    kubeconfig: pulumi.Input[str]
    oidc_issuer_url: pulumi.Input[str]
    """``https://oidc.eks.<region>.amazonaws.com/id/<ID>``, as EKS reports it."""
    oidc_provider_arn: pulumi.Input[str]
    """The IAM OIDC identity provider registered for that issuer (eksctl or the cluster's own stack makes it)."""


def issuer_host(issuer_url: str) -> str:
    """The issuer without its scheme: the form IAM uses in provider ARNs and condition keys."""
    return issuer_url.removeprefix("https://").rstrip("/")


def oidc_provider_arn(account_id: pulumi.Input[str], issuer_url: pulumi.Input[str]) -> pulumi.Output[str]:
    """ARN of the IAM OIDC provider for an issuer (the provider itself must already exist)."""
    host = pulumi.Output.from_input(issuer_url).apply(issuer_host)
    return pulumi.Output.concat("arn:aws:iam::", account_id, ":oidc-provider/", host)


def web_identity_trust(provider_arn: pulumi.Input[str], issuer_url: pulumi.Input[str], namespace: str,
                       service_account: str) -> pulumi.Output[str]:
    """Trust policy letting exactly one service account of one namespace assume a role, for STS only.

    Both conditions matter: ``sub`` pins the service account (any pod in the cluster could otherwise
    present a token), ``aud`` pins the token's audience to STS.
    """
    def render(values: list[str]) -> str:
        arn, host = values[0], issuer_host(values[1])
        return json.dumps({
            "Version": "2012-10-17",
            "Statement": [{
                "Sid": "AssumedByServiceAccount",
                "Effect": "Allow",
                "Principal": {"Federated": arn},
                "Action": "sts:AssumeRoleWithWebIdentity",
                "Condition": {"StringEquals": {
                    f"{host}:sub": f"system:serviceaccount:{namespace}:{service_account}",
                    f"{host}:aud": STS_AUDIENCE,
                }},
            }],
        })

    # Condition keys contain the issuer, so the document is built once both values are known.
    return pulumi.Output.all(provider_arn, issuer_url).apply(render)


def eks_kubeconfig(cluster_name: str, endpoint: pulumi.Input[str], certificate_authority: pulumi.Input[str],
                   region: str) -> pulumi.Output[str]:
    """A kubeconfig that authenticates with ``aws eks get-token``: no long-lived token is stored in state."""
    def render(values: list[str]) -> str:
        server, ca_data = values
        user = {"exec": {"apiVersion": EXEC_API_VERSION, "command": "aws",
                         "args": ["eks", "get-token", "--cluster-name", cluster_name, "--region", region],
                         "interactiveMode": "Never"}}
        return json.dumps({
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": cluster_name, "cluster": {"server": server, "certificate-authority-data": ca_data}}],
            "users": [{"name": cluster_name, "user": user}],
            "contexts": [{"name": cluster_name, "context": {"cluster": cluster_name, "user": cluster_name}}],
            "current-context": cluster_name,
        })

    return pulumi.Output.all(endpoint, certificate_authority).apply(render)


def existing_eks_cluster(cluster_name: str, region: str, account_id: pulumi.Input[str]) -> ClusterAccess:
    """Look up an EKS cluster by name (``aws:eks/getCluster``) and describe how to reach it."""
    cluster = aws.eks.get_cluster_output(name=cluster_name)
    issuer = cluster.identities.apply(lambda ids: ids[0].oidcs[0].issuer)
    ca_data = cluster.certificate_authorities.apply(lambda cas: cas[0].data)
    return ClusterAccess(
        kubeconfig=eks_kubeconfig(cluster_name, cluster.endpoint, ca_data, region),
        oidc_issuer_url=issuer,
        oidc_provider_arn=oidc_provider_arn(account_id, issuer),
    )
