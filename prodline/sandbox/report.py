"""The demo's report: the HTML file (steps, deployments per stack, drift per feature, model metrics per version,
endpoint latency) and the summary printed at the end.

Charts are small inline SVGs drawn here, so the report is one self-contained file with no plotting
dependency and opens anywhere.
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prodline.stats import percentile

PALETTE = ("#3b6ea5", "#e07b39", "#4c9f70", "#b5485d", "#7a5ea8")


@dataclass(frozen=True)
class StepResult:
    step: str
    result: str
    seconds: float
    ok: bool = True


FENCE = 3.0
"""The value axis ends at the largest value that is not far out: above Tukey's outer fence, Q3 + 3 x (Q3 - Q1).
One outlier (a latency spike, one feature's huge PSI) then cannot squash every other value against the axis.
Values above the end are drawn at it, marked and counted, with their real value in their tooltip."""
TICKS = 4
LEFT, RIGHT, TOP = 64, 12, 30


def axis_top(values: Sequence[float], floor: float = 0.0) -> float:
    """End of the value axis: the largest value inside the outer fence (every value, with fewer than four), at
    least ``floor`` (a threshold that must stay visible), plus headroom."""
    present = [v for v in values if math.isfinite(v)]
    if not present:
        return max(floor, 1.0)
    if len(present) >= 4:
        q1, q3 = percentile(present, 25), percentile(present, 75)
        fence = q3 + FENCE * max(q3 - q1, 0.1 * abs(q3))  # identical values are not a spread of zero
        present = [v for v in present if v <= fence] or present
    return max(*present, floor, 1e-9) * 1.1


def _frame(title: str, width: int, height: int, plot_h: float, top: float, *, x_label: str, y_label: str,
           bottom_room: int) -> list[str]:
    """The SVG's title, the value axis with ticks and gridlines, and both axis titles."""
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img">',
             f'<text x="{LEFT}" y="16" font-size="14" font-weight="bold">{html.escape(title)}</text>']
    for i in range(TICKS + 1):
        value = top * i / TICKS
        y = TOP + plot_h - plot_h * i / TICKS
        parts.append(f'<line x1="{LEFT}" y1="{y:.1f}" x2="{width - RIGHT}" y2="{y:.1f}" stroke="#ddd"/>'
                     f'<text class="y-tick" x="{LEFT - 4}" y="{y + 3:.1f}" font-size="9" text-anchor="end">'
                     f'{value:.3g}</text>')
    parts.append(f'<line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{TOP + plot_h}" stroke="#333"/>'
                 f'<line x1="{LEFT}" y1="{TOP + plot_h}" x2="{width - RIGHT}" y2="{TOP + plot_h}" stroke="#333"/>')
    middle = TOP + plot_h / 2
    parts.append(f'<text class="y-label" x="12" y="{middle:.1f}" font-size="11" text-anchor="middle" '
                 f'transform="rotate(-90 12 {middle:.1f})">{html.escape(y_label)}</text>')
    parts.append(f'<text class="x-label" x="{(LEFT + width - RIGHT) / 2:.1f}" y="{TOP + plot_h + bottom_room}" '
                 f'font-size="11" text-anchor="middle">{html.escape(x_label)}</text>')
    return parts


def _clipped_note(clipped: list[float], top: float, width: int) -> str:
    if not clipped:
        return ""
    return (f'<text class="clipped" x="{width - RIGHT}" y="{TOP - 4}" font-size="10" text-anchor="end" '
            f'fill="#b5485d">{len(clipped)} value(s) above {top:.3g} drawn at the top (max {max(clipped):.3g}) '
            '&#9650;</text>')


def _threshold_line(threshold: float | None, top: float, plot_h: float, width: int) -> str:
    if threshold is None:
        return ""
    y = TOP + plot_h - plot_h * min(threshold, top) / top
    return (f'<line x1="{LEFT}" y1="{y:.1f}" x2="{width - RIGHT}" y2="{y:.1f}" stroke="#b5485d" '
            f'stroke-dasharray="4 3"/><text x="{width - RIGHT - 2}" y="{y - 4:.1f}" font-size="10" '
            f'text-anchor="end" fill="#b5485d">threshold {threshold:g}</text>')


def _legend(series: Sequence[str], width: int) -> str:
    return "".join(f'<rect x="{width - RIGHT - (len(series) - j) * 110}" y="6" width="10" height="10" '
                   f'fill="{PALETTE[j % len(PALETTE)]}"/><text x="{width - RIGHT - (len(series) - j) * 110 + 14}" '
                   f'y="15" font-size="11">{html.escape(name)}</text>' for j, name in enumerate(series))


