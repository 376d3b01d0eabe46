"""The realizing mock: each custom resource the program registers is created in the emulator.

It plugs into the same runner as the offline preview (``prodline.program.run_program``); only the mock
differs. A changed resource is replaced (or, for an endpoint, rolled out by the deployment runtime);
an unchanged one is answered from the sandbox state. Before anything is created, the handler accounts
for every input field (``Handler.check``): an input it would drop fails the run naming type and field.
"""

from __future__ import annotations

import contextlib
import threading
from dataclasses import dataclass, field

import pulumi

from prodline.program import RecordingMocks
from prodline.sandbox.realizer.base import Context
from prodline.sandbox.realizer.registry import HANDLERS, declared_only_reason
from prodline.sandbox.state import DECLARED_ONLY, REALIZED, RECORDED, Entry, SandboxState, inputs_hash

ENDPOINT_TYPE = "aws:sagemaker/endpoint:Endpoint"
SUPERSEDED = "#superseded-"


@dataclass
class UpResult:
    created: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    replaced: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    declared_only: list[str] = field(default_factory=list)
    registrations: list = field(default_factory=list, repr=False)
    """Everything the program declared in this run (what `prodline cost` estimates), realized or not."""


class RealizingMocks(pulumi.runtime.Mocks):
    """Creates each custom resource in the emulator and answers with its real identifiers."""

    def __init__(self, ctx: Context, state: SandboxState, result: UpResult):
        self.ctx = ctx
        self.state = state
        self.result = result
        self.seen: set[str] = set()
        self.fallback = RecordingMocks(ctx.region, ctx.account)
        # The SDK registers resources from several threads; one at a time keeps state and clients consistent.
        self._lock = threading.Lock()

    def call(self, args: pulumi.runtime.MockCallArgs):
        return self.fallback.call(args)

    def new_resource(self, args: pulumi.runtime.MockResourceArgs):
        if not args.custom:
            return "", {}
        with self._lock:
            return self._realize(args)

    def _realize(self, args: pulumi.runtime.MockResourceArgs):
        key = f"{args.typ}::{args.name}"
        self.seen.add(key)
        handler = HANDLERS.get(args.typ)
        if handler:
            handler.check(args.typ, args.name, args.inputs)
        digest = inputs_hash(args.inputs)
        existing = self.state.get(key)
        if existing and existing.inputs_hash == digest:
            # A declared-only resource stays declared-only on every up: never reported as realized and unchanged.
            (self.result.declared_only if existing.status == DECLARED_ONLY else self.result.unchanged).append(key)
            return existing.id, {**args.inputs, **existing.outputs}

        if handler is None:
            ident, outputs = self.fallback.new_resource(args)
            self.state.put(Entry(key, args.typ, args.name, DECLARED_ONLY, ident, {}, digest,
                                 declared_only_reason(args.typ)))
            self.result.declared_only.append(key)
            return ident, outputs

        note = handler.note_for(args.inputs)
        if existing:
            if args.typ == ENDPOINT_TYPE and self.ctx.on_endpoint_update:
                # SageMaker updates endpoints in place, through the blue/green policy: the deployment
                # runtime rolls the new configuration out, and raises when the canary rolls back.
                self.ctx.on_endpoint_update(existing.id, existing.outputs, args.inputs)
                self.state.put(Entry(key, args.typ, args.name, REALIZED, existing.id, existing.outputs, digest, note))
                self.result.replaced.append(key)
                return existing.id, {**args.inputs, **existing.outputs}
            if handler.replace_on_change:
                existing.urn = f"{key}{SUPERSEDED}{existing.id}"
                self.state.put(existing)  # deleted once nothing uses it any more
                revived = self._superseded_with(key, digest)
                if revived:
                    # A run that failed part-way (a rolled-back canary) left the previous version behind;
                    # going back to it reuses it, as its name (from its inputs) is taken by it.
                    revived.urn = key
                    self.state.put(revived)
                    self.result.replaced.append(key)
                    return revived.id, {**args.inputs, **revived.outputs}
            else:
                self._delete(existing)
            self.result.replaced.append(key)
        else:
            self.result.created.append(key)
        ident, outputs = handler.create(self.ctx, key, args.name, args.inputs)
        status = REALIZED if handler.in_emulator else RECORDED
        self.state.put(Entry(key, args.typ, args.name, status, ident, outputs, digest, note))
        return ident, {**args.inputs, **outputs}

    def _superseded_with(self, key: str, digest: str) -> Entry | None:
        return next((e for e in self.state.entries if e.urn.startswith(f"{key}{SUPERSEDED}")
                     and e.inputs_hash == digest and e.status == REALIZED), None)

    def _delete(self, entry: Entry) -> None:
        delete_entry(self.ctx, entry)
        self.state.remove(entry.urn)

    def prune(self) -> list[str]:
        """After a successful run: delete superseded versions and whatever the program stopped declaring."""
        doomed = [e for e in self.state.entries if SUPERSEDED in e.urn or e.urn not in self.seen]
        for entry in reversed(doomed):
            with contextlib.suppress(Exception):  # best effort: a missing resource is already gone
                self._delete(entry)
            self.state.remove(entry.urn)
        return [e.urn for e in doomed]


def delete_entry(ctx: Context, entry: Entry) -> None:
    """Delete what an entry realized in the emulator (declared-only entries and owned settings: nothing)."""
    handler = HANDLERS.get(entry.type)
    if entry.status == REALIZED and handler and handler.delete:
        handler.delete(ctx, entry.id, entry.outputs)
