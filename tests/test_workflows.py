"""The GitHub Actions workflows, linted offline: GitHub's schema (check-jsonschema) and a security audit (zizmor).

Both tools come with the dev extra as wheels. zizmor runs with ``--offline``, no GitHub token and every proxy
pointed at a closed port, so the audit can never reach GitHub. Each check also runs on a broken workflow, to
prove it can fail.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
WORKFLOW_DIR = ROOT / ".github" / "workflows"
WORKFLOWS = sorted(p for p in WORKFLOW_DIR.iterdir() if p.suffix in (".yml", ".yaml"))
STACKS = ("dev", "staging", "prod")

# Findings below this severity are advice; at medium and above a workflow fails the suite. Every confidence
# counts (`--min-confidence` is left at its default, low): a medium finding zizmor is unsure of still fails.
MIN_SEVERITY = "medium"
# An action reference: owner/repo[/path]@<full commit SHA>, then a comment naming the release it is.
PINNED_USES = re.compile(r"[\w.-]+/[\w.-]+(/[\w./-]+)?@[0-9a-f]{40}  # v\d+\.\d+\.\d+")
DEAD_PROXY = "http://127.0.0.1:9"


def venv_tool(name: str) -> str | None:
    """A tool installed by a wheel into this environment (its bin may not be on PATH under `.venv/bin/pytest`)."""
    beside = Path(sys.executable).parent / name
    return str(beside) if beside.exists() else shutil.which(name)


def _tool(name: str, wheel: str) -> str:
    found = venv_tool(name)
    if found is None:
        pytest.skip(f"{name} is not installed (the dev extra's {wheel} wheel provides it: make setup)")
    return found


def _offline_env() -> dict[str, str]:
    """This process's environment without GitHub credentials, and with every proxy at a closed port."""
    env = {k: v for k, v in os.environ.items()
           if k not in {"GH_TOKEN", "GITHUB_TOKEN", "ZIZMOR_GITHUB_TOKEN", "GH_HOST", "NO_PROXY", "no_proxy"}}
    for var in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        env[var] = DEAD_PROXY
    env["NO_COLOR"] = "1"
    return env


def _run(argv: list[str]) -> tuple[int, str]:
    done = subprocess.run(argv, capture_output=True, text=True, timeout=120, env=_offline_env(), cwd=ROOT,
                          check=False)
    return done.returncode, (done.stdout + done.stderr).strip()


def schema_check(path: Path) -> tuple[int, str]:
    """check-jsonschema against the GitHub workflow schema it bundles: (exit code, output)."""
    tool = _tool("check-jsonschema", "check-jsonschema")
    return _run([tool, "--builtin-schema", "vendor.github-workflows", str(path)])


def zizmor_audit(path: Path) -> tuple[int, str]:
    """zizmor, offline, reporting findings at MIN_SEVERITY and above: (exit code, output)."""
    tool = _tool("zizmor", "zizmor")
    return _run([tool, "--offline", "--min-severity", MIN_SEVERITY, "--strict-collection",
                 "--no-progress", "--color", "never", "--format", "plain", str(path)])


def _load(path: Path) -> dict:
    doc = yaml.safe_load(path.read_text())
    if True in doc:  # YAML 1.1 reads the bare key `on` as a boolean
        doc["on"] = doc.pop(True)
    return doc


def _uses_lines(path: Path) -> list[str]:
    return [m.group(1) for m in re.finditer(r"^\s*(?:-\s+)?uses:\s*(.+?)\s*$", path.read_text(), re.MULTILINE)]


def test_there_are_workflows_to_lint():
    names = {p.name for p in WORKFLOWS}
    assert {"ci.yml", "deploy.yml"} <= names, f"expected ci.yml and deploy.yml in {WORKFLOW_DIR}, found {names}"


# --- every workflow passes both tools ----------------------------------------------------------------------------

@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_workflow_matches_github_workflow_schema(path):
    code, output = schema_check(path)
    assert code == 0, f"check-jsonschema rejects {path.name}:\n{output}"


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_workflow_has_no_zizmor_findings_at_medium_or_above(path):
    code, output = zizmor_audit(path)
    assert code == 0, f"zizmor --offline reports findings at {MIN_SEVERITY} or above in {path.name}:\n{output}"


