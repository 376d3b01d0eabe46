"""EKS access helpers: a token-less kubeconfig, the OIDC provider ARN and a cluster looked up by name."""

from __future__ import annotations

import json

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from components import eks_access
from prodline.program import RecordingMocks, record
from tests.components.k8s_cases import ISSUER, ISSUER_HOST
from tests.helpers import named, statements

CA_DATA = "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0t"
ENDPOINT = "https://EXAMPLE.gr7.eu-west-1.eks.amazonaws.com"


class EksMocks(RecordingMocks):
    """Recording mocks that also answer ``aws:eks/getCluster`` the way EKS describes a cluster."""

    def call(self, args: pulumi.runtime.MockCallArgs):
        if args.token == "aws:eks/getCluster:getCluster":
            return {"name": args.args["name"], "endpoint": ENDPOINT,
                    "certificateAuthorities": [{"data": CA_DATA}],
                    "identities": [{"oidcs": [{"issuer": ISSUER}]}]}
        return super().call(args)


def use(access: eks_access.ClusterAccess) -> None:
    """Feed a ClusterAccess into resources, so the recorded inputs show what it resolved to."""
    k8s.Provider("cluster", kubeconfig=access.kubeconfig)
    aws.iam.Role("irsa", assume_role_policy=eks_access.web_identity_trust(
        access.oidc_provider_arn, access.oidc_issuer_url, "churn-serving", "churn"))


def test_issuer_host_drops_the_scheme_and_trailing_slash():
    assert eks_access.issuer_host(ISSUER + "/") == ISSUER_HOST


def test_existing_cluster_is_reached_with_aws_eks_get_token():
    regs = record(lambda: use(eks_access.existing_eks_cluster("ml-cluster", "eu-west-1", "123456789012")),
                  stack="test", mocks=EksMocks("eu-west-1"))
    config = json.loads(named(regs, "cluster").inputs["kubeconfig"])
    assert config["clusters"] == [{"name": "ml-cluster", "cluster": {
        "server": ENDPOINT, "certificate-authority-data": CA_DATA}}]
    user = config["users"][0]["user"]
    assert "token" not in user, "no long-lived token in the kubeconfig"
    assert user["exec"]["command"] == "aws"
    assert user["exec"]["args"] == ["eks", "get-token", "--cluster-name", "ml-cluster", "--region", "eu-west-1"]
    assert config["current-context"] == "ml-cluster"
    (trust,) = statements(named(regs, "irsa").inputs["assumeRolePolicy"])
    assert trust["Principal"] == {"Federated": f"arn:aws:iam::123456789012:oidc-provider/{ISSUER_HOST}"}
    assert trust["Condition"]["StringEquals"][f"{ISSUER_HOST}:sub"] == "system:serviceaccount:churn-serving:churn"
