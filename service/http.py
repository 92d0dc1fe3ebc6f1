"""Response helpers shared by the views: the store of this app, conditional GETs, JSON and CSV bodies.

Every GET that reads data is tied to one data generation: the generation id is the ETag, so a client
holding the current one gets 304, and a refresh changes every ETag at once.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Sequence
from datetime import UTC
from typing import Any
from urllib.parse import urlencode

from flask import Flask, Response, current_app, g, request
from gunicorn.http.errors import ParseException as _ParseException

from forecasts.storage.store import Store, StoreError
from service.credit import CREDIT_PATH, add_csv_credit, providers
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
    forecasts of the current generation are written, plus the store clock's UTC day: answers carry
    day-sized facts (the data's age in days, stale, a catch-up date now overdue). Raises StoreError before
    any load.
    """
    if "gapcast_gen" not in g:
        s = store()
        gen, tag = s.version()
        if gen is None:
            raise StoreError("no data loaded yet: run `gapcast load` first")
        g.gapcast_gen, g.gapcast_tag = gen, f"{tag}.{s.now().astimezone(UTC):%Y%m%d}"
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
    """True when the client's If-None-Match already names this version: RFC 9110 section 13.1.2 uses the weak
    comparison, so `W/"x"` matches our strong `"x"`; a list matches when any member does, `*` always."""
    return request.if_none_match.star_tag or request.if_none_match.contains_weak(tag)


def not_modified(tag: str) -> Response:
    resp = Response(status=304)
    _cache_headers(resp, tag)
    return resp


def json_response(payload: dict[str, Any], tag: str | None = None, status: int = 200,
                  credit: bool | None = None) -> Response:
    """`{"ok": true, ...payload}` with ETag and Cache-Control when tied to a data version. An answer tied to a
    data version carries source data, so it also names its publishers (`credit`, service/credit.py) unless
    `credit=False`; `credit=True` adds them to an answer without a version (the event list)."""
    if credit or (credit is None and tag is not None):
        payload = {"credit": providers(), **payload}  # a view may name fewer publishers (one benchmark's)
    body = json.dumps({"ok": True, **payload}, separators=(",", ":"), allow_nan=False)
    resp = Response(body, status=status, mimetype="application/json")
    if tag is not None:
        _cache_headers(resp, tag)
    return resp


def raw_response(body: bytes | str, tag: str, mimetype: str = "application/json") -> Response:
    """Stored bytes served as they are (the fast path for cached documents)."""
    resp = Response(body, mimetype=mimetype)
    _cache_headers(resp, tag)
    if mimetype in CREDIT_HEADER_TYPES:
        add_csv_credit(resp)
    return resp


# Bodies that cannot carry a `credit` member get the credit headers instead (CSV, the standalone SVG chart).
CREDIT_HEADER_TYPES = ("text/csv", "image/svg+xml")


def with_credit(doc: bytes, publishers: list[dict[str, str]] | None = None) -> bytes:
    """A stored JSON object document with the `credit` member (``publishers``, default every one) spliced in
    first (no re-parse of the stored bytes: forecast documents are served on the fast path). Raises ValueError
    when `doc` is not an object."""
    head = doc.lstrip()
    if not head.startswith(b"{"):
        raise ValueError("not a JSON object")
    rest = head[1:].lstrip()
    sep = b"" if rest.startswith(b"}") else b","
    credit = json.dumps(publishers or providers(), separators=(",", ":")).encode()
    return b'{"credit":' + credit + sep + rest


def page_response(rows: list[dict[str, Any]], offset: int, limit: int, version: tuple[str, str], fmt: str, *,
                  name: str, columns: Sequence[str]) -> Response:
    """One page of ``rows`` (``offset``, ``limit``) as JSON (``name``: the list's member, with ``total`` and
    ``next_offset``) or CSV (``columns``, file ``<name>.csv``), with `Link` to the next and previous pages."""
    gen, tag = version
    page = rows[offset: offset + limit]
    if fmt == "csv":
        resp = csv_response(page, columns, tag, f"{name}.csv")
    else:
        nxt = offset + limit if offset + limit < len(rows) else None
        resp = json_response({"generation": gen, "total": len(rows), "offset": offset, "limit": limit,
                              "next_offset": nxt, name: page}, tag)
    link = page_links(len(rows), offset, limit)
    if link:
        resp.headers.add("Link", link)
    return resp


def page_links(total: int, offset: int, limit: int) -> str | None:
    """RFC 8288 `Link` value for a limit/offset page: rel="next" while rows remain, rel="prev" after the first
    page; the current URL with `offset` replaced (other query parameters kept). None when neither applies."""
    links = []
    if offset + limit < total:
        links.append(f'<{_with_offset(offset + limit)}>; rel="next"')
    if offset > 0:
        links.append(f'<{_with_offset(max(0, offset - limit))}>; rel="prev"')
    return ", ".join(links) or None


