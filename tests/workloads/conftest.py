"""Fixtures for the workload tests: moto in-process for units, a moto server (or AWS_ENDPOINT_URL) end to end.

Every fixture that talks to an emulator uses dummy credentials (set for all tests by tests/conftest.py)
and never a real account: unit fixtures remove AWS_ENDPOINT_URL so moto's in-process mock catches every
call, and the end-to-end fixture points boto3 at 127.0.0.1 unless the caller names an emulator.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from prodline.net import free_port
from prodline.sandbox.warm_start import WarmProcess, Zygote, finish
from workloads.etl import catalog, lake
from workloads.etl.features import add_features
from workloads.ingest.generator import generate_typed
from workloads.training.artifacts import save_model
from workloads.training.model import Hyperparameters
from workloads.training.train import train

REGION = "eu-west-1"
ZONES = ("raw", "curated", "features", "artifacts")


def wait_until(check, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.05)
    raise TimeoutError(f"{what} not ready within {timeout} s")


def answers_http(url: str) -> bool:
    try:
        urllib.request.urlopen(url, timeout=1)
    except urllib.error.HTTPError:
        return True  # any HTTP answer means something listens
    except (urllib.error.URLError, OSError):
        return False
    return True


@pytest.fixture(autouse=True)
def _fresh_clients():
    lake.reset_clients()
    catalog.reset_clients()
    yield
    lake.reset_clients()
    catalog.reset_clients()


@pytest.fixture
def aws(monkeypatch):
    """moto in-process: every boto3 call in the test is served by moto."""
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    with mock_aws():
        yield


def make_lake(prefix: str) -> dict[str, str]:
    """One bucket per zone, as the DataLake component creates them; returns zone -> bucket name."""
    s3 = boto3.client("s3")
    buckets = {zone: f"{prefix}-{zone}" for zone in ZONES}
    for name in buckets.values():
        s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": REGION})
    return buckets


@pytest.fixture
def lake_buckets(aws) -> dict[str, str]:
    return make_lake("prodline-test")


@pytest.fixture(scope="session")
def emulator_url():
    """AWS_ENDPOINT_URL when set (skips if nothing answers there), else a moto server on a free local port."""
    given = os.environ.get("AWS_ENDPOINT_URL")
    if given:
        if not answers_http(given):
            pytest.skip(f"no emulator answers at AWS_ENDPOINT_URL={given}: end-to-end tests skipped")
        yield given
        return
    moto_server = shutil.which("moto_server", path=str(Path(sys.executable).parent)) or shutil.which("moto_server")
    if moto_server is None:
        pytest.fail("moto_server is not installed (pip install 'moto[server]')")
    port = free_port()
    process = subprocess.Popen([moto_server, "-H", "127.0.0.1", "-p", str(port)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: answers_http(url + "/moto-api/"), 20, "moto server")
        yield url
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=10)


@pytest.fixture
def emulator(emulator_url, monkeypatch) -> str:
    """boto3 (in this process and in subprocesses) pointed at the emulator, with dummy credentials."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", emulator_url)
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    return emulator_url


@pytest.fixture
def emulator_lake(emulator) -> dict[str, str]:
    return make_lake(f"prodline-e2e-{uuid.uuid4().hex[:8]}")


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory) -> Path:
    """A small trained model in the layout training writes (trained once per session)."""
    directory = tmp_path_factory.mktemp("model")
    pipeline, metadata, baseline = train(add_features(generate_typed(8000, 11)), None, Hyperparameters(max_iter=60))
    save_model(directory, pipeline, metadata, baseline)
    return directory


