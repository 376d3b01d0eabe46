"""Every CLI path that cannot go on, run as a user runs it (a subprocess): exit 2, one line on stderr naming the
cause, no traceback, and nothing started or created.

Each command runs with its own sandbox directory and free ports for the emulator and the gateway (never 4566
and 4571, which a running sandbox may hold), so "nothing started" is checked where it would have started.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import boto3
import pytest

from prodline.net import free_port
from prodline.sandbox.processes import terminate_group
from prodline.sandbox.shared import EMULATOR_PORT_ENV, GATEWAY_PORT_ENV, SHARED
from tests.helpers import moto_server, unhosted_endpoint

ROOT = Path(__file__).resolve().parents[2]
PROJECT_PARTS = ("prodline", "infra", "components", "workloads", "policies", "standards")
ROW = "12,70.5,800,one-year,card,dsl,1,2,40"


@dataclass(frozen=True)
class Cli:
    """How the tests run `prodline`: the environment, the project it runs from and its sandbox directory."""

    env: dict[str, str]
    project: Path
    sandbox: Path
    ports: tuple[int, int]

    def __call__(self, *args: str, stdin: str = "", **env: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "prodline.cli", *args], cwd=self.project, input=stdin,
                              env={**self.env, **env}, capture_output=True, text=True, timeout=180, check=False)


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _cli(project: Path, tmp_path: Path) -> Cli:
    sandbox = tmp_path / "nest" / "sandbox"
    sandbox.mkdir(parents=True)
    ports = (free_port(), free_port())
    env = {key: value for key, value in os.environ.items() if not key.startswith("AWS_ENDPOINT_URL")}
    env.update({"PYTHONPATH": str(project), "PRODLINE_SANDBOX_DIR": str(sandbox), EMULATOR_PORT_ENV: str(ports[0]),
                GATEWAY_PORT_ENV: str(ports[1])})
    return Cli(env, project, sandbox, ports)


def _stop_whatever_started(cli: Cli) -> None:
    """Should a command start something after all (the test then fails), stop it: no process outlives a test."""
    for record in ("emulator.json", "gateway.json"):
        path = cli.sandbox / SHARED / record
        if path.exists():
            terminate_group(json.loads(path.read_text())["pid"], timeout=10)


@pytest.fixture
def cli(tmp_path):
    runner = _cli(ROOT, tmp_path)
    yield runner
    _stop_whatever_started(runner)


@pytest.fixture(scope="module")
def project_copy(tmp_path_factory) -> Path:
    """The project's code and stack files, copied: the stack files a test breaks are the copy's, not the repo's."""
    copy = tmp_path_factory.mktemp("project")
    for part in PROJECT_PARTS:
        shutil.copytree(ROOT / part, copy / part, ignore=shutil.ignore_patterns("__pycache__"))
    for stack_file in ROOT.glob("Pulumi*.yaml"):
        shutil.copy(stack_file, copy / stack_file.name)
    return copy


@pytest.fixture
def copied_cli(project_copy, tmp_path):
    runner = _cli(project_copy, tmp_path)
    project_file = (project_copy / "Pulumi.yaml").read_text()
    yield runner
    (project_copy / "Pulumi.yaml").write_text(project_file)
    (project_copy / "Pulumi.broken.yaml").unlink(missing_ok=True)
    _stop_whatever_started(runner)


def refused(result: subprocess.CompletedProcess, *words: str, one_line: bool = True) -> str:
    """The one line the command printed, after checking it exited 2 without a traceback and named ``words``."""
    output = result.stdout + result.stderr
    assert result.returncode == 2, output
    assert "Traceback" not in output, output
    lines = result.stderr.strip().splitlines()
    if one_line:
        assert len(lines) == 1, f"expected one line on stderr, got:\n{result.stderr}"
    for word in words:
        assert word in result.stderr, f"{word!r} not in:\n{result.stderr}"
    return lines[0]


def nothing_started(cli: Cli) -> None:
    assert list(cli.sandbox.iterdir()) == [], f"the sandbox directory got {sorted(cli.sandbox.rglob('*'))}"
    assert not any(_listening(port) for port in cli.ports), "the emulator or the gateway was started"


# --- stacks and their files ----------------------------------------------------------------------------------

def test_sandbox_up_of_a_stack_that_does_not_exist_names_the_stacks_and_creates_nothing(cli):
    refused(cli("sandbox", "up", "--stack", "nope"), "--stack 'nope'", "no stack file Pulumi.nope.yaml",
            "dev, prod, staging")
    nothing_started(cli)


def test_sandbox_score_checks_the_stack_and_its_config_before_anything_starts(cli):
    refused(cli("sandbox", "score", "--stack", "nope"), "--stack 'nope'", "no stack file Pulumi.nope.yaml")
    refused(cli("sandbox", "score", "--stack", "dev", "-c", "prodline:batchMaxConcurrentTransforms=0"),
            "prodline:batchMaxConcurrentTransforms", one_line=False)
    nothing_started(cli)


