"""Liveness and readiness."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import redis
from flask import Response

from service.errors import error_response
from service.http import json_response, store
from service.views.params import Blueprint, NoQuery

bp = Blueprint("health", __name__, description="Liveness and readiness probes.")


@bp.route("/healthz")
@bp.arguments(NoQuery(), location="query", error_status_code=400)
@bp.response(200, description="The process is alive (does not touch Redis).")
def healthz(_query: dict[str, Any]) -> Response:
    """Process alive."""
    return json_response({"status": "alive"})


@bp.route("/readyz")
@bp.arguments(NoQuery(), location="query", error_status_code=400)
@bp.response(200, description="Redis answers and data is loaded; reports the data age.")
@bp.alt_response(503, description="Redis unreachable or no data loaded yet.")
def readyz(_query: dict[str, Any]) -> Response:
    """Ready to serve: Redis reachable and a data generation loaded."""
    s = store()
    try:
        s.r.ping()
        gen = s.current_generation()
        meta = s.read_meta(gen) if gen else {}
    except redis.RedisError:
        return error_response(503, "the data store is unavailable", [{"check": "redis", "message": "no answer"}])
    if gen is None:
        return error_response(503, "no data loaded yet", [{"check": "data", "message": "run `gapcast load`"}])
    created = datetime.fromisoformat(meta["created_at"]) if meta.get("created_at") else None
    age_s = (s.now() - created).total_seconds() if created else None
    return json_response({"status": "ready", "generation": gen, "as_of": meta.get("as_of") or None,
                          "data_age_seconds": None if age_s is None else round(age_s, 1)})
