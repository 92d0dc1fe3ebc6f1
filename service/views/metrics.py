"""`/metrics` for Prometheus."""

from __future__ import annotations

from typing import Any

from flask import Response, current_app
from prometheus_client import CONTENT_TYPE_LATEST

from service.http import store
from service.metrics import exposition
from service.views.params import Blueprint, NoQuery

bp = Blueprint("metrics", __name__, description="Prometheus metrics.")


@bp.route("/metrics")
@bp.arguments(NoQuery(), location="query", error_status_code=400)
@bp.response(200, description="Prometheus text format: domain gauges, data age, request counts and latencies.",
             content_type="text/plain")
def metrics(_query: dict[str, Any]) -> Response:
    """Metrics in the Prometheus text exposition format."""
    body = exposition(store(), current_app.extensions["gapcast.metrics_registry"])
    return Response(body, mimetype=CONTENT_TYPE_LATEST.split(";")[0], headers={"Cache-Control": "no-store"})
