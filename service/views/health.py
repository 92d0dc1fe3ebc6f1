"""Liveness and readiness."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import redis
from flask import Response, current_app

from forecasts.publishing.freshness import generation_freshness
from forecasts.publishing.outlook import pending
from service.errors import error_response
from service.http import json_response, store
from service.views.params import Blueprint, NoQuery

bp = Blueprint("health", __name__, description="Liveness and readiness probes.")


@bp.route("/healthz")
@bp.arguments(NoQuery(), location="query", error_status_code=400)
@bp.response(200, description="The process is alive; `redis` says whether Redis answers a PING right now.")
def healthz(_query: dict[str, Any]) -> Response:
    """Liveness: 200 while this process can answer, whatever Redis does (restarting the API would not bring
    Redis back; an orchestrator should stop routing to it, which is what /readyz's 503 is for). The body
    says honestly whether Redis answers: `{"status": "alive", "redis": "up" | "down"}`."""
    try:
        redis_up = bool(store().r.ping())
    except redis.RedisError:
        redis_up = False
    return json_response({"status": "alive", "redis": "up" if redis_up else "down"})


@bp.route("/readyz")
@bp.arguments(NoQuery(), location="query", error_status_code=400)
@bp.response(200, description="Redis answers and data is loaded. `data_age_seconds` is the age of the newest data "
             "point (the newest release date of a scored model, from 00:00 UTC), per source too; `stale` past "
             "GAPCAST_STALE_AFTER_DAYS; `loaded_seconds_ago` is when this generation was made; "
             "`forecasts_pending` counts series whose forecast is being computed.")
@bp.alt_response(503, description="Redis unreachable or no data loaded yet.")
def readyz(_query: dict[str, Any]) -> Response:
    """Ready to serve: Redis reachable and a data generation loaded (stale data is still ready: it says so)."""
    s = store()
    try:
        s.r.ping()
        gen = s.current_generation()
        meta = s.read_meta(gen) if gen else {}
        rollback = s.rollback()  # one line when Redis lost committed writes (None otherwise)
    except redis.RedisError:
        return error_response(503, "the data store is unavailable", [{"check": "redis", "message": "no answer"}])
    if gen is None:
        return error_response(503, "no data loaded yet", [{"check": "data", "message": "run `gapcast load`"}])
    now = s.now()
    fresh = generation_freshness(s, gen).to_dict(now, current_app.extensions["gapcast.settings"].stale_after_days)
    created = datetime.fromisoformat(meta["created_at"]) if meta.get("created_at") else None
    return json_response({"status": "ready", "generation": gen, **fresh,
                          "loaded_seconds_ago": None if created is None else round((now - created).total_seconds(), 1),
                          "forecasts_pending": len(pending(s, gen)), "rollback": rollback})