@pytest.mark.parametrize("stack", ["../escaped", "../../escaped", "{nest}/escaped", "dev/../../escaped"])
def test_sandbox_status_of_a_path_creates_nothing_outside_the_sandbox(cli, stack):
    stack = stack.format(nest=cli.sandbox.parent)
    refused(cli("sandbox", "status", "--stack", stack), f"--stack {stack!r}", "not a stack name")
    nothing_started(cli)
    assert not (cli.sandbox.parent / "escaped").exists() and not (cli.sandbox.parent.parent / "escaped").exists()


def test_promote_to_a_path_is_refused_before_anything_is_read(cli):
    refused(cli("promote", "--to", "../prod", "--model-version",
                "arn:aws:sagemaker:eu-west-1:123456789012:model-package/churn/1"), "--to '../prod'")


def test_a_sandbox_error_ends_the_command_in_one_line_and_other_errors_keep_their_traceback(capsys):
    from prodline import sandbox_cli
    from prodline.sandbox.lifecycle import SandboxError

    def acting(args):
        raise SandboxError("no model version in churn waits for approval")

    def broken(args):
        raise KeyError("a bug")

    args = argparse.Namespace(action="approve")
    with pytest.raises(SystemExit) as end:
        sandbox_cli._user_errors(acting)(args)
    assert end.value.code == 1
    assert capsys.readouterr().err == "prodline: sandbox approve: no model version in churn waits for approval\n"
    with pytest.raises(KeyError, match="a bug"):
        sandbox_cli._user_errors(broken)(args)


@pytest.mark.parametrize("action", ["etl", "train", "score", "approve", "alarms", "stream"])
def test_a_sandbox_command_on_a_stack_that_is_not_up_starts_nothing(cli, action):
    """Each would start the embedded emulator (and leave it running) before finding nothing realized in it."""
    refused(cli("sandbox", action, "--stack", "dev"), f"sandbox {action}: the sandbox stack dev is not up (up: none)",
            "prodline sandbox up --stack dev")
    nothing_started(cli)


@pytest.mark.parametrize("command", [("status",), ("deploy", "--model-version", "current"), (
    "promote", "--to", "staging", "--model-version", "arn:aws:sagemaker:eu-west-1:123456789012:model-package/churn/1")])
def test_a_delivery_command_on_a_sandbox_stack_that_is_not_up_starts_nothing(cli, command):
    stack = ("--stack", "dev") if command[0] != "promote" else ()
    refused(cli(*command, *stack, "--engine", "sandbox"), "the sandbox stack", "is not up (up: none)",
            "prodline sandbox up --stack")
    nothing_started(cli)


@pytest.mark.parametrize(("content", "words"), [
    ("config:\n  prodline:owner: [unclosed\n", ["Pulumi.broken.yaml: not valid YAML", "line 3"]),
    ("config:\n\tprodline:owner: x\n", ["Pulumi.broken.yaml: not valid YAML", "'\\t'"]),
    ("- prodline:owner\n", ["Pulumi.broken.yaml: expected a mapping", "a list"]),
    ("config:\n  - prodline:owner\n", ["Pulumi.broken.yaml: config: expected a mapping", "a list"]),
    ("config:\n  7: x\n", ["Pulumi.broken.yaml: config: key 7: expected a string"]),
    ("config:\n  prodline:owner: !!binary aGVsbG8=\n", ["Pulumi.broken.yaml: config: prodline:owner: expected a "
                                                       "string"]),
    ("config:\n  foo:owner: x\n", ["Pulumi.broken.yaml: config: foo:owner: namespace 'foo'",
                                    "prodline, aws, kubernetes"]),
])
def test_a_malformed_stack_file_is_named_with_its_problem(copied_cli, content, words):
    (copied_cli.project / "Pulumi.broken.yaml").write_text(content)
    refused(copied_cli("preview", "--stack", "broken"), "stack broken: ", *words)


@pytest.mark.parametrize(("content", "words"), [
    ("name: prodline\nconfig: [\n", ["Pulumi.yaml: not valid YAML"]),
    ("name: [prodline]\n", ["Pulumi.yaml: name: expected the project's name"]),
    ("- name\n", ["Pulumi.yaml: expected a mapping"]),
    ("name: prodline\nconfig: 3\n", ["Pulumi.yaml: config: expected a mapping", "a number"]),
])
def test_a_malformed_project_file_is_named_and_the_sandbox_starts_nothing(copied_cli, content, words):
    (copied_cli.project / "Pulumi.yaml").write_text(content)
    refused(copied_cli("sandbox", "up", "--stack", "dev"), *words)
    nothing_started(copied_cli)


# --- config overrides -------------------------------------------------------------------------------------------

def test_sandbox_up_with_a_bad_key_starts_neither_the_emulator_nor_the_gateway(cli):
    # ConfigError lists every problem of the stack, one per line, under one heading (the README's format)
    refused(cli("sandbox", "up", "--stack", "dev", "-c", "prodline:noSuchKey=1"), "prodline:noSuchKey",
            one_line=False)
    nothing_started(cli)


