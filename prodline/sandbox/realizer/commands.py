"""``prodline sandbox up / down / status``: the realizing mock run against the emulator every stack shares.

State (what was created, in order) lives in ``sandbox/<stack>/state.json``: ``up`` twice creates nothing
new, and ``down`` deletes in reverse creation order.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import os
from collections.abc import Callable, Iterable, Iterator

from prodline.program import run_program
from prodline.sandbox import emulator as emu
from prodline.sandbox import shared
from prodline.sandbox.clients import Clients
from prodline.sandbox.paths import STATE_FILE, WORKLOADS_LOG, clear_run_work, fresh_log, sandbox_dir
from prodline.sandbox.realizer.base import Context
from prodline.sandbox.realizer.mocks import RealizingMocks, UpResult, delete_entry
from prodline.sandbox.state import Entry, SandboxState


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


class _QuietRaised:
    """The Pulumi loop's exception handler: a failed run (a rolled-back canary) leaves its error in every
    registration that waited on the failed one; asyncio would print each as "never retrieved" once collected.
    The run raised that error to its caller already, so those copies are dropped; anything else is reported."""

    def __init__(self) -> None:
        self.raised: collections.deque[BaseException] = collections.deque(maxlen=16)

    def __call__(self, loop: asyncio.AbstractEventLoop, context: dict) -> None:
        error = context.get("exception")
        never_retrieved = "never retrieved" in context.get("message", "")
        if error is not None and never_retrieved and any(error is r for r in self.raised):
            return
        loop.default_exception_handler(context)


_QUIET = _QuietRaised()


def _event_loop() -> asyncio.AbstractEventLoop:
    """The loop Pulumi's runner uses in this thread; one is made for a thread that has none (a stack realized
    in the background)."""
    try:
        return asyncio.get_event_loop()
    except RuntimeError:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        return loop


def region_of(stack: str, overrides: Iterable[str] = ()) -> str:
    from prodline import stack_files

    return str(stack_files.load(stack, overrides).get("aws:region", "us-east-1"))


LAST_REGISTRATIONS: dict[str, list] = {}
"""Per stack, what the latest ``up`` in this process declared: the demo estimates the stack as last deployed
from it, without running the program again."""


def up(stack: str, overrides: Iterable[str] = (),
       on_endpoint_update: Callable[[str, dict, dict], None] | None = None,
       emulator: emu.Emulator | None = None, account: str | None = None) -> tuple[emu.Emulator, UpResult]:
    """Realize the stack into the shared emulator (starting the embedded one if needed); ``emulator``: the one
    the caller has already made sure of, so this does not wait for the sandbox's lock (which a gateway holds
    while it starts, beside this run); ``account``: the emulator's, when the caller has already asked it."""
    sandbox = sandbox_dir(stack)
    emulator = emulator or shared.emulator()
    region = region_of(stack, overrides)
    clients = Clients(emulator.endpoint_url, region)
    account = account or clients("sts").get_caller_identity()["Account"]
    ctx = Context(clients=clients, account=account, region=region, stack=stack, on_endpoint_update=on_endpoint_update)
    state = SandboxState.load(sandbox / STATE_FILE)
    if not state.entries:  # realized from nothing: what the runtimes kept for an earlier realization is stale
        clear_run_work(sandbox)
        fresh_log(sandbox / WORKLOADS_LOG)
    result = UpResult()
    mocks = RealizingMocks(ctx, state, result)
    with emulator_environment(emulator.environment(region)):
        _event_loop().set_exception_handler(_QUIET)
        try:
            result.registrations = run_program(stack, overrides, mocks=mocks, offline_lookups=False)
            LAST_REGISTRATIONS[stack] = result.registrations
        except BaseException as err:
            _QUIET.raised.append(err)
            raise
        finally:
            state.save()
    result.deleted = mocks.prune()
    state.save()
    return emulator, result


def destroy(stack: str) -> list[str]:
    """Delete every realized resource in reverse creation order; return what could not be deleted."""
    sandbox = sandbox_dir(stack)
    state = SandboxState.load(sandbox / STATE_FILE)
    if not state.entries:
        return []
    emulator = shared.emulator()
    region = region_of(stack)
    clients = Clients(emulator.endpoint_url, region)
    ctx = Context(clients=clients, account=clients("sts").get_caller_identity()["Account"], region=region, stack=stack)
    failures = []
    for entry in reversed(list(state.entries)):
        try:
            delete_entry(ctx, entry)
        except Exception as err:  # keep deleting the rest, report this one
            failures.append(f"{entry.type} {entry.name}: {err}")
        state.remove(entry.urn)
    state.save()
    return failures


def forget(stack: str) -> int:
    """Clear the stack's state without deleting anything (its emulator is being discarded); returns how many
    entries it held."""
    state = SandboxState.load(sandbox_dir(stack) / STATE_FILE)
    held = len(state.entries)
    state.entries = []
    state.save()
    return held


def status(stack: str) -> list[Entry]:
    return SandboxState.load(sandbox_dir(stack) / STATE_FILE).entries
