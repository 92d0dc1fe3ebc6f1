"""Server-side SVG charts for the dashboard: frontier lines, score gap with forecast fan, catch-up odds.

A small hand-written renderer (linear and month scales, nice ticks, path builders) rather than matplotlib:
it is ~100x faster per chart, needs no import of a 400 ms plotting stack in the web process, and puts the
test hooks (``class``/``data-*``) straight into the markup. Every function is pure and deterministic (fixed
number formatting, hard-coded month names, no ids, no timestamps), so several charts can be inlined into one
HTML page and equal inputs give equal bytes. All text goes through :func:`xml.sax.saxutils.escape`.

Hooks for browser tests: the root ``<svg>`` has ``class="gapcast-chart"`` and ``data-chart`` (``frontier``,
``gap``, ``catch-up``); line paths ``class="series series-closed|series-open|series-gap|series-forecast"``;
the forecast band ``class="fan"``; tick labels ``class="tick"``; legend entries ``class="legend-item"``; the
plot rectangle ``class="plot-area"``; an empty chart ``class="no-data"``.
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any
from xml.sax.saxutils import escape

__all__ = ["CARD_CSS", "SUMMARY_CSS", "catch_up_answer", "catch_up_chart", "domain_card", "frontier_chart", "gap_chart",
           "gap_title", "leader_text", "margin_text", "precision", "shorten", "summary_table", "trend_cell"]

WIDTH, HEIGHT = 420, 280
FONT = "system-ui, -apple-system, 'Segoe UI', Roboto, 'Helvetica Neue', Arial, sans-serif"
TICK_PX, TEXT_PX, TITLE_PX = 12, 12, 14
#: Okabe-Ito colours (colour-blind safe): closed vermillion, open blue, markers bluish green.
CLOSED, OPEN, MARKER = "#d55e00", "#0072b2", "#009e73"
GAP, FORECAST, FAN = "#222222", "#555555", "#999999"
INK, MUTED, GRID, TRACK = "#333333", "#666666", "#e6e6e6", "#eeeeee"
DAYS_PER_MONTH = 30.436875
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
#: Average glyph width as a share of the font size, generous for sans-serif so labels never touch (DejaVu Sans,
#: the Debian default, sets lowercase text at about 0.63 em: a line estimated at 0.6 overflowed by 5%).
_CHAR_EM = 0.64
_PAD = 12  # outer padding (px)
LEADER_NAME_PX = 200  # a leader's model name in a frontier chart: longer names are shortened at a word boundary
MINUS, EN_DASH = "\u2212", "\u2013"  # typographic minus for negative numbers, en dash for ranges

STATUS_TEXT = {
    "ok": "Forecast",
    "open_behind": "Open behind",
    "open_leads": "Open models lead",
    "caught_up": "Caught up",
    "no_data": "No data",
    "insufficient_data": "Not enough data for a forecast",
}


# ------------------------------------------------------------------------------------------------ text helpers


def _attr(value: object) -> str:
    """A double-quoted, escaped XML/HTML attribute value."""
    return '"' + escape(str(value), {'"': "&quot;", "'": "&#39;"}) + '"'


def _num(v: float) -> str:
    """A pixel coordinate: one decimal, no ``-0.0``."""
    s = f"{v:.1f}"
    return "0.0" if s == "-0.0" else s


def _text_width(text: str, size: float = TEXT_PX) -> float:
    return len(text) * size * _CHAR_EM


def _truncate(text: str, max_px: float, size: float = TEXT_PX) -> str:
    """``text`` cut with an ellipsis so that it fits ``max_px``, at a word boundary where one fits
    (see :func:`shorten`)."""
    return shorten(text, max_px, size)


#: Where a name may be cut: after a space, hyphen, underscore or slash (``claude-opus-4.6-fast`` ->
#: ``claude-opus-4.6…``), never inside a word.
_BREAKS = re.compile(r"(?<=[\s\-_/])")


def shorten(text: str, max_px: float, size: float = TEXT_PX) -> str:
    """``text`` when it fits ``max_px`` at font ``size``, else its longest prefix that ends at a word
    boundary (space, ``-``, ``_``, ``/``) plus ``…``; a first word too long by itself is cut inside it
    (nothing else fits). Callers that shorten show the full text in a ``<title>`` tooltip."""
    max_chars = max(int(max_px / (size * _CHAR_EM)), 2)
    if len(text) <= max_chars:
        return text
    out = ""
    for part in _BREAKS.split(text):
        if len((out + part).rstrip(" -_/")) + 1 > max_chars:
            break
        out += part
    out = out.rstrip(" -_/")
    return (out or text[: max_chars - 1].rstrip()) + "…"


def _wrap(text: str, max_px: float, size: float = TEXT_PX, max_lines: int = 8) -> list[str]:
    """Greedy word wrap to ``max_px``; the last line gets an ellipsis if text is left over."""
    lines: list[str] = []
    line = ""
    for word in text.split():
        candidate = f"{line} {word}" if line else word
        if _text_width(candidate, size) <= max_px or not line:
            line = candidate
            continue
        lines.append(line)
        line = word
    if line:
        lines.append(line)
    if len(lines) > max_lines:  # the rest does not fit: the last line ends in an ellipsis, at a word boundary
        last = " ".join(lines[max_lines - 1:])
        cut = shorten(last, max_px, size)
        lines = [*lines[: max_lines - 1], cut if cut.endswith("…") else cut + "…"]
    return [shorten(x, max_px, size) for x in lines]


def _fmt_value(v: float, decimals: int = 1) -> str:
    s = f"{v:,.{decimals}f}"
    return "0" if float(v) == 0 else s.replace("-", MINUS)


def _with_unit(v: float, unit: str, decimals: int = 1) -> str:
    sep = "" if unit.startswith("%") else " "
    return f"{_fmt_value(v, decimals)}{sep}{unit}".strip()


def _month_label(d: date) -> str:
    return f"{MONTHS[d.month - 1]} {d.year}"


def _pct(p: float | None) -> str:
    return "—" if p is None else f"{p * 100:.0f}%"


def precision(scale: float | None) -> int:
    """Decimals a benchmark's figures are shown with: a thousandth of its ``scale`` (max - min of its
    range) rounded to a power of ten, so a 0-100 % benchmark shows 1 decimal, an Elo rating (scale 400)
    none, a 0-1 fraction 3. 1 when the scale is unknown (or not positive)."""
    if scale is None or not math.isfinite(scale) or scale <= 0:
        return 1
    return max(0, round(-math.log10(scale / 1000)))


def margin_text(margin: float | None, unit: str = "", scale: float | None = None) -> str:
    """A tie margin as ``±1.3 %`` (``±10 Elo``): rounded to the benchmark's :func:`precision`, or to one
    significant digit when it is finer than that precision; ``—`` when unknown."""
    m = _float(margin)
    if m is None:
        return "—"
    decimals = precision(scale)
    if 0 < abs(m) < 10 ** -decimals:
        decimals = max(decimals, -math.floor(math.log10(abs(m))))
    sep = "" if not unit or unit.startswith("%") else " "
    return f"±{abs(m):.{decimals}f}{sep}{unit}"


def gap_title(name: str, metric: str = "score_gap", unit: str = "% of scale") -> str:
    """A gap chart's title in words: ``Coding: score gap (% of scale)``, ``Coding: lag (days)``."""
    label = {"score_gap": "score gap", "lag_days": "lag"}.get(metric, metric.replace("_", " "))
    return f"{name}: {label} ({unit})" if unit else f"{name}: {label}"


# ------------------------------------------------------------------------------------------------ input parsing


def _date(value: object) -> date | None:
    if not isinstance(value, str):
        return None
    try:
        return date.fromisoformat(value[:10])
    except ValueError:
        return None


