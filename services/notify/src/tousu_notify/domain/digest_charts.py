"""Small self-contained SVG charts for the HTML digest (no JavaScript, no fonts
fetched, no network): they print, they survive e-mail, and Chromium renders
them the same as any browser."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

PALETTE = ("#2f6fb3", "#e07b39", "#3a9d5d", "#c0392b", "#8e6bbf", "#7f8c8d", "#d4a017")
FONT = "font-family=\"'Noto Sans CJK SC','WenQuanYi Zen Hei',sans-serif\""


def _fmt(value: float) -> str:
    return f"{value:g}" if isinstance(value, int) or value == int(value) else f"{value:.1f}"


def _empty(width: int, height: int, message: str) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img"><text x="{width / 2}" y="{height / 2}" '
        f'text-anchor="middle" fill="#888" font-size="13" {FONT}>{escape(message)}</text></svg>'
    )


def hbar(items: Sequence[tuple[str, float]], *, width: int = 460, color: str = PALETTE[0]) -> str:
    """Horizontal bars, one per (label, value), largest value = full width."""
    if not items:
        return _empty(width, 60, "无数据 no data")
    row, label_w, value_w = 24, 150, 44
    height = row * len(items) + 8
    peak = max(value for _, value in items) or 1
    span = width - label_w - value_w
    parts = []
    for i, (label, value) in enumerate(items):
        y = 4 + i * row
        bar = max(span * value / peak, 1 if value else 0)
        parts.append(
            f'<text x="{label_w - 6}" y="{y + 16}" text-anchor="end" font-size="12">'
            f"{escape(label)}</text>"
            f'<rect x="{label_w}" y="{y + 3}" width="{bar:.1f}" height="{row - 8}" rx="2" '
            f'fill="{color}"/><text x="{label_w + bar + 4:.1f}" y="{y + 16}" font-size="12" '
            f'fill="#333">{_fmt(value)}</text>'
        )
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" {FONT}>{"".join(parts)}</svg>'
    )


def columns(
    items: Sequence[tuple[str, float]],
    *,
    width: int = 460,
    height: int = 200,
    colors: Sequence[str] | None = None,
) -> str:
    """Vertical columns (e.g. the satisfaction score distribution)."""
    if not items or not any(value for _, value in items):
        return _empty(width, 80, "无数据 no data")
    top, bottom = 18, 26
    plot = height - top - bottom
    slot = width / len(items)
    peak = max(value for _, value in items) or 1
    parts = [f'<line x1="0" y1="{top + plot}" x2="{width}" y2="{top + plot}" stroke="#999"/>']
    for i, (label, value) in enumerate(items):
        h = plot * value / peak
        x = i * slot + slot * 0.2
        color = (colors or PALETTE)[i % len(colors or PALETTE)]
        parts.append(
            f'<rect x="{x:.1f}" y="{top + plot - h:.1f}" width="{slot * 0.6:.1f}" '
            f'height="{h:.1f}" fill="{color}" rx="2"/>'
            f'<text x="{x + slot * 0.3:.1f}" y="{top + plot - h - 4:.1f}" text-anchor="middle" '
            f'font-size="12">{_fmt(value)}</text>'
            f'<text x="{x + slot * 0.3:.1f}" y="{height - 8}" text-anchor="middle" '
            f'font-size="12">{escape(label)}</text>'
        )
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" {FONT}>{"".join(parts)}</svg>'
    )


def lines(
    labels: Sequence[str],
    series: Sequence[tuple[str, Sequence[float | None]]],
    *,
    width: int = 460,
    height: int = 220,
    percent: bool = False,
) -> str:
    """Line chart over periods: one polyline per (name, values); gaps for None."""
    values = [v for _, vs in series for v in vs if v is not None]
    if not labels or not values:
        return _empty(width, 80, "无数据 no data")
    left, right, top, bottom = 40, 34, 28, 34
    plot_w, plot_h = width - left - right, height - top - bottom
    peak = 1.0 if percent else max(max(values), 1)
    step = plot_w / max(len(labels) - 1, 1)

    def xy(i: int, v: float) -> tuple[float, float]:
        return left + i * step, top + plot_h - plot_h * v / peak

    parts = []
    for tick in range(5):
        v = peak * tick / 4
        y = top + plot_h - plot_h * tick / 4
        text = f"{v:.0%}" if percent else _fmt(round(v, 1))
        parts.append(
            f'<line x1="{left}" y1="{y:.1f}" x2="{width - right}" y2="{y:.1f}" stroke="#eee"/>'
            f'<text x="{left - 4}" y="{y + 4:.1f}" text-anchor="end" font-size="10" '
            f'fill="#666">{text}</text>'
        )
    every = max(1, len(labels) // 6)
    for i, label in enumerate(labels):
        if i % every == 0 or i == len(labels) - 1:
            parts.append(
                f'<text x="{left + i * step:.1f}" y="{height - 14}" text-anchor="middle" '
                f'font-size="10" fill="#666">{escape(label)}</text>'
            )
    for n, (name, vs) in enumerate(series):
        color = PALETTE[n % len(PALETTE)]
        points = [xy(i, v) for i, v in enumerate(vs) if v is not None]
        if len(points) > 1:
            path = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
            parts.append(
                f'<polyline points="{path}" fill="none" stroke="{color}" stroke-width="2"/>'
            )
        parts.extend(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{color}"/>' for x, y in points)
        parts.append(
            f'<rect x="{left + n * 150}" y="6" width="12" height="4" fill="{color}"/>'
            f'<text x="{left + n * 150 + 16}" y="12" font-size="11">{escape(name)}</text>'
        )
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" {FONT}>{"".join(parts)}</svg>'
    )


def pareto(items: Sequence[tuple[str, int, float]], *, width: int = 460, height: int = 240) -> str:
    """Pareto: columns by count (largest first) and the cumulative share as a line."""
    if not items:
        return _empty(width, 80, "无数据 no data")
    left, right, top, bottom = 34, 40, 16, 56
    plot_w, plot_h = width - left - right, height - top - bottom
    slot = plot_w / len(items)
    peak = max(count for _, count, _ in items) or 1
    parts = [
        f'<line x1="{left}" y1="{top + plot_h}" x2="{width - right}" y2="{top + plot_h}" '
        f'stroke="#999"/>',
        f'<line x1="{left}" y1="{top + plot_h * 0.2:.1f}" x2="{width - right}" '
        f'y2="{top + plot_h * 0.2:.1f}" stroke="#c0392b" stroke-dasharray="4 3"/>',
        f'<text x="{width - right + 4}" y="{top + plot_h * 0.2 + 4:.1f}" font-size="10" '
        f'fill="#c0392b">80%</text>',
    ]
    points = []
    for i, (label, count, cumulative) in enumerate(items):
        h = plot_h * count / peak
        x = left + i * slot
        parts.append(
            f'<rect x="{x + slot * 0.15:.1f}" y="{top + plot_h - h:.1f}" '
            f'width="{slot * 0.7:.1f}" height="{h:.1f}" fill="{PALETTE[0]}"/>'
            f'<text x="{x + slot / 2:.1f}" y="{top + plot_h - h - 3:.1f}" text-anchor="middle" '
            f'font-size="11">{count}</text>'
            f'<text transform="translate({x + slot / 2:.1f},{top + plot_h + 12}) rotate(30)" '
            f'font-size="10">{escape(label)}</text>'
        )
        points.append((x + slot / 2, top + plot_h - plot_h * cumulative))
    path = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
    parts.append(f'<polyline points="{path}" fill="none" stroke="{PALETTE[1]}" stroke-width="2"/>')
    parts.extend(
        f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{PALETTE[1]}"/>' for x, y in points
    )
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" {FONT}>{"".join(parts)}</svg>'
    )


def ring(share: float | None, *, label: str, size: int = 130) -> str:
    """A ring gauge for a rate (green from 90 %, amber from 75 %, red below)."""
    r, c = size / 2 - 10, size / 2
    height = size + 22
    if share is None:
        return _empty(size, height, "—")
    color = "#3a9d5d" if share >= 0.9 else "#d4a017" if share >= 0.75 else "#c0392b"
    circumference = 2 * 3.14159265 * r
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{size + 60}" height="{height}" '
        f'viewBox="-30 0 {size + 60} {height}" role="img" {FONT}>'
        f'<circle cx="{c}" cy="{c}" r="{r}" fill="none" stroke="#eee" stroke-width="12"/>'
        f'<circle cx="{c}" cy="{c}" r="{r}" fill="none" stroke="{color}" stroke-width="12" '
        f'stroke-dasharray="{circumference * share:.1f} {circumference:.1f}" '
        f'transform="rotate(-90 {c} {c})"/>'
        f'<text x="{c}" y="{c + 8}" text-anchor="middle" font-size="22" font-weight="bold">'
        f"{share:.0%}</text>"
        f'<text x="{c}" y="{size + 14}" text-anchor="middle" font-size="12" fill="#444">'
        f"{escape(label)}</text></svg>"
    )
