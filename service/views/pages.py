"""Pages for people: the dashboard (`/`) and the API reference (`/docs`). Server-rendered, no CDN."""

from __future__ import annotations

from html import escape
from typing import Any

from flask import Response, current_app

from forecasts import keys
from service.charts import CARD_CSS, domain_card
from service.credit import footer_html
from service.forecast_docs import forecast_dict
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
    as_of = max((r["as_of"] for r in domain_rows(gen) if r["as_of"]), default="-")
    body = (f"<h1>gapcast: how far behind are open-weight models?</h1>"
            f"<p class='lede'>Per capability, the best closed vs the best open model, data as of {escape(as_of)} "
            f"(generation {escape(gen)}). Forecasts are 80% intervals. <a href='/docs'>API</a></p>" + "".join(cards))
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
    return domain_card(row, series, forecast_dict("domain", row["domain"], "score_gap"), primary_points,
                       primary or "no benchmark", primary_unit=unit)


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
