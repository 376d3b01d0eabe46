"""Everything the deploy path needs from the outside world, in one object.

Why: deploy, promote and status must not know whether they talk to AWS or to the sandbox's emulator.
They ask the context for a client per service, publish events through it, run `up` through its engine,
report progress and read the clock through it. ``aws_context`` wires it to plain boto3 and EventBridge;
``prodline.sandbox.delivery.sandbox_context`` wires it to the emulator, the hosting gateway and the
sandbox's EventRouter; tests wire it to moto, a stub runtime and a fake engine.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from prodline.delivery import events
from prodline.delivery.engines import Engine
from prodline.delivery.settings import DeliverySettings, load_settings

DEFAULT_POLL_SECONDS = 2
"""Long-poll wait of a queue receive: short, because an empty queue means the build is done."""


def _stderr(message: str) -> None:
    print(f"  {message}", file=sys.stderr)


def utc_now() -> datetime:
    return datetime.now(UTC)


class PublishFailed(RuntimeError):
    """EventBridge refused an entry; the message says which and why."""


@dataclass
class DeliveryContext:
    clients: Callable[[str], Any]
    """``clients("ssm")`` -> a boto3 client (sagemaker-runtime reaches the endpoint's host)."""
    publish: Callable[[dict], None]
    """Takes an entry of ``prodline.delivery.events.entry``: ``{"source", "detail-type", "detail", "bus"}``."""
    engine: Engine
    on_progress: Callable[[str], None] = _stderr
    now: Callable[[], datetime] = utc_now
    settings: Callable[[str], DeliverySettings] = field(default=load_settings)
    """A stack's delivery settings (its config); tests and the CLI's ``-c`` overrides replace it."""
    poll_seconds: int = DEFAULT_POLL_SECONDS


def aws_context(stack: str, region: str, *, engine: Engine | None = None,
                on_progress: Callable[[str], None] | None = None,
                overrides: Iterable[str] = ()) -> DeliveryContext:
    """The context for a real account: boto3 clients in ``region``, events put on the stack's bus.

    ``overrides`` (the CLI's ``-c KEY=VALUE``) apply to ``stack``'s settings only, not to the stack a
    green deploy promotes to.
    """
    import boto3
    from botocore.config import Config

    from prodline.delivery.engines import PulumiEngine

    session = boto3.session.Session(region_name=region)
    cache: dict[str, Any] = {}

    def clients(service: str) -> Any:
        if service not in cache:
            # The smoke gate judges every answer itself: a retried 5xx would hide the error it must see.
            retries = {"mode": "standard", "total_max_attempts": 1 if service == "sagemaker-runtime" else 5}
            cache[service] = session.client(service, config=Config(retries=retries))
        return cache[service]

    def publish(event: dict) -> None:
        answer = clients("events").put_events(Entries=[events.put_events_entry(event)])
        if answer.get("FailedEntryCount"):
            failure = next((e for e in answer.get("Entries", []) if e.get("ErrorCode")), {})
            raise PublishFailed(f"{event['detail-type']} on {event['bus']}: {failure.get('ErrorCode')} "
                                f"{failure.get('ErrorMessage', '')}".strip())

    overrides = tuple(overrides)

    def settings(name: str) -> DeliverySettings:
        return load_settings(name, overrides if name == stack else ())

    return DeliveryContext(clients=clients, publish=publish, engine=engine or PulumiEngine(),
                           on_progress=on_progress or _stderr, settings=settings)
