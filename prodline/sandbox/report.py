"""The demo's report: the HTML file (steps, deployments per stack, drift per feature, model metrics per version,
endpoint latency) and the summary printed at the end.

Charts are small inline SVGs drawn here, so the report is one self-contained file with no plotting
dependency and opens anywhere.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PALETTE = ("#3b6ea5", "#e07b39", "#4c9f70", "#b5485d", "#7a5ea8")


@dataclass(frozen=True)
class StepResult:
    step: str
    result: str
    seconds: float
    ok: bool = True


def bar_chart(title: str, groups: Mapping[str, Mapping[str, float]], threshold: float | None = None,
              width: int = 860, height: int = 320) -> str:
    """Grouped bars: one group per label, one bar per series (e.g. feature -> {fresh, drifted})."""
    labels = list(groups)
    series = sorted({s for values in groups.values() for s in values})
    top = max([v for values in groups.values() for v in values.values()] + [threshold or 0, 1e-9]) * 1.15
    left, plot_h = 50, height - 130  # room below the axis for slanted labels
    slot = (width - left - 10) / max(len(labels), 1)
    bar = slot * 0.8 / max(len(series), 1)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img">',
             f'<text x="{left}" y="16" font-size="14" font-weight="bold">{html.escape(title)}</text>',
             f'<line x1="{left}" y1="{30 + plot_h}" x2="{width - 10}" y2="{30 + plot_h}" stroke="#333"/>']
    for i, label in enumerate(labels):
        x0 = left + i * slot + slot * 0.1
        for j, name in enumerate(series):
            value = groups[label].get(name, 0.0)
            h = plot_h * value / top
            parts.append(f'<rect x="{x0 + j * bar:.1f}" y="{30 + plot_h - h:.1f}" width="{bar - 2:.1f}" '
                         f'height="{h:.1f}" fill="{PALETTE[j % len(PALETTE)]}"><title>{html.escape(label)} '
                         f'{html.escape(name)}: {value:.3g}</title></rect>')
            parts.append(f'<text x="{x0 + j * bar + (bar - 2) / 2:.1f}" y="{26 + plot_h - h:.1f}" font-size="9" '
                         f'text-anchor="middle">{value:.2g}</text>')
        label_x, label_y = x0 + slot * 0.4, 30 + plot_h + 14
        parts.append(f'<text x="{label_x:.1f}" y="{label_y}" font-size="11" text-anchor="end" '
                     f'transform="rotate(-30 {label_x:.1f} {label_y})">{html.escape(label)}</text>')
    if threshold is not None:
        y = 30 + plot_h - plot_h * threshold / top
        parts.append(f'<line x1="{left}" y1="{y:.1f}" x2="{width - 10}" y2="{y:.1f}" stroke="#b5485d" '
                     f'stroke-dasharray="4 3"/><text x="{width - 12}" y="{y - 4:.1f}" font-size="10" '
                     f'text-anchor="end" fill="#b5485d">threshold {threshold:g}</text>')
    for j, name in enumerate(series):  # legend, top right
        x = width - 10 - (len(series) - j) * 110
        parts.append(f'<rect x="{x}" y="6" width="10" height="10" fill="{PALETTE[j % len(PALETTE)]}"/>'
                     f'<text x="{x + 14}" y="15" font-size="11">{html.escape(name)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def line_chart(title: str, series: Mapping[str, Sequence[float]], unit: str, width: int = 860,
               height: int = 240) -> str:
    left, plot_w, plot_h = 50, width - 60, height - 70
    top = max([v for values in series.values() for v in values] + [1e-9]) * 1.1
    longest = max([len(v) for v in series.values()] + [2])
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img">',
             f'<text x="{left}" y="16" font-size="14" font-weight="bold">{html.escape(title)}</text>',
             f'<text x="4" y="36" font-size="10">{top:.3g} {html.escape(unit)}</text>',
             f'<line x1="{left}" y1="{30 + plot_h}" x2="{left + plot_w}" y2="{30 + plot_h}" stroke="#333"/>']
    for j, (name, values) in enumerate(series.items()):
        points = " ".join(f"{left + plot_w * i / (longest - 1):.1f},{30 + plot_h - plot_h * v / top:.1f}"
                          for i, v in enumerate(values))
        parts.append(f'<polyline fill="none" stroke="{PALETTE[j % len(PALETTE)]}" stroke-width="1.5" '
                     f'points="{points}"/><text x="{left + j * 160}" y="{height - 8}" font-size="11" '
                     f'fill="{PALETTE[j % len(PALETTE)]}">{html.escape(name)}</text>')
    parts.append("</svg>")
    return "".join(parts)


DELIVERY_COLUMNS = ("stack", "version", "promotedBy", "when", "outcome")
SCORING_COLUMNS = ("started by", "partition", "rows scored", "model version", "transform job", "requests", "status")


def table_section(title: str, note: str, columns: Sequence[str], rows: Sequence[Sequence[Any]],
                  bad: Any = lambda row: False) -> str:
    """A report section holding one table (empty when there are no rows)."""
    if not rows:
        return ""
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = "".join(f"<tr class=\"{'bad' if bad(row) else 'ok'}\">"
                   + "".join(f"<td>{html.escape(str(cell))}</td>" for cell in row) + "</tr>" for row in rows)
    return (f"<section><h2>{html.escape(title)}</h2><p>{html.escape(note)}</p>"
            f"<table><tr>{head}</tr>{body}</table></section>")


def streaming_panel(counts: Mapping[str, int]) -> str:
    """Streamed records at each stage, and whether each stage's counts reconcile with the one before."""
    if not counts:
        return ""
    rows = "".join(f"<tr><th>{html.escape(k)}</th><td>{v}</td></tr>" for k, v in counts.items())
    checks = []
    if "sent" in counts:
        checks.append(("sent = delivered + error prefix",
                       counts["sent"] == counts.get("delivered", 0) + counts.get("errored", 0)))
    if "ETL stream in" in counts:
        checks.append(("ETL stream in = delivered", counts["ETL stream in"] == counts.get("delivered")))
        checks.append(("ETL stream in = curated + quarantined + duplicates", counts["ETL stream in"] == sum(
            counts.get(f"ETL stream {k}", 0) for k in ("curated", "quarantined", "duplicates"))))
    check_rows = "".join(f"<tr class=\"{'ok' if ok else 'bad'}\"><td>{html.escape(what)}</td>"
                         f"<td>{'holds' if ok else 'does not hold'}</td></tr>" for what, ok in checks)
    return ("<section><h2>Streaming ingestion</h2><p>Events put on the Kinesis stream by the producer, delivered by "
            "the Firehose runtime into the raw zone (or its error prefix), then read by the validate job.</p>"
            f"<table>{rows}</table><table><tr><th>reconciliation</th><th></th></tr>{check_rows}</table></section>")


