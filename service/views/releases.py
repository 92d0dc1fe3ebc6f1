"""Admin: `POST /v1/releases`, new scores pushed by an operator (a bearer token is required)."""

from __future__ import annotations

import hmac

from flask import Response, current_app, request

from forecasts.records.canonical import InvalidInput
from forecasts.storage.ingest import load_records
from forecasts.storage.store import ConcurrentRefresh, StoreBusy
from service.errors import ApiError, error_response
from service.http import json_body, json_response, store
from service.views.params import Blueprint

bp = Blueprint("releases", __name__, url_prefix="/v1/releases", description="Push new releases (admin).")

BODY_DOC = {"required": True, "content": {"application/json": {"schema": {"type": "array", "items": {
    "type": "object", "required": ["model", "organization", "release_date", "access", "benchmark", "score"],
    "properties": {k: {"type": "string"} for k in ("model", "organization", "release_date", "access", "benchmark",
                                                    "source")} | {"score": {"type": "number"},
                                                                  "stderr": {"type": "number"}}}}}}}


def require_admin() -> None:
    """Raise 403 when the admin API is off, 401 without the right bearer token (constant-time compare)."""
    token = current_app.extensions["gapcast.settings"].admin_token
    if not token:
        raise ApiError("the admin API is off: set GAPCAST_ADMIN_TOKEN", status=403)
    scheme, _, given = (request.headers.get("Authorization") or "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), token.encode()):
        raise ApiError("a valid admin token is required (Authorization: Bearer <token>)",
                       [{"field": "Authorization", "message": "missing or wrong bearer token"}], status=401)


@bp.route("", methods=["POST"])
@bp.doc(requestBody=BODY_DOC, security=[{"bearerAuth": []}])
@bp.response(202, description="Stored: the records are in the current generation (applied on top of the latest "
                              "one); forecasts follow within seconds (scheduler).")
@bp.alt_response(400, description="A record is invalid; nothing was stored.")
@bp.alt_response(401, description="Missing or wrong admin token.")
@bp.alt_response(403, description="The admin API is off.")
@bp.alt_response(413, description="The body is larger than 1 MiB.")
@bp.alt_response(503, description="Other writes held the store for the whole bounded wait (GAPCAST_WRITE_WAIT_S); "
                                  "nothing was stored, retry after Retry-After seconds.")
def post_releases() -> Response:
    """New scores in the canonical JSON format (a list of score records), validated like any source."""
    require_admin()
    raw = json_body()
    domains = current_app.extensions["gapcast.domains"]
    try:
        result = load_records(store(), domains, raw, "json", "POST /v1/releases", source="releases")
    except InvalidInput as exc:
        raise ApiError("invalid records: nothing was stored",
                       [{"record": p.where, "field": p.field, "message": p.message} for p in exc.problems]) from None
    except (StoreBusy, ConcurrentRefresh) as exc:  # nothing was stored: say so, and when to retry
        resp = error_response(503, str(exc), [{"check": "write", "message": "nothing was stored"}])
        resp.headers["Retry-After"] = str(exc.retry_after_s if isinstance(exc, StoreBusy) else 1)
        return resp
    return json_response({**result.to_dict(), "forecasts": "pending" if result.changed else "unchanged"},
                         status=202)
