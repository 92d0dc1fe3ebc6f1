"""Threshold-crossing lag and the public vs held-out split (README "Public vs held-out benchmarks").

The threshold-crossing lag is Ihle et al.'s metric ("How far behind are open models?", May 2026, Epoch hub
data): on a grid of score thresholds, the clock starts the day the closed frontier first reaches a
threshold and stops the day the open frontier does. Each (benchmark, threshold) pair gives one *crossing*,
placed at the open crossing date (the backward-looking view: "the best open model today does what closed
did N months ago"). It complements the horizontal lag of `forecasts.measure.gaps`, which asks how long closed has
been *clearly* ahead of today's open level and so depends on the tie margin; a crossing needs no margin.

Rules, as Ihle et al. state them:
- thresholds every 5 % of the benchmark's scale (`THRESHOLD_STEP_SHARE`); on a log-scale unit (METR
  minutes) every half doubling instead;
- a threshold counts only if neither frontier had reached it when both classes first had a score (before
  that its crossing dates are censored), and both frontiers have reached it since;
- a pair of models (closed crosser, open crosser) counts once per benchmark: one release that jumps several
  thresholds is one observation, not several;
- over time, crossings are pooled per side of the split: the value at a date is the mean lag of the
  crossings of the year before it (`WINDOW_DAYS`, placed at their open crossing date), and no value with
  fewer than `MIN_CROSSINGS` of them. Ihle et al. smooth with a Gaussian kernel instead; a one-sided kernel
  of 60-240 days gave held-out/public ratios of 1.0-1.7 at the newest date on the bundled data because the
  held-out side has few recent crossings, while the trailing year gives 1.7 at their publication date (the
  window was fixed at one year before this was measured, not tuned to it).

A benchmark's side is `Benchmark.held_out` (private or out-of-distribution test set) or not (public);
composites and live preference votes have `in_split` False and count on neither side
(forecasts/data/held_out.toml).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from typing import Any

from forecasts.measure.gaps import BenchmarkGaps, Frontier, month_ends

THRESHOLD_STEP_SHARE = 0.05  # thresholds every 5 % of the scale (Ihle et al.: "usually just every 5 %")
LOG_STEP = 0.5  # on a log-scale unit: every half doubling
LOG_UNITS = frozenset({"minutes"})
WINDOW_DAYS = 365  # a side's lag at t: the mean over crossings of the year before t
MIN_CROSSINGS = 5  # fewer crossings than this in the window: the side has no value (too few to average)


@dataclass(frozen=True)
class Crossing:
    """One threshold both frontiers reached: when and by which model (threshold in the benchmark's unit)."""

    benchmark: str
    threshold: float
    closed_date: date
    closed_model: str
    open_date: date
    open_model: str

    @property
    def lag_days(self) -> int:
        """Days from the closed crossing to the open one (negative: open got there first)."""
        return (self.open_date - self.closed_date).days

    def to_dict(self) -> dict[str, Any]:
        return {
            "benchmark": self.benchmark,
            "threshold": round(self.threshold, 4),
            "closed": {"model": self.closed_model, "date": self.closed_date.isoformat()},
            "open": {"model": self.open_model, "date": self.open_date.isoformat()},
            "lag_days": self.lag_days,
        }


def thresholds(bg: BenchmarkGaps) -> list[float]:
    """The oriented threshold grid of a benchmark, above both frontiers' values at the series start."""
    start = bg.start()
    if start is None:
        return []
    c, o = bg.closed.at(start), bg.open.at(start)
    assert c is not None and o is not None  # both exist from start() on
    floor = max(c[1], o[1])
    top = min(_top(bg.closed), _top(bg.open))
    if top <= floor:
        return []
    if bg.bench.unit in LOG_UNITS:
        lo, hi = _log(floor), _log(top)
        k = math.floor(lo / LOG_STEP) + 1
        return [2.0 ** (i * LOG_STEP) for i in range(k, math.floor(hi / LOG_STEP) + 1)]
    step = THRESHOLD_STEP_SHARE * bg.bench.scale
    k = math.floor(floor / step) + 1
    return [i * step for i in range(k, math.floor(top / step + 1e-9) + 1)]


def crossings(bg: BenchmarkGaps) -> list[Crossing]:
    """Every threshold both frontiers reached, one per (closed model, open model) pair, lowest first."""
    sign = 1.0 if bg.bench.higher_is_better else -1.0
    out: list[Crossing] = []
    pairs: set[tuple[str, str]] = set()
    for level in thresholds(bg):
        c, o = _reaching(bg.closed, level), _reaching(bg.open, level)
        if c is None or o is None or (c[1], o[1]) in pairs:
            continue
        pairs.add((c[1], o[1]))
        out.append(Crossing(bg.bench.id, sign * level, c[0], c[1], o[0], o[1]))
    return out


@dataclass(frozen=True)
class SideState:
    """One side of the split at a date: the trailing-year threshold lag (days) over `crossings` crossings,
    and the median horizontal lag (days) of its current `benchmarks`."""

    threshold_lag_days: float | None
    lag_days: float | None
    benchmarks: tuple[str, ...]
    crossings: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "threshold_lag_days": _r(self.threshold_lag_days),
            "lag_days": _r(self.lag_days),
            "benchmarks": list(self.benchmarks),
            "crossings": self.crossings,
        }


