"""Stored forecast documents as the API serves them, with a small per-worker cache.

A forecast document never changes for a given ETag (store instance, generation, forecasts version), so each app keeps
the bytes it served under that tag: a repeated request costs one Redis round trip (the version check).
No forecast is ever computed here.
"""

from __future__ import annotations

import json
from datetime import UTC, date
from typing import Any

from flask import Flask, current_app

from forecasts.publishing.freshness import Freshness, overdue
from forecasts.publishing.outlook import doc_key, previous_engine_doc_key
from forecasts.storage import keys
from service.http import current, store
from service.lru import LRU

CACHE_ENTRIES = 2048


def init_app(app: Flask) -> None:
    """Give the app its own document cache."""
    app.extensions["gapcast.forecast_cache"] = LRU(CACHE_ENTRIES)


def forecast_entry(kind: str, target: str, metric: str) -> tuple[bytes | None, bool]:
    """`(document, updating)` of one series for this request's version: its stored document and False; while
    that one is pending, the series' previous document (an earlier generation's, else the previous engine
    version's for the same data, after an upgrade) and True; (None, False) when the series never had one
    (a pending status)."""
    gen, tag = current()
    field = f"{kind}:{target}:{metric}"
    cache: LRU = current_app.extensions["gapcast.forecast_cache"]
    hit, value = cache.get((tag, field))
    if hit:
        return value, False
    r = store().r
    raw_ref = r.hget(keys.gen_forecast_index(gen), field)
    if raw_ref is None:
        return None, False
    ref = json.loads(raw_ref)
    older = [doc_key(ref["previous"])] if ref.get("previous") else []
    if (upgraded := previous_engine_doc_key(ref["hash"])) is not None:
        older.append(upgraded)
    docs = [d if isinstance(d, bytes) or d is None else d.encode() for d in r.mget([doc_key(ref["hash"]), *older])]
    if docs[0] is not None:  # a pending document may appear without the tag changing in between requests
        cache.put((tag, field), docs[0])
        return docs[0], False
    previous = next((d for d in docs[1:] if d is not None), None)
    return previous, previous is not None


def forecast_bytes(kind: str, target: str, metric: str) -> bytes | None:
    """The forecast document to show for one series (see :func:`forecast_entry`), or None when pending."""
    return forecast_entry(kind, target, metric)[0]


def forecast_dict(kind: str, target: str, metric: str) -> dict[str, Any] | None:
    """The `forecast` part of a stored document, or None when pending."""
    raw = forecast_bytes(kind, target, metric)
    if raw is None:
        return None
    fc: dict[str, Any] = json.loads(raw)["forecast"]
    return fc


def headline(fc: dict[str, Any] | None, *, updating: bool = False) -> dict[str, Any]:
    """The forecast fields of a domain row: catch-up p50 and whether it is overdue (the date passed without
    the catch-up: never a negative number of days), P(within 6/12/24 months), lag verdict, and
    `forecast_updating` (this is the previous forecast; the new one is being computed)."""
    if fc is None:
        return {"forecast_status": "pending", "catch_up_p50": None, "catch_up_overdue": False, "p_within_6": None,
                "p_within_12": None, "p_within_24": None, "lag_verdict": None, "forecast_model": None,
                "forecast_updating": False}
    cu, trend = fc["catch_up"], fc.get("lag_trend") or {}
    within = cu.get("probability_within") or {}
    return {"forecast_status": fc["status"], "catch_up_p50": cu.get("p50"),
            "catch_up_overdue": overdue(cu.get("p50"), today()), "p_within_6": within.get("6"),
            "p_within_12": within.get("12"), "p_within_24": within.get("24"), "lag_verdict": trend.get("verdict"),
            "forecast_model": fc.get("model"), "forecast_updating": updating}


def today() -> date:
    """The store clock's UTC date (injected: tests pin it)."""
    return store().now().astimezone(UTC).date()


def data_freshness(gen: str) -> dict[str, Any]:
    """How old generation `gen`'s data is, for API answers: `data_as_of` (newest data point: the newest release
    date of a scored model), `data_age_days` (whole days, never negative), `stale` (older than
    GAPCAST_STALE_AFTER_DAYS) and `stale_after_days`. Day-sized on purpose: the ETag carries the day."""
    as_of = store().read_meta(gen).get("as_of") or None
    after = int(current_app.extensions["gapcast.settings"].stale_after_days)
    fresh = Freshness(date.fromisoformat(as_of) if as_of else None)
    now = store().now()
    return {"data_as_of": as_of, "data_age_days": fresh.age_days(now), "stale": fresh.stale(now, after),
            "stale_after_days": after}


def with_fields(doc: bytes, fields: dict[str, Any]) -> bytes:
    """A stored JSON object document with `fields` spliced in first (no re-parse of the stored bytes)."""
    head = doc.lstrip()
    if not head.startswith(b"{"):
        raise ValueError("not a JSON object")
    rest = head[1:].lstrip()
    if not fields:
        return doc
    extra = json.dumps(fields, separators=(",", ":")).encode()[1:-1]
    return b"{" + extra + (b"" if rest.startswith(b"}") else b",") + rest
