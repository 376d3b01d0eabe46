"""docker/entrypoint.sh without Docker: fake `serve` and `python` on PATH record how they were called."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ENTRYPOINT = ROOT / "docker" / "entrypoint.sh"
SH = shutil.which("sh")

pytestmark = pytest.mark.skipif(SH is None, reason="needs a POSIX sh")


@pytest.fixture
def fake_bin(tmp_path):
    """A PATH whose `serve` and `python` print their name and arguments instead of starting anything."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name in ("serve", "python"):
        tool = bin_dir / name
        tool.write_text(f'#!/bin/sh\necho "{name} $*"\n')
        tool.chmod(0o755)
    return bin_dir


def run(fake_bin: Path, *args: str) -> subprocess.CompletedProcess:
    env = {"PATH": f"{fake_bin}{os.pathsep}{os.environ.get('PATH', '')}"}
    return subprocess.run([SH, str(ENTRYPOINT), *args], capture_output=True, text=True, env=env, timeout=10,
                          check=False)


def test_no_argument_starts_the_server(fake_bin):
    result = run(fake_bin)
    assert (result.returncode, result.stdout) == (0, "serve \n")


def test_sagemaker_serve_argument_starts_the_server_without_passing_serve_on(fake_bin):
    result = run(fake_bin, "serve")
    assert (result.returncode, result.stdout) == (0, "serve \n")


def test_fetch_model_runs_the_fetcher_beside_the_entry_point(fake_bin):
    result = run(fake_bin, "fetch-model", "s3://bucket/models/m/model.tar.gz")
    assert result.returncode == 0
    assert result.stdout == f"python {ENTRYPOINT.parent}/fetch_model.py s3://bucket/models/m/model.tar.gz\n"


def test_train_is_refused_with_a_reason(fake_bin):
    result = run(fake_bin, "train")
    assert result.returncode == 64
    assert "serves models" in result.stderr and result.stdout == ""


def test_other_commands_run_as_given(fake_bin):
    result = run(fake_bin, "echo", "hello")
    assert (result.returncode, result.stdout) == (0, "hello\n")


def test_entry_point_is_executable():
    assert os.access(ENTRYPOINT, os.X_OK), "the image runs it directly (ENTRYPOINT exec form)"
