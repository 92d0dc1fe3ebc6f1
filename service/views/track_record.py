"""The forecast track record: past domain forecasts scored against what happened since."""

from __future__ import annotations

from typing import Any

from flask import Response
from marshmallow import Schema, fields, validate

from forecasts.publishing import track_record
from forecasts.storage import keys
from service.errors import NotFound
from service.http import current, json_response, store
from service.views.params import Blueprint

bp = Blueprint("track_record", __name__, url_prefix="/v1/track-record",
               description="Past forecasts scored against what happened.")


class TrackQuery(Schema):
    domain = fields.String(load_default=None, metadata={"description": "Only this domain's forecasts."})
    source = fields.String(load_default="all", validate=validate.OneOf(["all", "live", "backtest"]),
                           metadata={"description": "live (published by this service), backtest (what the engine "
                                                    "would have published at past cut-offs) or all."})


@bp.route("")
@bp.arguments(TrackQuery(), location="query", as_kwargs=True, error_status_code=400)
@bp.response(200, description="Per domain and pooled: MAE and 80% coverage at 3/6/12 months, the catch-up "
                              "probabilities' Brier score against the base rate, and every forecast behind them.")
@bp.alt_response(404, description="Unknown domain.")
def track_record_view(domain: str | None, source: str) -> Response:
    """How gapcast's past domain forecasts did: each forecast (made from the data of date `made`) against the
    domain's series as it stands now. `backtest` entries are the engine's backtest cut-offs, labelled as such;
    `live` entries are the forecasts this service published. Not cached: live forecasts join as they are made."""
    gen, _ = current()
    summary = store().read_json(keys.gen_summary(gen)) or []
    domains = [r["domain"] for r in summary if domain is None or r["domain"] == domain]
    if domain is not None and not domains:
        raise NotFound(f"no domain {domain!r}", [{"field": "domain", "message": "unknown domain id"}])
    entries: list[track_record.Entry] = []
    if source in ("all", "backtest"):
        entries += [e for e in track_record.read_backtest(store().r) if e.domain in domains]
    if source in ("all", "live"):
        entries += track_record.read_archive(store().r, domains)
    series = {d: store().read_json(keys.gen_domain_series(gen, d)) or [] for d in domains}
    scored = track_record.score(sorted(entries, key=lambda e: (e.made, e.domain, e.metric, e.source)), series)
    counts: dict[str, Any] = {"backtest": sum(e.source == "backtest" for e in entries),
                              "live": sum(e.source == "live" for e in entries)}
    return json_response({"generation": gen, "counts": counts, **scored}, credit=True)
