"""Baseline forecasts: last value, linear drift and constant lag, each with an 80% interval and sample paths.

Pure numpy. Every function takes gap-free monthly training values ending at the forecast origin (see
:func:`forecasts.series.fill_until`) and returns a :class:`~forecasts.series.PathForecast` for months
1..``horizon`` after the origin, unclamped (the caller clamps once, for every model alike).
"""

from __future__ import annotations

import numpy as np

from forecasts.series import DAYS_PER_MONTH, Z80, ModelName, PathForecast, PreparedSeries, fill_until

#: Months of closed-frontier history used to estimate its slope for the constant-lag baseline.
CLOSED_SLOPE_WINDOW_MONTHS = 12


def _innovation_std(y: np.ndarray) -> float:
    """Standard deviation of the monthly differences (0 when there are fewer than two)."""
    diffs = np.diff(y)
    return float(np.std(diffs, ddof=1)) if len(diffs) >= 2 else 0.0


def _random_walk_noise(sigma: float, horizon: int, n_paths: int, rng: np.random.Generator) -> np.ndarray:
    """``(n_paths, horizon)`` cumulative sums of N(0, sigma) monthly innovations."""
    return np.cumsum(rng.normal(0.0, sigma, size=(n_paths, horizon)), axis=1)


def _steps(horizon: int) -> np.ndarray:
    return np.arange(1, horizon + 1, dtype=float)


def last_value(
    y: np.ndarray, horizon: int, *, n_paths: int = 0, rng: np.random.Generator | None = None
) -> PathForecast:
    """Random walk: the point forecast stays at the last value.

    Innovations are N(0, s) with s the standard deviation of the monthly differences, so the 80% interval is
    ``y[-1] ± 1.2816 · s · √h`` and widens with the square root of the horizon ``h`` (months).
    """
    sigma = _innovation_std(y)
    h = _steps(horizon)
    yhat = np.full(horizon, float(y[-1]))
    half = Z80 * sigma * np.sqrt(h)
    paths = None
    if n_paths:
        paths = yhat + _random_walk_noise(sigma, horizon, n_paths, rng or np.random.default_rng())
    return PathForecast(yhat, yhat - half, yhat + half, paths)


def linear_drift(
    y: np.ndarray, horizon: int, *, n_paths: int = 0, rng: np.random.Generator | None = None
) -> PathForecast:
    """Random walk with drift: the drift is the mean monthly change over the training values.

    The interval carries both the innovation noise and the uncertainty of the drift estimate (Hyndman's
    drift method): ``half-width = 1.2816 · s · √(h · (1 + h/T))`` with T monthly differences. Sample paths
    draw their own drift from N(mean, s²/T), then add random-walk noise.
    """
    diffs = np.diff(y)
    n_diffs = max(len(diffs), 1)
    drift = float(np.mean(diffs)) if len(diffs) else 0.0
    sigma = _innovation_std(y)
    h = _steps(horizon)
    yhat = float(y[-1]) + drift * h
    half = Z80 * sigma * np.sqrt(h * (1.0 + h / n_diffs))
    paths = None
    if n_paths:
        rng = rng or np.random.default_rng()
        drifts = rng.normal(drift, sigma / np.sqrt(n_diffs), size=(n_paths, 1))
        paths = float(y[-1]) + drifts * h + _random_walk_noise(sigma, horizon, n_paths, rng)
    return PathForecast(yhat, yhat - half, yhat + half, paths)


def extrapolate_closed(closed: np.ndarray, horizon: int, ceiling: float | None) -> np.ndarray:
    """The closed frontier for months 1..horizon: linear at its mean monthly change over the last 12
    months, never above ``ceiling`` (or above its current value, if that already exceeds the ceiling)."""
    window = min(CLOSED_SLOPE_WINDOW_MONTHS, len(closed) - 1)
    slope = (closed[-1] - closed[-1 - window]) / window if window > 0 else 0.0
    future = closed[-1] + max(float(slope), 0.0) * _steps(horizon)
    if ceiling is not None:
        future = np.minimum(future, max(ceiling, float(closed[-1])))
    return future