def _float(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def _leader_score(point: dict[str, Any], key: str) -> float | None:
    leader = point.get(key)
    return _float(leader.get("score")) if isinstance(leader, dict) else None


def _dated(points: Sequence[dict[str, Any]] | None) -> list[tuple[date, dict[str, Any]]]:
    """Points with a valid ``date``, sorted by date."""
    rows = [(d, p) for p in points or [] if isinstance(p, dict) and (d := _date(p.get("date"))) is not None]
    return sorted(rows, key=lambda row: row[0])


# ------------------------------------------------------------------------------------------------ scales & ticks


@dataclass(frozen=True)
class _Scale:
    """Linear map from the domain ``[d0, d1]`` to pixels ``[r0, r1]``."""

    d0: float
    d1: float
    r0: float
    r1: float

    def __call__(self, v: float) -> float:
        if self.d1 == self.d0:
            return (self.r0 + self.r1) / 2
        return self.r0 + (v - self.d0) * (self.r1 - self.r0) / (self.d1 - self.d0)


def _nice_step(span: float, count: int) -> float:
    raw = span / max(count, 1)
    magnitude = 10 ** math.floor(math.log10(raw))
    return next(m * magnitude for m in (1, 2, 2.5, 5, 10) if raw <= m * magnitude * (1 + 1e-9))


def _decimals(step: float) -> int:
    s = f"{step:.9f}".rstrip("0")
    return len(s.split(".")[1])


def _nice_ticks(lo: float, hi: float, count: int) -> tuple[float, float, list[float], int]:
    """A rounded domain enclosing ``[lo, hi]``, its ~``count`` ticks and their decimals."""
    if hi - lo < 1e-9:
        pad = max(abs(lo) * 0.1, 1.0)
        lo, hi = lo - pad, hi + pad
    step = _nice_step(hi - lo, count)
    start, end = math.floor(lo / step + 1e-9) * step, math.ceil(hi / step - 1e-9) * step
    n = round((end - start) / step)
    ticks = [0.0 if abs(start + i * step) < step * 1e-9 else start + i * step for i in range(n + 1)]
    return start, end, ticks, _decimals(step)


def _month_starts(d0: date, d1: date, step: int) -> list[date]:
    """First days of months in ``[d0, d1]`` whose month index is a multiple of ``step``."""
    index = d0.year * 12 + d0.month - 1 + (d0.day > 1)
    out: list[date] = []
    while True:
        day = date(index // 12, index % 12 + 1, 1)
        if day > d1:
            return out
        if index % step == 0:
            out.append(day)
        index += 1


def _month_ticks(d0: date, d1: date, x: _Scale, width: float) -> list[tuple[float, str]]:
    """The finest month ticks whose labels don't overlap: years (``2025``) plus month names in between;
    the first tick carries its year when it is not a January. A short span gets one ``Mon YYYY`` label."""
    single: list[tuple[float, str]] = []
    for step in (1, 2, 3, 6, 12, 24, 60, 120):
        days = [d for d in _month_starts(d0, d1, step) if _fits(x(d.toordinal()), _month_label(d), width)]
        labels = [(x(d.toordinal()), str(d.year) if d.month == 1 or step >= 12 else MONTHS[d.month - 1])
                  for d in days]
        if labels and days[0].month != 1 and step < 12:
            labels[0] = (labels[0][0], _month_label(days[0]))
        if len(labels) == 1 and not single:
            single = labels
        if len(labels) >= 2 and all(
            b[0] - a[0] >= (_text_width(a[1], TICK_PX) + _text_width(b[1], TICK_PX)) / 2 + 10
            for a, b in itertools.pairwise(labels)
        ):
            return labels
    if single:
        return single
    mid = date.fromordinal((d0.toordinal() + d1.toordinal()) // 2)
    return [(x(mid.toordinal()), _month_label(mid))]


def _fits(px: float, label: str, width: float) -> bool:
    half = _text_width(label, TICK_PX) / 2
    return px - half >= 2 and px + half <= width - 2


# ------------------------------------------------------------------------------------------------ geometry

Point = tuple[float, float]
Box = tuple[float, float, float, float]  # x0, y0, x1, y1


def _text_box(x: float, y: float, s: str, anchor: str, size: float = TEXT_PX) -> Box:
    """Approximate box of a text line with baseline ``y``."""
    w = _text_width(s, size)
    x0 = x - w if anchor == "end" else x - w / 2 if anchor == "middle" else x
    return (x0, y - size * 0.85, x0 + w, y + size * 0.3)


def _overlap(a: Box, b: Box) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def _segment_crosses(box: Box, a: Point, b: Point) -> bool:
    """Liang-Barsky: does the segment ``a``-``b`` touch ``box``?"""
    t0, t1 = 0.0, 1.0
    dx, dy = b[0] - a[0], b[1] - a[1]
    for p, q in ((-dx, a[0] - box[0]), (dx, box[2] - a[0]), (-dy, a[1] - box[1]), (dy, box[3] - a[1])):
        if p == 0:
            if q < 0:
                return False
            continue
        t = q / p
        if p < 0:
            t0 = max(t0, t)
        else:
            t1 = min(t1, t)
        if t0 > t1:
            return False
    return True


def _crosses(box: Box, run: Sequence[Point]) -> bool:
    if len(run) == 1:
        return _segment_crosses(box, run[0], run[0])
    return any(_segment_crosses(box, a, b) for a, b in itertools.pairwise(run))


def _step_points(run: Sequence[Point]) -> list[Point]:
    """The vertices of a step-after line through ``run``."""
    out = [run[0]]
    for px, py in run[1:]:
        out += [(px, out[-1][1]), (px, py)]
    return out


# ------------------------------------------------------------------------------------------------ path builders


def _segments(xs: Sequence[float], ys: Sequence[float | None]) -> list[list[Point]]:
    """Runs of consecutive non-null points: a null breaks the line."""
    runs: list[list[Point]] = [[]]
    for px, py in zip(xs, ys, strict=True):
        if py is None:
            if runs[-1]:
                runs.append([])
            continue
        runs[-1].append((px, py))
    return [r for r in runs if r]


def _line_d(runs: Sequence[Sequence[Point]], step: bool = False) -> str:
    """Path data of straight (or step-after) lines; a lone point is a zero-length round-capped dot."""
    parts: list[str] = []
    for run in runs:
        (x0, y0), rest = run[0], run[1:]
        parts.append(f"M{_num(x0)} {_num(y0)}")
        if not rest:
            parts.append("h0")
        for px, py in rest:
            parts.append(f"H{_num(px)} V{_num(py)}" if step else f"L{_num(px)} {_num(py)}")
    return " ".join(parts)


def _band_d(upper: Sequence[Point], lower: Sequence[Point]) -> str:
    """Closed polygon along ``upper`` and back along ``lower``."""
    pts = [*upper, *reversed(lower)]
    return "M" + " L".join(f"{_num(px)} {_num(py)}" for px, py in pts) + " Z"


# ------------------------------------------------------------------------------------------------ the canvas


@dataclass(frozen=True)
class _Area:
    left: float
    top: float
    right: float
    bottom: float

    def clamp_y(self, y: float) -> float:
        return min(max(y, self.top), self.bottom)


@dataclass
class _Svg:
    """An SVG document under construction: title, legend, axes, then marks."""

    kind: str
    title: str
    width: int = WIDTH
    height: int = HEIGHT
    parts: list[str] = field(default_factory=list)
    #: Drawn polylines (pixels) and label boxes that later labels must avoid.
    lines: list[list[Point]] = field(default_factory=list)
    boxes: list[Box] = field(default_factory=list)

    def add(self, element: str) -> None:
        self.parts.append(element)

    def place(self, candidates: Sequence[tuple[float, float, str]], s: str, area: _Area, *, headroom: float = 0,
              **style: Any) -> Box:
        """Draw ``s`` (halo) at the first candidate ``(x, y, anchor)`` inside ``area`` (reaching ``headroom`` px
        above it) that crosses no drawn line or label, else at the least crowded one; return its box."""
        def cost(c: tuple[float, float, str]) -> tuple[int, int]:
            box = _text_box(c[0], c[1], s, c[2])
            outside = box[0] < area.left or box[2] > area.right or box[1] < area.top - headroom \
                or box[3] > area.bottom
            hits = sum(_crosses(box, run) for run in self.lines) + sum(_overlap(box, b) for b in self.boxes)
            return int(outside), hits

        costs = []
        for c in candidates:
            costs.append(cost(c))
            if costs[-1] == (0, 0):
                break
        x, y, anchor = candidates[costs.index(min(costs))]  # the first of equals: candidates come in preference order
        self.text(x, y, s, anchor=anchor, halo=True, **style)
        box = _text_box(x, y, s, anchor)
        self.boxes.append(box)
        return box

    def text(self, x: float, y: float, s: str, *, cls: str | None = None, size: float = TEXT_PX,
             anchor: str = "start", fill: str = INK, bold: bool = False, halo: bool = False,
             tooltip: str | None = None) -> None:
        """One text line; with ``tooltip`` (the full text of a shortened label) wrapped in a ``<g>`` whose
        ``<title>`` the browser shows on hover (outside the ``<text>``, so its textContent stays the label)."""
        attrs = [f'x="{_num(x)}" y="{_num(y)}"']
        if cls:
            attrs.append(f"class={_attr(cls)}")
        if size != TEXT_PX:
            attrs.append(f'font-size="{size:g}"')
        if anchor != "start":
            attrs.append(f'text-anchor="{anchor}"')
        attrs.append(f'fill="{fill}"')
        if bold:
            attrs.append('font-weight="600"')
        if halo:
            attrs.append('stroke="#ffffff" stroke-width="3" stroke-linejoin="round" paint-order="stroke"')
        element = f"<text {' '.join(attrs)}>{escape(s)}</text>"
        self.add(element if tooltip is None or tooltip == s else f"<g><title>{escape(tooltip)}</title>{element}</g>")

    def header(self) -> float:
        """Draw the title, word-wrapped to two lines (a longer one is shortened at a word boundary; the
        root's ``<title>`` keeps it whole); return the y below it."""
        lines = _wrap(self.title, self.width - 2 * _PAD, TITLE_PX, max_lines=2)
        for i, line in enumerate(lines):
            self.text(_PAD, 22 + 18 * i, line, cls="title", size=TITLE_PX, bold=True)
        return 30.0 + 18 * (len(lines) - 1)

    def legend(self, y: float, items: Sequence[tuple[str, str, str]]) -> float:
        """Legend entries ``(label, swatch, colour)`` (swatch: line, dash, band, rule), wrapped to the
        width; return the y below the legend."""
        x, row_y = float(_PAD), y + 12
        for label, swatch, colour in items:
            w = 22 + _text_width(label)
            if x > _PAD and x + w > self.width - _PAD:
                x, row_y = float(_PAD), row_y + 18
            self.add(f'<g class="legend-item">{_swatch(x, row_y - 4, swatch, colour)}')
            self.text(x + 22, row_y, label)
            self.add("</g>")
            x += w + 14
        return row_y + 8

    def render(self) -> str:
        head = (
            f'<svg xmlns="http://www.w3.org/2000/svg" class="gapcast-chart" data-chart={_attr(self.kind)} '
            f'width="{self.width}" height="{self.height}" viewBox="0 0 {self.width} {self.height}" '
            f'role="img" aria-label={_attr(self.title)} font-family={_attr(FONT)} font-size="{TEXT_PX}">'
            f"<title>{escape(self.title)}</title>"
            f'<rect class="background" width="{self.width}" height="{self.height}" fill="#ffffff"/>'
        )
        return head + "".join(self.parts) + "</svg>"


def _swatch(x: float, y: float, kind: str, colour: str) -> str:
    if kind == "band":
        return f'<rect x="{_num(x)}" y="{_num(y - 5)}" width="16" height="10" fill="{colour}" fill-opacity="0.35"/>'
    if kind == "rule":
        return f'<line x1="{_num(x + 8)}" y1="{_num(y - 6)}" x2="{_num(x + 8)}" y2="{_num(y + 6)}" ' \
               f'stroke="{colour}" stroke-width="2" stroke-dasharray="3 2"/>'
    dash = ' stroke-dasharray="5 3"' if kind == "dash" else ""
    return f'<line x1="{_num(x)}" y1="{_num(y)}" x2="{_num(x + 16)}" y2="{_num(y)}" stroke="{colour}" ' \
           f'stroke-width="2.5"{dash}/>'


def _no_data(svg: _Svg, message: str, detail: str = "") -> str:
    """A framed chart that says there is nothing to draw (and why)."""
    top = svg.header() + 8
    svg.add(f'<rect class="plot-area no-data" x="{_PAD}" y="{_num(top)}" width="{svg.width - 2 * _PAD}" '
            f'height="{_num(svg.height - top - _PAD)}" fill="#fafafa" stroke="{GRID}"/>')
    mid = (top + svg.height - _PAD) / 2
    lines = _wrap(detail, svg.width - 4 * _PAD, max_lines=5) if detail else []
    y = mid - 9 * len(lines)
    svg.text(svg.width / 2, y, message, cls="message", size=TITLE_PX, anchor="middle", fill=MUTED, bold=True)
    for i, line in enumerate(lines):
        svg.text(svg.width / 2, y + 22 + 18 * i, line, cls="detail", anchor="middle", fill=MUTED)
    return svg.render()


@dataclass(frozen=True)
class _Frame:
    """A plot area with its x (dates) and y (values) scales."""

    area: _Area
    x: _Scale
    y: _Scale

    def px(self, d: date) -> float:
        return self.x(d.toordinal())


def _axes(svg: _Svg, top: float, d0: date, d1: date, lo: float, hi: float, unit: str,
          limits: tuple[float, float] = (-math.inf, math.inf)) -> _Frame:
    """Grid, y ticks with the unit above them, x month ticks; returns the frame for the marks. The rounded
    y range never passes `limits` (the values the series can take)."""
    bottom = svg.height - 28.0
    top += 20  # room for the unit label
    count = max(3, int((bottom - top) // 38))
    y0, y1, yticks, decimals = _nice_ticks(lo, hi, count)
    if y0 < limits[0] or y1 > limits[1]:
        y0, y1 = max(y0, limits[0]), min(y1, limits[1])
        yticks = [t for t in yticks if y0 <= t <= y1]
    labels = [_fmt_value(t, decimals) for t in yticks]
    left = _PAD + max(_text_width(s, TICK_PX) for s in labels) + 8
    area = _Area(left, top, svg.width - _PAD - 4.0, bottom)
    if d0 == d1:
        d0, d1 = date.fromordinal(d0.toordinal() - 15), date.fromordinal(d1.toordinal() + 15)
    frame = _Frame(area, _Scale(d0.toordinal(), d1.toordinal(), area.left, area.right), _Scale(y0, y1, bottom, top))
    svg.add(f'<rect class="plot-area" x="{_num(area.left)}" y="{_num(area.top)}" '
            f'width="{_num(area.right - area.left)}" height="{_num(area.bottom - area.top)}" fill="none"/>')
    svg.add('<g class="axis axis-y">')
    for t, label in zip(yticks, labels, strict=True):
        py = frame.y(t)
        svg.add(f'<line x1="{_num(area.left)}" y1="{_num(py)}" x2="{_num(area.right)}" y2="{_num(py)}" '
                f'stroke="{GRID}"/>')
        svg.text(area.left - 6, py + 4, label, cls="tick", size=TICK_PX, anchor="end", fill=MUTED)
    unit = _truncate(unit, svg.width / 2)
    svg.text(_PAD, top - 8, unit, cls="unit", fill=MUTED)
    svg.boxes.append(_text_box(_PAD, top - 8, unit, "start"))
    svg.add('</g><g class="axis axis-x">')
    svg.add(f'<line x1="{_num(area.left)}" y1="{_num(bottom)}" x2="{_num(area.right)}" y2="{_num(bottom)}" '
            f'stroke="{INK}"/>')
    for px, label in _month_ticks(d0, d1, frame.x, svg.width):
        svg.add(f'<line x1="{_num(px)}" y1="{_num(bottom)}" x2="{_num(px)}" y2="{_num(bottom + 4)}" stroke="{INK}"/>')
        svg.text(px, bottom + 17, label, cls="tick", size=TICK_PX, anchor="middle", fill=MUTED)
    svg.add("</g>")
    return frame


def _series(svg: _Svg, frame: _Frame, cls: str, colour: str, days: Sequence[date], ys: Sequence[float | None], *,
            step: bool = False, dash: bool = False) -> None:
    """Draw one line series (a null value breaks it) and register it as an obstacle for labels."""
    runs = [[(px, frame.y(v)) for px, v in run] for run in _segments([frame.px(d) for d in days], ys)]
    if not runs:
        return
    svg.lines += [_step_points(r) if step else r for r in runs]
    dasharray = ' stroke-dasharray="6 4"' if dash else ""
    svg.add(f'<path class="series {cls}" d="{_line_d(runs, step)}" fill="none" stroke="{colour}" '
            f'stroke-width="2.5" stroke-linejoin="round" stroke-linecap="round"{dasharray}/>')


# ------------------------------------------------------------------------------------------------ frontier chart


def frontier_chart(points: list[dict[str, Any]] | None, *, title: str, unit: str, scale: float | None = None) -> str:
    """Best closed and best open score over time for one benchmark (step lines), the latest leaders
    marked with a dot and their model name (shortened at a word boundary, whole in a tooltip) and score
    (to the benchmark's :func:`precision` given its ``scale``). ``points`` are benchmark series points."""
    svg = _Svg("frontier", title)
    rows = _dated(points)
    closed = [_leader_score(p, "closed_leader") for _, p in rows]
    open_ = [_leader_score(p, "open_leader") for _, p in rows]
    values = [v for v in (*closed, *open_) if v is not None]
    if not values:
        return _no_data(svg, "No data yet", "No closed or open scores on this benchmark.")
    top = svg.legend(svg.header(), [("Closed (best)", "line", CLOSED), ("Open-weight (best)", "line", OPEN)])
    lo, hi = min(values), max(values)
    pad = (hi - lo) * 0.05
    days = [d for d, _ in rows]
    frame = _axes(svg, top, days[0], days[-1], lo - pad, hi + pad, unit)
    _series(svg, frame, "series-closed", CLOSED, days, closed, step=True)
    _series(svg, frame, "series-open", OPEN, days, open_, step=True)
    _leader_labels(svg, frame, rows, precision(scale))
    return svg.render()


def _leader_labels(svg: _Svg, frame: _Frame, rows: list[tuple[date, dict[str, Any]]], decimals: int = 1) -> None:
    """Dot + "model score" at each class's latest point, each label placed clear of the lines (closed
    preferring above its dot, open below), with a thin connector when it had to move away."""
    marks: list[tuple[float, float, str, str, str, str]] = []
    for key, cls, colour in (("closed_leader", "closed", CLOSED), ("open_leader", "open", OPEN)):
        latest = next(((d, p[key]) for d, p in reversed(rows) if _leader_score(p, key) is not None), None)
        if latest is None:
            continue
        d, leader = latest
        score = float(leader["score"])
        full = str(leader.get("model") or "?")
        marks.append((frame.px(d), frame.y(score), f"{shorten(full, LEADER_NAME_PX)} {_fmt_value(score, decimals)}",
                      cls, colour, f"{full} {_fmt_value(score, decimals)}"))
    area = frame.area
    for px, py, _, cls, colour, _ in marks:
        svg.add(f'<circle class="leader-dot leader-{cls}" cx="{_num(px)}" cy="{_num(py)}" r="4" fill="{colour}" '
                f'stroke="#ffffff" stroke-width="1.5"/>')
        svg.boxes.append((px - 5, py - 5, px + 5, py + 5))
    for i, (px, py, label, cls, colour, full_label) in enumerate(marks):
        others = [m[1] for j, m in enumerate(marks) if j != i]
        upper = all(py < o or (py == o and cls == "closed") for o in others) if others else cls == "closed"
        x, anchor = (px - 7, "end") if px - 7 - _text_width(label) >= area.left else (area.left + 4, "start")
        offsets = [(-8 - 14 * k, 0 if upper else 10) for k in range(12)] + \
                  [(18 + 14 * k, 10 if upper else 0) for k in range(12)]
        offsets.sort(key=lambda o: abs(o[0]) + o[1])
        box = svg.place([(x, py + dy, anchor) for dy, _ in offsets], label, area, headroom=14,
                        cls=f"leader-label leader-{cls}", fill=colour, bold=True, tooltip=full_label)
        if box[1] - py > 14 or py - box[3] > 14:  # moved away: connect label and dot
            ly = box[1] if box[1] > py else box[3]
            lx = min(max(px, box[0] + 4), box[2] - 4)
            svg.add(f'<line class="leader-connector" x1="{_num(px)}" y1="{_num(py)}" x2="{_num(lx)}" y2="{_num(ly)}" '
                    f'stroke="{colour}" stroke-width="1"/>')


# ------------------------------------------------------------------------------------------------ gap chart


def gap_chart(points: list[dict[str, Any]] | None, forecast: dict[str, Any] | None, *, title: str, unit: str,
              metric: str = "score_gap") -> str:
    """History of ``metric`` (default the score gap) with the forecast trajectory (dashed), its 80% fan,
    a zero line ("caught up") and the median catch-up date as a vertical marker."""
    svg = _Svg("gap", title)
    rows = _dated(points)
    history = [_float(p.get(metric)) for _, p in rows]
    traj = _trajectory(forecast)
    observed = [(d, v) for (d, _), v in zip(rows, history, strict=True) if v is not None]
    if not observed and not traj:
        return _no_data(svg, "No data yet", f"No {metric.replace('_', ' ')} history for this series.")
    p50 = _date(((forecast or {}).get("catch_up") or {}).get("p50"))
    legend = [(_metric_label(metric), "line", GAP)]
    if traj:
        legend += [("Forecast", "dash", FORECAST), ("80% interval", "band", FAN)]
    if p50 is not None:
        legend.append(("Median catch-up", "rule", MARKER))
    top = svg.legend(svg.header(), legend)
    if observed and traj:  # start the forecast at the last observation so the lines join
        last_d, last_v = observed[-1]
        traj = [(last_d, last_v, last_v, last_v), *(t for t in traj if t[0] > last_d)]
    # the axis spans the data, the forecast and its band (and 0), the band cut to the values the metric can
    # take: an interval reaching past them (a gap beyond 100 % of scale, a negative lag) would stretch the
    # axis to numbers no series shows (the -100..200 axes of issue 14)
    floor, ceiling = _limits(metric, unit)
    band = [min(max(v, floor), ceiling) for t in traj for v in t[1:]]
    values = [v for _, v in observed] + band + [0.0]
    days = [d for d, _ in rows] + [t[0] for t in traj]
    lo, hi = min(values), max(values)
    frame = _axes(svg, top, min(days), max(days), lo, min(hi + (hi - lo) * 0.04, ceiling), unit, (floor, ceiling))
    if traj:
        _fan(svg, frame, traj)
    area, zero_y = frame.area, frame.y(0.0)
    svg.add(f'<line class="zero-line" x1="{_num(area.left)}" y1="{_num(zero_y)}" x2="{_num(area.right)}" '
            f'y2="{_num(zero_y)}" stroke="{INK}" stroke-width="1.2"/>')
    _series(svg, frame, "series-gap", GAP, [d for d, _ in rows], history)
    if traj:
        _series(svg, frame, "series-forecast", FORECAST, [t[0] for t in traj], [t[1] for t in traj], dash=True)
    if p50 is not None and frame.x.d0 <= p50.toordinal() <= frame.x.d1:
        _catch_up_marker(svg, frame, p50)
    svg.place([(area.right - 3, zero_y - 5, "end"), (area.right - 3, zero_y + 15, "end"),
               (area.left + 4, zero_y - 5, "start"), (area.left + 4, zero_y + 15, "start")],
              "0 = caught up", area, cls="zero-label")
    return svg.render()


def _limits(metric: str, unit: str) -> tuple[float, float]:
    """The values ``metric`` can take in ``unit``: a lag is never negative; a score gap in % (of scale) lies
    in [-100, 100]; otherwise unbounded."""
    if metric == "lag_days":
        return 0.0, math.inf
    if unit.startswith("%"):
        return -100.0, 100.0
    return -math.inf, math.inf


def _metric_label(metric: str) -> str:
    return {"score_gap": "Score gap", "lag_days": "Lag"}.get(metric, metric.replace("_", " ").capitalize())


def _trajectory(forecast: dict[str, Any] | None) -> list[tuple[date, float, float, float]]:
    """``(date, yhat, lower, upper)`` of the forecast's valid trajectory points."""
    out = []
    for t in (forecast or {}).get("trajectory") or []:
        if not isinstance(t, dict):
            continue
        d, yhat, lower, upper = _date(t.get("date")), _float(t.get("yhat")), _float(t.get("lower")), \
            _float(t.get("upper"))
        if d is not None and yhat is not None:
            out.append((d, yhat, yhat if lower is None else lower, yhat if upper is None else upper))
    return sorted(out)


def _fan(svg: _Svg, frame: _Frame, traj: Sequence[tuple[date, float, float, float]]) -> None:
    area = frame.area
    upper = [(frame.px(d), area.clamp_y(frame.y(u))) for d, _, _, u in traj]
    lower = [(frame.px(d), area.clamp_y(frame.y(lo))) for d, _, lo, _ in traj]
    svg.add(f'<path class="fan" d="{_band_d(upper, lower)}" fill="{FAN}" fill-opacity="0.35" stroke="none"/>')


def _catch_up_marker(svg: _Svg, frame: _Frame, day: date) -> None:
    area, px = frame.area, frame.px(day)
    svg.add(f'<line class="marker marker-catch-up" x1="{_num(px)}" y1="{_num(area.top)}" x2="{_num(px)}" '
            f'y2="{_num(area.bottom)}" stroke="{MARKER}" stroke-width="2" stroke-dasharray="3 2"/>')
    svg.lines.append([(px, area.top), (px, area.bottom)])
    candidates = [(px + dx, area.top + 13 + 14 * k, anchor) for k in range(4) for dx, anchor in ((5, "start"),
                                                                                                  (-5, "end"))]
    svg.place(candidates, f"median {_month_label(day)}", area, cls="marker-label", fill=MARKER, bold=True)


# ------------------------------------------------------------------------------------------------ catch-up chart


def catch_up_chart(forecast: dict[str, Any] | None, *, title: str) -> str:
    """P(open catches up within 6/12/24 months) and never within the horizon as bars, the p10/p50/p90
    dates and the lag trend as text; the status and reason in words when there is nothing to chart."""
    svg = _Svg("catch-up", title)
    if not forecast:
        return _no_data(svg, "No forecast yet", "The forecast for this series has not been computed.")
    status = str(forecast.get("status") or "unknown")
    catch = forecast.get("catch_up") or {}
    bars = _catch_up_bars(forecast, status, catch)
    y = svg.header() + 4
    if bars:
        svg.text(_PAD, y + 12, _bar_caption(status, catch.get("basis")), cls="subtitle", fill=MUTED)
        y = _bars(svg, y + 22, bars)
        # every note whole: wrapped at word boundaries, the chart grows to hold them rather than cut them off
        width = svg.width - 2 * _PAD
        lines = [line for note in _catch_up_notes(forecast, status, catch) for line in _wrap(note, width)]
        for i, line in enumerate(lines):
            svg.text(_PAD, y + 18 * i, line, cls="note")
        svg.height = max(svg.height, int(y + 18 * (len(lines) - 1) + 12))
        return svg.render()
    svg.text(_PAD, y + 24, STATUS_TEXT.get(status, status.replace("_", " ").capitalize()), cls="status",
             size=TITLE_PX, bold=True)
    lines = _wrap(str(forecast.get("reason") or ""), svg.width - 2 * _PAD, max_lines=16)
    for i, line in enumerate(lines):
        svg.text(_PAD, y + 50 + 18 * i, line, cls="reason", fill=MUTED)
    svg.height = max(svg.height, int(y + 50 + 18 * (len(lines) - 1) + 12))
    return svg.render()


def _catch_up_bars(forecast: dict[str, Any], status: str, catch: dict[str, Any]) -> list[tuple[str, float, str]]:
    """Bar rows ``(label, probability, colour)``: the retake odds when open is level or leads, else the
    catch-up odds (empty when the forecast gives none)."""
    if status in ("open_leads", "caught_up"):
        lost = _float(catch.get("p_lead_lost_within_12"))
        return [] if lost is None else [("closed ahead in 12 mo", lost, CLOSED)]
    within = catch.get("probability_within") or {}
    rows = [(f"within {w} months", _float(within.get(w)), OPEN) for w in sorted(within, key=_int_key)]
    never = _float(catch.get("never_within_horizon"))
    horizon = forecast.get("horizon_months")
    rows.append((f"not in {horizon} months" if horizon else "not in horizon", never, FAN))
    return [(label, p, colour) for label, p, colour in rows if p is not None]


def _int_key(key: object) -> tuple[int, str]:
    s = str(key)
    return (int(s), s) if s.isdigit() else (10**9, s)


def _bar_caption(status: str, basis: object = None) -> str:
    source = "base rate" if basis == "base_rate" else "sample paths"
    if status in ("open_leads", "caught_up"):
        return f"{STATUS_TEXT[status]}: P(closed pulls ahead), {source}"
    return f"P(open caught up 3 months running), {source}"


def _bars(svg: _Svg, y: float, rows: Sequence[tuple[str, float, str]]) -> float:
    """Horizontal bars on a 0-100% axis; returns the y below the axis labels."""
    label_w = max(_text_width(label) for label, _, _ in rows) + 8
    x0, x1 = _PAD + label_w, svg.width - _PAD - 40.0
    scale = _Scale(0.0, 1.0, x0, x1)
    for i, (label, p, colour) in enumerate(rows):
        top = y + 26 * i
        svg.text(x0 - 8, top + 14, label, cls="bar-label", anchor="end")
        svg.add(f'<rect class="track" x="{_num(x0)}" y="{_num(top + 2)}" width="{_num(x1 - x0)}" height="16" '
                f'fill="{TRACK}"/>')
        svg.add(f'<rect class="bar" data-label={_attr(label)} data-value="{p:.4f}" x="{_num(x0)}" '
                f'y="{_num(top + 2)}" width="{_num(scale(min(max(p, 0.0), 1.0)) - x0)}" height="16" fill="{colour}"/>')
        svg.text(x1 + 6, top + 14, _pct(p), cls="bar-value", bold=True)
    axis_y = y + 26 * len(rows) + 2
    svg.add(f'<g class="axis axis-x"><line x1="{_num(x0)}" y1="{_num(axis_y)}" x2="{_num(x1)}" '
            f'y2="{_num(axis_y)}" stroke="{INK}"/>')
    for t in (0.0, 0.25, 0.5, 0.75, 1.0):
        px = scale(t)
        svg.add(f'<line x1="{_num(px)}" y1="{_num(axis_y)}" x2="{_num(px)}" y2="{_num(axis_y + 4)}" stroke="{INK}"/>')
        svg.text(px, axis_y + 17, f"{t * 100:.0f}%", cls="tick", size=TICK_PX, anchor="middle", fill=MUTED)
    svg.add("</g>")
    return axis_y + 42


def _catch_up_notes(forecast: dict[str, Any], status: str, catch: dict[str, Any]) -> list[str]:
    notes: list[str] = []
    if status in ("open_leads", "caught_up"):
        return [str(forecast.get("reason") or STATUS_TEXT[status])]
    p10, p50, p90 = (_date(catch.get(k)) for k in ("p10", "p50", "p90"))
    if catch.get("basis") == "base_rate":
        notes.append("Catch-up date: not predictable from this history")
    elif p50 is not None:
        notes.append(f"Median catch-up: {_month_label(p50)}")
        def when(d: date | None) -> str:
            return "beyond the horizon" if d is None else _month_label(d)
        notes.append(f"10{EN_DASH}90% range: {when(p10)} to {when(p90)}")
    else:
        notes.append("Median catch-up: no date within the horizon")
    trend = _trend_phrase(forecast.get("lag_trend"))
    if trend:
        notes.append(f"Lag trend: {trend}")
    if status != "ok":
        notes.append(STATUS_TEXT.get(status, status.replace("_", " ")))
    return notes


def _trend_phrase(trend: object) -> str:
    """``stable (+9 days/year, 80%: -11 to +28)`` (typographic minus) or ``""`` without a verdict."""
    if not isinstance(trend, dict) or not trend.get("verdict"):
        return ""
    slope, lo, hi = (_float(trend.get(k)) for k in ("slope_days_per_year", "lower", "upper"))
    text = str(trend["verdict"])
    if slope is not None:
        text += f" ({slope:+.0f} days/year".replace("-", MINUS)
        if lo is not None and hi is not None:
            text += f", 80%: {lo:+.0f} to {hi:+.0f}".replace("-", MINUS)
        text += ")"
    return text


# ------------------------------------------------------------------------------------------------ domain card

CARD_CSS = """
.domain-card{border:1px solid #d9d9d9;border-radius:8px;padding:16px 20px;margin:0 0 24px;background:#fff;
  color:#222;font:15px/1.45 system-ui,-apple-system,'Segoe UI',Roboto,'Helvetica Neue',Arial,sans-serif}
.domain-card header{display:flex;flex-wrap:wrap;align-items:baseline;gap:6px 12px}
.domain-card h2{margin:0;font-size:21px}
.domain-card .badge{display:inline-block;padding:1px 10px;border-radius:10px;font-size:13px;font-weight:600;
  background:#eee;color:#333}
.domain-card .badge-open_behind{background:#fbe1d1;color:#8a3300}
.domain-card .badge-caught_up{background:#d7efe6;color:#00553d}
.domain-card .badge-open_leads{background:#d6e9f6;color:#004a75}
.domain-card .as-of{color:#666;font-size:13px}
.domain-card .figures{display:flex;flex-wrap:wrap;gap:8px 32px;margin:12px 0 4px}
.domain-card .figures div{min-width:0}
.domain-card dt{font-size:12px;color:#666;text-transform:uppercase;letter-spacing:.04em}
.domain-card dd{margin:0;font-size:16px;font-weight:600;overflow-wrap:anywhere}
.domain-card .verdict{margin:8px 0 2px;font-weight:600}
.domain-card .reason{margin:0 0 12px;color:#444;font-size:14px;max-width:75em}
.domain-card .charts{display:flex;flex-wrap:wrap;gap:16px}
.domain-card figure{margin:0;flex:0 1 420px;min-width:0}
.domain-card figure svg{display:block;width:100%;max-width:420px;height:auto}
""".strip()
"""Styles for :func:`domain_card`: include once in the dashboard page's ``<style>``."""


def domain_card(domain_row: dict[str, Any], series: list[dict[str, Any]] | None, forecast: dict[str, Any] | None,
                primary_points: list[dict[str, Any]] | None, primary_name: str, *, primary_unit: str = "score",
                primary_scale: float | None = None, primary_margin: float | None = None) -> str:
    """One domain's dashboard card: name, status badge, gap/lag/leaders, the lag verdict and forecast reason,
    and the frontier (primary benchmark, named `primary_name`), gap and catch-up charts side by side. The
    primary benchmark's `primary_scale` sets how its scores are rounded (:func:`precision`) and its tie
    margin `primary_margin` is shown rounded the same way. Style with :data:`CARD_CSS`."""
    domain = str(domain_row.get("domain") or "")
    name = str(domain_row.get("name") or domain or "Domain")
    status = str(domain_row.get("status") or "no_data")
    unit = str(domain_row.get("unit") or "% of scale")
    as_of = domain_row.get("as_of")
    header = (f"<header><h2>{escape(name)}</h2>"
              f'<span class="badge badge-{escape(status)}">{escape(STATUS_TEXT.get(status, status))}</span>'
              + (f'<span class="as-of">as of {escape(str(as_of))}</span>' if as_of else "") + "</header>")
    reason = str((forecast or {}).get("reason") or "")
    charts = [
        frontier_chart(primary_points, title=f"{primary_name}: best closed vs open", unit=primary_unit,
                       scale=primary_scale),
        gap_chart(series, forecast, title=gap_title(name, "score_gap", unit), unit=unit),
        catch_up_chart(forecast, title=f"{name}: when does open catch up?"),
    ]
    leaders = _Leaders(str(domain_row.get("primary_benchmark") or ""), primary_name, primary_unit, primary_scale,
                       primary_margin)
    return (
        f'<section class="domain-card" id={_attr("domain-" + domain)} data-domain={_attr(domain)} '
        f'data-status={_attr(status)}>'
        + header + _figures(domain_row, unit, leaders)
        + f'<p class="verdict">{escape(_verdict(forecast))}</p>'
        + (f'<p class="reason">{escape(reason)}</p>' if reason else "")
        + '<div class="charts">' + "".join(f'<figure class="chart">{c}</figure>' for c in charts) + "</div></section>"
    )


@dataclass(frozen=True)
class _Leaders:
    """The benchmark a domain's leaders come from: id, display name, unit, scale and tie margin."""

    benchmark: str
    name: str
    unit: str = "score"
    scale: float | None = None
    margin: float | None = None


def _figures(row: dict[str, Any], unit: str, leaders: _Leaders) -> str:
    gap, lag = _float(row.get("score_gap")), _float(row.get("lag_days"))
    items = [
        ("Score gap", "—" if gap is None else _with_unit(gap, unit)),
        ("Lag", "—" if lag is None else f"{lag:.0f} days ({lag / DAYS_PER_MONTH:.1f} months)"),
        ("Best closed", leader_text(row.get("closed_leader"), leaders.benchmark, "", leaders.scale, named=False)),
        ("Best open", leader_text(row.get("open_leader"), leaders.benchmark, "", leaders.scale, named=False)),
        ("Leaders on", leaders.name or leaders.benchmark or "—"),
    ]
    if leaders.margin is not None:
        items.append(("Tie margin", margin_text(leaders.margin, _short_unit(leaders.unit), leaders.scale)))
    body = "".join(f"<div><dt>{escape(k)}</dt><dd>{escape(v)}</dd></div>" for k, v in items)
    return f'<dl class="figures">{body}</dl>'


def _short_unit(unit: str) -> str:
    """``%`` for any percentage unit (``% correct``), else the unit: what follows a margin's number."""
    return "%" if unit.startswith("%") else unit


def leader_text(leader: object, benchmark: str = "", benchmark_name: str = "", scale: float | None = None, *,
                named: bool = True) -> str:
    """``gpt-5.6-sol (78.3 on AA Coding Index)``: the full model name, its score to the benchmark's
    :func:`precision`, and (`named`) the benchmark's name (`benchmark_name` when the leader's benchmark is
    `benchmark`, else its id); ``—`` without a leader."""
    if not isinstance(leader, dict) or not leader.get("model"):
        return "—"
    text = str(leader["model"])
    score = _float(leader.get("score"))
    if score is not None:
        on = str(leader.get("benchmark") or "")
        on = benchmark_name if on and on == benchmark and benchmark_name else on
        text += f" ({_fmt_value(score, precision(scale))}" + (f" on {on})" if on and named else ")")
    return text


def _verdict(forecast: dict[str, Any] | None) -> str:
    """The lag verdict in one sentence."""
    if not forecast:
        return "No forecast yet."
    trend = forecast.get("lag_trend")
    phrase = _trend_phrase(trend)
    if not phrase:
        return "Not enough lag history for a trend."
    verdict = str(trend["verdict"]) if isinstance(trend, dict) else ""
    if forecast.get("status") in ("open_leads", "caught_up"):  # the lag's trend says little once open is level
        level = "Open models lead" if forecast["status"] == "open_leads" else "Open models are level with closed"
        return f"{level}; the lag's trend over the next 12 months: {phrase}."
    meaning = {"shrinking": "open models are closing in", "widening": "open models are falling further behind",
               "stable": "open models stay about as far behind"}.get(verdict, "")
    return f"The lag is {phrase} over the next 12 months" + (f": {meaning}." if meaning else ".")


# ------------------------------------------------------------------------------------------------ summary table

SUMMARY_CSS = """
.summary{margin:0 0 20px}
.summary .scroll{overflow-x:auto;max-width:100%;background:#fff;border:1px solid #d9d9d9;border-radius:8px}
.summary table{border-collapse:separate;border-spacing:0;width:100%;font-size:14px;line-height:1.35}
.summary th,.summary td{padding:6px 9px;text-align:left;vertical-align:top;border-bottom:1px solid #eee;
  overflow-wrap:break-word}
.summary thead th{font-size:12px;color:#555;font-weight:600;background:#fafafa;border-bottom:1px solid #ddd;
  white-space:nowrap}
.summary .num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
.summary tbody th,.summary td.data,.summary td.trend,.summary td.leader,.summary .score{white-space:nowrap}
.summary td.answer{min-width:9em}.summary td.bench{min-width:12em}
.summary tbody th,.summary thead th:first-child{position:sticky;left:0;background:#fff;z-index:1}
.summary thead th:first-child{background:#fafafa}
@media (max-width:700px){.summary tbody th{white-space:normal;min-width:6em;max-width:8em}}
.summary tbody th a{font-weight:600;color:#0b4f8a}
.summary .trend-shrinking{color:#00553d}.summary .trend-widening{color:#8a3300}
.summary .answer-forecast,.summary .answer-open-leads,.summary .answer-caught-up{font-weight:600}
.summary .answer-overdue{color:#8a3300;font-weight:600}
.summary .muted,.summary .answer-not-predictable,.summary .answer-pending,.summary .answer-filtered{color:#555}
.summary .sub{display:block;color:#666;font-size:12px}
.summary .footnote{font-size:13px;color:#444;margin:6px 2px 0;max-width:100em}
""".strip()
"""Styles for :func:`summary_table`: include once in the dashboard page's ``<style>``."""


@dataclass(frozen=True)
class SummaryRow:
    """One domain's line of the summary table: its `/v1/domains` row (summary plus headline fields), its
    stored score-gap forecast (None while pending) and its primary benchmark's display name and scale."""

    row: dict[str, Any]
    forecast: dict[str, Any] | None
    benchmark_name: str = ""
    benchmark_scale: float | None = None


TREND_ARROW = {"shrinking": "↓", "stable": "→", "widening": "↑"}
TREND_NOTE = ("Trend: the forecast's expected change of the lag over the next 12 months (median of the "
              "sample paths, with its 80% band): widening when the whole band is above zero (9 paths in 10 "
              "end the year further behind), shrinking when it is below zero, stable otherwise.")


def trend_cell(forecast: dict[str, Any] | None) -> tuple[str, str]:
    """``(verdict, tooltip)`` of the lag trend (see :data:`TREND_NOTE`): verdict ``shrinking``, ``stable``,
    ``widening`` or ``—`` without a forecast or paths; the tooltip gives the slope and its band."""
    trend = (forecast or {}).get("lag_trend")
    phrase = _trend_phrase(trend)
    if not phrase or not isinstance(trend, dict):
        return "—", "no lag trend: no forecast, or no sample paths to read it from"
    return str(trend["verdict"]), f"expected lag change over the next 12 months: {phrase}"


def catch_up_answer(row: dict[str, Any], forecast: dict[str, Any] | None, today: date) -> tuple[str, str, str]:
    """``(kind, text, tooltip)`` of a domain's catch-up answer, from its score-gap forecast: ``open-leads``,
    ``caught-up`` (with the odds closed pulls ahead in 12 months), ``insufficient``, ``overdue`` (the
    median date passed without the catch-up), ``not-predictable`` (the basis is the base rate: the model
    showed no skill in the backtest), ``saturated``, else ``forecast``: P(caught up within 12 months) and
    the median date; ``pending`` while no forecast is stored; ``filtered`` for a row of a filtered view
    (``forecast_status`` ``filtered``: forecasts are made for the unfiltered series only)."""
    if row.get("forecast_status") == "filtered":
        return "filtered", "n/a in this view", "forecasts are made for the series of all models only"
    if not forecast:
        return "pending", "no forecast yet", "the forecast is being computed"
    status = str(forecast.get("status") or row.get("status") or "")
    catch = forecast.get("catch_up") or {}
    if status in ("open_leads", "caught_up"):
        lost = _float(catch.get("p_lead_lost_within_12"))
        tip = "" if lost is None else f"P(closed clearly ahead again within 12 months): {_pct(lost)}"
        return status.replace("_", "-"), "open leads" if status == "open_leads" else "caught up", tip
    if status == "insufficient_data":
        return "insufficient", "not enough data", str(forecast.get("reason") or "")
    p50 = _date(catch.get("p50"))
    if p50 is not None and p50 < today:
        return "overdue", f"overdue (median was {_month_label(p50)})", \
            "the median catch-up date has passed and the data does not show the catch-up"
    within = catch.get("probability_within") or {}
    p12 = _float(within.get("12"))
    if catch.get("basis") == "base_rate":
        base = "" if p12 is None else f"; the base rate of similar series is {_pct(p12)} within 12 months"
        return "not-predictable", "not predictable", \
            "in the backtest the model's catch-up probabilities did not beat the base rate" + base
    if catch.get("basis") == "saturated":
        return "saturated", "not asked (saturated)", "the benchmark is near its ceiling: a shrinking gap is no catch-up"
    median = f"median {_month_label(p50)}" if p50 else f"median beyond {forecast.get('horizon_months') or 36} months"
    return "forecast", f"{_pct(p12)} within 12 mo · {median}", \
        "P(open within the tie margin 3 months running) within 12 months, and the median catch-up date"


def _data_cell(row: dict[str, Any], today: date, names: dict[str, str]) -> tuple[str, str]:
    """``(text, tooltip)``: the row's newest data date and its age today; per contributing benchmark
    its newest data date (``member_data_age_days`` counts from the row's date)."""
    as_of = _date(row.get("as_of"))
    if as_of is None:
        return "—", "no dated data"
    age = max((today - as_of).days, 0)
    per = []
    for bench, days in sorted((row.get("member_data_age_days") or {}).items(), key=lambda kv: (kv[1], kv[0])):
        if isinstance(days, int | float) and not isinstance(days, bool):
            per.append(f"{names.get(bench, bench)}: {date.fromordinal(as_of.toordinal() - int(days)).isoformat()}")
    tip = f"newest data {as_of.isoformat()}, {age} days before today" + (
        "; newest per benchmark: " + "; ".join(per) if per else "")
    return f"{as_of.isoformat()} ({age} d)", tip


def summary_table(rows: Sequence[SummaryRow], today: date, names: dict[str, str] | None = None) -> str:
    """The dashboard's first table, a row per domain (linking to its ``#domain-<id>`` card): score gap
    (% of scale) and lag (months) now, lag trend, catch-up answer (:func:`catch_up_answer`), the closed
    and open leaders on the domain's primary benchmark (named), and the data's date and age; a footnote
    defines the columns. Style with :data:`SUMMARY_CSS`."""
    names = names or {}
    head = ("<thead><tr><th scope='col'>Domain</th><th scope='col' class='num'>Score gap<span class='sub'>% of "
            "scale</span></th><th scope='col' class='num'>Lag<span class='sub'>months</span></th>"
            "<th scope='col'>Trend<span class='sub'>lag, next 12 mo</span></th>"
            "<th scope='col'>Catch-up<span class='sub'>P(in 12 mo) · median</span></th>"
            "<th scope='col'>Best closed</th><th scope='col'>Best open</th>"
            "<th scope='col'>Leaders on</th><th scope='col'>Data<span class='sub'>newest (age)</span></th>"
            "</tr></thead>")
    body = "".join(_summary_line(r, today, names) for r in rows)
    note = (f"<p class='footnote'>Score gap: best closed minus best open, in % of each benchmark's scale (the "
            f"domain's scale-aware aggregate; positive = open behind). Lag: how long closed has been clearly "
            f"ahead of today's best open model. {escape(TREND_NOTE)} Catch-up: open within the tie margin 3 months "
            f"running; \"not predictable\" where the model's probabilities did not beat the base rate in the "
            f"backtest. Leaders: the best closed and open model on the domain's primary benchmark. Hover a cell "
            f"for details.</p>")
    return (f"<section class='summary' aria-label='Summary per domain'><div class='scroll'>"
            f"<table class='summary-table'>{head}<tbody>{body}</tbody></table></div>{note}</section>")


def _summary_line(item: SummaryRow, today: date, names: dict[str, str]) -> str:
    row, fc = item.row, item.forecast
    domain = str(row.get("domain") or "")
    gap, lag = _float(row.get("score_gap")), _float(row.get("lag_days"))
    verdict, trend_tip = trend_cell(fc)
    kind, answer, answer_tip = catch_up_answer(row, fc, today)
    data, data_tip = _data_cell(row, today, names)
    bench = str(row.get("primary_benchmark") or "")
    bench_name = item.benchmark_name or names.get(bench, bench)
    decimals = precision(item.benchmark_scale)

    def leader(key: str) -> str:
        value = row.get(key)
        if not isinstance(value, dict) or not value.get("model"):
            return "<td class='muted'>—</td>"
        score = _float(value.get("score"))
        shown = "" if score is None else f" <span class='score'>{escape(_fmt_value(score, decimals))}</span>"
        released = f"released {value['release_date']}" if value.get("release_date") else ""
        return f"<td class='leader' title={_attr(released)}>{escape(str(value['model']))}{shown}</td>"

    arrow = TREND_ARROW.get(verdict, "")
    return (f"<tr data-domain={_attr(domain)}><th scope='row'><a href={_attr('#domain-' + domain)}>"
            f"{escape(str(row.get('name') or domain))}</a></th>"
            f"<td class='num'>{'—' if gap is None else escape(_fmt_value(gap))}</td>"
            f"<td class='num'>{'—' if lag is None else escape(_fmt_value(lag / DAYS_PER_MONTH))}</td>"
            f"<td class={_attr('trend trend-' + verdict)} title={_attr(trend_tip)}>{escape(verdict)}"
            f"{' ' + arrow if arrow else ''}</td>"
            f"<td class={_attr('answer answer-' + kind)} title={_attr(answer_tip)}>{escape(answer)}</td>"
            + leader("closed_leader") + leader("open_leader")
            + f"<td class='bench' title={_attr(bench)}>{escape(bench_name) if bench_name else '—'}</td>"
            f"<td class='data' title={_attr(data_tip)}>{escape(data)}</td></tr>")


# ------------------------------------------------------------------------------------------------ track record

TRACK_HORIZON, TRACK_WINDOW = 6, 12  # the dashboard's columns: errors 6 months on, catch-up within 12 months
SOURCE_TEXT = {"backtest": "backtest", "live": "live"}


def _error_at(summary: dict[str, Any], metric: str, horizon: int) -> dict[str, Any] | None:
    return next((e for e in summary.get("errors") or [] if e.get("metric") == metric
                 and e.get("horizon_months") == horizon), None)


def _brier_at(summary: dict[str, Any], window: int) -> dict[str, Any] | None:
    """The catch-up score within `window` months, else within the longest shorter window that has one
    (young records resolve the short windows first)."""
    scores = [c for c in summary.get("catch_up") or [] if isinstance(c.get("within_months"), int)
              and c["within_months"] <= window]
    return max(scores, key=lambda c: c["within_months"], default=None)


def _track_cells(summary: dict[str, Any] | None) -> str:
    """The figure cells of one track-record line: score-gap MAE at 6 months vs "no change", 80% coverage,
    catch-up Brier within 12 months vs the base rate; "not resolved yet" where nothing is resolved."""
    err = _error_at(summary or {}, "score_gap", TRACK_HORIZON)
    brier = _brier_at(summary or {}, TRACK_WINDOW)
    if err is None:
        cells = "<td class='num muted' colspan='3'>not resolved yet</td>"
    else:
        mae, base = _float(err.get("mae")), _float(err.get("mae_no_change"))
        better = mae is not None and base is not None and mae < base
        cells = (f"<td class={_attr('num ' + ('better' if better else 'worse'))}>{_opt(mae)}</td>"
                 f"<td class='num'>{_opt(base)}</td>"
                 f"<td class='num'>{_pct(_float(err.get('coverage_80')))}"
                 f"<span class='sub'>n={err.get('n')}</span></td>")
    if brier is None:
        return cells + "<td class='num muted' colspan='2'>not resolved yet</td>"
    b, b0 = _float(brier.get("brier")), _float(brier.get("brier_base_rate"))
    return cells + (f"<td class='num'>{_brier_text(b)}<span class='sub'>within {brier.get('within_months')} mo, "
                    f"n={brier.get('n')}</span></td>"
                    f"<td class='num'>{_brier_text(b0)}</td>")


def _brier_text(v: float | None) -> str:
    return "—" if v is None else f"{v:.4f}"  # the API's rounding: good Brier scores are small


def _opt(v: float | None, decimals: int = 1) -> str:
    return "—" if v is None else escape(_fmt_value(v, decimals))


def track_record_table(scored: dict[str, dict[str, Any]], domains: Sequence[tuple[str, str]],
                       counts: dict[str, dict[str, int]]) -> str:
    """The dashboard's track-record section: per domain (``(id, name)`` in page order) and pooled, one line
    per source (``backtest``, ``live``) that has entries. `scored` maps a source to
    :func:`forecasts.publishing.track_record.score`'s answer on that source's entries; `counts` maps a source to
    entries per domain. Figures: the score-gap forecast's MAE 6 months on against "no change" (the state it
    started from), its 80% band's coverage, and the Brier score of P(caught up within 12 months) against
    the base rate. Style with :data:`SUMMARY_CSS`."""
    head = ("<thead><tr><th scope='col'>Domain</th><th scope='col'>Source</th><th scope='col' class='num'>"
            "Forecasts</th><th scope='col' class='num'>Gap error<span class='sub'>MAE at 6 mo, % of scale</span>"
            "</th><th scope='col' class='num'>No change<span class='sub'>MAE at 6 mo</span></th>"
            "<th scope='col' class='num'>80% band<span class='sub'>coverage at 6 mo</span></th>"
            "<th scope='col' class='num'>Catch-up Brier<span class='sub'>within 12 mo (or less)</span></th>"
            "<th scope='col' class='num'>Base rate<span class='sub'>Brier</span></th></tr></thead>")
    lines = []
    for domain, name in [*domains, ("", "All domains (pooled)")]:
        sources = [(source, n) for source in ("backtest", "live") if source in scored
                   and (n := sum(counts.get(source, {}).values()) if not domain
                        else counts.get(source, {}).get(domain, 0))]
        label = (f"<a href={_attr('#domain-' + domain)}>{escape(name)}</a>" if domain else escape(name))
        for i, (source, n) in enumerate(sources):
            summary = scored[source]["pooled"] if not domain else scored[source]["domains"].get(domain)
            head_cell = f"<th scope='row' rowspan='{len(sources)}'>{label}</th>" if i == 0 else ""
            lines.append(f"<tr data-domain={_attr(domain or 'pooled')} data-source={_attr(source)}>{head_cell}"
                         f"<td><span class={_attr('source source-' + source)}>{SOURCE_TEXT[source]}</span></td>"
                         f"<td class='num'>{n}</td>{_track_cells(summary)}</tr>")
    body = "".join(lines) or "<tr><td colspan='8' class='muted'>No forecasts archived yet.</td></tr>"
    note = ("<p class='footnote'>How gapcast's past domain forecasts did against what happened since, on the "
            "series as it stands now. <strong>backtest</strong>: what the engine would have published at past "
            "cut-offs from the data known then; <strong>live</strong>: forecasts this service published, scored "
            "as their horizons pass. A forecast beats \"no change\" when its error is the smaller; a calibrated "
            "80% band covers about 80%; a Brier score below the base rate's means the probabilities carry "
            "information. Every forecast behind these figures: <a href='/v1/track-record'>/v1/track-record</a>."
            "</p>")
    return (f"<section class='summary track-record' id='track-record' aria-label='Track record'>"
            f"<h2>Track record</h2><div class='scroll'><table class='track-record-table'>{head}<tbody>{body}"
            f"</tbody></table></div>{note}</section>")
