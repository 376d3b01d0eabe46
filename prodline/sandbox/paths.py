"""Where a stack's sandbox keeps its files: ``sandbox/<stack>/`` at the project root (git-ignored).

``PRODLINE_SANDBOX_DIR`` moves it (tests use a temporary directory).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def sandbox_dir(stack: str) -> Path:
    base = Path(os.environ.get("PRODLINE_SANDBOX_DIR") or ROOT / "sandbox")
    path = base / stack
    path.mkdir(parents=True, exist_ok=True)
    return path


EMULATOR_URL_FILE = "emulator-url"


def running_stacks() -> list[tuple[str, str]]:
    """(stack, emulator URL) of every sandbox that has been brought up and not taken down."""
    base = Path(os.environ.get("PRODLINE_SANDBOX_DIR") or ROOT / "sandbox")
    return [(p.parent.name, p.read_text().strip()) for p in sorted(base.glob(f"*/{EMULATOR_URL_FILE}"))]


OVERRIDES_FILE = "overrides.json"


def remember_overrides(stack: str, overrides: list[str]) -> None:
    """The ``-c`` overrides a stack is brought up with: its config in the sandbox, beside its stack file."""
    (sandbox_dir(stack) / OVERRIDES_FILE).write_text(json.dumps(overrides))


def remembered_overrides(stack: str) -> list[str]:
    """The ``-c`` overrides the stack was last brought up with (none before its first ``up``)."""
    try:
        return list(json.loads((sandbox_dir(stack) / OVERRIDES_FILE).read_text()))
    except (OSError, ValueError):
        return []