def start_server(model_dir: Path, workers: int = 2, settings: dict[str, str] | None = None,
                 log_path: Path | None = None, open_files: int | None = None, *,
                 stdout_path: Path | None = None) -> tuple[subprocess.Popen | WarmProcess, str]:
    """``serve`` on a free loopback port, answering /ping; the caller stops it with SIGTERM.
    ``settings``: more environment variables (the server's bounds); ``log_path``: where its log goes;
    ``open_files``: the soft limit on open files it starts with; ``stdout_path``: where its stdout (the metrics
    lines) goes.

    Forked from a warm interpreter (``_warm_interpreter``), as the sandbox starts its model servers: the same
    command line, environment and exit code, without the seconds a cold start spends importing scikit-learn
    and pandas (measured 2026-12-02: 3.1-3.3 s of CPU and 2.6-2.8 s to the first /ping cold, 0.12-0.18 s
    warm). A cold ``python -m workloads.serving.server`` is still started by the tests that bound
    its open files (a limit the zygote's child cannot start with) and by the entry-point tests."""
    port = free_port()
    env = {**os.environ, "SM_MODEL_DIR": str(model_dir), "SAGEMAKER_BIND_TO_PORT": str(port),
           "PRODLINE_SERVER_HOST": "127.0.0.1", "SAGEMAKER_MODEL_SERVER_WORKERS": str(workers),
           "PRODLINE_SHUTDOWN_GRACE_SECONDS": "5", **(settings or {})}
    if open_files is None:
        process = _warm_interpreter().start(SERVE_COMMAND, env=env, cwd=None, stdout=str(stdout_path or os.devnull),
                                            stderr=str(log_path or os.devnull))
    else:
        process = _cold_start(open_files, env, log_path, stdout_path)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: answers_http(url + "/ping"), 30, "inference server")
    except TimeoutError:
        process.kill()
        raise
    return process, url


SERVE_COMMAND = [sys.executable, "-m", "workloads.serving.server"]
_WARM: list[Zygote] = []


def _warm_interpreter() -> Zygote:
    """This test process's own zygote (not the sandbox's, whose children carry the sandbox's label), started on
    first use; it exits with the process."""
    if not _WARM or _WARM[0].process.poll() is not None:
        _WARM[:] = [Zygote(label="serving-tests")]
    return _WARM[0]


def run_warm(argv: list[str], *, cwd: Path, timeout: float) -> tuple[int, str, str]:
    """``python <argv>`` to its end, forked from the warm interpreter: its exit code, stdout and stderr."""
    with tempfile.TemporaryDirectory() as scratch:
        out, err = Path(scratch, "stdout"), Path(scratch, "stderr")
        code = finish(_warm_interpreter().start([sys.executable, *argv], env=dict(os.environ), cwd=str(cwd),
                                                stdout=str(out), stderr=str(err)), timeout)
        return code, out.read_text(), err.read_text()


def _cold_start(open_files: int, env: dict[str, str], log_path: Path | None,
                stdout_path: Path | None) -> subprocess.Popen:
    command = [sys.executable, "-c", "import resource, runpy; hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]; "
               f"resource.setrlimit(resource.RLIMIT_NOFILE, ({open_files}, hard)); "
               "runpy.run_module('workloads.serving.server', run_name='__main__', alter_sys=True)"]
    log = log_path.open("ab") if log_path else subprocess.DEVNULL
    out = stdout_path.open("ab") if stdout_path else subprocess.DEVNULL
    try:
        return subprocess.Popen(command, env=env, stdout=out, stderr=log)
    finally:
        for path, handle in ((log_path, log), (stdout_path, out)):
            if path:
                handle.close()


def stop_server(process: subprocess.Popen | WarmProcess) -> int:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    return process.wait(timeout=15)


@pytest.fixture(scope="session")
def server(model_dir):
    """``serve`` with two workers, shared by the server tests."""
    process, url = start_server(model_dir)
    try:
        yield url
    finally:
        stop_server(process)


# The test session's JVM runs a few small jobs and exits: compiling only with the quick JIT tier and collecting
# garbage on one thread took a third less CPU to start it and run its first jobs than the server defaults (C2 and
# a parallel collector, sized for long jobs on many cores) on 2 cores.
SHORT_LIVED_JVM = "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC"


@pytest.fixture(scope="session")
def spark_session():
    """One local Spark session per run (start-up costs ~20 s). Skipped only when Java is missing."""
    if shutil.which("java") is None:
        pytest.skip("Java is not installed: the Spark tests need a JDK (17) on PATH")
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        if os.environ.get("CI"):
            raise  # CI installs the spark extra; a missing pyspark there is a broken setup, not a skip
        pytest.skip("pyspark is not installed: pip install -e '.[spark]'")
    os.environ["PYSPARK_PYTHON"] = sys.executable
    os.environ["SPARK_LOCAL_IP"] = "127.0.0.1"
    session = (SparkSession.builder.master("local[2]").appName("prodline-tests")
               .config("spark.ui.enabled", "false").config("spark.ui.showConsoleProgress", "false")
               .config("spark.driver.memory", "2g").config("spark.sql.shuffle.partitions", "4")
               .config("spark.driver.host", "127.0.0.1").config("spark.driver.bindAddress", "127.0.0.1")
               .config("spark.driver.extraJavaOptions", SHORT_LIVED_JVM)
               .getOrCreate())
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()
