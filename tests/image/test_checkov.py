"""checkov, offline, on what ships: the Kubernetes manifests `prodline preview --k8s-yaml` writes and the Dockerfile.

checkov pins boto3 below the project's pin, so it has a venv of its own, ``.venv/tools/checkov``, installed by
`make setup` and `make test` from pyproject.toml's ``checkov`` dependency group. It runs with nothing to reach:
``--skip-download`` (no policy metadata from the vendor's platform), ``CKV_SKIP_PACKAGE_UPDATE_CHECK`` (no look-up
of a newer checkov), ``BC_SKIP_MAPPING``, no API key, every proxy at a closed port, and, where ``unshare -n``
works (Linux, as root), in a network namespace with no network at all. A call it still tried would fail at once.

One checkov run covers every case (it takes seconds, its start-up most of them): the three stacks on Kubernetes
as shipped (by tag: the digest check is waived on each Deployment, with the reason), staging with both images
named by digest (nothing waived), the Dockerfile, and two broken inputs that must fail, so a checkov that
silently checks nothing cannot pass.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

from components.k8s_render import write_manifests
from components.k8s_serving import DIGEST_CHECK, NO_DIGEST_REASON
from tests.helpers import ON_KUBERNETES, PINNED_K8S, STACKS, stack_registrations

ROOT = Path(__file__).resolve().parents[2]
CHECKOV = Path(sys.prefix) / "tools" / "checkov" / "bin" / "checkov"
TIMEOUT = 300
CASES = {**{stack: (stack, (ON_KUBERNETES,)) for stack in STACKS}, "staging-by-digest": ("staging", PINNED_K8S)}
BROKEN_MANIFEST = "broken-manifest"
BROKEN_IMAGE = "broken-image"
# What the broken inputs must fail: a pod by tag with no pull policy; a Dockerfile on `latest`, as root, unchecked.
BROKEN_FAILS = {BROKEN_MANIFEST: {"CKV_K8S_15", "CKV_K8S_43"}, BROKEN_IMAGE: {"CKV_DOCKER_7", "CKV_DOCKER_3",
                                                                              "CKV_DOCKER_2"}}
DEAD_PROXY = "http://127.0.0.1:9"


def pinned_version() -> str:
    (requirement,) = tomllib.loads((ROOT / "pyproject.toml").read_text())["dependency-groups"]["checkov"]
    return requirement.removeprefix("checkov==")


def offline_env() -> dict[str, str]:
    """This environment without checkov's platform settings and proxies, plus the switches that keep it local."""
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("BC_", "PRISMA_", "CKV_", "CHECKOV_")) and key.lower() != "no_proxy"}
    for var in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        env[var] = DEAD_PROXY
    env.update(CKV_SKIP_PACKAGE_UPDATE_CHECK="true", BC_SKIP_MAPPING="TRUE", NO_COLOR="1")
    return env


def no_network() -> list[str]:
    """A prefix that runs a command in a network namespace of its own (no interface up), or [] where none works."""
    if shutil.which("unshare") is None:
        return []
    probe = subprocess.run(["unshare", "-n", "true"], capture_output=True, check=False)
    return ["unshare", "-n"] if probe.returncode == 0 else []


def _broken_inputs(target: Path) -> None:
    """A dev Deployment stripped of its pull policies and its waiver, and a Dockerfile on latest."""
    (deployment,) = (target / "dev").glob("*-deployment-*.yaml")
    doc = yaml.safe_load(deployment.read_text())
    doc["metadata"].pop("annotations")
    pod = doc["spec"]["template"]["spec"]
    for container in (*pod["initContainers"], *pod["containers"]):
        container.pop("imagePullPolicy")
    (target / BROKEN_MANIFEST).mkdir()
    (target / BROKEN_MANIFEST / deployment.name).write_text(yaml.safe_dump(doc, sort_keys=False))
    (target / BROKEN_IMAGE).mkdir()
    (target / BROKEN_IMAGE / "Dockerfile").write_text('FROM python:latest\nCMD ["python"]\n')


