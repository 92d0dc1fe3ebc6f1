"""What a forecast says about catching up: the catch-up answer and the lag trend (the published shapes)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import pandas as pd

#: Windows (months after the origin) for P(caught up within …).
CATCH_UP_WINDOWS = (6, 12, 24)


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
    #: Since engine 4: whether the probabilities come from a model that beat the base rate out of sample
    #: (``model``), are the base rate because the history does not predict this (``base_rate``), or are not
    #: asked because the benchmark is saturated (``saturated``).
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

#: A catch-up answer that says nothing (no forecast to read it from).
UNKNOWN_CATCH_UP = CatchUp(None, None, None, dict.fromkeys(CATCH_UP_WINDOWS), None)


@dataclass(frozen=True)
class LagTrend:
    """The lag's expected change over the next year (days) with its 80% band, read off the sample paths
    (:func:`forecasts.engine.publish.lag_trend_of`); all ``None`` without paths.

    ``level_days`` (the published median lag a year on) is for the reason sentence and is not published.
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
