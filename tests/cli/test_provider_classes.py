"""A provider's types built one class at a time are the classes the whole module would have built."""

from __future__ import annotations

import ast
import importlib.util
import json
import os
import re
import sys
from pathlib import Path

import pytest

from prodline.provider_classes import (
    ARGUMENT_TYPE,
    CACHE_SUFFIX,
    ClassModule,
    ClassModuleLoader,
    ClassSpans,
    loader_for,
)
from tests.helpers import run_python

PROVIDER = Path(importlib.util.find_spec("pulumi_aws").submodule_search_locations[0])
SERVICES = ("apigateway", "appautoscaling", "budgets", "cloudwatch", "codebuild", "glue", "iam", "kinesis", "s3",
            "sagemaker", "sns")
"""The services whose types files the program loads by class (those with any: kms, sqs have none it uses)."""


def _classes_by_ast(path: Path) -> list[tuple[str, int]]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return [(node.name, min([node.lineno, *(d.lineno for d in node.decorator_list)]))
            for node in tree.body if isinstance(node, ast.ClassDef)]


@pytest.mark.parametrize("service", SERVICES)
def test_the_spans_find_every_top_level_class_where_the_parser_does(service):
    files = [path for path in (PROVIDER / service / "_inputs.py", PROVIDER / service / "outputs.py") if path.exists()]
    assert files
    for path in files:
        spans = ClassSpans(path.read_text(encoding="utf-8"))
        assert [(n, line) for n, (_, _, line) in spans.spans.items()] == _classes_by_ast(path), path
        assert "class " not in spans.text[:spans.header_end] and "__all__" in spans.text[:spans.header_end]


COMPARE = """
import importlib.util, json, sys
from pulumi import _types
from prodline import provider_imports
provider_imports.install()
import pulumi_aws
service = sys.argv[1]
package = importlib.import_module(f"pulumi_aws.{service}")
package._utilities  # the top package imports its services lazily: the first attribute loads one

def whole(name):
    # The real module under a private name, loaded the ordinary way.
    spec = importlib.util.spec_from_file_location(f"pulumi_aws.{service}._whole{name}",
                                                  f"{package.__path__[0]}/{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module

def shape(cls):
    # What Pulumi reads of a type: its Python and wire names, and each property's resolved type.
    properties = [[py, wire] for py, wire, _ in _types._py_properties(cls)]
    types = (_types.input_type_types(cls) if _types.is_input_type(cls) else
             _types.output_type_types(cls) if _types.is_output_type(cls) else {})
    return [cls.__name__, cls.__doc__, properties, {k: getattr(v, "__name__", str(v)) for k, v in types.items()}]

report = {}
for name in ("_inputs", "outputs"):
    lazy = importlib.import_module(f"pulumi_aws.{service}.{name}")
    real = whole(name)
    checked = [n for n in real.__all__ if not n.endswith("Dict")]
    report[name] = {"kind": type(lazy).__name__, "checked": len(checked),
                    "different": [n for n in checked if shape(getattr(lazy, n)) != shape(getattr(real, n))]}
print(json.dumps(report))
"""


def _run(script: str, *argv: str) -> str:
    return run_python("-c", script, *argv).stdout


@pytest.mark.parametrize("service", ["sagemaker", "apigateway", "s3"])
def test_each_type_built_alone_is_the_type_the_whole_module_builds(service):
    report = json.loads(_run(COMPARE, service))
    for name in ("_inputs", "outputs"):
        assert report[name]["kind"] == "ClassModule"
        assert report[name]["checked"] > 10
        assert report[name]["different"] == []


def test_a_resource_module_gets_the_argument_types_it_names_and_the_service_builds_no_others():
    script = """
import sys, pulumi_aws
from prodline import provider_imports
provider_imports.install()
from pulumi_aws.sagemaker import endpoint
inputs = sys.modules["pulumi_aws.sagemaker._inputs"]
built = sorted(n for n in vars(inputs) if n.endswith(("Args", "ArgsDict")))
print(type(inputs).__name__, len(inputs.__all__), *built)
"""
    kind, total, *built = _run(script).split()
    assert kind == "ClassModule" and int(total) > 500
    # Endpoint names its deployment config; that config's nested types come along, nothing else of the service.
    assert "EndpointDeploymentConfigArgs" in built and "EndpointDeploymentConfigArgsDict" in built
    assert "EndpointDeploymentConfigAutoRollbackConfigurationAlarmArgs" in built
    assert all(name.startswith("Endpoint") for name in built), built


