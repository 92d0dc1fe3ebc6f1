"""Rolling-origin backtest: cut-offs, scoring, selection, and the no-hindsight published backtest."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from forecasts.backtest import (
    DEFAULT_MODEL,
    HORIZONS,
    MAX_CUTOFFS,
    Evaluations,
    Rows,
    backtest_report,
    choose_model,
    evaluate,
    plan_cutoffs,
    published_rows,
    score,
)
from forecasts.forecasting import SeriesSpec, forecast_series
from forecasts.series import ModelName, PreparedSeries, prepare

SPEC = SeriesSpec("mmlu", "benchmark", "score_gap", tie_margin=1.0, lower=-100, upper=100)
AS_OF = "2026-03-31"


def series_of(values: np.ndarray | list[float]) -> PreparedSeries:
    values = np.asarray(values, dtype=float)
    index = pd.date_range(end=AS_OF, periods=len(values), freq="ME")
    return prepare(pd.DataFrame({"score_gap": values}, index=index), SPEC, AS_OF)


def flat_then_trend(n_flat: int = 14, n_trend: int = 20, seed: int = 5) -> np.ndarray:
    """Noisy flat for ``n_flat`` months, then falling 2 points a month: last_value wins early, drift late."""
    rng = np.random.default_rng(seed)
    flat = 30 + rng.normal(0, 1.0, n_flat)
    trend = flat[-1] - 2.0 * np.arange(1, n_trend + 1) + rng.normal(0, 0.3, n_trend)
    return np.concatenate([flat, trend])


# -------------------------------------------------------------------------------------------------- cut-offs


def test_cutoffs_need_six_training_points_and_a_three_month_actual() -> None:
    assert plan_cutoffs(series_of(np.arange(8.0))) == []
    assert plan_cutoffs(series_of(np.arange(9.0))) == [5]  # the 6th point, with month 8 three months on
    assert plan_cutoffs(series_of(np.arange(14.0))) == [5, 6, 7, 8, 9, 10]


def test_long_series_keep_the_most_recent_cutoffs_every_other_month() -> None:
    cut = plan_cutoffs(series_of(np.arange(40.0)))
    assert len(cut) == MAX_CUTOFFS
    assert cut[-1] == 36 and np.all(np.diff(cut) == 2)
    assert sum(c + 12 <= 39 for c in cut) >= 6  # enough 12-month pairs


def test_unobserved_months_are_neither_cutoffs_nor_actuals() -> None:
    values = np.arange(20.0)
    values[[10, 14]] = np.nan
    s = series_of(values)
    cut = plan_cutoffs(s)
    assert 10 not in cut and 14 not in cut
    ev = evaluate(s, cut, None)
    assert np.isnan(ev.actual[ev.target == 14]).all()
    assert np.isnan(ev.actual[ev.target >= 20]).all()  # beyond the history


# ----------------------------------------------------------------------------------------------- scoring


def test_score_counts_mae_coverage_and_pairs() -> None:
    actual = np.array([[1.0, 2.0, np.nan], [3.0, 4.0, 5.0]])
    rows = Rows(yhat=np.array([[2.0, 2.0, 0.0], [3.0, 1.0, 5.0]]),
                lower=np.array([[0.0, 0.0, 0.0], [2.5, 2.0, 4.0]]),
                upper=np.array([[3.0, 3.0, 0.0], [3.5, 3.0, 6.0]]))
    s = score(rows, actual, np.ones(actual.shape, dtype=bool))
    assert (s.mae_3, s.mae_6, s.mae_12) == (0.5, 1.5, 0.0)
    assert s.n == 5
    assert s.coverage_80 == pytest.approx(4 / 5)  # only 4.0 in [2, 3] misses
    assert s.mae == pytest.approx(np.mean([0.5, 1.5, 0.0]))


def _evaluations(maes: dict[ModelName, float], coverage: dict[ModelName, float]) -> Evaluations:
    """One cut-off, one pair per horizon; each model off by its MAE, its interval covering or not."""
    actual = np.zeros((10, 3))
    target = np.zeros((10, 3), dtype=int)
    rows = {}
    for model, mae in maes.items():
        covered = np.arange(30).reshape(10, 3) < coverage[model] * 30
        half = np.where(covered, mae + 1, mae / 2)
        rows[model] = Rows(np.full((10, 3), mae), mae - half, mae + half)
    return Evaluations(np.zeros(10, dtype=int), target, actual, rows)


def test_another_model_replaces_the_random_walk_only_when_clearly_better() -> None:
    lv, ld, cl = ModelName.LAST_VALUE, ModelName.LINEAR_DRIFT, ModelName.CONSTANT_LAG
    chosen = choose_model(_evaluations({lv: 2.0, ld: 1.0}, {lv: 0.8, ld: 0.2}), 0)
    assert chosen.model is ld and "more than 20% better" in chosen.reason
    small_edge = choose_model(_evaluations({lv: 1.0, ld: 0.9}, {lv: 0.8, ld: 0.8}), 0)
    assert small_edge.model is lv and "no model beats" in small_edge.reason
    # among the clearly better ones: the lowest MAE, then coverage closest to 0.8, then the simpler model
    tie = choose_model(_evaluations({lv: 2.0, ld: 1.0, cl: 1.0}, {lv: 0.8, ld: 0.5, cl: 0.8}), 0)
    assert tie.model is cl
    assert choose_model(_evaluations({lv: 2.0, ld: 1.0, cl: 1.0}, {lv: 0.8, ld: 0.8, cl: 0.8}), 0).model is ld


def test_no_pairs_yet_means_the_default_model() -> None:
    ev = _evaluations({ModelName.LINEAR_DRIFT: 1.0, ModelName.LAST_VALUE: 2.0},
                      {ModelName.LINEAR_DRIFT: 0.8, ModelName.LAST_VALUE: 0.8})
    assert choose_model(ev, known_by=-1).model is DEFAULT_MODEL


# ------------------------------------------------------------------------------------------- no hindsight


def test_published_backtest_uses_only_the_past_where_hindsight_would_differ() -> None:
    s = series_of(flat_then_trend())
    cut = plan_cutoffs(s)
    ev = evaluate(s, cut, None)
    hindsight = choose_model(ev, known_by=s.origin).model
    assert hindsight is ModelName.LINEAR_DRIFT
    choices, _ = published_rows(ev)
    assert choices[0] is DEFAULT_MODEL  # nothing known yet at the first cut-off
    assert ModelName.LAST_VALUE in choices[: len(choices) // 2]  # the flat past favoured the random walk
    report = backtest_report(s, ev)
    published, drift = report.scores["published"], report.scores["linear_drift"]
    assert published is not None and drift is not None
    assert published.mae != pytest.approx(drift.mae)  # a hindsight pick would have scored exactly drift's


def test_published_choice_at_each_cutoff_depends_only_on_data_up_to_it() -> None:
    values = flat_then_trend()
    full = series_of(values)
    cut = plan_cutoffs(full)
    choices, _ = published_rows(evaluate(full, cut, None))
    for k, c in enumerate(cut):
        # Rewrite the future after c wildly: the choice made at c must not change.
        rewritten = values.copy()
        rewritten[c + 1 :] = 1000.0 * np.sin(np.arange(len(values) - c - 1))
        alt = series_of(rewritten)
        assert choose_model(evaluate(alt, cut, None), known_by=c).model is choices[k]


def test_baseline_forecasts_at_a_cutoff_ignore_later_data() -> None:
    values = flat_then_trend()
    cut = plan_cutoffs(series_of(values))
    rewritten = values.copy()
    rewritten[cut[0] + 1 :] = -50.0
    a = evaluate(series_of(values), cut[:1], None)
    b = evaluate(series_of(rewritten), cut[:1], None)
    for model in a.rows:
        assert a.rows[model].yhat == pytest.approx(b.rows[model].yhat)


# --------------------------------------------------------------------------------------------- report


def test_report_has_every_model_and_the_published_one() -> None:
    fc = forecast_series(pd.DataFrame({"score_gap": flat_then_trend()},
                                      index=pd.date_range(end=AS_OF, periods=34, freq="ME")),
                         SPEC, as_of=AS_OF, use_prophet=False)
    assert fc.backtest is not None
    d = fc.backtest.to_dict()
    assert set(d["models"]) == {"prophet", "last_value", "linear_drift", "constant_lag", "published"}
    assert d["models"]["prophet"] is None  # not run
    for name in ("last_value", "linear_drift", "constant_lag", "published"):
        assert set(d["models"][name]) == {"mae_3", "mae_6", "mae_12", "coverage_80", "n"}
        assert d["models"][name]["n"] > 0
    assert d["horizons"] == list(HORIZONS)
    assert len(d["published_choices"]) == len(d["cutoffs"])
    assert fc.model is ModelName.LINEAR_DRIFT
    assert "6-month backtest MAE" in fc.model_reason
