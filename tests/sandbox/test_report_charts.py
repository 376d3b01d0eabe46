"""The report's charts: every axis is titled with its unit, and one outlier cannot set the scale."""

from __future__ import annotations

import re

import pytest

from prodline.sandbox import report

LABELS = {"x_label": "request number (count)", "y_label": "latency (ms)"}


def axis_titles(svg: str) -> dict[str, str]:
    return dict(re.findall(r'class="([xy]-label)"[^>]*>([^<]*)<', svg))


def y_ticks(svg: str) -> list[float]:
    return [float(v) for v in re.findall(r'class="y-tick"[^>]*>([^<]*)<', svg)]


def plotted_ys(svg: str) -> list[float]:
    """y of every point of the chart's lines (SVG y grows downwards)."""
    points = " ".join(re.findall(r'<polyline[^>]*points="([^"]*)"', svg))
    return [float(p.split(",")[1]) for p in points.split()]


CHARTS = {
    "bars": lambda: report.bar_chart("PSI", {"tenure": {"fresh": 0.01, "drifted": 0.4}}, threshold=0.2,
                                     x_label="model input (feature)", y_label="PSI (unitless)"),
    "lines": lambda: report.line_chart("latency", {"fresh": [5.0, 6.0, 7.0]}, **LABELS),
    "points": lambda: report.xy_chart("quality", {"v1": [(10.0, 0.8), (40.0, 0.5)]}, markers=True, threshold=0.7,
                                      x_label="time since the demo began (s)", y_label="AUC (0-1)"),
}


@pytest.mark.parametrize("kind", CHARTS)
def test_every_chart_titles_both_axes_with_a_unit(kind):
    titles = axis_titles(CHARTS[kind]())
    assert set(titles) == {"x-label", "y-label"}
    for axis, title in titles.items():
        assert re.search(r"\(.+\)", title), f"{kind}: the {axis} title {title!r} names no unit"
    assert len(y_ticks(CHARTS[kind]())) == report.TICKS + 1, "the value axis has numbered ticks"


@pytest.mark.parametrize("chart", [report.bar_chart, report.line_chart, report.xy_chart])
def test_a_chart_cannot_be_drawn_without_axis_titles(chart):
    with pytest.raises(TypeError, match="x_label"):
        chart("untitled", {})


def test_one_latency_spike_does_not_flatten_the_latency_chart():
    values = [4.0 + (i % 5) * 0.5 for i in range(399)] + [5000.0]
    svg = report.line_chart("latency", {"fresh": values}, **LABELS)
    assert max(y_ticks(svg)) < 50, "the axis must end near the typical values, not at the 5 s spike"
    ys = sorted(plotted_ys(svg))
    axis_y, top_y = report.TOP + (280 - report.TOP - 50), report.TOP
    median_height = (axis_y - ys[len(ys) // 2]) / (axis_y - top_y)
    assert median_height > 0.3, f"typical requests sit at {median_height:.0%} of the plot's height: flattened"
    assert "1 value(s) above" in svg and "max 5e+03" in svg, "the clipped spike is marked and its value said"
    assert svg.count('class="clip-mark"') == 1


def test_one_huge_bar_does_not_set_the_bar_scale():
    groups = {f"f{i}": {"fresh": 0.05 + i * 0.01} for i in range(8)} | {"outlier": {"fresh": 40.0}}
    svg = report.bar_chart("PSI", groups, threshold=0.2, x_label="feature (name)", y_label="PSI (unitless)")
    assert max(y_ticks(svg)) < 1, "the axis must show the small PSIs and the threshold, not the 40"
    assert "&#9650;40" in svg and "1 value(s) above" in svg


def test_without_an_outlier_nothing_is_clipped_and_the_largest_value_fits():
    svg = report.line_chart("latency", {"fresh": [5.0, 6.0, 7.0, 8.0, 9.0]}, **LABELS)
    assert "clip" not in svg
    assert 9.0 <= max(y_ticks(svg)) < 11


def test_a_threshold_above_every_value_stays_on_the_axis():
    svg = report.xy_chart("quality", {"v1": [(0.0, 0.3), (1.0, 0.35)]}, x_label="t (s)", y_label="AUC (0-1)",
                          threshold=0.7)
    assert max(y_ticks(svg)) >= 0.7 and "threshold 0.7" in svg


def test_equal_values_and_one_slightly_higher_are_not_clipped():
    svg = report.xy_chart("quality", {"v1": [(float(i), 0.8) for i in range(6)] + [(6.0, 0.85)]},
                          x_label="t (s)", y_label="AUC (0-1)")
    assert "clip" not in svg and max(y_ticks(svg)) >= 0.85
