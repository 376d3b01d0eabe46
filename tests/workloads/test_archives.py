"""Archive extraction: tarfile's "data" filter plus refusing absolute and ".." names, or no extraction at all."""

from __future__ import annotations

import io
import tarfile
import tempfile
from pathlib import Path

import pytest

from workloads.archives import UnsafeMemberError, extract_tar
from workloads.training import artifacts


def member(name: str, kind: bytes = tarfile.REGTYPE, data: bytes = b"", linkname: str = "") -> tuple:
    info = tarfile.TarInfo(name)
    info.type, info.linkname, info.size = kind, linkname, len(data)
    return info, io.BytesIO(data) if data else None


def archive(path: Path, *members: tuple) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for info, data in members:
            tar.addfile(info, data)
    return path


def everything_under(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*")}


UNSAFE = {
    "hard link out of the target": (member("model.joblib", data=b"m"),
                                    member("stolen", tarfile.LNKTYPE, linkname="../secret.txt")),
    "hard link to an absolute path": (member("stolen", tarfile.LNKTYPE, linkname="/etc/hostname"),),
    "symlink out of the target": (member("escape", tarfile.SYMTYPE, linkname="../.."),
                                  member("escape/planted.txt", data=b"x")),
    "symlink to an absolute path": (member("escape", tarfile.SYMTYPE, linkname="/tmp"),),
    "absolute path": (member("/tmp/planted.txt", data=b"x"),),
    "'..' member": (member("../planted.txt", data=b"x"),),
    "'..' inside a name": (member("sub/../../planted.txt", data=b"x"),),
    "device file": (member("null", tarfile.CHRTYPE),),
    "fifo": (member("pipe", tarfile.FIFOTYPE),),
}


@pytest.mark.parametrize("case", sorted(UNSAFE))
def test_unsafe_members_are_refused_and_nothing_is_written(tmp_path, case):
    (tmp_path / "secret.txt").write_text("secret")
    path = archive(tmp_path / "model.tar.gz", *UNSAFE[case])
    target = tmp_path / "out" / "model"
    before = everything_under(tmp_path)
    with pytest.raises(tarfile.FilterError):
        extract_tar(path, target)
    assert everything_under(tmp_path) - before <= {"out", "out/model"}, "something was written"
    assert list(target.iterdir()) == [], "a refused archive writes nothing, even its safe members"


def test_names_the_data_filter_would_rewrite_are_refused_by_name(tmp_path):
    path = archive(tmp_path / "a.tar.gz", member("/etc/planted", data=b"x"))
    with pytest.raises(UnsafeMemberError, match="absolute path '/etc/planted'"):
        extract_tar(path, tmp_path / "out")


def test_a_safe_archive_extracts_with_links_inside_the_target(tmp_path):
    path = archive(tmp_path / "a.tar.gz", member("model.joblib", data=b"model"), member("meta/info.json", data=b"{}"),
                   member("alias.joblib", tarfile.SYMTYPE, linkname="model.joblib"),
                   member("meta/copy.joblib", tarfile.LNKTYPE, linkname="model.joblib"))
    names = extract_tar(path, tmp_path / "out")
    assert names == ["model.joblib", "meta/info.json", "alias.joblib", "meta/copy.joblib"]
    assert (tmp_path / "out" / "alias.joblib").read_bytes() == b"model"
    assert (tmp_path / "out" / "meta" / "copy.joblib").read_bytes() == b"model"


def test_a_python_without_the_data_filter_is_refused_rather_than_served_a_weaker_check(tmp_path, monkeypatch):
    path = archive(tmp_path / "a.tar.gz", member("model.joblib", data=b"model"))
    monkeypatch.delattr(tarfile, "data_filter")
    with pytest.raises(RuntimeError, match="lacks tarfile's 'data' extraction filter"):
        extract_tar(path, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_loading_a_model_archive_with_a_hard_link_out_of_it_fails_and_leaves_no_extraction(tmp_path, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    path = archive(tmp_path / artifacts.MODEL_ARCHIVE, member(artifacts.MODEL_FILE, data=b"m"),
                   member(artifacts.METADATA_FILE, tarfile.LNKTYPE, linkname="../secret.txt"))
    with pytest.raises(tarfile.FilterError):
        artifacts.load_model(path)
    assert list((tmp_path / "tmp").iterdir()) == []
