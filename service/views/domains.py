"""Domains: the per-capability gap table, one domain, and its monthly series."""

from __future__ import annotations

from typing import Any

from flask import Response
from flask_smorest import Blueprint

from forecasts import keys
from service.errors import NotFound
from service.http import csv_response, etag_matches, generation, json_response, not_modified, store
from service.views.params import FormatQuery, JsonOnlyQuery, SeriesQuery

bp = Blueprint("domains", __name__, url_prefix="/v1/domains", description="Capability domains.")

SUMMARY_COLUMNS = ("domain", "name", "as_of", "score_gap", "unit", "lag_days", "status", "closed_leader",
                   "open_leader", "benchmarks")
SERIES_COLUMNS = ("date", "value", "status")


def domain_rows(gen: str) -> list[dict[str, Any]]:
    """The summary rows of generation `gen`."""
    rows: list[dict[str, Any]] = store().read_json(keys.gen_summary(gen)) or []
    return rows


def domain_row(gen: str, domain_id: str) -> dict[str, Any]:
    """One domain's summary row. Raises NotFound."""
    for row in domain_rows(gen):
        if row["domain"] == domain_id:
            return row
    raise NotFound(f"no domain {domain_id!r}", [{"field": "domain", "message": "unknown domain id"}])


@bp.route("")
@bp.arguments(FormatQuery, location="query", as_kwargs=True, error_status_code=400)
@bp.response(200, description="One row per domain as of the latest data.")
def list_domains(format: str) -> Response:
    """Every domain: score gap, lag, status and leaders."""
    gen = generation()
    if etag_matches(gen):
        return not_modified(gen)
    rows = domain_rows(gen)
    if format == "csv":
        return csv_response(rows, SUMMARY_COLUMNS, gen, "domains.csv")
    return json_response({"generation": gen, "domains": rows}, gen)


@bp.route("/<domain_id>")
@bp.arguments(JsonOnlyQuery, location="query", error_status_code=400)
@bp.response(200, description="The domain's row and its benchmarks' rows.")
@bp.alt_response(404, description="Unknown domain.")
def get_domain(_query: dict[str, Any], domain_id: str) -> Response:
    """One domain, with the latest state of each of its benchmarks."""
    gen = generation()
    row = domain_row(gen, domain_id)
    if etag_matches(gen):
        return not_modified(gen)
    configured = set(row.get("configured_benchmarks") or [])
    benches = [b for b in store().read_json(keys.gen_benchmark_summary(gen)) or [] if b["benchmark"] in configured]
    return json_response({"generation": gen, "domain": row, "benchmarks": benches}, gen)


@bp.route("/<domain_id>/series")
@bp.arguments(SeriesQuery, location="query", as_kwargs=True, error_status_code=400)
@bp.response(200, description="Monthly points {date, value, status} of the chosen metric.")
@bp.alt_response(404, description="Unknown domain.")
def domain_series(domain_id: str, format: str, metric: str, from_: Any, to: Any) -> Response:
    """The domain's monthly series of `metric`, cut to [from, to]."""
    gen = generation()
    row = domain_row(gen, domain_id)
    if etag_matches(gen):
        return not_modified(gen)
    points = store().read_json(keys.gen_domain_series(gen, domain_id)) or []
    return series_response(points, metric, from_, to, format, gen, target=domain_id, unit=_unit(metric, row["unit"]))


def series_response(points: list[dict[str, Any]], metric: str, from_: Any, to: Any, fmt: str, gen: str,
                    *, target: str, unit: str) -> Response:
    """A series projected on `metric` and cut to [from_, to], as JSON or CSV (shared with benchmarks)."""
    lo, hi = (from_.isoformat() if from_ else None), (to.isoformat() if to else None)
    out = [{"date": p["date"], "value": p[metric], "status": p["status"]} for p in points
           if (lo is None or p["date"] >= lo) and (hi is None or p["date"] <= hi)]
    if fmt == "csv":
        return csv_response(out, SERIES_COLUMNS, gen, f"{target}-{metric}.csv")
    return json_response({"generation": gen, "target": target, "metric": metric, "unit": unit, "points": out}, gen)


def _unit(metric: str, score_unit: str) -> str:
    return "days" if metric == "lag_days" else score_unit
