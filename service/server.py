"""Run the API under gunicorn in-process (used by `gapcast up` and `gapcast api`), and the worker class the
production config (service/gunicorn_conf.py) uses too.

Why gevent workers: gunicorn's threaded and sync workers give each connection a thread from the moment it
is accepted, so a few clients that send their headers slowly (slow loris) hold every thread and the API
stops answering anyone. gunicorn's documentation names the two real fixes: a buffering proxy in front, or
an asynchronous worker. gevent's worker costs a greenlet per connection (up to `worker_connections` per
worker) and bounds the time to read a request's headers (`keepalive` seconds, HEADER_TIMEOUT_S), so slow
clients wait on their own while every other request is served. The app itself does short Redis reads and
no CPU-heavy work in requests (forecasts are never computed in a request), which suits greenlets.

`JsonErrorWorker` also answers the requests gunicorn refuses before Flask sees them (request line or
headers too long, too many headers, bytes that are not HTTP) with the API's one JSON error body instead of
gunicorn's HTML page.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import warnings
from collections.abc import Callable
from http import HTTPStatus
from pathlib import Path
from typing import Any

from flask import Flask
from gevent.monkey import MonkeyPatchWarning
from gunicorn import util
from gunicorn.app.base import BaseApplication
from gunicorn.http import errors as http_errors
from gunicorn.workers.ggevent import GeventWorker

from service.errors import error_document

WORKER_CLASS = "service.server.JsonErrorWorker"
WORKER_CONNECTIONS = 1000  # per worker: open connections (slow or not) beyond this wait in the listen backlog
HEADER_TIMEOUT_S = 5  # gunicorn's `keepalive`: the gevent worker drops a client whose headers take longer
REQUEST_LINE_LIMIT = 4094  # gunicorn's defaults, stated so the error messages can name them
HEADER_FIELDS_LIMIT = 100
HEADER_FIELD_SIZE_LIMIT = 8190

logger = logging.getLogger(__name__)


def gunicorn_options() -> dict[str, Any]:
    """The settings shared by `gapcast up`/`gapcast api` and service/gunicorn_conf.py."""
    return {
        "worker_class": WORKER_CLASS,
        "worker_connections": WORKER_CONNECTIONS,
        "keepalive": HEADER_TIMEOUT_S,
        "limit_request_line": REQUEST_LINE_LIMIT,
        "limit_request_fields": HEADER_FIELDS_LIMIT,
        "limit_request_field_size": HEADER_FIELD_SIZE_LIMIT,
        "graceful_timeout": 10,
        "timeout": 30,
        "child_exit": child_exit,
    }


class GunicornServer(BaseApplication):
    """gunicorn with a fixed config and an app factory called in each worker (after fork, so every
    worker opens its own Redis connections)."""

    def __init__(self, factory: Callable[[], Flask], options: dict[str, Any]) -> None:
        self.factory = factory
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self) -> Flask:
        return self.factory()


def prepare_metrics_dir(path: Path) -> None:
    """Use `path` (emptied) for prometheus multiprocess metrics. Call before prometheus_client is imported:
    it picks its storage mode at import."""
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(path)


def child_exit(_server: Any, worker: Any) -> None:
    """gunicorn hook: drop a dead worker's live gauges from the shared metrics files."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def serve(factory: Callable[[], Flask], *, host: str, port: int, workers: int, threads: int | None = None) -> None:
    """Serve until SIGINT/SIGTERM; gunicorn then stops its workers gracefully and this returns via SystemExit.

    `threads` None (what gapcast serves): gevent workers. A number: gunicorn's threaded worker with that many
    threads instead, only for comparisons (benchmarks); it does not withstand slow clients."""
    threaded = {} if threads is None else {"worker_class": "gthread", "threads": threads}
    GunicornServer(factory, {
        **gunicorn_options(),
        **threaded,
        "bind": f"{host}:{port}",
        "workers": workers,
        "accesslog": None,
        "errorlog": "-",
        "loglevel": "warning",
    }).run()


