"""Rolling-origin backtest of the whole engine: at every past cut-off, forecast every benchmark and domain
from what was known then, and record what happened after it.

One :class:`Row` per (series, cut-off) holds the forecast (point = the paths' median, raw 80% band = the
paths' 10-90% quantiles) at each horizon, the raw catch-up probabilities read off the paths, and the
realised values and outcomes. :mod:`forecasts.engine.calibration` turns the rows into calibrated intervals,
calibrated probabilities and the published answers, using at each cut-off only rows resolved by then.
Benchmark gaps are recorded in % of the benchmark's scale (so one unit pools across benchmarks), lags in days.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date

import numpy as np

from forecasts.engine.candidates import FrontierModel
from forecasts.engine.history import STATUS_CODE, TIED, BenchmarkHistory
from forecasts.engine.origin import (
    Origin,
    domain_members,
    domain_paths,
    domain_state,
    normalised_gap_array,
    origin_at,
    pools_at,
    simulate_benchmark,
)
from forecasts.engine.paths import JointPaths, band_of, caught_up_within, future_month_days, retakes_within
from forecasts.engine.transform import UnitClass
from forecasts.measure.domains import Domain, domain_at
from forecasts.measure.gaps import BenchmarkGaps, month_ends

HORIZONS = (3, 6, 12)
WINDOWS = (6, 12, 24)
RETAKE_WINDOWS = (6, 12)
METRICS = ("score_gap", "lag_days")
#: Paths per backtest forecast: only medians, 10/90% quantiles and probabilities are read (pooled over
#: thousands of rows), so 200 is plenty; the published forecast uses more (:data:`PUBLISHED_PATHS`).
BACKTEST_PATHS = 200
PUBLISHED_PATHS = 1000
SEED = 20_240_601
#: The first cut-off: before 2023 too few benchmarks have both classes scored to pool anything.
FIRST_CUTOFF = date(2023, 1, 31)

ModelFor = Callable[[UnitClass], FrontierModel]


@dataclass
class Row:
    """One forecast at one past cut-off and what happened after it (see the module docstring)."""

    kind: str
    target: str
    cutoff: date
    unit_class: str
    half: str
    status0: int
    gap0: float
    lag0: float
    forecast: dict[tuple[str, int], tuple[float, float, float]] = field(default_factory=dict)
    actual: dict[tuple[str, int], float | None] = field(default_factory=dict)
    p_catch: dict[int, float] = field(default_factory=dict)
    catch: dict[int, bool | None] = field(default_factory=dict)
    p_retake: dict[int, float] = field(default_factory=dict)
    retake: dict[int, bool | None] = field(default_factory=dict)

    @property
    def behind(self) -> bool:
        return self.status0 > TIED


def half_of(target: str) -> str:
    """The benchmark half a series belongs to: ``tune`` (rules are chosen on it) or ``judge`` (they are
    judged on it). Stable across runs and machines (a hash of the id)."""
    return "tune" if hashlib.sha256(target.encode()).digest()[0] % 2 == 0 else "judge"


def rng_for(cutoff: date, target: str, seed: int = SEED) -> np.random.Generator:
    salt = int.from_bytes(hashlib.sha256(target.encode()).digest()[:4], "big")
    return np.random.default_rng([seed, cutoff.toordinal(), salt])


#: Months between cut-offs: every second month-end keeps thousands of scored rows at half the cost.
CUTOFF_STEP_MONTHS = 2


def cutoffs(histories: Mapping[str, BenchmarkHistory], first: date = FIRST_CUTOFF) -> list[date]:
    """Cut-offs every :data:`CUTOFF_STEP_MONTHS` months from ``first`` to before the newest data's month."""
    end = max(h.months[-1] for h in histories.values())
    months = list(month_ends(first, end))[:-1]
    return months[::-1][::CUTOFF_STEP_MONTHS][::-1]


def summarise(paths: JointPaths, origin_norm: Callable[[np.ndarray], np.ndarray], row: Row) -> None:
    """Fill a row's forecast (median and 10-90% band per horizon) and raw probabilities from its paths."""
    cols = [h - 1 for h in HORIZONS]
    for metric, values in (("score_gap", origin_norm(paths.gap[:, cols])), ("lag_days", paths.lag[:, cols])):
        lo, mid, hi = band_of(values)
        for k, h in enumerate(HORIZONS):
            if np.isfinite(mid[k]):
                row.forecast[(metric, h)] = (float(mid[k]), float(lo[k]), float(hi[k]))
    for w in WINDOWS:
        if w <= paths.status.shape[1]:
            row.p_catch[w] = float(np.mean(caught_up_within(paths.status, w)))
    for w in RETAKE_WINDOWS:
        row.p_retake[w] = float(np.mean(retakes_within(paths.status, w)))


def _identity(gap: np.ndarray) -> np.ndarray:
    return gap


def realised(row: Row, values: Mapping[date, tuple[float | None, float | None, int]], months: list[date]) -> None:
    """Fill a row's realised values at each horizon and its outcomes from the realised series ``values``
    (month-end -> (gap, lag, status code)); a month beyond the series leaves the outcome unknown (None)."""
    ahead = [values.get(m) for m in months]
    for h in HORIZONS:
        v = ahead[h - 1] if h <= len(ahead) else None
        row.actual[("score_gap", h)] = None if v is None else v[0]
        row.actual[("lag_days", h)] = None if v is None else v[1]
    for w, target in ((w, row.catch) for w in WINDOWS):
        target[w] = _outcome(ahead[:w], w, catch=True)
    for w in RETAKE_WINDOWS:
        row.retake[w] = _outcome(ahead[:w], w, catch=False)


