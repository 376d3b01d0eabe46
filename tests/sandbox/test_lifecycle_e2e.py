"""`prodline demo` end to end on the embedded emulator, then invoke and `sandbox down` as a user would.

The demo brings dev, staging and prod up in one emulator; `--keep` leaves all three running, and only the
last one's `sandbox down` stops the emulator and the gateway. They and the MLflow server listen on free ports (never
4566, 4571 and 4572, which a running sandbox may hold), so the test runs beside a sandbox and beside other test
workers.
"""

from __future__ import annotations

import json
import math
import os
import re
import subprocess
import sys
from pathlib import Path

import boto3
import pytest

from prodline.net import free_port
from prodline.sandbox import tracking
from prodline.sandbox.clients import Clients
from prodline.sandbox.demo_delivery import PROD_APPROVER
from prodline.sandbox.emulator import DUMMY_CREDENTIALS, is_up
from prodline.sandbox.shared import EMULATOR_PORT_ENV, GATEWAY_PORT_ENV

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
ENDPOINT = "prodline-dev-churn"
STACKS = ("dev", "staging", "prod")


def prodline(env, *args, timeout=600):
    return subprocess.run([sys.executable, "-m", "prodline.cli", *args], env=env, capture_output=True, text=True,
                          timeout=timeout, check=False)


def processes_mentioning(text: str) -> list[str]:
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            command = cmdline.read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if text in command:
            found.append(command)
    return found


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    sandbox_dir = tmp_path_factory.mktemp("sandbox")
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_ENDPOINT_URL")}
    env.update({"PRODLINE_SANDBOX_DIR": str(sandbox_dir), "COLUMNS": "200", EMULATOR_PORT_ENV: str(free_port()),
                GATEWAY_PORT_ENV: str(free_port()), tracking.PORT_ENV: str(free_port())})
    result = prodline(env, "demo", "--stack", "dev", "--keep", "--rows", "1500")
    yield result, env, sandbox_dir
    # test_down_leaves_no_sandbox_process takes every stack down (three CLI runs, ~13 s here): they run again
    # only when something of the sandbox is left, after a failure or when that test was not selected.
    if is_up(f"http://127.0.0.1:{env[EMULATOR_PORT_ENV]}") or processes_mentioning(str(sandbox_dir)):
        for stack in STACKS:
            prodline(env, "sandbox", "down", "--stack", stack)


def test_demo_runs_the_whole_lifecycle(demo):
    result, _, sandbox_dir = demo
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    out = result.stdout
    assert int(re.search(r"rows quarantined \(total\): (\d+)", out).group(1)) > 0
    assert int(re.search(r"model versions registered: (\d+)", out).group(1)) >= 2
    assert "drift alarm fired: yes" in out
    assert "canary promoted:" in out and "canary rolled back:" in out
    assert "prod approved by: demo-reviewer" in out
    report = (sandbox_dir / "dev" / "report.html").read_text()
    assert "Drift per feature" in report and "Model metrics per version" in report and "latency" in report
    assert "<h2>Deployments</h2>" in report
    sent, delivered, errored = map(int, re.search(
        r"streamed records: (\d+) sent = (\d+) delivered \+ (\d+) to the error prefix", out).groups())
    assert sent == delivered + errored and errored > 0
    assert "Streaming ingestion" in report and "does not hold" not in report


def test_quality_is_measured_per_version_and_its_alarm_starts_retraining(demo):
    result, _, sandbox_dir = demo
    out = " ".join(result.stdout.split())  # rich wraps long lines
    assert "quality alarm after fresh traffic: OK" in out and "quality alarm fired: yes" in out
    assert re.search(r"model quality per version \(labelled traffic\): v1 AUC 0\.\d+ \(fresh, coverage 0\.\d+\) -> "
                     r"AUC 0\.\d+ \(drifted, coverage 0\.\d+\); v2 AUC 0\.\d+ \(concept shift", out)
    assert re.search(r"\d+ set aside \(\d*[1-9]\d* unknown ids\)", out), "unknown label ids are counted"
    assert re.search(r"alarm prodline-dev-churn-quality -> EventBridge -> retraining \S+: AUC [\d.]+; registered "
                     r"prodline-dev-churn/\d+ \(event: CloudWatch Alarm State Change\)", out)
    assert "Model quality over time per version" in (sandbox_dir / "dev" / "report.html").read_text()


