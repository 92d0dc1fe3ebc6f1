"""Forecasts in the store: which series a generation forecasts, and computing the missing ones.

Every generation carries a forecast index (`gen:<g>:forecast_index`): for each series (`domain:<id>:<metric>`
or `benchmark:<id>:<metric>`) its spec and the hash of its data. Forecast documents are content-addressed
(`forecast:<hash>`): a series whose data did not change points at the document already computed, so it is
never refit. A reader finds a series' forecast in two lookups and sees either no document yet (status
`pending`) or a complete one, never half of one.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, replace
from typing import Any, cast

import pandas as pd

from forecasts import keys
from forecasts.catchup import NO_LAG_TREND
from forecasts.compute import Derived
from forecasts.domains import Domain, load_domains
from forecasts.engine.origin import MIN_MONTHS
from forecasts.engine.publish import (
    ENGINE_VERSION,
    Calibration,
    backtest_calibration,
    calibration_digest,
    histories_of,
    run_engine,
)
from forecasts.model import Benchmark, Dataset
from forecasts.published import Forecast, ForecastStatus, no_forecast
from forecasts.series import SeriesSpec
from forecasts.store import GenerationWriter, Store

logger = logging.getLogger(__name__)

METRICS = ("score_gap", "lag_days")
LAG_TIE_DAYS = 15.0  # a lag of half a month or less counts as caught up
FORECAST_TTL_S = 90 * 24 * 3600  # forecast documents not referenced by a new generation for 90 days expire
DOMAIN_GAP_BOUND = 100.0  # domain gaps are in % of scale: clamp forecasts to [-100, 100]


@dataclass(frozen=True)
class SeriesRef:
    """One forecastable series of a generation: where its points are, its spec and its data hash."""

    kind: str
    target: str
    metric: str
    spec: dict[str, Any]
    as_of: str
    hash: str

    @property
    def field(self) -> str:
        return f"{self.kind}:{self.target}:{self.metric}"

    def series_key(self, gen: str) -> str:
        if self.kind == "domain":
            return keys.gen_domain_series(gen, self.target)
        return keys.gen_benchmark_series(gen, self.target)


def series_hash(points: list[dict[str, Any]], spec: SeriesSpec) -> str:
    """A stable SHA-256 (hex) of what a series' forecast document is made from: its points (dates, gaps,
    lags, leaders), its spec and the engine version. Equal inputs hash equally across processes."""
    payload = {"engine": ENGINE_VERSION, "spec": asdict(spec), "points": points}
    blob = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


def doc_key(data_hash: str) -> str:
    """The Redis key of a forecast document: its series' data hash under the current engine version, so a
    new engine refits every series instead of serving documents the old one made."""
    return keys.forecast(f"e{ENGINE_VERSION}-{data_hash}")


def benchmark_spec(bench: Benchmark, metric: str) -> SeriesSpec:
    """How a benchmark's series of `metric` is forecast (margins and clamps in the benchmark's unit)."""
    if metric == "lag_days":
        return SeriesSpec(bench.id, "benchmark", "lag_days", LAG_TIE_DAYS, 0.0, None)
    span = bench.max - bench.min if bench.max is not None and bench.min is not None else None
    ceiling = bench.max if bench.higher_is_better else None
    return SeriesSpec(bench.id, "benchmark", "score_gap", bench.tie_margin,
                      -span if span else None, span, ceiling)


def domain_spec(domain: Domain, data: Dataset, metric: str) -> SeriesSpec:
    """How a domain's series of `metric` is forecast; its gap's tie margin is the weighted mean of its
    benchmarks' margins in % of scale."""
    if metric == "lag_days":
        return SeriesSpec(domain.id, "domain", "lag_days", LAG_TIE_DAYS, 0.0, None)
    parts = [(m.weight, 100.0 * data.benchmarks[m.benchmark].tie_margin / data.benchmarks[m.benchmark].scale)
             for m in domain.members if m.benchmark in data.benchmarks]
    margin = sum(w * x for w, x in parts) / sum(w for w, _ in parts) if parts else 1.0
    return SeriesSpec(domain.id, "domain", "score_gap", round(margin, 4), -DOMAIN_GAP_BOUND, DOMAIN_GAP_BOUND)


def series_refs(data: Dataset, derived: Derived, domains: dict[str, Domain]) -> list[SeriesRef]:
    """Every series of a derivation, with its spec and data hash."""
    refs = []
    for d_id, points in derived.domain_series.items():
        for metric in METRICS:
            refs.append(_ref("domain", d_id, metric, points, domain_spec(domains[d_id], data, metric)))
    for b_id, points in derived.benchmark_series.items():
        if points:
            for metric in METRICS:
                refs.append(_ref("benchmark", b_id, metric, points, benchmark_spec(data.benchmarks[b_id], metric)))
    return refs


def _ref(kind: str, target: str, metric: str, points: list[dict[str, Any]], spec: SeriesSpec) -> SeriesRef:
    as_of = points[-1]["date"] if points else "1970-01-01"
    digest = series_hash(points, spec) if points else f"empty-{kind}-{target}-{metric}"
    return SeriesRef(kind, target, metric, asdict(spec), as_of, digest)


