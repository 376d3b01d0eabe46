"""The offline preview: what `pulumi up` would create, as a table or as JSON.

The JSON form is the contract the policy pack and other tools build on: a list of objects with
``type``, ``name``, ``urn``, ``parent``, ``custom``, ``inputs`` and ``dependencies``.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pulumi

from prodline.input_tree import plain
from prodline.program import Registration

ROOT = Path(__file__).resolve().parent.parent
SUMMARY_WIDTH = 90


def to_jsonable(value: Any) -> Any:
    """Inputs as plain JSON: assets become their path relative to the repo, archives their members."""
    return plain(value, _json_leaf)


def _json_leaf(value: Any) -> Any:
    if isinstance(value, pulumi.FileAsset):
        return {"asset": {"path": _relative(value.path)}}
    if isinstance(value, pulumi.StringAsset):
        return {"asset": {"text": value.text}}
    if isinstance(value, pulumi.FileArchive):
        return {"archive": {"path": _relative(value.path)}}
    if isinstance(value, pulumi.AssetArchive):
        return {"archive": {"assets": to_jsonable(value.assets)}}
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def as_json(registrations: Iterable[Registration]) -> list[dict[str, Any]]:
    return [
        {
            "type": r.type,
            "name": r.name,
            "urn": r.urn,
            "parent": r.parent,
            "custom": r.custom,
            "inputs": to_jsonable(r.inputs),
            "dependencies": r.dependencies,
        }
        for r in registrations
    ]


def summary(inputs: dict[str, Any]) -> str:
    """Key properties in one line: scalar inputs, skipping tags and long documents."""
    parts = []
    for key in sorted(inputs):
        value = inputs[key]
        if key == "tags" or isinstance(value, dict | list) or value is None:
            continue
        text = str(to_jsonable(value))
        if len(text) > 40:
            continue
        parts.append(f"{key}={text}")
    line = " ".join(parts)
    return line if len(line) <= SUMMARY_WIDTH else line[: SUMMARY_WIDTH - 1] + "…"


def print_table(registrations: list[Registration], stack: str) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"prodline preview: stack {stack} ({len(registrations)} resources)", show_lines=False)
    for column in ("type", "name", "parent", "key properties"):
        table.add_column(column, overflow="fold")
    for r in registrations:
        table.add_row(r.type, r.name, r.parent_name or "", summary(r.inputs))
    Console(width=200).print(table)


def _relative(path: str) -> str:
    try:
        return str(Path(path).resolve().relative_to(ROOT))
    except ValueError:
        return path
