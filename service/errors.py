"""One JSON error shape for every 4xx and 5xx: `{"ok": false, "error", "errors", "status"}`.

`error` is a sentence for people, `errors` a list of `{"field"?, "message"}` for programs (e.g. which
query parameter was wrong). A 500 never carries the exception text: it is logged with its traceback.
"""

from __future__ import annotations

import logging
from typing import Any

import redis
from flask import Flask, Response, jsonify
from werkzeug.exceptions import HTTPException

from forecasts.storage.store import StoreError

logger = logging.getLogger(__name__)


class ApiError(Exception):
    """An error with an HTTP status; raise it from any view."""

    status = 400

    def __init__(self, message: str, errors: list[dict[str, Any]] | None = None, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.errors = errors or []
        if status is not None:
            self.status = status


class NotFound(ApiError):
    status = 404


class BadRequest(ApiError):
    status = 400


class Unavailable(ApiError):
    status = 503


def error_document(status: int, message: str, errors: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """The canonical error body as a dict (also written by the gunicorn worker for errors outside Flask)."""
    return {"ok": False, "error": message, "errors": errors or [], "status": status}


def error_response(status: int, message: str, errors: list[dict[str, Any]] | None = None) -> Response:
    """The canonical error body with `status`."""
    resp = jsonify(error_document(status, message, errors))
    resp.status_code = status
    resp.headers["Cache-Control"] = "no-store"
    return resp


def register_error_handlers(app: Flask) -> None:
    """Route every error through `error_response`."""
    app.register_error_handler(ApiError, _handle_api_error)
    app.register_error_handler(HTTPException, _handle_http_exception)
    app.register_error_handler(redis.RedisError, _handle_redis_error)
    app.register_error_handler(StoreError, _handle_store_error)
    app.register_error_handler(Exception, _handle_unexpected)


def _handle_api_error(exc: ApiError) -> Response:
    return error_response(exc.status, exc.message, exc.errors)


def _handle_http_exception(exc: HTTPException) -> Response:
    status = exc.code or 500
    errors = _validation_errors(exc)
    message = "invalid request parameters" if errors else (exc.description or exc.name)
    if status == 404 and not errors:
        message = "no such resource"
    resp = error_response(status, message, errors)
    for name, value in exc.get_headers():
        if name.lower() == "allow":  # 405 must say which methods are allowed
            resp.headers[name] = value
    return resp


def _validation_errors(exc: HTTPException) -> list[dict[str, Any]]:
    """Webargs/marshmallow messages ({location: {field: [msg]}}) as a flat list naming each parameter."""
    data = getattr(exc, "data", None)
    messages = data.get("messages") if isinstance(data, dict) else None
    out: list[dict[str, Any]] = []
    if not isinstance(messages, dict):
        return out
    for location, fields in messages.items():
        if not isinstance(fields, dict):
            continue
        for field, msgs in fields.items():
            for msg in msgs if isinstance(msgs, list) else [msgs]:
                out.append({"location": location, "field": field, "message": str(msg)})
    return out


def _handle_redis_error(exc: redis.RedisError) -> Response:
    logger.warning("redis unavailable: %s", type(exc).__name__)
    return error_response(503, "the data store is unavailable; try again shortly")


def _handle_store_error(exc: StoreError) -> Response:
    return error_response(503, str(exc))


def _handle_unexpected(exc: Exception) -> Response:
    logger.exception("unhandled error")
    return error_response(500, "Internal Server Error")