def test_every_deploy_after_up_is_started_by_the_deployer(demo):
    out = demo[0].stdout
    assert "started (rule prodline-dev-deploy-on-approval" in out, "the approval event must start dev's deployer"
    for line in ("event Deployment Succeeded on prodline-dev: dev version 1",
                 "event Deployment Promoted on prodline-dev: dev version 1 (staging)",
                 "event Deployment Succeeded on prodline-staging: staging version 1",
                 "event Deployment Awaiting Approval on prodline-prod: prod version 1",
                 "event Deployment Succeeded on prodline-prod: prod version 1",
                 "event Deployment Failed on prodline-dev: dev version 3",
                 "event Deployment Failed on prodline-dev: dev version 4"):
        assert line in out, f"missing from the demo's output: {line}"
    assert re.search(r"event Deployment Failed on prodline-dev: dev version 4 \(smoke gate failed", out), \
        "v4 must be stopped by the smoke gate, not by the canary"


def test_each_stacks_record_names_what_it_serves_and_who_put_it_there(demo):
    """What the deliveries left, as `prodline status` reads it: only green versions are recorded, staging gets them
    by promotion, prod only what a person approved, and every stack's endpoint answers."""
    _, env, _ = demo
    status = {}
    for stack in STACKS:
        result = prodline(env, "status", "--stack", stack, "--engine", "sandbox", "--json", timeout=120)
        assert result.returncode == 0, result.stderr
        status[stack] = json.loads(result.stdout)
        assert status[stack]["notes"] == [] and status[stack]["pendingRequests"] == 0, status[stack]

    def history(stack: str) -> list[tuple[str, str]]:
        return [(h["record"]["version"], h["record"]["source"]) for h in status[stack]["history"]]

    # v3 (rolled back by the canary) and v4 (stopped by the smoke gate) were restored to v2, never recorded
    assert history("dev") == [("1", "approval"), ("2", "approval")]
    assert status["dev"]["record"]["previousArn"].endswith("/1"), "v2 replaced v1: the restores wrote nothing"
    assert history("staging") == [("1", "promotion"), ("2", "promotion")], "a red version is never promoted"
    assert status["staging"]["record"]["modelPackageArn"] == status["dev"]["record"]["modelPackageArn"]
    prod = status["prod"]
    assert history("prod") == [("1", "promotion")], "prod waits for a person: v2 was not deployed there"
    assert prod["record"]["promotedBy"] == prod["approval"]["approvedBy"] == PROD_APPROVER
    # The last build of each deployer, as it ended: dev's deployed v4, which the smoke gate stopped
    assert [status[stack]["lastBuild"]["status"] for stack in STACKS] == ["FAILED", "SUCCEEDED", "SUCCEEDED"]

    gateway = json.loads((Path(env["PRODLINE_SANDBOX_DIR"]) / ".shared" / "gateway.json").read_text())["url"]
    client = boto3.client("sagemaker-runtime", endpoint_url=gateway, region_name="eu-west-1",
                          **{k.lower(): v for k, v in DUMMY_CREDENTIALS.items()})
    for stack in STACKS:
        answer = client.invoke_endpoint(EndpointName=f"prodline-{stack}-churn", ContentType="text/csv",
                                        Body=b"12,70.5,800.0,one-year,card,dsl,1,2,40", Accept="application/json")
        assert len(json.loads(answer["Body"].read())["predictions"]) == 1, stack


def test_invoke_prints_predictions_and_boto3_gets_the_same(demo, tmp_path):
    from workloads.ingest.generator import generate_typed
    from workloads.serving.payloads import INPUTS

    _, env, _ = demo
    rows = generate_typed(3, 7)[list(INPUTS)]
    csv_file = tmp_path / "rows.csv"
    csv_file.write_text("\n".join(",".join("" if isinstance(v, float) and math.isnan(v) else str(v) for v in row)
                                  for row in rows.itertuples(index=False)) + "\n")
    result = prodline(env, "invoke", "--endpoint", ENDPOINT, "--file", str(csv_file), timeout=120)
    assert result.returncode == 0, result.stderr
    printed = [float(x) for x in re.findall(r"\d+\.\d+", result.stdout)]
    assert len(printed) == 3

    gateway = json.loads((Path(env["PRODLINE_SANDBOX_DIR"]) / ".shared" / "gateway.json").read_text())["url"]
    client = boto3.client("sagemaker-runtime", endpoint_url=gateway, region_name="eu-west-1",
                          **{k.lower(): v for k, v in DUMMY_CREDENTIALS.items()})
    answer = client.invoke_endpoint(EndpointName=ENDPOINT, Body=csv_file.read_bytes(), ContentType="text/csv",
                                    Accept="application/json")
    direct = json.loads(answer["Body"].read())["predictions"]
    assert [round(p, 4) for p in direct] == [round(p, 4) for p in printed]

    via = prodline(env, "invoke", "--via", "front-door", "--stack", "dev", "--file", str(csv_file), timeout=120)
    assert via.returncode == 0, via.stderr
    through_the_front_door = [float(x) for x in re.findall(r"\d+\.\d+", via.stdout)]
    assert [round(p, 4) for p in through_the_front_door] == [round(p, 4) for p in printed]


