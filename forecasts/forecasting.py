"""The forecasting engine: gap series in, published forecasts out. Pure: no I/O, no Redis, no global state.

Entry points: :func:`forecast_many` (many series, prophet fits spread over a killable process pool, with a
progress callback) and :func:`forecast_series` (one series). :func:`data_hash` lets a caller skip refits of
unchanged series. Bad data never raises: it becomes a :class:`ForecastStatus` and a ``reason`` sentence.

How a forecast is made (each step in its own module):

1. :mod:`forecasts.series` cleans the history (month-end grid, truncated at ``as_of``, gaps interpolated
   for the baselines only) or says why it cannot be forecast.
2. :mod:`forecasts.backtest` picks rolling-origin cut-offs; prophet (:mod:`forecasts.prophet_model`, in
   :mod:`forecasts.workers`) and the baselines (:mod:`forecasts.baselines`) forecast from each.
3. The published model is the one with the lowest backtest MAE (mean of horizons 3/6/12; ties: 80% coverage
   closest to 0.8, then the simpler model; no backtest yet: last_value). We publish one model rather than
   an inverse-MAE blend: on the bench's synthetic series the honest published backtest of the selection
   beat the blend (MAE 1.06 vs 1.20 x last_value's on score gaps, 1.00 vs 1.44 on lags), the choice reads
   plainly in ``model_reason``, and a mixture of a random walk and a trend model gives a bimodal catch-up
   distribution nobody can read. The published model's own backtest (``backtest.scores["published"]``)
   re-makes that choice at every cut-off from past data only.
4. :mod:`forecasts.catchup` reads the catch-up distribution off the published model's sample paths and
   fits the lag trend; :mod:`forecasts.published` turns it all into a :class:`Forecast` with a status and
   a reason.

Callers that start processes (this module does, lazily) need the usual ``if __name__ == "__main__":``
guard in their entry script: workers start with ``forkserver``, which re-imports the main module.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import date
from importlib import metadata

import numpy as np
import pandas as pd

from forecasts.backtest import (
    HORIZONS,
    MAX_CUTOFFS,
    MIN_TRAIN_POINTS,
    backtest_report,
    choose_model,
    evaluate,
    plan_cutoffs,
)
from forecasts.baselines import baseline_at
from forecasts.catchup import NO_LAG_TREND
from forecasts.prophet_model import CHANGEPOINT_RANGE, FIT_ALGORITHM, ProphetResult, fit_prophet, warm_up
from forecasts.published import (
    HORIZON_MONTHS,
    Forecast,
    ForecastStatus,
    TrajectoryPoint,
    build_forecast,
    constant_forecast,
    no_forecast,
)
from forecasts.series import (
    BadSeries,
    ModelName,
    PathForecast,
    PreparedSeries,
    SeriesSpec,
    column_values,
    is_constant,
    month_end,
    monthly_frame,
    prepare,
)
from forecasts.workers import KillablePool, Outcome, Task

logger = logging.getLogger(__name__)

__all__ = [
    "DEFAULT_TIMEOUT_S",
    "HORIZON_MONTHS",
    "Forecast",
    "ForecastStatus",
    "ModelName",
    "SeriesSpec",
    "TrajectoryPoint",
    "data_hash",
    "forecast_many",
    "forecast_pool",
    "forecast_series",
]

#: Bump when a change to the engine changes its output, so cached forecasts (keyed by data_hash) refit.
ENGINE_VERSION = "4"  # 4: joint frontier paths (forecasts/engine); 3: publish by 6-month MAE
#: Sample paths of the published forecast. Measured with tests/perf/bench_forecasting.py (38-point series,
#: 36 months, 20 seeds): prophet's vectorised predictive_samples costs ~10 ms at 100 paths, ~12 ms at 500,
#: ~15 ms at 1000, ~22 ms at 2000 (a fit costs ~16 ms); across seeds the 90% interval end at 12 months moves
#: by 8.0% / 3.0% / 2.2% / 1.2% of the interval width and a P(caught up within 12 months) near 0.5 by
#: 0.046 / 0.016 / 0.014 / 0.013 (sd). 1000 keeps published probabilities steady to ~0.01 for ~5 ms more
#: than 100, paid once per series (the final fit only).
FINAL_SAMPLES = 1000
#: Sample paths per backtest cut-off: only the 10%/90% quantiles at 3/6/12 months are needed and coverage
#: is averaged over many pairs, so 200 paths (interval ends steady to ~4% of the width) are enough.
BACKTEST_SAMPLES = 200
#: Seed of every sampler (prophet's and the baselines'), so equal inputs give equal forecasts.
SEED = 20_240_601
#: Per-fit prophet timeout (seconds). A normal fit takes 15-60 ms; 20 s only catches real hangs.
DEFAULT_TIMEOUT_S = 20.0

Progress = Callable[[int, int], None]


def _prophet_version() -> str:
    try:
        return metadata.version("prophet")
    except metadata.PackageNotFoundError:
        return "absent"


def data_hash(history: pd.DataFrame, spec: SeriesSpec, as_of: date | str | pd.Timestamp) -> str:
    """A stable SHA-256 (hex) of what a forecast depends on: the rows up to ``as_of``'s month, the spec, the
    engine version and settings, and prophet's version.

    Equal inputs give equal hashes across processes and machines (floats via ``repr``, NaN as null).
    ``as_of`` matters only through the rows it keeps. Never raises: an unreadable history hashes its repr.
    Neither the timeout nor ``use_prophet`` is hashed: do not cache a ``fit_timeout``/``fit_failed`` or a
    baselines-only forecast under this hash (the next full run may differ).
    """
    try:
        frame = monthly_frame(history, month_end(as_of))
        columns = {}
        for name in ("score_gap", "lag_days", "closed"):
            values = column_values(frame, name)
            if values is not None:
                columns[name] = [repr(float(v)) if np.isfinite(v) else None for v in values]
        months = [ts.strftime("%Y-%m-%d") for ts in frame.index]
    except (BadSeries, TypeError, ValueError, AttributeError):
        columns, months = {"unreadable": [repr(history)]}, []
    payload = {
        "engine": ENGINE_VERSION,
        "settings": [HORIZON_MONTHS, FINAL_SAMPLES, BACKTEST_SAMPLES, SEED, CHANGEPOINT_RANGE, FIT_ALGORITHM,
                     HORIZONS, MAX_CUTOFFS],
        "prophet": _prophet_version(),
        "spec": asdict(spec),
        "months": months,
        "columns": columns,
    }
    blob = json.dumps(payload, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()


def forecast_pool(workers: int | None = None) -> KillablePool:
    """A pool of ``workers`` (default ``os.cpu_count()``) prophet workers, reusable across
    :func:`forecast_many` calls to skip the ~1 s worker start-up. Close it (or use ``with``) when done."""
    return KillablePool(workers, initializer=warm_up)


def forecast_series(
    history: pd.DataFrame,
    spec: SeriesSpec,
    *,
    as_of: date | str | pd.Timestamp,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    use_prophet: bool = True,
    pool: KillablePool | None = None,
    workers: int | None = 1,
) -> Forecast:
    """Forecast one series; see :func:`forecast_many`."""
    return forecast_many([(history, spec)], as_of=as_of, workers=workers, timeout_s=timeout_s,
                         use_prophet=use_prophet, pool=pool)[0]


# --------------------------------------------------------------------------------------------- orchestration


@dataclass
class _Job:
    """One series in flight: its prophet forecasts arrive from the workers, one origin at a time."""

    index: int
    series: PreparedSeries
    hash: str
    as_of: date
    cutoffs: list[int]
    pending: set[int] = field(default_factory=set)
    prophet: dict[int, PathForecast] = field(default_factory=dict)
    failure: ForecastStatus | None = None
    failure_detail: str = ""
    prophet_seconds: float = 0.0
    done: bool = False


def forecast_many(
    items: Iterable[tuple[pd.DataFrame, SeriesSpec]],
    *,
    as_of: date | str | pd.Timestamp,
    workers: int | None = None,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    progress: Progress | None = None,
    use_prophet: bool = True,
    pool: KillablePool | None = None,
) -> list[Forecast]:
    """Forecast every ``(history, spec)`` as of ``as_of``; one :class:`Forecast` per item, in input order.

    Prophet fits (one per backtest cut-off plus the final one) run in ``pool``, or in a temporary pool of
    ``workers`` processes (default ``os.cpu_count()``); ``workers=0`` runs them in this process without a
    timeout (debugging only). A fit running longer than ``timeout_s`` seconds is killed, prophet is dropped
    for that series, and the best baseline is published with status ``fit_timeout``. ``use_prophet=False``
    uses the baselines only (no processes at all). ``progress(done, total)`` is called as each series
    completes. Raises only for programming errors (e.g. a non-spec item), never for bad data.
    """
    as_of_date = pd.Timestamp(as_of).date()
    pairs = list(items)
    results: list[Forecast | None] = [None] * len(pairs)
    jobs: list[_Job] = []
    done = 0

    def finish(index: int, forecast: Forecast) -> None:
        nonlocal done
        results[index] = forecast
        done += 1
        if progress is not None:
            progress(done, len(pairs))

    for index, (history, spec) in enumerate(pairs):
        job_or_forecast = _start(index, history, spec, as_of_date)
        if isinstance(job_or_forecast, Forecast):
            finish(index, job_or_forecast)
        else:
            jobs.append(job_or_forecast)
    tasks = _prophet_tasks(jobs) if use_prophet else []
    by_index = {job.index: job for job in jobs}
    for job in jobs:
        if not job.pending:
            job.done = True
            finish(job.index, _finalize(job, use_prophet, timeout_s))
    if tasks:
        for outcome in _run_tasks(tasks, by_index, workers, timeout_s, pool):
            job = by_index[outcome.key[0]]  # type: ignore[index]
            if _absorb(job, outcome) and not job.done:
                job.done = True
                finish(job.index, _finalize(job, use_prophet, timeout_s))
    return [r for r in results if r is not None]


def _start(index: int, history: pd.DataFrame, spec: SeriesSpec, as_of: date) -> _Job | Forecast:
    """Prepare one series: a job to run, or a finished forecast when there is nothing to fit."""
    digest = data_hash(history, spec, as_of)
    try:
        series = prepare(history, spec, as_of)
    except BadSeries as exc:
        return no_forecast(spec, as_of, digest, ForecastStatus.INSUFFICIENT_DATA, f"{exc}.", NO_LAG_TREND)
    if is_constant(series.y):
        return constant_forecast(series, as_of, digest)
    return _Job(index, series, digest, as_of, plan_cutoffs(series))


def _prophet_tasks(jobs: Sequence[_Job]) -> list[Task]:
    """One task per (series, origin): the final fit first (it feeds the published forecast), then the
    cut-offs, newest first."""
    tasks = []
    for job in jobs:
        series = job.series
        for origin in [series.origin, *sorted(job.cutoffs, reverse=True)]:
            final = origin == series.origin
            observed = series.observed[: origin + 1]
            args = (
                series.months[: origin + 1][observed].to_numpy(),
                series.y[: origin + 1][observed],
                HORIZON_MONTHS if final else max(HORIZONS),
                FINAL_SAMPLES if final else BACKTEST_SAMPLES,
                SEED,
                final,
            )
            tasks.append(Task((job.index, origin), fit_prophet, args))
            job.pending.add(origin)
    return tasks


def _run_tasks(
    tasks: list[Task],
    by_index: dict[int, _Job],
    workers: int | None,
    timeout_s: float,
    pool: KillablePool | None,
) -> Iterable[Outcome]:
    def skip(key: Hashable) -> bool:
        return by_index[key[0]].done  # type: ignore[index]

    if pool is not None:
        yield from pool.run(tasks, timeout_s, skip)
    elif workers == 0:
        yield from _run_in_process(tasks, skip)
    else:
        with KillablePool(min(workers or os.cpu_count() or 1, len(tasks)), initializer=warm_up) as own:
            yield from own.run(tasks, timeout_s, skip)


def _run_in_process(tasks: list[Task], skip: Callable[[Hashable], bool]) -> Iterable[Outcome]:
    for task in tasks:
        if skip(task.key):
            continue
        try:
            yield Outcome(task.key, "ok", value=task.fn(*task.args))
        except Exception as exc:  # prophet/cmdstan failures are data problems here, not bugs
            yield Outcome(task.key, "error", error=f"{type(exc).__name__}: {exc}")


def _absorb(job: _Job, outcome: Outcome) -> bool:
    """Record a prophet outcome; True when the job has all it will get (all fits back, or one failed)."""
    origin = outcome.key[1]  # type: ignore[index]
    job.pending.discard(origin)
    if outcome.status == "ok":
        result: ProphetResult = outcome.value
        job.prophet[origin] = result.forecast
        job.prophet_seconds += result.fit_s + result.sample_s
    elif job.failure is None:
        job.failure = ForecastStatus.FIT_TIMEOUT if outcome.status == "timeout" else ForecastStatus.FIT_FAILED
        job.failure_detail = outcome.error or outcome.status
        logger.warning("prophet %s for %s (%s) at origin %s: %s", outcome.status, job.series.spec.target,
                       job.series.spec.metric, origin, job.failure_detail)
    return job.failure is not None or not job.pending


# ------------------------------------------------------------------------------------------------ assembly


def _finalize(job: _Job, use_prophet: bool, timeout_s: float) -> Forecast:
    """Backtest, choose, forecast and describe one series once its prophet fits are in."""
    series = job.series
    prophet_ok = use_prophet and job.failure is None
    ev = evaluate(series, job.cutoffs, job.prophet if prophet_ok else None)
    choice = choose_model(ev, known_by=series.origin)
    reason = choice.reason
    if not job.cutoffs:
        reason = (f"no backtest possible with {series.n_observed} observed months (needs {MIN_TRAIN_POINTS} + "
                  f"{HORIZONS[0]}); publishing {choice.model.value}, which claims no trend")
    if not use_prophet:
        reason += " (baselines only: prophet not run)"
    fallback = ""
    if use_prophet and job.failure is not None:
        what = f"timed out after {timeout_s:g} s" if job.failure is ForecastStatus.FIT_TIMEOUT else "failed"
        fallback = f"prophet {what}, so the best baseline is published"
        reason = f"{fallback}; {reason}"
    return build_forecast(
        series, as_of=job.as_of, digest=job.hash, model=choice.model, model_reason=reason,
        forecast=_final_forecast(job, choice.model), fallback=fallback, failure=job.failure,
        backtest=backtest_report(series, ev), prophet_seconds=job.prophet_seconds,
    )


def _final_forecast(job: _Job, model: ModelName) -> PathForecast:
    series = job.series
    if model is ModelName.PROPHET:
        return job.prophet[series.origin].clamped(series.spec.lower, series.spec.upper)
    rng = np.random.default_rng(SEED)
    return baseline_at(series, model, series.origin, HORIZON_MONTHS, n_paths=FINAL_SAMPLES, rng=rng)
