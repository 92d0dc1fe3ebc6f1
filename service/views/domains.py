"""Domains: the per-capability gap table, one domain, and its monthly series."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

from flask import Response, current_app
from marshmallow import Schema, fields, validate

from forecasts import keys, track_record
from forecasts.compute import derive
from forecasts.freshness import overdue
from forecasts.organisations import by_organisation
from service.charts import gap_chart
from service.errors import NotFound, error_response
from service.forecast_docs import (
    data_freshness,
    forecast_bytes,
    forecast_dict,
    forecast_entry,
    headline,
    today,
    with_fields,
)
from service.http import (
    csv_response,
    current,
    etag_matches,
    json_response,
    not_modified,
    raw_response,
    store,
    with_credit,
)
from service.views.params import Blueprint, FormatQuery, IsoDate, MetricQuery, SeriesQuery

bp = Blueprint("domains", __name__, url_prefix="/v1/domains", description="Capability domains.")

SUMMARY_COLUMNS = ("domain", "name", "as_of", "score_gap", "unit", "lag_days", "status", "closed_leader",
                   "open_leader", "catch_up_p50", "catch_up_overdue", "p_within_6", "p_within_12", "p_within_24",
                   "lag_verdict",
                   "forecast_status", "forecast_model", "forecast_updating", "benchmarks")
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
@bp.arguments(FormatQuery(), location="query", as_kwargs=True, error_status_code=400)
@bp.response(200, description="One row per domain as of the latest data.")
def list_domains(format: str) -> Response:
    """Every domain: score gap, lag, status and leaders."""
    gen, tag = current()
    if etag_matches(tag):
        return not_modified(tag)
    rows = [{**row, **_headline(row["domain"])} for row in domain_rows(gen)]
    if format == "csv":
        return csv_response(rows, SUMMARY_COLUMNS, tag, "domains.csv")
    return json_response({"generation": gen, **data_freshness(gen), "domains": rows}, tag)


def _said(domain_id: str, day: date) -> dict[str, Any]:
    r = store().r
    entries = [e for e in track_record.read_backtest(r) if e.domain == domain_id]
    return track_record.said_at(entries + track_record.read_archive(r, [domain_id]), day)


def _headline(domain_id: str) -> dict[str, Any]:
    raw, updating = forecast_entry("domain", domain_id, "score_gap")
    return headline(json.loads(raw)["forecast"] if raw else None, updating=updating)


class DomainQuery(Schema):
    as_of = IsoDate(load_default=None, metadata={"description": "YYYY-MM-DD: also return what gapcast said "
                                                               "then (the track record's newest forecast made "
                                                               "from data of that date or earlier)."})
    closed_country = fields.String(load_default=None, validate=validate.Regexp(r"^[A-Za-z]{2}$"),
                                   metadata={"description": "ISO 3166 alpha-2: only closed models of labs there."})
    open_country = fields.String(load_default=None, validate=validate.Regexp(r"^[A-Za-z]{2}$"),
                                 metadata={"description": "ISO 3166 alpha-2: only open models of labs there."})
    closed_org = fields.String(load_default=None, validate=validate.Length(min=1, max=200),
                               metadata={"description": "Only closed models of this organisation."})
    open_org = fields.String(load_default=None, validate=validate.Length(min=1, max=200),
                             metadata={"description": "Only open models of this organisation."})


@bp.route("/<domain_id>")
@bp.arguments(DomainQuery(), location="query", as_kwargs=True, error_status_code=400)
@bp.response(200, description="The domain's row and its benchmarks' rows.")
@bp.alt_response(404, description="Unknown domain.")
def get_domain(domain_id: str, as_of: date | None, closed_country: str | None = None,
               open_country: str | None = None, closed_org: str | None = None,
               open_org: str | None = None) -> Response:
    """One domain, with the latest state of each of its benchmarks; with `as_of`, also `said`: per metric the
    forecast gapcast had published from the data of that date (live) or would have (backtest, labelled).
    With `closed_country` / `open_country` / `closed_org` / `open_org`, the frontiers of only those models
    ("US closed vs Chinese open"), computed from the stored data (no forecast: `filters` names the view)."""
    gen, tag = current()
    row = domain_row(gen, domain_id)
    filters = {k: v for k, v in (("closed_country", closed_country), ("open_country", open_country),
                                 ("closed_org", closed_org), ("open_org", open_org)) if v}
    if filters:
        return _filtered_domain(gen, tag, domain_id, filters)
    if as_of is None and etag_matches(tag):
        return not_modified(tag)
    configured = set(row.get("configured_benchmarks") or [])
    benches = [b for b in store().read_json(keys.gen_benchmark_summary(gen)) or [] if b["benchmark"] in configured]
    if as_of is not None:  # the track record grows between generations: not cached under the data's ETag
        return json_response({"generation": gen, **data_freshness(gen), "domain": {**row, **_headline(domain_id)},
                              "benchmarks": benches, "as_of": as_of.isoformat(), "said": _said(domain_id, as_of)},
                             credit=True)
    return json_response({"generation": gen, **data_freshness(gen), "domain": {**row, **_headline(domain_id)},
                          "benchmarks": benches}, tag)


def _filtered_domain(gen: str, tag: str, domain_id: str, filters: dict[str, str]) -> Response:
    """The domain's row and benchmark rows recomputed on the models the filters keep (one domain: ~0.3 s on
    the bundled data; a repeat is replayed from the response cache, which keys on the query string)."""
    if etag_matches(tag):
        return not_modified(tag)
    dom = current_app.extensions["gapcast.domains"][domain_id]
    data = by_organisation(store().read_dataset(gen), **filters)
    derived = derive(data, {domain_id: dom}, benchmarks=set(dom.benchmark_ids) & set(data.benchmarks))
    rows = [r for r in derived.summary if r["domain"] == domain_id]
    members = set(dom.benchmark_ids)
    return json_response({"generation": gen, "filters": filters, "domain": rows[0] if rows else None,
                          "benchmarks": [b for b in derived.benchmark_summary if b["benchmark"] in members]}, tag)


@bp.route("/<domain_id>/series")
@bp.arguments(SeriesQuery(), location="query", as_kwargs=True, error_status_code=400)
@bp.response(200, description="Monthly points {date, value, status} of the chosen metric.")
@bp.alt_response(404, description="Unknown domain.")
def domain_series(domain_id: str, format: str, metric: str, from_: Any, to: Any) -> Response:
    """The domain's monthly series of `metric`, cut to [from, to]."""
    gen, tag = current()
    row = domain_row(gen, domain_id)
    if etag_matches(tag):
        return not_modified(tag)
    points = store().read_json(keys.gen_domain_series(gen, domain_id)) or []
    unit = _unit(metric, row["unit"])
    return series_response(points, metric, from_, to, format, (gen, tag), target=domain_id, unit=unit)


