"""Where a stack's sandbox keeps its files: one plain directory per stack, never a path out of the sandbox."""

from __future__ import annotations

import pytest

from prodline.sandbox.paths import RUN_WORK, clear_run_work, fresh_log, sandbox_dir


@pytest.mark.parametrize("name", ["..", ".", "../escaped", "a/b", "/tmp/escaped", "", "dev\0"])
def test_a_name_that_is_not_one_plain_word_builds_no_directory(tmp_path, monkeypatch, name):
    sandbox = tmp_path / "sandbox"
    sandbox.mkdir()
    monkeypatch.setenv("PRODLINE_SANDBOX_DIR", str(sandbox))
    with pytest.raises(ValueError, match="cannot name a directory of the sandbox"):
        sandbox_dir(name.replace("/tmp", str(tmp_path)))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sandbox"] and list(sandbox.iterdir()) == []


def test_a_stack_gets_its_directory(tmp_path, monkeypatch):
    monkeypatch.setenv("PRODLINE_SANDBOX_DIR", str(tmp_path))
    assert sandbox_dir("dev") == tmp_path / "dev" and (tmp_path / "dev").is_dir()
    assert sandbox_dir(".shared").is_dir()


def test_clearing_a_realizations_work_removes_only_the_runtimes_directories(tmp_path):
    for name in (*RUN_WORK, "keep-me"):
        (tmp_path / name / "inner").mkdir(parents=True)
        (tmp_path / name / "inner" / "file.txt").write_text("x")
    for name in ("report.html", "state.json", "workloads.log"):
        (tmp_path / name).write_text("x")
    assert clear_run_work(tmp_path) == list(RUN_WORK)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep-me", "report.html", "state.json", "workloads.log"]
    assert clear_run_work(tmp_path) == [], "nothing left to clear"


def test_a_fresh_log_keeps_one_previous_generation(tmp_path):
    log = tmp_path / "emulator.log"
    assert fresh_log(log) == log and not log.exists(), "no previous log: nothing moved"
    log.write_text("first session\n")
    fresh_log(log)
    assert not log.exists() and (tmp_path / "emulator.log.1").read_text() == "first session\n"
    log.write_text("second session\n")
    fresh_log(log)
    assert (tmp_path / "emulator.log.1").read_text() == "second session\n", "the older generation is replaced"
    log.write_text("")
    fresh_log(log)
    assert log.exists() and (tmp_path / "emulator.log.1").read_text() == "second session\n", "an empty log stays"
