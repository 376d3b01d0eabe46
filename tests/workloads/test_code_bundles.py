"""The code the stack ships to Glue and to SageMaker training holds every project module that code imports.

Glue runs a job script with only its ``--extra-py-files`` zip on the path, and SageMaker training runs the
script-mode bundle as it is; the tests and the sandbox run the same scripts with the whole project installed,
so a module left out of a bundle fails only in the cloud. These tests follow the shipped files' imports.
"""

from __future__ import annotations

import ast
from collections.abc import Mapping
from pathlib import Path

import pytest

from infra import stack

ROOT = Path(__file__).resolve().parents[2]


def _module_file(dotted: str) -> str | None:
    """The repository path of a project module (``workloads.etl.lake`` -> ``workloads/etl/lake.py``), if any."""
    base = ROOT.joinpath(*dotted.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate.relative_to(ROOT).as_posix()
    return None


def _imported_modules(archive_path: str, source: bytes) -> set[str]:
    """Dotted names a shipped file may import (``from a import b`` yields ``a`` and ``a.b``), relative ones resolved."""
    module = archive_path.removesuffix(".py").replace("/", ".")
    package = module.removesuffix(".__init__") if module.endswith(".__init__") else module.rpartition(".")[0]
    names: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            names |= {base, *(f"{base}.{alias.name}" for alias in node.names)}
    return {name for name in names if name.split(".")[0] == "workloads"}


def missing_modules(bundle: Mapping[str, bytes]) -> dict[str, set[str]]:
    """Shipped file -> the project modules it imports that the bundle lacks."""
    missing: dict[str, set[str]] = {}
    for archive_path, source in bundle.items():
        for name in _imported_modules(archive_path, source):
            needed = _module_file(name)
            if needed is not None and needed not in bundle:
                missing.setdefault(archive_path, set()).add(needed)
    return missing


def test_the_checker_finds_a_module_a_bundle_lacks():
    bundle = {"workloads/__init__.py": b"", "workloads/etl/__init__.py": b"",
              "workloads/etl/job.py": b"from workloads.etl import lake\nfrom . import schema\n",
              "workloads/etl/schema.py": b"", "workloads/etl/lake.py": b"from .. import s3_uri\n"}
    assert missing_modules(bundle) == {"workloads/etl/lake.py": {"workloads/s3_uri.py"}}
    del bundle["workloads/etl/schema.py"]
    assert missing_modules(bundle)["workloads/etl/job.py"] == {"workloads/etl/schema.py"}


@pytest.mark.parametrize("name", ["glue-library", "training-bundle"])
def test_each_bundle_holds_every_project_module_its_files_import(name):
    if name == "glue-library":
        bundle = {arc: Path(path).read_bytes() for arc, path in stack._etl_library().items()}
    else:
        bundle = stack.training_bundle()
    assert missing_modules(bundle) == {}, f"the {name} lacks modules its files import (infra/stack.py builds it)"
