"""Server-rendered SVG charts for the CX dashboard: no script and no style attribute or
element (colours are SVG presentation attributes, which the page's CSP allows), a ``<title>``
and ``aria-label`` that say what the chart shows. Every chart is drawn next to a table with
the same numbers, which is what screen readers read; the chart is a picture of that table."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

from markupsafe import Markup

WIDTH, HEIGHT = 640, 220
LEFT, BOTTOM, TOP = 36, 28, 12
TEXT = 'fill="#1b1f24" font-size="12"'  # the attributes of every label


@dataclass(frozen=True)
class Series:
    name: str
    colour: str  # a fill, e.g. "#0b5cad" (contrast 3:1 or more against white)
    values: Sequence[int]


def _scale_max(values: Sequence[int]) -> int:
    top = max([*values, 1])
    for step in (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000):
        if top <= step * 4:
            return step * 4
    return top


def bar_chart(title: str, labels: Sequence[str], series: Sequence[Series]) -> Markup:
    """Grouped bars: one group per label, one bar per series, with a gridline at each quarter
    of the scale and a legend."""
    peak = _scale_max([v for s in series for v in s.values])
    plot_w, plot_h = WIDTH - LEFT - 8, HEIGHT - BOTTOM - TOP
    group = plot_w / max(len(labels), 1)
    bar = max(group * 0.8 / max(len(series), 1), 1.0)
    parts = [
        f'<svg width="100%" role="img" aria-label="{escape(title)}" '
        f'viewBox="0 0 {WIDTH} {HEIGHT + 24}" xmlns="http://www.w3.org/2000/svg">',
        f"<title>{escape(title)}</title>",
    ]
    for i in range(5):
        value = peak * i // 4
        y = TOP + plot_h - plot_h * i / 4
        parts.append(
            f'<line stroke="#c9d0d8" x1="{LEFT}" x2="{WIDTH - 8}" y1="{y:.1f}" y2="{y:.1f}"/>'
            f'<text {TEXT} x="{LEFT - 4}" y="{y + 4:.1f}" text-anchor="end">{value}</text>'
        )
    every = max(len(labels) // 8, 1)  # at most ~8 axis labels, so they never overlap
    for g, label in enumerate(labels):
        x0 = LEFT + g * group + group * 0.1
        for s_index, s in enumerate(series):
            value = s.values[g] if g < len(s.values) else 0
            h = plot_h * value / peak
            x = x0 + s_index * bar
            parts.append(
                f'<rect fill="{escape(s.colour)}" x="{x:.1f}" y="{TOP + plot_h - h:.1f}"'
                f' width="{bar:.1f}" height="{h:.1f}">'
                f"<title>{escape(label)}: {escape(s.name)} {value}</title></rect>"
            )
        if g % every == 0:
            parts.append(
                f'<text {TEXT} x="{x0 + bar * len(series) / 2:.1f}"'
                f' y="{HEIGHT - 10}" text-anchor="middle">{escape(label)}</text>'
            )
    for s_index, s in enumerate(series):
        x = LEFT + s_index * 160
        parts.append(
            f'<rect fill="{escape(s.colour)}" x="{x}" y="{HEIGHT + 6}" width="12" height="12"/>'
            f'<text {TEXT} x="{x + 16}" y="{HEIGHT + 16}">{escape(s.name)}</text>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - every text above is escaped


def horizontal_bars(title: str, rows: Sequence[tuple[str, int]], colour: str) -> Markup:
    """One bar per row, its label on the left and its number on the right."""
    line = 26
    height = max(len(rows), 1) * line + 8
    label_w, plot_w = 200, WIDTH - 200 - 48
    peak = max([v for _, v in rows] + [1])
    parts = [
        f'<svg width="100%" role="img" aria-label="{escape(title)}" '
        f'viewBox="0 0 {WIDTH} {height}" xmlns="http://www.w3.org/2000/svg">',
        f"<title>{escape(title)}</title>",
    ]
    for i, (label, value) in enumerate(rows):
        y = 4 + i * line
        w = plot_w * value / peak
        parts.append(
            f'<text {TEXT} x="{label_w - 6}" y="{y + 16}" text-anchor="end">'
            f"{escape(label)}</text>"
            f'<rect fill="{escape(colour)}" x="{label_w}" y="{y + 3}" width="{w:.1f}"'
            f' height="{line - 8}"><title>{escape(label)}: {value}</title></rect>'
            f'<text {TEXT} x="{label_w + w + 6:.1f}" y="{y + 16}">{value}</text>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - every text above is escaped
