"""Archive extraction: tarfile's "data" filter plus refusing absolute and ".." names, or no extraction at all."""

from __future__ import annotations

import io
import re
import tarfile
import tempfile
import tomllib
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


# Names tarfile's "data" filter would re-root or resolve inside the target, and so let through: each is refused
# by the module's own check, by name, with nothing written.
NOT_OURS = {
    "absolute path": (member("/etc/planted", data=b"x"), "absolute path '/etc/planted'"),
    "Windows drive path": (member("C:/planted", data=b"x"), "absolute path 'C:/planted'"),
    "backslash-rooted path": (member("\\planted", data=b"x"), "absolute path"),
    "'..' that stays inside": (member("sub/../model.joblib", data=b"x"), "'..' in 'sub/../model.joblib'"),
    "'..' between backslashes": (member("sub\\..\\model.joblib", data=b"x"), "'..' in"),
    "hard link through '..' that stays inside": (
        member("copy.joblib", tarfile.LNKTYPE, linkname="sub/../model.joblib"), "'..' in 'sub/../model.joblib'"),
}


@pytest.mark.parametrize("case", sorted(NOT_OURS))
def test_names_the_data_filter_would_let_through_are_refused_by_name(tmp_path, case):
    unsafe, words = NOT_OURS[case]
    path = archive(tmp_path / "a.tar.gz", member("model.joblib", data=b"m"), member("sub/keep", data=b"k"), unsafe)
    with pytest.raises(UnsafeMemberError, match=re.escape(words)):
        extract_tar(path, tmp_path / "out")
    assert list((tmp_path / "out").iterdir()) == []


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


class OneObjectS3:
    """The two calls the gateway makes to fetch a model artifact, answered from one local file."""

    def __init__(self, path: Path):
        self.path = path

    def head_object(self, Bucket: str, Key: str) -> dict:
        return {"ETag": '"1"'}

    def get_object(self, Bucket: str, Key: str) -> dict:
        return {"Body": io.BytesIO(self.path.read_bytes())}


def _training_artifacts(path: Path, target: Path) -> None:
    target.mkdir()
    path.rename(target / artifacts.MODEL_ARCHIVE)
    artifacts.model_directory(target)


def _sandbox_gateway(path: Path, target: Path) -> None:
    from prodline.sandbox.gateway.servers import fetch_model

    fetch_model(OneObjectS3(path), "s3://artifacts/models/v1/model.tar.gz", target)


def _sandbox_containers(path: Path, target: Path) -> None:
    from prodline.sandbox.runtimes.containers import extract

    extract(path, target)


def _image_fetch_model(path: Path, target: Path) -> None:
    from tests.image.test_fetch_model import fetcher

    target.mkdir()
    fetcher.unpack(path, target)


UNPACKERS = {"training artifacts": _training_artifacts, "sandbox gateway": _sandbox_gateway,
             "sandbox containers (pipeline, delivery demo)": _sandbox_containers,
             "image fetch-model": _image_fetch_model}


@pytest.mark.parametrize("where", sorted(UNPACKERS))
def test_every_model_archive_is_unpacked_by_the_strict_rule(tmp_path, where):
    """Each place that unpacks a model archive refuses what only this module's rule refuses (a ``..`` that stays
    inside the target passes tarfile's ``data`` filter alone) and writes none of the archive."""
    path = archive(tmp_path / "model.tar.gz", member("model.joblib", data=b"m"),
                   member("sub/../metadata.json", data=b"{}"))
    with pytest.raises(Exception, match=re.escape("'..' in 'sub/../metadata.json'")) as raised:
        UNPACKERS[where](path, tmp_path / "model")
    assert isinstance(raised.value, tarfile.FilterError) or isinstance(raised.value.__context__, tarfile.FilterError)
    assert not [p for p in tmp_path.rglob("*") if p.name in ("model.joblib", "metadata.json")], "nothing unpacked"


def test_every_python_the_project_installs_on_has_the_data_filter():
    """tarfile's "data" filter arrived in 3.11.4: pip must refuse the Pythons that extraction would refuse."""
    from packaging.specifiers import SpecifierSet

    pyproject = Path(__file__).resolve().parents[2] / "pyproject.toml"
    supported = SpecifierSet(tomllib.loads(pyproject.read_text())["project"]["requires-python"])
    assert "3.11.3" not in supported, f"requires-python {supported} admits 3.11.0-3.11.3, which lack the filter"
    assert {"3.11.4", "3.12.0", "3.13.0"} <= set(supported.filter(["3.11.4", "3.12.0", "3.13.0"]))
