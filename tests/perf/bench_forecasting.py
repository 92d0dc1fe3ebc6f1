"""Perf figures for the forecasting engine (prints figures, asserts nothing about time).

    /work/venv/bin/python tests/perf/bench_forecasting.py                 # full rebuild + one domain + samples
    /work/venv/bin/python tests/perf/bench_forecasting.py --changepoints  # also the changepoint_range study

Synthetic data shaped like the bundled snapshot: 10 domains and 50 benchmarks, 12-40 monthly points, two
metrics each (120 series). Frontiers move in release steps; the open side either closes the gap, keeps pace
or falls behind, and a few months are missing.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import numpy as np
import pandas as pd

from forecasts.backtest import HORIZONS, evaluate, plan_cutoffs, score
from forecasts.catchup import first_catch_up
from forecasts.forecasting import (
    BACKTEST_SAMPLES,
    FINAL_SAMPLES,
    SEED,
    SeriesSpec,
    forecast_many,
    forecast_pool,
)
from forecasts.prophet_model import CHANGEPOINT_RANGE, fit_prophet
from forecasts.series import DAYS_PER_MONTH, ModelName, prepare

N_DOMAINS, N_BENCHMARKS = 10, 50
TIE_MARGIN, LAG_MARGIN_DAYS = 1.0, 15.0


def frontier(start: float, months: int, p_release: float, step: float, rng: np.random.Generator) -> np.ndarray:
    """A best-so-far score: release steps (exponential sizes) that shrink near the ceiling of 100."""
    values = [start]
    for _ in range(months - 1):
        jump = rng.exponential(step) * (100 - values[-1]) / 100 if rng.random() < p_release else 0.0
        values.append(min(100.0, values[-1] + jump))
    return np.array(values)


def lag_days(closed: np.ndarray, open_: np.ndarray, margin: float) -> np.ndarray:
    """BRIEF's lag at monthly resolution: t - min{τ <= t : C(τ) > O(t) + margin}, 0 when there is none."""
    lags = np.zeros(len(closed))
    for t in range(len(closed)):
        ahead = np.flatnonzero(closed[: t + 1] > open_[t] + margin)
        lags[t] = (t - ahead[0]) * DAYS_PER_MONTH if len(ahead) else 0.0
    return lags


def synthetic_history(i: int, rng: np.random.Generator) -> pd.DataFrame:
    months = int(rng.integers(12, 41))
    scenario = ("closing", "pace", "falling", "noisy")[i % 4]
    closed = frontier(rng.uniform(35, 70), months, 0.35, 8.0, rng)
    open_step = {"closing": 14.0, "pace": 8.0, "falling": 4.0, "noisy": 10.0}[scenario]
    open_ = np.minimum(frontier(closed[0] - rng.uniform(5, 25), months, 0.35, open_step, rng), 100)
    gap = closed - open_
    if scenario == "noisy":
        gap = gap + rng.normal(0, 2.0, months)
    index = pd.date_range(end="2026-03-31", periods=months, freq="ME")
    frame = pd.DataFrame(
        {"score_gap": gap, "lag_days": lag_days(closed, open_, TIE_MARGIN), "closed": closed}, index=index
    )
    missing = rng.choice(np.arange(1, months - 1), size=int(rng.integers(0, 3)), replace=False)
    frame.iloc[missing] = np.nan
    return frame


def bundled_like_items(seed: int = 7) -> list[tuple[pd.DataFrame, SeriesSpec]]:
    rng = np.random.default_rng(seed)
    items = []
    for i in range(N_DOMAINS + N_BENCHMARKS):
        history = synthetic_history(i, rng)
        kind = "domain" if i < N_DOMAINS else "benchmark"
        if kind == "domain":
            history = history.drop(columns="closed")
        target = f"{kind}-{i}"
        items.append((history, SeriesSpec(target, kind, "score_gap", TIE_MARGIN, -100, 100, 100)))
        items.append((history, SeriesSpec(target, kind, "lag_days", LAG_MARGIN_DAYS, 0, None)))
    return items


def bench_rebuild(items: list[tuple[pd.DataFrame, SeriesSpec]], workers: int) -> None:
    ticks: list[int] = []
    started = time.perf_counter()
    forecasts = forecast_many(items, as_of="2026-04-15", workers=workers, progress=lambda d, t: ticks.append(d))
    wall = time.perf_counter() - started
    prophet_s = sum(f.prophet_seconds for f in forecasts)
    statuses = pd.Series([f.status.value for f in forecasts]).value_counts().to_dict()
    models = pd.Series([str(f.model.value if f.model else None) for f in forecasts]).value_counts().to_dict()
    print(f"full rebuild: {len(items)} series, {workers} workers: {wall:.1f} s total, "
          f"{wall / len(items):.3f} s per series (wall), progress ticks {len(ticks)}")
    print(f"  time inside prophet (fit + predictive samples, summed over workers): {prophet_s:.1f} s = "
          f"{prophet_s / (wall * workers):.0%} of the workers' wall time")
    print(f"  statuses {statuses}")
    print(f"  published models {models}")
    _print_backtest_summary(forecasts)


def _print_backtest_summary(forecasts: list) -> None:
    rows = []
    for f in forecasts:
        if f.backtest is None:
            continue
        for model, s in f.backtest.scores.items():
            if s is not None and s.mae is not None:
                rows.append((f.metric, model, s.mae, s.coverage_80))
    table = pd.DataFrame(rows, columns=["metric", "model", "mae", "coverage_80"])
    summary = table.groupby(["metric", "model"]).agg(["median", "count"]).round(3)
    print("  backtest across series (median MAE over 3/6/12 months, median 80% coverage):")
    print("    " + summary.to_string().replace("\n", "\n    "))


