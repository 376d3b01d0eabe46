"""Each stack's deployer, and the names and boundary that let its scoped deploy role run `pulumi up`."""

from __future__ import annotations

import fnmatch
import json
from pathlib import Path

import pytest

from components import deployer_policy
from infra import delivery, naming
from infra.config import parse_config
from prodline import stack_files
from tests.helpers import STACKS, named, of_type, stack_registrations, statements

ACCOUNT = "123456789012"
BOUNDARY = f"arn:aws:iam::{ACCOUNT}:policy/prodline-deployer-boundary"
VARIANTS = [(stack, ()) for stack in STACKS] + [
    ("dev", ("prodline:servingPlatform=kubernetes",)),
    ("prod", ("prodline:servingPlatform=kubernetes",)),
    ("staging", ("prodline:servingImageSource=project",)),
]


def ids(variant) -> str:
    stack, overrides = variant
    return "-".join([stack, *(o.split("=")[1] for o in overrides)])


@pytest.mark.parametrize("stack", STACKS)
def test_every_stack_has_an_approval_triggered_deployer_with_a_bounded_role(stack):
    regs = stack_registrations(stack)
    rule = named(regs, "deployer-on-approval")
    assert rule.inputs["name"] == f"prodline-{stack}-deploy-on-approval"
    assert json.loads(rule.inputs["eventPattern"])["detail"]["ModelPackageGroupName"] == [f"prodline-{stack}-churn"]
    (project,) = of_type(regs, "aws:codebuild/project:Project")
    assert project.inputs["name"] == f"prodline-{stack}-deployer"
    role = named(regs, "deployer-role")
    assert role.inputs["permissionsBoundary"] == BOUNDARY
    assert project.inputs["serviceRole"] == role.outputs["arn"]


def test_the_registrys_own_approval_notice_stays():
    targets = {t.name for t in of_type(stack_registrations("prod"), "aws:cloudwatch/eventTarget:EventTarget")}
    assert "registry-approved-notify" in targets


@pytest.mark.parametrize(("stack", "required"), [("dev", "false"), ("staging", "false"), ("prod", "true")])
def test_the_build_knows_whether_the_stack_requires_approval(stack, required):
    (project,) = of_type(stack_registrations(stack), "aws:codebuild/project:Project")
    env = {v["name"]: v["value"] for v in project.inputs["environment"]["environmentVariables"]}
    assert env["PRODLINE_REQUIRE_APPROVAL"] == required
    assert env["STACK"] == stack and env["PULUMI_BACKEND_URL"] == f"s3://prodline-pulumi-state-{ACCOUNT}"


@pytest.mark.parametrize(("stack", "next_stack"), [("dev", "staging"), ("staging", "prod"), ("prod", None)])
def test_the_deploy_role_may_request_a_deploy_of_the_next_stack_only(stack, next_stack):
    regs = stack_registrations(stack)
    sids = {s["Sid"]: s for p in of_type(regs, "aws:iam/policy:Policy") for s in statements(p.inputs["policy"])}
    if next_stack is None:
        assert "RequestDeployOfNextStack" not in sids
    else:
        assert sids["RequestDeployOfNextStack"]["Resource"] == [
            f"arn:aws:sqs:eu-west-1:{ACCOUNT}:prodline-{next_stack}-deploy-requests.fifo"]


def test_a_configured_backend_reaches_the_build_and_scopes_the_state_access():
    regs = stack_registrations("dev", "prodline:pulumiBackendUrl=s3://team-state/prodline")
    (project,) = of_type(regs, "aws:codebuild/project:Project")
    env = {v["name"]: v["value"] for v in project.inputs["environment"]["environmentVariables"]}
    assert env["PULUMI_BACKEND_URL"] == "s3://team-state/prodline"
    sids = {s["Sid"]: s for p in of_type(regs, "aws:iam/policy:Policy") for s in statements(p.inputs["policy"])}
    assert sids["ListPulumiState"]["Resource"] == ["arn:aws:s3:::team-state"]


