"""What the sandbox created, in order: ``sandbox/<stack>/state.json``, written atomically.

``down`` deletes in reverse order from it; ``up`` reuses entries whose inputs did not change, so running
it twice creates nothing new.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pulumi

from prodline.input_tree import plain

REALIZED = "realized"
RECORDED = "recorded"  # held by the sandbox, not applied to the emulator (the note says why)
DECLARED_ONLY = "declared-only"


@dataclass
class Entry:
    urn: str
    type: str
    name: str
    status: str
    id: str
    outputs: dict[str, Any]
    inputs_hash: str
    note: str = ""


@dataclass
class SandboxState:
    path: Path
    entries: list[Entry] = field(default_factory=list)

    @classmethod
    def load(cls, path: Path) -> SandboxState:
        if not path.exists():
            return cls(path)
        doc = json.loads(path.read_text())
        return cls(path, [Entry(**e) for e in doc["entries"]])

    def save(self) -> None:
        partial = self.path.with_suffix(".partial")
        partial.write_text(json.dumps({"entries": [asdict(e) for e in self.entries]}, indent=1, sort_keys=True))
        partial.replace(self.path)

    def get(self, urn: str) -> Entry | None:
        return next((e for e in self.entries if e.urn == urn), None)

    def put(self, entry: Entry) -> None:
        """Add or replace an entry, keeping creation order (a replaced entry moves to the end)."""
        self.entries = [e for e in self.entries if e.urn != entry.urn] + [entry]
        self.save()

    def remove(self, urn: str) -> None:
        self.entries = [e for e in self.entries if e.urn != urn]
        self.save()


def inputs_hash(inputs: dict[str, Any]) -> str:
    """A fingerprint of a resource's inputs: the same inputs (and file contents) give the same hash every run."""
    return hashlib.sha256(json.dumps(canonical(inputs), sort_keys=True, default=str).encode()).hexdigest()[:16]


def canonical(value: Any) -> Any:
    """Inputs with assets replaced by their content hashes, so unchanged files hash the same every run."""
    return plain(value, _fingerprint_leaf)


def _fingerprint_leaf(value: Any) -> Any:
    if isinstance(value, pulumi.FileAsset):
        return {"asset": hashlib.sha256(Path(value.path).read_bytes()).hexdigest()}
    if isinstance(value, pulumi.StringAsset):
        return {"asset": hashlib.sha256(value.text.encode()).hexdigest()}
    if isinstance(value, pulumi.AssetArchive):
        return {"archive": canonical(dict(sorted(value.assets.items())))}
    return value
