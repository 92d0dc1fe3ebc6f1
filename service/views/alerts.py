"""Admin: alert subscriptions (`/v1/subscriptions`) and deliveries (`/v1/deliveries`). A bearer token is
required; URLs and secrets are never returned (redacted)."""

from __future__ import annotations

from typing import Any

from flask import Response, current_app
from marshmallow import Schema, fields, validate

from forecasts.activity import deliveries, subscriptions
from forecasts.records.canonical import DuplicateKeys, load_json
from service.errors import ApiError, NotFound
from service.http import json_body, json_response, store
from service.views.params import Blueprint, NoQuery
from service.views.releases import require_admin

bp = Blueprint("alerts", __name__, url_prefix="/v1", description="Alert subscriptions and deliveries (admin).")
# The token is checked before anything else, query parameters included: an unauthenticated caller learns
# nothing about what a valid request looks like.
bp.before_request(require_admin)

SUBSCRIPTION_DOC = {"required": True, "content": {"application/json": {"schema": {
    "type": "object", "required": ["kind", "url"], "properties": {
        "kind": {"type": "string", "enum": list(subscriptions.KINDS)}, "url": {"type": "string"},
        "secret": {"type": "string"}, "domains": {"type": "array", "items": {"type": "string"}},
        "events": {"type": "array", "items": {"type": "string"}}, "min_change": {"type": "number"}}}}}}


class DeliveriesQuery(Schema):
    limit = fields.Integer(load_default=100, validate=validate.Range(min=1, max=1000))
    status = fields.String(load_default=None, validate=validate.OneOf([s.value for s in deliveries.DeliveryStatus]))


@bp.route("/subscriptions", methods=["POST"])
@bp.doc(requestBody=SUBSCRIPTION_DOC, security=[{"bearerAuth": []}])
@bp.response(201, description="Created; the answer shows the URL redacted.")
@bp.alt_response(400, description="Invalid subscription (each bad field named).")
@bp.alt_response(401, description="Missing or wrong admin token.")
@bp.alt_response(403, description="The admin API is off (GAPCAST_ADMIN_TOKEN is not set).")
def create_subscription() -> Response:
    """Subscribe a channel to events."""
    try:
        body = load_json(json_body())
    except DuplicateKeys as exc:
        raise ApiError("the body names a field twice", [{"field": k, "message": "given more than once"}
                                                       for k in exc.keys]) from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise ApiError("the body must be a JSON object", [{"field": "body", "message": str(exc)[:200]}]) from None
    settings = current_app.extensions["gapcast.settings"]
    try:
        sub = subscriptions.validate(body, allow_private=settings.allow_private_webhooks,
                                     known_domains=set(current_app.extensions["gapcast.domains"]),
                                     now=store().now().isoformat())
    except subscriptions.SubscriptionError as exc:
        raise ApiError("invalid subscription", exc.errors) from None
    subscriptions.save(store(), sub)
    return json_response({"subscription": sub.public()}, status=201)


@bp.route("/subscriptions", methods=["GET"])
@bp.arguments(NoQuery(), location="query", error_status_code=400)
@bp.response(200, description="Every subscription, URLs redacted.")
@bp.alt_response(401, description="Missing or wrong admin token.")
@bp.alt_response(403, description="The admin API is off (GAPCAST_ADMIN_TOKEN is not set).")
def list_subscriptions(_query: dict[str, Any]) -> Response:
    """Subscriptions."""
    return json_response({"subscriptions": [s.public() for s in subscriptions.list_all(store())]})


@bp.route("/subscriptions/<sub_id>", methods=["DELETE"])
@bp.response(200, description="Deleted.")
@bp.alt_response(404, description="No such subscription.")
@bp.alt_response(401, description="Missing or wrong admin token.")
@bp.alt_response(403, description="The admin API is off (GAPCAST_ADMIN_TOKEN is not set).")
def delete_subscription(sub_id: str) -> Response:
    """Unsubscribe."""
    if not subscriptions.delete(store(), sub_id):
        raise NotFound(f"no subscription {sub_id!r}", [{"field": "subscription", "message": "unknown id"}])
    return json_response({"deleted": sub_id})


@bp.route("/deliveries", methods=["GET"])
@bp.arguments(DeliveriesQuery(), location="query", as_kwargs=True, error_status_code=400)
@bp.response(200, description="Recent deliveries, newest first, dead letters included.")
@bp.alt_response(401, description="Missing or wrong admin token.")
@bp.alt_response(403, description="The admin API is off (GAPCAST_ADMIN_TOKEN is not set).")
def list_deliveries(limit: int, status: str | None) -> Response:
    """Deliveries with their status, attempts and last error."""
    return json_response({"deliveries": deliveries.recent(store(), limit, status)})