def test_backend_defaults_to_the_bootstraps_state_bucket():
    config = parse_config(stack_files.load("dev"), "dev")
    assert delivery.backend(config, ACCOUNT) == (f"s3://prodline-pulumi-state-{ACCOUNT}",
                                                 f"prodline-pulumi-state-{ACCOUNT}")


# --- what a deploy role may manage covers what the program declares ----------------------------------

@pytest.mark.parametrize("variant", VARIANTS, ids=ids)
def test_every_declared_type_has_its_deploy_permissions(variant):
    stack, overrides = variant
    uncovered = {r.type for r in stack_registrations(stack, *overrides)
                 if r.custom and deployer_policy.module_of(r.type) not in (*deployer_policy.SERVICES, None)
                 and not r.type.startswith("pulumi:providers:")}
    assert not uncovered, f"add these types' actions to components/deployer_policy.py: {sorted(uncovered)}"


def physical_names(registrations, prefix: str):
    """(resource, name, patterns it must match) for every resource the deploy role reaches by name."""
    name_patterns = {
        "aws:iam/role:Role": ("name", [f"{prefix}-*"]),
        "aws:iam/policy:Policy": ("name", [f"{prefix}-*"]),
        "aws:s3/bucket:Bucket": ("bucket", [f"{prefix}-*"]),
        "aws:cloudwatch/eventRule:EventRule": ("name", [f"{prefix}-*"]),
        "aws:cloudwatch/eventBus:EventBus": ("name", [prefix]),
        "aws:cloudwatch/metricAlarm:MetricAlarm": ("name", [f"{prefix}-*"]),
        "aws:cloudwatch/dashboard:Dashboard": ("dashboardName", [f"{prefix}-*"]),
        "aws:cloudwatch/logGroup:LogGroup": ("name", [f"{p}{prefix}-*" for p in deployer_policy.LOG_GROUP_PREFIXES]),
        "aws:glue/job:Job": ("name", [f"{prefix}-*"]),
        "aws:glue/trigger:Trigger": ("name", [f"{prefix}-*"]),
        "aws:glue/catalogDatabase:CatalogDatabase": ("name", [prefix.replace("-", "_")]),
        "aws:sns/topic:Topic": ("name", [f"{prefix}-*"]),
        "aws:sqs/queue:Queue": ("name", [f"{prefix}-*"]),
        "aws:codebuild/project:Project": ("name", [f"{prefix}-*"]),
        "aws:sagemaker/pipeline:Pipeline": ("pipelineName", [f"{prefix}-*"]),
        "aws:sagemaker/modelPackageGroup:ModelPackageGroup": ("modelPackageGroupName", [f"{prefix}-*"]),
        "aws:sagemaker/endpoint:Endpoint": ("name", [f"{prefix}-*"]),
        "aws:ecr/repository:Repository": ("name", [f"{prefix}/*"]),
        "aws:kms/alias:Alias": ("name", [f"alias/{prefix}-*", *delivery.LAKE_KEY_ALIASES]),
    }
    for r in registrations:
        if r.type in name_patterns:
            key, patterns = name_patterns[r.type]
            yield r, r.inputs.get(key), patterns


@pytest.mark.parametrize("variant", VARIANTS, ids=ids)
def test_every_named_resource_is_under_the_prefix_the_deploy_role_is_scoped_to(variant):
    stack, overrides = variant
    checked = 0
    for r, name, patterns in physical_names(stack_registrations(stack, *overrides), f"prodline-{stack}"):
        assert isinstance(name, str), f"{r.type} {r.name} has no explicit name for the deploy role to match"
        assert any(fnmatch.fnmatchcase(name, p) for p in patterns), f"{r.type} {r.name}: {name} is outside {patterns}"
        checked += 1
    assert checked > 40


