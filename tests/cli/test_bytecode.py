"""The set-up's compile step writes what ``python -m compileall -q -j 0 -x PATTERN`` writes, and no more."""

from __future__ import annotations

import compileall
import importlib.util
import marshal
import os
import re
import shutil
import struct
from pathlib import Path

import pytest

from prodline import bytecode

EXCLUDE = re.compile(r"site-packages/(providerpkg|big/part)/|/tests?/")


def _tree(root: Path, modules: int = 3) -> Path:
    """A venv-like tree: packages to compile, and what the pattern (and compileall's walk) leaves out."""
    site = root / "lib" / "site-packages"
    for name in [f"pkg/m{i}.py" for i in range(modules)] + [
            "pkg/sub/deep.py", "pkg/tests/test_it.py", "pkg/test/helper.py", "providerpkg/huge.py",
            "big/part/skip.py", "big/kept.py", "pkg/__pycache__/stray.py", "single.py"]:
        path = site / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"VALUE = {name!r}\n")
    (site / "pkg" / "notes.txt").write_text("not python")
    os.symlink(site / "big", site / "pkg" / "linked")  # compileall does not follow links to directories
    return site


def _compiled(root: Path) -> set[str]:
    return {str(path.relative_to(root)) for path in root.rglob("*.pyc")}


def test_the_walk_leaves_out_what_the_pattern_matches_without_entering_it(tmp_path, monkeypatch):
    site = _tree(tmp_path)
    entered, walk = [], os.walk

    def recording_walk(top, **kwargs):
        for directory, subdirectories, files in walk(top, **kwargs):
            entered.append(str(Path(directory).relative_to(site)))
            yield directory, subdirectories, files

    monkeypatch.setattr(bytecode.os, "walk", recording_walk)
    found = {str(Path(p).relative_to(site)) for p in bytecode.python_files([str(site)], EXCLUDE)}
    assert found == {"pkg/m0.py", "pkg/m1.py", "pkg/m2.py", "pkg/sub/deep.py", "big/kept.py", "single.py"}
    assert sorted(entered) == [".", "big", "pkg", "pkg/sub"]


@pytest.mark.parametrize("modules", [3, 3 * bytecode.CHUNK], ids=["in-process", "in-chunks"])
def test_it_writes_the_bytecode_compileall_writes(tmp_path, modules):
    ours, theirs = _tree(tmp_path / "ours", modules), _tree(tmp_path / "theirs", modules)
    assert bytecode.main(["--exclude", EXCLUDE.pattern, str(ours)]) == 0
    assert compileall.compile_dir(str(theirs), quiet=1, rx=EXCLUDE, workers=0)
    assert _compiled(ours) == _compiled(theirs)
    assert len(_compiled(ours)) == modules + 3
    for pyc in _compiled(ours):
        mine, reference = (ours / pyc).read_bytes(), (theirs / pyc).read_bytes()
        source = ours / Path(pyc).parent.parent / (Path(pyc).name.split(".")[0] + ".py")
        assert mine[:8] == reference[:8], "the same magic number and flags (a timestamp-checked .pyc)"
        assert struct.unpack("<II", mine[8:16]) == (int(source.stat().st_mtime), source.stat().st_size)
        assert marshal.loads(mine[16:]).co_code == marshal.loads(reference[16:]).co_code


def test_bytecode_written_is_what_the_import_system_reads(tmp_path):
    site = _tree(tmp_path)
    bytecode.main([str(site / "pkg" / "m0.py")])
    cached = Path(importlib.util.cache_from_source(str(site / "pkg" / "m0.py")))
    assert cached.is_file()
    assert bytecode.main([str(site / "pkg" / "m0.py")]) == 0 and cached.is_file()


def test_a_root_the_pattern_matches_is_left_out_as_compileall_leaves_it(tmp_path):
    site = _tree(tmp_path)
    assert list(bytecode.python_files([str(site / "providerpkg"), str(site / "pkg" / "tests")], EXCLUDE)) == []


@pytest.mark.parametrize("modules", [3, 2 * bytecode.CHUNK], ids=["in-process", "in-chunks"])
def test_a_file_that_does_not_compile_fails_the_step_and_the_others_are_still_compiled(tmp_path, modules):
    site = _tree(tmp_path, modules=modules)
    (site / "pkg" / "broken.py").write_text("def (:\n")
    assert bytecode.main(["--exclude", EXCLUDE.pattern, str(site)]) == 1
    assert len(_compiled(site)) == modules + 3
    shutil.rmtree(site / "pkg")
    assert bytecode.main(["--exclude", EXCLUDE.pattern, str(site)]) == 0
