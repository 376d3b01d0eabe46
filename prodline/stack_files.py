"""Read a stack's config the way the Pulumi CLI assembles it: Pulumi.yaml defaults < stack file < ``-c``.

The offline runner needs this because no engine is there to do it. Values end up as the strings a
program receives from the engine.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
PROJECT_FILE = ROOT / "Pulumi.yaml"


class StackFileError(ValueError):
    """A stack or override that cannot be read; the message says which file or flag."""


def project() -> dict[str, Any]:
    return yaml.safe_load(PROJECT_FILE.read_text())


def stacks(root: Path = ROOT) -> list[str]:
    """Stacks that have a stack file beside Pulumi.yaml."""
    return sorted(p.name[len("Pulumi."):-len(".yaml")] for p in root.glob("Pulumi.*.yaml"))


def project_defaults(project_doc: dict[str, Any]) -> dict[str, Any]:
    """Project-level config: schema entries with a default, and plain values of other namespaces."""
    name = project_doc["name"]
    values: dict[str, Any] = {}
    for key, entry in (project_doc.get("config") or {}).items():
        full_key = key if ":" in key else f"{name}:{key}"
        if isinstance(entry, dict) and ("type" in entry or "description" in entry or "default" in entry):
            if "default" in entry:
                values[full_key] = entry["default"]
        elif isinstance(entry, dict) and "value" in entry:
            values[full_key] = entry["value"]
        else:
            values[full_key] = entry
    return values


def load(stack: str, overrides: Iterable[str] = (), root: Path = ROOT) -> dict[str, Any]:
    """The stack's whole raw config, namespaced keys to values."""
    project_doc = yaml.safe_load((root / "Pulumi.yaml").read_text())
    name = project_doc["name"]
    stack_file = root / f"Pulumi.{stack}.yaml"
    if not stack_file.is_file():
        raise StackFileError(f"--stack {stack!r}: no stack file {stack_file.name}; "
                             f"stacks are: {', '.join(stacks(root))}")
    stack_doc = yaml.safe_load(stack_file.read_text()) or {}
    values = project_defaults(project_doc)
    for key, value in (stack_doc.get("config") or {}).items():
        values[key if ":" in key else f"{name}:{key}"] = _unsecret(value)
    for item in overrides:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise StackFileError(f"-c {item!r}: expected KEY=VALUE, for example prodline:servingMinCapacity=2")
        values[key if ":" in key else f"{name}:{key}"] = value
    return values


def _unsecret(value: Any) -> Any:
    """Encrypted stack values cannot be read offline; stand in a placeholder so the program still runs."""
    if isinstance(value, dict) and set(value) == {"secure"}:
        return "[secret]"
    return value
