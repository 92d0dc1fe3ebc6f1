"""A forecast from one origin: what each benchmark looked like then, its joint sample paths, and a
domain's paths aggregated from its member benchmarks' paths.

The same code makes the published forecast (origin = the newest data) and every backtest forecast
(origin = a past cut-off): nothing here can see past its origin.
"""

from __future__ import annotations

import bisect
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date

import numpy as np

from forecasts.engine.candidates import (
    Chase,
    FrontierModel,
    Pools,
    Sawtooth,
    build_pools,
    gap_shares,
    release_months,
)
from forecasts.engine.history import NO_DATA, STATUS_CODE, BenchmarkHistory, Steps
from forecasts.engine.paths import MID_MONTH_DAYS, JointPaths, benchmark_paths, future_month_days
from forecasts.measure.domains import FRESH_DAYS, Domain
from forecasts.measure.gaps import GapPoint, normalised_gap
from forecasts.publishing.series import DAYS_PER_MONTH

#: The largest post-release / pre-release lag ratio kept (a release cannot make open much further behind).
MAX_LAG_RATIO = 1.5
#: Months of both classes' history a benchmark needs at an origin to be forecast.
MIN_MONTHS = 6
#: Months of each frontier's own history behind the pooled release rates and jump sizes.
POOL_WINDOW = 24


@dataclass(frozen=True)
class Origin:
    """One benchmark as known at ``cutoff`` (a month-end, or the data end in its last month)."""

    history: BenchmarkHistory
    cutoff: date
    closed_u: np.ndarray  # monthly u of the closed frontier up to the cutoff (NaN before its first score)
    open_u: np.ndarray
    closed_steps: Steps
    open_steps: Steps
    point: GapPoint  # the gap state at the cutoff
    known_end: date  # the newest score (effective date) counted on the benchmark by the cutoff
    months_both: int  # month-ends with a score of both classes

    @property
    def id(self) -> str:
        return self.history.id

    def lags_after_open_moves(self, window: int = POOL_WINDOW) -> np.ndarray:
        """The realised lags (days) at the month-ends where the open frontier moved, over the last ``window``
        months to the cutoff."""
        n = len(self.open_u)
        moved = np.zeros(n, dtype=bool)
        moved[1:] = np.diff(self.open_u) > 0
        lags = self.history.monthly_lag_days[:n]
        keep = moved & np.isfinite(lags)
        keep[: max(0, n - window)] = False
        return lags[keep]

    def lag_ratios_after_open_moves(self, window: int = POOL_WINDOW) -> np.ndarray:
        """At each open frontier move of the last ``window`` months: the lag after it divided by the lag just
        before it (a month's growth added to the previous month-end's lag). 0 = open caught up."""
        n = len(self.open_u)
        lags = self.history.monthly_lag_days[:n]
        moved = np.zeros(n, dtype=bool)
        moved[1:] = np.diff(self.open_u) > 0
        before = np.full(n, np.nan)
        before[1:] = lags[:-1] + DAYS_PER_MONTH
        keep = moved & np.isfinite(lags) & np.isfinite(before) & (before > 0)
        keep[: max(0, n - window)] = False
        return np.clip(lags[keep] / before[keep], 0.0, MAX_LAG_RATIO)

    def gap_shares(self, window: int = POOL_WINDOW) -> np.ndarray:
        return gap_shares(self.closed_u, self.open_u, window)

    @property
    def forecastable(self) -> bool:
        return self.point.score_gap is not None and self.months_both >= MIN_MONTHS


def origin_at(history: BenchmarkHistory, cutoff: date) -> Origin | None:
    """The benchmark as known at ``cutoff``; None when no model was scored by then."""
    day = float(cutoff.toordinal())
    month_days = history.month_days()
    n = int(np.searchsorted(month_days, day, side="right"))
    if n == 0:
        return None
    days = month_days[:n]
    days[-1] = min(days[-1], day)
    closed_steps, open_steps = history.closed_steps.upto(day), history.open_steps.upto(day)
    scored = history.gaps.entry_dates[: bisect.bisect_right(history.gaps.entry_dates, cutoff)]
    if not scored:
        return None
    known_end = scored[-1]
    closed, open_ = closed_steps.level_at(days), open_steps.level_at(days)
    tr = history.transform
    # the state at the origin is the benchmark's series as the product shows it: its last point is at its
    # newest data (a stale benchmark's gap and lag are frozen there, as in its domain's carry-forward)
    point = history.point(min(cutoff, known_end))
    return Origin(history, cutoff, tr.to_u(closed), tr.to_u(open_), closed_steps, open_steps, point,
                  known_end, int(np.sum(np.isfinite(closed) & np.isfinite(open_))))