def _with_offset(offset: int) -> str:
    args = [(k, v) for k, v in request.args.items(multi=True) if k != "offset"] + [("offset", str(offset))]
    return request.path + "?" + urlencode(args)


def csv_response(rows: Iterable[dict[str, Any]], columns: Sequence[str], tag: str, filename: str,
                 publishers: list[dict[str, str]] | None = None) -> Response:
    """Rows as CSV (nested values as JSON), with the same caching headers as JSON, crediting ``publishers``
    (default every one) in headers."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([_cell(row.get(c)) for c in columns])
    resp = Response(buf.getvalue(), mimetype="text/csv")
    resp.headers["Content-Disposition"] = f'inline; filename="{filename}"'
    _cache_headers(resp, tag)
    add_csv_credit(resp, publishers)
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
CACHED_PREFIXES = ("/v1/domains", "/v1/benchmarks", "/v1/models", "/v1/backtest", "/v1/scores")
RESPONSE_CACHE_ENTRIES = 512
RESPONSE_CACHE_MAX_BYTES = 512 * 1024


def init_response_cache(app: Flask) -> None:
    """Register this module's response hooks on `app` (after the metrics hooks, so replays are still counted):
    the replay cache, and the CORS headers (`init_cors`), which must see replayed answers too."""
    app.extensions["gapcast.response_cache"] = LRU(RESPONSE_CACHE_ENTRIES)
    app.before_request(_replay)
    app.after_request(_remember)
    init_cors(app)  # registered last, so it runs first among after_request hooks: on every answer, replays too


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
    body, mimetype, disposition, link = cached
    resp = raw_response(body, tag, mimetype=mimetype)
    if disposition:
        resp.headers["Content-Disposition"] = disposition
    for value in link:
        if value != f'<{CREDIT_PATH}>; rel="license"':  # raw_response already added the credit link
            resp.headers.add("Link", value)
    return resp


def _remember(resp: Response) -> Response:
    if (_cacheable() and resp.status_code == 200 and "gapcast_tag" in g and not resp.direct_passthrough
            and resp.content_length is not None and resp.content_length <= RESPONSE_CACHE_MAX_BYTES):
        current_app.extensions["gapcast.response_cache"].put(
            (g.gapcast_tag, request.full_path),
            (resp.get_data(), resp.mimetype, resp.headers.get("Content-Disposition"), resp.headers.getlist("Link")))
    return resp


# --- CORS ---------------------------------------------------------------------------------------------
# The GET answers are public data meant for other people's pages (notebooks, Grafana, a lab's own page), so
# by default any origin may read them (`GAPCAST_CORS_ORIGINS=*`). That is safe because no GET sends or needs
# credentials: `*` forbids cookies, and no preflight allows `Authorization`, so a page elsewhere can never
# drive the admin API with a token. Writes (POST, DELETE) and the admin paths never get CORS headers.
CORS_METHODS = ("GET", "HEAD")
CORS_ALLOW_HEADERS = "If-None-Match, If-Modified-Since, Accept"
CORS_EXPOSE_HEADERS = "ETag, Link, X-Gapcast-Credit, Content-Disposition, Retry-After"
CORS_MAX_AGE_S = 600
CORS_EXCLUDED_PREFIXES = ("/v1/subscriptions", "/v1/deliveries", "/v1/releases")


def init_cors(app: Flask) -> None:
    """Add CORS headers (after every other hook) per `Settings.cors_origins`; nothing when it is empty."""
    app.after_request(_cors)


def _cors(resp: Response) -> Response:
    origins: tuple[str, ...] = current_app.extensions["gapcast.settings"].cors_origins
    origin = request.headers.get("Origin")
    if not origins or request.path.startswith(CORS_EXCLUDED_PREFIXES):
        return resp
    if origins != ("*",):
        resp.vary.add("Origin")  # the answer depends on who asks: a shared cache must key on it
        if not origin or origin.rstrip("/") not in origins:
            return resp
    # With `*` the headers go on every GET answer, Origin or not, so the answer a shared cache keeps for a plain
    # request also serves a page elsewhere (and needs no `Vary: Origin`).
    preflight = bool(origin) and request.method == "OPTIONS" and "Access-Control-Request-Method" in request.headers
    asked = request.headers.get("Access-Control-Request-Method", "").upper() if preflight else request.method
    if asked not in CORS_METHODS or (preflight and "GET" not in resp.allow):
        return resp  # a write, or a preflight for one: no CORS headers, so the browser refuses it
    resp.headers["Access-Control-Allow-Origin"] = "*" if origins == ("*",) else origin
    if preflight:
        resp.headers["Access-Control-Allow-Methods"] = ", ".join((*CORS_METHODS, "OPTIONS"))
        resp.headers["Access-Control-Allow-Headers"] = CORS_ALLOW_HEADERS
        resp.headers["Access-Control-Max-Age"] = str(CORS_MAX_AGE_S)
    else:
        resp.headers["Access-Control-Expose-Headers"] = CORS_EXPOSE_HEADERS
    return resp
