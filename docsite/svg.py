"""Inline SVG charts for the site: horizontal bars and line charts, drawn from numbers only.

No charting library and no JavaScript: a page must render the same offline, in print and in both
colour schemes (text uses ``currentColor``), and the numbers a chart shows are the ones in
``results/``. Every chart carries an ``aria-label`` and a ``<title>`` saying what it plots.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from html import escape

__all__ = ["bars", "lines"]

ACCENT = "#3f51b5"
PALETTE = (ACCENT, "#e91e63", "#009688", "#ff9800", "#795548")
_FONT = 'style="font: 12px sans-serif" fill="currentColor"'


def _open(title: str, width: int, height: int) -> list[str]:
    label = escape(title, quote=True)
    return [
        f'<svg role="img" aria-label="{label}" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" xmlns="http://www.w3.org/2000/svg" {_FONT}>',
        f"<title>{escape(title)}</title>",
    ]


def bars(title: str, rows: Sequence[tuple[str, float, str]], log: bool = False, label_width: int = 150) -> str:
    """One bar per ``(label, value, text)``; ``log`` for values spanning orders of magnitude."""
    if not rows:
        raise ValueError(f"chart {title!r} has no rows")
    scale: Callable[[float], float] = (lambda v: math.log10(max(v, 1e-9))) if log else (lambda v: v)
    low = min(scale(v) for _, v, _ in rows) - 1 if log else 0.0
    high = max(scale(v) for _, v, _ in rows)
    span = (high - low) or 1.0
    width, bar_area = label_width + 440, 280  # room after the longest bar for its text
    svg = _open(title, width, 32 * len(rows) + 10)
    for i, (label, value, text) in enumerate(rows):
        y = 8 + 32 * i
        length = max(2.0, bar_area * (scale(value) - low) / span)
        svg.append(
            f'<text x="0" y="{y + 15}">{escape(label)}</text>'
            f'<rect x="{label_width}" y="{y}" width="{length:.0f}" height="22" fill="{ACCENT}"/>'
            f'<text x="{label_width + length + 6:.0f}" y="{y + 15}">{escape(text)}</text>'
        )
    return "".join(svg) + "</svg>"


def lines(
    title: str,
    series: Mapping[str, Sequence[tuple[float, float]]],
    x_label: str,
    y_format: Callable[[float], str],
    x_format: Callable[[float], str] = lambda x: f"{x:g}",
    limit: tuple[float, str] | None = None,
) -> str:
    """A line per series (points sorted by x), axes with min/max ticks, an optional dashed ``limit`` line.

    The y axis starts at zero: a drift is shown against the whole, so noise does not look like a trend.
    """
    points = [p for pts in series.values() for p in pts]
    if not points:
        raise ValueError(f"chart {title!r} has no points")
    xs, ys = [x for x, _ in points], [y for _, y in points] + ([limit[0]] if limit else [])
    x0, x1 = min(xs), max(xs)
    y0, y1 = 0.0, max(ys) * 1.05
    x1, y1 = (x1 if x1 > x0 else x0 + 1), (y1 if y1 > y0 else y0 + 1)
    left, top, plot_w, plot_h = 80, 10, 420, 180
    width, height = left + plot_w + 20, top + plot_h + 60 + 16 * len(series)

    def at(x: float, y: float) -> str:
        return f"{left + plot_w * (x - x0) / (x1 - x0):.1f},{top + plot_h * (1 - (y - y0) / (y1 - y0)):.1f}"

    bottom = top + plot_h
    svg = _open(title, width, height)
    svg.append(f'<path d="M{left},{top} V{bottom} H{left + plot_w}" stroke="currentColor" fill="none"/>')
    svg.append(
        f'<text x="{left - 6}" y="{top + 10}" text-anchor="end">{escape(y_format(y1))}</text>'
        f'<text x="{left - 6}" y="{bottom}" text-anchor="end">{escape(y_format(y0))}</text>'
        f'<text x="{left}" y="{bottom + 16}">{escape(x_format(x0))}</text>'
        f'<text x="{left + plot_w}" y="{bottom + 16}" text-anchor="end">{escape(x_format(x1))}</text>'
        f'<text x="{left + plot_w / 2}" y="{bottom + 32}" text-anchor="middle">{escape(x_label)}</text>'
    )
    if limit:
        y = top + plot_h * (1 - (limit[0] - y0) / (y1 - y0))
        svg.append(
            f'<line x1="{left}" x2="{left + plot_w}" y1="{y:.1f}" y2="{y:.1f}" stroke="#d32f2f" '
            f'stroke-dasharray="6 4"/><text x="{left + plot_w}" y="{y - 4:.1f}" text-anchor="end" '
            f'fill="#d32f2f">{escape(limit[1])}</text>'
        )
    for i, (name, pts) in enumerate(series.items()):
        colour = PALETTE[i % len(PALETTE)]
        ordered = sorted(pts)
        svg.append(
            f'<polyline points="{" ".join(at(x, y) for x, y in ordered)}" fill="none" stroke="{colour}" '
            f'stroke-width="2"/>'
        )
        svg.extend(
            f'<circle cx="{at(x, y).split(",")[0]}" cy="{at(x, y).split(",")[1]}" r="2.5" fill="{colour}"/>'
            for x, y in ordered
        )
        legend_y = bottom + 48 + 16 * i
        svg.append(
            f'<rect x="{left}" y="{legend_y - 9}" width="12" height="3" fill="{colour}"/>'
            f'<text x="{left + 18}" y="{legend_y}">{escape(name)}</text>'
        )
    return "".join(svg) + "</svg>"
