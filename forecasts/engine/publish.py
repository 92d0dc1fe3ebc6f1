"""The published answers of the engine: every benchmark and domain forecast from one set of joint paths.

:func:`run_engine` takes a calibration (backtested here, or one the store kept), then forecasts every series
from the newest data, and derives per series the score-gap and lag trajectories (median, calibrated 80%
band), the lag trend and one catch-up answer shared by both metrics. The rules every answer obeys (tested
by walking every published series):

- a series level with or ahead of closed publishes no catch-up probability, only P(closed retakes the lead);
- catch-up probabilities come from the model only where its recalibrated probabilities beat the base rate
  at earlier cut-offs (``basis = "model"``); otherwise the base rate is published (``basis = "base_rate"``)
  and the reason says the date is not predictable from this history;
- dates (p10/p50/p90) only with ``basis = "model"`` and a lag that is not widening;
- a saturated benchmark asks no catch-up or lead question (``basis = "saturated"``): both sides near the
  ceiling is not a catch-up;
- "open models stay about N months behind" is the current lag and the published median lag a year on (no
  change where the calibration recentred the lag), and the lag trend is read about that same median.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import date
from typing import Any

import numpy as np
import pandas as pd

from forecasts.engine import backtest as bt
from forecasts.engine.calibration import MIN_WIDTH, CalibrationState, calibrate, series_scores, widen
from forecasts.engine.candidates import Chase, Flat, FrontierModel, Jumps, Sawtooth
from forecasts.engine.history import BEHIND, LEADS, STATUS_CODE, BenchmarkHistory
from forecasts.engine.origin import domain_state
from forecasts.engine.paths import JointPaths, band_of, caught_up_within, first_catch_up, retakes_within
from forecasts.engine.transform import UnitClass
from forecasts.measure.compute import benchmark_gaps
from forecasts.measure.domains import Domain
from forecasts.publishing.catchup import CatchUp, LagTrend, LagVerdict
from forecasts.publishing.published import HORIZON_MONTHS, Forecast, ForecastStatus, TrajectoryPoint
from forecasts.publishing.series import DAYS_PER_MONTH, ModelName
from forecasts.publishing.track_record import backtest_entries
from forecasts.records.model import Benchmark, Dataset

#: Bump when a change to the engine changes its output: forecast documents and calibrations are keyed by
#: it, so a new engine refits everything instead of serving what the old one made.
ENGINE_VERSION = "9"
#: The frontier model each unit class publishes, chosen by the rule in :mod:`forecasts.engine.report`
#: (``gapcast backtest`` re-runs the rule and shows whether it still agrees).
PUBLISHED: dict[UnitClass, FrontierModel] = {
    UnitClass.BOUNDED: Chase(), UnitClass.LINEAR: Sawtooth(), UnitClass.LOG: Jumps(),
}
ALL_CANDIDATES: dict[str, FrontierModel] = {"flat": Flat(), "jumps": Jumps(), "sawtooth": Sawtooth(),
                                            "sawtooth-relative": Sawtooth(relative=True, name="sawtooth-relative"),
                                            "chase": Chase()}


def published_model(unit_class: UnitClass) -> FrontierModel:
    return PUBLISHED[unit_class]


@dataclass
class Calibration:
    """What the published run takes from the backtest (cacheable as JSON): the calibration state and the
    per-series backtest scores (benchmark gaps in % of scale)."""

    state: CalibrationState
    scores: dict[tuple[str, str, str], dict[str, dict[str, Any]]]
    #: the backtest's domain forecasts as track-record entries (forecasts.publishing.track_record, source "backtest")
    record: list[dict[str, Any]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"state": self.state.to_json(),
                "scores": [[k, t, m, sc] for (k, t, m), sc in self.scores.items()],
                "record": self.record}

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> Calibration:
        """Raises KeyError/TypeError/ValueError on a malformed document (one stored before the record
        existed has an empty record)."""
        return cls(CalibrationState.from_json(doc["state"]),
                   {(str(k), str(t), str(m)): sc for k, t, m, sc in doc["scores"]},
                   list(doc.get("record") or []))


@dataclass
class EngineResult:
    """Published forecasts by ``(kind, target, metric)``, the calibration they used, and their origin."""

    forecasts: dict[tuple[str, str, str], Forecast]
    calibration: Calibration
    as_of: date | None


def histories_of(data: Dataset) -> dict[str, BenchmarkHistory]:
    return {b: h for b, g in benchmark_gaps(data).items() if (h := BenchmarkHistory.build(g)) is not None}


def backtest_calibration(histories: Mapping[str, BenchmarkHistory], domains: Mapping[str, Domain]) -> Calibration:
    """Backtest the published engine at every cut-off and calibrate it (the slow part of a rebuild)."""
    cal = calibrate(bt.run(histories, domains, published_model))
    record = backtest_entries(cal.rows, cal.bands, cal.points, cal.answers, engine=ENGINE_VERSION,
                              model=ModelName.AGGREGATED.value)
    return Calibration(cal.state, series_scores(cal), [asdict(e) for e in record])


def calibration_digest(histories: Mapping[str, BenchmarkHistory], domains: Mapping[str, Domain]) -> str:
    """A SHA-256 (hex) of what the calibration depends on, *except the newest month*: every frontier step
    dated before the newest data's month, the benchmarks' metadata, the domains and the engine version.

    A release inside the newest month keeps the digest, so it reuses the calibration (that month's outcomes
    join the calibration when the next month's data starts a new digest); anything older changes it."""
    newest = max((h.gaps.data_end for h in histories.values() if h.gaps.data_end is not None), default=None)
    before = float(date(newest.year, newest.month, 1).toordinal()) if newest else 0.0
    parts: list[Any] = [ENGINE_VERSION, newest.strftime("%Y-%m") if newest else None,
                        [[u.value, PUBLISHED[u].name] for u in UnitClass]]
    for b in sorted(histories):
        h = histories[b]
        steps = [[round(float(d), 1), repr(float(v)), repr(float(e))]
                 for st in (h.closed_steps, h.open_steps) for d, v, e in zip(st.days, st.values, st.stderr, strict=True)
                 if d < before]
        parts.append([b, h.gaps.bench.to_dict(), steps])
    for d in sorted(domains):
        parts.append([d, [[m.benchmark, m.weight, str(m.valid_from), str(m.valid_until)] for m in domains[d].members]])
    blob = json.dumps(parts, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()


def run_engine(histories: Mapping[str, BenchmarkHistory], domains: Mapping[str, Domain], *,
               calibration: Calibration | None = None, only: tuple[set[str], set[str]] | None = None,
               n_paths: int = bt.PUBLISHED_PATHS) -> EngineResult:
    """Forecast the series of ``histories`` (:func:`histories_of` a dataset) as of its newest release,
    calibrated by ``calibration`` (backtested here when None). ``only = (benchmark ids, domain ids)`` limits
    the work to those series (a domain's member benchmarks are simulated for it, and their forecasts
    returned too)."""
    if not histories:
        return EngineResult({}, Calibration(calibrate([]).state, {}), None)
    cal = calibration if calibration is not None else backtest_calibration(histories, domains)
    as_of = max(h.gaps.data_end for h in histories.values() if h.gaps.data_end is not None)
    wanted = dict(domains)
    needed = None
    if only is not None:
        wanted = {d: domains[d] for d in only[1] if d in domains}
        needed = set(only[0]) | {b for dom in wanted.values() for b in dom.benchmark_ids}
    fs = bt.forecast_at(as_of, histories, {}, published_model, HORIZON_MONTHS, n_paths, only=needed)
    out: dict[tuple[str, str, str], Forecast] = {}
    for b, paths in fs.benchmark.items():
        o = fs.origins[b]
        bench = o.history.gaps.bench
        state = _State("benchmark", STATUS_CODE[o.point.status], o.point.score_gap or 0.0,
                       float(o.point.lag_days or 0), o.point.margin, bench.scale / 100.0,
                       o.history.transform.unit_class.value, published_model(o.history.transform.unit_class).name,
                       _gap_bounds(bench), bench.unit, o.point.saturated)
        out.update(_publish(b, state, paths, as_of, cal.state))
    for end, group in _by_series_end(wanted, histories).items():
        # a domain is forecast from its own newest data, as its series ends there (stale members count as
        # its carry-forward counts them), from the paths of its members at that date
        members = {b for dom in group.values() for b in dom.benchmark_ids}
        fs_d = bt.forecast_at(end, histories, group, published_model, HORIZON_MONTHS, n_paths, only=members)
        for d, paths in fs_d.domain.items():
            gap0, lag0, st0 = domain_state(group[d], fs_d.domain_members[d], fs_d.origins)
            if gap0 is None:
                continue
            n = len(fs_d.domain_members[d])
            state = _State("domain", st0, gap0, float(lag0 or 0), _domain_margin(fs_d, d), 1.0, "domain",
                           f"aggregated from the paths of its {n} current benchmark{'s' if n != 1 else ''}",
                           (-100.0, 100.0), "% of scale")
            out.update(_publish(d, state, paths, end, cal.state))
    return EngineResult(out, cal, as_of)


def _by_series_end(domains: Mapping[str, Domain], histories: Mapping[str, BenchmarkHistory]
                   ) -> dict[date, dict[str, Domain]]:
    """Domains grouped by the date their series ends: the newest data of their benchmarks."""
    groups: dict[date, dict[str, Domain]] = {}
    for d, dom in domains.items():
        ends = [histories[b].gaps.data_end for b in dom.benchmark_ids if b in histories]
        known = [e for e in ends if e is not None]
        if known:
            groups.setdefault(max(known), {})[d] = dom
    return groups


def _gap_bounds(bench: Benchmark) -> tuple[float | None, float | None]:
    if bench.max is None or bench.min is None:
        return None, None
    return -(bench.max - bench.min), bench.max - bench.min


def _domain_margin(fs: bt.ForecastSet, d: str) -> float:
    parts = [(w, 100.0 * fs.origins[b].point.margin / fs.origins[b].history.gaps.bench.scale)
             for b, w in fs.domain_members[d]]
    return sum(w * m for w, m in parts) / sum(w for w, _ in parts) if parts else 1.0


@dataclass(frozen=True)
class _State:
    kind: str
    status: int
    gap: float  # series unit
    lag: float
    margin: float  # series unit
    unit_per_pct: float  # series unit per % of scale (benchmark: scale / 100; domain: 1)
    unit_class: str
    model: str
    bounds: tuple[float | None, float | None]
    unit: str
    saturated: bool = False  # the closed frontier is past the benchmark's saturation threshold


def _q_at(state: CalibrationState, kind: str, metric: str, h: int) -> tuple[float, float]:
    """The conformal (lower, upper) correction at horizon ``h`` months, interpolated between the calibrated
    horizons."""
    hs = [x for x in bt.HORIZONS if (kind, metric, x) in state.conformal]
    if not hs:
        return 0.0, 0.0
    lows, highs = zip(*(state.conformal[(kind, metric, x)] for x in hs), strict=True)
    return (float(np.interp(h, [0, *hs], [0.0, *lows])), float(np.interp(h, [0, *hs], [0.0, *highs])))


def _trajectory(values: np.ndarray, days: np.ndarray, state: CalibrationState, kind: str, metric: str,
                per_unit: float, bounds: tuple[float | None, float | None], start: float) -> list[TrajectoryPoint]:
    """Median and calibrated 80% band per future month, clamped to the series' bounds; the trajectory
    stops at the first month no path has a value for (a domain whose benchmarks all saturated). Where the
    calibration recentred this kind and metric, median and band are moved to ``start`` (no change)."""
    finite = np.isfinite(values).any(axis=0)
    n = int(np.argmin(finite)) if not finite.all() else values.shape[1]
    if n == 0:
        return []
    lo, mid, hi = band_of(values[:, :n])
    if (kind, metric) in state.recentred:
        shift = start - mid
        mid, lo, hi = mid + shift, lo + shift, hi + shift
    q = np.array([_q_at(state, kind, metric, j + 1) for j in range(n)]).reshape(-1, 2)
    lo, hi = widen(lo, mid, hi, q[:, 0], q[:, 1], MIN_WIDTH[metric] * per_unit)
    clamp_lo = -np.inf if bounds[0] is None else bounds[0]
    clamp_hi = np.inf if bounds[1] is None else bounds[1]
    mid, lo, hi = (np.clip(x, clamp_lo, clamp_hi) for x in (mid, lo, hi))
    return [TrajectoryPoint(pd.Timestamp(date.fromordinal(int(days[j]))), float(mid[j]), float(lo[j]), float(hi[j]))
            for j in range(n)]


def lag_trend_of(paths: JointPaths, lag_now: float, *, recentred: bool = False) -> LagTrend:
    """The lag's expected change over the next 12 months (days per year) with its 80% band, read off the
    paths: ``widening`` when 90% of paths end the year with a longer lag, ``shrinking`` when 90% end
    shorter, else ``stable``. ``recentred``: the published lag point is "no change" (the calibration moved
    it there), so the change is centred on 0 with its band moved alike, as the trajectory's band is: the
    trend never contradicts the published forecast."""
    change = paths.lag[:, 11] - lag_now
    change = change[np.isfinite(change)]
    if not len(change):
        return LagTrend(None, None, None, None)
    if recentred:
        change = change - np.median(change)
    lo, mid, hi = (float(x) for x in np.quantile(change, [0.1, 0.5, 0.9]))
    verdict = LagVerdict.SHRINKING if hi < 0 else LagVerdict.WIDENING if lo > 0 else LagVerdict.STABLE
    return LagTrend(mid, lo, hi, verdict, lag_now + mid)


def _publish(target: str, st: _State, paths: JointPaths, as_of: date, cal: CalibrationState
             ) -> dict[tuple[str, str, str], Forecast]:
    gap_traj = _trajectory(paths.gap, paths.days, cal, st.kind,
                           "score_gap", st.unit_per_pct, st.bounds, st.gap)
    lag_traj = _trajectory(paths.lag, paths.days, cal, st.kind, "lag_days", 1.0, (0.0, None), st.lag)
    trend = lag_trend_of(paths, st.lag, recentred=(st.kind, "lag_days") in cal.recentred)
    catch, status, reason = _catch_up(st, paths, cal, trend)
    enum = ModelName(st.model) if st.kind == "benchmark" else ModelName.AGGREGATED
    model_reason = (f"{st.model}: joint sample paths of the closed and open frontiers (engine {ENGINE_VERSION}); "
                    f"80% bands calibrated on earlier cut-offs' errors")
    common: dict[str, Any] = {"target": target, "kind": st.kind, "as_of": as_of, "model": enum,
                              "model_reason": model_reason, "catch_up": catch, "lag_trend": trend,
                              "status": status, "reason": reason, "data_hash": ""}
    return {(st.kind, target, "score_gap"): Forecast(metric="score_gap", trajectory=gap_traj, **common),
            (st.kind, target, "lag_days"): Forecast(metric="lag_days", trajectory=lag_traj, **common)}


def _months(days: float) -> str:
    m = days / DAYS_PER_MONTH
    return f"{m:.{0 if m >= 2 else 1}f} month{'s' if round(m, 1) != 1 else ''}"


def _catch_up(st: _State, paths: JointPaths, cal: CalibrationState, trend: LagTrend
              ) -> tuple[CatchUp, ForecastStatus, str]:
    where = (f"score gap {st.gap:.3g} {st.unit}, tie margin ±{st.margin:.2g}; lag {_months(st.lag)}")
    status = {LEADS: ForecastStatus.OPEN_LEADS, BEHIND: ForecastStatus.OK}.get(st.status, ForecastStatus.CAUGHT_UP)
    if st.saturated:  # both sides near the ceiling: a shrinking gap is not a catch-up, nor a widening one a lead
        catch = CatchUp(None, None, None, dict.fromkeys(bt.WINDOWS), None, None, None, "saturated")
        return catch, status, (f"The benchmark is saturated (closed past its saturation threshold; {where}): "
                               f"no catch-up or lead question is asked of it.")
    if st.status != BEHIND:
        retake = {w: cal.probability(st.kind, w, True, float(np.mean(retakes_within(paths.status, w))),
                                     st.unit_class) for w in bt.RETAKE_WINDOWS}
        basis = "model" if all(m for _, m in retake.values()) else "base_rate"
        p6, p12 = retake[6][0], retake[12][0]
        catch = CatchUp(None, None, None, dict.fromkeys(bt.WINDOWS), None, p12, p6, basis)
        lead = "lead" if st.status == LEADS else "are level with closed"
        shown = ", ".join(f"{p:.0%} within {w} months" for w, (p, _) in retake.items() if p is not None)
        how = ("from the model" if basis == "model"
               else "the base rate of similar series: not predictable from this history")
        text = f"Open models {lead} ({where}). P(closed clearly ahead again): {shown or 'unknown'} ({how})."
        return catch, status, text
    within = {w: cal.probability(st.kind, w, False, float(np.mean(caught_up_within(paths.status, w))),
                                 st.unit_class) for w in bt.WINDOWS}
    model_basis = within[12][1]
    basis = "model" if model_basis else "base_rate"
    probs: dict[int, float | None] = {w: p for w, (p, _) in within.items()}
    lag12 = trend.level_days
    stay = (f"Open models are about {_months(st.lag)} behind now"
            + (f" and about {_months(lag12)} in 12 months (the forecast's median)." if lag12 is not None else "."))
    p10 = p50 = p90 = None
    never = None
    if model_basis and trend.verdict is not LagVerdict.WIDENING:
        first = first_catch_up(paths.status).astype(float)
        first[first < 0] = np.inf
        first = np.sort(first)
        never = float(np.mean(np.isinf(first)))

        def quantile(q: float) -> pd.Timestamp | None:
            m = first[max(int(np.ceil(q * len(first))) - 1, 0)]
            return None if not np.isfinite(m) else pd.Timestamp(date.fromordinal(int(paths.days[int(m)])))

        p10, p50, p90 = quantile(0.1), quantile(0.5), quantile(0.9)
    catch = CatchUp(p10, p50, p90, probs, never, None, None, basis)
    shown = ", ".join(f"{p:.0%} within {w} months" for w, p in probs.items() if p is not None) or "unknown"
    if basis == "model":
        text = f"P(caught up for 3 months running): {shown}."
    else:
        text = (f"When open catches up is not predictable from this history: in the backtest the model's "
                f"probabilities did not beat the base rate, so the base rates of similar series are shown "
                f"({shown}).")
    if trend.verdict is LagVerdict.WIDENING:
        text += (f" The lag is widening ({trend.slope_days_per_year:+.0f} days over the next year, median); "
                 f"no catch-up date.")
    return catch, status, f"Open models are behind ({where}). {stay} {text}"
