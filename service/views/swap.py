"""The swap question: which open models come within a gap of the closed leader on a domain, and what they cost."""

from __future__ import annotations

from typing import Any

from flask import Response
from marshmallow import Schema, fields, validate

from forecasts.measure.views import SWAP_UNIT, swap
from service import who_leads
from service.errors import BadRequest
from service.forecast_docs import data_freshness
from service.http import csv_response, current, etag_matches, json_response, not_modified
from service.views.domains import domain_row
from service.views.params import NO_CONTROL_CHARS, Blueprint

bp = Blueprint("swap", __name__, url_prefix="/v1/swap", description="Swapping a closed model for an open one.")

CSV_COLUMNS = ("model", "name", "organization", "country", "release_date", "score", "gap", "score_date",
               "price_blended", "price_input", "price_output", "output_tokens_per_second", "offer_as_of",
               "offer_source")


class SwapQuery(Schema):
    domain = fields.String(required=True, validate=[validate.Length(min=1, max=100), NO_CONTROL_CHARS],
                           metadata={"description": "Domain id (GET /v1/domains)."})
    max_gap = fields.Float(load_default=5.0, validate=validate.Range(min=0, max=100),
                           metadata={"description": f"Largest gap to the closed leader, in {SWAP_UNIT} of the "
                                                    "benchmark (a 0-100 benchmark's points; 5 = 20 Elo on a "
                                                    "400-Elo scale). Default 5."})
    benchmark = fields.String(load_default=None, validate=[validate.Length(min=1, max=100), NO_CONTROL_CHARS],
                              metadata={"description": "One of the domain's benchmarks (default: its primary "
                                                       "benchmark, the one its leaders come from)."})
    format = fields.String(load_default="json", validate=validate.OneOf(["json", "csv"]),
                           metadata={"description": "Response format: json or csv (the candidates)."})


@bp.route("")
@bp.arguments(SwapQuery(), location="query", as_kwargs=True, error_status_code=400)
@bp.response(200, description="The open candidates within max_gap of the closed leader, sorted by blended "
                              "price, with the closed leader's price and speed and how many times cheaper the "
                              "cheapest candidate is.")
@bp.alt_response(404, description="Unknown domain.")
def swap_view(domain: str, max_gap: float, benchmark: str | None, format: str) -> Response:
    """Can a closed model be swapped for an open one on this domain? The open models scoring within `max_gap`
    (% of scale) of the closed leader on the domain's primary benchmark (or `benchmark`), with their API prices
    (USD per million tokens: blended 3:1, input, output) and output speed (tokens/s) from Artificial Analysis,
    each with its date."""
    gen, tag = current()
    row = domain_row(gen, domain)  # 404 for an unknown domain
    chosen = benchmark or row.get("primary_benchmark")
    configured = row.get("configured_benchmarks") or []
    if benchmark is not None and benchmark not in configured:
        raise BadRequest(f"benchmark {benchmark!r} is not one of domain {domain!r}'s benchmarks",
                         [{"field": "benchmark", "message": f"one of {', '.join(configured)}"}])
    if etag_matches(tag):
        return not_modified(tag)
    bg = who_leads.gaps(gen).get(chosen) if chosen else None
    if bg is None or chosen is None:
        answer: dict[str, Any] = {"benchmark": chosen, "gap_unit": SWAP_UNIT, "max_gap": max_gap,
                                  "closed_leader": None, "candidates": [], "cheapest": None}
    else:
        answer = who_leads.swap_answer(gen, chosen, max_gap, lambda: swap(who_leads.dataset(gen), bg, max_gap))
    if format == "csv":
        return csv_response(answer["candidates"], CSV_COLUMNS, tag, f"swap-{domain}.csv")
    return json_response({"generation": gen, **data_freshness(gen), "domain": domain,
                          "primary_benchmark": row.get("primary_benchmark"), **answer}, tag)