@pytest.mark.parametrize("stack", STACKS)
def test_every_role_carries_the_boundary_and_buckets_end_in_the_account(stack):
    regs = stack_registrations(stack)
    for role in of_type(regs, "aws:iam/role:Role"):
        assert role.inputs["permissionsBoundary"] == BOUNDARY, role.name
        assert len(role.inputs["name"]) <= 64
    for bucket in of_type(regs, "aws:s3/bucket:Bucket"):
        assert bucket.inputs["bucket"].endswith(f"-{ACCOUNT}") and len(bucket.inputs["bucket"]) <= 63, bucket.name


def test_explicit_names_and_boundaries_are_kept():
    import pulumi_aws as aws

    from tests.helpers import component_registrations

    def program():
        naming.register_stack_naming("prodline-dev", ACCOUNT, BOUNDARY)
        aws.iam.Role("mine", name="chosen", permissions_boundary="arn:aws:iam::1:policy/other", assume_role_policy="{}")
        aws.iam.Role("auto", assume_role_policy="{}")
        aws.s3.Bucket("data")
        aws.cloudwatch.EventRule("rule", schedule_expression="rate(1 hour)")
        aws.sqs.Queue("untouched")

    regs = component_registrations(program)
    assert named(regs, "mine").inputs["name"] == "chosen"
    assert named(regs, "mine").inputs["permissionsBoundary"] == "arn:aws:iam::1:policy/other"
    assert named(regs, "auto").inputs == {"name": "prodline-dev-auto", "permissionsBoundary": BOUNDARY,
                                          "assumeRolePolicy": "{}"}
    assert named(regs, "data").inputs["bucket"] == f"prodline-dev-data-{ACCOUNT}"
    assert named(regs, "rule").inputs["name"] == "prodline-dev-rule"
    assert "name" not in named(regs, "untouched").inputs


def test_long_names_are_shortened_stably():
    long = naming.physical_name("prodline-staging", "a-very-long-logical-name-" * 3, 64)
    assert len(long) <= 64 and long == naming.physical_name("prodline-staging", "a-very-long-logical-name-" * 3, 64)
    assert naming.physical_name("prodline-dev", "Lake_Raw", 63) == "prodline-dev-lake-raw"


# --- the repository bundle the build runs -----------------------------------------------------------

def test_the_bundle_holds_what_pip_install_and_prodline_deploy_need():
    files = delivery.repository_bundle()
    for needed in ("pyproject.toml", "README.md", "Pulumi.yaml", "Pulumi.prod.yaml", "infra/__main__.py",
                   "components/deployer.py", "workloads/etl/schema.py", "policies/PulumiPolicy.yaml",
                   "prodline/cli.py", "standards/delivery.py"):
        assert needed in files, needed
    for name in files:
        parts = Path(name).parts
        assert parts[0] not in ("tests", ".venv", "sandbox", "build", "bootstrap"), name
        assert "__pycache__" not in parts and not name.endswith(".pyc"), name


def test_the_bundle_skips_caches_and_hidden_files(tmp_path):
    for name in ("pyproject.toml", "README.md", "Pulumi.yaml", "infra/a.py", "infra/__pycache__/a.pyc",
                 "infra/.hidden", "tests/test_a.py", "sandbox/dev/state.json"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("x")
    assert sorted(delivery.repository_bundle(tmp_path)) == ["Pulumi.yaml", "README.md", "infra/a.py",
                                                            "pyproject.toml"]


def test_the_offline_preview_shows_the_deployer():
    import subprocess
    import sys

    result = subprocess.run([sys.executable, "-m", "prodline.cli", "preview", "--stack", "prod", "--json"],
                            capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    by_name = {r["name"]: r for r in json.loads(result.stdout)}
    assert by_name["deployer-on-approval"]["inputs"]["name"] == "prodline-prod-deploy-on-approval"
    assert by_name["deployer-project"]["type"] == "aws:codebuild/project:Project"
    assert by_name["deployer-role"]["inputs"]["permissionsBoundary"] == BOUNDARY
    assert by_name["deployer-source"]["inputs"]["source"]["asset"]["path"].startswith("build/bundles/deployer-")
