"""Server-rendered SVG charts: no JavaScript, no CDN, readable without a network."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from html import escape

from django.utils.safestring import SafeString, mark_safe


def _nice_max(value: float) -> float:
    if value <= 0:
        return 1
    magnitude = 10 ** (len(str(int(value))) - 1)
    for step in (1, 2, 2.5, 5, 10):
        if value <= step * magnitude:
            return step * magnitude
    return value


def column_chart(
    points: Sequence[tuple[str, float]],
    *,
    label: str,
    fmt: Callable[[float], str] = lambda v: f"{v:g}",
    color: str = "#3366cc",
    width: int = 720,
    height: int = 200,
) -> SafeString:
    """Vertical bars, one per point (e.g. per day); each bar has a tooltip with its exact value."""
    left, bottom, top = 70, 28, 12
    plot_w, plot_h = width - left - 10, height - bottom - top
    top_value = _nice_max(max((v for _, v in points), default=0))
    n = max(len(points), 1)
    slot = plot_w / n
    bar_w = max(1.0, slot * 0.75)
    parts = [
        f'<svg class="chart" role="img" aria-label="{escape(label)}" viewBox="0 0 {width} {height}" '
        f'width="100%" xmlns="http://www.w3.org/2000/svg">',
        f"<title>{escape(label)}</title>",
    ]
    for i in range(5):
        value = top_value * i / 4
        y = top + plot_h - plot_h * i / 4
        parts.append(f'<line x1="{left}" x2="{width - 10}" y1="{y:.1f}" y2="{y:.1f}" stroke="#ddd"/>')
        parts.append(
            f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" font-size="11">'
            f"{escape(fmt(value))}</text>"
        )
    every = max(1, n // 10)
    for i, (name, value) in enumerate(points):
        h = plot_h * (value / top_value) if top_value else 0
        x = left + i * slot + (slot - bar_w) / 2
        y = top + plot_h - h
        parts.append(
            f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar_w:.1f}" height="{h:.1f}" fill="{color}">'
            f"<title>{escape(name)}: {escape(fmt(value))}</title></rect>"
        )
        if i % every == 0:
            parts.append(
                f'<text x="{x + bar_w / 2:.1f}" y="{height - 10}" text-anchor="middle" font-size="10">'
                f"{escape(name)}</text>"
            )
    parts.append("</svg>")
    return mark_safe("".join(parts))


def bar_chart(
    points: Sequence[tuple[str, float]],
    *,
    label: str,
    fmt: Callable[[float], str] = lambda v: f"{v:g}",
    color: str = "#2f9e44",
    width: int = 720,
) -> SafeString:
    """Horizontal bars with the value written at the end (e.g. active subscriptions by plan)."""
    row_h, left = 24, 180
    height = max(1, len(points)) * row_h + 10
    top_value = max((v for _, v in points), default=0) or 1
    plot_w = width - left - 80
    parts = [
        f'<svg class="chart" role="img" aria-label="{escape(label)}" viewBox="0 0 {width} {height}" '
        f'width="100%" xmlns="http://www.w3.org/2000/svg"><title>{escape(label)}</title>'
    ]
    if not points:
        parts.append('<text x="10" y="20" font-size="12">no data</text>')
    for i, (name, value) in enumerate(points):
        y = 5 + i * row_h
        w = plot_w * value / top_value
        parts.append(
            f'<text x="{left - 8}" y="{y + 15}" text-anchor="end" font-size="12">{escape(name[:28])}</text>'
            f'<rect x="{left}" y="{y + 3}" width="{w:.1f}" height="{row_h - 8}" fill="{color}">'
            f"<title>{escape(name)}: {escape(fmt(value))}</title></rect>"
            f'<text x="{left + w + 6:.1f}" y="{y + 15}" font-size="12">{escape(fmt(value))}</text>'
        )
    parts.append("</svg>")
    return mark_safe("".join(parts))
