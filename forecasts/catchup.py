"""What a forecast says about catching up: the catch-up distribution and the lag trend. Pure numpy."""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import numpy as np
import pandas as pd

from forecasts.series import PreparedSeries

#: Windows (months after the origin) for P(caught up within …).
CATCH_UP_WINDOWS = (6, 12, 24)
#: Window (months) over which P(closed retakes a clear lead) is measured when open leads or is level.
LEAD_LOST_WINDOW = 12
#: The lag trend is fitted on the last 24 months: long enough to see through the release sawtooth of a
#: lag series, short enough to describe the current race rather than 2023's.
LAG_TREND_WINDOW_MONTHS = 24
#: Fewer lag points than this in the window gives no lag trend (verdict null).
LAG_TREND_MIN_POINTS = 6
#: Coverage of the slope interval: 80%, the same as every other interval gapcast publishes.
LAG_TREND_INTERVAL = 0.8
_Z90 = 1.2815515655446004  # standard normal 90% quantile


class LagVerdict(StrEnum):
    SHRINKING = "shrinking"
    STABLE = "stable"
    WIDENING = "widening"


@dataclass(frozen=True)
class CatchUp:
    """The catch-up distribution: dates are month-ends, ``None`` where too few paths catch up."""

    p10: pd.Timestamp | None
    p50: pd.Timestamp | None
    p90: pd.Timestamp | None
    probability_within: dict[int, float | None]
    never_within_horizon: float | None
    p_lead_lost_within_12: float | None = None
    p_lead_lost_within_6: float | None = None
    #: Engine 4: whether the probabilities come from a model that beat the base rate out of sample
    #: (``model``), or are the base rate because the history does not predict this (``base_rate``).
    basis: str | None = None

    def to_dict(self) -> dict[str, Any]:
        def day(ts: pd.Timestamp | None) -> str | None:
            return None if ts is None else ts.strftime("%Y-%m-%d")

        def prob(p: float | None) -> float | None:
            return None if p is None else round(p, 4)

        return {
            "p10": day(self.p10),
            "p50": day(self.p50),
            "p90": day(self.p90),
            "probability_within": {str(w): prob(p) for w, p in self.probability_within.items()},
            "never_within_horizon": prob(self.never_within_horizon),
            "p_lead_lost_within_12": prob(self.p_lead_lost_within_12),
            "p_lead_lost_within_6": prob(self.p_lead_lost_within_6),
            "basis": self.basis,
        }

    def without_dates(self) -> CatchUp:
        return CatchUp(None, None, None, self.probability_within, self.never_within_horizon,
                       self.p_lead_lost_within_12)


#: A catch-up distribution that says nothing (no forecast to read it from).
UNKNOWN_CATCH_UP = CatchUp(None, None, None, dict.fromkeys(CATCH_UP_WINDOWS), None)


def first_catch_up(paths: np.ndarray, tie_margin: float) -> np.ndarray:
    """Per path, the first month ahead (1-based) whose value is ``<= tie_margin``; ``inf`` if none."""
    hit = paths <= tie_margin
    first = np.argmax(hit, axis=1).astype(float) + 1.0
    first[~hit.any(axis=1)] = np.inf
    return first


def catch_up_distribution(paths: np.ndarray, months: pd.DatetimeIndex, tie_margin: float) -> CatchUp:
    """Read the catch-up distribution off sample paths ``(S, H)`` for the month-ends ``months`` (length H).

    ``pXX`` is the earliest month by which at least XX% of the paths have caught up, ``None`` when fewer
    than XX% do within the horizon. P(within w) counts paths caught up in months 1..w.
    """
    first = np.sort(first_catch_up(paths, tie_margin))
    n_paths, horizon = paths.shape

    def quantile(q: float) -> pd.Timestamp | None:
        month = first[max(math.ceil(q * n_paths) - 1, 0)]
        return None if not np.isfinite(month) else months[int(month) - 1]

    within = {w: float(np.mean(first <= w)) if w <= horizon else None for w in CATCH_UP_WINDOWS}
    return CatchUp(quantile(0.1), quantile(0.5), quantile(0.9), within, float(np.mean(np.isinf(first))))


def p_lead_lost(paths: np.ndarray, tie_margin: float, months: int = LEAD_LOST_WINDOW) -> float:
    """Share of paths where closed is clearly ahead again (value > tie_margin) in months 1..``months``."""
    return float(np.mean((paths[:, :months] > tie_margin).any(axis=1)))


@dataclass(frozen=True)
class LagTrend:
    """OLS slope of the lag (days of lag per year) with its 80% interval; all ``None`` without enough data.

    ``level_days`` (the fitted lag at the origin) is for the reason sentence and is not published.
    """

    slope_days_per_year: float | None
    lower: float | None
    upper: float | None
    verdict: LagVerdict | None
    level_days: float | None = None

    def to_dict(self) -> dict[str, Any]:
        def r(x: float | None) -> float | None:
            return None if x is None else round(x, 2)

        return {
            "slope_days_per_year": r(self.slope_days_per_year),
            "lower": r(self.lower),
            "upper": r(self.upper),
            "verdict": None if self.verdict is None else self.verdict.value,
        }


NO_LAG_TREND = LagTrend(None, None, None, None)


def t_quantile_90(df: int) -> float:
    """Student-t 90% quantile (Cornish-Fisher expansion; within 0.5% of the exact value for df >= 3)."""
    z, v = _Z90, float(df)
    return (
        z
        + (z**3 + z) / (4 * v)
        + (5 * z**5 + 16 * z**3 + 3 * z) / (96 * v**2)
        + (3 * z**7 + 19 * z**5 + 17 * z**3 - 15 * z) / (384 * v**3)
    )


def lag_trend(series: PreparedSeries) -> LagTrend:
    """Slope of ``lag_days`` over the last 24 months up to the origin, in days of lag per year.

    Verdict: ``shrinking`` when the whole 80% interval is below zero, ``widening`` when wholly above, else
    ``stable``. Needs 6 observed lag months in the window; otherwise every field is ``None``.
    """
    if series.lag_days is None:
        return NO_LAG_TREND
    start = max(0, series.origin - LAG_TREND_WINDOW_MONTHS + 1)
    lag = series.lag_days[start : series.origin + 1]
    x = np.flatnonzero(np.isfinite(lag)).astype(float)
    if len(x) < LAG_TREND_MIN_POINTS:
        return NO_LAG_TREND
    y = lag[x.astype(int)]
    x_mean, y_mean = x.mean(), y.mean()
    sxx = float(((x - x_mean) ** 2).sum())
    slope = float(((x - x_mean) * (y - y_mean)).sum()) / sxx  # days per month
    residuals = y - (y_mean + slope * (x - x_mean))
    se = math.sqrt(float((residuals**2).sum()) / (len(x) - 2) / sxx)
    half = t_quantile_90(len(x) - 2) * se
    lower, upper = (slope - half) * 12, (slope + half) * 12
    if upper < 0:
        verdict = LagVerdict.SHRINKING
    elif lower > 0:
        verdict = LagVerdict.WIDENING
    else:
        verdict = LagVerdict.STABLE
    level = max(0.0, y_mean + slope * (len(lag) - 1 - x_mean))
    return LagTrend(slope * 12, lower, upper, verdict, level)
