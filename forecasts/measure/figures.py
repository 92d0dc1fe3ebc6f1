"""Published figures gapcast reproduces from the same data (README "Reproducing published figures").

Each `Figure` names a number the field publishes (Epoch AI, LMArena / the AI Index, Ihle et al.), how
gapcast computes the same quantity from a dataset, and the tolerance within which the two must agree.
`gapcast figures` prints the table; tests/test_figures.py checks every row on the bundled data. Pure.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any

from forecasts.measure import robustness
from forecasts.measure.compute import benchmark_gaps
from forecasts.measure.domains import FRESH_DAYS
from forecasts.measure.gaps import DAYS_PER_MONTH, BenchmarkGaps, month_ends
from forecasts.records.model import Dataset

Gaps = dict[str, BenchmarkGaps]


@dataclass(frozen=True)
class Figure:
    """One published number: `published` (in `unit`) ± `tolerance` is the bar gapcast's value must meet."""

    id: str
    what: str
    source: str
    published: float
    tolerance: float
    unit: str
    compute: Callable[[Gaps], float | None]

    def check(self, gaps: Gaps) -> dict[str, Any]:
        """The figure's row: gapcast's value, the difference and whether it is within the tolerance."""
        value = self.compute(gaps)
        ok = value is not None and abs(value - self.published) <= self.tolerance
        return {"figure": self.id, "what": self.what, "source": self.source, "unit": self.unit,
                "published": self.published, "tolerance": self.tolerance,
                "gapcast": None if value is None else round(value, 2), "within": ok}


def mean_lag_months(bench: str, start: date, end: date) -> Callable[[Gaps], float | None]:
    """The mean of a benchmark's month-end lags (months) from `start` to `end` (clipped to its data)."""
    return lambda gaps: _mean(gaps, bench, start, end, lambda p: None if p.lag_days is None
                              else p.lag_days / DAYS_PER_MONTH)


def mean_gap(bench: str, start: date, end: date) -> Callable[[Gaps], float | None]:
    """The mean of a benchmark's month-end score gaps (its unit) from `start` to `end`."""
    return lambda gaps: _mean(gaps, bench, start, end, lambda p: p.score_gap)


def gap_at(bench: str, day: date) -> Callable[[Gaps], float | None]:
    """A benchmark's score gap on `day` (its unit)."""
    def f(gaps: Gaps) -> float | None:
        bg = gaps.get(bench)
        return None if bg is None else bg.at(day).score_gap
    return f


def split_lag(side: str | None, day: date) -> Callable[[Gaps], float | None]:
    """The trailing-year threshold-crossing lag (months) of one side of the split on `day`, or the
    held-out / public ratio when `side` is None."""
    def f(gaps: Gaps) -> float | None:
        public, held = robustness.split(gaps)
        sides = {name: robustness.side_at(g, [c for bg in g.values() for c in robustness.crossings(bg)], day,
                                          FRESH_DAYS).threshold_lag_days for name, g in
                 (("public", public), ("held_out", held))}
        if side is not None:
            v = sides[side]
            return None if v is None else v / DAYS_PER_MONTH
        pub, hel = sides["public"], sides["held_out"]
        return None if not pub or hel is None else hel / pub
    return f


IHLE = "Ihle et al., 'How far behind are open models?' (LessWrong, 2026-05-28), Epoch hub data"
EPOCH_ECI = "Epoch AI, data insight 'open-closed-eci-gap' (Oct 2025; update 2026-05)"
ARENA = "LMArena rating history (shared data derived/lmarena_rating_history.csv)"

FIGURES: tuple[Figure, ...] = (
    Figure("eci-lag-2023-2025", "ECI lag, mean Jan 2023 - Oct 2025", EPOCH_ECI, 3.5, 1.0, "months",
           mean_lag_months("epoch-eci", date(2023, 1, 1), date(2025, 10, 31))),
    Figure("eci-lag-2026", "ECI lag, mean since Jan 2026", EPOCH_ECI, 4.0, 1.0, "months",
           mean_lag_months("epoch-eci", date(2026, 1, 1), date(2026, 12, 31))),
    Figure("eci-gap-2023-2025", "ECI score gap, mean Jan 2023 - Oct 2025", EPOCH_ECI, 7.0, 1.5, "ECI points",
           mean_gap("epoch-eci", date(2023, 1, 1), date(2025, 10, 31))),
    Figure("eci-gap-2026", "ECI score gap, mean since Jan 2026", EPOCH_ECI, 8.0, 1.5, "ECI points",
           mean_gap("epoch-eci", date(2026, 1, 1), date(2026, 12, 31))),
    Figure("arena-gap-2024-01", "Arena text gap, Jan 2024 (AI Index: >100 Elo, 8.0 % of score)",
           "Stanford AI Index 2025", 100.0, 15.0, "Elo", gap_at("arena-text-overall", date(2024, 1, 31))),
    # 2025-02-15: the AI Index's 1.70 % predates Grok 3's listing (2025-02-17, which widened the gap to ~41)
    Figure("arena-gap-2025-02", "Arena text gap, mid-Feb 2025 (AI Index: 1.7 %, ~23 Elo)",
           "Stanford AI Index 2025", 23.0, 15.0, "Elo", gap_at("arena-text-overall", date(2025, 2, 15))),
    Figure("arena-gap-2025-01", "Arena text gap around DeepSeek-R1, Jan 2025", ARENA, 22.0, 15.0, "Elo",
           gap_at("arena-text-overall", date(2025, 1, 31))),
    Figure("arena-gap-2026-04", "Arena text gap, newest daily file Apr 2026 (spring 2026: ~+30, 1501 vs 1470)",
           "arena.ai leaderboard", 30.0, 15.0, "Elo", gap_at("arena-text-overall", date(2026, 4, 19))),
    Figure("public-threshold-lag", "Threshold-crossing lag, public benchmarks, May 2026 (4-6 months)", IHLE,
           5.0, 1.0, "months", split_lag("public", date(2026, 5, 28))),
    Figure("held-out-threshold-lag", "Threshold-crossing lag, held-out benchmarks, May 2026 (8-10 months)",
           IHLE, 9.0, 2.0, "months", split_lag("held_out", date(2026, 5, 28))),
    Figure("held-out-public-ratio", "Held-out / public threshold-lag ratio, May 2026 (1.7-1.9; bar 1.5-2.3)",
           IHLE, 1.9, 0.4, "ratio", split_lag(None, date(2026, 5, 28))),
)


def reproduce(data: Dataset) -> list[dict[str, Any]]:
    """Every figure's row for `data` (see `Figure.check`)."""
    gaps = benchmark_gaps(data)
    return [f.check(gaps) for f in FIGURES]


def _mean(gaps: Gaps, bench: str, start: date, end: date, value: Callable[[Any], float | None]) -> float | None:
    bg = gaps.get(bench)
    if bg is None or bg.start() is None or bg.data_end is None:
        return None
    lo, hi = max(start, bg.start() or start), min(end, bg.data_end)
    if hi < lo:
        return None
    vals = [v for v in (value(bg.at(t)) for t in month_ends(lo, hi)) if v is not None]
    return sum(vals) / len(vals) if vals else None