def test_the_quoted_names_are_every_argument_type_a_resource_module_names():
    """A resource module that named an argument type outside quotes would not get it from the narrowed star
    import: every resource module of the services the program uses names them only in quotes."""
    bare = re.compile(r"\b(\w+Args(?:Dict)?)\b")
    checked = 0
    for service in SERVICES:
        inputs = PROVIDER / service / "_inputs.py"
        exported = set(ClassSpans(inputs.read_text(encoding="utf-8")).spans) if inputs.exists() else set()
        for module in sorted((PROVIDER / service).glob("[!_]*.py")):
            if module.name == "outputs.py":
                continue
            text = module.read_text(encoding="utf-8")
            assert set(ARGUMENT_TYPE.findall(text)) & exported == set(bare.findall(text)) & exported, module
            checked += 1
    assert checked > 250


def test_a_star_import_outside_a_resource_module_gets_every_name():
    script = """
import pulumi_aws
from prodline import provider_imports
provider_imports.install()
import pulumi_aws.cloudwatch._inputs as inputs
namespace = {}
exec("from pulumi_aws.cloudwatch._inputs import *", namespace)
print(type(inputs).__name__, sorted(n for n in namespace if not n.startswith("__")) == sorted(inputs.__all__),
      len(inputs.__all__))
"""
    kind, same, total = _run(script).split()
    assert (kind, same) == ("ClassModule", "True") and int(total) > 10


SOURCE = ("import typing\n__all__ = ['A', 'B', 'C']\n\n"
          "class A:\n    x: 'B'\n\n"
          "class B:\n    def where(self):\n        raise RuntimeError\n\n"
          "@typing.final\nclass C:\n    pass\n")


def _module_from(path: Path, source: str | None = None):
    if source is not None:
        path.write_text(source, encoding="utf-8")
    spec = importlib.util.spec_from_file_location(f"prodline_test_{path.stem}", path)
    spec.loader = ClassModuleLoader(spec.loader)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _cache_of(path: Path) -> Path:
    return Path(importlib.util.cache_from_source(str(path))).with_suffix(CACHE_SUFFIX)


@pytest.mark.parametrize("cached", [False, True], ids=["compiled-from-lines", "read-from-cache"])
def test_a_class_is_built_with_its_file_s_line_numbers_and_the_classes_it_quotes(tmp_path, monkeypatch, cached):
    monkeypatch.setattr(sys, "dont_write_bytecode", not cached)
    path = tmp_path / "types_file.py"
    _module_from(path, SOURCE)
    assert _cache_of(path).exists() == cached
    module = _module_from(path)  # the second load reads the cache where there is one
    assert isinstance(module, ClassModule) and "A" not in vars(module)
    assert module.A.__annotations__ == {"x": "B"}  # as written: this module's own __future__ import is not inherited
    assert "B" in vars(module) and "C" not in vars(module)  # A quotes B; nothing quotes C
    with pytest.raises(RuntimeError) as raised:
        module.B().where()
    assert raised.traceback[-1].lineno + 1 == 9  # pytest counts from 0: line 9 of the file
    assert module.C.__final__  # its decorator is part of its span
    with pytest.raises(AttributeError, match="no attribute 'D'"):
        module.D  # noqa: B018


def test_the_cache_is_used_while_the_source_is_unchanged_and_rebuilt_when_it_changes(tmp_path, monkeypatch):
    monkeypatch.setattr(sys, "dont_write_bytecode", False)
    path = tmp_path / "types_file.py"
    _module_from(path, "__all__ = ['A']\nclass A:\n    value = 1\n")
    stat = path.stat()
    path.write_text("__all__ = ['A']\nclass A:\n    value = 2\n", encoding="utf-8")  # same size
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert _module_from(path).A.value == 1  # same modification time and size: the cache is believed
    path.write_text("__all__ = ['A']\nclass A:\n    value = 30\n", encoding="utf-8")
    assert _module_from(path).A.value == 30
    _cache_of(path).write_bytes(b"not marshal data")
    assert _module_from(path).A.value == 30  # a damaged cache is rebuilt, not trusted
    assert _module_from(path).A.value == 30


def test_a_file_without_classes_is_loaded_whole_and_a_span_that_defines_nothing_is_an_import_error(tmp_path):
    plain = _module_from(tmp_path / "plain.py", "VALUE = 1\n__all__ = ['VALUE']\n")
    assert not isinstance(plain, ClassModule) and plain.VALUE == 1
    broken = _module_from(tmp_path / "broken.py", "__all__ = ['A']\nclass A:\n    pass\ndel A\n")
    with pytest.raises(ImportError, match="the lines of A did not define it"):
        broken.A  # noqa: B018


def test_only_types_files_and_resource_modules_get_new_loaders():
    real = object()
    assert isinstance(loader_for("pulumi_aws.s3._inputs", real), ClassModuleLoader)
    assert isinstance(loader_for("pulumi_aws.s3.outputs", real), ClassModuleLoader)
    assert loader_for("pulumi_aws.s3._enums", real) is real
    assert type(loader_for("pulumi_aws.s3.bucket", real)).__name__ == "StarImportLoader"