# --- errors gunicorn answers itself ---------------------------------------------------------------------


def refusal(exc: BaseException) -> tuple[int, str, list[dict[str, str]]]:
    """(status, message, errors) for an exception raised while gunicorn parsed a request (or any other
    failure outside the app: 500 without details)."""
    if isinstance(exc, http_errors.LimitRequestLine):
        return 414, f"the request line is longer than {REQUEST_LINE_LIMIT} bytes", [
            {"field": "request line", "message": f"at most {REQUEST_LINE_LIMIT} bytes"}]
    if isinstance(exc, http_errors.LimitRequestHeaders):
        return 431, "the request headers are too large or too many", [
            {"field": "headers", "message": f"at most {HEADER_FIELDS_LIMIT} headers of at most "
                                            f"{HEADER_FIELD_SIZE_LIMIT} bytes each"}]
    if isinstance(exc, http_errors.UnsupportedTransferCoding):
        return 501, "unsupported transfer coding", [{"field": "Transfer-Encoding", "message": "not supported"}]
    if isinstance(exc, http_errors.ExpectationFailed):
        return 417, "unsupported Expect header", [{"field": "Expect", "message": "only 100-continue"}]
    if isinstance(exc, http_errors.ForbiddenProxyRequest):
        return 403, "forbidden", []
    if isinstance(exc, http_errors.ParseException) and not isinstance(exc, http_errors.ConfigurationProblem):
        return 400, "malformed HTTP request", [{"field": "request", "message": _what(exc)}]
    return 500, "Internal Server Error", []


def _what(exc: BaseException) -> str:
    """A fixed description per parse error (gunicorn's own text echoes the client's bytes)."""
    names = {"InvalidRequestLine": "invalid request line", "InvalidRequestMethod": "invalid method",
             "InvalidHTTPVersion": "invalid HTTP version", "InvalidHeader": "invalid header",
             "InvalidHeaderName": "invalid header name", "ObsoleteFolding": "obsolete header folding",
             "InvalidChunkSize": "invalid chunk size", "ChunkMissingTerminator": "chunk missing its terminator",
             "InvalidChunkExtension": "invalid chunk extension"}
    return names.get(type(exc).__name__, "not a valid HTTP/1.1 request")


def refusal_bytes(status: int, message: str, errors: list[dict[str, str]]) -> bytes:
    """A whole HTTP/1.1 response carrying the API's JSON error body; the connection is closed after it."""
    body = json.dumps(error_document(status, message, errors), separators=(",", ":")).encode()
    head = (f"HTTP/1.1 {status} {HTTPStatus(status).phrase}\r\nConnection: close\r\n"
            f"Content-Type: application/json\r\nCache-Control: no-store\r\nContent-Length: {len(body)}\r\n\r\n")
    return head.encode("latin-1") + body


class JsonErrorWorker(GeventWorker):
    """gunicorn's gevent worker, answering its own refusals in the JSON error shape."""

    def patch(self) -> None:
        # The master imported ssl before forking (redis, urllib3), so gevent warns that modules holding
        # direct references to ssl classes (urllib3.util.ssl_, redis.asyncio) keep unpatched ones. Workers
        # use neither for TLS: Redis over TLS goes through redis.connection's (patched) ssl module, tested in
        # tests/test_http_hardening.py. The warning would only be noise at every start.
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", category=MonkeyPatchWarning)
            super().patch()

    def handle_error(self, req: Any, client: Any, addr: Any, exc: BaseException) -> None:
        status, message, errors = refusal(exc)
        if status >= 500:
            self.log.exception("error outside the app")
        else:  # a bad client: one line, without the bytes it sent
            self.log.warning("refused a request from %s: %s (%d)", (addr or ("unix",))[0], type(exc).__name__,
                             status)
        try:
            util.write_nonblock(client, refusal_bytes(status, message, errors))
        except Exception:
            self.log.debug("could not send the error response")
