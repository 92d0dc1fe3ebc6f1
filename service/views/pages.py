"""Pages for people: the dashboard (`/`) and the API reference (`/docs`). Server-rendered, no CDN."""

from __future__ import annotations

import json
from html import escape
from typing import Any

from flask import Response, current_app
from marshmallow import Schema, fields, validate

from forecasts.measure.views import Filters
from forecasts.publishing import track_record
from forecasts.publishing.freshness import generation_freshness, overdue
from forecasts.storage import keys
from service import who_leads
from service.charts import CARD_CSS, SUMMARY_CSS, SummaryRow, domain_card, summary_table, track_record_table
from service.credit import footer_html
from service.errors import BadRequest
from service.forecast_docs import data_freshness, forecast_entry, headline, today
from service.http import current, etag_matches, not_modified, raw_response, store
from service.views.domains import domain_rows
from service.views.params import Blueprint, NoQuery

bp = Blueprint("pages", __name__, description="Dashboard and API docs (HTML).")

PAGE_CSS = """
body { font-family: system-ui, -apple-system, 'Segoe UI', sans-serif; margin: 0; background: #f4f4f4; color: #222; }
main { max-width: 1440px; margin: 0 auto; padding: 16px; }
h1 { font-size: 24px; margin: 8px 0 4px; } .lede { color: #444; margin: 0 0 16px; }
table.api { border-collapse: collapse; background: #fff; width: 100%; margin-bottom: 24px; }
table.api td, table.api th { border: 1px solid #ddd; padding: 6px 8px; text-align: left; vertical-align: top; }
code { background: #eee; padding: 1px 4px; border-radius: 3px; }
.view-toggle { margin: 0 0 8px; font-size: 14px; } .view-toggle a.current { font-weight: 600; color: #222; }
.view-toggle .view-note { color: #444; }
.banner { border: 1px solid #c9a227; background: #fff6d6; padding: 10px 12px; margin: 0 0 16px; border-radius: 4px; }
.note { margin: 4px 0; padding: 4px 8px; border-left: 4px solid #c9a227; background: #fffbea; }
footer.credit { color: #444; font-size: 13px; margin: 24px 0 8px; overflow-wrap: anywhere; }
"""


def _page(title: str, body: str, tag: str | None = None) -> Response:
    html = (f"<!doctype html><html lang='en'><head><meta charset='utf-8'>"
            f"<meta name='viewport' content='width=device-width, initial-scale=1'><title>{escape(title)}</title>"
            f"<style>{PAGE_CSS}{SUMMARY_CSS}{CARD_CSS}</style></head><body><main>{body}{footer_html()}</main></body></html>")
    if tag is None:
        return Response(html, mimetype="text/html")
    return raw_response(html, tag, mimetype="text/html")


#: The dashboard's views: query value -> (label, frontier filters).
VIEWS: dict[str, tuple[str, Filters]] = {
    "all": ("All models", Filters()),
    "us-cn": ("US closed vs China open", Filters(closed_country="US", open_country="CN")),
}


class DashboardQuery(Schema):
    view = fields.String(load_default="all", validate=validate.OneOf(list(VIEWS)),
                         metadata={"description": "all (default): every model; us-cn: the summary table on the "
                                                  "frontiers of US labs' closed models vs Chinese labs' open "
                                                  "models (the domain endpoints' closed_country=US&"
                                                  "open_country=CN)."})


@bp.route("/")
@bp.arguments(DashboardQuery(), location="query", as_kwargs=True, error_status_code=400)
@bp.response(200, description="The dashboard: a summary table (per domain: score gap and lag now, lag trend, "
                              "catch-up answer, leaders on the primary benchmark, data age), then per domain "
                              "the frontiers, the gap with its forecast fan and the catch-up odds, then the "
                              "forecast track record.",
             content_type="text/html")