@bp.route("/<domain_id>/forecast")
@bp.arguments(MetricQuery(), location="query", as_kwargs=True, error_status_code=400)
@bp.response(200, description="The published forecast and its backtest (stored; never computed here).")
@bp.alt_response(404, description="Unknown domain.")
@bp.alt_response(503, description="The series never had a forecast and its first one is being computed "
                                 "(Retry-After); a series being refit answers 200 with its previous forecast and "
                                 "updating: true.")
def domain_forecast(domain_id: str, metric: str) -> Response:
    """When open models catch up on this domain: trajectory, catch-up distribution, lag trend."""
    gen, tag = current()
    if forecast_bytes("domain", domain_id, metric) is None:  # a stored document proves the domain exists
        domain_row(gen, domain_id)  # 404 when unknown; else the forecast is pending (503)
    return forecast_response("domain", domain_id, metric, tag)


@bp.route("/<domain_id>/chart.svg")
@bp.arguments(MetricQuery(), location="query", as_kwargs=True, error_status_code=400)
@bp.response(200, description="An SVG chart of the series with its forecast fan.",
             content_type="image/svg+xml")
@bp.alt_response(404, description="Unknown domain.")
def domain_chart(domain_id: str, metric: str) -> Response:
    """The domain's score gap (or lag) history and forecast, as SVG."""
    gen, tag = current()
    row = domain_row(gen, domain_id)
    if etag_matches(tag):
        return not_modified(tag)
    points = store().read_json(keys.gen_domain_series(gen, domain_id)) or []
    svg = gap_chart(points, forecast_dict("domain", domain_id, metric), title=f"{row['name']}: {metric}",
                    unit=_unit(metric, row["unit"]), metric=metric)
    return raw_response(svg, tag, mimetype="image/svg+xml")


def forecast_response(kind: str, target: str, metric: str, tag: str) -> Response:
    """The stored forecast document (shared with benchmarks), with `updating` (true: this is the previous
    forecast, the new one is being computed), `catch_up_overdue` (its median catch-up date has passed) and
    the data's age spliced in. 503 with Retry-After only while a series that never had a forecast gets its
    first one."""
    if etag_matches(tag):
        return not_modified(tag)
    doc, updating = forecast_entry(kind, target, metric)
    if doc is None:
        resp = error_response(503, f"the {metric} forecast of {kind} {target!r} is not computed yet; retry shortly",
                              [{"field": "forecast", "message": "pending"}])
        resp.headers["Retry-After"] = str(PENDING_RETRY_AFTER_S)
        return resp
    p50 = (json.loads(doc)["forecast"].get("catch_up") or {}).get("p50")
    extra = {"updating": updating, "catch_up_overdue": overdue(p50, today()), **data_freshness(current()[0])}
    # the stored bytes with the publishers and these fields spliced in (no re-serialisation)
    return raw_response(with_credit(with_fields(doc, extra)), tag)


PENDING_RETRY_AFTER_S = 5  # the scheduler's forecast job runs every few seconds


def series_response(points: list[dict[str, Any]], metric: str, from_: Any, to: Any, fmt: str,
                    version: tuple[str, str], *, target: str, unit: str) -> Response:
    """A series projected on `metric` and cut to [from_, to], as JSON or CSV (shared with benchmarks)."""
    gen, tag = version
    lo, hi = (from_.isoformat() if from_ else None), (to.isoformat() if to else None)
    out = [{"date": p["date"], "value": p[metric], "status": p["status"]} for p in points
           if (lo is None or p["date"] >= lo) and (hi is None or p["date"] <= hi)]
    if fmt == "csv":
        return csv_response(out, SERIES_COLUMNS, tag, f"{target}-{metric}.csv")
    return json_response({"generation": gen, "target": target, "metric": metric, "unit": unit, "points": out}, tag)


def _unit(metric: str, score_unit: str) -> str:
    return "days" if metric == "lag_days" else score_unit