def render(stack: str, steps: Sequence[StepResult], charts: Sequence[str], facts: Mapping[str, str],
           deliveries: Sequence[Sequence[str]] = (), *, streaming: Mapping[str, int] | None = None,
           scoring: Sequence[Sequence[Any]] = ()) -> str:
    """The report; ``deliveries`` are rows of DELIVERY_COLUMNS (one per deploy outcome, in order), ``streaming``
    the streamed records' counts per stage (``streaming_panel``), ``scoring`` rows of SCORING_COLUMNS (one per
    batch scoring run)."""
    deliveries_html = table_section(
        "Deployments", "What the deployers did, from the deploy path's events on each stack's bus (UTC).",
        DELIVERY_COLUMNS, deliveries, bad=lambda row: str(row[4]).startswith("Failed"))
    deliveries_html += table_section(
        "Batch scoring", "Features partitions scored by the served model through Batch Transform (the transform "
        "runtime, against the real server); every row in the predictions table carries the model version and job.",
        SCORING_COLUMNS, scoring, bad=lambda row: row[-1] != "Succeeded")
    rows = "".join(
        f"<tr class=\"{'ok' if s.ok else 'bad'}\"><td>{html.escape(s.step)}</td><td>{html.escape(s.result)}</td>"
        f"<td>{s.seconds:.1f}</td></tr>" for s in steps)
    fact_rows = "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>" for k, v in facts.items())
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>prodline sandbox: {html.escape(stack)}</title>
<style>body{{font-family:sans-serif;margin:2em;max-width:60em}}table{{border-collapse:collapse;margin:1em 0}}
td,th{{border:1px solid #ccc;padding:4px 8px;text-align:left}}tr.bad td{{background:#fbe9eb}}
section{{margin:2em 0}}</style></head>
<body><h1>prodline sandbox lifecycle: stack {html.escape(stack)}</h1>
<section><h2>Steps</h2><table><tr><th>step</th><th>result</th><th>seconds</th></tr>{rows}</table></section>
{deliveries_html}
{streaming_panel(streaming or {})}
<section><h2>Facts</h2><table>{fact_rows}</table></section>
{"".join(f"<section>{chart}</section>" for chart in charts)}
</body></html>
"""


def print_summary(console: Any, stack: str, steps: Sequence[StepResult], deliveries: Sequence[Any],
                  facts: Mapping[str, str], *, report: Path | None) -> None:
    """The tables the demo ends with: its steps, then the deployments (objects with DELIVERY_COLUMNS' fields)."""
    from rich.table import Table

    table = Table(title=f"prodline sandbox lifecycle: {stack}")
    for column in ("step", "result", "time"):
        table.add_column(column, overflow="fold")
    for s in steps:
        table.add_row(("" if s.ok else "[red]") + s.step, s.result, f"{s.seconds:.1f} s")
    console.print(table)
    if deliveries:
        deployments = Table(title="deployments (from the deploy path's events, UTC)")
        for column in DELIVERY_COLUMNS:
            deployments.add_column(column, overflow="fold")
        for r in deliveries:
            deployments.add_row(r.stack, r.version, r.promoted_by, r.when,
                                ("[red]" if r.outcome.startswith("Failed") else "") + r.outcome)
        console.print(deployments)
    for key, value in facts.items():
        console.print(f"  {key}: [bold]{value}[/bold]")
    total = sum(s.seconds for s in steps)
    console.print(f"  total: {total:.0f} s" + (f"; report: {report}" if report else ""))
