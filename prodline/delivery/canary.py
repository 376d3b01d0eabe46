"""Kubernetes canaries: a new serving image bakes under its rollback alarms, then is promoted or rolled back.

SageMaker rolls a blue/green canary back by itself, on the alarms the endpoint's deployment config names. A
Kubernetes cluster has nothing that does, so the deploy path does it, as it already deploys and restores model
versions: ``up`` with the canary (``k8sCanaryImageTag``: a second Deployment behind ingress-nginx's canary
weight), a bake of ``canaryBakeSeconds`` watching the canary's own 5xx and latency alarms (declared by
Observability on the server's metrics of the canary Deployment), then ``up`` again: promoted, the stable
Deployment runs the new tag and the canary is removed; rolled back, the canary is removed (its weight with it)
and the stable Deployment never changed. Every change stays ``pulumi up`` of the stack, so the IaC stays the
source of truth, and the decision is one pure function (``decide``), tested without a cluster.

Why not Argo Rollouts or Flagger: either would decide on its own analysis (a second definition of "healthy"
beside the CloudWatch alarms that page people), would need its CRDs and controller installed and upgraded in
the platform team's cluster, and would change Deployments outside ``pulumi up``, so the stack's state would no
longer say what runs. The deployer already has the credentials, the bake loop and the record of what ran.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

PROMOTE, ROLLBACK, WAIT = "promote", "rollback", "wait"
ROLLBACK_SUFFIXES = ("latency-p99", "5xx")
"""The rollback alarms of a serving target (components/observability.py's SERVING_ALARMS with rollback=True;
a test keeps the two equal)."""
CANARY_KEY, STABLE_KEY = "prodline:k8sCanaryImageTag", "prodline:servingImageTag"
CANARY_DEPLOYMENT = "churn-canary"
"""The canary Deployment infra/stack.py declares (``<dataset>-canary``)."""
ALARM, OK, INSUFFICIENT = "ALARM", "OK", "INSUFFICIENT_DATA"


@dataclass(frozen=True)
class AlarmReading:
    name: str
    state: str | None
    """OK, ALARM or INSUFFICIENT_DATA; None when the alarm does not exist."""
    changed: datetime | None = None
    """When it entered that state."""


@dataclass(frozen=True)
class Decision:
    verdict: str
    reason: str


def decide(readings: Sequence[AlarmReading], started: datetime, now: datetime, bake_seconds: int) -> Decision:
    """What to do with a canary whose bake started at ``started``, given its rollback alarms as read at ``now``.

    - any alarm in ALARM: roll back (whenever it fired: the canary's own alarms watch only the canary);
    - an alarm that does not exist, or no alarm at all: roll back (a canary nobody watches is not vouched for);
    - bake not over: wait;
    - bake over and an alarm never evaluated (INSUFFICIENT_DATA): roll back (no evidence the canary is healthy);
    - bake over, every alarm OK: promote.
    """
    if not readings:
        return Decision(ROLLBACK, "no rollback alarm to watch the canary with")
    firing = [r.name for r in readings if r.state == ALARM]
    if firing:
        return Decision(ROLLBACK, f"alarm {', '.join(firing)} fired during the bake")
    absent = [r.name for r in readings if r.state is None]
    if absent:
        return Decision(ROLLBACK, f"alarm {', '.join(absent)} does not exist: the canary would bake unwatched")
    if now < started + timedelta(seconds=bake_seconds):
        return Decision(WAIT, f"baking, {(started + timedelta(seconds=bake_seconds) - now).total_seconds():.0f} s left")
    silent = [r.name for r in readings if r.state != OK]
    if silent:
        return Decision(ROLLBACK, f"alarm {', '.join(silent)} had no data by the end of the bake: no evidence the "
                                  "canary is healthy")
    return Decision(PROMOTE, f"every rollback alarm OK for the {bake_seconds} s bake")


def rollback_alarm_names(endpoint_name: str, canary_deployment: str) -> list[str]:
    """The canary's rollback alarms, as Observability names them (``<endpoint>-<deployment>-<suffix>``)."""
    return [f"{endpoint_name}-{canary_deployment}-{suffix}" for suffix in ROLLBACK_SUFFIXES]


def read_alarms(cloudwatch, names: Sequence[str]) -> list[AlarmReading]:
    """The alarms' states from CloudWatch; an alarm it does not return is read as absent."""
    found = {a["AlarmName"]: a for a in cloudwatch.describe_alarms(AlarmNames=list(names))["MetricAlarms"]}
    return [AlarmReading(n, found[n]["StateValue"], found[n].get("StateUpdatedTimestamp")) if n in found
            else AlarmReading(n, None) for n in names]


def bake(read: Callable[[], list[AlarmReading]], bake_seconds: int, *, now: Callable[[], datetime],
         sleep: Callable[[float], object] = time.sleep, poll_seconds: float = 15.0,
         on_progress: Callable[[str], object] = lambda line: None) -> Decision:
    """Read the alarms every ``poll_seconds`` until ``decide`` stops waiting; a fired alarm ends the bake early."""
    started = now()
    while True:
        decision = decide(read(), started, now(), bake_seconds)
        if decision.verdict != WAIT:
            return decision
        on_progress(decision.reason)
        sleep(poll_seconds)


@dataclass
class CanaryOutcome:
    stack: str
    image_tag: str
    decision: Decision
    applied: list[dict[str, str]] = field(default_factory=list)
    """The config of each ``up``, in order (the canary, then the promotion or the rollback)."""

    @property
    def exit_code(self) -> int:
        return 0 if self.decision.verdict == PROMOTE else 1

    def summary(self) -> str:
        done = "promoted: the stable Deployment runs it" if self.decision.verdict == PROMOTE else \
            "ROLLED BACK: canary removed, the stable Deployment unchanged"
        return f"{self.stack}: image {self.image_tag} {done} ({self.decision.reason})"


def release(stack: str, image_tag: str, *, apply: Callable[[Mapping[str, str]], object],
            read: Callable[[], list[AlarmReading]], bake_seconds: int, now: Callable[[], datetime],
            sleep: Callable[[float], object] = time.sleep, poll_seconds: float = 15.0,
            on_progress: Callable[[str], object] = lambda line: None) -> CanaryOutcome:
    """Canary ``image_tag`` on ``stack``, bake, then promote it or roll it back, each step an ``apply`` (``up``)."""
    outcome = CanaryOutcome(stack, image_tag, Decision(WAIT, "not started"))

    def up(config: dict[str, str]) -> None:
        outcome.applied.append(config)
        apply(config)

    up({CANARY_KEY: image_tag})
    on_progress(f"{stack}: canary {image_tag} up; baking {bake_seconds} s under its rollback alarms")
    outcome.decision = bake(read, bake_seconds, now=now, sleep=sleep, poll_seconds=poll_seconds,
                            on_progress=on_progress)
    if outcome.decision.verdict == PROMOTE:
        up({STABLE_KEY: image_tag, CANARY_KEY: ""})
    else:
        up({CANARY_KEY: ""})
    on_progress(outcome.summary())
    return outcome


def run_canary(ctx, stack: str, image_tag: str, *, poll_seconds: float = 15.0,
               sleep: Callable[[float], object] = time.sleep) -> CanaryOutcome:
    """``prodline canary``: release ``image_tag`` on a Kubernetes stack through the Pulumi CLI, keeping the model
    version the stack's record says it serves."""
    from prodline import automation
    from prodline.delivery import records
    from prodline.delivery.engines import EngineError, PulumiEngine, model_config

    PulumiEngine().check()  # no Pulumi CLI: EngineUnavailable before anything changes
    settings = ctx.settings(stack)
    if settings.platform != "kubernetes":
        raise ValueError(f"{stack} serves from {settings.platform}: SageMaker bakes and rolls back its own canaries "
                         "(prodline deploy); prodline canary is for prodline:servingPlatform=kubernetes")
    current = records.read_version(ctx, stack)
    pinned = model_config(current.model_package_arn if current else None)

    def apply(config: Mapping[str, str]) -> None:
        result = automation.up(stack, {**pinned, **config}, on_output=ctx.on_progress)
        outcome = getattr(getattr(result, "summary", None), "result", "succeeded")
        if outcome != "succeeded":
            raise EngineError(f"pulumi up of {stack} ended {outcome}")

    names = rollback_alarm_names(settings.endpoint_name, CANARY_DEPLOYMENT)
    return release(stack, image_tag, apply=apply, read=lambda: read_alarms(ctx.clients("cloudwatch"), names),
                   bake_seconds=settings.canary_bake_seconds, now=ctx.now, sleep=sleep, poll_seconds=poll_seconds,
                   on_progress=ctx.on_progress)
