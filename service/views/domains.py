"""Domains: the per-capability gap table, one domain, and its monthly series."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

from flask import Response
from marshmallow import Schema, fields, validate

from forecasts.measure.views import Filters
from forecasts.publishing import track_record
from forecasts.publishing.freshness import overdue
from forecasts.storage import keys
from service import who_leads
from service.charts import gap_chart, gap_title
from service.errors import BadRequest, NotFound, error_response
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
from service.views.params import Blueprint, FormatQuery, IsoDate, MetricQuery, NoQuery, SeriesQuery

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


ISO2_ERROR = "must be an ISO 3166-1 alpha-2 country code: two letters, e.g. US or CN"


class FilterQuery(Schema):
    """Frontier filters (issue 14 "Who leads"): each side's frontier from that side's matching models only."""

    closed_country = fields.String(load_default=None, validate=validate.Regexp(r"^[A-Za-z]{2}$", error=ISO2_ERROR),
                                   metadata={"description": "ISO 3166 alpha-2: only closed models of labs there."})
    open_country = fields.String(load_default=None, validate=validate.Regexp(r"^[A-Za-z]{2}$", error=ISO2_ERROR),
                                 metadata={"description": "ISO 3166 alpha-2: only open models of labs there."})
    closed_org = fields.String(load_default=None, validate=validate.Length(min=1, max=200),
                               metadata={"description": "Only closed models of this organisation."})
    open_org = fields.String(load_default=None, validate=validate.Length(min=1, max=200),
                             metadata={"description": "Only open models of this organisation."})


class ListQuery(FormatQuery, FilterQuery):
    """The domain list: format and frontier filters."""


class FilteredSeriesQuery(SeriesQuery, FilterQuery):
    """A domain's series: metric, range, format and frontier filters."""


FILTER_PARAMS = ("closed_country", "open_country", "closed_org", "open_org")


def _filters(gen: str, kwargs: dict[str, Any]) -> Filters | None:
    """The checked filters of this request (service.who_leads.checked: 400 naming the parameter when a value
    matches no model of its side), None when none is set: the stored, unfiltered path."""
    raw = Filters(**{k: kwargs.get(k) for k in FILTER_PARAMS})
    return who_leads.checked(gen, raw) if raw.active() else None


def _filtered_row(row: dict[str, Any], filters: Filters) -> dict[str, Any]:
    """A domain row of a filtered view: no forecast (forecasts are made for the unfiltered series only)."""
    return {**row, **headline(None), "forecast_status": "filtered", "filters": filters.to_dict()}


@bp.route("")
@bp.arguments(ListQuery(), location="query", as_kwargs=True, error_status_code=400)
@bp.response(200, description="One row per domain as of the latest data.")
def list_domains(format: str, **filter_args: Any) -> Response:
    """Every domain: score gap, lag, status and leaders; with filters, computed on the filtered models."""
    gen, tag = current()
    filters = _filters(gen, filter_args)
    if etag_matches(tag):
        return not_modified(tag)
    if filters is None:
        rows = [{**row, **_headline(row["domain"])} for row in domain_rows(gen)]
    else:
        rows = [_filtered_row(row, filters) for row in who_leads.derived(gen, filters).summary]
    if format == "csv":
        return csv_response(rows, SUMMARY_COLUMNS, tag, "domains.csv")
    extra = {} if filters is None else {"filters": filters.to_dict()}
    return json_response({"generation": gen, **data_freshness(gen), **extra, "domains": rows}, tag)


def _said(domain_id: str, day: date) -> dict[str, Any]:
    r = store().r
    entries = [e for e in track_record.read_backtest(r) if e.domain == domain_id]
    return track_record.said_at(entries + track_record.read_archive(r, [domain_id]), day)


def _headline(domain_id: str) -> dict[str, Any]:
    raw, updating = forecast_entry("domain", domain_id, "score_gap")
    return headline(json.loads(raw)["forecast"] if raw else None, updating=updating)


class DomainQuery(FilterQuery):
    as_of = IsoDate(load_default=None, metadata={"description": "YYYY-MM-DD: also return what gapcast said "
                                                               "then (the track record's newest forecast made "
                                                               "from data of that date or earlier)."})


@bp.route("/<domain_id>")
@bp.arguments(DomainQuery(), location="query", as_kwargs=True, error_status_code=400)
@bp.response(200, description="The domain's row and its benchmarks' rows.")
@bp.alt_response(404, description="Unknown domain.")
def get_domain(domain_id: str, as_of: date | None, **filter_args: Any) -> Response:
    """One domain, with the latest state of each of its benchmarks; with `as_of`, also `said`: per metric the
    forecast gapcast had published from the data of that date (live) or would have (backtest, labelled).
    With `closed_country` / `open_country` / `closed_org` / `open_org`, the frontiers of only those models
    ("US closed vs Chinese open"), computed from the stored data (no forecast: `filters` names the view)."""
    gen, tag = current()
    row = domain_row(gen, domain_id)
    filters = _filters(gen, filter_args)
    if filters is not None and as_of is not None:
        raise BadRequest("as_of cannot be combined with frontier filters (forecasts are of the unfiltered series)",
                         [{"field": "as_of", "message": "not with closed_country/open_country/closed_org/open_org"}])
    if filters is not None:
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