# --- the checks can fail ----------------------------------------------------------------------------------------

BROKEN_WORKFLOW = """\
name: broken
on:
  pull_request:
  workflow_dispatch:
    inputs:
      stack:
        type: string
permissions: {}
jobs:
  policy:
    runs-on: ubuntu-latest
    permissions:
      contents: read
    steps:
      - uses: actions/checkout@v4
        with:
          persist-credentials: false
      - run: .venv/bin/prodline policy --stack ${{ inputs.stack }}
"""


def test_zizmor_reports_an_unpinned_action_and_a_template_injection(tmp_path):
    path = tmp_path / "broken.yml"
    path.write_text(BROKEN_WORKFLOW)
    code, output = zizmor_audit(path)
    assert code != 0, f"zizmor passed a workflow with an unpinned action and a template injection:\n{output}"
    assert "unpinned-uses" in output, output
    assert "template-injection" in output, output


def test_zizmor_passes_the_same_workflow_once_pinned_and_without_injection(tmp_path):
    fixed = (BROKEN_WORKFLOW
             .replace("actions/checkout@v4", "actions/checkout@11d5960a326750d5838078e36cf38b85af677262  # v4.4.0")
             .replace("run: .venv/bin/prodline policy --stack ${{ inputs.stack }}",
                      'run: .venv/bin/prodline policy --stack "$STACK"\n'
                      "        env:\n"
                      "          STACK: ${{ inputs.stack }}"))
    path = tmp_path / "fixed.yml"
    path.write_text(fixed)
    code, output = zizmor_audit(path)
    assert code == 0, f"the fixed workflow should pass, so the failing case fails for its two faults only:\n{output}"


def test_schema_check_rejects_a_misspelled_key(tmp_path):
    path = tmp_path / "misspelled.yml"
    path.write_text(BROKEN_WORKFLOW.replace("    runs-on: ubuntu-latest", "    run-on: ubuntu-latest"))
    code, output = schema_check(path)
    assert code != 0, f"check-jsonschema accepted a job with `run-on` instead of `runs-on`:\n{output}"
    assert "runs-on" in output, output


# --- what the tools do not check --------------------------------------------------------------------------------

@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_every_action_is_pinned_to_a_commit_with_its_release_named(path):
    for ref in _uses_lines(path):
        if ref.startswith("./"):
            continue
        assert PINNED_USES.fullmatch(ref), \
            f"{path.name}: `uses: {ref}` must be owner/repo@<40-hex commit>  # vX.Y.Z (the release that commit is)"


def test_one_action_is_pinned_to_one_commit_and_release_everywhere():
    seen: dict[str, tuple[str, str]] = {}
    for path in WORKFLOWS:
        for ref in _uses_lines(path):
            match = re.fullmatch(r"([^@]+)@([0-9a-f]{40})  # (\S+)", ref)
            if not match:
                continue
            action, sha, release = match.groups()
            repo = "/".join(action.split("/")[:2])
            first = seen.setdefault(repo, (sha, release))
            assert first == (sha, release), \
                f"{path.name}: {repo} is pinned to {sha} ({release}) here and to {first[0]} ({first[1]}) elsewhere"


def test_pulumi_cli_is_the_version_of_the_pinned_sdk():
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    (sdk,) = [d.split("==")[1] for d in deps if d.startswith("pulumi==")]
    for path in WORKFLOWS:
        for version in re.findall(r"pulumi-version:\s*(\S+)", path.read_text()):
            assert version == sdk, f"{path.name}: Pulumi CLI {version}, but pyproject.toml pins the SDK at {sdk}"


# --- the deploy workflow ----------------------------------------------------------------------------------------

DEPLOY = WORKFLOW_DIR / "deploy.yml"


def _deploy_jobs() -> dict[str, dict]:
    return {f"deploy-{s}": _load(DEPLOY)["jobs"][f"deploy-{s}"] for s in STACKS}


def test_deploy_runs_on_main_and_by_hand_with_stack_and_model_version():
    on = _load(DEPLOY)["on"]
    assert on["push"]["branches"] == ["main"]
    inputs = on["workflow_dispatch"]["inputs"]
    assert inputs["stack"]["options"] == list(STACKS)
    assert inputs["model-version"]["default"] == "current"


