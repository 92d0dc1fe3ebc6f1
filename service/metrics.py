"""Prometheus metrics: request counts and latencies, and per-domain gauges read from Redis at scrape time.

Under gunicorn with several workers, set `PROMETHEUS_MULTIPROC_DIR` (gapcast up/api do it) so every
worker's request metrics are aggregated by any worker's `/metrics`; the gauges come from Redis and are
the same whichever worker answers.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from datetime import date, datetime
from typing import Any

from flask import Flask, Response, g, request
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest, multiprocess, values
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from forecasts.activity import source_status
from forecasts.publishing.freshness import Freshness, days_until, generation_freshness, overdue
from forecasts.publishing.outlook import doc_key
from forecasts.storage import keys
from forecasts.storage.store import Store, generation_seq

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
CATCH_UP_WINDOWS = ("6", "12", "24")
SECONDS_PER_DAY = 86400  # metrics are in seconds (Prometheus's base unit); the data counts days


class RequestMetrics:
    """Request counter and latency histogram, labelled by route template (bounded), method and status."""

    def __init__(self, registry: CollectorRegistry | None) -> None:
        kw: dict[str, Any] = {"registry": registry}
        self.requests = Counter("gapcast_http_requests", "HTTP requests answered.",
                                ["method", "endpoint", "status"], **kw)
        self.latency = Histogram("gapcast_http_request_duration_seconds", "Time to answer an HTTP request.",
                                 ["method", "endpoint"], buckets=LATENCY_BUCKETS, **kw)

    def init_app(self, app: Flask) -> None:
        app.before_request(self._start)
        app.after_request(self._record)

    def _start(self) -> None:
        g.gapcast_started = time.perf_counter()

    def _record(self, resp: Response) -> Response:
        started = g.get("gapcast_started")
        endpoint = request.url_rule.rule if request.url_rule else "unmatched"
        self.requests.labels(request.method, endpoint, str(resp.status_code)).inc()
        if started is not None:
            self.latency.labels(request.method, endpoint).observe(time.perf_counter() - started)
        return resp


class DomainCollector(Collector):
    """Per-domain gauges from the current generation (and its forecasts) in Redis, at scrape time."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def collect(self) -> Iterator[Metric]:
        gen = self.store.current_generation()
        if gen is None:
            return
        meta = self.store.read_meta(gen)
        now = self.store.now()
        yield from self._age_gauges(gen, meta, now)
        yield GaugeMetricFamily("gapcast_data_generation", "Sequence number of the current data generation (its id is "
                                "<seq>-<random>).", value=float(generation_seq(gen)))
        yield from self._domain_gauges(gen, now.date())
        yield from self._source_gauges()
        yield from self._alert_counters()

    def _age_gauges(self, gen: str, meta: dict[str, str], now: datetime) -> Iterator[Metric]:
        """The data's age is that of its newest data point (a model's release date, from 00:00 UTC), overall
        and per source; when the generation was made is a separate gauge."""
        fresh = generation_freshness(self.store, gen)
        age = GaugeMetricFamily("gapcast_data_age_seconds", "Age of the newest data point (the newest release "
                                "date of a scored model, from 00:00 UTC), seconds.")
        overall = fresh.age_seconds(now)
        if overall is not None:
            age.add_metric([], overall)
        per = GaugeMetricFamily("gapcast_source_data_age_seconds", "Age of the newest data point each source "
                                "gave, seconds.", labels=["source"])
        for src, newest in sorted(fresh.sources.items()):
            per.add_metric([src], Freshness(newest).age_seconds(now) or 0.0)
        made = GaugeMetricFamily("gapcast_data_generation_age_seconds", "Seconds since the current data "
                                 "generation was made (a load, pull or release; not the data's age).")
        if meta.get("created_at"):
            made.add_metric([], (now - datetime.fromisoformat(meta["created_at"])).total_seconds())
        yield from (age, per, made)

    def _alert_counters(self) -> Iterator[Metric]:
        family = GaugeMetricFamily("gapcast_alert_deliveries", "Alert deliveries by status: pending (in the "
                                   "outbox), delivered and dead (since the store was made).", labels=["status"])
        stats = {(k.decode() if isinstance(k, bytes) else k): float(v)
                 for k, v in self.store.r.hgetall(keys.alert_stats()).items()}
        family.add_metric(["pending"], float(self.store.r.zcard(keys.outbox())))
        for status in ("delivered", "dead"):
            family.add_metric([status], stats.get(status, 0.0))
        yield family

    def _source_gauges(self) -> Iterator[Metric]:
        fails = GaugeMetricFamily("gapcast_source_consecutive_failures", "Failed pulls in a row.", labels=["source"])
        last = GaugeMetricFamily("gapcast_source_last_success_timestamp_seconds", "Unix time of the last good pull.",
                                 labels=["source"])
        rows = GaugeMetricFamily("gapcast_source_rows", "Rows of the last pull that changed data.",
                                 labels=["source", "outcome"])
        for st in source_status.all_statuses(self.store, source_status.SOURCE_IDS):
            s = st["source"]
            fails.add_metric([s], st.get("consecutive_failures", 0))
            if st.get("last_success_at"):
                last.add_metric([s], datetime.fromisoformat(st["last_success_at"]).timestamp())
            for outcome in ("accepted", "rejected"):
                if f"rows_{outcome}" in st:
                    rows.add_metric([s, outcome], st[f"rows_{outcome}"])
        yield from (fails, last, rows)

    def _domain_gauges(self, gen: str, today: date) -> Iterator[Metric]:
        rows = self.store.read_json(keys.gen_summary(gen)) or []
        gap = GaugeMetricFamily("gapcast_domain_score_gap", "Domain score gap, % of scale (positive: open behind).",
                                labels=["domain"])
        lag = GaugeMetricFamily("gapcast_domain_lag_seconds", "Domain lag of open behind closed, seconds (the "
                                "data's days x 86400: Prometheus's base unit of time).", labels=["domain"])
        p50 = GaugeMetricFamily("gapcast_domain_catch_up_p50_seconds", "Median catch-up date, seconds from now "
                                "(whole days x 86400).", labels=["domain"])
        late = GaugeMetricFamily("gapcast_domain_catch_up_overdue", "1 when the median catch-up date has passed "
                                 "without the data showing the catch-up (then the p50 gauge is 0), else 0.",
                                 labels=["domain"])
        prob = GaugeMetricFamily("gapcast_domain_catch_up_probability",
                                 "P(open caught up within N months); basis: model (beat the base rate out of "
                                 "sample) or base_rate (not predictable from the history).",
                                 labels=["domain", "within_months", "basis"])
        forecasts = self._forecasts(gen, [r["domain"] for r in rows])
        for row in rows:
            d = row["domain"]
            if row["score_gap"] is not None:
                gap.add_metric([d], row["score_gap"])
            if row["lag_days"] is not None:
                lag.add_metric([d], row["lag_days"] * SECONDS_PER_DAY)
            fc = forecasts.get(d)
            if not fc:
                continue
            cu = fc["catch_up"]
            if cu.get("p50"):  # a median date that passed without the catch-up is overdue: 0, never negative
                p50.add_metric([d], (days_until(cu["p50"], today) or 0) * SECONDS_PER_DAY)
            # no date published is not overdue: 0, so that a dashboard or an alert rule sees every domain
            late.add_metric([d], 1.0 if overdue(cu.get("p50"), today) else 0.0)
            for w in CATCH_UP_WINDOWS:
                value = (cu.get("probability_within") or {}).get(w)
                if value is not None:
                    prob.add_metric([d, w, str(cu.get("basis") or "model")], value)
        yield from (gap, lag, p50, late, prob)

    def _forecasts(self, gen: str, domains: list[str]) -> dict[str, dict[str, Any]]:
        r = self.store.r
        fields = [f"domain:{d}:score_gap" for d in domains]
        refs = r.hmget(keys.gen_forecast_index(gen), fields) if fields else []
        hashes = [json.loads(ref)["hash"] if ref else None for ref in refs]
        docs = r.mget([doc_key(h) for h in hashes if h]) if any(hashes) else []
        it = iter(docs)
        out = {}
        for d, h in zip(domains, hashes, strict=True):
            doc = next(it) if h else None
            if doc:
                out[d] = json.loads(doc)["forecast"]
        return out


def metrics_registry() -> CollectorRegistry | None:
    """The registry request metrics are created in: None (the default one) in multiprocess mode, where
    values go to files; else a private registry per app, so tests can build many apps.

    Raises RuntimeError when PROMETHEUS_MULTIPROC_DIR is set but prometheus_client was imported before
    it was: its values would then stay in each worker's memory and /metrics would show no request metric.
    """
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        return CollectorRegistry()
    if not multiprocess_values():
        raise RuntimeError("PROMETHEUS_MULTIPROC_DIR was set after prometheus_client was imported: request "
                           "metrics would be lost (set it before importing service.app)")
    return None


def multiprocess_values() -> bool:
    """True when prometheus_client stores metric values in PROMETHEUS_MULTIPROC_DIR files (it decides
    once, at its first import, from that variable)."""
    return values.ValueClass.__name__ != "MutexValue"


def exposition(store: Store, app_registry: CollectorRegistry | None) -> bytes:
    """The text exposition for one scrape (`app_registry` None: multiprocess mode)."""
    if app_registry is not None:
        return generate_latest(app_registry)
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)
    registry.register(DomainCollector(store))
    return generate_latest(registry)
