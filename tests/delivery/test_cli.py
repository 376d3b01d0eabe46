"""`prodline deploy | promote | status`: exit codes 0 / 1 / 2 and one-line errors without tracebacks."""

from __future__ import annotations

import json
import sys
import types

import pytest

from prodline import delivery_cli
from prodline.cli import main
from prodline.delivery.requests import enqueue
from tests.helpers import run_python


def run(argv: list[str], capsys) -> tuple[int, str, str]:
    try:
        code = main(argv)
    except SystemExit as exit_:
        code = exit_.code
    out, err = capsys.readouterr()
    return code, out, err


def one_line(err: str) -> str:
    assert err.strip() and "\n" not in err.strip(), f"expected one line on stderr, got {err!r}"
    assert "Traceback" not in err
    return err.strip()


@pytest.fixture
def in_world(world, monkeypatch):
    """The CLI with the test world's context in place of AWS."""
    monkeypatch.setattr(delivery_cli, "build_context", lambda args, stack: world.ctx)
    return world


@pytest.mark.parametrize(("argv", "words"), [
    (["deploy", "--stack", "dev"], "give exactly one of --model-version and --from-queue"),
    (["deploy", "--stack", "dev", "--from-queue", "--model-version", "latest"], "give exactly one of"),
    (["deploy", "--stack", "dev", "--model-version", "v3"], "expected latest, current or a model package ARN"),
    (["deploy", "--stack", "qa", "--model-version", "latest"], "no stack file Pulumi.qa.yaml"),
    (["deploy", "--stack", "dev", "-c", "prodline:noSuchKey=1", "--model-version", "latest"],
     "invalid stack config: prodline:noSuchKey: unknown key"),
    (["promote", "--to", "prod", "--model-version", "latest"], "is not a model package ARN"),
    (["status", "--stack", "qa"], "no stack file"),
])
def test_usage_and_config_errors_exit_2_with_one_line(capsys, argv, words):
    code, _, err = run(argv, capsys)

    assert code == 2
    line = one_line(err)
    assert line.startswith("prodline: ")
    assert words in line, line


def test_a_missing_pulumi_cli_is_one_line_naming_what_to_install(capsys, monkeypatch):
    monkeypatch.setattr("prodline.automation.shutil.which", lambda name: None)
    monkeypatch.delenv("PRODLINE_DEPLOY_ENGINE", raising=False)

    code, _, err = run(["deploy", "--stack", "dev", "--model-version", "latest", "--requested-by", "me"], capsys)

    assert code == 2
    assert "install the Pulumi CLI" in one_line(err) and "--engine sandbox" in err


def test_an_unknown_engine_in_the_environment_is_a_usage_error(capsys, monkeypatch):
    monkeypatch.setenv("PRODLINE_DEPLOY_ENGINE", "terraform")

    code, _, err = run(["status", "--stack", "dev"], capsys)

    assert code == 2 and "PRODLINE_DEPLOY_ENGINE='terraform'" in one_line(err)


def test_a_green_deploy_exits_0_and_a_restored_one_exits_1(in_world, capsys):
    arn, bad = in_world.arns[0], in_world.arns[1]
    in_world.runtime.behaviours[bad] = "5xx"

    code, out, _ = run(["deploy", "--stack", "dev", "--model-version", arn, "--requested-by", "me"], capsys)
    assert code == 0 and "dev: version 1 deployed and smoke-tested; promoted to staging" in out

    code, out, _ = run(["deploy", "--stack", "dev", "--model-version", bad, "--requested-by", "me"], capsys)
    assert code == 1 and "NOT deployed" in out and f"serving {arn}" in out


def test_draining_the_queue_exits_1_when_any_request_failed(in_world, capsys):
    bad = in_world.arns[1]
    in_world.runtime.behaviours[bad] = "5xx"
    for arn in (in_world.arns[0], bad):
        enqueue(in_world.ctx, "dev", "dev", arn, requested_by="q", source="manual")

    code, out, _ = run(["deploy", "--stack", "dev", "--from-queue"], capsys)

    assert code == 1 and len(out.splitlines()) == 2


def test_an_empty_queue_is_success(in_world, capsys):
    code, out, _ = run(["deploy", "--stack", "dev", "--from-queue"], capsys)

    assert code == 0 and "no deploy requests waiting" in out


def test_promote_exits_0_and_refuses_an_unapproved_version_with_1(in_world, capsys):
    code, out, _ = run(["promote", "--to", "prod", "--model-version", in_world.arns[0], "--approver", "carol"],
                       capsys)
    assert code == 0 and "approved by carol" in out

    code, _, err = run(["promote", "--to", "prod", "--model-version", in_world.arns[3]], capsys)
    assert code == 1 and "PendingManualApproval" in one_line(err)


