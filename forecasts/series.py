"""Input side of the forecasting engine: the series spec and the cleaning of a monthly history.

Pure functions, no I/O. A history is a ``pandas.DataFrame`` indexed by month-end timestamps with the
columns ``score_gap`` and ``lag_days`` (and optionally ``closed``, the closed frontier of a benchmark).

Gap policy (one rule everywhere): months are put on a regular month-end grid from the first observed value
of the metric to the last one at or before ``as_of``. Interior NaN months are **linearly interpolated** for
the models that need equal monthly steps (the baselines); prophet is fitted on the observed months only
(it handles missing dates natively), and backtest errors are measured against observed months only, never
against interpolated ones. Interpolation at a backtest origin uses only values at or before that origin
(see :func:`fill_until`), so no model sees the future.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from typing import Literal

import numpy as np
import pandas as pd

#: Fewer observed points than this is ``insufficient_data`` (BRIEF: "say, fewer than 6 points").
MIN_POINTS = 6
#: Months per day, for turning lags in days into months.
DAYS_PER_MONTH = 365.25 / 12

#: Two-sided 80% normal quantile (z for the 10% and 90% points).
Z80 = 1.2815515655446004

Metric = Literal["score_gap", "lag_days"]
Kind = Literal["domain", "benchmark"]


@dataclass(frozen=True)
class SeriesSpec:
    """What a series is and how to read it.

    ``tie_margin`` is in the metric's unit (score points for ``score_gap``, days for ``lag_days``): the
    series counts as caught up when its value is ``<= tie_margin``. ``lower``/``upper`` clamp every
    prediction and sample (``None`` = unbounded; a 0-100 benchmark's score gap is [-100, 100], a lag is
    [0, None]). ``closed_upper`` is the ceiling of the closed frontier (e.g. 100), used by the constant-lag
    baseline. Raises ``ValueError`` on an inconsistent spec (a programming error, not bad data).
    """

    target: str
    kind: Kind
    metric: Metric
    tie_margin: float
    lower: float | None
    upper: float | None
    closed_upper: float | None = None

    def __post_init__(self) -> None:
        if self.kind not in ("domain", "benchmark"):
            raise ValueError(f"kind must be 'domain' or 'benchmark', got {self.kind!r}")
        if self.metric not in ("score_gap", "lag_days"):
            raise ValueError(f"metric must be 'score_gap' or 'lag_days', got {self.metric!r}")
        if not (math.isfinite(self.tie_margin) and self.tie_margin >= 0):
            raise ValueError(f"tie_margin must be a finite number >= 0, got {self.tie_margin!r}")
        if self.lower is not None and self.upper is not None and self.lower >= self.upper:
            raise ValueError(f"lower must be below upper, got [{self.lower!r}, {self.upper!r}]")


@dataclass(frozen=True)
class PreparedSeries:
    """A history on a regular month-end grid, truncated at ``as_of``; index ``len(months)-1`` is the origin.

    Arrays are raw (NaN where a month was not observed); use :func:`fill_until` to get gap-free training
    values up to an origin.
    """

    spec: SeriesSpec
    months: pd.DatetimeIndex
    y: np.ndarray  # the metric, NaN where not observed
    lag_days: np.ndarray | None  # the lag column (for the lag trend and the constant-lag baseline)
    closed: np.ndarray | None  # the closed frontier, benchmarks only

    @property
    def observed(self) -> np.ndarray:
        return np.isfinite(self.y)

    @property
    def origin(self) -> int:
        return len(self.months) - 1

    @property
    def n_observed(self) -> int:
        return int(self.observed.sum())

    @property
    def n_interpolated(self) -> int:
        return len(self.y) - self.n_observed


class ModelName(StrEnum):
    """The forecasting models; the published forecast names one of them."""

    PROPHET = "prophet"
    LAST_VALUE = "last_value"
    LINEAR_DRIFT = "linear_drift"
    CONSTANT_LAG = "constant_lag"
    # engine 4: joint models of both frontiers (forecasts/engine)
    FLAT = "flat"
    JUMPS = "jumps"
    SAWTOOTH = "sawtooth"
    CHASE = "chase"


@dataclass(frozen=True)
class PathForecast:
    """One model's forecast from one origin for months 1..H ahead, in the metric's unit.

    ``lower``/``upper`` bound the central 80% interval. ``paths`` holds sample paths (shape ``(S, H)``) when
    they were asked for, else ``None``.
    """

    yhat: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    paths: np.ndarray | None = None

    def clamped(self, lower: float | None, upper: float | None) -> PathForecast:
        """Every array clipped into [lower, upper] (``None`` = unbounded); clipping keeps quantiles."""
        if lower is None and upper is None:
            return self

        def clip(a: np.ndarray) -> np.ndarray:
            return np.clip(a, lower, upper)

        paths = None if self.paths is None else clip(self.paths)
        return PathForecast(clip(self.yhat), clip(self.lower), clip(self.upper), paths)


class BadSeries(ValueError):
    """The history cannot be forecast; ``str(exc)`` is a human sentence for the ``reason`` field."""


def month_end(ts: pd.Timestamp | date | str) -> pd.Timestamp:
    """The month-end timestamp (midnight) of the month containing ``ts``."""
    return pd.Timestamp(ts).to_period("M").to_timestamp(how="end").normalize()


def column_values(frame: pd.DataFrame, name: str) -> np.ndarray | None:
    """The column as floats (non-numeric and infinite values become NaN), or None when absent."""
    if name not in frame.columns:
        return None
    values = np.array(pd.to_numeric(frame[name], errors="coerce").to_numpy(dtype=float, na_value=np.nan))
    values[~np.isfinite(values)] = np.nan
    return values


def monthly_frame(history: pd.DataFrame, as_of: pd.Timestamp) -> pd.DataFrame:
    """Normalise the index to month ends, keep the last row per month, drop months after ``as_of``."""
    index = history.index
    try:
        if isinstance(index, pd.PeriodIndex):
            index = index.to_timestamp(how="end")
        elif not isinstance(index, pd.DatetimeIndex):
            index = pd.DatetimeIndex(pd.to_datetime(index, format="mixed"))
    except (TypeError, ValueError) as exc:
        raise BadSeries(f"the history index is not made of dates ({exc})") from exc
    if index.tz is not None:
        index = index.tz_localize(None)
    frame = history.copy()
    frame.index = index.to_period("M").to_timestamp(how="end").normalize()
    frame = frame[~frame.index.duplicated(keep="last")].sort_index()
    return frame[frame.index <= as_of]


def prepare(history: pd.DataFrame, spec: SeriesSpec, as_of: pd.Timestamp | date | str) -> PreparedSeries:
    """Clean ``history`` for ``spec`` as of ``as_of``; raise :class:`BadSeries` when it cannot be forecast.

    Rows after ``as_of``'s month are ignored (no hindsight). Leading and trailing unobserved months of the
    metric are dropped, so the origin is the last observed month at or before ``as_of``.
    """
    if not isinstance(history, pd.DataFrame):
        raise BadSeries(f"the history must be a pandas DataFrame, got {type(history).__name__}")
    frame = monthly_frame(history, month_end(as_of))
    y_raw = column_values(frame, spec.metric)
    if y_raw is None:
        raise BadSeries(f"the history has no {spec.metric!r} column")
    observed = np.flatnonzero(np.isfinite(y_raw))
    if len(observed) < MIN_POINTS:
        raise BadSeries(
            f"only {len(observed)} observed month(s) of {spec.metric} up to {month_end(as_of).date()}; "
            f"at least {MIN_POINTS} are needed for a forecast"
        )
    frame = frame.iloc[observed[0] : observed[-1] + 1]
    grid = pd.date_range(frame.index[0], frame.index[-1], freq="ME")
    frame = frame.reindex(grid)
    return PreparedSeries(
        spec=spec,
        months=grid,
        y=column_values(frame, spec.metric),  # type: ignore[arg-type]  # present: checked above
        lag_days=column_values(frame, "lag_days"),
        closed=column_values(frame, "closed"),
    )


def fill_until(values: np.ndarray, end: int) -> np.ndarray:
    """Gap-free copy of ``values[: end + 1]`` using only those values.

    Interior NaNs are linearly interpolated, trailing NaNs carry the last value forward, leading NaNs carry
    the first value backward. All-NaN input gives all-NaN output.
    """
    part = np.asarray(values[: end + 1], dtype=float)
    known = np.flatnonzero(np.isfinite(part))
    if len(known) == 0:
        return part.copy()
    return np.interp(np.arange(len(part)), known, part[known])


def is_constant(values: np.ndarray) -> bool:
    """True when every finite value is equal (to a relative 1e-9)."""
    finite = values[np.isfinite(values)]
    if len(finite) == 0:
        return True
    span = float(finite.max() - finite.min())
    return span <= 1e-9 * max(1.0, float(np.abs(finite).max()))
