"""Response helpers shared by the views: the store of this app, conditional GETs, JSON and CSV bodies.

Every GET that reads data is tied to one data generation: the generation id is the ETag, so a client
holding the current one gets 304, and a refresh changes every ETag at once.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Sequence
from typing import Any

from flask import Flask, Response, current_app, g, request
from gunicorn.http.errors import ParseException as _ParseException

from forecasts.store import Store, StoreError
from service.errors import ApiError
from service.lru import LRU

CACHE_CONTROL = "public, max-age=60, must-revalidate"


def store() -> Store:
    """The Store bound to this app by `create_app`."""
    s: Store = current_app.extensions["gapcast.store"]
    return s


def current() -> tuple[str, str]:
    """(generation, ETag) this request reads, resolved once per request in one Redis round trip.

    The ETag is the generation plus the forecasts version, so it changes with every refresh and when
    forecasts of the current generation are written. Raises StoreError before any load.
    """
    if "gapcast_gen" not in g:
        gen, tag = store().version()
        if gen is None:
            raise StoreError("no data loaded yet: run `gapcast load` first")
        g.gapcast_gen, g.gapcast_tag = gen, tag
    return g.gapcast_gen, g.gapcast_tag


def json_body() -> bytes:
    """The raw request body, which must be declared as JSON. Raises ApiError: 415 when it is not, 413 when
    it is longer than MAX_CONTENT_LENGTH (declared or, for a chunked body, counted while it is read: never
    truncated), 400 for a malformed or cut-off chunked body."""
    if request.mimetype != "application/json":
        raise ApiError("the body must be JSON (Content-Type: application/json)",
                       [{"field": "Content-Type", "message": f"got {request.mimetype or 'none'}"}], status=415)
    if request.content_length is not None:
        return request.get_data(cache=False)  # werkzeug: 413 for a declared length over the limit
    limit = int(current_app.config["MAX_CONTENT_LENGTH"])
    if not request.environ.get("wsgi.input_terminated"):
        return b""  # no length and a server that does not frame the body: there is no body to read
    # werkzeug's own stream stops silently at the limit (a chunked body would be cut, not refused), so the
    # server's de-chunked input is read here, one byte past the limit at most.
    return read_capped(request.environ["wsgi.input"], limit)


BODY_READ_CHUNK = 64 * 1024


def read_capped(stream: Any, limit: int) -> bytes:
    """At most `limit` bytes of `stream`; ApiError 413 when there are more, 400 when the stream is broken."""
    parts: list[bytes] = []
    size = 0
    while True:
        try:
            part = stream.read(min(BODY_READ_CHUNK, limit + 1 - size))
        except (ValueError, OSError, _ParseException) as exc:
            raise ApiError("the request body is malformed or cut off",
                           [{"field": "body", "message": type(exc).__name__}]) from None
        if not part:
            return b"".join(parts)
        size += len(part)
        if size > limit:
            raise ApiError(f"the request body is larger than {limit} bytes",
                           [{"field": "body", "message": f"at most {limit} bytes"}], status=413)
        parts.append(part)


def etag_matches(tag: str) -> bool:
    """True when the client's If-None-Match already names this version."""
    return tag in request.if_none_match or request.if_none_match.star_tag


def not_modified(tag: str) -> Response:
    resp = Response(status=304)
    _cache_headers(resp, tag)
    return resp


def json_response(payload: dict[str, Any], tag: str | None = None, status: int = 200) -> Response:
    """`{"ok": true, ...payload}` with ETag and Cache-Control when tied to a data version."""
    body = json.dumps({"ok": True, **payload}, separators=(",", ":"), allow_nan=False)
    resp = Response(body, status=status, mimetype="application/json")
    if tag is not None:
        _cache_headers(resp, tag)
    return resp


def raw_response(body: bytes | str, tag: str, mimetype: str = "application/json") -> Response:
    """Stored bytes served as they are (the fast path for cached documents)."""
    resp = Response(body, mimetype=mimetype)
    _cache_headers(resp, tag)
    return resp


def csv_response(rows: Iterable[dict[str, Any]], columns: Sequence[str], tag: str, filename: str) -> Response:
    """Rows as CSV (nested values as JSON), with the same caching headers as JSON."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([_cell(row.get(c)) for c in columns])
    resp = Response(buf.getvalue(), mimetype="text/csv")
    resp.headers["Content-Disposition"] = f'inline; filename="{filename}"'
    _cache_headers(resp, tag)
    return resp


def _cell(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, dict | list):
        return json.dumps(v, separators=(",", ":"))
    text = str(v)
    if isinstance(v, str) and text[:1] in _FORMULA_STARTS:
        return "'" + text  # a spreadsheet must not run a cell from the data as a formula (CSV injection)
    return text


_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _cache_headers(resp: Response, tag: str) -> None:
    resp.set_etag(tag)
    resp.headers["Cache-Control"] = CACHE_CONTROL


# --- whole-response cache -----------------------------------------------------------------------------
# Every GET under these prefixes is a pure function of (data version, URL): a worker that already answered
# it for the current ETag replays the bytes, skipping routing-time argument parsing and the Redis reads.
CACHED_PREFIXES = ("/v1/domains", "/v1/benchmarks", "/v1/models", "/v1/backtest")
RESPONSE_CACHE_ENTRIES = 512
RESPONSE_CACHE_MAX_BYTES = 512 * 1024


def init_response_cache(app: Flask) -> None:
    """Register the replay cache on `app` (after the metrics hooks, so replays are still counted)."""
    app.extensions["gapcast.response_cache"] = LRU(RESPONSE_CACHE_ENTRIES)
    app.before_request(_replay)
    app.after_request(_remember)


def _cacheable() -> bool:
    return request.method == "GET" and request.path.startswith(CACHED_PREFIXES)


def _replay() -> Response | None:
    if not _cacheable():
        return None
    _, tag = current()
    hit, cached = current_app.extensions["gapcast.response_cache"].get((tag, request.full_path))
    if not hit:  # only a URL that was answered 200 for this version is replayed (or 304'd) here
        return None
    if etag_matches(tag):
        return not_modified(tag)
    body, mimetype, disposition = cached
    resp = raw_response(body, tag, mimetype=mimetype)
    if disposition:
        resp.headers["Content-Disposition"] = disposition
    return resp


def _remember(resp: Response) -> Response:
    if (_cacheable() and resp.status_code == 200 and "gapcast_tag" in g and not resp.direct_passthrough
            and resp.content_length is not None and resp.content_length <= RESPONSE_CACHE_MAX_BYTES):
        current_app.extensions["gapcast.response_cache"].put(
            (g.gapcast_tag, request.full_path),
            (resp.get_data(), resp.mimetype, resp.headers.get("Content-Disposition")))
    return resp
