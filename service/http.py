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

from flask import Response, current_app, g, request

from forecasts.store import Store

CACHE_CONTROL = "public, max-age=60, must-revalidate"


def store() -> Store:
    """The Store bound to this app by `create_app`."""
    s: Store = current_app.extensions["gapcast.store"]
    return s


def generation() -> str:
    """The generation this request reads (resolved once per request). Raises StoreError before any load."""
    if "gapcast_gen" not in g:
        g.gapcast_gen = store().require_generation()
    gen: str = g.gapcast_gen
    return gen


def etag_matches(gen: str) -> bool:
    """True when the client's If-None-Match already names this generation."""
    return gen in request.if_none_match or request.if_none_match.star_tag


def not_modified(gen: str) -> Response:
    resp = Response(status=304)
    _cache_headers(resp, gen)
    return resp


def json_response(payload: dict[str, Any], gen: str | None = None, status: int = 200) -> Response:
    """`{"ok": true, ...payload}` with ETag and Cache-Control when tied to a generation."""
    body = json.dumps({"ok": True, **payload}, separators=(",", ":"), allow_nan=False)
    resp = Response(body, status=status, mimetype="application/json")
    if gen is not None:
        _cache_headers(resp, gen)
    return resp


def raw_json_response(body: bytes | str, gen: str) -> Response:
    """Stored JSON bytes served as they are (the fast path for cached documents)."""
    resp = Response(body, mimetype="application/json")
    _cache_headers(resp, gen)
    return resp


def csv_response(rows: Iterable[dict[str, Any]], columns: Sequence[str], gen: str, filename: str) -> Response:
    """Rows as CSV (nested values as JSON), with the same caching headers as JSON."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([_cell(row.get(c)) for c in columns])
    resp = Response(buf.getvalue(), mimetype="text/csv")
    resp.headers["Content-Disposition"] = f'inline; filename="{filename}"'
    _cache_headers(resp, gen)
    return resp


def _cell(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, dict | list):
        return json.dumps(v, separators=(",", ":"))
    return str(v)


def _cache_headers(resp: Response, gen: str) -> None:
    resp.set_etag(gen)
    resp.headers["Cache-Control"] = CACHE_CONTROL
