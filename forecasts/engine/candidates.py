"""Candidate models of one class's frontier on one benchmark, all behind one interface.

A frontier is monotone and moves in jumps when a model ships. Each candidate takes the frontier's monthly
history on the transformed scale ``u`` (:mod:`forecasts.engine.transform`; NaN before the class's first
scored release) and returns sample paths of its next ``horizon`` month-ends, an array
``(n_paths, horizon)`` that never goes below the current level. The backtest
(:mod:`forecasts.engine.backtest`) compares them; :data:`PUBLISHED` says which one each unit class uses.

- ``flat``: the frontier stays where it is (no release moves it). With both frontiers flat the gap is the
  random walk's and the lag grows a month per month.
- ``jumps``: an empirical compound process: each month the frontier moves with probability ``q`` by a jump
  drawn from its own recent jumps, both shrunk toward the pooled behaviour of every benchmark of its unit
  class and access class (short series borrow strength). ``q`` falls the longer the frontier has stood
  still, as the pooled release rate by idle months does (:data:`IDLE_BANDS`): old benchmarks are abandoned.
- ``ets`` (optional, statsforecast): damped-trend ETS on ``u``, its normal predictive band turned into
  monotone paths.
- ``prophet`` (optional, slow): prophet with logistic growth capped at the ceiling on bounded benchmarks
  (linear growth elsewhere), its predictive samples made monotone.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from forecasts.engine.transform import P_MAX, UnitClass

U_MAX_BOUNDED = float(-np.log1p(-P_MAX))


#: Months since a frontier last moved, in bands (0, 1-2, 3-5, 6-11, 12 and more): the release rate is
#: pooled per band, since a frontier that has stood still for months is less likely to move next month
#: (benchmarks are abandoned as they saturate or age: 0.29-0.34 a month in bands 0-2, 0.05-0.12 after 6
#: idle months, on the bundled closed bounded frontiers).
IDLE_BANDS = np.array([1, 3, 6, 12])
#: Months of the overall pooled rate an idle band's own rate is shrunk with (sparse bands borrow).
BAND_PRIOR = 10.0


@dataclass(frozen=True)
class PoolStats:
    """Pooled monthly behaviour of one (unit class, access) group at a cut-off: the share of months the
    frontier moved, the jump sizes (``u`` units) it moved by, and the share of months it moved by idle band
    (:data:`IDLE_BANDS`; empty: no duration dependence known)."""

    rate: float
    jumps: np.ndarray
    months: int
    by_idle: np.ndarray = field(default_factory=lambda: np.zeros(0))

    def idle_ratio(self, idle: np.ndarray) -> np.ndarray:
        """The pooled rate at each idle duration (months) relative to the overall pooled rate."""
        if not len(self.by_idle) or self.rate <= 0:
            return np.ones(np.shape(idle))
        return self.by_idle[np.searchsorted(IDLE_BANDS, idle, side="right")] / self.rate


@dataclass
class Pools:
    """Pooled statistics by ``(unit class, access)``; a missing group falls back to all groups of the access."""

    groups: dict[tuple[str, str], PoolStats] = field(default_factory=dict)
    shares: np.ndarray = field(default_factory=lambda: np.zeros(0))  # gap shares closed by open moves
    #: ``(kind, unit class) -> array``, pooled on first use (the realised lags it reads are costly and only
    #: :class:`Sawtooth` needs them): kind ``lags`` = lags (days) right after open frontier moves,
    #: ``lag_ratios`` = post-release lag / pre-release lag at those moves.
    lag_source: Callable[[str, str], np.ndarray] | None = None
    _lag_pools: dict[tuple[str, str], np.ndarray] = field(default_factory=dict, repr=False)

    def get(self, unit_class: UnitClass, access: str) -> PoolStats | None:
        return self.groups.get((unit_class.value, access)) or self.groups.get(("*", access))

    def lag_pool(self, kind: str, unit_class: str) -> np.ndarray:
        """The pooled ``kind`` (``lags`` or ``lag_ratios``) of a unit class; empty without a source."""
        if (kind, unit_class) not in self._lag_pools:
            self._lag_pools[(kind, unit_class)] = (self.lag_source(kind, unit_class) if self.lag_source
                                                   else np.zeros(0))
        return self._lag_pools[(kind, unit_class)]


def increments(u: np.ndarray, window: int) -> np.ndarray:
    """The frontier's month-to-month moves over the last ``window`` months (months before its first
    scored release are skipped). Zeros are months without a move."""
    u = u[-(window + 1):]
    d = np.diff(u)
    return d[np.isfinite(d)]


def _idle_counts(u: np.ndarray) -> np.ndarray:
    """``len(u)`` counts: before each month-to-month step of ``u`` (finite, from the frontier's first score),
    then after the last one, the months the frontier had not moved (0: it moved the month before; since its
    first score when it never moved)."""
    moved = np.diff(u) > 0
    steps = np.arange(len(moved) + 1)
    last_move = np.maximum.accumulate(np.r_[-1, np.where(moved, steps[:-1], -1)])
    return steps - 1 - last_move


def idle_before(u: np.ndarray) -> np.ndarray:
    """For each month-to-month step of ``u`` (as ``np.diff``): the months the frontier had not moved before
    it (0: it moved the month before); ``u`` is the frontier's history from its first score (no NaN)."""
    return _idle_counts(u)[:-1]


def idle_now(u: np.ndarray) -> int:
    """Months since the frontier last moved (since its first score when it never moved)."""
    finite = u[np.isfinite(u)]
    return int(_idle_counts(finite)[-1]) if len(finite) else 0


def build_pools(histories: Iterable[tuple[UnitClass, str, np.ndarray]], window: int) -> Pools:
    """Pool the recent increments of many frontiers: ``(unit class, access, u history up to the cut-off)``."""
    moves: dict[tuple[str, str], list[np.ndarray]] = {}
    idles: dict[tuple[str, str], list[np.ndarray]] = {}
    for unit_class, access, u in histories:
        finite = u[np.isfinite(u)]
        d = increments(finite, window)
        if len(d):
            idle = idle_before(finite)[-len(d):]
            for key in ((unit_class.value, access), ("*", access)):
                moves.setdefault(key, []).append(d)
                idles.setdefault(key, []).append(idle)
    pools = Pools()
    for key, parts in moves.items():
        d, idle = np.concatenate(parts), np.concatenate(idles[key])
        rate = float(np.mean(d > 0))
        band = np.searchsorted(IDLE_BANDS, idle, side="right")
        by_idle = np.array([(np.sum((band == b) & (d > 0)) + BAND_PRIOR * rate) / (np.sum(band == b) + BAND_PRIOR)
                            for b in range(len(IDLE_BANDS) + 1)])
        pools.groups[key] = PoolStats(rate, d[d > 0], len(d), by_idle)
    return pools


def release_months(rate: float, u: np.ndarray, pool: PoolStats | None, shape: tuple[int, int],
                   rng: np.random.Generator, duration: bool) -> np.ndarray:
    """``(n_paths, horizon)`` booleans: the months a frontier moves. Each month it moves with probability
    ``rate``; with ``duration``, scaled by the pooled rate at its current idle duration over the overall
    pooled rate (:meth:`PoolStats.idle_ratio`), the idle duration resetting on each path's moves."""
    draws = rng.random(shape)
    if not duration or pool is None:
        return draws < rate
    n_paths, horizon = shape
    idle = np.full(n_paths, idle_now(u))
    chance = np.minimum(rate * pool.idle_ratio(np.arange(int(idle[0]) + horizon + 1)), 1.0)  # by idle months
    out = np.empty(shape, dtype=bool)
    for j in range(horizon):
        out[:, j] = draws[:, j] < chance[idle]
        idle = np.where(out[:, j], 0, idle + 1)
    return out


class FrontierModel(Protocol):
    @property
    def name(self) -> str: ...

    def simulate(self, u: np.ndarray, unit_class: UnitClass, pool: PoolStats | None, horizon: int,
                 n_paths: int, rng: np.random.Generator) -> np.ndarray:
        """Sample paths ``(n_paths, horizon)`` of the frontier's next month-ends on the ``u`` scale."""
        ...


def _last(u: np.ndarray) -> float:
    finite = u[np.isfinite(u)]
    return float(finite[-1]) if len(finite) else float("nan")


def _bounded(paths: np.ndarray, unit_class: UnitClass) -> np.ndarray:
    return np.minimum(paths, U_MAX_BOUNDED) if unit_class is UnitClass.BOUNDED else paths


@dataclass(frozen=True)
class Flat:
    """No move: every path stays at the current level."""

    name: str = "flat"

    def simulate(self, u: np.ndarray, unit_class: UnitClass, pool: PoolStats | None, horizon: int,
                 n_paths: int, rng: np.random.Generator) -> np.ndarray:
        return np.full((n_paths, horizon), _last(u))


@dataclass(frozen=True)
class Jumps:
    """Empirical compound process (see the module docstring).

    ``window``: months of the frontier's own history used; ``rate_prior`` / ``jump_prior``: how many months /
    jumps of pooled behaviour the own estimate is shrunk with (a frontier with ``n`` own months gets the
    weight ``n / (n + rate_prior)`` on its own release rate); ``duration``: scale that rate each month by the
    pooled rate at the frontier's idle duration (on each path) over the pooled rate (:func:`release_months`;
    off is engine 6's constant rate). The open frontier of :class:`Chase` and :class:`Sawtooth` follows it.
    """

    window: int = 24
    rate_prior: float = 12.0
    jump_prior: float = 4.0
    duration: bool = True
    name: str = "jumps"

    def simulate(self, u: np.ndarray, unit_class: UnitClass, pool: PoolStats | None, horizon: int,
                 n_paths: int, rng: np.random.Generator) -> np.ndarray:
        level = _last(u)
        own = increments(u, self.window)
        own_jumps = own[own > 0]
        pool_rate = pool.rate if pool is not None else 0.0
        pool_jumps = pool.jumps if pool is not None and len(pool.jumps) else own_jumps
        n = len(own)
        rate = (n * (float(np.mean(own > 0)) if n else 0.0) + self.rate_prior * pool_rate) / (n + self.rate_prior)
        if rate <= 0 or (len(own_jumps) == 0 and len(pool_jumps) == 0):
            return np.full((n_paths, horizon), level)
        moves = release_months(rate, u, pool, (n_paths, horizon), rng, self.duration)
        share_own = len(own_jumps) / (len(own_jumps) + self.jump_prior)
        from_own = rng.random((n_paths, horizon)) < share_own if len(own_jumps) else np.zeros_like(moves)
        sizes = np.where(
            from_own,
            own_jumps[rng.integers(0, max(len(own_jumps), 1), (n_paths, horizon))] if len(own_jumps) else 0.0,
            pool_jumps[rng.integers(0, len(pool_jumps), (n_paths, horizon))] if len(pool_jumps) else 0.0,
        )
        return _bounded(level + np.cumsum(np.where(moves, sizes, 0.0), axis=1), unit_class)


#: Fewer months than this and damped ETS (5 parameters) is not fitted: the frontier stays flat.
ETS_MIN_MONTHS = 10


@dataclass(frozen=True)
class DampedETS:
    """Damped-trend ETS (statsforecast ``AutoETS(model="AAN", damped=True)``) on ``u``; paths share one
    normal draw each (a path is one quantile of the predictive band), made monotone."""

    name: str = "ets"

    def simulate(self, u: np.ndarray, unit_class: UnitClass, pool: PoolStats | None, horizon: int,
                 n_paths: int, rng: np.random.Generator) -> np.ndarray:
        from statsforecast.models import AutoETS  # optional: the comparison extra

        y = u[np.isfinite(u)]
        level = float(y[-1])
        if len(y) < ETS_MIN_MONTHS or np.ptp(y) == 0:
            return np.full((n_paths, horizon), level)
        try:
            fc = AutoETS(model="AAN", damped=True).forecast(y=y.astype(float), h=horizon, level=[80])
        except NotImplementedError:  # statsforecast refuses "tiny datasets" for the 5 parameters: no move
            return np.full((n_paths, horizon), level)
        mean, hi = np.asarray(fc["mean"]), np.asarray(fc["hi-80"])
        sd = np.maximum((hi - mean) / 1.2815515655446004, 0.0)
        z = rng.standard_normal((n_paths, 1))
        paths = np.maximum.accumulate(np.maximum(mean[None, :] + z * sd[None, :], level), axis=1)
        return _bounded(paths, unit_class)


@dataclass(frozen=True)
class ProphetLogistic:
    """prophet on the frontier level: logistic growth capped at the benchmark's ceiling (bounded
    benchmarks, fitted on ``p`` in [0, 1]), linear growth elsewhere; predictive samples made monotone."""

    name: str = "prophet"
    samples: int = 200

    def simulate(self, u: np.ndarray, unit_class: UnitClass, pool: PoolStats | None, horizon: int,
                 n_paths: int, rng: np.random.Generator) -> np.ndarray:
        import logging

        import pandas as pd

        logging.getLogger("prophet.plot").disabled = True  # "Importing plotly failed": plots are not used
        from prophet import Prophet  # slow: the comparison only

        # each fit logs its changepoints (INFO) and, without plotly, an ERROR at import: noise, not news
        logging.getLogger("cmdstanpy").setLevel(logging.WARNING)
        logging.getLogger("prophet").setLevel(logging.WARNING)
        ok = np.isfinite(u)
        y = u[ok]
        level = float(y[-1])
        if len(y) < 6 or np.ptp(y) == 0:
            return np.full((n_paths, horizon), level)
        bounded = unit_class is UnitClass.BOUNDED
        target = -np.expm1(-y) if bounded else y  # p in [0, 1) on bounded benchmarks
        ds = pd.date_range("2000-01-31", periods=len(u), freq="ME")[ok]
        frame = pd.DataFrame({"ds": ds, "y": target})
        if bounded:
            frame["cap"], frame["floor"] = 1.0, 0.0
        m = Prophet(yearly_seasonality=False, weekly_seasonality=False, daily_seasonality=False,
                    uncertainty_samples=self.samples, changepoint_range=0.9,
                    growth="logistic" if bounded else "linear")
        m.fit(frame, algorithm="LBFGS", seed=int(rng.integers(0, 2**31 - 1)))
        future = pd.DataFrame({"ds": pd.date_range(ds[-1], periods=horizon + 1, freq="ME")[1:]})
        if bounded:
            future["cap"], future["floor"] = 1.0, 0.0
        draws = m.predictive_samples(future)["yhat"].T  # (samples, horizon)
        if bounded:
            draws = -np.log1p(-np.clip(draws, 0.0, P_MAX))
        paths = np.maximum.accumulate(np.maximum(draws, level), axis=1)
        idx = rng.integers(0, len(paths), n_paths)
        return _bounded(paths[idx], unit_class)


CANDIDATES: dict[str, FrontierModel] = {"flat": Flat(), "jumps": Jumps()}
OPTIONAL_CANDIDATES: dict[str, FrontierModel] = {"ets": DampedETS(), "prophet": ProphetLogistic()}
#: The module each optional candidate imports (both come with the ``research`` extra).
OPTIONAL_MODULES = {"ets": "statsforecast", "prophet": "prophet"}


@dataclass(frozen=True)
class Chase:
    """The closed frontier as :class:`Jumps`; the open frontier chases it. Each month an open release
    happens with probability ``q`` (its own recent release rate, shrunk toward the pool) and closes a share
    ``f`` of the current gap on the ``u`` scale, ``f`` drawn from the shares closed by earlier open frontier
    moves (its own, shrunk toward every benchmark's; ``f > 1`` is a release that takes the lead). So the gap
    shrinks by releases and widens by closed releases, in proportion to its size, and the lag it implies
    grows a day per day between releases (the sawtooth of the lag series).
    """

    closed_model: Jumps = Jumps()
    share_prior: float = 4.0
    name: str = "chase"

    def simulate(self, u: np.ndarray, unit_class: UnitClass, pool: PoolStats | None, horizon: int,
                 n_paths: int, rng: np.random.Generator) -> np.ndarray:
        return self.closed_model.simulate(u, unit_class, pool, horizon, n_paths, rng)

    def open_rate(self, open_u: np.ndarray, pool: PoolStats | None) -> float:
        own = increments(open_u, self.closed_model.window)
        n, prior = len(own), self.closed_model.rate_prior
        pool_rate = pool.rate if pool is not None else 0.0
        return (n * (float(np.mean(own > 0)) if n else 0.0) + prior * pool_rate) / (n + prior)

    def draw_shares(self, own: np.ndarray, pooled: np.ndarray, shape: tuple[int, ...],
                    rng: np.random.Generator) -> np.ndarray:
        """Gap shares closed per release: from ``own`` with weight ``n / (n + share_prior)``, else ``pooled``."""
        if not len(pooled):
            pooled = own if len(own) else np.zeros(1)
        out = pooled[rng.integers(0, len(pooled), shape)]
        if len(own):
            pick = rng.random(shape) < len(own) / (len(own) + self.share_prior)
            out = np.where(pick, own[rng.integers(0, len(own), shape)], out)
        return out


@dataclass(frozen=True)
class Sawtooth:
    """The closed frontier as :class:`Jumps`; the open frontier follows it with a lag. Each month an open
    release happens with probability ``q`` (as :class:`Chase`) and lifts the open frontier to one tie margin
    below where the closed frontier was ``L`` days earlier (so the lag, counted from when closed rose clearly
    above open, reads ``L``), ``L`` drawn from the lags seen right after earlier open frontier moves
    (its own, shrunk toward every benchmark's). Between releases the lag grows a day per day: the sawtooth
    of the lag series, with the level it resets to estimated from history.
    """

    closed_model: Jumps = Jumps()
    lag_prior: float = 4.0
    relative: bool = False  # draw the post-release lag as a share of the pre-release lag
    name: str = "sawtooth"

    def simulate(self, u: np.ndarray, unit_class: UnitClass, pool: PoolStats | None, horizon: int,
                 n_paths: int, rng: np.random.Generator) -> np.ndarray:
        return self.closed_model.simulate(u, unit_class, pool, horizon, n_paths, rng)

    def open_rate(self, open_u: np.ndarray, pool: PoolStats | None) -> float:
        return Chase(self.closed_model).open_rate(open_u, pool)

    def draw_lags(self, own: np.ndarray, pooled: np.ndarray, shape: tuple[int, ...],
                  rng: np.random.Generator) -> np.ndarray:
        """Post-release lags (days): from ``own`` with weight ``n / (n + lag_prior)``, else from ``pooled``."""
        return Chase(self.closed_model, self.lag_prior).draw_shares(own, pooled, shape, rng)


#: The largest share of the gap one open release is taken to close (a leap far past closed is an outlier).
MAX_SHARE = 3.0


def gap_shares(closed_u: np.ndarray, open_u: np.ndarray, window: int) -> np.ndarray:
    """The share of the gap (``u`` scale) each open frontier move closed over the last ``window`` months."""
    c, o = closed_u[-(window + 1):], open_u[-(window + 1):]
    before = c[:-1] - o[:-1]
    step = np.diff(o)
    keep = np.isfinite(before) & np.isfinite(step) & (step > 0) & (before > 1e-9)
    return np.clip(step[keep] / before[keep], 0.0, MAX_SHARE)
