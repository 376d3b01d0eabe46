"""The estimate as a table, Markdown or JSON, and the difference between two estimates (a pull request's).

Lines are matched by resource type, name and what they price, so a compare shows per line what is new,
gone or changed, and the totals' difference, as Infracost's pull-request comment does.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from standards.cost.estimate import Estimate, StackBudget

Key = tuple[str, str, str, int]


def _money(value: float) -> str:
    return f"${value:,.2f}"


def _range(low: float, high: float) -> str:
    return _money(low) if abs(high - low) < 0.005 else f"{_money(low)} - {_money(high)}"


def as_dict(estimate: Estimate, budget: StackBudget, stack: str) -> dict[str, Any]:
    data = {
        "stack": stack, "region": estimate.region, "currency": "USD",
        "prices": {"region": estimate.prices.region, "date": estimate.prices.date, "source": estimate.prices.source,
                   "matchesStackRegion": estimate.prices.region == estimate.region},
        "budgetUsd": budget.limit_usd,
        "total": {"low": round(estimate.low, 2), "high": round(estimate.high, 2)},
        "lines": [{"type": x.type, "name": x.name, "what": x.what, "unit": x.unit, "priceKey": x.price_key,
                   "quantity": {"low": round(x.quantity_low, 4), "high": round(x.quantity_high, 4)},
                   "unitPrice": x.unit_price, "monthly": {"low": round(x.low, 2), "high": round(x.high, 2)}}
                  for x in estimate.lines],
        "unpriced": [{"type": x.type, "name": x.name, "reason": x.reason} for x in estimate.unpriced],
        "free": [{"type": x.type, "name": x.name, "reason": x.reason} for x in estimate.free],
    }
    warning = borrowed_prices(data)
    return data if warning is None else {"warning": warning, **data}


def _rows(data: dict[str, Any]) -> list[list[str]]:
    return [[f"{x['name']} ({x['type'].rsplit(':', 1)[-1]})", x["what"], x["unit"],
             _range(x["quantity"]["low"], x["quantity"]["high"]).replace("$", ""), f"${x['unitPrice']:g}",
             _range(x["monthly"]["low"], x["monthly"]["high"])] for x in data["lines"]]


HEADERS = ["resource", "what", "unit", "quantity", "unit price", "monthly"]


def borrowed_prices(data: dict[str, Any]) -> str | None:
    """The warning an estimate made with another region's prices carries in every format, or None."""
    if data["prices"]["region"] == data["region"]:
        return None
    return (f"PRICED WITH {data['prices']['region']} PRICES, not those of the stack's region {data['region']} "
            f"(--prices-region {data['prices']['region']})")


def title(data: dict[str, Any]) -> str:
    warning = "" if borrowed_prices(data) is None else f", {data['prices']['region'].upper()} PRICES"
    return f"prodline cost: stack {data['stack']} in {data['region']} (USD a month{warning})"


def notes(data: dict[str, Any]) -> list[str]:
    found = [f"total {_range(data['total']['low'], data['total']['high'])} a month; budget {_money(data['budgetUsd'])}",
             f"prices: {data['prices']['region']} list prices of {data['prices']['date']}"]
    warning = borrowed_prices(data)
    if warning:
        found.insert(0, warning)
    by_type: dict[str, list[str]] = {}
    for x in data["unpriced"]:
        by_type.setdefault(f"{x['type']}: {x['reason']}", []).append(x["name"])
    found += [f"unpriced {what} ({', '.join(names)})" for what, names in by_type.items()]
    free_types = sorted({x["type"] for x in data["free"]})
    found.append(f"free: {len(data['free'])} resources of {len(free_types)} types (--json lists each with its reason)")
    return found


def print_table(data: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title(data))
    for header in HEADERS:
        table.add_column(header, overflow="fold")
    for row in _rows(data):
        table.add_row(*row)
    table.add_row("total", "", "", "", "", _range(data["total"]["low"], data["total"]["high"]))
    console = Console(width=200)
    console.print(table)
    for line in notes(data):
        console.print(line, highlight=False)


