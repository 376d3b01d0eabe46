"""The realizing mock: the real program from ``infra/``, each registration created in the emulator.

It plugs into the same runner as the offline preview (``prodline.program.run_program``); only the mock
differs. State (what was created, in order) lives in ``sandbox/<stack>/state.json``: ``up`` twice
creates nothing new, a changed resource is replaced (or, for an endpoint, rolled out by the deployment
runtime), and ``down`` deletes in reverse order.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi

from prodline.program import RecordingMocks, run_program
from prodline.sandbox import emulator as emu
from prodline.sandbox.clients import Clients
from prodline.sandbox.handlers import HANDLERS, Context, declared_only_reason
from prodline.sandbox.paths import sandbox_dir
from prodline.sandbox.state import DECLARED_ONLY, REALIZED, Entry, SandboxState, inputs_hash

ENDPOINT_TYPE = "aws:sagemaker/endpoint:Endpoint"
SUPERSEDED = "#superseded-"


def canonical(value: Any) -> Any:
    """Inputs with assets replaced by their content hashes, so unchanged files hash the same every run."""
    if isinstance(value, dict):
        return {k: canonical(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [canonical(v) for v in value]
    if isinstance(value, pulumi.FileAsset):
        return {"asset": hashlib.sha256(Path(value.path).read_bytes()).hexdigest()}
    if isinstance(value, pulumi.AssetArchive):
        return {"archive": {k: canonical(v) for k, v in sorted(value.assets.items())}}
    return value


@dataclass
class UpResult:
    created: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    replaced: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    declared_only: list[str] = field(default_factory=list)


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
        digest = inputs_hash(canonical(args.inputs))
        existing = self.state.get(key)
        if existing and existing.inputs_hash == digest:
            self.result.unchanged.append(key)
            return existing.id, {**args.inputs, **existing.outputs}

        handler = HANDLERS.get(args.typ)
        if handler is None:
            ident, outputs = self.fallback.new_resource(args)
            self.state.put(Entry(key, args.typ, args.name, DECLARED_ONLY, ident, {}, digest,
                                 declared_only_reason(args.typ)))
            self.result.declared_only.append(key)
            return ident, outputs

        if existing:
            if args.typ == ENDPOINT_TYPE and self.ctx.on_endpoint_update:
                # SageMaker updates endpoints in place, through the blue/green policy: the deployment
                # runtime rolls the new configuration out, and raises when the canary rolls back.
                self.ctx.on_endpoint_update(existing.id, existing.outputs, args.inputs)
                self.state.put(Entry(key, args.typ, args.name, REALIZED, existing.id, existing.outputs, digest,
                                     handler.note))
                self.result.replaced.append(key)
                return existing.id, {**args.inputs, **existing.outputs}
            if handler.replace_on_change:
                existing.urn = f"{key}{SUPERSEDED}{existing.id}"
                self.state.put(existing)  # deleted once nothing uses it any more
            else:
                self._delete(existing)
            self.result.replaced.append(key)
        else:
            self.result.created.append(key)
        ident, outputs = handler.create(self.ctx, key, args.name, args.inputs)
        self.state.put(Entry(key, args.typ, args.name, REALIZED, ident, outputs, digest, handler.note))
        return ident, {**args.inputs, **outputs}

    def _delete(self, entry: Entry) -> None:
        handler = HANDLERS.get(entry.type)
        if entry.status == REALIZED and handler and handler.delete:
            handler.delete(self.ctx, entry.id, entry.outputs)
        self.state.remove(entry.urn)

    def prune(self) -> list[str]:
        """After a successful run: delete superseded versions and whatever the program stopped declaring."""
        doomed = [e for e in self.state.entries if SUPERSEDED in e.urn or e.urn not in self.seen]
        for entry in reversed(doomed):
            with contextlib.suppress(Exception):  # best effort: a missing resource is already gone
                self._delete(entry)
            self.state.remove(entry.urn)
        return [e.urn for e in doomed]


@contextlib.contextmanager
def emulator_environment(environment: dict[str, str]) -> Iterator[None]:
    """Point every boto3 call of this process (the program's own lookups included) at the emulator."""
    saved = {k: os.environ.get(k) for k in environment}
    os.environ.update(environment)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def region_of(stack: str, overrides: Iterable[str] = ()) -> str:
    from prodline import stack_files

    return str(stack_files.load(stack, overrides).get("aws:region", "us-east-1"))


def up(stack: str, overrides: Iterable[str] = (),
       on_endpoint_update: Callable[[str, dict, dict], None] | None = None) -> tuple[emu.Emulator, UpResult]:
    """Realize the stack into the emulator (starting the embedded one if needed)."""
    sandbox = sandbox_dir(stack)
    emulator = emu.ensure(sandbox)
    region = region_of(stack, overrides)
    clients = Clients(emulator.endpoint_url, region)
    account = clients("sts").get_caller_identity()["Account"]
    ctx = Context(clients=clients, account=account, region=region, stack=stack, on_endpoint_update=on_endpoint_update)
    state = SandboxState.load(sandbox / "state.json")
    result = UpResult()
    mocks = RealizingMocks(ctx, state, result)
    with emulator_environment(emulator.environment(region)):
        run_program(stack, overrides, mocks=mocks, offline_lookups=False)
    result.deleted = mocks.prune()
    return emulator, result


def destroy(stack: str) -> list[str]:
    """Delete every realized resource in reverse creation order; return what could not be deleted."""
    sandbox = sandbox_dir(stack)
    state = SandboxState.load(sandbox / "state.json")
    if not state.entries:
        return []
    emulator = emu.ensure(sandbox)
    region = region_of(stack)
    clients = Clients(emulator.endpoint_url, region)
    ctx = Context(clients=clients, account=clients("sts").get_caller_identity()["Account"], region=region, stack=stack)
    failures = []
    for entry in reversed(list(state.entries)):
        handler = HANDLERS.get(entry.type)
        if entry.status == REALIZED and handler and handler.delete:
            try:
                handler.delete(ctx, entry.id, entry.outputs)
            except Exception as err:  # noqa: BLE001 - keep deleting the rest, report this one
                failures.append(f"{entry.type} {entry.name}: {err}")
        state.remove(entry.urn)
    return failures


def status(stack: str) -> list[Entry]:
    return SandboxState.load(sandbox_dir(stack) / "state.json").entries