def test_status_shows_the_record_and_its_history(in_world, capsys):
    run(["deploy", "--stack", "dev", "--model-version", in_world.arns[0], "--requested-by", "alice"], capsys)

    code, out, _ = run(["status", "--stack", "dev"], capsys)
    assert code == 0
    assert f"serving       version 1  {in_world.arns[0]}" in out and "by alice (manual)" in out
    assert "history" in out and "#1" in out

    code, out, _ = run(["status", "--stack", "dev", "--json"], capsys)
    document = json.loads(out)
    assert document["record"]["promotedBy"] == "alice" and len(document["history"]) == 1
    assert document["lastBuild"] is None and document["pendingRequests"] == 0


def test_the_sandbox_engine_takes_its_context_from_the_sandbox(world, capsys, monkeypatch):
    asked = []
    fake = types.ModuleType("prodline.sandbox.delivery")
    fake.sandbox_context = lambda stack: asked.append(stack) or world.ctx
    monkeypatch.setitem(sys.modules, "prodline.sandbox.delivery", fake)

    code, out, _ = run(["status", "--stack", "staging", "--engine", "sandbox"], capsys)

    assert code == 0 and asked == ["staging"] and "stack         staging" in out


# --- prodline canary (Kubernetes) ------------------------------------------------------------------------

def test_canary_without_the_pulumi_cli_is_one_line(capsys, monkeypatch):
    monkeypatch.setattr("prodline.automation.shutil.which", lambda name: None)

    code, _, err = run(["canary", "--stack", "dev", "--image-tag", "1.5.0"], capsys)

    assert code == 2 and "install the Pulumi CLI" in one_line(err)


def test_canary_refuses_a_stack_served_by_sagemaker(in_world, capsys, monkeypatch):
    monkeypatch.setattr("prodline.automation.shutil.which", lambda name: "/usr/bin/pulumi")

    code, _, err = run(["canary", "--stack", "dev", "--image-tag", "1.5.0"], capsys)

    assert code == 2 and "SageMaker bakes and rolls back its own canaries" in one_line(err)


def test_a_canary_whose_5xx_alarm_fires_is_rolled_back_keeping_the_served_model(in_world, capsys, monkeypatch):
    import dataclasses

    from prodline.delivery.canary import rollback_alarm_names

    monkeypatch.setattr("prodline.automation.shutil.which", lambda name: "/usr/bin/pulumi")
    base = in_world.ctx.settings
    in_world.ctx.settings = lambda stack: dataclasses.replace(base(stack), platform="kubernetes",
                                                              canary_bake_seconds=60)
    cloudwatch = in_world.ctx.clients("cloudwatch")
    for name in rollback_alarm_names(base("dev").endpoint_name, "churn-canary"):
        cloudwatch.put_metric_alarm(AlarmName=name, Namespace="prodline/Serving", MetricName="Invocation5XXErrors",
                                    Statistic="Sum", Period=60, EvaluationPeriods=1, Threshold=5.0,
                                    ComparisonOperator="GreaterThanOrEqualToThreshold")
        cloudwatch.set_alarm_state(AlarmName=name, StateValue="ALARM" if name.endswith("-5xx") else "OK",
                                   StateReason="test")
    applied = []
    monkeypatch.setattr("prodline.automation.up", lambda stack, config, on_output: applied.append((stack, config)))

    code, out, _ = run(["canary", "--stack", "dev", "--image-tag", "1.5.0", "--poll-seconds", "0"], capsys)

    assert code == 1 and "ROLLED BACK" in out and "canary-5xx fired" in out
    assert [config["prodline:k8sCanaryImageTag"] for _, config in applied] == ["1.5.0", ""]
    assert all(config["prodline:modelPackageArn"] == "none" for _, config in applied), "no record: nothing pinned"


def test_a_delivery_command_loads_no_data_library_and_no_realizer_until_it_needs_them():
    """`prodline status`, or a refusal, answers in a fifth of a second: pandas (0.5 s) loads when the smoke gate
    samples rows, the realizer (0.4 s) when a sandbox stack that is up is deployed to or read."""
    loaded = run_python("-c", "import sys; from prodline import delivery_cli; from prodline.delivery import deploy; "
                              "from prodline.sandbox import delivery; print(*sorted(m for m in ('pandas', 'pyarrow', "
                              "'numpy', 'prodline.sandbox.lifecycle', 'prodline.sandbox.delivery_context') "
                              "if m in sys.modules))").stdout.split()
    assert loaded == []
