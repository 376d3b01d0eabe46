"""How a config key is declared once: a field of a settings dataclass, made with ``setting(...)``.

The field carries everything about its key: the name, the parser (what is allowed), the default
that ``Pulumi.yaml`` gives every stack, the per-environment rule (its table lives in
``standards/environments.py``) and a one-line description. Its type annotation is the typed value the
components get, and gives the ``Pulumi.yaml`` schema type. ``infra/config.py`` derives the whole key
table, the validation and the typed settings from these fields, and this module renders the
``config:`` block of ``Pulumi.yaml`` from the same table.
"""

from __future__ import annotations

import argparse
import dataclasses
import difflib
import sys
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from infra.config_parsers import Parser

_METADATA = "prodline.setting"


class _Required:
    """Marks a key with no default: every stack file must set it."""

    def __repr__(self) -> str:
        return "REQUIRED"


REQUIRED: Any = _Required()

# Pulumi.yaml schema types by the Python type a setting parses to. Numbers with a fraction have no
# schema type of their own, so they travel as strings and the parser reads the number.
_SCHEMA_TYPES: dict[type, str] = {bool: "boolean", int: "integer", float: "string", str: "string"}
_DEFAULT_TYPES: dict[str, type] = {"boolean": bool, "integer": int, "string": str}


# --- per-environment rules -----------------------------------------------------------------------

@dataclass(frozen=True)
class PerEnvironment:
    """A limit that differs by environment. ``complaint`` follows "<value> is not allowed in <env>; ".

    It may use ``{limit}`` (the table's entry for the environment) and ``{allowed}`` (that entry as a
    comma-separated list). ``when`` limits the rule to configs where it matters.
    """

    table: Mapping[str, Any]
    accepts: Callable[[Any, Any], bool]
    complaint: str
    when: Callable[[Mapping[str, Any]], bool] | None = None

    def check(self, value: Any, env: str, values: Mapping[str, Any]) -> str | None:
        """The complaint when ``value`` breaks the rule in ``env``, else None."""
        if self.when is not None and not self.when(values):
            return None
        limit = self.table[env]
        if self.accepts(value, limit):
            return None
        allowed = ", ".join(str(v) for v in limit) if isinstance(limit, tuple) else str(limit)
        return self.complaint.format(limit=limit, allowed=allowed)


def allowed_in(table: Mapping[str, tuple[Any, ...]], complaint: str = "allowed: {allowed}",
               when: Callable[[Mapping[str, Any]], bool] | None = None) -> PerEnvironment:
    return PerEnvironment(table, lambda value, allowed: value in allowed, complaint, when)


def at_least(table: Mapping[str, int], complaint: str,
             when: Callable[[Mapping[str, Any]], bool] | None = None) -> PerEnvironment:
    return PerEnvironment(table, lambda value, floor: value >= floor, complaint, when)


def at_most(table: Mapping[str, int], complaint: str,
            when: Callable[[Mapping[str, Any]], bool] | None = None) -> PerEnvironment:
    return PerEnvironment(table, lambda value, cap: value <= cap, complaint, when)


# --- the declaration ------------------------------------------------------------------------------

@dataclass(frozen=True)
class Setting:
    """One config key. ``kind``, ``concern`` and ``attribute`` are filled in from the field it declares."""

    name: str
    parse: Parser
    description: str
    default: Any = REQUIRED
    """The value Pulumi.yaml gives every stack, written as Pulumi.yaml holds it (e.g. "0.75" for a number)."""
    per_environment: PerEnvironment | None = None
    kind: str = ""
    """The Pulumi.yaml schema type: string | integer | boolean."""
    concern: str = ""
    """The StackConfig attribute holding the settings dataclass, e.g. ``serving``."""
    attribute: str = ""
    """The attribute of that dataclass, e.g. ``min_capacity``."""

    @property
    def required(self) -> bool:
        return self.default is REQUIRED


def setting(name: str, parse: Parser, description: str, *, default: Any = REQUIRED,
            per_environment: PerEnvironment | None = None) -> Any:
    """A dataclass field that declares the config key ``name``; see the module docstring."""
    return dataclasses.field(metadata={_METADATA: Setting(name, parse, description, default, per_environment)})


def settings_of(concern_type: type, concern: str) -> list[Setting]:
    """The keys one settings dataclass declares, in field order, completed from their fields."""
    hints = typing.get_type_hints(concern_type)
    declared = []
    for field in dataclasses.fields(concern_type):
        item = field.metadata.get(_METADATA)
        if item is None:
            continue
        kind = _SCHEMA_TYPES.get(hints[field.name])
        where = f"{concern_type.__name__}.{field.name} ({item.name})"
        if kind is None:
            raise TypeError(f"{where}: type {hints[field.name]!r} has no Pulumi.yaml schema type")
        if "\n" in item.description or not item.description:
            raise TypeError(f"{where}: the description must be one non-empty line")
        if not item.required and type(item.default) is not _DEFAULT_TYPES[kind]:
            raise TypeError(f"{where}: default {item.default!r} is not of the Pulumi.yaml type {kind}")
        declared.append(dataclasses.replace(item, kind=kind, concern=concern, attribute=field.name))
    return declared