def bar_chart(title: str, groups: Mapping[str, Mapping[str, float]], *, x_label: str, y_label: str,
              threshold: float | None = None, width: int = 860, height: int = 340) -> str:
    """Grouped bars: one group per label, one bar per series (e.g. feature -> {fresh, drifted}).
    ``y_label`` names the value and its unit."""
    labels = list(groups)
    series = sorted({s for values in groups.values() for s in values})
    values = [v for group in groups.values() for v in group.values()]
    top = axis_top(values, threshold or 0.0)
    plot_h = height - TOP - 120  # room below the axis for slanted labels and the axis title
    slot = (width - LEFT - RIGHT) / max(len(labels), 1)
    bar = slot * 0.8 / max(len(series), 1)
    parts = _frame(title, width, height, plot_h, top, x_label=x_label, y_label=y_label, bottom_room=112)
    clipped = []
    for i, label in enumerate(labels):
        x0 = LEFT + i * slot + slot * 0.1
        for j, name in enumerate(series):
            value = groups[label].get(name, 0.0)
            shown = min(value, top)
            h = plot_h * shown / top
            parts.append(f'<rect x="{x0 + j * bar:.1f}" y="{TOP + plot_h - h:.1f}" width="{bar - 2:.1f}" '
                         f'height="{h:.1f}" fill="{PALETTE[j % len(PALETTE)]}"><title>{html.escape(label)} '
                         f'{html.escape(name)}: {value:.3g}</title></rect>')
            marker = ""
            if value > top:
                clipped.append(value)
                marker = "&#9650;"
            parts.append(f'<text x="{x0 + j * bar + (bar - 2) / 2:.1f}" y="{TOP + plot_h - h - 4:.1f}" font-size="9" '
                         f'text-anchor="middle">{marker}{value:.2g}</text>')
        label_x, label_y = x0 + slot * 0.4, TOP + plot_h + 14
        parts.append(f'<text x="{label_x:.1f}" y="{label_y}" font-size="11" text-anchor="end" '
                     f'transform="rotate(-30 {label_x:.1f} {label_y})">{html.escape(label)}</text>')
    parts += [_threshold_line(threshold, top, plot_h, width), _legend(series, width),
              _clipped_note(clipped, top, width), "</svg>"]
    return "".join(parts)


def xy_chart(title: str, series: Mapping[str, Sequence[tuple[float, float]]], *, x_label: str, y_label: str,
             threshold: float | None = None, markers: bool = False, width: int = 860, height: int = 280) -> str:
    """Lines (and, with ``markers``, dots) of (x, y) points per series; the axis titles name the units."""
    points = [p for values in series.values() for p in values]
    top = axis_top([y for _, y in points], threshold or 0.0)
    xs = [x for x, _ in points] or [0.0, 1.0]
    pad = (max(xs) - min(xs)) * 0.03 or 0.5  # points at the ends stay off the value axis
    x_low, x_high = min(xs) - pad, max(xs) + pad
    span = x_high - x_low
    plot_w, plot_h = width - LEFT - RIGHT, height - TOP - 50
    parts = _frame(title, width, height, plot_h, top, x_label=x_label, y_label=y_label, bottom_room=42)
    for value in (min(xs), max(xs)):
        x = LEFT + plot_w * (value - x_low) / span
        parts.append(f'<text class="x-tick" x="{x:.1f}" y="{TOP + plot_h + 14}" font-size="9" '
                     f'text-anchor="middle">{value:.4g}</text>')
    clipped = []
    for j, (name, values) in enumerate(series.items()):
        color = PALETTE[j % len(PALETTE)]
        coords = []
        for x, y in values:
            cx, cy = LEFT + plot_w * (x - x_low) / span, TOP + plot_h - plot_h * min(y, top) / top
            coords.append(f"{cx:.1f},{cy:.1f}")
            if y > top:
                clipped.append(y)
                parts.append(f'<text class="clip-mark" x="{cx:.1f}" y="{cy + 3:.1f}" font-size="9" '
                             f'text-anchor="middle" fill="#b5485d">&#9650;<title>{y:.4g}</title></text>')
            elif markers:
                parts.append(f'<circle cx="{cx:.1f}" cy="{cy:.1f}" r="4" fill="{color}"><title>{html.escape(name)}: '
                             f'{y:.3g} at {x:.4g}</title></circle>')
        if len(coords) > 1:
            parts.append(f'<polyline fill="none" stroke="{color}" stroke-width="1.5" points="{" ".join(coords)}"/>')
    parts += [_threshold_line(threshold, top, plot_h, width), _legend(list(series), width),
              _clipped_note(clipped, top, width), "</svg>"]
    return "".join(parts)


def line_chart(title: str, series: Mapping[str, Sequence[float]], *, x_label: str, y_label: str,
               width: int = 860, height: int = 280) -> str:
    """One line per series over its values in order (x: the value's position, from 1)."""
    return xy_chart(title, {name: [(i + 1, v) for i, v in enumerate(values)] for name, values in series.items()},
                    x_label=x_label, y_label=y_label, width=width, height=height)


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
