"""Where a stack's sandbox keeps its files: one plain directory per stack, never a path out of the sandbox."""

from __future__ import annotations

import pytest

from prodline.sandbox.paths import sandbox_dir


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