def write_index(writer: GenerationWriter, refs: list[SeriesRef]) -> None:
    """Put the forecast index in a generation being written, and keep its documents alive."""
    writer.put_hash(keys.gen_forecast_index(writer.gen), {r.field: json.dumps(asdict(r)) for r in refs})
    for r in refs:
        writer.touch(doc_key(r.hash), FORECAST_TTL_S)


def read_index(store: Store, gen: str) -> list[SeriesRef]:
    """The forecast index of generation `gen`."""
    return [SeriesRef(**json.loads(raw)) for raw in store.r.hvals(keys.gen_forecast_index(gen))]


def read_forecast(store: Store, gen: str, kind: str, target: str, metric: str) -> bytes | None:
    """The stored forecast document (JSON bytes) of one series, or None when not computed yet."""
    raw = store.r.hget(keys.gen_forecast_index(gen), f"{kind}:{target}:{metric}")
    if raw is None:
        return None
    return cast(bytes | None, store.r.get(doc_key(json.loads(raw)["hash"])))


def read_forecast_dict(store: Store, gen: str, kind: str, target: str, metric: str) -> dict[str, Any] | None:
    """The `forecast` part of a stored document, or None (not computed, or the generation expired)."""
    raw = read_forecast(store, gen, kind, target, metric)
    return json.loads(raw)["forecast"] if raw else None


def pending(store: Store, gen: str, only: Callable[[SeriesRef], bool] = lambda r: True) -> list[SeriesRef]:
    """The series of `gen` (filtered by `only`) that have no forecast document yet."""
    refs = [r for r in read_index(store, gen) if only(r)]
    pipe = store.r.pipeline(transaction=False)
    for r in refs:
        pipe.exists(doc_key(r.hash))
    return [r for r, exists in zip(refs, pipe.execute(), strict=True) if not exists]


def compute(store: Store, gen: str, refs: list[SeriesRef], *, progress: Callable[[int, int], None] | None = None,
            domains: Mapping[str, Domain] | None = None) -> int:
    """Forecast and store the documents of `refs` with the engine (:mod:`forecasts.engine`); returns how many
    were written. The engine forecasts every series of the generation at once (its calibration pools the
    backtest of all of them); only `refs` are stored. `domains` default to the shipped ones.

    `progress(done, total)` is called as each document is staged.
    """
    if not refs:
        return 0
    domains = domains if domains is not None else load_domains()
    data = store.read_dataset(gen)
    only = ({r.target for r in refs if r.kind == "benchmark"}, {r.target for r in refs if r.kind == "domain"})
    result = run_engine(data, domains, calibration=cached_calibration(store, data, domains), only=only)
    pipe = store.r.pipeline(transaction=False)
    for done, ref in enumerate(refs, start=1):
        spec = SeriesSpec(**ref.spec)
        fc = result.forecasts.get((ref.kind, ref.target, ref.metric))
        if fc is None:
            fc = no_forecast(spec, pd.Timestamp(ref.as_of).date(), ref.hash, ForecastStatus.INSUFFICIENT_DATA,
                             f"Fewer than {MIN_MONTHS} months with both classes scored: no forecast.", NO_LAG_TREND)
        scores = result.calibration.scores.get((ref.kind, ref.target, ref.metric))
        _stage(pipe, store, gen, ref, replace(fc, data_hash=ref.hash), {"models": scores} if scores else None)
        if progress is not None:
            progress(done, len(refs))
    pipe.incr(keys.forecasts_version())
    pipe.execute()
    return len(refs)


def cached_calibration(store: Store, data: Dataset, domains: Mapping[str, Domain]) -> Calibration:
    """The engine's calibration for `data`: read from the store under its digest, else backtested and stored
    (String JSON, TTL :data:`FORECAST_TTL_S`). A malformed stored document is recomputed, never served."""
    histories = histories_of(data)
    key = keys.engine_calibration(calibration_digest(histories, domains))
    raw = store.r.get(key)
    if raw is not None:
        try:
            return Calibration.from_json(json.loads(raw))
        except (KeyError, TypeError, ValueError) as exc:
            logger.warning("stored engine calibration %s is unreadable (%s): recomputing", key, exc)
    cal = backtest_calibration(histories, domains)
    store.r.set(key, json.dumps(cal.to_json(), separators=(",", ":")), ex=FORECAST_TTL_S)
    return cal


def _stage(pipe: Any, store: Store, gen: str, ref: SeriesRef, fc: Forecast, backtest: dict[str, Any] | None
           ) -> None:
    doc = {"ok": True, "generation": gen, "computed_at": store.now().isoformat(), "forecast": fc.to_dict(),
           "backtest": backtest}
    ttl = FORECAST_TTL_S
    pipe.set(doc_key(ref.hash), json.dumps(doc, separators=(",", ":")), ex=ttl)
