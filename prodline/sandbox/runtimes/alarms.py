"""CloudWatch alarm evaluation, locally: moto stores alarms and metrics but never evaluates them.

Each alarm is read back from the emulator (describe_alarms) and judged on the emulator's metric data over
its own period and evaluation periods; a change of state is written back (set_alarm_state) and returned
as the "CloudWatch Alarm State Change" event AWS would emit. moto does not compute percentiles, so a
percentile statistic is read as the maximum of the per-window percentiles the hosting gateway publishes.
Metric-math alarms are not evaluated (left as they are, and said so).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

ALARM, OK, INSUFFICIENT = "ALARM", "OK", "INSUFFICIENT_DATA"
_COMPARE = {
    "GreaterThanThreshold": lambda v, t: v > t,
    "GreaterThanOrEqualToThreshold": lambda v, t: v >= t,
    "LessThanThreshold": lambda v, t: v < t,
    "LessThanOrEqualToThreshold": lambda v, t: v <= t,
}


@dataclass(frozen=True)
class Judgement:
    alarm: str
    arn: str
    previous: str
    state: str
    reason: str

    @property
    def changed(self) -> bool:
        return self.previous != self.state


def evaluate(clients, alarm_names: list[str], *, since: dt.datetime | None = None,
             now: dt.datetime | None = None) -> list[Judgement]:
    """Judge alarms on their metric data; write changed states back; return every judgement."""
    cloudwatch = clients("cloudwatch")
    now = now or dt.datetime.now(dt.UTC)
    judgements = []
    for alarm in cloudwatch.describe_alarms(AlarmNames=alarm_names).get("MetricAlarms", []):
        if alarm.get("Metrics"):
            continue  # metric math: not evaluated in the sandbox
        state, reason = _judge(cloudwatch, alarm, since, now)
        judgement = Judgement(alarm["AlarmName"], alarm["AlarmArn"], alarm.get("StateValue", INSUFFICIENT), state,
                              reason)
        if judgement.changed:
            cloudwatch.set_alarm_state(AlarmName=alarm["AlarmName"], StateValue=state, StateReason=reason[:1000])
        judgements.append(judgement)
    return judgements


def _judge(cloudwatch, alarm: dict, since: dt.datetime | None, now: dt.datetime) -> tuple[str, str]:
    period = int(alarm.get("Period", 60))
    periods = int(alarm.get("EvaluationPeriods", 1))
    needed = int(alarm.get("DatapointsToAlarm") or periods)
    start = now - dt.timedelta(seconds=period * periods)
    if since and since > start:
        start = since
    statistic = alarm.get("Statistic") or "Maximum"  # percentiles: see the module docstring
    points = cloudwatch.get_metric_statistics(
        Namespace=alarm["Namespace"], MetricName=alarm["MetricName"], Dimensions=alarm.get("Dimensions", []),
        StartTime=start, EndTime=now + dt.timedelta(seconds=1), Period=period, Statistics=[statistic],
    ).get("Datapoints", [])
    values = [p[statistic] for p in sorted(points, key=lambda p: p["Timestamp"]) if statistic in p][-periods:]
    compare = _COMPARE[alarm["ComparisonOperator"]]
    threshold = float(alarm["Threshold"])
    breaching = [v for v in values if compare(v, threshold)]
    missing = periods - len(values)
    treat = alarm.get("TreatMissingData", "missing")
    if treat == "breaching":
        breaching += [None] * missing
    if len(breaching) >= needed:
        shown = ", ".join(f"{v:g}" for v in values) or "no data"
        return ALARM, (f"{len(breaching)} of the last {periods} datapoints breach {alarm['ComparisonOperator']} "
                       f"{threshold:g} ({shown})")
    if not values and treat == "missing":
        return INSUFFICIENT, "no datapoints"
    return OK, f"{len(breaching)} of the last {periods} datapoints breach the threshold (need {needed})"


def state_change_event(judgement: Judgement) -> dict:
    return {"source": "aws.cloudwatch", "detail-type": "CloudWatch Alarm State Change", "resources": [judgement.arn],
            "detail": {"alarmName": judgement.alarm, "state": {"value": judgement.state, "reason": judgement.reason},
                       "previousState": {"value": judgement.previous}}}
