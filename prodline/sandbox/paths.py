"""Where a stack's sandbox keeps its files: ``sandbox/<stack>/`` at the project root (git-ignored).

``PRODLINE_SANDBOX_DIR`` moves it (tests use a temporary directory).
"""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DIRECTORY_NAME = re.compile(r"[A-Za-z0-9_.-]+")
"""What a directory of the sandbox may be named: one plain path component (the CLI checks a stack has a stack file)."""


def base() -> Path:
    """The directory every stack's sandbox directory is in."""
    return Path(os.environ.get("PRODLINE_SANDBOX_DIR") or ROOT / "sandbox")


def sandbox_dir(stack: str) -> Path:
    """``sandbox/<stack>/``, made if missing; ValueError for a name that is not one plain path component."""
    if not DIRECTORY_NAME.fullmatch(stack) or stack in (".", ".."):
        raise ValueError(f"{stack!r} cannot name a directory of the sandbox; a stack name is one plain word")
    path = base() / stack
    path.mkdir(parents=True, exist_ok=True)
    return path


RUN_WORK = ("pipelines", "glue", "models", "transform-jobs", "firehose")
"""What the runtimes keep under a stack's directory for the resources of one realization: pipeline steps, Glue
runs, models fetched for batch transform, transform jobs' outcomes, Firehose checkpoints. Once the stack is down
its resources are gone with the emulator, so these are cleared when it is next realized from nothing."""
WORKLOADS_LOG = "workloads.log"


def clear_run_work(directory: Path) -> list[str]:
    """Remove the ``RUN_WORK`` directories under ``directory``; the names of those there were. Anything else
    (the report, the state, the logs) stays."""
    cleared = [name for name in RUN_WORK if (directory / name).is_dir()]
    for name in cleared:
        shutil.rmtree(directory / name)
    return cleared


def fresh_log(path: Path) -> Path:
    """``path``, for a log that starts anew: the previous one, if any, is kept as ``<name>.1`` (one generation,
    replacing the one before), so the sandbox's logs do not grow from one session to the next."""
    if path.is_file() and path.stat().st_size:
        path.replace(path.with_name(path.name + ".1"))
    return path


EMULATOR_URL_FILE = "emulator-url"
STATE_FILE = "state.json"
"""In a stack's directory: what the realizer realized (``state.SandboxState``, with its journal beside it)."""


def state_journal(state: Path) -> Path:
    """The journal beside a state file: the changes not yet folded into it (``state.SandboxState``)."""
    return state.with_name(state.name + ".journal")


def holds_state(stack: str) -> bool:
    """Whether the realizer's state of ``stack`` holds anything (read without making the stack's directory). A
    state that cannot be read counts as holding something: only ``down`` may clear it."""
    path = base() / stack / STATE_FILE
    journal = state_journal(path)
    if journal.exists() and journal.stat().st_size:
        return True
    try:
        return bool(json.loads(path.read_text())["entries"])
    except FileNotFoundError:
        return False
    except (OSError, ValueError, KeyError, TypeError):
        return True


def running_stacks() -> list[tuple[str, str]]:
    """(stack, emulator URL) of every sandbox that has been brought up and not taken down."""
    return [(p.parent.name, p.read_text().strip()) for p in sorted(base().glob(f"*/{EMULATOR_URL_FILE}"))]


OVERRIDES_FILE = "overrides.json"
BUILD_JOURNAL_FILE = "codebuild-builds.json"
"""In the shared directory: how each deployer build the sandbox ran ended (``runtimes.build.BuildJournal``)."""


def remember_overrides(stack: str, overrides: list[str]) -> None:
    """The ``-c`` overrides a stack is brought up with: its config in the sandbox, beside its stack file."""
    (sandbox_dir(stack) / OVERRIDES_FILE).write_text(json.dumps(overrides))


def remembered_overrides(stack: str) -> list[str]:
    """The ``-c`` overrides the stack was last brought up with (none before its first ``up``)."""
    try:
        return list(json.loads((sandbox_dir(stack) / OVERRIDES_FILE).read_text()))
    except (OSError, ValueError):
        return []