def _filtered_domain(gen: str, tag: str, domain_id: str, filters: Filters) -> Response:
    """The domain's row and benchmark rows recomputed on the models the filters keep (service.who_leads: one
    derivation per generation and filter, shared with the list and the series)."""
    if etag_matches(tag):
        return not_modified(tag)
    d = who_leads.derived(gen, filters)
    row = next(r for r in d.summary if r["domain"] == domain_id)
    members = set(row.get("configured_benchmarks") or [])
    return json_response({"generation": gen, **data_freshness(gen), "filters": filters.to_dict(),
                          "domain": _filtered_row(row, filters),
                          "benchmarks": [b for b in d.benchmark_summary if b["benchmark"] in members]}, tag)


@bp.route("/<domain_id>/series")
@bp.arguments(FilteredSeriesQuery(), location="query", as_kwargs=True, error_status_code=400)
@bp.response(200, description="Monthly points {date, value, status} of the chosen metric.")
@bp.alt_response(404, description="Unknown domain.")
def domain_series(domain_id: str, format: str, metric: str, from_: Any, to: Any, **filter_args: Any) -> Response:
    """The domain's monthly series of `metric`, cut to [from, to]; with filters, of the filtered models."""
    gen, tag = current()
    row = domain_row(gen, domain_id)
    filters = _filters(gen, filter_args)
    if etag_matches(tag):
        return not_modified(tag)
    if filters is None:
        points = store().read_json(keys.gen_domain_series(gen, domain_id)) or []
    else:
        points = who_leads.derived(gen, filters).domain_series.get(domain_id, [])
    unit = _unit(metric, row["unit"])
    return series_response(points, metric, from_, to, format, (gen, tag), target=domain_id, unit=unit)


@bp.route("/<domain_id>/movers")
@bp.arguments(NoQuery(), location="query", error_status_code=400)
@bp.response(200, description="Open frontier moves of the domain and each country's share, per year.")
@bp.alt_response(404, description="Unknown domain.")
def domain_movers(_: Any, domain_id: str) -> Response:
    """Who moves the open frontier: every time an open model became the open leader on one of the domain's
    benchmarks (inside its validity window), and the share of those moves made by each country, per year."""
    gen, tag = current()
    domain_row(gen, domain_id)
    if etag_matches(tag):
        return not_modified(tag)
    return json_response({"generation": gen, **data_freshness(gen), "domain": domain_id,
                          "definition": MOVE_DEFINITION, **who_leads.domain_movers(gen, domain_id)}, tag)


MOVE_DEFINITION = ("A frontier move is an open model becoming the open leader (best open score among models "
                   "released so far) on one of the domain's benchmarks, dated when its score started to count; "
                   "an Arena benchmark moves when its monthly open leader changes. Country: of the model's "
                   "organisation (forecasts/data/organisations.toml), '' when unknown.")


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
    unit = _unit(metric, row["unit"])
    svg = gap_chart(points, forecast_dict("domain", domain_id, metric), title=gap_title(row["name"], metric, unit),
                    unit=unit, metric=metric)
    return raw_response(svg, tag, mimetype="image/svg+xml")


def forecast_response(kind: str, target: str, metric: str, tag: str,
                      publishers: list[dict[str, str]] | None = None) -> Response:
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
    return raw_response(with_credit(with_fields(doc, extra), publishers), tag)


PENDING_RETRY_AFTER_S = 5  # the scheduler's forecast job runs every few seconds


def series_response(points: list[dict[str, Any]], metric: str, from_: Any, to: Any, fmt: str,
                    version: tuple[str, str], *, target: str, unit: str,
                    publishers: list[dict[str, str]] | None = None) -> Response:
    """A series projected on `metric` and cut to [from_, to], as JSON or CSV (shared with benchmarks),
    crediting ``publishers`` (default every one)."""
    gen, tag = version
    lo, hi = (from_.isoformat() if from_ else None), (to.isoformat() if to else None)
    out = [{"date": p["date"], "value": p[metric], "status": p["status"]} for p in points
           if (lo is None or p["date"] >= lo) and (hi is None or p["date"] <= hi)]
    if fmt == "csv":
        return csv_response(out, SERIES_COLUMNS, tag, f"{target}-{metric}.csv", publishers)
    credit = {"credit": publishers} if publishers else {}
    return json_response({**credit, "generation": gen, "target": target, "metric": metric, "unit": unit,
                          "points": out}, tag)


def _unit(metric: str, score_unit: str) -> str:
    return "days" if metric == "lag_days" else score_unit
