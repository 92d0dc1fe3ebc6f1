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

from forecasts.engine.history import BenchmarkHistory
from forecasts.engine.origin import MIN_MONTHS
from forecasts.engine.publish import (
    ENGINE_VERSION,
    Calibration,
    backtest_calibration,
    calibration_digest,
    histories_of,
    run_engine,
)
from forecasts.measure.compute import Derived
from forecasts.measure.domains import Domain, load_domains
from forecasts.publishing import track_record
from forecasts.publishing.catchup import NO_LAG_TREND
from forecasts.publishing.published import Forecast, ForecastStatus, no_forecast
from forecasts.publishing.series import SeriesSpec
from forecasts.records.model import Benchmark, Dataset
from forecasts.records.snapshot import ShippedForecasts
from forecasts.storage import keys
from forecasts.storage.store import GenerationWriter, Store

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
    # the hash of the newest earlier document of this series (from a generation before this one), served
    # marked "updating" while this one is pending; None when the series never had one
    previous: str | None = None

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


def previous_engine_doc_key(data_hash: str) -> str | None:
    """The Redis key the previous engine version stored this data's document under (None for engine 1):
    served, marked updating, while the current engine's document is pending after an upgrade, so an engine
    bump does not turn every forecast into a 503 until the refit. Only the version just before: the
    document shape is the same in engines 5 and 6 (checked against a store engine 5 left); a change of
    shape must drop this."""
    if not ENGINE_VERSION.isdigit() or int(ENGINE_VERSION) <= 1:
        return None
    return keys.forecast(f"e{int(ENGINE_VERSION) - 1}-{data_hash}")


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
    """Put the forecast index in a generation being written, and keep its documents alive. Each ref whose
    hash changed since the parent generation links the parent's document (or, when that one was still
    pending, the parent's own link) as `previous`, so readers have something to show while it is refit."""
    refs = _with_previous(writer.store, writer.parent, refs)
    writer.put_hash(keys.gen_forecast_index(writer.gen), {r.field: json.dumps(asdict(r)) for r in refs})
    for r in refs:
        writer.touch(doc_key(r.hash), FORECAST_TTL_S)
        if r.previous:
            writer.touch(doc_key(r.previous), FORECAST_TTL_S)


def _with_previous(store: Store, parent: str | None, refs: list[SeriesRef]) -> list[SeriesRef]:
    old = {r.field: r for r in read_index(store, parent)} if parent else {}
    changed = [(r, old[r.field]) for r in refs if r.field in old and old[r.field].hash != r.hash]
    pipe = store.r.pipeline(transaction=False)
    for _, o in changed:
        pipe.exists(doc_key(o.hash))
    done = dict(zip([r.field for r, _ in changed], pipe.execute() if changed else [], strict=True))
    out = []
    for r in refs:
        prior = old.get(r.field)
        if prior is None:
            out.append(r)
        elif prior.hash == r.hash:
            out.append(replace(r, previous=prior.previous))
        else:
            out.append(replace(r, previous=prior.hash if done[r.field] else prior.previous))
    return out


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
    # sorted: equal data, equal forecasts in every process
    histories = histories_of(store.read_dataset(gen))
    only = ({r.target for r in refs if r.kind == "benchmark"}, {r.target for r in refs if r.kind == "domain"})
    result = run_engine(histories, domains, calibration=cached_calibration(store, histories, domains), only=only)
    pipe = store.r.pipeline(transaction=False)
    for done, ref in enumerate(refs, start=1):
        spec = SeriesSpec(**ref.spec)
        fc = result.forecasts.get((ref.kind, ref.target, ref.metric))
        if fc is None:
            fc = no_forecast(spec, pd.Timestamp(ref.as_of).date(), ref.hash, ForecastStatus.INSUFFICIENT_DATA,
                             f"Fewer than {MIN_MONTHS} months with both classes scored: no forecast.", NO_LAG_TREND)
        scores = result.calibration.scores.get((ref.kind, ref.target, ref.metric))
        fc = replace(fc, data_hash=ref.hash)
        _stage(pipe, store, gen, ref, fc, {"models": scores} if scores else None)
        if ref.kind == "domain":
            archive_domain_forecast(pipe, store, gen, fc.to_dict())
        if progress is not None:
            progress(done, len(refs))
    pipe.incr(keys.forecasts_version())
    pipe.execute()
    return len(refs)


def cached_calibration(store: Store, histories: Mapping[str, BenchmarkHistory], domains: Mapping[str, Domain]
                       ) -> Calibration:
    """The engine's calibration for `histories`: read from the store under its digest, else backtested and
    stored (String JSON, TTL :data:`FORECAST_TTL_S`). A malformed stored document is recomputed, never
    served."""
    key = keys.engine_calibration(calibration_digest(histories, domains))
    raw = store.r.get(key)
    if raw is not None:
        try:
            return Calibration.from_json(json.loads(raw))
        except (KeyError, TypeError, ValueError) as exc:
            logger.warning("stored engine calibration %s is unreadable (%s): recomputing", key, exc)
    cal = backtest_calibration(histories, domains)
    store.r.set(key, json.dumps(cal.to_json(), separators=(",", ":")), ex=FORECAST_TTL_S)
    track_record.store_backtest(store.r, cal.record)
    return cal