def _outcome(ahead: list[tuple[float | None, float | None, int] | None], window: int, *, catch: bool) -> bool | None:
    if len(ahead) < window or any(v is None for v in ahead):
        return None
    status = np.array([[v[2] for v in ahead if v is not None]])
    return bool(caught_up_within(status, window)[0]) if catch else bool(retakes_within(status, window)[0])


def _next_months(cutoff: date, n: int) -> list[date]:
    return [date.fromordinal(int(d)) for d in future_month_days(cutoff, n)]


def benchmark_realised(h: BenchmarkHistory) -> dict[date, tuple[float | None, float | None, int]]:
    """The realised series of a benchmark by month-end (gap in % of scale); the capped last point counts for
    its month's end."""
    out: dict[date, tuple[float | None, float | None, int]] = {}
    scale = h.gaps.bench.scale
    for m in h.months:
        p = h.point(m)
        if p.score_gap is None:
            continue
        out[_month_end(m)] = (100.0 * p.score_gap / scale, float(p.lag_days or 0), STATUS_CODE[p.status])
    return out


def domain_realised(domain: Domain, gaps: Mapping[str, BenchmarkGaps], months: list[date]
                    ) -> dict[date, tuple[float | None, float | None, int]]:
    out: dict[date, tuple[float | None, float | None, int]] = {}
    for m in months:
        p = domain_at(domain, dict(gaps), m)
        if p.score_gap is not None:
            out[_month_end(m)] = (p.score_gap, p.lag_days, STATUS_CODE[p.status])
    return out


def _month_end(d: date) -> date:
    import calendar

    return date(d.year, d.month, calendar.monthrange(d.year, d.month)[1])


@dataclass
class ForecastSet:
    """Every series' paths at one origin (one cut-off, or the published run)."""

    origins: dict[str, Origin]
    benchmark: dict[str, JointPaths]
    domain: dict[str, JointPaths]
    domain_members: dict[str, list[tuple[str, float]]]


def forecast_at(cutoff: date, histories: Mapping[str, BenchmarkHistory], domains: Mapping[str, Domain],
                model_for: ModelFor, horizon: int, n_paths: int, *, only: set[str] | None = None,
                anchor: Mapping[str, date] | None = None, seed: int = SEED) -> ForecastSet:
    """Paths of every forecastable benchmark (or those in ``only``) and every domain at ``cutoff``.

    ``anchor`` moves a benchmark's origin to its own date (the published run forecasts each benchmark from
    its newest data); the pools always use what was known at ``cutoff``.
    """
    origins = {b: o for b, h in histories.items() if (o := origin_at(h, (anchor or {}).get(b, cutoff))) is not None}
    pools = pools_at(origins)
    paths = {}
    for b, o in origins.items():
        if o.forecastable and (only is None or b in only):
            model = model_for(o.history.transform.unit_class)
            paths[b] = simulate_benchmark(o, model, pools, horizon, n_paths, rng_for(o.cutoff, b, seed))
    dom_paths, members = {}, {}
    for d_id, dom in domains.items():
        members[d_id] = domain_members(dom, origins, cutoff)
        dp = domain_paths(dom, members[d_id], paths, origins)
        if dp is not None:
            dom_paths[d_id] = dp
    return ForecastSet(origins, paths, dom_paths, members)


def run(histories: Mapping[str, BenchmarkHistory], domains: Mapping[str, Domain], model_for: ModelFor, *,
        cut: list[date] | None = None, n_paths: int = BACKTEST_PATHS, seed: int = SEED) -> list[Row]:
    """Backtest rows for every benchmark and domain at every cut-off (default :func:`cutoffs`), each
    forecast from ``n_paths`` paths drawn with ``seed`` (the figures' Monte Carlo noise: see ``--paths``)."""
    cut = cut if cut is not None else cutoffs(histories)
    horizon = max(max(HORIZONS), max(WINDOWS))
    bench_real = {b: benchmark_realised(h) for b, h in histories.items()}
    gaps = {b: h.gaps for b, h in histories.items()}
    all_months = sorted({_month_end(m) for h in histories.values() for m in h.months})
    dom_real = {d: domain_realised(dom, gaps, all_months) for d, dom in domains.items()}
    rows: list[Row] = []
    for c in cut:
        fs = forecast_at(c, histories, domains, model_for, horizon, n_paths, seed=seed)
        ahead = _next_months(c, horizon)
        for b, p in fs.benchmark.items():
            o = fs.origins[b]
            pt = o.point
            row = Row("benchmark", b, c, o.history.transform.unit_class.value, half_of(b), STATUS_CODE[pt.status],
                      100.0 * (pt.score_gap or 0.0) / o.history.gaps.bench.scale, float(pt.lag_days or 0))
            summarise(p, functools.partial(normalised_gap_array, origin=o), row)
            if pt.saturated:  # no catch-up or lead question on a saturated benchmark (as published)
                row.p_catch.clear()
                row.p_retake.clear()
            realised(row, bench_real[b], ahead)
            rows.append(row)
        for d, p in fs.domain.items():
            gap0, lag0, st0 = domain_state(domains[d], fs.domain_members[d], fs.origins)
            if gap0 is None or c not in dom_real[d]:
                continue
            row = Row("domain", d, c, "domain", "domain", st0, gap0, float(lag0 or 0))
            summarise(p, _identity, row)
            realised(row, dom_real[d], ahead)
            rows.append(row)
    return rows
