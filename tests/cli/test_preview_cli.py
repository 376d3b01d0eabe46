"""`prodline preview` as a user runs it: a real subprocess, exit codes and output."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.helpers import OWNERSHIP_TAGS


def prodline(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "prodline.cli", *args], capture_output=True, text=True,
                          timeout=120, check=False)


@pytest.fixture(scope="module")
def prod_json():
    result = prodline("preview", "--stack", "prod", "--json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_json_lists_the_core_resources_with_their_fields(prod_json):
    types = {r["type"] for r in prod_json}
    for expected in ("aws:s3/bucket:Bucket", "aws:kms/key:Key", "aws:glue/catalogDatabase:CatalogDatabase",
                     "aws:glue/job:Job"):
        assert expected in types
    for r in prod_json:
        assert {"type", "name", "parent", "inputs", "urn", "dependencies"} <= set(r)


def test_json_shows_the_five_tags(prod_json):
    bucket = next(r for r in prod_json if r["type"] == "aws:s3/bucket:Bucket")
    assert set(OWNERSHIP_TAGS) <= set(bucket["inputs"]["tags"])


def test_json_has_no_machine_paths(prod_json):
    script = next(r for r in prod_json if r["name"] == "validate-script")
    assert script["inputs"]["source"] == {"asset": {"path": "workloads/etl/validate_job.py"}}


def test_table_lists_resources():
    result = prodline("preview", "--stack", "dev")
    assert result.returncode == 0, result.stderr
    assert "aws:glue/job:Job" in result.stdout and "validate-job" in result.stdout


@pytest.mark.parametrize(("args", "key"), [
    (("--stack", "prod", "-c", "prodline:servingMinCapacity=1"), "prodline:servingMinCapacity"),
    (("--stack", "dev", "-c", "prodline:noSuchKey=1"), "prodline:noSuchKey"),
    (("--stack", "dev", "-c", "alertEmail=nobody"), "prodline:alertEmail"),
])
def test_bad_config_exits_nonzero_naming_the_key_without_traceback(args, key):
    result = prodline("preview", *args)
    assert result.returncode == 2
    assert key in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


def test_unknown_stack_names_the_stacks():
    result = prodline("preview", "--stack", "qa")
    assert result.returncode == 2
    assert "dev, prod, staging" in result.stderr


@pytest.mark.parametrize("target", ["existing-file", "existing-file/sub"])
def test_k8s_yaml_into_an_existing_file_exits_2_before_running_the_program(tmp_path, target):
    (tmp_path / "existing-file").write_text("mine")
    result = prodline("preview", "--stack", "dev", "--k8s-yaml", str(tmp_path / target))
    assert result.returncode == 2
    assert "--k8s-yaml" in result.stderr and "an existing file, not a directory" in result.stderr
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert result.stdout == "", "the program must not have run"
    assert (tmp_path / "existing-file").read_text() == "mine"
