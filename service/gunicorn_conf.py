"""gunicorn settings for production: `gunicorn -c python:service.gunicorn_conf 'service:create_app()'`.

The same worker class and limits as `gapcast up` (service/server.py: gevent workers that keep serving
under slow clients, JSON bodies for gunicorn's own refusals). Set PROMETHEUS_MULTIPROC_DIR to an empty
folder first so /metrics aggregates every worker.
"""

from service.server import gunicorn_options

_options = gunicorn_options()

bind = "0.0.0.0:8000"
workers = 2
worker_class = _options["worker_class"]
worker_connections = _options["worker_connections"]
keepalive = _options["keepalive"]
limit_request_line = _options["limit_request_line"]
limit_request_fields = _options["limit_request_fields"]
limit_request_field_size = _options["limit_request_field_size"]
graceful_timeout = _options["graceful_timeout"]
timeout = _options["timeout"]
child_exit = _options["child_exit"]
accesslog = "-"

__all__ = ["accesslog", "bind", "child_exit", "graceful_timeout", "keepalive", "limit_request_field_size",
           "limit_request_fields", "limit_request_line", "timeout", "worker_class", "worker_connections", "workers"]
