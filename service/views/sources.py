"""Sources and events: how each source's pulls are going, and what changed at recent refreshes."""

from __future__ import annotations

from typing import Any

from flask import Response, current_app
from marshmallow import Schema, fields, validate

from forecasts.activity import events, source_status
from service.credit import catalogued_sources, providers
from service.http import json_response, store
from service.views.params import Blueprint, NoQuery

bp = Blueprint("sources", __name__, url_prefix="/v1", description="Source health and change events.")


class EventsQuery(Schema):
    limit = fields.Integer(load_default=100, validate=validate.Range(min=1, max=1000),
                           metadata={"description": "Newest N events, 1-1000."})
    kind = fields.String(load_default=None, validate=validate.OneOf([k.value for k in events.EventKind]),
                         metadata={"description": "Only events of this kind."})


@bp.route("/sources")
@bp.arguments(NoQuery(), location="query", error_status_code=400)
@bp.response(200, description="Per source: on/off, last success, last error, consecutive failures, rows.")
def list_sources(_query: dict[str, Any]) -> Response:
    """Every source's pull status."""
    enabled = source_status.enabled_sources(current_app.extensions["gapcast.settings"])
    rows = [{**row, "enabled": row["source"] in enabled}
            for row in source_status.all_statuses(store(), source_status.SOURCE_IDS)]
    return json_response({"sources": rows})


@bp.route("/events")
@bp.arguments(EventsQuery(), location="query", as_kwargs=True, error_status_code=400)
@bp.response(200, description="Recent events, newest first.")
def list_events(limit: int, kind: str | None) -> Response:
    """What changed at recent refreshes: frontiers, gaps, catch-ups, forecast moves, failing sources."""
    rows = events.recent(store(), 1000 if kind else limit)
    if kind:
        rows = [r for r in rows if r["kind"] == kind][:limit]
    return json_response({"events": rows}, credit=True)


@bp.route("/credit")
@bp.arguments(NoQuery(), location="query", error_status_code=400)
@bp.response(200, description="Who published the data gapcast serves, under which terms, and how to credit it.")
def credit(_query: dict[str, Any]) -> Response:
    """The publishers to credit (name, licence, URL, attribution line) and the captures the bundled data comes
    from, each with its publisher. Every answer carrying source data links here (`Link: rel="license"` on CSV)."""
    return json_response({"credit": providers(), "sources": catalogued_sources()})
