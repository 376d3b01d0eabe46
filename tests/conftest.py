"""Test-wide settings: no test may reach a real AWS account; botocore reads each service's model once per worker;
in-process moto works out its routes once; the workers share a directory of results computed once; the longest
files are handed out first."""

import os
import shutil
import tempfile

import pytest

from prodline.sandbox import botocore_data, moto_shortcuts
from tests.shared_results import SHARED_DIR_ENV

S3_ENDPOINTS = "MOTO_S3_CUSTOM_ENDPOINTS"  # what moto.s3.urls reads when it is (re)loaded


def pytest_configure(config):
    """The first process of the session (pytest-xdist's controller, or the only one) makes the directory its
    workers share (``shared_results.once_per_session``); they start after this hook and inherit its variable."""
    if not os.path.isdir(os.environ.get(SHARED_DIR_ENV, "")):  # unset, or left by a session that is gone
        config.shared_dir = tempfile.mkdtemp(prefix="prodline-tests-")
        os.environ[SHARED_DIR_ENV] = config.shared_dir


def pytest_unconfigure(config):
    if hasattr(config, "shared_dir"):
        shutil.rmtree(config.shared_dir, ignore_errors=True)
        os.environ.pop(SHARED_DIR_ENV, None)


@pytest.fixture(autouse=True)
def _no_real_aws(monkeypatch):
    """Dummy credentials and a fixed region, so a stray boto3 call can never use a developer's account."""
    for key, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": os.environ.get("PRODLINE_TEST_REGION", "eu-west-1"),
    }.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)


@pytest.fixture(autouse=True, scope="session")
def _one_model_cache_for_every_botocore_session():
    """botocore Loaders that read the same files share one cache of what they parsed (service models, endpoint
    rules), as in the sandbox's warm interpreter and emulator (``prodline.sandbox.botocore_data``).

    moto's mock_aws replaces boto3's default session on every start, and each new session's loader reads and parses
    the model of every service it makes a client for again: a tenth of a second per client, in every test that
    builds a world in moto."""
    botocore_data.share_loader_caches()
    yield


@pytest.fixture(autouse=True, scope="session")
def _moto_routes_worked_out_once():
    """In-process moto, as the emulator's server runs it (``moto_shortcuts``), and its S3 routes read once per setting.

    moto's in-process S3 reloads its ``urls`` module on every request, to pick up ``MOTO_S3_CUSTOM_ENDPOINTS``.
    That reload (re-executing the module and what it imports) was a twelfth of the crash-recovery test's time,
    which sends S3 a few thousand requests. Here the module is reloaded only when that setting differs from what
    it was at the last reload, which is everything the reload can pick up."""
    import importlib

    import moto.s3.urls
    from moto.s3.models import S3Backend

    moto_shortcuts.install()
    read_with: list[str | None] = [os.environ.get(S3_ENDPOINTS)]

    def url_module(self):
        if os.environ.get(S3_ENDPOINTS) != read_with[0]:
            read_with[0] = os.environ.get(S3_ENDPOINTS)
            importlib.reload(moto.s3.urls)
        return moto.s3.urls

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(S3Backend, "_url_module", property(url_module))
        yield


# The files that take longest, longest first: `make test` runs pytest-xdist with `--dist loadfile` in collection
# order, so a worker starts each of these while the other still has short files left to even out the end, instead
# of one worker finishing the suite alone on the demo. Measured with `pytest --junitxml` (each file's tests' time
# added up, setup and teardown included) on 2 cores, two runs averaged: the first takes about a seventh of the
# suite's time, the last about 1%. Only the order depends on this list; a file that is not on it runs after these,
# in its usual place.
LONGEST_FIRST = (
    "sandbox/test_lifecycle_e2e.py",
    "workloads/test_spark_engine.py",
    "workloads/test_etl_crash_recovery.py",
    "cli/test_cost_cli.py",
    "cli/test_cli_errors.py",
    "sandbox/test_tracking_server.py",
    "workloads/test_e2e.py",
    "policies/test_policy_cli.py",
    "sandbox/test_gateway.py",
    "workloads/test_serving_limits.py",
    "sandbox/test_realizer_e2e.py",
    "workloads/test_serving_fuzz.py",
    "workloads/test_training.py",
    "image/test_checkov.py",
    "delivery/test_deploy.py",
    "workloads/test_serving_server.py",
    "sandbox/test_front_door.py",
    "cli/test_preview_cli.py",
    "workloads/test_serving_metrics.py",
    "workloads/test_etl_jobs.py",
    "cli/test_preview_imports.py",
    "workloads/test_data_manifest.py",
    "bootstrap/test_bootstrap.py",
)


def pytest_collection_modifyitems(items):
    """Longest files first (``LONGEST_FIRST``), each file's tests kept together and in their order."""
    rank = {f"tests/{name}": position for position, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.nodeid.partition("::")[0], len(rank)))