def dashboard(view: str) -> Response:
    """The summary table first (a row per domain, linking to its card), the domain cards, the track record.
    `view` us-cn puts the summary table on the US-closed / China-open frontiers (no forecasts there: they
    are made for the unfiltered series); the cards and the track record are of every model either way."""
    gen, tag = current()
    filters = None if view == "all" else who_leads.checked(gen, VIEWS[view][1])
    tag = tag if filters is None else f"{tag}.{view}"  # another body, another validator
    if etag_matches(tag):
        return not_modified(tag)
    rows = domain_rows(gen)
    benches = {b["benchmark"]: b for b in store().read_json(keys.gen_benchmark_summary(gen)) or []}
    series = {row["domain"]: store().read_json(keys.gen_domain_series(gen, row["domain"])) or [] for row in rows}
    forecasts = {row["domain"]: _forecast(row["domain"]) for row in rows}
    names = {b: str(v.get("name") or b) for b, v in benches.items()}
    summary = [SummaryRow({**row, **headline(forecasts[row["domain"]][0], updating=forecasts[row["domain"]][1])},
                          forecasts[row["domain"]][0], names.get(row.get("primary_benchmark") or "", ""),
                          _scale(benches.get(row.get("primary_benchmark") or "")))
               for row in rows]
    if filters is not None:
        summary = [SummaryRow({**row, "forecast_status": "filtered"}, None,
                              names.get(row.get("primary_benchmark") or "", ""),
                              _scale(benches.get(row.get("primary_benchmark") or "")))
                   for row in who_leads.derived(gen, filters).summary]
    cards = [_card(gen, row, series[row["domain"]], *forecasts[row["domain"]], benches) for row in rows]
    fresh = data_freshness(gen)
    body = (f"<h1>gapcast: how far behind are open-weight models?</h1>"
            f"<p class='lede'>Per capability, the best closed vs the best open model, {_age_text(fresh)} "
            f"(generation {escape(gen)}). Forecasts are 80% intervals. <a href='#track-record'>Track record</a> · "
            f"<a href='/docs'>API</a></p>"
            + _stale_banner(gen, fresh) + _view_toggle(gen, view) + summary_table(summary, today(), names)
            + "".join(cards)
            + _track_record(gen, rows, series))
    return _page("gapcast dashboard", body, tag)


def _view_toggle(gen: str, view: str) -> str:
    """Links between the views (no script: each is its own page), the current one marked, and what the
    filtered view is; a view whose filters match no model of a side (data without Chinese open models)
    is not offered ("" when only the unfiltered one is left)."""
    offered = [key for key, (_, filters) in VIEWS.items() if key in ("all", view) or _valid(gen, filters)]
    if offered == ["all"]:
        return ""
    links = " · ".join(f"<a href='{'/' if key == 'all' else '/?view=' + key}'"
                       + (" aria-current='page' class='current'" if key == view else "")
                       + f">{escape(VIEWS[key][0])}</a>" for key in offered)
    about = ("" if view == "all" else
             " <span class='view-note'>The table compares the best closed model of US labs with the best open "
             "model of Chinese labs (organisation to country: forecasts/data/organisations.toml). Forecasts are "
             "made for all models only, so trend and catch-up are left out here; the cards below are of all "
             "models.</span>")
    return f"<nav class='view-toggle' aria-label='Summary view'>View: {links}.{about}</nav>"


def _valid(gen: str, filters: Filters) -> bool:
    try:
        who_leads.checked(gen, filters)
    except BadRequest:
        return False
    return True


def _forecast(domain: str) -> tuple[dict[str, Any] | None, bool]:
    """The domain's stored score-gap forecast (None while pending) and whether it is being recomputed."""
    raw, updating = forecast_entry("domain", domain, "score_gap")
    return (json.loads(raw)["forecast"] if raw else None), updating


def _scale(bench: dict[str, Any] | None) -> float | None:
    scale = (bench or {}).get("scale")
    return float(scale) if isinstance(scale, int | float) and not isinstance(scale, bool) else None


def _card(gen: str, row: dict[str, Any], series: list[dict[str, Any]], forecast: dict[str, Any] | None,
          updating: bool, benches: dict[str, dict[str, Any]]) -> str:
    primary = row.get("primary_benchmark")
    primary_points = store().read_json(keys.gen_benchmark_series(gen, primary)) or [] if primary else []
    bench = benches.get(primary or "") or {}
    margin = bench.get("tie_margin")
    card = domain_card(row, series, forecast, primary_points, str(bench.get("name") or primary or "no benchmark"),
                       primary_unit=str(bench.get("unit") or "score"), primary_scale=_scale(bench),
                       primary_margin=float(margin) if isinstance(margin, int | float) else None)
    return _with_notes(card, _forecast_notes(forecast, updating))