def test_deploy_promotes_dev_then_staging_then_prod_after_tests_and_policy():
    jobs = _load(DEPLOY)["jobs"]
    assert set(jobs["deploy-dev"]["needs"]) == {"test", "policy"}
    assert "deploy-dev" in jobs["deploy-staging"]["needs"]
    assert "deploy-staging" in jobs["deploy-prod"]["needs"]
    assert jobs["policy"]["strategy"]["matrix"]["stack"] == list(STACKS)


def test_workflows_grant_nothing_by_default_and_only_deploy_jobs_mint_oidc_tokens():
    for path in WORKFLOWS:
        doc = _load(path)
        assert doc.get("permissions") == {}, f"{path.name}: top-level `permissions: {{}}`, each job grants its own"
        for name, job in doc["jobs"].items():
            assert "permissions" in job, f"{path.name}: job {name} must declare its permissions"
    for name, job in _load(DEPLOY)["jobs"].items():
        wants_token = job["permissions"].get("id-token") == "write"
        assert wants_token == name.startswith("deploy-"), \
            f"deploy.yml: id-token: write belongs to the deploy jobs only, not to {name}"


@pytest.mark.parametrize("stack", STACKS)
def test_deploy_job_uses_its_environment_one_lock_per_stack_and_oidc_only(stack):
    job = _deploy_jobs()[f"deploy-{stack}"]
    assert job["environment"] == stack
    assert job["concurrency"] == {"group": f"prodline-deploy-{stack}", "cancel-in-progress": False}
    assert job["permissions"] == {"id-token": "write", "contents": "read"}
    (aws,) = [s for s in job["steps"] if s.get("uses", "").startswith("aws-actions/configure-aws-credentials@")]
    assert aws["with"]["role-to-assume"] == "${{ vars.PRODLINE_DEPLOY_ROLE_ARN }}"
    assert not {"aws-access-key-id", "aws-secret-access-key"} & set(aws["with"]), "credentials only by OIDC"
    assert job["env"]["PULUMI_BACKEND_URL"] == "${{ vars.PULUMI_BACKEND_URL }}"
    assert job["env"]["PULUMI_SECRETS_PROVIDER"] == "${{ vars.PULUMI_SECRETS_PROVIDER }}"
    runs = [s["run"] for s in job["steps"] if "run" in s]
    assert any(".venv/bin/prodline deploy --stack" in r for r in runs), f"deploy-{stack} never runs prodline deploy"


@pytest.mark.parametrize("stack", STACKS)
def test_deploy_job_without_a_role_skips_every_step_and_says_so(stack):
    steps = _deploy_jobs()[f"deploy-{stack}"]["steps"]
    skipping = [s for s in steps if s.get("if") == "vars.PRODLINE_DEPLOY_ROLE_ARN == ''"]
    assert len(skipping) == 1 and "no deploy role configured for" in skipping[0]["run"], \
        f"deploy-{stack}: one step must say why the job did nothing when the environment has no role"
    for step in steps:
        if step is not skipping[0]:
            assert step.get("if") == "vars.PRODLINE_DEPLOY_ROLE_ARN != ''", \
                f"deploy-{stack}: step {step.get('name') or step.get('uses') or step.get('run')} must be skipped " \
                "where the environment has no deploy role"


def test_no_workflow_uses_long_lived_aws_keys():
    for path in WORKFLOWS:
        text = path.read_text()
        assert "aws-access-key-id" not in text and "AWS_SECRET_ACCESS_KEY" not in text, \
            f"{path.name}: AWS credentials come from OIDC (role-to-assume), never from stored keys"


def test_ci_posts_each_stacks_cost_estimate_as_its_job_summary():
    policy = _load(WORKFLOW_DIR / "ci.yml")["jobs"]["policy"]
    assert policy["strategy"]["matrix"]["stack"] == list(STACKS)
    runs = [step.get("run", "") for step in policy["steps"]]
    assert any('prodline cost --stack "$STACK" --format markdown >> "$GITHUB_STEP_SUMMARY"' in run for run in runs)