@pytest.mark.parametrize("command", ["up", "down", "score"])
def test_a_sandbox_command_refuses_a_bad_key_before_loading_the_sandbox(cli, command):
    """The refusal comes from the config check alone (a fifth of a second), not after the realizer, the runtimes
    and the emulator's client have loaded (half a second more)."""
    code = ("import sys\nfrom prodline import cli\ntry:\n    cli.main(sys.argv[1:])\nexcept SystemExit as end:\n"
            "    print(end.code, 'prodline.sandbox.lifecycle' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code, "sandbox", command, "--stack", "dev", "-c",
                             "prodline:noSuchKey=1"], cwd=cli.project, env=cli.env, capture_output=True, text=True,
                            timeout=120, check=False)
    assert result.stdout.split() == ["2", "False"], result.stdout + result.stderr
    assert "prodline:noSuchKey" in result.stderr
    nothing_started(cli)


@pytest.mark.parametrize("command", [("preview",), ("sandbox", "up"), ("sandbox", "status"), ("policy",)])
def test_a_key_outside_the_known_namespaces_is_refused_naming_them(cli, command):
    refused(cli(*command, "--stack", "dev", "-c", "foo:bar=1"), "-c 'foo:bar=1'", "namespace 'foo'",
            "prodline, aws, kubernetes")
    nothing_started(cli)


# --- files the command reads or writes -----------------------------------------------------------------------------

@pytest.mark.parametrize("under", ["", "sub"])
def test_k8s_yaml_naming_a_file_is_refused_before_the_program_runs(cli, tmp_path, under):
    existing = tmp_path / "manifests"
    existing.write_text("keep me\n")
    target = existing / under if under else existing
    refused(cli("preview", "--stack", "dev", "--k8s-yaml", str(target)), f"--k8s-yaml: {target} is",
            "an existing file, not a directory")
    assert existing.read_text() == "keep me\n"


def _preview_record(**changes) -> list[dict]:
    record = {"type": "aws:s3/bucket:Bucket", "name": "raw", "parent": None, "custom": True,
              "urn": "urn:pulumi:dev::prodline::aws:s3/bucket:Bucket::raw", "inputs": {"bucket": "raw"},
              "dependencies": []}
    return [{**record, **changes}]


@pytest.mark.parametrize(("changes", "words"), [
    ({"inputs": [1]}, "resource #1: inputs: expected an object, got an array"),
    ({"custom": "yes"}, "resource #1: custom: expected true or false, got a string 'yes'"),
    ({"type": 5}, "resource #1: type: expected a string, got a number 5"),
    ({"urn": ["u"]}, "resource #1: urn: expected a string, got an array"),
    ({"parent": {}}, "resource #1: parent: expected a string or null, got an object"),
    ({"dependencies": ["urn:a", 3]}, "resource #1: dependencies[1]: expected a string (a URN), got a number 3"),
])
def test_policy_on_a_preview_json_of_wrong_types_names_the_field_and_type(cli, tmp_path, changes, words):
    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps(_preview_record(**changes)))
    refused(cli("policy", "--stack", "dev", "--preview-json", str(plan)), f"--preview-json {plan}", words)


# --- prodline invoke ---------------------------------------------------------------------------------------------

def test_invoke_with_a_batch_size_of_0_is_refused(cli):
    refused(cli("invoke", "--endpoint", "churn", "--batch-size", "0", stdin=ROW), "--batch-size", "got 0")


def test_invoke_where_nothing_listens_names_the_url_at_once(cli):
    url = f"http://127.0.0.1:{free_port()}"
    started = time.monotonic()
    result = cli("invoke", "--endpoint", "churn", stdin=ROW, AWS_ENDPOINT_URL=url)
    refused(result, f"AWS_ENDPOINT_URL={url}", "nothing answers")
    assert time.monotonic() - started < 30, "a refused connection must not be retried for long"


@pytest.fixture(scope="module")
def emulator():
    """A moto server of our own, holding an endpoint as the sandbox realizes one."""
    with moto_server() as url:
        unhosted_endpoint(boto3.client("sagemaker", endpoint_url=url, region_name="eu-west-1",
                                       aws_access_key_id="testing", aws_secret_access_key="testing"), "churn")
        yield url


def test_invoke_pointed_at_the_emulator_says_where_it_is_pointed_and_what_it_got(cli, emulator):
    result = cli("invoke", "--endpoint", "churn", stdin=f"{ROW}\n{ROW}\n", AWS_ENDPOINT_URL=emulator,
                 AWS_DEFAULT_REGION="eu-west-1")
    line = refused(result, emulator, "InvokeEndpoint 'churn'", "0 prediction(s) for 2 row(s)", "Content-Type",
                   "gateway")
    assert result.stdout == "", "nothing may be printed as if it were a prediction"
    assert line.startswith("error: ")
