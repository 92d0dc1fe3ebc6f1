"""`gapcast backtest`: the engine's rolling-origin backtest as one JSON-ready report.

- ``headline`` (with ``headline_ci_90``, a 90% interval from a bootstrap over the series): the geometric
  mean over series of MAE / random-walk MAE per kind, metric and horizon;
- ``series``: per series, MAE at 3/6/12 months of the published forecast (the paths' median, or "no change"
  where the calibration recentred that kind and metric: ``recentred``) and of the random walk (the gap or
  lag stays where it is), with the published candidate;
- ``calibration``: 80% coverage of the calibrated bands per kind, metric and horizon;
- ``catch_up`` / ``retake``: the published probabilities scored against what happened (AUC, Brier, the base
  rate's Brier), for all series and for the judging half of the benchmarks;
- ``selection``: the candidate rule, tuned on one half of the benchmarks and judged on the other.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from forecasts.engine import backtest as bt
from forecasts.engine.calibration import (
    bootstrap_interval,
    calibrate,
    coverage_table,
    probability_table,
    start_value,
)
from forecasts.engine.candidates import OPTIONAL_CANDIDATES, FrontierModel
from forecasts.engine.publish import ALL_CANDIDATES, PUBLISHED, histories_of, published_model
from forecasts.engine.transform import UnitClass
from forecasts.measure.domains import Domain
from forecasts.records.model import Dataset

#: The rule: per unit class, the candidate with the lowest geometric mean (over benchmarks) of its 6-month
#: lag MAE divided by the random walk's, on the tuning half, among those whose 6-month score-gap MAE is no
#: worse than the random walk's there (the engine's target for the gap; `sawtooth-relative` won the lag on
#: Elo/ECI at the gap's cost, 1.13 of the random walk, and with it the domain gap: added after seeing it).
RULE = ("per unit class, among the candidates that sample uncertainty (not `flat`) and whose 6-month score-gap MAE "
        "is at most the random walk's, the one with the lowest geometric mean over benchmarks of (6-month lag MAE / "
        "random-walk 6-month lag MAE), both on the tuning half of the benchmarks")
#: The most a candidate's tuning-half 6-month score-gap MAE may be, as a share of the random walk's.
MAX_GAP_RATIO = 1.0
#: `flat` moves no frontier, so its paths have no spread: published on Elo/ECI (where it had the best MAE) it
#: left the calibrated 80% bands covering 41-70% of outcomes. It stays in the report as a baseline.
NOT_PUBLISHABLE = frozenset({"flat"})


def mae_by_series(rows: Iterable[bt.Row], points: Mapping[tuple[int, str, int], float] | None = None
                  ) -> dict[tuple[str, str], dict[str, Any]]:
    """Per (kind, target): MAE of the forecast and of the random walk per metric and horizon, and pairs. The
    forecast is the paths' median, or the published point of ``points`` ((row index, metric, h) -> value,
    :attr:`Calibrated.points`) where given."""
    acc: dict[tuple[str, str], dict[tuple[str, int], list[tuple[float, float]]]] = defaultdict(
        lambda: defaultdict(list))
    meta: dict[tuple[str, str], bt.Row] = {}
    for i, r in enumerate(rows):
        meta[(r.kind, r.target)] = r
        for (metric, h), f in r.forecast.items():
            a = r.actual.get((metric, h))
            if a is not None:
                base = start_value(r, metric)
                point = f[0] if points is None else points.get((i, metric, h), f[0])
                acc[(r.kind, r.target)][(metric, h)].append((abs(point - a), abs(base - a)))
    out = {}
    for key, cells in acc.items():
        row: dict[str, Any] = {"kind": key[0], "target": key[1], "unit_class": meta[key].unit_class,
                               "half": meta[key].half}
        for (metric, h), pairs in sorted(cells.items()):
            e = np.array(pairs)
            row[f"{metric}_mae_{h}"] = round(float(e[:, 0].mean()), 3)
            row[f"{metric}_rw_mae_{h}"] = round(float(e[:, 1].mean()), 3)
            row[f"{metric}_n_{h}"] = len(pairs)
        out[key] = row
    return out


def _ratios(series: Iterable[dict[str, Any]], metric: str, h: int) -> list[float]:
    """MAE / random-walk MAE per series, where both are positive."""
    return [s[f"{metric}_mae_{h}"] / s[f"{metric}_rw_mae_{h}"] for s in series
            if s.get(f"{metric}_rw_mae_{h}") and s.get(f"{metric}_mae_{h}")]


def geo_ratio(series: Iterable[dict[str, Any]], metric: str, h: int) -> tuple[float | None, int]:
    """Geometric mean over series of MAE / random-walk MAE (series where both are positive), and how many."""
    r = _ratios(series, metric, h)
    return (round(float(np.exp(np.mean(np.log(r)))), 3), len(r)) if r else (None, 0)


def geo_ratio_interval(series: Iterable[dict[str, Any]], metric: str, h: int, level: float = 0.9
                       ) -> list[float] | None:
    """A ``level`` interval for :func:`geo_ratio` by resampling the series with replacement (the series are
    its units: a figure over 40 benchmarks is less sure than one over 400); None without series."""
    r = _ratios(series, metric, h)
    if not r:
        return None
    return list(bootstrap_interval(np.log(np.array(r))[:, None], lambda x: np.exp(x[..., 0].mean(axis=1)), level))


def _constant(model: FrontierModel) -> bt.ModelFor:
    return lambda _uc: model


def selection(histories: Mapping[str, Any], candidates: Mapping[str, FrontierModel], *,
              n_paths: int = bt.BACKTEST_PATHS, seed: int = bt.SEED) -> dict[str, Any]:
    """Backtest each candidate on the benchmarks; choose per unit class on the tuning half, judge on the other."""
    by_candidate = {}
    for name, model in candidates.items():
        rows = bt.run(histories, {}, _constant(model), n_paths=n_paths, seed=seed)
        by_candidate[name] = list(mae_by_series(rows).values())
    classes: dict[str, Any] = {}
    for uc in UnitClass:
        figures: dict[str, Any] = {}
        for name, series in by_candidate.items():
            figures[name] = {}
            for half in ("tune", "judge"):
                part = [s for s in series if s["unit_class"] == uc.value and s["half"] == half]
                lag6, n = geo_ratio(part, "lag_days", 6)
                gap6, _ = geo_ratio(part, "score_gap", 6)
                figures[name][half] = {"lag_mae_6_vs_rw": lag6, "score_gap_mae_6_vs_rw": gap6, "benchmarks": n}
        ranked = [n for n in figures if figures[n]["tune"]["lag_mae_6_vs_rw"] is not None and n not in NOT_PUBLISHABLE
                  and (figures[n]["tune"]["score_gap_mae_6_vs_rw"] or 0.0) <= MAX_GAP_RATIO]
        chosen = min(ranked, key=lambda n: figures[n]["tune"]["lag_mae_6_vs_rw"]) if ranked else None
        classes[uc.value] = {"chosen_by_rule": chosen, "published": PUBLISHED[uc].name, "candidates": figures}
    return {"rule": RULE, "unit_classes": classes}


def report(data: Dataset, domains: Mapping[str, Domain], *, optional: Iterable[str] = (),
           n_paths: int = bt.BACKTEST_PATHS, seed: int = bt.SEED) -> dict[str, Any]:
    """The full backtest report of the published engine on ``data`` (see the module docstring).

    ``optional`` adds the slow candidates (``ets``: needs statsforecast; ``prophet``) to the selection.
    ``n_paths`` / ``seed``: the paths per forecast and their seed (default: those the published calibration
    uses; more paths give steadier figures: the 6-month lag ratio moves by about 0.05 between seeds at 200
    paths, 0.01 at 1000).
    """
    histories = histories_of(data)
    candidates = {**ALL_CANDIDATES, **{n: OPTIONAL_CANDIDATES[n] for n in optional}}
    rows = bt.run(histories, domains, published_model, n_paths=n_paths, seed=seed)
    cal = calibrate(rows)
    series = mae_by_series(rows, cal.points)
    for (kind, _), s in series.items():
        s["published"] = "aggregated" if kind == "domain" else PUBLISHED[UnitClass(s["unit_class"])].name
    bench = [s for s in series.values() if s["kind"] == "benchmark"]
    # each figure with how far it could move with other series of the same behaviour (a bootstrap over series)
    parts = {f"{kind}_{metric}_mae_{h}_vs_rw": ([s for s in series.values() if s["kind"] == kind], metric, h)
             for kind in ("benchmark", "domain") for metric in bt.METRICS for h in bt.HORIZONS}
    parts["judge_half_benchmark_lag_days_mae_6_vs_rw"] = ([s for s in bench if s["half"] == "judge"], "lag_days", 6)
    headline = {key: geo_ratio(*part)[0] for key, part in parts.items()}
    intervals = {key: geo_ratio_interval(*part) for key, part in parts.items()}
    return {
        "cutoffs": [c.isoformat() for c in bt.cutoffs(histories)] if histories else [],
        "headline": headline,
        "headline_ci_90": intervals,
        "recentred": [f"{k}:{m}" for k, m in sorted(cal.state.recentred)],
        "series": sorted(series.values(), key=lambda s: (s["kind"] != "domain", s["target"])),
        "calibration": coverage_table(cal, halves=("all", "tune", "judge")),
        "catch_up": probability_table(cal, retake=False) + probability_table(cal, retake=False, half="judge"),
        "retake": probability_table(cal, retake=True),
        "selection": selection(histories, candidates, n_paths=n_paths, seed=seed),
        "paths": {"per_forecast": n_paths, "seed": seed},
    }
