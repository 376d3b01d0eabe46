"""`prodline.cli` is the entry point only: the subcommand modules it assembles never import it back."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "prodline"
ENTRY_POINT = PACKAGE / "cli.py"


def imported_modules(path: Path, root: Path) -> set[str]:
    """Every module a file under `root` imports: relative imports resolved, `from X import y` as X and X.y."""
    package = ".".join(path.relative_to(root).parts[:-1])
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join([*base, node.module] if node.module else base)
            else:
                module = node.module or ""
            names.add(module)
            names.update(f"{module}.{alias.name}" for alias in node.names)
    return names


def modules_importing_the_entry_point(package: Path = PACKAGE) -> list[str]:
    """Files of the `prodline` package at `package` (other than cli.py) that import prodline.cli."""
    entry_point = package / ENTRY_POINT.name
    return sorted(path.relative_to(package.parent).as_posix() for path in package.rglob("*.py")
                  if path != entry_point and "prodline.cli" in imported_modules(path, package.parent))


def test_no_module_under_prodline_imports_the_entry_point():
    assert modules_importing_the_entry_point() == [], (
        "these modules import prodline.cli; shared CLI pieces belong in prodline.stack_args")


def test_the_scan_sees_every_spelling_of_the_import(tmp_path):
    package = tmp_path / "prodline"
    (package / "sub").mkdir(parents=True)
    spellings = {
        "plain.py": "import prodline.cli\n",
        "from_module.py": "from prodline.cli import main\n",
        "from_package.py": "from prodline import cli\n",
        "relative.py": "from . import cli\n",
        "relative_module.py": "from .cli import main\n",
        "sub/parent.py": "def lazy():\n    from ..cli import main\n",
        "clean.py": "from prodline import stack_args\nimport prodline.client\n",
    }
    for name, source in {**spellings, "cli.py": "from prodline import policy_cli\n"}.items():
        (package / name).write_text(source)
    assert modules_importing_the_entry_point(package) == sorted(
        f"prodline/{name}" for name in spellings if name != "clean.py")