def markdown(data: dict[str, Any]) -> str:
    warning = borrowed_prices(data)
    out = [f"### {title(data)}", *([] if warning is None else ["", f"**{warning}**"]), "",
           "| " + " | ".join(HEADERS) + " |",
           "|" + "---|" * len(HEADERS)]
    out += ["| " + " | ".join(cell.replace("|", "/") for cell in row) + " |" for row in _rows(data)]
    out.append(f"| **total** | | | | | **{_range(data['total']['low'], data['total']['high'])}** |")
    out += ["", *(f"- {line}" for line in notes(data))]
    return "\n".join(out) + "\n"


def one_line(registrations: Sequence[Any]) -> str:
    """The estimate's total range and the budget, for the demo's facts (no program run, a few ms)."""
    from standards.cost.estimate import Resource, estimate_stack

    estimate, budget = estimate_stack([Resource(r.type, r.name, r.inputs) for r in registrations])
    return (f"{_range(estimate.low, estimate.high)} a month estimated ({estimate.prices.region} list prices of "
            f"{estimate.prices.date}), held to a budget of {_money(budget.limit_usd)}")


def _by_key(data: dict[str, Any]) -> dict[Key, dict[str, Any]]:
    """Lines by resource and price (the description changes with the quantities; a pipeline may run two
    steps on one instance type, hence the ordinal)."""
    found: dict[Key, dict[str, Any]] = {}
    for x in data["lines"]:
        ordinal = sum(1 for k in found if k[:3] == (x["type"], x["name"], x["priceKey"]))
        found[(x["type"], x["name"], x["priceKey"], ordinal)] = x
    return found


def diff(base: dict[str, Any], head: dict[str, Any]) -> dict[str, Any]:
    """Per line and in total, what ``head`` adds to ``base`` (low and high), new and removed lines included."""
    before, after = _by_key(base), _by_key(head)
    changes = []
    for key in [*after, *(k for k in before if k not in after)]:
        old, new = before.get(key), after.get(key)
        zero = {"low": 0.0, "high": 0.0}
        old_m, new_m = (old or {"monthly": zero})["monthly"], (new or {"monthly": zero})["monthly"]
        delta = {"low": round(new_m["low"] - old_m["low"], 2), "high": round(new_m["high"] - old_m["high"], 2)}
        if old and new and delta == zero:
            continue
        changes.append({"type": key[0], "name": key[1], "what": (new or old)["what"],
                        "change": "added" if old is None else "removed" if new is None else "changed",
                        "before": old_m, "after": new_m, "difference": delta})
    total = {k: round(head["total"][k] - base["total"][k], 2) for k in ("low", "high")}
    warnings = sorted({w for w in (base.get("warning"), head.get("warning")) if w})
    return {"base": base["stack"], "head": head["stack"], "lines": changes, "total": total,
            "baseTotal": base["total"], "headTotal": head["total"],
            "pricesRegion": {"base": base["prices"]["region"], "head": head["prices"]["region"]},
            **({"warnings": warnings} if warnings else {})}


def _signed(low: float, high: float) -> str:
    def one(v: float) -> str:
        return f"{'+' if v >= 0 else '-'}${abs(v):,.2f}"
    return one(low) if abs(high - low) < 0.005 else f"{one(low)} - {one(high)}"


def diff_markdown(d: dict[str, Any]) -> str:
    out = [f"### prodline cost: `{d['head']}` against `{d['base']}`", *(f"\n**{w}**" for w in d.get("warnings", [])),
           "", "| resource | what | change | before | after | difference |", "|---|---|---|---|---|---|"]
    for x in d["lines"]:
        out.append(f"| {x['name']} ({x['type'].rsplit(':', 1)[-1]}) | {x['what']} | {x['change']} | "
                   f"{_range(x['before']['low'], x['before']['high'])} | "
                   f"{_range(x['after']['low'], x['after']['high'])} | "
                   f"{_signed(x['difference']['low'], x['difference']['high'])} |")
    out.append(f"| **total** | | | {_range(d['baseTotal']['low'], d['baseTotal']['high'])} | "
               f"{_range(d['headTotal']['low'], d['headTotal']['high'])} | "
               f"**{_signed(d['total']['low'], d['total']['high'])}** |")
    return "\n".join(out) + "\n"
