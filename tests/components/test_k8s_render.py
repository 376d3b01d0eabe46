"""Recorded Kubernetes objects render to manifests that the Kubernetes API schemas accept (offline).

The validator is kubernetes-validate (PyPI, `dev` extra): it bundles the JSON schemas of each Kubernetes
release, so it needs no cluster and no network. `--strict` schemas also reject unknown fields, which is
what catches a mistyped or untranslated property name. (kubectl's client-side dry run still asks a
server for API discovery, so it cannot run here.)
"""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import yaml

from components import k8s_render
from components.k8s_render import (
    SECRET_SIG,
    SECRET_VALUE,
    WRITTEN_LIST,
    ManifestDirError,
    manifest,
    manifests,
    write_manifests,
)
from tests.components.k8s_cases import kubernetes_objects, profile

kubernetes_validate = pytest.importorskip(
    "kubernetes_validate", reason="kubernetes-validate is not installed: pip install -e '.[dev]'")
# The oldest Kubernetes release the manifests must suit (EKS standard support), and the newest bundled.
OLDEST_SUPPORTED = "1.30"
ENVS = ("dev", "staging", "prod")


def reg(type_, inputs, custom=True):
    return SimpleNamespace(type=type_, custom=custom, inputs=inputs)


@pytest.mark.parametrize("env", ENVS)
def test_every_object_is_written_once_in_apply_order(env, tmp_path):
    regs = profile(env)
    paths = write_manifests(regs, tmp_path / "k8s")
    assert len(paths) == len(kubernetes_objects(regs))
    assert sorted(p.name for p in (tmp_path / "k8s").iterdir()) == sorted([WRITTEN_LIST, *(p.name for p in paths)])
    kinds = [p.name.split("-")[1] for p in paths]
    assert kinds[0] == "namespace"
    assert kinds.index("serviceaccount") < kinds.index("deployment") < kinds.index("horizontalpodautoscaler")


def test_file_names_do_not_depend_on_registration_order(tmp_path):
    regs = list(profile("staging"))
    first = [p.name for p in write_manifests(regs, tmp_path / "a")]
    assert [p.name for p in write_manifests(regs[::-1], tmp_path / "b")] == first


@pytest.mark.parametrize("version", [OLDEST_SUPPORTED, "latest"])
@pytest.mark.parametrize("env", ENVS)
def test_manifests_validate_against_the_kubernetes_schemas(env, version, tmp_path):
    from kubernetes_validate.utils import latest_version

    target = latest_version() if version == "latest" else version
    for path in write_manifests(profile(env), tmp_path):
        (doc,) = list(yaml.safe_load_all(path.read_text()))
        try:
            kubernetes_validate.validate(doc, target, strict=True)
        except kubernetes_validate.ValidationError as err:
            where = ".".join(str(p) for p in err.path)
            pytest.fail(f"{path.name} does not validate against Kubernetes {target}: {where}: {err.message}")


def test_numbers_become_integers_and_secrets_are_unwrapped():
    rendered = manifest({"kind": "Service", "apiVersion": "v1", "metadata": {"name": "s", "namespace": None},
                         "spec": {"ports": [{"port": 80.0, "targetPort": 8080.0}],
                                  "note": {SECRET_SIG: SECRET_VALUE, "value": "hidden"}}})
    assert list(rendered) == ["apiVersion", "kind", "metadata", "spec"]
    assert rendered["metadata"] == {"name": "s"}
    assert rendered["spec"] == {"ports": [{"port": 80, "targetPort": 8080}], "note": "hidden"}
    assert isinstance(rendered["spec"]["ports"][0]["port"], int)


def test_providers_and_components_are_not_manifests():
    found = manifests([
        reg("pulumi:providers:kubernetes", {"kubeconfig": "{}"}),
        reg("prodline:serving:KubernetesServing", {}, custom=False),
        reg("aws:iam/role:Role", {"name": "r"}),
        reg("kubernetes:core/v1:ConfigMap", {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}}),
    ])
    assert [m["kind"] for m in found] == ["ConfigMap"]


def test_rendered_yaml_is_plain_yaml_kubectl_can_read(tmp_path):
    (path,) = write_manifests([reg("kubernetes:core/v1:Namespace", {
        "apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "n", "labels": {"a": "b"}}})], tmp_path)
    assert path.read_text() == "apiVersion: v1\nkind: Namespace\nmetadata:\n  labels:\n    a: b\n  name: n\n"


# --- the output directory: stale files it wrote go, nothing else does -------------------------------------------

def _names(directory):
    return sorted(p.name for p in directory.iterdir())


def test_a_rerun_removes_the_manifests_it_no_longer_writes_and_keeps_other_files(tmp_path):
    out = tmp_path / "k8s"
    out.mkdir()
    (out / "README.md").write_text("mine")
    (out / "zz-extra.yaml").write_text("kind: ConfigMap\n")
    staging = write_manifests(profile("staging"), out)
    dev = write_manifests(profile("dev"), out)
    assert len(staging) > len(dev), "staging declares a canary, an ingress and a budget that dev does not"
    assert _names(out) == sorted([WRITTEN_LIST, "README.md", "zz-extra.yaml", *(p.name for p in dev)])
    assert (out / "README.md").read_text() == "mine"


def test_a_run_cut_short_is_cleaned_up_by_the_next(tmp_path, monkeypatch):
    out = tmp_path / "k8s"
    write_manifests(profile("dev"), out)
    real_dump, calls, last = yaml.safe_dump, [], len(kubernetes_objects(profile("staging")))

    def dump_then_crash(*args, **kwargs):  # staging's objects but its last are written, names dev never uses
        calls.append(1)
        if len(calls) == last:
            raise KeyboardInterrupt
        return real_dump(*args, **kwargs)

    monkeypatch.setattr(k8s_render.yaml, "safe_dump", dump_then_crash)
    with pytest.raises(KeyboardInterrupt):
        write_manifests(profile("staging"), out)
    monkeypatch.undo()
    dev = write_manifests(profile("dev"), out)
    assert _names(out) == sorted([WRITTEN_LIST, *(p.name for p in dev)])


def test_a_tampered_list_removes_nothing_outside_its_own_names(tmp_path):
    out, outside = tmp_path / "k8s", tmp_path / "keep.yaml"
    outside.write_text("keep")
    out.mkdir()
    (out / "notes.md").write_text("keep")
    (out / "001-configmap-mine").mkdir()
    (out / WRITTEN_LIST).write_text("../keep.yaml\n" + f"{outside}\n" + "notes.md\n001-configmap-mine\n")
    write_manifests(profile("dev"), out)
    assert outside.read_text() == "keep" and (out / "notes.md").read_text() == "keep"
    assert (out / "001-configmap-mine").is_dir()


def test_a_link_in_place_of_a_manifest_is_replaced_not_followed(tmp_path):
    out, target = tmp_path / "k8s", tmp_path / "elsewhere.yaml"
    target.write_text("untouched")
    first = write_manifests(profile("dev"), out)[0]
    first.unlink()
    first.symlink_to(target)
    write_manifests(profile("dev"), out)
    assert target.read_text() == "untouched" and not first.is_symlink()


@pytest.mark.parametrize("where", ["file", "file/sub"])
def test_a_file_where_the_directory_should_be_is_refused(tmp_path, where):
    (tmp_path / "file").write_text("not a directory")
    with pytest.raises(ManifestDirError, match="an existing file, not a directory"):
        write_manifests(profile("dev"), tmp_path / where)
    assert (tmp_path / "file").read_text() == "not a directory"