def archive_domain_forecast(pipe: Any, store: Store, gen: str, forecast: dict[str, Any]) -> None:
    """Stage a domain forecast (`Forecast.to_dict()`) into the permanent track record, with the domain's
    state at its newest series point (forecasts.publishing.track_record)."""
    series = store.read_json(keys.gen_domain_series(gen, forecast["target"])) or []
    state = series[-1] if series else {}
    track_record.archive_entry(pipe, track_record.entry_from_forecast(forecast, state, generation=gen,
                                                                      engine=ENGINE_VERSION))


def _stage(pipe: Any, store: Store, gen: str, ref: SeriesRef, fc: Forecast, backtest: dict[str, Any] | None
           ) -> None:
    doc = {"ok": True, "generation": gen, "computed_at": store.now().isoformat(), "forecast": fc.to_dict(),
           "backtest": backtest}
    ttl = FORECAST_TTL_S
    pipe.set(doc_key(ref.hash), json.dumps(doc, separators=(",", ":")), ex=ttl)


# --- shipped forecasts (forecasts/data/forecasts.json.gz) ---------------------------------------------

SHIPPED_GENERATION = "shipped"  # the `generation` a shipped document names: it was computed at build time


@dataclass(frozen=True)
class Installed:
    """What :func:`install_shipped` did: documents `installed`, series that already had theirs (`present`),
    and the series still pending because the shipped file has no document for their data (`missing`)."""

    installed: int
    present: int
    missing: list[SeriesRef]
    calibrations: int
    reason: str = ""  # why nothing could be used (another engine version), else ""


def export_shipped(store: Store, gen: str, domains: Mapping[str, Domain]) -> ShippedForecasts:
    """Every forecast document of generation `gen` (all computed: raises ValueError naming the first pending
    series otherwise) and the engine calibration of its data, as shippable documents."""
    docs: dict[str, str] = {}
    for ref in read_index(store, gen):
        raw = store.r.get(doc_key(ref.hash))
        if raw is None:
            if ref.hash.startswith("empty-"):
                continue  # a series without points has no document anywhere
            raise ValueError(f"series {ref.field}: forecast not computed yet")
        doc = json.loads(raw)
        doc["generation"] = SHIPPED_GENERATION
        docs[ref.hash] = json.dumps(doc, separators=(",", ":"))
    data = store.read_dataset(gen)
    digest = calibration_digest(histories_of(data), domains)
    cal = store.r.get(keys.engine_calibration(digest))
    cals = {digest: cal.decode() if isinstance(cal, bytes) else cal} if cal is not None else {}
    return ShippedForecasts(ENGINE_VERSION, docs, cals)


def install_shipped(store: Store, gen: str, shipped: ShippedForecasts | None) -> Installed:
    """Store the shipped documents that generation `gen`'s pending series need (their data hash matches),
    and the shipped engine calibrations; nothing already stored is overwritten (SET NX, TTL
    :data:`FORECAST_TTL_S`). What the file lacks stays pending for the usual fit: a stale file costs fits,
    never a wrong forecast, since a document is only used for exactly the data it was made from."""
    waiting = pending(store, gen)
    present = len(read_index(store, gen)) - len(waiting)
    todo = [r for r in waiting if not r.hash.startswith("empty-")]
    if shipped is None:
        return Installed(0, present, todo, 0, "no shipped forecasts file")
    if shipped.engine_version != ENGINE_VERSION:
        return Installed(0, present, todo, 0, f"shipped forecasts are of engine {shipped.engine_version}, "
                                             f"this is engine {ENGINE_VERSION}")
    pipe = store.r.pipeline(transaction=False)
    hits = [r for r in todo if r.hash in shipped.documents]
    for r in hits:
        pipe.set(doc_key(r.hash), shipped.documents[r.hash], ex=FORECAST_TTL_S, nx=True)
        if r.kind == "domain":  # what is served is published: it joins the track record
            archive_domain_forecast(pipe, store, gen, json.loads(shipped.documents[r.hash])["forecast"])
    for digest, cal in shipped.calibrations.items():
        pipe.set(keys.engine_calibration(digest), cal, ex=FORECAST_TTL_S, nx=True)
        track_record.store_backtest(store.r, json.loads(cal).get("record") or [])
    if hits:
        pipe.incr(keys.forecasts_version())  # readers' ETags change: the documents appeared
    pipe.execute()
    return Installed(len(hits), present, [r for r in todo if r.hash not in shipped.documents],
                     len(shipped.calibrations))