def pools_at(origins: Mapping[str, Origin], window: int = POOL_WINDOW) -> Pools:
    """Pooled frontier behaviour of every benchmark known at one cut-off (the post-release lags on first use)."""
    def series():  # type: ignore[no-untyped-def]
        for o in origins.values():
            uc = o.history.transform.unit_class
            yield uc, "closed", o.closed_u
            yield uc, "open", o.open_u
    pools = build_pools(series(), window)
    shares = [o.gap_shares(window) for o in origins.values()]
    pools.shares = np.concatenate(shares) if shares else np.zeros(0)

    def lag_source(kind: str, unit_class: str) -> np.ndarray:
        of = Origin.lags_after_open_moves if kind == "lags" else Origin.lag_ratios_after_open_moves
        parts = [of(o, window) for o in origins.values() if o.history.transform.unit_class.value == unit_class]
        return np.concatenate(parts) if parts else np.zeros(0)

    pools.lag_source = lag_source
    return pools


def simulate_benchmark(origin: Origin, model: FrontierModel, pools: Pools, horizon: int, n_paths: int,
                       rng: np.random.Generator) -> JointPaths:
    """Joint sample paths of one forecastable benchmark for ``horizon`` month-ends after its origin."""
    h, tr, bench = origin.history, origin.history.transform, origin.history.gaps.bench
    uc = tr.unit_class
    now_c = float(origin.closed_steps.values[-1])
    now_o = float(h.open_steps.upto(float(origin.cutoff.toordinal())).values[-1])
    days = future_month_days(origin.cutoff, horizon)
    closed_u = model.simulate(origin.closed_u, uc, pools.get(uc, "closed"), horizon, n_paths, rng)
    closed = np.maximum(tr.from_u(closed_u), now_c)  # the transform's ceiling must not lower a frontier
    if isinstance(model, Chase):
        open_ = np.maximum(tr.from_u(_chase(model, origin, pools, closed_u, rng)), now_o)
    elif isinstance(model, Sawtooth):
        open_ = _follow(model, origin, pools, closed, days, now_o, rng)
    else:
        open_u = model.simulate(origin.open_u, uc, pools.get(uc, "open"), horizon, n_paths, rng)
        open_ = np.maximum(tr.from_u(open_u), now_o)
    sign = 1.0 if bench.higher_is_better else -1.0
    saturation = None if bench.saturation is None else sign * bench.saturation
    return benchmark_paths(origin.closed_steps, closed, open_, days, origin.point.margin, saturation,
                           origin.point.saturated)


def _chase(model: Chase, origin: Origin, pools: Pools, closed_u: np.ndarray, rng: np.random.Generator
           ) -> np.ndarray:
    """Open frontier paths (``u`` scale) of the :class:`Chase` model."""
    n_paths, horizon = closed_u.shape
    pool = pools.get(origin.history.transform.unit_class, "open")
    moves = release_months(model.open_rate(origin.open_u, pool), origin.open_u, pool, (n_paths, horizon), rng,
                           model.closed_model.duration)
    shares = model.draw_shares(origin.gap_shares(), pools.shares, (n_paths, horizon), rng)
    level = np.full(n_paths, float(origin.open_u[np.isfinite(origin.open_u)][-1]))
    out = np.empty_like(closed_u)
    for j in range(horizon):
        gap = np.maximum(closed_u[:, j] - level, 0.0)
        level = np.where(moves[:, j], level + shares[:, j] * gap, level)
        out[:, j] = level
    return out


def _follow(model: Sawtooth, origin: Origin, pools: Pools, closed: np.ndarray, days: np.ndarray, now_o: float,
            rng: np.random.Generator) -> np.ndarray:
    """Open frontier paths of the :class:`Sawtooth` model: releases lift open to one tie margin below
    closed's level ``L`` ago."""
    n_paths, horizon = closed.shape
    pool = pools.get(origin.history.transform.unit_class, "open")
    moves = release_months(model.open_rate(origin.open_u, pool), origin.open_u, pool, (n_paths, horizon), rng,
                           model.closed_model.duration)
    uc = origin.history.transform.unit_class.value
    if model.relative:
        draws = model.draw_lags(origin.lag_ratios_after_open_moves(), pools.lag_pool("lag_ratios", uc),
                                (n_paths, horizon), rng)
    else:
        draws = model.draw_lags(origin.lags_after_open_moves(), pools.lag_pool("lags", uc),
                                (n_paths, horizon), rng)
    cutoff_day = float(origin.cutoff.toordinal())
    anchor = np.full(n_paths, origin.point.date.toordinal() - float(origin.point.lag_days or 0))  # open = closed then
    now_c = float(origin.closed_steps.values[-1])
    rows = np.arange(n_paths)
    out = np.empty_like(closed)
    level = np.full(n_paths, now_o)
    for j in range(horizon):
        now = days[j] - MID_MONTH_DAYS
        lag = draws[:, j] * np.maximum(now - anchor, 0.0) if model.relative else draws[:, j]
        when = now - lag
        past = origin.closed_steps.level_at(np.minimum(when, cutoff_day))
        k = np.searchsorted(days, when, side="right") - 1  # the last future month-end on or before `when`
        future = np.where(k >= 0, closed[rows, np.maximum(k, 0)], now_c)
        # the lag is counted from when closed first rose *clearly* (past the tie margin) above open: to give
        # the drawn lag, open lands one margin below closed's level then (at that level it would read shorter)
        target = np.where(when <= cutoff_day, past, future) - origin.point.margin
        lifted = moves[:, j] & np.isfinite(target) & (target > level)
        level = np.where(lifted, target, level)
        anchor = np.where(lifted, when, anchor)
        out[:, j] = level
    return out