def _implied_gap(closed: np.ndarray, future: np.ndarray, lag_months: float, h: np.ndarray) -> np.ndarray:
    """C(t+h) - C(t+h-L) for h in ``h`` (0 allowed), months relative to the origin t.

    C is the actual history for times at or before t (linearly interpolated between months) and the
    extrapolation ``future`` after t.
    """
    times = np.concatenate([np.arange(-(len(closed) - 1), 1, dtype=float), _steps(len(future))])
    values = np.concatenate([closed, future])
    return np.interp(h, times, values) - np.interp(h - lag_months, times, values)


def constant_lag(
    y: np.ndarray,
    horizon: int,
    *,
    closed: np.ndarray | None = None,
    lag_days: float | None = None,
    closed_upper: float | None = None,
    n_paths: int = 0,
    rng: np.random.Generator | None = None,
) -> PathForecast:
    """Open models stay the current lag L behind the closed frontier C.

    For a score gap with a closed frontier (``closed``, gap-free, ending at the origin) and a current lag
    (``lag_days``), C is extrapolated linearly (capped at ``closed_upper``) and the gap follows
    ``G(t+h) = C(t+h) - C(t+h-L)``, reading C from the actual history wherever ``t+h-L`` is in the past. The
    path is anchored on the observed gap: it is ``G(t) + [C(t+h) - C(t+h-L)] - [C(t) - C(t-L)]``, because
    the lag is defined against the closed frontier plus the tie margin, so the raw formula is off by about
    that margin.

    Without a closed frontier or a lag (domain series), and for the ``lag_days`` metric itself (a constant
    lag is a flat lag), the forecast is **flat at the current value**, i.e. the same as :func:`last_value`.
    Intervals and paths add random-walk noise with the innovation std of ``y``, as for :func:`last_value`.
    """
    if closed is None or lag_days is None or not np.isfinite(lag_days) or np.isnan(closed).any():
        return last_value(y, horizon, n_paths=n_paths, rng=rng)
    lag_months = max(float(lag_days), 0.0) / DAYS_PER_MONTH
    future = extrapolate_closed(closed, horizon, closed_upper)
    h = np.concatenate([[0.0], _steps(horizon)])
    implied = _implied_gap(closed, future, lag_months, h)
    yhat = float(y[-1]) + implied[1:] - implied[0]
    sigma = _innovation_std(y)
    half = Z80 * sigma * np.sqrt(h[1:])
    paths = None
    if n_paths:
        paths = yhat + _random_walk_noise(sigma, horizon, n_paths, rng or np.random.default_rng())
    return PathForecast(yhat, yhat - half, yhat + half, paths)


def baseline_at(
    series: PreparedSeries,
    model: ModelName,
    origin: int,
    horizon: int,
    *,
    n_paths: int = 0,
    rng: np.random.Generator | None = None,
) -> PathForecast:
    """Baseline ``model`` fitted on ``series`` up to month index ``origin`` (nothing later), clamped."""
    y = fill_until(series.y, origin)
    spec = series.spec
    if model is ModelName.LAST_VALUE:
        forecast = last_value(y, horizon, n_paths=n_paths, rng=rng)
    elif model is ModelName.LINEAR_DRIFT:
        forecast = linear_drift(y, horizon, n_paths=n_paths, rng=rng)
    elif model is ModelName.CONSTANT_LAG:
        closed = lag = None
        if spec.metric == "score_gap" and series.closed is not None and series.lag_days is not None:
            closed = fill_until(series.closed, origin)
            lag = float(fill_until(series.lag_days, origin)[-1])
        forecast = constant_lag(
            y, horizon, closed=closed, lag_days=lag, closed_upper=spec.closed_upper, n_paths=n_paths, rng=rng
        )
    else:
        raise ValueError(f"not a baseline: {model!r}")
    return forecast.clamped(spec.lower, spec.upper)
