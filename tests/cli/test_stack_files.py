"""A stack's config read as the Pulumi CLI assembles it, and what is refused (with the file or flag and the key)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml

from prodline import stack_files
from prodline.program import BOOTSTRAP_DIR, BOOTSTRAP_STACK
from prodline.stack_files import ROOT, StackFileError, _FastLoader, _Loader, _parse, check_stack, load


@pytest.mark.parametrize("stack", ["dev", "staging", "prod"])
def test_a_stack_with_a_stack_file_is_a_stack(stack):
    check_stack(stack)


@pytest.mark.parametrize(("stack", "words"), [
    ("qa", "--stack 'qa': no stack file Pulumi.qa.yaml; stacks are: dev, prod, staging"),
    ("../..", "--stack '../..': not a stack name; stacks are: dev, prod, staging"),
    ("dev/../prod", "not a stack name"), ("/etc", "not a stack name"), ("", "not a stack name"),
])
def test_any_other_name_is_refused_naming_the_stacks(stack, words):
    with pytest.raises(StackFileError) as refused:
        check_stack(stack)
    assert words in str(refused.value)
    with pytest.raises(StackFileError):
        load(stack)


@pytest.mark.parametrize("override", ["foo:bar=1", "pulumi:tags=x", ":servingMinCapacity=2", "Prodline:owner=x"])
def test_an_override_outside_the_project_and_provider_namespaces_is_refused(override):
    namespace = override.split(":", 1)[0]
    with pytest.raises(StackFileError) as refused:
        load("dev", [override])
    assert str(refused.value) == (f"-c {override!r}: {override.split('=', 1)[0]}: namespace {namespace!r} is not one "
                                  "of prodline, aws, kubernetes")


def test_provider_keys_and_bare_keys_are_taken():
    values = load("dev", ["aws:region=eu-central-1", "kubernetes:context=kind", "owner=someone"])
    assert values["aws:region"] == "eu-central-1"
    assert values["kubernetes:context"] == "kind"
    assert values["prodline:owner"] == "someone"


def test_the_bootstrap_takes_its_own_projects_namespace_not_the_stacks():
    values = load(BOOTSTRAP_STACK, ["prodline-bootstrap:githubRepository=acme/ml"], root=BOOTSTRAP_DIR)
    assert values["prodline-bootstrap:githubRepository"] == "acme/ml"
    with pytest.raises(StackFileError, match="namespace 'prodline' is not one of prodline-bootstrap, aws"):
        load(BOOTSTRAP_STACK, ["prodline:owner=x"], root=BOOTSTRAP_DIR)


def test_a_date_like_value_stays_the_string_it_is_written_as(tmp_path):
    (tmp_path / "Pulumi.yaml").write_text("name: demo\nconfig:\n  aws:region: eu-west-1\n")
    (tmp_path / "Pulumi.one.yaml").write_text("config:\n  demo:since: 2024-01-31\n  demo:count: 3\n")
    assert load("one", root=tmp_path) == {"aws:region": "eu-west-1", "demo:since": "2024-01-31", "demo:count": 3}


@pytest.mark.parametrize(("stack_file", "words"), [
    ("config: [\n", "Pulumi.one.yaml: not valid YAML: "),
    ("just text\n", "Pulumi.one.yaml: expected a mapping (key: value lines) at the top, got a string"),
    ("config:\n  demo:x: !!set {a: null}\n", "Pulumi.one.yaml: config: demo:x: expected a string, number, boolean"),
    ("config:\n  demo:x:\n    - {1: a}\n", "Pulumi.one.yaml: config: demo:x[0]: key 1: expected a string"),
])
def test_a_stack_file_pulumi_could_not_read_is_named_with_its_problem(tmp_path, stack_file, words):
    (tmp_path / "Pulumi.yaml").write_text("name: demo\n")
    (tmp_path / "Pulumi.one.yaml").write_text(stack_file)
    with pytest.raises(StackFileError) as refused:
        load("one", root=tmp_path)
    assert str(refused.value).startswith(words) and "\n" not in str(refused.value)


def _repository_yaml_files() -> list[Path]:
    return sorted([*ROOT.glob("Pulumi*.yaml"), *BOOTSTRAP_DIR.glob("Pulumi*.yaml")])


def test_stack_files_are_parsed_by_libyaml_with_the_same_values_as_the_python_parser():
    """libyaml's parser is what keeps Pulumi.yaml from costing a tenth of a preview (docs/benchmarks.md)."""
    assert yaml.__with_libyaml__ and issubclass(_FastLoader, yaml.CSafeLoader)
    assert len(_repository_yaml_files()) >= 5
    for path in _repository_yaml_files():
        text = path.read_text()
        assert yaml.load(text, Loader=_FastLoader) == yaml.load(text, Loader=_Loader), path.name
    assert _parse("since: 2024-01-31\n") == {"since": "2024-01-31"}


@pytest.mark.parametrize("text", ["config: [\n", "config:\n\tdemo:x: 1\n", "a: b: c\n", "- [1\n"])
def test_a_refused_file_is_explained_as_the_python_parser_explains_it(text):
    with pytest.raises(yaml.YAMLError) as python_error:
        yaml.load(text, Loader=_Loader)
    with pytest.raises(yaml.YAMLError) as refused:
        _parse(text)
    assert str(refused.value) == str(python_error.value)


def _copy_project(tmp_path: Path, stack_text: str) -> Path:
    (tmp_path / "Pulumi.yaml").write_text((ROOT / "Pulumi.yaml").read_text())
    (tmp_path / "Pulumi.dev.yaml").write_text(stack_text)
    return tmp_path


def test_a_stack_file_rewritten_in_the_same_instant_with_the_same_size_is_read_afresh(tmp_path):
    root = _copy_project(tmp_path, "config:\n  prodline:owner: team-a\n")
    assert load("dev", root=root)["prodline:owner"] == "team-a"
    stack_file = root / "Pulumi.dev.yaml"
    stamp = stack_file.stat()
    stack_file.write_text("config:\n  prodline:owner: team-b\n")
    os.utime(stack_file, ns=(stamp.st_atime_ns, stamp.st_mtime_ns))  # same size, same modification time
    assert load("dev", root=root)["prodline:owner"] == "team-b"


def test_each_read_of_a_file_is_a_copy_of_its_own(tmp_path):
    root = _copy_project(tmp_path, "config:\n  prodline:owner: team-a\n")
    first = stack_files._read_mapping(root / "Pulumi.dev.yaml")
    first["config"]["prodline:owner"] = "changed by a caller"
    assert stack_files._read_mapping(root / "Pulumi.dev.yaml")["config"]["prodline:owner"] == "team-a"
    assert stack_files.project(root)["config"] is not stack_files.project(root)["config"]


def test_a_file_read_again_is_parsed_once(tmp_path, monkeypatch):
    root = _copy_project(tmp_path, "config:\n  prodline:owner: team-a\n")
    parses: list[str] = []
    real = stack_files._parse
    monkeypatch.setattr(stack_files, "_parse", lambda text: parses.append(text) or real(text))
    monkeypatch.setattr(stack_files, "_PARSED", {})
    for _ in range(3):
        load("dev", root=root)
    assert len(parses) == 2  # Pulumi.yaml and Pulumi.dev.yaml, each once


def test_the_kept_parses_are_bounded(tmp_path, monkeypatch):
    monkeypatch.setattr(stack_files, "_PARSED", {})
    for owner in range(stack_files.PARSED_KEPT + 5):
        stack_files._parsed(f"config:\n  prodline:owner: team-{owner}\n")
    assert len(stack_files._PARSED) <= stack_files.PARSED_KEPT
