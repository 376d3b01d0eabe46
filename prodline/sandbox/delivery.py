"""The delivery path offline: ``prodline.delivery`` with the sandbox as its engine and its outside world.

``sandbox_context(stack)`` is what ``prodline deploy|promote|status --engine sandbox`` run with: the context
of a sandbox stack that is up (``prodline.sandbox.delivery_context`` says what reaches what). ``SandboxEngine``
is the Engine: ``pulumi up`` of one stack with one pinned model version, done by the realizer.
"""

from __future__ import annotations

from collections.abc import Callable

from prodline.delivery.context import DeliveryContext
from prodline.delivery.engines import EngineUnavailable
from prodline.sandbox.delivery_context import SandboxEngine, context_for

__all__ = ["SandboxEngine", "context_for", "sandbox_context"]


def sandbox_context(stack: str, on_progress: Callable[[str], None] | None = None) -> DeliveryContext:
    """The context ``prodline deploy --engine sandbox`` runs with: the sandbox of ``stack``, which must be up.

    A stack that is not up is refused before anything starts: ``Sandbox`` would start the embedded emulator, and
    ``prodline status`` would leave one running to report that it holds nothing."""
    from prodline.sandbox.lifecycle import Sandbox
    from prodline.sandbox.paths import running_stacks
    from prodline.sandbox.shared import SHARED

    up = sorted(name for name, _ in running_stacks() if name != SHARED)
    if stack not in up:
        raise EngineUnavailable(f"the sandbox stack {stack} is not up (up: {', '.join(up) or 'none'}): "
                                f"prodline sandbox up --stack {stack}")

    kwargs = {"on_progress": on_progress} if on_progress else {}
    return Sandbox(stack, **kwargs).delivery_context()
