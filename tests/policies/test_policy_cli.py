"""`prodline policy` as a user runs it: exit codes, the three formats, saved previews and overrides."""

from __future__ import annotations

import contextlib
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from policies.registry import RULES
from prodline.cli import main
from prodline.policy_runner import Violation
from tests.helpers import STACKS
from tests.policies.expected import KUBERNETES, assert_verdict

ROOT = Path(__file__).resolve().parents[2]


def run(*args: str) -> tuple[int, str, str]:
    """(exit code, stdout, stderr) of `prodline ARGS`, in this process."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(list(args))
        except SystemExit as exit_:
            code = exit_.code
    return code, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def saved_prod(tmp_path_factory) -> list[dict]:
    """What `prodline preview --stack prod --json` prints."""
    code, out, err = run("preview", "--stack", "prod", "--json")
    assert code == 0, err
    return json.loads(out)


def save(tmp_path: Path, records: list[dict]) -> str:
    path = tmp_path / "plan.json"
    path.write_text(json.dumps(records))
    return str(path)


def edited(records: list[dict], name: str, edit) -> list[dict]:
    copy = json.loads(json.dumps(records))
    (record,) = [r for r in copy if r["name"] == name]
    edit(record["inputs"])
    return copy


# --- listing ----------------------------------------------------------------------------------------

def test_list_shows_every_rule_with_its_enforcement_per_environment():
    code, out, _ = run("policy", "--list")
    assert code == 0
    assert len(RULES) >= 25
    for rule in RULES:
        assert rule.name in out
    code, out, _ = run("policy", "--list", "--format", "json")
    rows = json.loads(out)
    assert len(rows) == len(RULES)
    assert all(set(row["enforcement"]) == set(STACKS) and row["description"] for row in rows)


# --- the shipped stacks -----------------------------------------------------------------------------

@pytest.mark.parametrize("stack", STACKS)
def test_the_shipped_stacks_exit_0(stack):
    code, out, err = run("policy", "--stack", stack)
    assert code == 0, out + err
    assert "0 mandatory" in out


@pytest.mark.parametrize("stack", STACKS)
def test_the_kubernetes_stacks_pass_like_the_sagemaker_ones(stack):
    code, out, err = run("policy", "--stack", stack, "-c", *KUBERNETES, "--format", "json")
    report = json.loads(out)
    violations = [Violation(**v) for v in report["violations"]]
    assert_verdict(violations, stack, KUBERNETES)
    assert code == 0 and report["mandatory"] == 0, out + err


def test_overrides_reach_the_program():
    code, out, err = run("policy", "--stack", "dev", "-c", "prodline:servingServerless=true",
                         "-c", "prodline:dataCapturePercent=0", "--format", "json")
    assert code == 0, out + err
    assert json.loads(out)["mandatory"] == 0


def test_overrides_reach_config_validation():
    code, _, err = run("policy", "--stack", "staging", "-c", "prodline:modelApprovalStatus=Approved")
    assert code == 2 and "prodline:modelApprovalStatus" in err


# --- saved previews ---------------------------------------------------------------------------------

def test_dropping_a_bucket_encryption_from_a_saved_preview_fails(saved_prod, tmp_path):
    """The whole path a user takes: a real subprocess, its exit code and output."""
    plan = [r for r in saved_prod if r["name"] != "lake-raw-encryption"]
    result = subprocess.run([sys.executable, "-m", "prodline.cli", "policy", "--preview-json", save(tmp_path, plan),
                             "--stack", "prod"], capture_output=True, text=True, timeout=120, check=False, cwd=ROOT)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "s3-bucket-encrypted-with-kms" in result.stdout and "lake-raw" in result.stdout
    assert "1 mandatory" in result.stdout


def test_an_iam_statement_allowing_everything_fails(saved_prod, tmp_path):
    def allow_everything(inputs):
        document = json.loads(inputs["policy"])
        document["Statement"].append({"Sid": "Everything", "Effect": "Allow", "Action": "*", "Resource": "*"})
        inputs["policy"] = json.dumps(document)

    plan = edited(saved_prod, "training-role-policy", allow_everything)
    code, out, _ = run("policy", "--preview-json", save(tmp_path, plan), "--stack", "prod", "--format", "json")
    assert code == 1
    (violation,) = json.loads(out)["violations"]
    assert (violation["rule"], violation["resource"], violation["enforcement"]) == (
        "iam-no-wildcard-actions", "training-role-policy", "mandatory")
    assert violation["urn"].endswith("::training-role-policy")


def test_an_unchanged_saved_preview_passes(saved_prod, tmp_path):
    assert run("policy", "--preview-json", save(tmp_path, saved_prod), "--stack", "prod")[0] == 0


def test_advisory_violations_are_shown_but_do_not_fail(tmp_path):
    code, out, _ = run("preview", "--stack", "dev", "--json")
    plan = [r for r in json.loads(out) if r["name"] != "lake-raw-logging"]
    code, out, _ = run("policy", "--preview-json", save(tmp_path, plan), "--stack", "dev")
    assert code == 0
    assert "s3-bucket-access-logging" in out and "advisory" in out and "0 mandatory, 1 advisory" in out


@pytest.mark.parametrize(("content", "words"), [
    (None, "cannot read"), ("{not json", "not JSON"), ('{"a": 1}', "expected a list"),
    ('[{"type": "aws:s3/bucket:Bucket"}]', "lacks name"),
])
def test_an_unusable_preview_file_exits_2(tmp_path, content, words):
    path = tmp_path / "plan.json"
    if content is not None:
        path.write_text(content)
    code, _, err = run("policy", "--preview-json", str(path), "--stack", "prod")
    assert code == 2 and words in err and "Traceback" not in err


def test_an_empty_plan_exits_2(tmp_path):
    code, out, err = run("policy", "--preview-json", save(tmp_path, []), "--stack", "prod")
    assert code == 2 and "no resources" in err and "prodline preview --stack prod --json" in err, out + err
    assert "Traceback" not in err


def test_a_plan_of_another_stack_exits_2(tmp_path):
    code, out, _ = run("preview", "--stack", "dev", "--json")
    code, out, err = run("policy", "--preview-json", save(tmp_path, json.loads(out)), "--stack", "prod")
    assert code == 2, out + err
    assert "the plan is of stack 'dev'" in err and "--stack 'prod'" in err and "judge it with --stack dev" in err


def test_a_plan_whose_urns_are_not_pulumi_urns_exits_2(saved_prod, tmp_path):
    plan = edited(saved_prod, "lake-raw", lambda inputs: None)
    next(r for r in plan if r["name"] == "lake-raw")["urn"] = "lake-raw"
    code, _, err = run("policy", "--preview-json", save(tmp_path, plan), "--stack", "prod")
    assert code == 2 and "resource lake-raw has no Pulumi URN" in err


def test_a_stack_is_needed_unless_listing():
    code, _, err = run("policy")
    assert code == 2 and "--stack" in err


# --- SARIF ------------------------------------------------------------------------------------------

def test_sarif_is_valid_and_names_the_resource(saved_prod, tmp_path):
    plan = [r for r in saved_prod if r["name"] not in ("lake-raw-encryption", "lake-raw-logging")]
    code, out, _ = run("policy", "--preview-json", save(tmp_path, plan), "--stack", "prod", "--format", "sarif")
    assert code == 1
    sarif = json.loads(out)
    assert sarif["version"] == "2.1.0" and sarif["$schema"].endswith("sarif-2.1.0.json")
    (run_,) = sarif["runs"]
    rules = run_["tool"]["driver"]["rules"]
    assert run_["tool"]["driver"]["name"] and [r["id"] for r in rules] == [r.name for r in RULES]
    for rule in rules:
        assert rule["shortDescription"]["text"]
        assert rule["defaultConfiguration"]["level"] in ("error", "warning", "none")
    urns = {r["urn"] for r in plan}
    results = run_["results"]
    assert {(r["ruleId"], r["level"]) for r in results} == {("s3-bucket-encrypted-with-kms", "error"),
                                                            ("s3-bucket-access-logging", "error")}
    for result in results:
        assert rules[result["ruleIndex"]]["id"] == result["ruleId"]
        assert result["message"]["text"]
        (location,) = result["locations"]
        (logical,) = location["logicalLocations"]
        assert logical["fullyQualifiedName"] in urns and logical["name"] == "lake-raw"
        assert (ROOT / location["physicalLocation"]["artifactLocation"]["uri"]).is_file()
        assert location["physicalLocation"]["region"]["startLine"] >= 1
        assert result["partialFingerprints"]
