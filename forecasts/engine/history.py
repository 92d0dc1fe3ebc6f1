"""Each benchmark's history as the frontier models see it: both classes' frontiers at month-ends, the
closed frontier's steps (for the lag), and the realised gap points (what the backtest scores against).

Everything a forecast made at a cut-off uses is cut at that cut-off: scores count from their model's
release date, so the frontier known at a month-end is the frontier of the models released by then.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from datetime import date

import numpy as np

from forecasts.engine.transform import Transform
from forecasts.measure.gaps import BenchmarkGaps, Frontier, GapPoint, GapStatus, month_ends

#: Status codes used on sample paths (ordered as the domain aggregation orders them).
LEADS, TIED, BEHIND, NO_DATA = -1, 0, 1, 2
STATUS_CODE = {GapStatus.OPEN_LEADS: LEADS, GapStatus.CAUGHT_UP: TIED, GapStatus.OPEN_BEHIND: BEHIND,
               GapStatus.NO_DATA: NO_DATA}


@dataclass(frozen=True)
class Steps:
    """A frontier's improvements: release dates (as ordinal days) and oriented values, ascending."""

    days: np.ndarray
    values: np.ndarray
    stderr: np.ndarray  # NaN where unknown

    @classmethod
    def of(cls, frontier: Frontier, higher_is_better: bool) -> Steps:
        sign = 1.0 if higher_is_better else -1.0
        lead = frontier.leaders
        return cls(np.array([ldr.effective_date.toordinal() for ldr in lead], dtype=float),
                   np.array([sign * ldr.score for ldr in lead], dtype=float),
                   np.array([np.nan if ldr.stderr is None else ldr.stderr for ldr in lead], dtype=float))

    def upto(self, day: float) -> Steps:
        n = int(np.searchsorted(self.days, day, side="right"))
        return Steps(self.days[:n], self.values[:n], self.stderr[:n])

    def level_at(self, days: np.ndarray) -> np.ndarray:
        """The frontier's oriented value at each ordinal day (NaN before the first step)."""
        i = np.searchsorted(self.days, days, side="right") - 1
        out = np.full(len(days), np.nan)
        ok = i >= 0
        out[ok] = self.values[i[ok]]
        return out


@dataclass(frozen=True, eq=False)
class BenchmarkHistory:
    """One benchmark: its gaps (full data), transform, month grid and frontier levels on that grid."""

    gaps: BenchmarkGaps
    transform: Transform
    months: list[date]  # month-ends from the first scored release of either class to the newest data
    closed_steps: Steps
    open_steps: Steps
    #: Realised points by date (the backtest asks for each month-end several times; Arena points are costly).
    _points: dict[date, GapPoint] = field(default_factory=dict, init=False, repr=False)

    @classmethod
    def build(cls, gaps: BenchmarkGaps) -> BenchmarkHistory | None:
        firsts = [d for d in (gaps.closed.first_date(), gaps.open.first_date()) if d is not None]
        if not firsts or gaps.data_end is None:
            return None
        hib = gaps.bench.higher_is_better
        return cls(gaps, Transform.for_benchmark(gaps.bench), list(month_ends(min(firsts), gaps.data_end)),
                   Steps.of(gaps.closed, hib), Steps.of(gaps.open, hib))

    @property
    def id(self) -> str:
        return self.gaps.bench.id

    def month_days(self) -> np.ndarray:
        return np.array([m.toordinal() for m in self.months], dtype=float)

    def index_of(self, t: date) -> int | None:
        """Index of the month-end `t` in the grid (the grid's last point may be capped at the data end)."""
        for i in range(len(self.months) - 1, -1, -1):
            m = self.months[i]
            if (m.year, m.month) == (t.year, t.month):
                return i
        return None

    @functools.cached_property
    def monthly_lag_days(self) -> np.ndarray:
        """The realised lag (days) at each month-end of the grid; NaN where a class has no score yet."""
        return np.array([np.nan if (p := self.point(m)).lag_days is None else float(p.lag_days)
                         for m in self.months])

    def point(self, t: date) -> GapPoint:
        """The realised gap point at `t` (as :class:`BenchmarkGaps` defines it)."""
        if (p := self._points.get(t)) is None:
            p = self._points[t] = self.gaps.at(t)
        return p
