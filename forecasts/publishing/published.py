"""What gapcast publishes for a series: the :class:`Forecast` value, its statuses, and the sentences that
explain it (``reason``). Pure; built by :mod:`forecasts.engine.publish`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from typing import Any

import pandas as pd

from forecasts.publishing.catchup import UNKNOWN_CATCH_UP, CatchUp, LagTrend
from forecasts.publishing.series import ModelName, SeriesSpec

#: Months forecast after the origin.
HORIZON_MONTHS = 36


class ForecastStatus(StrEnum):
    """What state the series is in, or why there is no (or a degraded) forecast."""

    OK = "ok"  # open behind; a forecast from the engine
    OPEN_LEADS = "open_leads"  # open ahead by more than the tie margin at the origin
    CAUGHT_UP = "caught_up"  # open within the tie margin at the origin
    INSUFFICIENT_DATA = "insufficient_data"  # fewer than 6 months with both classes scored


@dataclass(frozen=True)
class TrajectoryPoint:
    """One forecast month: month-end date, point forecast and 80% interval, clamped to the spec's range."""

    date: pd.Timestamp
    yhat: float
    lower: float
    upper: float

    def to_dict(self) -> dict[str, Any]:
        return {"date": self.date.strftime("%Y-%m-%d"), "yhat": round(self.yhat, 4),
                "lower": round(self.lower, 4), "upper": round(self.upper, 4)}


@dataclass(frozen=True)
class Forecast:
    """A published forecast; :meth:`to_dict` is its JSON shape."""

    target: str
    kind: str
    metric: str
    as_of: date
    model: ModelName | None
    model_reason: str
    trajectory: list[TrajectoryPoint]
    catch_up: CatchUp
    lag_trend: LagTrend
    status: ForecastStatus
    reason: str
    data_hash: str
    horizon_months: int = HORIZON_MONTHS

    def to_dict(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "kind": self.kind,
            "metric": self.metric,
            "as_of": self.as_of.strftime("%Y-%m-%d"),
            "model": None if self.model is None else self.model.value,
            "model_reason": self.model_reason,
            "horizon_months": self.horizon_months,
            "trajectory": [p.to_dict() for p in self.trajectory],
            "catch_up": self.catch_up.to_dict(),
            "lag_trend": self.lag_trend.to_dict(),
            "status": self.status.value,
            "reason": self.reason,
            "data_hash": self.data_hash,
        }


def no_forecast(
    spec: SeriesSpec, as_of: date, digest: str, status: ForecastStatus, reason: str, trend: LagTrend
) -> Forecast:
    """A forecast without a model: empty trajectory, unknown catch-up (all null), the state in ``status``."""
    return Forecast(
        target=spec.target, kind=spec.kind, metric=spec.metric, as_of=as_of, model=None,
        model_reason="no model fitted", trajectory=[], catch_up=UNKNOWN_CATCH_UP, lag_trend=trend,
        status=status, reason=reason, data_hash=digest,
    )
