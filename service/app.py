"""gapcast HTTP service: the Flask app factory (`service.create_app` re-exports it lazily).

`create_app` builds the app; nothing is created or connected at import time. The Redis client is made
inside the factory (or handed in by tests) with short timeouts, so a Redis outage answers 503 at once.
"""

from __future__ import annotations

import logging
import os
from dataclasses import replace
from typing import Any

import redis
from flask import Flask, request
from flask_smorest import Api

from forecasts.measure.domains import load_domains
from forecasts.settings import Settings
from forecasts.storage.connection import client_for
from forecasts.storage.store import rollback_notice, store_for
from service import forecast_docs
from service.errors import BadRequest, register_error_handlers
from service.http import init_response_cache
from service.metrics import DomainCollector, RequestMetrics, metrics_registry
from service.views import blueprints
from service.views.params import ErrorSchema

logger = logging.getLogger(__name__)

API_SOCKET_TIMEOUT_S = 1.0  # a request never waits longer than this on Redis (503 instead of a hang)
API_RETRY_S = 0.3  # reconnect backoff a request may spend (a restart or failover is a 503, not a hang)
MAX_CONTENT_LENGTH = 1 << 20  # request bodies over 1 MiB get 413


def create_app(settings: Settings | None = None, *, client: redis.Redis | None = None,
               config: dict[str, Any] | None = None) -> Flask:
    """Build the gapcast Flask app.

    `settings` default to the environment (`Settings.from_env`, which raises SettingsError; a bad domain
    file raises DomainConfigError); `client`
    overrides the Redis connection (it must already point at the right server; `gapcast up` passes the
    embedded server's). Raises ValueError when neither a client nor `GAPCAST_REDIS_URL` is given.
    """
    settings = settings or Settings.from_env(os.environ)
    app = Flask(__name__)
    app.config.update(
        API_TITLE="gapcast",
        API_VERSION="1",
        OPENAPI_VERSION="3.0.3",
        OPENAPI_URL_PREFIX="/",
        OPENAPI_JSON_PATH="openapi.json",
        MAX_CONTENT_LENGTH=MAX_CONTENT_LENGTH,
        JSON_SORT_KEYS=False,
    )
    app.config.update(config or {})
    if client is None:
        if not settings.redis_url:
            raise ValueError("the API needs GAPCAST_REDIS_URL (or run `gapcast up`, which starts Redis)")
        client = client_for(settings.redis_url, _api_timeouts(settings))
    app.extensions["gapcast.settings"] = settings
    app.extensions["gapcast.domains"] = load_domains(settings.domains_file)
    app.extensions["gapcast.store"] = store_for(client, settings)
    rollback_notice(app.extensions["gapcast.store"])  # one start-up line when Redis lost committed writes
    api = GapcastApi(app, spec_kwargs={"info": {"description": "Open vs closed model gaps, per capability."}})
    api.spec.components.security_scheme("bearerAuth", {"type": "http", "scheme": "bearer",
                                                       "description": "GAPCAST_ADMIN_TOKEN"})
    app.before_request(_reject_repeated_parameters)
    app.extensions["gapcast.api"] = api
    forecast_docs.init_app(app)
    registry = metrics_registry()
    if registry is not None:
        registry.register(DomainCollector(app.extensions["gapcast.store"]))
    app.extensions["gapcast.metrics_registry"] = registry
    RequestMetrics(registry).init_app(app)
    init_response_cache(app)
    register_error_handlers(app)  # after Api(): ours replace flask-smorest's handlers
    for bp in blueprints():
        api.register_blueprint(bp)
    return app


class GapcastApi(Api):
    """flask-smorest's Api, documenting gapcast's one error body."""

    ERROR_SCHEMA = ErrorSchema


def _reject_repeated_parameters() -> None:
    """`?metric=a&metric=b` is ambiguous: a 400 naming the parameter, whatever the endpoint. The OpenAPI
    document takes no parameters at all."""
    for name in request.args:
        if len(request.args.getlist(name)) > 1:
            raise BadRequest(f"query parameter {name!r} is given more than once",
                             [{"field": name, "message": "given more than once"}])
    if request.path == "/openapi.json" and request.args:
        raise BadRequest("invalid request parameters",
                         [{"field": name, "message": "Unknown field."} for name in request.args])


def _api_timeouts(settings: Settings) -> Settings:
    """The same settings with the socket timeout and the reconnect budget capped for request handling."""
    return replace(settings, redis_socket_timeout_s=min(settings.redis_socket_timeout_s, API_SOCKET_TIMEOUT_S),
                   redis_retry_s=min(settings.redis_retry_s, API_RETRY_S))
