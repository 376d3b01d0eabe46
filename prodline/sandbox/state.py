"""What the sandbox created, in order: ``sandbox/<stack>/state.json``, written atomically.

``down`` deletes in reverse order from it; ``up`` reuses entries whose inputs did not change, so running
it twice creates nothing new. Each change is appended to ``state.json.journal`` the moment it happens (one
line, not the whole file again: a first ``up`` makes a hundred of them), and ``save`` folds the journal into
``state.json``; ``load`` replays a journal a crash left behind, so a resource created just before the crash
is still known and deleted by ``down``.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pulumi

from prodline.input_tree import plain
from prodline.sandbox.paths import state_journal

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
        state = cls(path, [Entry(**e) for e in json.loads(path.read_text())["entries"]] if path.exists() else [])
        journal = state.journal
        if journal.exists():
            for line in journal.read_text().splitlines():
                try:
                    change = json.loads(line)
                except json.JSONDecodeError:
                    break  # the line being written when the process died: nothing after it was applied
                if change.get("put"):
                    state._apply_put(Entry(**change["put"]))
                elif change.get("remove"):
                    state._apply_remove(change["remove"])
            state.save()
        return state

    @property
    def journal(self) -> Path:
        return state_journal(self.path)

    def save(self) -> None:
        """Write every entry to ``state.json`` at once (atomically) and start a new journal."""
        partial = self.path.with_suffix(".partial")
        partial.write_text(json.dumps({"entries": [asdict(e) for e in self.entries]}, indent=1, sort_keys=True))
        partial.replace(self.path)
        self.journal.unlink(missing_ok=True)

    def _record(self, change: dict[str, Any]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.journal.open("a") as journal:
            journal.write(json.dumps(change, sort_keys=True) + "\n")

    def get(self, urn: str) -> Entry | None:
        return next((e for e in self.entries if e.urn == urn), None)

    def put(self, entry: Entry) -> None:
        """Add or replace an entry, keeping creation order (a replaced entry moves to the end)."""
        self._apply_put(entry)
        self._record({"put": asdict(entry)})

    def remove(self, urn: str) -> None:
        self._apply_remove(urn)
        self._record({"remove": urn})

    def _apply_put(self, entry: Entry) -> None:
        self.entries = [e for e in self.entries if e.urn != entry.urn] + [entry]

    def _apply_remove(self, urn: str) -> None:
        self.entries = [e for e in self.entries if e.urn != urn]


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
