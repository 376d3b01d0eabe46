"""What every handler is made of: the context it runs in, and the input fields it answers for.

A handler creates one Pulumi resource type in the emulator through boto3 and deletes it again. It also
says which of the resource's inputs it *carries* into the emulator and which it keeps as *recorded, not
applied* (with the reason). An input the program passes that is in neither list fails the run with an
``UnaccountedInput`` naming the type and the field: nothing the program declares is dropped silently.

Fields are dotted paths of the camelCase inputs the engine passes. ``"tags"`` covers the whole value;
``"primaryContainer.image"`` says only that member of ``primaryContainer`` is carried, so any other member
is unaccounted. Through a list the path continues into every item (``"rules.id"``).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from prodline.sandbox.clients import Clients

Outputs = dict[str, Any]
Create = Callable[["Context", str, str, dict], tuple[str, Outputs]]
Delete = Callable[["Context", str, Outputs], None]


@dataclass
class Context:
    """What handlers need: emulator clients, the account, and how to name things like autonaming does."""

    clients: Clients
    account: str
    region: str
    stack: str
    on_endpoint_update: Callable[[str, dict, dict], None] | None = None
    """Called to roll out a changed endpoint (the deployment runtime); moto has no UpdateEndpoint."""

    def physical(self, urn: str, logical: str, inputs: dict | None = None, limit: int = 63) -> str:
        """A stable physical name, like Pulumi's autonaming: logical name plus a short hash.

        With ``inputs``, the hash covers them, so a changed resource gets a new name (replace, not update). The
        stack is hashed too, as it is part of a real URN: stacks sharing the emulator never collide.
        """
        # The stack is part of the seed: every stack of the sandbox shares one emulator (one account).
        seed = f"{self.stack}::{urn}" + (json.dumps(inputs, sort_keys=True, default=str) if inputs is not None else "")
        suffix = hashlib.sha1(seed.encode()).hexdigest()[:7]  # naming, not security
        return f"{logical[: limit - 8]}-{suffix}".lower()


class UnaccountedInput(ValueError):
    """The program passed an input the type's handler neither carries into the emulator nor records."""

    def __init__(self, type_token: str, name: str, fields: list[str]):
        self.type_token, self.name, self.fields = type_token, name, fields
        super().__init__(
            f"{type_token} {name!r}: input {', '.join(fields)} is neither carried into the emulator nor listed "
            f"as recorded by its handler; carry it in the handler, or list it under `recorded` with the reason "
            f"the sandbox cannot apply it")


@dataclass(frozen=True)
class Handler:
    create: Create
    """(ctx, urn, logical name, inputs) -> (id, outputs)."""
    delete: Delete | None = None
    """(ctx, id, outputs); None when deleting the owner removes it too."""
    carries: tuple[str, ...] = ()
    """Input fields the handler passes to the emulator."""
    recorded: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    """Input fields with no emulator counterpart -> why: kept in the sandbox's state note, not applied."""
    replace_on_change: bool = False
    """Immutable in AWS (endpoint configurations, models): a change creates a new one."""
    note: str = ""
    in_emulator: bool = True
    """False for a type the emulator cannot hold: the sandbox keeps it as *recorded* (with outputs later resources
    use) and runs its stand-in itself (the MLflow tracking server)."""

    def __post_init__(self) -> None:
        both = sorted(set(self.carries) & set(self.recorded))
        if both:
            raise ValueError(f"fields both carried and recorded: {', '.join(both)}")

    def unaccounted(self, inputs: dict) -> list[str]:
        """Input fields (dotted paths) this handler neither carries nor records, in input order."""
        return _unaccounted(inputs, frozenset(self.carries) | frozenset(self.recorded), "")

    def check(self, type_token: str, name: str, inputs: dict) -> None:
        missing = self.unaccounted(inputs)
        if missing:
            raise UnaccountedInput(type_token, name, missing)

    def note_for(self, inputs: dict) -> str:
        """The state entry's note: the handler's own, and each recorded field the inputs set."""
        recorded = [f"{path} recorded, not applied: {why}" for path, why in self.recorded.items()
                    if _present(inputs, path)]
        return "; ".join([self.note, *recorded] if self.note else recorded)


def _unaccounted(value: Any, declared: frozenset[str], prefix: str) -> list[str]:
    if isinstance(value, list | tuple):
        found: list[str] = []
        for item in value:
            found += [path for path in _unaccounted(item, declared, prefix) if path not in found]
        return found
    if not isinstance(value, dict):
        return []
    found = []
    for key, item in value.items():
        path = f"{prefix}{key}"
        members = any(d.startswith(f"{path}.") for d in declared)
        if members:
            found += _unaccounted(item, declared, f"{path}.")
        elif path not in declared:
            found.append(path)
    return found


def _present(inputs: Any, path: str) -> bool:
    head, _, rest = path.partition(".")
    if isinstance(inputs, list | tuple):
        return any(_present(item, path) for item in inputs)
    if not isinstance(inputs, dict) or head not in inputs:
        return False
    return _present(inputs[head], rest) if rest else True


def nested(prefix: str, paths: Iterable[str]) -> tuple[str, ...]:
    """The same member paths under another field: ``nested("containers", CONTAINER)``."""
    return tuple(f"{prefix}.{path}" for path in paths)


# --- mapping helpers shared by the service modules --------------------------------------------------------

def tag_list(inputs: dict) -> list[dict[str, str]]:
    return [{"Key": k, "Value": v} for k, v in sorted((inputs.get("tags") or {}).items())]


def tag_map(inputs: dict) -> dict[str, str]:
    return dict(inputs.get("tags") or {})


def as_int(value: Any) -> int | None:
    """Numbers arrive from the engine as floats; AWS wants integers where its API says so."""
    return None if value is None else int(value)


def drop_none(value: dict) -> dict:
    return {k: v for k, v in value.items() if v is not None}
