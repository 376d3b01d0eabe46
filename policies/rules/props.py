"""Reading resource properties the way both the engine and the offline runner hand them over.

Properties arrive as read-only mappings (``pulumi_policy`` proxies, not dicts) in the engine's camelCase,
numbers may be floats, and during ``pulumi preview`` any value computed from another resource may be
unknown: the proxy raises ``UnknownValueError`` when it is read. These helpers turn "unknown" into the
``UNKNOWN`` marker so a rule can skip what it cannot judge yet instead of failing or guessing.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from pulumi_policy import proxy
from pulumi_policy.proxy import UnknownValueError

_SENTINELS = frozenset((proxy.UNKNOWN_BOOLEAN_VALUE, proxy.UNKNOWN_NUMBER_VALUE, proxy.UNKNOWN_STRING_VALUE,
                        proxy.UNKNOWN_ARRAY_VALUE, proxy.UNKNOWN_ASSET_VALUE, proxy.UNKNOWN_ARCHIVE_VALUE,
                        proxy.UNKNOWN_OBJECT_VALUE))


class _Unknown:
    """A value the engine does not know during preview (it depends on another resource's outputs)."""

    def __repr__(self) -> str:
        return "<unknown>"


UNKNOWN = _Unknown()


def get(obj: Any, path: str) -> Any:
    """The value at a dotted path (``rules.0.applyServerSideEncryptionByDefault``); None if missing, or UNKNOWN."""
    current = obj
    try:
        for part in path.split("."):
            if isinstance(current, Mapping):
                if part not in current:
                    return None
                current = current[part]
            elif is_list(current) and part.isdigit() and int(part) < len(current):
                current = current[int(part)]
            else:
                return None
    except UnknownValueError:
        return UNKNOWN
    if isinstance(current, str) and current in _SENTINELS:
        return UNKNOWN
    return current


def entry(obj: Any, key: str) -> Any:
    """The value under one key taken whole (a key may hold dots, as Kubernetes label and annotation keys do); None if
    missing, or UNKNOWN."""
    if not isinstance(obj, Mapping):
        return None
    try:
        if key not in obj:
            return None
        value = obj[key]
    except UnknownValueError:
        return UNKNOWN
    return UNKNOWN if isinstance(value, str) and value in _SENTINELS else value


def is_list(value: Any) -> bool:
    return isinstance(value, Sequence) and not isinstance(value, str | bytes)


def items(value: Any) -> list[Any]:
    """A list property's known elements (a single value counts as a list of one; unknown ones are skipped)."""
    if value is None or value is UNKNOWN:
        return []
    if not is_list(value):
        return [value]
    found = []
    for index in range(len(value)):
        element = get(value, str(index))
        if element is not UNKNOWN and element is not None:
            found.append(element)
    return found


def strings(value: Any) -> list[str]:
    """Every known string inside a value, at any depth (what a property could name)."""
    if isinstance(value, str):
        return [] if value in _SENTINELS else [value]
    if isinstance(value, Mapping):
        return [s for key in value for s in strings(get(value, key))]
    return [s for element in items(value) for s in strings(element)] if is_list(value) else []


def number(value: Any) -> float | None:
    """A known number (the wire format has only floats), or None."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def is_false(value: Any) -> bool:
    """Explicitly off: False, or the string "false" some providers accept."""
    return value is False or (isinstance(value, str) and value.lower() == "false")


def is_true(value: Any) -> bool:
    return value is True or (isinstance(value, str) and value.lower() == "true")


def missing(value: Any) -> bool:
    """Not set at all (an unknown value is set: it just is not known yet)."""
    return value is None or value == "" or (is_list(value) and len(value) == 0) or value == {}


# --- policy documents -------------------------------------------------------------------------------

def policy_statements(document: Any) -> list[Mapping[str, Any]] | None:
    """Statements of an IAM / resource policy given as JSON text or a mapping; None when unknown or unreadable."""
    if document is None or document is UNKNOWN:
        return None
    if isinstance(document, str):
        try:
            document = json.loads(document)
        except ValueError:
            return None
    if not isinstance(document, Mapping):
        return None
    return [s for s in items(get(document, "Statement")) if isinstance(s, Mapping)]


def allow_statements(document: Any) -> Iterator[Mapping[str, Any]]:
    for statement in policy_statements(document) or []:
        if get(statement, "Effect") == "Allow":
            yield statement


def principals(statement: Mapping[str, Any]) -> list[str]:
    """Every principal a statement names: ``"*"``, or the values of ``{"AWS": ..., "Service": ...}``."""
    return strings(get(statement, "Principal"))


def label(sid: Any, index: int) -> str:
    return f"statement {sid!r}" if isinstance(sid, str) and sid else f"statement #{index + 1}"
