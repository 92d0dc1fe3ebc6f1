"""What gapcast publishes for a series: the :class:`Forecast` value, its statuses, and the sentences that
explain it (``reason``). Pure; built by :mod:`forecasts.forecasting`."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum
from typing import Any

import pandas as pd

from forecasts.backtest import BacktestReport
from forecasts.catchup import (
    UNKNOWN_CATCH_UP,
    CatchUp,
    LagTrend,
    LagVerdict,
    catch_up_distribution,
    lag_trend,
    p_lead_lost,
)
from forecasts.series import DAYS_PER_MONTH, ModelName, PathForecast, PreparedSeries, SeriesSpec

#: Months forecast after the origin.
HORIZON_MONTHS = 36


class ForecastStatus(StrEnum):
    """What state the series is in, or why there is no (or a degraded) forecast."""

    OK = "ok"  # open behind; a forecast from the published model
    OPEN_LEADS = "open_leads"  # latest value <= -tie_margin
    CAUGHT_UP = "caught_up"  # latest value within ±tie_margin
    INSUFFICIENT_DATA = "insufficient_data"  # fewer than 6 observed months, or no metric column
    CONSTANT_SERIES = "constant_series"  # every observed value equal: nothing to extrapolate
    FIT_TIMEOUT = "fit_timeout"  # prophet timed out; the best baseline is published
    FIT_FAILED = "fit_failed"  # prophet raised; the best baseline is published


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
    """A published forecast. :meth:`to_dict` is the JSON shape; ``backtest`` (scores per model, for the
    store and the dashboard) and ``prophet_seconds`` (time spent in prophet, diagnostics) are not in it."""

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
    backtest: BacktestReport | None = None
    prophet_seconds: float = field(default=0.0, compare=False)

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


def build_forecast(
    series: PreparedSeries,
    *,
    as_of: date,
    digest: str,
    model: ModelName,
    model_reason: str,
    forecast: PathForecast,
    fallback: str,
    failure: ForecastStatus | None,
    backtest: BacktestReport | None,
    prophet_seconds: float,
) -> Forecast:
    """The published forecast of ``series`` from the chosen model's clamped ``forecast`` (with paths).

    ``fallback`` (a clause, empty when prophet ran fine) prefixes the reason; ``failure`` replaces an ``ok``
    status (a leading or caught-up state is more important to the reader, and its reason says it all).
    """
    months = pd.date_range(series.months[-1], periods=HORIZON_MONTHS + 1, freq="ME")[1:]
    trend = lag_trend(series)
    status, reason, catch = describe(series, forecast, months, trend)
    if failure is not None and fallback and status is ForecastStatus.OK:
        status = failure
    if fallback:
        reason = f"{fallback[0].upper()}{fallback[1:]}. {reason}"
    spec = series.spec
    return Forecast(
        target=spec.target, kind=spec.kind, metric=spec.metric, as_of=as_of, model=model,
        model_reason=model_reason, trajectory=trajectory_points(months, forecast), catch_up=catch,
        lag_trend=trend, status=status, reason=reason + gap_note(series), data_hash=digest,
        backtest=backtest, prophet_seconds=prophet_seconds,
    )


def trajectory_points(months: pd.DatetimeIndex, forecast: PathForecast) -> list[TrajectoryPoint]:
    return [
        TrajectoryPoint(ts, float(y), float(lo), float(hi))
        for ts, y, lo, hi in zip(months, forecast.yhat, forecast.lower, forecast.upper, strict=True)
    ]


def gap_note(series: PreparedSeries) -> str:
    n = series.n_interpolated
    return f" ({n} missing month{'s' if n > 1 else ''} interpolated.)" if n else ""


def _value_phrase(spec: SeriesSpec, value: float) -> str:
    if spec.metric == "lag_days":
        return f"a lag of {value / DAYS_PER_MONTH:.1f} months ({value:.0f} days)"
    return f"a score gap of {value:.3g}"


def describe(
    series: PreparedSeries, forecast: PathForecast, months: pd.DatetimeIndex, trend: LagTrend
) -> tuple[ForecastStatus, str, CatchUp]:
    """Status, reason sentence and catch-up distribution of a series with a forecast."""
    spec, value = series.spec, float(series.y[series.origin])
    margin = spec.tie_margin
    paths = forecast.paths if forecast.paths is not None else forecast.yhat[None, :]
    catch = catch_up_distribution(paths, months, margin)
    where = f"{_value_phrase(spec, value)}, tie margin ±{margin:g}"
    if value <= margin:
        lost = p_lead_lost(paths, margin)
        catch = CatchUp(None, None, None, catch.probability_within, catch.never_within_horizon, lost)
        retake = f"P(closed clearly ahead again within 12 months) = {lost:.0%}."
        if value <= -margin and value < 0:
            return ForecastStatus.OPEN_LEADS, f"Open models lead ({where}). {retake}", catch
        return ForecastStatus.CAUGHT_UP, f"Open models are level with closed ({where}). {retake}", catch
    behind = f"Open models are behind ({where})."
    if trend.verdict is LagVerdict.STABLE and trend.level_days is not None:
        p24 = catch.probability_within.get(24) or 0.0
        level = trend.level_days / DAYS_PER_MONTH
        return ForecastStatus.OK, (
            f"{behind} Open models stay about {level:.{0 if level >= 2 else 1}f} months behind (lag "
            f"trend {trend.slope_days_per_year:+.0f} days/year, 80% interval {trend.lower:+.0f} to "
            f"{trend.upper:+.0f}: stable); no catch-up date. {p24:.0%} of sample paths touch the tie margin "
            f"within 24 months, from noise rather than a trend."
        ), catch.without_dates()
    return ForecastStatus.OK, f"{behind} {_catch_up_sentence(catch, trend)}", catch


def _catch_up_sentence(catch: CatchUp, trend: LagTrend) -> str:
    def day(ts: pd.Timestamp | None) -> str:
        return "beyond the horizon" if ts is None else ts.strftime("%Y-%m-%d")

    p12 = catch.probability_within.get(12) or 0.0
    if catch.p50 is not None:
        text = (f"Median catch-up {day(catch.p50)} (10-90%: {day(catch.p10)} to {day(catch.p90)}); "
                f"P(within 12 months) = {p12:.0%}.")
    else:
        reached = 1.0 - (catch.never_within_horizon or 0.0)
        text = (f"Fewer than half of the sample paths catch up within {HORIZON_MONTHS} months "
                f"({reached:.0%} do); no median date.")
    if trend.verdict is LagVerdict.WIDENING:
        text += f" The lag is widening ({trend.slope_days_per_year:+.0f} days/year)."
    return text


def no_forecast(
    spec: SeriesSpec, as_of: date, digest: str, status: ForecastStatus, reason: str, trend: LagTrend
) -> Forecast:
    """A forecast without a model: empty trajectory, unknown catch-up (all null), the state in ``status``."""
    return Forecast(
        target=spec.target, kind=spec.kind, metric=spec.metric, as_of=as_of, model=None,
        model_reason="no model fitted", trajectory=[], catch_up=UNKNOWN_CATCH_UP, lag_trend=trend,
        status=status, reason=reason, data_hash=digest,
    )


def constant_forecast(series: PreparedSeries, as_of: date, digest: str) -> Forecast:
    """A constant series has nothing to extrapolate: no trajectory, no dates, its state in ``status``."""
    spec, value = series.spec, float(series.y[series.origin])
    held = (f"{spec.metric} has been {value:g} in all {series.n_observed} observed months; nothing to "
            f"extrapolate, so no trajectory and no catch-up date.")
    if value <= -spec.tie_margin and value < 0:
        status = ForecastStatus.OPEN_LEADS
    elif value <= spec.tie_margin:
        status = ForecastStatus.CAUGHT_UP
    else:
        status = ForecastStatus.CONSTANT_SERIES
    return no_forecast(spec, as_of, digest, status, f"The {held}", lag_trend(series))
