"""Forecasting engine: baselines, clamping, catch-up, lag trend, statuses, hashing; prophet tests are slow."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pytest

from forecasts.baselines import constant_lag, last_value, linear_drift
from forecasts.catchup import catch_up_distribution, lag_trend, t_quantile_90
from forecasts.forecasting import (
    HORIZON_MONTHS,
    ForecastStatus,
    SeriesSpec,
    data_hash,
    forecast_many,
    forecast_series,
)
from forecasts.series import DAYS_PER_MONTH, ModelName, prepare
from forecasts.workers import KillablePool, Task

AS_OF = "2026-03-15"
GAP = SeriesSpec("gpqa", "benchmark", "score_gap", tie_margin=1.0, lower=-100, upper=100, closed_upper=100)
LAG = SeriesSpec("gpqa", "benchmark", "lag_days", tie_margin=15.0, lower=0, upper=None)

JSON_KEYS = {"target", "kind", "metric", "as_of", "model", "model_reason", "horizon_months", "trajectory",
             "catch_up", "lag_trend", "status", "reason", "data_hash"}


def history(gap: list[float] | np.ndarray, lag: list[float] | np.ndarray | None = None,
            closed: list[float] | np.ndarray | None = None, end: str = "2026-03-31") -> pd.DataFrame:
    """A monthly history ending at ``end``; lag defaults to 30 days per gap point (a shrinking lag)."""
    gap = np.asarray(gap, dtype=float)
    index = pd.date_range(end=end, periods=len(gap), freq="ME")
    frame = pd.DataFrame({"score_gap": gap}, index=index)
    frame["lag_days"] = np.asarray(lag, dtype=float) if lag is not None else np.clip(gap, 0, None) * 30
    if closed is not None:
        frame["closed"] = np.asarray(closed, dtype=float)
    return frame


def baselines_only(frame: pd.DataFrame, spec: SeriesSpec = GAP, **kwargs: object):  # type: ignore[no-untyped-def]
    return forecast_series(frame, spec, as_of=AS_OF, use_prophet=False, **kwargs)  # type: ignore[arg-type]


def noisy_line(start: float, slope: float, n: int, noise: float, seed: int = 0) -> np.ndarray:
    return start + slope * np.arange(n) + np.random.default_rng(seed).normal(0, noise, n)


# ------------------------------------------------------------------------------------------------ baselines


def test_last_value_is_flat_and_its_interval_grows_with_the_square_root_of_the_horizon() -> None:
    y = np.array([10.0, 12, 11, 13, 12, 14])
    fc = last_value(y, 16)
    assert np.all(fc.yhat == 14.0)
    width = fc.upper - fc.lower
    assert width[3] == pytest.approx(2 * width[0])  # h = 4 vs h = 1
    assert width[15] == pytest.approx(4 * width[0])


def test_linear_drift_follows_the_mean_change_and_widens_faster_than_a_random_walk() -> None:
    exact = last = linear_drift(np.arange(10, dtype=float) * 0.5 + 2, 6)
    assert exact.yhat == pytest.approx(6.5 + 0.5 * np.arange(1, 7))
    assert np.all(exact.upper - exact.lower == pytest.approx(0.0))  # a perfect line has no noise
    y = noisy_line(20, -1, 12, 1.0)
    last = linear_drift(y, 12)
    assert last.yhat[0] == pytest.approx(y[-1] + np.mean(np.diff(y)))
    width = last.upper - last.lower
    assert np.all(np.diff(width / np.sqrt(np.arange(1, 13))) > 0)  # drift uncertainty on top of sqrt(h)


def test_baseline_sample_paths_match_their_intervals() -> None:
    y = noisy_line(20, -1, 24, 1.5)
    for model in (last_value, linear_drift):
        fc = model(y, 12, n_paths=4000, rng=np.random.default_rng(1))
        assert fc.paths is not None and fc.paths.shape == (4000, 12)
        inside = (fc.paths >= fc.lower) & (fc.paths <= fc.upper)
        assert inside.mean(axis=0) == pytest.approx(np.full(12, 0.8), abs=0.03)


def test_constant_lag_without_a_closed_frontier_is_flat_like_last_value() -> None:
    y = noisy_line(10, -0.3, 12, 0.5)
    flat, lv = constant_lag(y, 8), last_value(y, 8)
    assert flat.yhat == pytest.approx(lv.yhat)
    assert flat.upper == pytest.approx(lv.upper)


def test_constant_lag_keeps_the_gap_when_the_closed_frontier_grows_linearly() -> None:
    closed = 50 + 1.0 * np.arange(12)  # +1 point a month
    fc = constant_lag(np.full(12, 3.0), 12, closed=closed, lag_days=3 * DAYS_PER_MONTH, closed_upper=100)
    assert fc.yhat == pytest.approx(np.full(12, 3.0))


def test_constant_lag_closes_the_gap_when_the_closed_frontier_hits_its_ceiling() -> None:
    closed = np.array([82.0, 84, 86, 88, 90, 92])  # +2 a month, ceiling 100 reached 4 months ahead
    fc = constant_lag(np.full(6, 7.0), 12, closed=closed, lag_days=3 * DAYS_PER_MONTH, closed_upper=100)
    # Gap(t+h) = 7 + [C(t+h) - C(t+h-3)] - [C(t) - C(t-3)] = 7 + [C(t+h) - C(t+h-3)] - 6.
    assert fc.yhat[0] == pytest.approx(7.0)
    assert fc.yhat[4] == pytest.approx(7 + (100 - 96) - 6)  # h = 5: C(t+5) = 100, C(t+2) = 96
    assert fc.yhat[6:] == pytest.approx(np.full(6, 1.0))  # h >= 7: both ends at the ceiling: 7 - 6


def test_forecasts_and_paths_are_clamped_into_the_spec_range() -> None:
    lag = noisy_line(60, -8, 14, 3.0)  # heading below zero
    fc = baselines_only(history(np.linspace(9, 2, 14), lag=lag), LAG)
    assert fc.model is not None
    for point in fc.trajectory:
        assert 0 <= point.lower <= point.yhat <= point.upper
    near_top = SeriesSpec("x", "benchmark", "score_gap", 1.0, lower=-100, upper=20)
    up = baselines_only(history(noisy_line(5, 1.5, 14, 0.2)), near_top)
    assert max(p.upper for p in up.trajectory) <= 20
    assert up.trajectory[-1].yhat == pytest.approx(20)


# ------------------------------------------------------------------------------------------------- catch-up


def test_catch_up_quantiles_and_probabilities_from_known_paths() -> None:
    months = pd.date_range("2026-04-30", periods=36, freq="ME")
    paths = np.full((10, 36), 5.0)
    for i in range(6):  # path i catches up in month 2 * (i + 1); paths 6..9 never do
        paths[i, 2 * (i + 1) - 1 :] = 0.0
    cu = catch_up_distribution(paths, months, tie_margin=1.0)
    assert cu.p10 == months[1]  # 1 path in 10 by month 2
    assert cu.p50 == months[9]  # 5 paths by month 10
    assert cu.p90 is None  # only 6 of 10 ever do
    assert cu.probability_within == {6: 0.3, 12: 0.6, 24: 0.6}
    assert cu.never_within_horizon == pytest.approx(0.4)


def test_series_trending_to_zero_gets_a_plausible_catch_up_date() -> None:
    gap = noisy_line(30, -1.0, 24, 0.3)  # ~7 at the origin, -1 a month: margin 1 in ~6 months
    fc = baselines_only(history(gap))
    assert fc.status is ForecastStatus.OK
    assert fc.model is ModelName.LINEAR_DRIFT
    origin = pd.Timestamp("2026-03-31")
    assert fc.catch_up.p50 is not None
    months_ahead = (fc.catch_up.p50.year - origin.year) * 12 + fc.catch_up.p50.month - origin.month
    assert 4 <= months_ahead <= 9
    p = fc.catch_up.probability_within
    assert p[6] is not None and p[12] is not None and p[24] is not None
    assert p[6] <= p[12] <= p[24]
    assert p[24] > 0.9
    assert fc.catch_up.p10 <= fc.catch_up.p50  # type: ignore[operator]
    assert "Median catch-up" in fc.reason


def test_open_leads_reports_the_chance_that_closed_retakes_the_lead() -> None:
    gap = np.concatenate([noisy_line(6, -1, 10, 0.3), np.array([-3.8, -4.1, -3.7, -4.2])])
    fc = baselines_only(history(gap))
    assert fc.status is ForecastStatus.OPEN_LEADS
    assert fc.catch_up.p50 is None
    lost = fc.catch_up.p_lead_lost_within_12
    assert lost is not None and 0 <= lost <= 1
    assert "lead" in fc.reason
    assert fc.to_dict()["catch_up"]["p_lead_lost_within_12"] == pytest.approx(lost, abs=1e-4)


def test_within_the_tie_margin_is_caught_up() -> None:
    fc = baselines_only(history([6, 5, 4, 3, 2, 1.5, 0.8, 0.4]))
    assert fc.status is ForecastStatus.CAUGHT_UP
    assert fc.catch_up.p50 is None


# ------------------------------------------------------------------------------------------------ lag trend


def test_t_quantile_approximation() -> None:
    for df, exact in ((3, 1.6377), (4, 1.5332), (10, 1.3722), (22, 1.3212)):
        assert t_quantile_90(df) == pytest.approx(exact, rel=0.005)


def sawtooth_lag(n: int, level_months: float, seed: int = 3) -> np.ndarray:
    """Lag that grows a month per month and drops back when open ships, around a constant level."""
    rng = np.random.default_rng(seed)
    lag, value = [], level_months
    for _ in range(n):
        value = value + 1 if rng.random() > 0.3 else level_months - 2 + rng.random() * 2
        lag.append(value * DAYS_PER_MONTH)
    return np.array(lag)


def test_stable_lag_says_how_far_behind_and_gives_no_date() -> None:
    lag = sawtooth_lag(24, 7)
    fc = baselines_only(history(np.full(24, 20.0) + np.random.default_rng(0).normal(0, 2, 24), lag=lag), LAG)
    assert fc.lag_trend.verdict is not None and fc.lag_trend.verdict.value == "stable"
    assert fc.status is ForecastStatus.OK
    assert fc.catch_up.p10 is None and fc.catch_up.p50 is None and fc.catch_up.p90 is None
    assert "months behind" in fc.reason and "no catch-up date" in fc.reason


@pytest.mark.parametrize(("slope", "verdict"), [(-10.0, "shrinking"), (20.0, "widening")])
def test_lag_trend_verdicts(slope: float, verdict: str) -> None:
    lag = np.clip(noisy_line(300, slope, 24, 5.0), 0, None)
    series = prepare(history(np.full(24, 10.0), lag=lag), GAP, AS_OF)
    trend = lag_trend(series)
    assert trend.verdict is not None and trend.verdict.value == verdict
    assert trend.slope_days_per_year == pytest.approx(slope * 12, rel=0.15)
    assert trend.lower < trend.slope_days_per_year < trend.upper  # type: ignore[operator]


def test_score_gap_forecast_without_a_lag_column_has_no_lag_trend() -> None:
    frame = history(noisy_line(20, -0.5, 14, 0.4)).drop(columns="lag_days")
    fc = baselines_only(frame)
    assert fc.to_dict()["lag_trend"] == {"slope_days_per_year": None, "lower": None, "upper": None,
                                         "verdict": None}
    assert fc.status is ForecastStatus.OK


# ----------------------------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("frame", "needle"),
    [
        (history([5, 4, 3, 2, 1.5]), "only 5 observed"),
        (history([np.nan] * 12), "only 0 observed"),
        (history([5, 4, 3, 2, 1.5, 1.2, 1.1]).drop(columns="score_gap"), "no 'score_gap' column"),
        (pd.DataFrame({"score_gap": [1.0] * 8}, index=list("abcdefgh")), "not made of dates"),
    ],
)
def test_unusable_history_is_insufficient_data_not_an_exception(frame: pd.DataFrame, needle: str) -> None:
    fc = baselines_only(frame)
    assert fc.status is ForecastStatus.INSUFFICIENT_DATA
    assert needle in fc.reason
    assert fc.trajectory == [] and fc.model is None
    assert fc.catch_up.p50 is None and fc.catch_up.never_within_horizon is None
    json.dumps(fc.to_dict())


def test_not_a_dataframe_is_insufficient_data() -> None:
    fc = forecast_series(None, GAP, as_of=AS_OF, use_prophet=False)  # type: ignore[arg-type]
    assert fc.status is ForecastStatus.INSUFFICIENT_DATA


def test_constant_series_has_no_trajectory_and_no_date() -> None:
    fc = baselines_only(history(np.full(10, 4.0)))
    assert fc.status is ForecastStatus.CONSTANT_SERIES
    assert fc.trajectory == [] and fc.catch_up.p50 is None
    assert "nothing to extrapolate" in fc.reason
    level = baselines_only(history(np.full(10, 5.0), lag=np.zeros(10)), LAG)
    assert level.status is ForecastStatus.CAUGHT_UP


def test_nan_months_are_interpolated_and_said_so() -> None:
    gap = noisy_line(30, -1.0, 24, 0.3)
    gap[[5, 6, 15]] = np.nan
    fc = baselines_only(history(gap))
    assert fc.status is ForecastStatus.OK
    assert len(fc.trajectory) == HORIZON_MONTHS
    assert "3 missing months interpolated" in fc.reason
    assert all(np.isfinite([p.yhat, p.lower, p.upper]).all() for p in fc.trajectory)


def test_rows_after_as_of_are_ignored() -> None:
    gap = noisy_line(30, -1.0, 26, 0.3)
    full = history(gap, end="2026-05-31")
    fc = baselines_only(full)  # as of 2026-03-15: the last two months are the future
    assert fc.trajectory[0].date == pd.Timestamp("2026-04-30")
    assert fc.to_dict() == baselines_only(full.iloc[:-2]).to_dict()


# -------------------------------------------------------------------------------------- contract, hashing


def test_to_dict_has_exactly_the_published_shape() -> None:
    d = baselines_only(history(noisy_line(20, -0.5, 14, 0.4))).to_dict()
    assert set(d) == JSON_KEYS
    assert d["horizon_months"] == 36 and len(d["trajectory"]) == 36
    assert set(d["trajectory"][0]) == {"date", "yhat", "lower", "upper"}
    assert set(d["catch_up"]) == {"p10", "p50", "p90", "probability_within", "never_within_horizon",
                                  "p_lead_lost_within_12"}
    assert set(d["catch_up"]["probability_within"]) == {"6", "12", "24"}
    assert d["model"] in {"prophet", "last_value", "linear_drift", "constant_lag"}
    assert d["as_of"] == "2026-03-15"
    json.dumps(d)


def test_forecasts_are_deterministic() -> None:
    frame = history(noisy_line(20, -0.5, 20, 1.0))
    assert baselines_only(frame).to_dict() == baselines_only(frame.copy()).to_dict()


def test_data_hash_is_stable_and_sensitive_to_what_matters() -> None:
    frame = history(noisy_line(20, -0.5, 14, 0.4))
    frame.iloc[3, 0] = np.nan
    h = data_hash(frame, GAP, AS_OF)
    assert h == data_hash(frame.copy(), GAP, "2026-03-01")  # same rows kept
    assert len(h) == 64
    changed = frame.copy()
    changed.iloc[5, 0] += 0.001
    assert data_hash(changed, GAP, AS_OF) != h
    assert data_hash(frame, LAG, AS_OF) != h
    assert data_hash(frame, GAP, "2026-02-15") != h  # drops March
    assert baselines_only(frame).data_hash == h
    assert data_hash(None, GAP, AS_OF) == data_hash(None, GAP, AS_OF)  # type: ignore[arg-type]


def test_data_hash_is_the_same_in_another_process() -> None:
    code = (
        "import numpy as np, pandas as pd; from forecasts.forecasting import data_hash, SeriesSpec;"
        "f = pd.DataFrame({'score_gap': [1.5, np.nan, 0.25]}, index=pd.date_range('2025-01-31', periods=3,"
        " freq='ME')); print(data_hash(f, SeriesSpec('t', 'domain', 'score_gap', 1.0, None, None), '2025-03-31'))"
    )
    frame = pd.DataFrame({"score_gap": [1.5, np.nan, 0.25]},
                         index=pd.date_range("2025-01-31", periods=3, freq="ME"))
    expected = data_hash(frame, SeriesSpec("t", "domain", "score_gap", 1.0, None, None), "2025-03-31")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == expected


def test_forecast_many_keeps_order_and_reports_progress() -> None:
    items = [(history(noisy_line(20, -0.5, 14, 0.4)), GAP), (history([1.0, 2.0]), GAP),
             (history(noisy_line(20, -0.5, 14, 0.4)), LAG)]
    ticks: list[tuple[int, int]] = []
    out = forecast_many(items, as_of=AS_OF, use_prophet=False, progress=lambda d, t: ticks.append((d, t)))
    assert [f.status for f in out][1] is ForecastStatus.INSUFFICIENT_DATA
    assert [f.metric for f in out] == ["score_gap", "score_gap", "lag_days"]
    assert sorted(ticks) == [(1, 3), (2, 3), (3, 3)]


def test_spec_rejects_inconsistent_values() -> None:
    with pytest.raises(ValueError, match="lower must be below upper"):
        SeriesSpec("x", "domain", "score_gap", 1.0, lower=5, upper=5)
    with pytest.raises(ValueError, match="tie_margin"):
        SeriesSpec("x", "domain", "score_gap", -1.0, lower=None, upper=None)


def test_importing_the_engine_starts_nothing_and_imports_no_prophet() -> None:
    code = "import sys, forecasts.forecasting; print('prophet' in sys.modules, 'cmdstanpy' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False False"


# ---------------------------------------------------------------------------------------- killable workers


def spawn_child_and_wait(pid_file: str) -> None:
    """Start a long sleep in a subprocess (like cmdstan), record its pid, wait for it."""
    child = subprocess.Popen(["sleep", "60"])
    with open(pid_file, "w") as fh:
        fh.write(str(child.pid))
    child.wait()


def fail(message: str) -> None:
    raise RuntimeError(message)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A killed child may linger as a zombie until reaped by init; zombies count as dead.
    with open(f"/proc/{pid}/stat") as fh:
        return fh.read().split()[2] != "Z"


def test_pool_kills_a_stuck_task_and_its_subprocess_and_keeps_going(tmp_path: object) -> None:
    pid_file = os.path.join(str(tmp_path), "child.pid")
    tasks = [Task("stuck", spawn_child_and_wait, (pid_file,)), Task("quick", pow, (2, 10)),
             Task("raises", fail, ("boom",))]
    with KillablePool(1) as pool:
        started = time.monotonic()
        outcomes = {o.key: o for o in pool.run(tasks, timeout_s=1.0)}
        assert time.monotonic() - started < 20
        assert outcomes["stuck"].status == "timeout"
        assert outcomes["quick"].status == "ok" and outcomes["quick"].value == 1024
        assert outcomes["raises"].status == "error" and "boom" in (outcomes["raises"].error or "")
        again = list(pool.run([Task("after", pow, (3, 2))], timeout_s=5.0))
        assert again[0].value == 9
    with open(pid_file) as fh:
        child = int(fh.read())
    deadline = time.monotonic() + 5
    while _alive(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(child)


def test_pool_skips_tasks_the_caller_no_longer_wants() -> None:
    tasks = [Task(i, pow, (2, i)) for i in range(6)]
    with KillablePool(1) as pool:
        keys = [o.key for o in pool.run(tasks, timeout_s=5.0, skip=lambda key: key % 2 == 1)]
    assert sorted(keys) == [0, 2, 4]  # type: ignore[type-var]


# ---------------------------------------------------------------------------------------------- prophet


@pytest.mark.slow
def test_prophet_fits_a_short_trend_series() -> None:
    from forecasts.prophet_model import fit_prophet

    gap = noisy_line(20, -1.0, 12, 0.3)
    months = pd.date_range(end="2026-03-31", periods=12, freq="ME").to_numpy()
    result = fit_prophet(months, gap, 36, 1000, 7, True)
    fc = result.forecast
    assert fc.paths is not None and fc.paths.shape == (1000, 36)
    assert fc.yhat[0] == pytest.approx(gap[-1] - 1.0, abs=1.0)
    assert np.all(np.diff(fc.yhat) < 0)
    assert np.all(fc.lower <= fc.yhat) and np.all(fc.yhat <= fc.upper)
    out = forecast_series(history(gap), GAP, as_of=AS_OF)
    assert out.backtest is not None and out.backtest.scores["prophet"] is not None
    assert out.status is ForecastStatus.OK and out.catch_up.p50 is not None


@pytest.mark.slow
def test_prophet_intervals_are_deterministic() -> None:
    frame = history(noisy_line(25, -0.8, 18, 1.0))
    first = forecast_series(frame, GAP, as_of=AS_OF)
    second = forecast_series(frame, GAP, as_of=AS_OF)
    assert first.backtest is not None and first.backtest.scores["prophet"] is not None
    assert first.to_dict() == second.to_dict()
    assert first.backtest.to_dict() == second.backtest.to_dict()  # type: ignore[union-attr]


@pytest.mark.slow
def test_prophet_timeout_falls_back_to_the_best_baseline() -> None:
    frame = history(noisy_line(30, -1.0, 24, 0.3))
    fc = forecast_series(frame, GAP, as_of=AS_OF, timeout_s=0.001)
    assert fc.status is ForecastStatus.FIT_TIMEOUT
    assert fc.model in {ModelName.LAST_VALUE, ModelName.LINEAR_DRIFT, ModelName.CONSTANT_LAG}
    assert "timed out" in fc.reason and "timed out" in fc.model_reason
    assert fc.backtest is not None and fc.backtest.scores["prophet"] is None
    assert len(fc.trajectory) == HORIZON_MONTHS


@pytest.mark.slow
def test_prophet_in_process_mode_matches_the_pool() -> None:
    frame = history(noisy_line(25, -0.8, 14, 1.0))
    pooled = forecast_series(frame, GAP, as_of=AS_OF)
    in_process = forecast_series(frame, GAP, as_of=AS_OF, workers=0)
    assert pooled.to_dict() == in_process.to_dict()
