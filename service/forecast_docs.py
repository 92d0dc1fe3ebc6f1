"""Stored forecast documents as the API serves them, with a small per-worker cache.

A forecast document never changes for a given ETag (store instance, generation, forecasts version), so each app keeps
the bytes it served under that tag: a repeated request costs one Redis round trip (the version check).
No forecast is ever computed here.
"""

from __future__ import annotations

import json
from typing import Any

from flask import Flask, current_app

from forecasts import keys
from forecasts.outlook import doc_key
from service.http import current, store
from service.lru import LRU

CACHE_ENTRIES = 2048


def init_app(app: Flask) -> None:
    """Give the app its own document cache."""
    app.extensions["gapcast.forecast_cache"] = LRU(CACHE_ENTRIES)


def forecast_bytes(kind: str, target: str, metric: str) -> bytes | None:
    """The stored forecast document of one series for this request's version, or None when pending."""
    gen, tag = current()
    field = f"{kind}:{target}:{metric}"
    cache: LRU = current_app.extensions["gapcast.forecast_cache"]
    hit, value = cache.get((tag, field))
    if hit:
        return value
    r = store().r
    ref = r.hget(keys.gen_forecast_index(gen), field)
    doc = r.get(doc_key(json.loads(ref)["hash"])) if ref else None
    value = doc if isinstance(doc, bytes) or doc is None else doc.encode()
    if value is not None:  # a pending document may appear without the tag changing in between requests
        cache.put((tag, field), value)
    return value


def forecast_dict(kind: str, target: str, metric: str) -> dict[str, Any] | None:
    """The `forecast` part of a stored document, or None when pending."""
    raw = forecast_bytes(kind, target, metric)
    if raw is None:
        return None
    fc: dict[str, Any] = json.loads(raw)["forecast"]
    return fc


def headline(fc: dict[str, Any] | None) -> dict[str, Any]:
    """The forecast fields of a domain row: catch-up p50, P(within 6/12/24 months), lag verdict."""
    if fc is None:
        return {"forecast_status": "pending", "catch_up_p50": None, "p_within_6": None, "p_within_12": None,
                "p_within_24": None, "lag_verdict": None, "forecast_model": None}
    cu, trend = fc["catch_up"], fc.get("lag_trend") or {}
    within = cu.get("probability_within") or {}
    return {"forecast_status": fc["status"], "catch_up_p50": cu.get("p50"), "p_within_6": within.get("6"),
            "p_within_12": within.get("12"), "p_within_24": within.get("24"), "lag_verdict": trend.get("verdict"),
            "forecast_model": fc.get("model")}
