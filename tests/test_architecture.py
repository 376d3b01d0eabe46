"""The layers keep to their imports (dependencies point one way), and no module imports itself in a circle.

The contracts live in pyproject.toml (``[tool.importlinter]``) and run here as ``lint-imports`` runs them. Each
check is also run on a project with one forbidden import added, to show that it would fail.
"""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Iterable, Mapping
from pathlib import Path

import grimp
import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES: tuple[str, ...] = tuple(tomllib.loads((ROOT / "pyproject.toml").read_text())
                                  ["tool"]["importlinter"]["root_packages"])
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"

pytestmark = pytest.mark.skipif(not LINT_IMPORTS.exists(), reason="import-linter is not installed: "
                                "pip install -e '.[dev]'")


def lint_imports(root: Path) -> subprocess.CompletedProcess[str]:
    """The contracts of ``root``/pyproject.toml on the packages under ``root``, as a developer runs them there."""
    return subprocess.run([str(LINT_IMPORTS), "--no-cache", str(root / "pyproject.toml")], cwd=root,
                          capture_output=True, text=True, timeout=300, check=False)


def cycles(imports: Mapping[str, Iterable[str]]) -> list[list[str]]:
    """Groups of modules that import each other in a circle (strongly connected components larger than one)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for start in sorted(imports):
        if start in index:
            continue
        work = [(start, iter(sorted(imports[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(imports.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                group = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    group.append(member)
                    if member == node:
                        break
                if len(group) > 1:
                    found.append(sorted(group))
    return sorted(found)


def project_imports(graph: grimp.ImportGraph) -> dict[str, set[str]]:
    """Module -> the project modules it imports (anywhere in the file, lazily too)."""
    own = {module for module in graph.modules if module.split(".")[0] in PACKAGES}
    return {module: graph.find_modules_directly_imported_by(module) & own for module in own}


@pytest.fixture(scope="module")
def graph() -> grimp.ImportGraph:
    return grimp.build_graph(*PACKAGES, cache_dir=None)


def test_the_layers_keep_their_import_contracts():
    result = lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_no_module_imports_itself_through_others(graph):
    assert cycles(project_imports(graph)) == []


# The one module whose job is an import path: the warm interpreter gives each forked child the ``sys.path``
# that ``python <script>`` or ``python -m <module>`` would have given it.
BUILDS_CHILD_PATHS = "prodline/sandbox/zygote.py"


def test_nothing_outside_the_tests_edits_sys_path():
    """Modules import by package names that resolve the same way everywhere; none rearranges the import path."""
    editing = []
    for path in sorted(p for top in (*PACKAGES, "docker") for p in (ROOT / top).rglob("*.py")
                       if not any(part.startswith(".") for part in p.relative_to(ROOT).parts)):  # bench/.venv-mlserver
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Attribute) and node.attr == "path" and getattr(node.value, "id", None) == "sys":
                editing.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert [e for e in editing if not e.startswith(f"{BUILDS_CHILD_PATHS}:")] == []
    assert any(e.startswith(f"{BUILDS_CHILD_PATHS}:") for e in editing), "the exemption names a module that no " \
        "longer builds import paths: remove it"


# --- each check fails on a project that breaks it ---------------------------------------------------------------

def _not_source(folder: str, names: list[str]) -> list[str]:
    return [name for name in names if name == "__pycache__" or name.startswith(".")
            or not (name.endswith(".py") or Path(folder, name).is_dir())]


def copy_of_the_project(target: Path) -> Path:
    """The project's packages (Python files only) and its pyproject.toml, under ``target``."""
    for package in PACKAGES:
        shutil.copytree(ROOT / package, target / package, ignore=_not_source)
    shutil.copy(ROOT / "pyproject.toml", target / "pyproject.toml")
    return target


@pytest.mark.parametrize(("module", "line", "contract"), [
    ("workloads/serving/probe.py", "import pulumi", "workloads stand alone"),
    ("workloads/etl/probe.py", "from prodline import stats", "workloads stand alone"),
    ("components/probe.py", "from infra import config", "components take typed args"),
    ("policies/rules/probe.py", "from components import data_lake", "policies judge resource properties"),
    ("policies/rules/probe.py", "from infra import stack", "policies judge resource properties"),
])
def test_a_forbidden_import_breaks_its_contract(tmp_path, module, line, contract):
    project = copy_of_the_project(tmp_path)
    (project / module).write_text(f"{line}\n")
    result = lint_imports(project)
    assert result.returncode != 0, f"{module}: `{line}` went unnoticed\n{result.stdout}"
    broken = result.stdout[result.stdout.index("Broken contracts"):]
    assert contract in broken and module.removesuffix(".py").replace("/", ".") in broken, result.stdout


def test_a_new_circle_of_imports_is_found(graph):
    imports = project_imports(graph)
    # validate_job reads the schema through job_main; the schema importing validate_job back closes a circle.
    imports["workloads.etl.schema"] = imports["workloads.etl.schema"] | {"workloads.etl.validate_job"}
    found = cycles(imports)
    assert any({"workloads.etl.schema", "workloads.etl.validate_job"} <= set(group) for group in found), found
