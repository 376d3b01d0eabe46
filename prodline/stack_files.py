"""Read a stack's config the way the Pulumi CLI assembles it: Pulumi.yaml defaults < stack file < ``-c``.

The offline runner needs this because no engine is there to do it. Values end up as the strings a
program receives from the engine. Whatever cannot be used (a stack with no stack file, a file that is not
YAML or not shaped as Pulumi's, a key outside the project's and the providers' namespaces) raises
``StackFileError`` with one line naming the file or flag and the key.
"""

from __future__ import annotations

import copy
import re
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
PROJECT_FILE = ROOT / "Pulumi.yaml"
PROVIDER_NAMESPACES = ("aws", "kubernetes")
"""Config namespaces of the providers the programs use; a key in any other one (but the project's) is refused."""
STACK_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")
"""What a stack name may look like (Pulumi's own rule); only names that have a stack file are stacks."""


class StackFileError(ValueError):
    """A stack or override that cannot be read; the message says which file or flag."""


class _Loader(yaml.SafeLoader):
    """YAML as the Pulumi CLI reads it: a date-like value stays the string it is written as."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, regex) for tag, regex in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()}


class _FastLoader(getattr(yaml, "CSafeLoader", _Loader)):
    """``_Loader`` on libyaml's parser when PyYAML has it: the pure-Python one spends a tenth of a preview on
    Pulumi.yaml. Same resolvers, so the same values; a file it refuses is parsed again by ``_Loader``, whose
    message (with its line and column) is the one users see."""


_FastLoader.yaml_implicit_resolvers = _Loader.yaml_implicit_resolvers


def project(root: Path = ROOT) -> dict[str, Any]:
    """The project file, checked: a mapping with a ``name`` and, if any, a ``config`` mapping."""
    path = root / "Pulumi.yaml"
    doc = _read_mapping(path)
    if not isinstance(doc.get("name"), str) or not doc["name"]:
        raise StackFileError(f"{path.name}: name: expected the project's name, a string, got {_shown(doc.get('name'))}")
    _config_block(doc, path.name)
    return doc


def stacks(root: Path = ROOT) -> list[str]:
    """Stacks that have a stack file beside Pulumi.yaml."""
    return sorted(p.name[len("Pulumi."):-len(".yaml")] for p in root.glob("Pulumi.*.yaml"))


def check_stack(stack: str, root: Path = ROOT, flag: str = "--stack") -> None:
    """StackFileError unless ``stack`` has a stack file beside Pulumi.yaml: call it before any path is built
    from the name (``../..`` is no stack)."""
    known = stacks(root)
    if stack in known:
        return
    why = f"no stack file Pulumi.{stack}.yaml" if STACK_NAME.fullmatch(stack) else "not a stack name"
    raise StackFileError(f"{flag} {stack!r}: {why}; stacks are: {', '.join(known)}")


def project_defaults(project_doc: dict[str, Any]) -> dict[str, Any]:
    """Project-level config: schema entries with a default, and plain values of other namespaces."""
    name = project_doc["name"]
    values: dict[str, Any] = {}
    for key, entry in _config_block(project_doc, "Pulumi.yaml").items():
        full_key = _namespaced(key, name, "Pulumi.yaml: config")
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
    check_stack(stack, root)
    project_doc = project(root)
    name = project_doc["name"]
    stack_file = root / f"Pulumi.{stack}.yaml"
    values = project_defaults(project_doc)
    for key, value in _config_block(_read_mapping(stack_file), stack_file.name).items():
        values[_namespaced(key, name, f"{stack_file.name}: config")] = _unsecret(value)
    for item in overrides:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise StackFileError(f"-c {item!r}: expected KEY=VALUE, for example prodline:servingMinCapacity=2")
        values[_namespaced(key, name, f"-c {item!r}")] = value
    return values


def _read_mapping(path: Path) -> dict[str, Any]:
    """A YAML file whose top is a mapping (an empty file is an empty one)."""
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as err:
        raise StackFileError(f"{path.name}: cannot read it ({err})") from None
    try:
        doc = _parsed(text)
    except yaml.YAMLError as err:
        raise StackFileError(f"{path.name}: not valid YAML: {_yaml_problem(err)}") from None
    if doc is None:
        return {}
    if not isinstance(doc, dict):
        raise StackFileError(f"{path.name}: expected a mapping (key: value lines) at the top, got {_shown(doc)}")
    return doc


PARSED_KEPT = 32
_PARSED: dict[str, Any] = {}
_PARSED_LOCK = threading.Lock()


def _parsed(text: str) -> Any:
    """``_parse`` of ``text``, kept by the text itself: a process that runs the program again and again (the
    sandbox's deploys, the tests) reads the same files each time: three parses of 3 ms a run, about 2% of a dev
    program run. Keyed by content, never by modification time, so a file rewritten within the same clock
    tick is read afresh; each caller gets its own copy to change."""
    with _PARSED_LOCK:
        if text not in _PARSED:
            if len(_PARSED) >= PARSED_KEPT:  # a test suite writes many stack files of its own
                _PARSED.clear()
            _PARSED[text] = _parse(text)
        return copy.deepcopy(_PARSED[text])


def _parse(text: str) -> Any:
    """Safe loaders only: no object construction."""
    try:
        return yaml.load(text, Loader=_FastLoader)
    except yaml.YAMLError:
        return yaml.load(text, Loader=_Loader)


def _config_block(doc: dict[str, Any], where: str) -> dict[str, Any]:
    """The ``config:`` mapping of a project or stack file, every value one the engine can pass as config."""
    block = doc.get("config")
    if block is None:
        return {}
    if not isinstance(block, dict):
        raise StackFileError(f"{where}: config: expected a mapping of keys to values, got {_shown(block)}")
    for key, value in block.items():
        if not isinstance(key, str):
            raise StackFileError(f"{where}: config: key {key!r}: expected a string like prodline:owner")
        _check_value(value, f"{where}: config: {key}")
    return block


def _check_value(value: Any, where: str) -> None:
    """Config values are what JSON has: strings, numbers, booleans, null, lists and string-keyed mappings."""
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise StackFileError(f"{where}: key {key!r}: expected a string")
            _check_value(item, f"{where}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _check_value(item, f"{where}[{index}]")
    elif value is not None and not isinstance(value, str | int | float | bool):
        raise StackFileError(f"{where}: expected a string, number, boolean, list or mapping, got {_shown(value)}")


def _namespaced(key: str, project_name: str, where: str) -> str:
    """``namespace:key``; a bare key is the project's. Other namespaces than the project's and the providers'
    would be read by nothing, so they are refused rather than ignored."""
    namespace, sep, _ = key.partition(":")
    if not sep:
        return f"{project_name}:{key}"
    allowed = (project_name, *PROVIDER_NAMESPACES)
    if namespace not in allowed:
        raise StackFileError(f"{where}: {key}: namespace {namespace!r} is not one of {', '.join(allowed)}")
    return key


def _yaml_problem(err: yaml.YAMLError) -> str:
    """One line: what the parser found and where."""
    mark = getattr(err, "problem_mark", None)
    problem = getattr(err, "problem", None) or getattr(err, "context", None)
    if problem is None:
        return " ".join(str(err).split())
    return f"{problem} (line {mark.line + 1}, column {mark.column + 1})" if mark else problem


def _shown(value: Any) -> str:
    """A value's kind and a short rendering of it, for a message."""
    kinds = {dict: "a mapping", list: "a list", str: "a string", bool: "a boolean", int: "a number",
             float: "a number", type(None): "nothing"}
    text = repr(value)
    return f"{kinds.get(type(value), type(value).__name__)} ({text[:40] + '...' if len(text) > 40 else text})"


def _unsecret(value: Any) -> Any:
    """Encrypted stack values cannot be read offline; stand in a placeholder so the program still runs."""
    if isinstance(value, dict) and set(value) == {"secure"}:
        return "[secret]"
    return value