def key_table(config_type: type) -> dict[str, Setting]:
    """Every key the settings dataclasses of ``config_type`` declare: required keys first, then in field order.

    A name declared twice is a TypeError at import, so each key has exactly one declaration.
    """
    hints = typing.get_type_hints(config_type)
    declared = [item
                for field in dataclasses.fields(config_type) if dataclasses.is_dataclass(hints[field.name])
                for item in settings_of(hints[field.name], field.name)]
    table: dict[str, Setting] = {}
    for item in sorted(declared, key=lambda s: not s.required):
        if item.name in table:
            first = table[item.name]
            raise TypeError(f"config key {item.name} is declared twice: {first.concern}.{first.attribute} "
                            f"and {item.concern}.{item.attribute}")
        table[item.name] = item
    return table


def build(concern_type: type, values: Mapping[str, Any]) -> Any:
    """A settings dataclass from parsed values by key name; fields that declare no key keep their defaults."""
    return concern_type(**{field.name: values[field.metadata[_METADATA].name]
                           for field in dataclasses.fields(concern_type) if _METADATA in field.metadata})


def assemble(config_type: type, values: Mapping[str, Any], **rest: Any) -> Any:
    """``config_type`` with each settings dataclass built from ``values``, and its other fields from ``rest``."""
    hints = typing.get_type_hints(config_type)
    concerns = {field.name: build(hints[field.name], values)
                for field in dataclasses.fields(config_type) if dataclasses.is_dataclass(hints[field.name])}
    return config_type(**concerns, **rest)


# --- Pulumi.yaml -----------------------------------------------------------------------------------

GENERATE_COMMAND = "python -m infra.config --write-pulumi-yaml"
CONFIG_HEADER = (
    f"# Generated by `{GENERATE_COMMAND}` from the settings declared in infra/config.py;\n"
    "# change a key there and rerun it (`--check` and a test fail while the two disagree). Defaults apply\n"
    "# to every stack; stack files set only what differs. Keys of other namespaces (aws:region) are kept.\n"
)


class _Dumper(yaml.SafeDumper):
    """Quotes with double quotes where a scalar needs quotes, as hand-written YAML usually does."""

    def choose_scalar_style(self) -> str:
        style = super().choose_scalar_style()
        return '"' if style == "'" else style


def config_block(keys: Mapping[str, Setting], others: Mapping[str, Any]) -> dict[str, Any]:
    """The ``config:`` mapping: keys of other namespaces as written, then every declared key."""
    block: dict[str, Any] = dict(others)
    for item in keys.values():
        entry: dict[str, Any] = {"type": item.kind, "description": item.description}
        if not item.required:
            entry["default"] = item.default
        block[item.name] = entry
    return block


def render_project_file(current: str, keys: Mapping[str, Setting]) -> str:
    """``current`` (the text of Pulumi.yaml) with its top-level ``config:`` block and header comment regenerated."""
    doc = yaml.safe_load(current) or {}
    others = {k: v for k, v in (doc.get("config") or {}).items() if ":" in k}
    block = yaml.dump({"config": config_block(keys, others)}, Dumper=_Dumper, sort_keys=False,
                      default_flow_style=False, width=2**31, allow_unicode=True)
    lines = current.splitlines(keepends=True)
    start = next((i for i, line in enumerate(lines) if line.rstrip() == "config:"), None)
    if start is None:
        head, tail = current.rstrip("\n") + "\n\n", ""
    else:
        end = next((i for i in range(start + 1, len(lines)) if lines[i].strip() and not lines[i][0].isspace()),
                   len(lines))
        while start > 0 and lines[start - 1].startswith("#"):
            start -= 1
        head, tail = "".join(lines[:start]), "".join(lines[end:])
    return head + CONFIG_HEADER + block + (("\n" + tail) if tail else "")


def write_or_check(path: Path, keys: Mapping[str, Setting], *, write: bool) -> tuple[bool, str]:
    """Regenerate ``path``'s config block (write) or compare it; returns (up to date, what to tell the user)."""
    current = path.read_text()
    wanted = render_project_file(current, keys)
    if current == wanted:
        return True, f"{path.name}: config block is up to date"
    if write:
        path.write_text(wanted)
        return True, f"{path.name}: config block rewritten from infra/config.py"
    diff = "".join(difflib.unified_diff(current.splitlines(keepends=True), wanted.splitlines(keepends=True),
                                        f"{path.name} (committed)", f"{path.name} (from infra/config.py)"))
    return False, f"{path.name}: config block differs from infra/config.py; run `{GENERATE_COMMAND}`\n{diff}"


def cli(argv: list[str] | None, keys: Mapping[str, Setting], project_file: Path, *, prog: str,
        description: str | None) -> int:
    """``--write-pulumi-yaml`` rewrites the project file's config block, ``--check`` exits 1 while it is stale."""
    parser = argparse.ArgumentParser(prog=prog, description=description)
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--write-pulumi-yaml", action="store_true", help="rewrite the config block of Pulumi.yaml")
    mode.add_argument("--check", action="store_true", help="exit 1 when Pulumi.yaml's config block is stale")
    parser.add_argument("--file", type=Path, default=project_file, help="the project file (default: %(default)s)")
    args = parser.parse_args(argv)
    ok, message = write_or_check(args.file, keys, write=args.write_pulumi_yaml)
    print(message, file=sys.stdout if ok else sys.stderr)
    return 0 if ok else 1