def _track_record(gen: str, rows: list[dict[str, Any]], series: dict[str, list[dict[str, Any]]]) -> str:
    """The track-record section, read through forecasts.publishing.track_record as `GET /v1/track-record` does: the
    backtest and the live entries scored apart, so each figure is labelled with where it comes from."""
    r = store().r
    domains = [row["domain"] for row in rows]
    by_source = {"backtest": [e for e in track_record.read_backtest(r) if e.domain in series],
                 "live": track_record.read_archive(r, domains)}
    scored, counts = {}, {}
    for source, entries in by_source.items():
        if not entries:
            continue
        ordered = sorted(entries, key=lambda e: (e.made, e.domain, e.metric))
        scored[source] = track_record.score(ordered, series)
        # forecasts per domain: one per date (both metrics of a date are one published forecast)
        counts[source] = {d: len({e.made for e in entries if e.domain == d}) for d in domains}
    return track_record_table(scored, [(row["domain"], str(row.get("name") or row["domain"])) for row in rows],
                              counts)


def _age_text(fresh: dict[str, Any]) -> str:
    """`data as of 2026-07-09 (146 days old)`: the newest data point, not when it was loaded."""
    if not fresh["data_as_of"]:
        return "no dated data yet"
    days = fresh["data_age_days"]
    return (f"data as of <span class='data-as-of'>{escape(fresh['data_as_of'])}</span> "
            f"(<span class='data-age'>{days} day{'' if days == 1 else 's'} old</span>)")


def _stale_banner(gen: str, fresh: dict[str, Any]) -> str:
    """A plain banner when the newest data point is older than GAPCAST_STALE_AFTER_DAYS, naming each source's
    newest data; "" otherwise."""
    if not fresh["stale"]:
        return ""
    sources = generation_freshness(store(), gen).sources
    per = "; ".join(f"{escape(src)}: {escape(d.isoformat())}" for src, d in sorted(sources.items()))
    return (f"<div class='banner banner-stale' role='status'><strong>Stale data.</strong> The newest data point is "
            f"{fresh['data_age_days']} days old (from {escape(fresh['data_as_of'])}; stale after "
            f"{fresh['stale_after_days']} days). Gaps and forecasts below describe that date, not today. "
            f"Newest data per source: {per or 'none'}. Check the sources' status at "
            f"<a href='/v1/sources'>/v1/sources</a>.</div>")


def _forecast_notes(forecast: dict[str, Any] | None, updating: bool) -> list[str]:
    notes = []
    if updating:
        notes.append("<p class='note note-updating'>Updating: new data arrived and this forecast is being "
                     "recomputed; the previous one is shown meanwhile.</p>")
    p50 = ((forecast or {}).get("catch_up") or {}).get("p50")
    if overdue(p50, today()):
        notes.append(f"<p class='note note-overdue'>Overdue: the median catch-up date ({escape(str(p50))}) has "
                     f"passed and the data does not show the catch-up.</p>")
    return notes


def _with_notes(card: str, notes: list[str]) -> str:
    """`card` with `notes` placed right under its header."""
    if not notes:
        return card
    at = card.find("</header>")
    at = at + len("</header>") if at >= 0 else len(card)
    return card[:at] + "".join(notes) + card[at:]


@bp.route("/docs")
@bp.arguments(NoQuery(), location="query", error_status_code=400)
@bp.response(200, description="A readable reference of every endpoint, generated from the OpenAPI document.",
             content_type="text/html")
def docs(_query: dict[str, Any]) -> Response:
    """The API reference, rendered from `/openapi.json`."""
    spec = current_app.extensions["gapcast.api"].spec.to_dict()
    rows = []
    for path, ops in sorted(spec.get("paths", {}).items()):
        for method, op in ops.items():
            if not isinstance(op, dict):  # path-level "parameters"
                continue
            params = ", ".join(f"<code>{escape(p['name'])}</code>" + (f": {escape(p.get('description', ''))}"
                               if p.get("description") else "") for p in op.get("parameters", [])
                               if isinstance(p, dict) and "name" in p)
            rows.append(f"<tr><td><code>{escape(method.upper())} {escape(path)}</code></td>"
                        f"<td>{escape(op.get('summary', ''))}</td><td>{params or '-'}</td></tr>")
    body = ("<h1>gapcast API</h1><p class='lede'>Every answer is JSON (<code>?format=csv</code> where it is a "
            "table); errors are <code>{\"ok\": false, \"error\", \"errors\", \"status\"}</code>. Machine-readable: "
            "<a href='/openapi.json'>/openapi.json</a>.</p><table class='api'><tr><th>endpoint</th><th>what</th>"
            "<th>query parameters</th></tr>" + "".join(rows) + "</table>")
    return _page("gapcast API", body)
