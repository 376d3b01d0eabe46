"""The delivery path offline: ``prodline.delivery`` with the sandbox as its engine and its outside world.

``sandbox_context(stack)`` is what ``prodline deploy|promote|status --engine sandbox`` run with: the context
of a sandbox stack that is up (``prodline.sandbox.delivery_context`` says what reaches what). ``SandboxEngine``
is the Engine: ``pulumi up`` of one stack with one pinned model version, done by the realizer.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from prodline.delivery.engines import EngineUnavailable

if TYPE_CHECKING:
    from prodline.delivery.context import DeliveryContext

__all__ = ["sandbox_context"]  # and, loaded on first use, SandboxEngine and context_for


def __getattr__(name: str) -> Any:
    """``SandboxEngine`` and ``context_for`` load with the realizer (0.4 s) when first used, so that a command on a
    stack that is not up is refused without loading them."""
    if name in ("SandboxEngine", "context_for"):
        from prodline.sandbox import delivery_context

        return getattr(delivery_context, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def sandbox_context(stack: str, on_progress: Callable[[str], None] | None = None) -> DeliveryContext:
    """The context ``prodline deploy --engine sandbox`` runs with: the sandbox of ``stack``, which must be up.

    A stack that is not up is refused before anything starts: ``Sandbox`` would start the embedded emulator, and
    ``prodline status`` would leave one running to report that it holds nothing."""
    from prodline.sandbox.shared import not_up

    refusal = not_up(stack)
    if refusal:
        raise EngineUnavailable(refusal)
    from prodline.sandbox.lifecycle import Sandbox

    kwargs = {"on_progress": on_progress} if on_progress else {}
    return Sandbox(stack, **kwargs).delivery_context()
