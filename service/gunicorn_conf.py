"""gunicorn settings for production: `gunicorn -c python:service.gunicorn_conf 'service:create_app()'`.

Set PROMETHEUS_MULTIPROC_DIR to an empty folder first so /metrics aggregates every worker.
"""

from service.server import child_exit

bind = "0.0.0.0:8000"
workers = 2
threads = 4
worker_class = "gthread"
graceful_timeout = 10
timeout = 30
accesslog = "-"

__all__ = ["accesslog", "bind", "child_exit", "graceful_timeout", "threads", "timeout", "worker_class", "workers"]