# ------------------------------------------------------------------------------------------------ domains


def domain_members(domain: Domain, origins: Mapping[str, Origin], cutoff: date) -> list[tuple[str, float]]:
    """The members that count for ``domain`` at ``cutoff`` as known then, with their weights: inside their
    window, scored by both classes, not saturated, and with data no older than `FRESH_DAYS`."""
    out = []
    for m in domain.members:
        o = origins.get(m.benchmark)
        if o is None or not m.valid_at(cutoff) or o.point.score_gap is None or o.point.saturated:
            continue
        if (cutoff - o.known_end).days > FRESH_DAYS:
            continue
        out.append((m.benchmark, m.weight))
    return out


def domain_paths(domain: Domain, members: list[tuple[str, float]], paths: Mapping[str, JointPaths],
                 origins: Mapping[str, Origin]) -> JointPaths | None:
    """A domain's paths aggregated from its members' paths (the formulas of :mod:`forecasts.measure.domains`): the
    weighted mean of normalised gaps, the weighted median of lags and of statuses, over the members that
    count on each path and month (a member saturated on a path drops out of it). None without members."""
    live = [(b, w) for b, w in members if b in paths]
    if not live:
        return None
    first = paths[live[0][0]]
    valid_of = {m.benchmark: m for m in domain.members}
    days = first.days
    in_window = np.array([[valid_of[b].valid_at(date.fromordinal(int(d))) for d in days] for b, _ in live])
    weight = np.stack([w * (paths[b].counts & in_window[i][None, :]) for i, (b, w) in enumerate(live)])
    norm = np.stack([normalised_gap_array(paths[b].gap, origins[b]) for b, _ in live])
    total = weight.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        gap = np.where(total > 0, (weight * norm).sum(axis=0) / total, np.nan)
    lag = weighted_median_along(np.stack([paths[b].lag for b, _ in live]), weight)
    status = weighted_median_along(np.stack([paths[b].status for b, _ in live]).astype(float), weight)
    status = np.where(total > 0, status, NO_DATA).astype(int)
    return JointPaths(days, gap, np.where(total > 0, lag, np.nan), status, total > 0)


def normalised_gap_array(gap: np.ndarray, origin: Origin) -> np.ndarray:
    return 100.0 * gap / origin.history.gaps.bench.scale


def weighted_median_along(values: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Lower weighted median over axis 0 of ``values`` ``(K, ...)`` (as
    :func:`forecasts.measure.domains.weighted_median`); NaN where every weight is zero."""
    order = np.argsort(values, axis=0, kind="stable")
    v = np.take_along_axis(values, order, axis=0)
    w = np.take_along_axis(weights, order, axis=0)
    cum = np.cumsum(w, axis=0)
    half = cum[-1] / 2.0
    idx = np.argmax(cum >= half[None, ...] - 1e-12, axis=0)
    out = np.take_along_axis(v, idx[None, ...], axis=0)[0]
    return np.where(cum[-1] > 0, out, np.nan)


def domain_state(domain: Domain, members: list[tuple[str, float]], origins: Mapping[str, Origin]
                 ) -> tuple[float | None, float | None, int]:
    """A domain's (score gap, lag, status code) at the origin from its members' origin points."""
    parts = [(origins[b].point, w, origins[b]) for b, w in members]
    if not parts:
        return None, None, NO_DATA
    total = sum(w for _, w, _ in parts)
    gap = sum(w * normalised_gap(p.score_gap or 0.0, o.history.gaps.bench) for p, w, o in parts) / total
    lags = np.array([[float(p.lag_days or 0)] for p, _, _ in parts])
    ws = np.array([[w] for _, w, _ in parts])
    lag = float(weighted_median_along(lags, ws)[0])
    codes = np.array([[float(STATUS_CODE[p.status])] for p, _, _ in parts])
    return gap, lag, int(weighted_median_along(codes, ws)[0])