def trailing_lag(points: Iterable[Crossing], t: date) -> tuple[float | None, int]:
    """The mean lag (days) of the crossings in the `WINDOW_DAYS` up to `t` and their number; the mean is
    None with fewer than `MIN_CROSSINGS`."""
    lags = [p.lag_days for p in points if 0 <= (t - p.open_date).days < WINDOW_DAYS]
    return (sum(lags) / len(lags) if len(lags) >= MIN_CROSSINGS else None), len(lags)


def side_at(gaps: dict[str, BenchmarkGaps], points: list[Crossing], t: date, fresh_days: int) -> SideState:
    """One side's state at `t`: its crossings of the year before (mean lag) and the median horizontal lag
    of its benchmarks that are current at `t` (newest data at most `fresh_days` old)."""
    lags, names = [], []
    for bench_id, bg in sorted(gaps.items()):
        end = bg.data_end
        start = bg.start()
        if end is None or start is None or t < start or (t - end).days > fresh_days:
            continue
        p = bg.at(min(t, end))
        if p.lag_days is None or p.saturated:
            continue
        lags.append(float(p.lag_days))
        names.append(bench_id)
    lag = _median(lags) if lags else None
    mean, n = trailing_lag(points, t)
    return SideState(mean, lag, tuple(names), n)


def split(gaps: dict[str, BenchmarkGaps]) -> tuple[dict[str, BenchmarkGaps], dict[str, BenchmarkGaps]]:
    """(public, held_out) benchmarks; those on neither side (composites, live votes) are left out."""
    public = {k: g for k, g in gaps.items() if g.bench.in_split and not g.bench.held_out}
    held = {k: g for k, g in gaps.items() if g.bench.in_split and g.bench.held_out}
    return public, held


def robustness(gaps: dict[str, BenchmarkGaps], *, start: date, end: date, fresh_days: int) -> dict[str, Any]:
    """The split over time (month ends from `start` to `end`) and now (`end`).

    Returns `{now: {date, public, held_out, ratio}, series: [...], crossings: {public: [...], held_out:
    [...]}}`; `ratio` = held-out / public threshold lag, None where either side has no value or public <= 0.
    """
    public, held = split(gaps)
    pts = {"public": _all_crossings(public), "held_out": _all_crossings(held)}
    series = [_row(public, held, pts, t, fresh_days) for t in month_ends(start, end)]
    return {
        "now": _row(public, held, pts, end, fresh_days),
        "series": series,
        "crossings": {side: [c.to_dict() for c in cs] for side, cs in pts.items()},
        "method": {
            "threshold_step_share": THRESHOLD_STEP_SHARE,
            "log_step_doublings": LOG_STEP,
            "window_days": WINDOW_DAYS,
            "min_crossings": MIN_CROSSINGS,
            "fresh_days": fresh_days,
        },
    }


def _row(public: dict[str, BenchmarkGaps], held: dict[str, BenchmarkGaps], pts: dict[str, list[Crossing]],
         t: date, fresh_days: int) -> dict[str, Any]:
    pub, hel = side_at(public, pts["public"], t, fresh_days), side_at(held, pts["held_out"], t, fresh_days)
    ratio = None
    if pub.threshold_lag_days and hel.threshold_lag_days is not None and pub.threshold_lag_days > 0:
        ratio = hel.threshold_lag_days / pub.threshold_lag_days
    return {"date": t.isoformat(), "public": pub.to_dict(), "held_out": hel.to_dict(), "ratio": _r(ratio, 3)}


def _all_crossings(gaps: dict[str, BenchmarkGaps]) -> list[Crossing]:
    return sorted((c for bg in gaps.values() for c in crossings(bg)), key=lambda c: (c.open_date, c.benchmark))


def _reaching(frontier: Frontier, level: float) -> tuple[date, str] | None:
    """The first date the frontier reached `level` (oriented; float noise tolerated) and who did it."""
    ldr = frontier.leader_reaching(level - 1e-9)
    return (ldr.effective_date, ldr.model) if ldr else None


def _top(frontier: Frontier) -> float:
    best = frontier.best()
    return -math.inf if best is None else best


def _log(v: float) -> float:
    return math.log2(max(v, 1e-9))


def _median(xs: list[float]) -> float:
    s = sorted(xs)
    n = len(s)
    return s[n // 2] if n % 2 else (s[n // 2 - 1] + s[n // 2]) / 2.0


def _r(v: float | None, digits: int = 1) -> float | None:
    return None if v is None else round(v, digits)
