"""Benchmarks: their latest gaps and monthly series."""

from __future__ import annotations

import json
from typing import Any

from flask import Response

from forecasts.storage import keys
from service.credit import benchmark_credit, benchmark_publishers
from service.errors import NotFound
from service.forecast_docs import forecast_bytes
from service.http import csv_response, current, etag_matches, json_response, not_modified, store
from service.views.domains import forecast_response, series_response
from service.views.params import Blueprint, FormatQuery, MetricQuery, NoQuery, SeriesQuery

bp = Blueprint("benchmarks", __name__, url_prefix="/v1/benchmarks", description="Benchmarks, one per evaluator.")

COLUMNS = ("benchmark", "name", "evaluator", "unit", "as_of", "score_gap", "lag_days", "status", "saturated",
           "closed_leader", "open_leader", "points")


def benchmark_row(gen: str, benchmark_id: str) -> dict[str, Any]:
    """One benchmark's summary row. Raises NotFound."""
    for row in store().read_json(keys.gen_benchmark_summary(gen)) or []:
        if row["benchmark"] == benchmark_id:
            return dict(row)
    raise NotFound(f"no benchmark {benchmark_id!r}", [{"field": "benchmark", "message": "unknown benchmark id"}])


@bp.route("")
@bp.arguments(FormatQuery(), location="query", as_kwargs=True, error_status_code=400)
@bp.response(200, description="One row per benchmark as of its latest data.")
def list_benchmarks(format: str) -> Response:
    """Every benchmark with its latest gap, lag and status."""
    gen, tag = current()
    if etag_matches(tag):
        return not_modified(tag)
    rows = store().read_json(keys.gen_benchmark_summary(gen)) or []
    if format == "csv":
        return csv_response(rows, COLUMNS, tag, "benchmarks.csv")
    return json_response({"generation": gen, "benchmarks": rows}, tag)


@bp.route("/<benchmark_id>")
@bp.arguments(NoQuery(), location="query", error_status_code=400)
@bp.response(200, description="The benchmark's definition, latest state, and source: where its numbers come "
                              "from (source, evaluator, publisher, licence, URL).")
@bp.alt_response(404, description="Unknown benchmark.")
def get_benchmark(_query: dict[str, Any], benchmark_id: str) -> Response:
    """One benchmark: definition (unit, range, tie margin, saturation, scale) and latest state."""
    gen, tag = current()
    row = benchmark_row(gen, benchmark_id)
    if etag_matches(tag):
        return not_modified(tag)
    raw = store().r.hget(keys.gen_benchmarks(gen), benchmark_id)
    definition = json.loads(raw) if raw else None
    evaluator = row.get("evaluator") or (definition or {}).get("evaluator")
    source = benchmark_credit(benchmark_id, evaluator)
    return json_response({"generation": gen, "benchmark": row, "definition": definition, "source": source,
                          "credit": benchmark_publishers(benchmark_id, evaluator)}, tag)


@bp.route("/<benchmark_id>/series")
@bp.arguments(SeriesQuery(), location="query", as_kwargs=True, error_status_code=400)
@bp.response(200, description="Monthly points {date, value, status} of the chosen metric.")
@bp.alt_response(404, description="Unknown benchmark.")
def benchmark_series(benchmark_id: str, format: str, metric: str, from_: Any, to: Any) -> Response:
    """The benchmark's monthly series of `metric`, cut to [from, to]."""
    gen, tag = current()
    row = benchmark_row(gen, benchmark_id)
    if etag_matches(tag):
        return not_modified(tag)
    points = store().read_json(keys.gen_benchmark_series(gen, benchmark_id)) or []
    unit = "days" if metric == "lag_days" else row["unit"]
    return series_response(points, metric, from_, to, format, (gen, tag), target=benchmark_id, unit=unit,
                           publishers=_publishers(gen, benchmark_id))


@bp.route("/<benchmark_id>/forecast")
@bp.arguments(MetricQuery(), location="query", as_kwargs=True, error_status_code=400)
@bp.response(200, description="The published forecast and its backtest (stored; never computed here).")
@bp.alt_response(404, description="Unknown benchmark.")
@bp.alt_response(503, description="The forecast is not computed yet.")
def benchmark_forecast(benchmark_id: str, metric: str) -> Response:
    """When open models catch up on this benchmark: trajectory, catch-up distribution, lag trend."""
    gen, tag = current()
    # A stored document proves the series exists; else 404 when unknown (or without a series), 503 when pending.
    if forecast_bytes("benchmark", benchmark_id, metric) is None and not benchmark_row(gen, benchmark_id)["points"]:
        raise NotFound(f"benchmark {benchmark_id!r} has no gap series (one access class has no score)",
                           [{"field": "benchmark", "message": "no series"}])
    return forecast_response("benchmark", benchmark_id, metric, tag, _publishers(gen, benchmark_id))


def _publishers(gen: str, benchmark_id: str) -> list[dict[str, str]]:
    """The publishers to credit for one benchmark, by its stored definition's evaluator (one hash field read:
    the forecast is served on the fast path)."""
    raw = store().r.hget(keys.gen_benchmarks(gen), benchmark_id)
    return benchmark_publishers(benchmark_id, json.loads(raw).get("evaluator") if raw else None)