def bench_domain(items: list[tuple[pd.DataFrame, SeriesSpec]], workers: int) -> None:
    domain = items[:2]  # one domain: its score gap and its lag
    started = time.perf_counter()
    forecast_many(domain, as_of="2026-04-15", workers=workers)
    cold = time.perf_counter() - started
    with forecast_pool(workers) as pool:
        forecast_many(domain, as_of="2026-04-15", pool=pool)  # warm the workers
        started = time.perf_counter()
        forecast_many(domain, as_of="2026-04-15", pool=pool)
        warm = time.perf_counter() - started
    months = len(domain[0][0])
    print(f"one domain (2 series, {months} months): {cold:.2f} s with a fresh pool (includes worker start-up), "
          f"{warm:.2f} s with a warm pool")


def bench_samples(items: list[tuple[pd.DataFrame, SeriesSpec]]) -> None:
    """Cost of predictive sampling and run-to-run spread of what we publish, per uncertainty_samples.

    The spread of P(caught up within 12 months) is measured at a margin that half of the paths reach by
    month 12 (where a probability is noisiest), on the longest score-gap series.
    """
    history, spec = max(((h, s) for h, s in items if s.metric == "score_gap"), key=lambda hs: len(hs[0]))
    series = prepare(history, spec, "2026-04-15")
    obs = series.observed
    month_ends, values = series.months[obs].to_numpy(), series.y[obs]
    reference = fit_prophet(month_ends, values, 36, 4000, 0, True).forecast
    margin = float(np.median(reference.paths[:, :12].min(axis=1)))  # half the paths reach it by month 12
    print(f"uncertainty_samples study ({spec.target}, {len(values)} points, 36-month horizon, 20 seeds):")
    for n in (100, 200, 500, 1000, 2000):
        sample_times, fit_times, ends, probs, widths = [], [], [], [], []
        for seed in range(20):
            result = fit_prophet(month_ends, values, 36, n, seed, True)
            sample_times.append(result.sample_s)
            fit_times.append(result.fit_s)
            fc = result.forecast
            ends.append(fc.upper[11])
            widths.append(fc.upper[11] - fc.lower[11])
            probs.append(float(np.mean(first_catch_up(fc.paths, margin) <= 12)))
        print(f"  {n:>5} samples: predictive_samples {statistics.median(sample_times) * 1000:5.1f} ms (fit "
              f"{statistics.median(fit_times) * 1000:4.1f} ms); across seeds the 90% end at 12 months moves "
              f"by {np.std(ends) / np.mean(widths):.1%} of the interval width, P(within 12) by "
              f"{np.std(probs):.3f} (sd)")


def bench_algorithms() -> None:
    """Prophet fit time with Newton (its choice below 100 points) and LBFGS (ours), and the optimum reached."""
    from forecasts.prophet_model import import_prophet

    prophet_cls = import_prophet()
    rng = np.random.default_rng(0)
    print("fit algorithm (median of 6 fits):")
    for n in (12, 24, 40):
        frame = pd.DataFrame({"ds": pd.date_range("2023-01-31", periods=n, freq="ME"),
                              "y": 20 - 0.5 * np.arange(n) + rng.normal(0, 1.5, n)})
        line = []
        for algorithm in ("Newton", "LBFGS"):
            times = []
            for _ in range(6):
                model = prophet_cls(weekly_seasonality=False, yearly_seasonality=False,
                                    daily_seasonality=False, n_changepoints=max(0, int(n * 0.9) - 1),
                                    changepoint_range=CHANGEPOINT_RANGE)
                started = time.perf_counter()
                import cmdstanpy

                with cmdstanpy.disable_logging():
                    model.fit(frame, algorithm=algorithm)
                times.append(time.perf_counter() - started)
            lp = model.stan_backend.stan_fit.optimized_params_dict["lp__"]
            line.append(f"{algorithm} {statistics.median(times) * 1000:5.1f} ms, log posterior {lp:.3f}")
        print(f"  {n:>2} points: " + "; ".join(line))


def study_changepoints(items: list[tuple[pd.DataFrame, SeriesSpec]]) -> None:
    """Backtest MAE of prophet per changepoint_range, on the score-gap series (in-process fits)."""
    print("changepoint_range study (prophet backtest, mean over score-gap series of the 3/6/12 MAE mean):")
    prepared = [prepare(h, s, "2026-04-15") for h, s in items if s.metric == "score_gap"]
    for cr in (0.8, 0.9, 0.95, 1.0):
        maes = []
        for series in prepared:
            cutoffs = plan_cutoffs(series)
            if not cutoffs:
                continue
            fits = {}
            for c in cutoffs:
                obs = series.observed[: c + 1]
                fits[c] = fit_prophet(series.months[: c + 1][obs].to_numpy(), series.y[: c + 1][obs],
                                      max(HORIZONS), BACKTEST_SAMPLES, SEED, False, cr).forecast
            ev = evaluate(series, cutoffs, fits)
            s = score(ev.rows[ModelName.PROPHET], ev.actual, np.ones(ev.actual.shape, dtype=bool))
            if s.mae is not None:
                maes.append(s.mae)
        marker = " (used)" if cr == CHANGEPOINT_RANGE else ""
        print(f"  {cr:.2f}: {np.mean(maes):.3f} over {len(maes)} series{marker}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--changepoints", action="store_true", help="run the changepoint_range study too")
    args = parser.parse_args()
    items = bundled_like_items()
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cpus; FINAL_SAMPLES={FINAL_SAMPLES}, "
          f"BACKTEST_SAMPLES={BACKTEST_SAMPLES}")
    bench_rebuild(items, args.workers)
    bench_domain(items, args.workers)
    bench_samples(items)
    bench_algorithms()
    if args.changepoints:
        study_changepoints(items)


if __name__ == "__main__":
    main()
