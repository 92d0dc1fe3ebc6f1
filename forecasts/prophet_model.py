"""Prophet, the primary model: a trend-only fit and its predictive sample paths.

Meant to run inside a worker process of :class:`forecasts.workers.KillablePool` (fits can hang on tiny or
degenerate series, and only a process can be killed). Prophet is imported lazily, so importing this module
costs nothing and configures nothing.

Settings, with the figures behind them (``tests/perf/bench_forecasting.py`` reprints them):

* ``algorithm="LBFGS"`` (:data:`FIT_ALGORITHM`): prophet picks Newton below 100 points. On 12/24/40-point
  monthly series LBFGS fits take a median 15/14/15 ms against Newton's 29/45/65 ms (``bench_algorithms``).
  LBFGS stops a little short of Newton's optimum (log posterior lower by a median 0.26; 12-month forecast
  off by a median 0.27 monthly-change sd), but that costs no accuracy: over the bench's 120 series,
  prophet's backtest MAE relative to last_value's (median; mean) was score gap 1.50; 2.22 and lag 1.25;
  1.46 with LBFGS, against 1.61; 2.17 and 1.35; 1.34 with Newton, for 2.2x less fit time. Prophet falls
  back to Newton by itself when LBFGS stops abnormally.
* ``changepoint_range=0.9``: see :data:`CHANGEPOINT_RANGE`.
* ``uncertainty_samples``: chosen by the caller, see ``FINAL_SAMPLES`` and ``BACKTEST_SAMPLES`` in
  :mod:`forecasts.forecasting`.
"""

from __future__ import annotations

import contextlib
import logging
import math
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from forecasts.series import PathForecast

logger = logging.getLogger(__name__)

#: Trend changepoints may sit in the first 90% of the history, not prophet's default 80%. Gaps move in
#: steps when a new open model ships; with 12-40 monthly points the default forbids any trend change in the
#: last 3-8 months, exactly where the newest regime is, while 90% still leaves the last 2-4 months to
#: estimate a new slope (at 1.0 the last point alone can bend the trend). The choice rests on that
#: argument: on the bench's synthetic step series prophet's backtest MAE barely moves (mean over the 60
#: score-gap series: 0.80 -> 11.40, 0.90 -> 11.39, 0.95 -> 11.42, 1.00 -> 11.42; ``--changepoints``).
CHANGEPOINT_RANGE = 0.9

#: Stan optimiser for the MAP fit; see the module docstring for the figures.
FIT_ALGORITHM = "LBFGS"


@dataclass(frozen=True)
class ProphetResult:
    """A prophet forecast plus where the time went (seconds), for the perf figures."""

    forecast: PathForecast
    fit_s: float
    sample_s: float


@contextlib.contextmanager
def _quiet(name: str, level: int) -> Iterator[None]:
    """Raise one third-party logger's level for the duration of a block, then restore it."""
    target = logging.getLogger(name)
    previous = target.level
    target.setLevel(level)
    try:
        yield
    finally:
        target.setLevel(previous)


def import_prophet() -> Any:
    """Import prophet without its "Importing plotly failed" notice (irrelevant: we never plot)."""
    with _quiet("prophet.plot", logging.CRITICAL):
        from prophet import Prophet
    return Prophet


@contextlib.contextmanager
def _quiet_fit() -> Iterator[None]:
    """Silence prophet's chatter during a fit or a prediction, without touching anything outside the block.

    cmdstanpy logs two INFO lines per fit, and an ERROR plus prophet's "Falling back to Newton" WARNING
    whenever LBFGS stops early, which is expected on series with flat stretches (110 of 1180 backtest fits
    on the bench data) and is handled by prophet's own Newton fallback. A fit that really fails raises,
    and the worker reports it, so these lines carry nothing the caller does not get anyway.
    """
    import cmdstanpy

    with cmdstanpy.disable_logging(), _quiet("prophet.models", logging.ERROR), warnings.catch_warnings():
        # prophet 1.5 trips pandas 3 deprecations (DataFrame.drop(inplace=...)): its business, not the
        # caller's. (catch_warnings is process-global: fine in a worker, racy only with workers=0.)
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", FutureWarning)
        yield


def warm_up() -> None:
    """Worker initialiser: pay prophet's import (~0.7 s) before the first timed fit."""
    import_prophet()


def fit_prophet(
    month_ends: np.ndarray,
    values: np.ndarray,
    horizon: int,
    n_samples: int,
    seed: int,
    want_paths: bool,
    changepoint_range: float = CHANGEPOINT_RANGE,
) -> ProphetResult:
    """Fit a trend-only prophet model on observed months and forecast ``horizon`` months after the last one.

    ``month_ends`` are the observed month-end dates (datetime64) and ``values`` their metric values (no NaN).
    The interval is the 10%-90% quantile range of ``n_samples`` predictive sample paths (observation noise
    included), drawn after ``np.random.seed(seed)`` so that equal inputs give equal intervals. The point
    forecast is prophet's trend (its ``yhat`` for a model without seasonality). Raises whatever prophet
    raises; the worker reports it.
    """
    prophet_cls = import_prophet()
    started = time.perf_counter()
    # Prophet's own rule (25 changepoints, fewer when the changepoint range holds fewer points), spelled out
    # so that it does not log an INFO line per short-series fit.
    n_changepoints = max(0, min(25, math.floor(len(values) * changepoint_range) - 1))
    model = prophet_cls(
        growth="linear",
        weekly_seasonality=False,
        yearly_seasonality=False,
        daily_seasonality=False,
        changepoint_range=changepoint_range,
        n_changepoints=n_changepoints,
        interval_width=0.8,
        uncertainty_samples=n_samples,
    )
    with _quiet_fit():
        model.fit(pd.DataFrame({"ds": pd.DatetimeIndex(month_ends), "y": values}), algorithm=FIT_ALGORITHM)
    fitted = time.perf_counter()
    future = pd.DataFrame(
        {"ds": pd.date_range(pd.Timestamp(month_ends[-1]), periods=horizon + 1, freq="ME")[1:]}
    )
    with _quiet_fit():
        trend = np.asarray(model.predict_trend(model.setup_dataframe(future.copy())), dtype=float)
        np.random.seed(seed)  # prophet samples from numpy's global generator
        paths = np.asarray(model.predictive_samples(future)["yhat"], dtype=float).T  # (S, H)
    lower, upper = np.quantile(paths, [0.1, 0.9], axis=0)
    done = time.perf_counter()
    forecast = PathForecast(trend, lower, upper, paths if want_paths else None)
    return ProphetResult(forecast, fit_s=fitted - started, sample_s=done - fitted)