@pytest.fixture(scope="module")
def scan(tmp_path_factory):
    """(checkov's reports by framework, the directory it scanned)."""
    if not CHECKOV.exists():
        if os.environ.get("CI"):
            pytest.fail(f"checkov is not installed at {CHECKOV}: `make test` installs it; CI must run it")
        pytest.skip(f"checkov is not installed at {CHECKOV} (`make setup` installs pyproject.toml's checkov group)")
    target = tmp_path_factory.mktemp("checkov")
    for case, (stack, overrides) in CASES.items():
        write_manifests(stack_registrations(stack, *overrides), target / case)
    (target / "image").mkdir()
    shutil.copy(ROOT / "Dockerfile", target / "image" / "Dockerfile")
    _broken_inputs(target)
    argv = [*no_network(), str(CHECKOV), "--directory", str(target), "--framework", "kubernetes", "dockerfile",
            "--skip-download", "--compact", "--output", "json"]
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=TIMEOUT, env=offline_env(), check=False)
    except subprocess.TimeoutExpired:
        pytest.fail(f"checkov did not finish in {TIMEOUT} s with the network unreachable: it waits on a call")
    assert done.returncode in (0, 1), f"checkov exited {done.returncode}:\n{done.stderr[-3000:]}"
    reports = json.loads(done.stdout)
    return {r["check_type"]: r for r in (reports if isinstance(reports, list) else [reports])}, target


def _checks(report: dict, *outcomes: str) -> list[dict]:
    return [check for outcome in outcomes for check in report["results"][f"{outcome}_checks"]]


def _case(check: dict) -> str:
    return check["file_path"].lstrip("/").split("/")[0]


def test_checkov_is_the_pinned_version():
    if not CHECKOV.exists():
        pytest.skip(f"checkov is not installed at {CHECKOV}")
    found = list(CHECKOV.parents[1].glob("lib/python*/site-packages/checkov-*.dist-info"))
    assert [p.name for p in found] == [f"checkov-{pinned_version()}.dist-info"], \
        f"{CHECKOV.parents[1]} holds {[p.name for p in found]}; run `make setup` after changing the pin"


def test_checkov_finds_no_failure_in_the_manifests_or_the_dockerfile(scan):
    reports, _ = scan
    assert set(reports) == {"kubernetes", "dockerfile"}, f"checkov reported {sorted(reports)}"
    failures = [f"{c['check_id']} ({c['check_name']}) on {c['resource']} in {c['file_path']}"
                for report in reports.values() for c in _checks(report, "failed")
                if _case(c) not in BROKEN_FAILS]
    assert not failures, "checkov fails:\n" + "\n".join(failures)
    for report in reports.values():
        assert not report["results"]["parsing_errors"], f"checkov could not parse {report['results']['parsing_errors']}"


def test_checkov_read_every_manifest_and_the_dockerfile(scan):
    reports, target = scan
    seen = {c["file_path"] for report in reports.values() for c in _checks(report, "passed", "failed", "skipped")}
    files = {f"/{p.relative_to(target)}": yaml.safe_load(p.read_text())["kind"] for p in target.glob("*/*.yaml")}
    checked_kinds = {kind for path, kind in files.items() if path in seen}
    assert "Deployment" in checked_kinds, "checkov checked no Deployment"
    missed = sorted(path for path, kind in files.items() if kind in checked_kinds and path not in seen)
    assert not missed, f"checkov checks these kinds elsewhere but skipped these files: {missed}"
    dockerfile = [c for c in _checks(reports["dockerfile"], "passed") if c["file_path"] == "/image/Dockerfile"]
    assert len(dockerfile) > 10, "checkov ran (almost) no check on the Dockerfile"


def test_only_the_digest_check_is_waived_and_only_on_workloads_by_tag_with_the_reason(scan):
    reports, _ = scan
    skipped = _checks(reports["kubernetes"], "skipped") + _checks(reports["dockerfile"], "skipped")
    waived = {(_case(c), c["resource"].split(".")[0], c["check_id"], c["check_result"]["suppress_comment"])
              for c in skipped}
    # The drift monitor's CronJob runs the serving image by the same tag, so it carries the same waiver.
    expected = {(stack, kind, DIGEST_CHECK, NO_DIGEST_REASON) for stack in STACKS for kind in ("Deployment", "CronJob")}
    assert waived == expected, f"skips must be the digest check on the by-tag workloads only, got {waived}"


def test_checkov_fails_a_pod_without_digest_or_pull_policy_and_a_dockerfile_on_latest(scan):
    reports, _ = scan
    for case, expected in BROKEN_FAILS.items():
        found = {c["check_id"] for report in reports.values() for c in _checks(report, "failed") if _case(c) == case}
        assert found == expected, f"{case}: checkov failed {sorted(found)}, expected {sorted(expected)}"


def test_image_by_digest_passes_the_pull_policy_and_digest_checks_without_a_waiver(scan):
    reports, _ = scan
    pinned = {c["check_id"] for c in _checks(reports["kubernetes"], "passed")
              if _case(c) == "staging-by-digest" and c["resource"].startswith("Deployment.")}
    assert {"CKV_K8S_15", "CKV_K8S_43"} <= pinned
