"""How many times a month an EventBridge / Glue ``rate()`` or ``cron()`` expression fires.

An estimate, not a scheduler: a month is 730 hours (AWS's own billing month), a day-of-month list counts
its days, a day-of-week list counts 4.35 weeks a month. Expressions it cannot read raise ValueError naming
the expression, so a schedule is never silently counted as zero runs.
"""

from __future__ import annotations

import re

HOURS_PER_MONTH = 730.0
DAYS_PER_MONTH = HOURS_PER_MONTH / 24
WEEKS_PER_MONTH = DAYS_PER_MONTH / 7
_RATE = re.compile(r"rate\((\d+)\s+(minute|minutes|hour|hours|day|days)\)")
_CRON = re.compile(r"cron\((.+)\)")
_UNIT_HOURS = {"minute": 1 / 60, "hour": 1.0, "day": 24.0}
_WEEKDAYS = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")


def runs_per_month(expression: str) -> float:
    """Firings per 730-hour month of ``rate(N unit)`` or a six-field AWS ``cron(...)``."""
    text = expression.strip()
    rate = _RATE.fullmatch(text)
    if rate:
        count, unit = int(rate.group(1)), rate.group(2).rstrip("s")
        if count < 1:
            raise ValueError(f"schedule {expression!r}: a rate needs a positive count")
        return HOURS_PER_MONTH / (count * _UNIT_HOURS[unit])
    cron = _CRON.fullmatch(text)
    if not cron or len(cron.group(1).split()) != 6:
        raise ValueError(f"schedule {expression!r}: expected rate(N minutes|hours|days) or cron() with six fields")
    minutes, hours, day_of_month, month, day_of_week, _year = cron.group(1).split()
    per_day = _count(minutes, 60) * _count(hours, 24)
    if day_of_month not in ("*", "?"):
        days = _count(day_of_month, 31)
    elif day_of_week not in ("*", "?"):
        days = _count(day_of_week, 7, _WEEKDAYS) * WEEKS_PER_MONTH
    else:
        days = DAYS_PER_MONTH
    months = 1.0 if month == "*" else _count(month, 12) / 12
    return per_day * days * months


def _count(field: str, size: int, names: tuple[str, ...] = ()) -> float:
    """Values a cron field takes in its range of ``size``: ``*``, ``a,b``, ``a-b``, ``*/n``, ``a/n``."""
    total = 0.0
    for part in field.upper().split(","):
        base, _, step = part.partition("/")
        stride = int(step) if step else 1
        if base in ("*", "?"):
            span = size
        elif "-" in base:
            low, high = (_value(v, names) for v in base.split("-", 1))
            span = high - low + 1
        else:
            span = size - _value(base, names) if step else 1
        if span < 1 or stride < 1:
            raise ValueError(f"cron field {field!r} selects nothing")
        total += -(-span // stride)
    return total


def _value(text: str, names: tuple[str, ...]) -> int:
    if text in names:
        return names.index(text)
    if not text.isdigit():
        raise ValueError(f"cron value {text!r} is not a number")
    return int(text)
