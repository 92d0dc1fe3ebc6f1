"""Pages for people: the dashboard (`/`) and the API reference (`/docs`). Server-rendered, no CDN."""

from __future__ import annotations

import json
from html import escape
from typing import Any

from flask import Response, current_app

from forecasts import keys
from forecasts.freshness import generation_freshness, overdue
from service.charts import CARD_CSS, domain_card
from service.credit import footer_html
from service.forecast_docs import data_freshness, forecast_entry, today
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
.banner { border: 1px solid #c9a227; background: #fff6d6; padding: 10px 12px; margin: 0 0 16px; border-radius: 4px; }
.note { margin: 4px 0; padding: 4px 8px; border-left: 4px solid #c9a227; background: #fffbea; }
footer.credit { color: #444; font-size: 13px; margin: 24px 0 8px; overflow-wrap: anywhere; }
"""


def _page(title: str, body: str, tag: str | None = None) -> Response:
    html = (f"<!doctype html><html lang='en'><head><meta charset='utf-8'>"
            f"<meta name='viewport' content='width=device-width, initial-scale=1'><title>{escape(title)}</title>"
            f"<style>{PAGE_CSS}{CARD_CSS}</style></head><body><main>{body}{footer_html()}</main></body></html>")
    if tag is None:
        return Response(html, mimetype="text/html")
    return raw_response(html, tag, mimetype="text/html")


@bp.route("/")
@bp.arguments(NoQuery(), location="query", error_status_code=400)
@bp.response(200, description="The dashboard: per domain, frontiers, gap with forecast fan, catch-up odds.",
             content_type="text/html")
def dashboard(_query: dict[str, Any]) -> Response:
    """Per domain: closed and open frontier lines, the gap with its forecast, the catch-up distribution."""
    gen, tag = current()
    if etag_matches(tag):
        return not_modified(tag)
    cards = [_card(gen, row) for row in domain_rows(gen)]
    fresh = data_freshness(gen)
    body = (f"<h1>gapcast: how far behind are open-weight models?</h1>"
            f"<p class='lede'>Per capability, the best closed vs the best open model, {_age_text(fresh)} "
            f"(generation {escape(gen)}). Forecasts are 80% intervals. <a href='/docs'>API</a></p>"
            + _stale_banner(gen, fresh) + "".join(cards))
    return _page("gapcast dashboard", body, tag)


def _card(gen: str, row: dict[str, Any]) -> str:
    s = store()
    series = s.read_json(keys.gen_domain_series(gen, row["domain"])) or []
    primary = row.get("primary_benchmark")
    primary_points = s.read_json(keys.gen_benchmark_series(gen, primary)) or [] if primary else []
    unit = "score"
    if primary:
        for b in s.read_json(keys.gen_benchmark_summary(gen)) or []:
            if b["benchmark"] == primary:
                unit = b["unit"]
    raw, updating = forecast_entry("domain", row["domain"], "score_gap")
    forecast = json.loads(raw)["forecast"] if raw else None
    card = domain_card(row, series, forecast, primary_points, primary or "no benchmark", primary_unit=unit)
    return _with_notes(card, _forecast_notes(forecast, updating))


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
