"""The pack as a whole: what CrossGuard needs from it, and the conventions every rule follows."""

from __future__ import annotations

import importlib.machinery
import json
import os
import re
import runpy
import subprocess
import sys
from pathlib import Path

import pulumi_policy
import pytest
import yaml

from policies import pack_config, registry
from policies.rule import ResourceRule, StackRule
from standards.environments import ENVIRONMENTS

ROOT = Path(__file__).resolve().parents[2]
POLICIES = ROOT / "policies"
SERVICES = ("s3", "iam", "kms", "glue", "sagemaker", "tracking", "monitoring", "batch", "cloudwatch", "streaming",
            "apigateway", "tagging", "cost", "kubernetes", "delivery")


def test_the_pack_has_at_least_25_rules_in_one_module_per_service():
    assert len(registry.RULES) >= 25
    assert {registry.service(rule) for rule in registry.RULES} == set(SERVICES)


@pytest.mark.parametrize("rule", registry.RULES, ids=lambda r: r.name)
def test_each_rule_follows_the_conventions(rule):
    assert re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)+", rule.name), "rule names are kebab-case"
    assert rule.description.startswith(("Requires", "Prohibits")), rule.description
    assert isinstance(rule, ResourceRule | StackRule)
    assert set(rule.levels) == set(ENVIRONMENTS)
    assert rule.config_schema.properties["environment"]["enum"] == list(ENVIRONMENTS)


def test_each_expected_failure_names_a_rule_of_the_pack_and_the_issue_that_ends_it():
    from tests.policies.expected import EXPECTED_FAILURES

    for failure in EXPECTED_FAILURES:
        assert registry.by_name(failure.rule) and failure.issue > 0 and failure.reason, failure
        assert f"`{failure.rule}`" in (ROOT / "README.md").read_text().split("Choices worth knowing")[1], (
            "README's policy section must say which stacks are expected to fail the rule, and until when")


def test_rule_names_are_unique():
    names = [rule.name for rule in registry.RULES]
    assert len(names) == len(set(names))


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_the_config_files_match_the_rules(environment):
    assert pack_config.config_path(environment).read_text() == pack_config.render(environment), (
        "policies/config is stale: run .venv/bin/python -m policies.pack_config")


def test_environments_change_enforcement():
    levels = {rule.name: {env: rule.levels[env].value for env in ENVIRONMENTS} for rule in registry.RULES}
    assert levels["sagemaker-data-capture-enabled"] == {"dev": "disabled", "staging": "mandatory", "prod": "mandatory"}
    assert levels["cost-endpoint-capacity-capped"]["dev"] == "mandatory"
    assert levels["cost-endpoint-capacity-capped"]["prod"] == "advisory"
    assert levels["kubernetes-disruption-budget"]["prod"] == "mandatory"


def test_only_the_entry_point_constructs_the_policy_pack():
    constructing = [p.relative_to(POLICIES).as_posix() for p in POLICIES.rglob("*.py")
                    if "PolicyPack(" in p.read_text()]
    assert constructing == ["__main__.py"]


def test_the_rules_live_in_their_own_package_one_module_per_service():
    assert {module.__name__ for module in registry.MODULES} == {f"policies.rules.{name}" for name in SERVICES}


def test_nothing_in_the_pack_folder_shadows_an_installed_module():
    # The CLI runs the folder as a script, so each module or package at its top level becomes importable under
    # its bare name (a policies/s3.py would be `s3`, a policies/sagemaker.py would hide the SageMaker SDK).
    modules = {p.stem for p in POLICIES.glob("*.py")} - {"__init__", "__main__"}
    names = modules | {p.name for p in POLICIES.iterdir() if (p / "__init__.py").is_file()}
    elsewhere = [entry for entry in sys.path if Path(entry or ".").resolve() not in (POLICIES, ROOT)]
    shadowed = {name: spec.origin for name in names
                if (spec := importlib.machinery.PathFinder.find_spec(name, elsewhere)) is not None}
    assert not shadowed, f"modules in policies/ hide installed ones when the CLI runs the pack: {shadowed}"


# Run in a fresh interpreter as the CLI runs the pack: the folder as a script, so the folder is first on sys.path
# and `policies` resolves as the project's installed package. PolicyPack is stubbed: the real one serves forever.
AS_THE_CLI_RUNS_IT = """
import json, runpy, sys
import pulumi_policy
pulumi_policy.PolicyPack = lambda **pack: print(json.dumps([policy.name for policy in pack["policies"]]))
sys.path.insert(0, sys.argv[1])
runpy.run_path(sys.argv[1], run_name="__main__")
"""


def test_the_pack_starts_in_a_fresh_interpreter_as_the_cli_runs_it():
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONSAFEPATH")}
    done = subprocess.run([sys.executable, "-c", AS_THE_CLI_RUNS_IT, str(POLICIES)], cwd=POLICIES, env=env,
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.strip().splitlines()[-1]) == [rule.name for rule in registry.RULES]


@pytest.mark.parametrize(("variables", "environment"), [
    ({}, "prod"),
    ({"PRODLINE_ENVIRONMENT": "dev"}, "dev"),
    ({"PULUMI_STACK": "acme/staging"}, "staging"),
    ({"PULUMI_STACK": "sandbox-42"}, "prod"),
])
def test_the_entry_point_builds_the_pack_with_every_rule(monkeypatch, variables, environment):
    built = {}
    monkeypatch.setattr(pulumi_policy, "PolicyPack", lambda **kwargs: built.update(kwargs))
    # As the CLI runs it (runpy on the folder): the pack's folder first on sys.path, and `policies` importable as
    # the project's installed package, not from the folder or the working directory.
    monkeypatch.setattr(sys, "path", [str(POLICIES), *(p for p in sys.path if Path(p or ".").resolve() != ROOT)])
    for name in ("PRODLINE_ENVIRONMENT", "PULUMI_STACK"):
        monkeypatch.delenv(name, raising=False)
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    path_before = list(sys.path)
    runpy.run_path(str(POLICIES), run_name="__main__")
    assert sys.path == path_before, "the entry point must not edit sys.path"
    assert built["name"] == "prodline"
    assert built["policies"] == list(registry.RULES)
    config = built["initial_config"]
    assert {entry["environment"] for entry in config.values()} == {environment}
    assert all(isinstance(entry["enforcementLevel"], pulumi_policy.EnforcementLevel) for entry in config.values())


def test_the_pack_project_file_runs_python_in_the_project_virtualenv():
    project = yaml.safe_load((POLICIES / "PulumiPolicy.yaml").read_text())
    assert project["runtime"]["name"] == "python"
    assert (POLICIES / project["runtime"]["options"]["virtualenv"]).resolve() == ROOT / ".venv"
    assert (POLICIES / "requirements.txt").is_file()


def test_the_readme_lists_every_rule_with_its_levels():
    readme = (ROOT / "README.md").read_text()
    assert f"({len(registry.RULES)} rules)" in readme, "README's rule count is stale"
    rows = {line.split("`")[1]: line for line in readme.splitlines() if line.startswith("| `")}
    for rule in registry.RULES:
        levels = " | ".join(rule.levels[env].value for env in ENVIRONMENTS)
        assert rule.name in rows, f"README's policy table lacks {rule.name}"
        assert rows[rule.name].endswith(f"| {levels} |"), f"README's levels for {rule.name} are stale"