def test_the_demo_scores_through_the_front_door_and_shows_a_refusal_and_a_throttle(demo):
    out = " ".join(demo[0].stdout.split())
    assert re.search(r"via POST /v1/predict; no key: 40[13]; request \d+ of a burst: 429, Retry-After \d+ s", out), \
        "the demo must score through the front door, and show one request refused without a key and one throttled"


def test_approving_a_version_that_is_not_the_stacks_says_so_in_one_line(demo):
    """A version that does not exist, or one of another group: one line naming it and dev's group, nothing approved."""
    _, env, _ = demo
    sm = Clients(f"http://127.0.0.1:{env[EMULATOR_PORT_ENV]}", "eu-west-1")("sagemaker")
    sm.create_model_package_group(ModelPackageGroupName="someone-elses")
    image = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/x:1"
    elsewhere = sm.create_model_package(
        ModelPackageGroupName="someone-elses", ModelApprovalStatus="PendingManualApproval",
        InferenceSpecification={"Containers": [{"Image": image}], "SupportedContentTypes": ["text/csv"],
                                "SupportedResponseMIMETypes": ["text/csv"]})["ModelPackageArn"]
    missing = f"arn:aws:sagemaker:eu-west-1:123456789012:model-package/{ENDPOINT}/999"
    for package, words in ((missing, "is not a model version in prodline-dev-churn"),
                           (elsewhere, "is a model version of someone-elses, not of prodline-dev-churn")):
        result = prodline(env, "sandbox", "approve", "--stack", "dev", "--package", package)
        assert (result.returncode, result.stdout) == (1, ""), result.stdout + result.stderr
        assert result.stderr.startswith(f"prodline: sandbox approve: {package} {words}"), result.stderr
        assert len(result.stderr.splitlines()) == 1, result.stderr
    assert sm.describe_model_package(ModelPackageName=elsewhere)["ModelApprovalStatus"] == "PendingManualApproval"


def test_etl_of_a_job_the_stack_does_not_declare_names_its_jobs(demo):
    _, env, _ = demo
    result = prodline(env, "sandbox", "etl", "--stack", "dev", "--job", "nope")
    assert (result.returncode, result.stdout) == (1, ""), result.stdout + result.stderr
    assert result.stderr.startswith("prodline: sandbox etl: --job 'nope': stack dev declares no such Glue job; its "
                                    "jobs are ") and len(result.stderr.splitlines()) == 1, result.stderr
    assert "prodline-dev-validate" in result.stderr and "prodline-dev-features" in result.stderr


def test_down_leaves_no_sandbox_process(demo):
    _, env, sandbox_dir = demo
    emulator = f"http://127.0.0.1:{env[EMULATOR_PORT_ENV]}"
    children = sandbox_dir / ".shared" / "gateway" / "children.json"
    pids = [c["pid"] for c in json.loads(children.read_text()).get("serve", [])] if children.exists() else []
    for stack in STACKS[:-1]:
        result = prodline(env, "sandbox", "down", "--stack", stack)
        assert result.returncode == 0, result.stderr
        assert is_up(emulator), f"the emulator must outlive {stack}'s down"
    result = prodline(env, "sandbox", "down", "--stack", STACKS[-1])
    assert result.returncode == 0, result.stderr
    assert "stopped: gateway and model servers, MLflow server, emulator" in result.stdout
    assert not is_up(emulator)
    assert processes_mentioning(str(sandbox_dir)) == []
    for pid in (p for p in pids if isinstance(p, int)):
        assert not Path(f"/proc/{pid}").exists() or "zombie" in Path(f"/proc/{pid}/status").read_text().lower()
