"""Per-source pull status in Redis: last success, last error, consecutive failures, rows, next retry.

Written by the jobs (`record_*`), read by `GET /v1/sources`, `/metrics` and `gapcast sources`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from forecasts.settings import Settings
from forecasts.storage import keys
from forecasts.storage.store import Store

BACKOFF_BASE_S = 60  # first retry after a failure; doubles with each consecutive failure
SOURCE_IDS = ("epoch-hub", "artificial-analysis", "lmarena", "canonical")


def enabled_sources(settings: Settings) -> list[str]:
    """The sources that are on: AA needs a key, the others a URL (or file)."""
    on = {"epoch-hub": bool(settings.epoch_url), "artificial-analysis": bool(settings.aa_api_key and settings.aa_url),
          "lmarena": bool(settings.lmarena_url), "canonical": bool(settings.canonical_url)}
    return [s for s in SOURCE_IDS if on[s]]


def read(store: Store, source: str) -> dict[str, Any]:
    """A source's status as plain values (empty when it never ran)."""
    raw = store.r.hgetall(keys.source_status(source))
    out: dict[str, Any] = {(k.decode() if isinstance(k, bytes) else k): (v.decode() if isinstance(v, bytes) else v)
                           for k, v in raw.items()}
    for f in ("consecutive_failures", "rows_accepted", "rows_rejected", "pulls"):
        if f in out:
            out[f] = int(out[f])
    out.pop("validators", None)
    return out


def validators(store: Store, source: str) -> dict[str, str]:
    """The ETag / Last-Modified of the source's last successful pull."""
    raw = store.r.hget(keys.source_status(source), "validators")
    return dict(json.loads(raw)) if raw else {}


def record_success(store: Store, source: str, *, accepted: int, rejected: int, validators: dict[str, str],
                   not_modified: bool, generation: str | None) -> None:
    """Record a successful pull (a 304 counts: the source answered)."""
    now = store.now().isoformat()
    mapping: dict[Any, Any] = {"last_success_at": now, "last_pull_at": now, "consecutive_failures": 0,
               "last_outcome": "not_modified" if not_modified else "ok", "next_retry_at": "",
               "validators": json.dumps(validators)}
    if not not_modified:
        mapping.update({"rows_accepted": accepted, "rows_rejected": rejected, "generation": generation or ""})
    pipe = store.r.pipeline(transaction=True)
    pipe.hset(keys.source_status(source), mapping=mapping)
    pipe.hincrby(keys.source_status(source), "pulls", 1)
    pipe.execute()


def record_failure(store: Store, source: str, *, reason: str, message: str, retry_max_s: int,
                   retry_after_s: float | None = None) -> tuple[int, datetime]:
    """Record a failed pull; returns the consecutive failure count and when to retry (exponential backoff,
    at least the server's Retry-After, at most `retry_max_s`). Redis errors propagate."""
    now = store.now()
    key = keys.source_status(source)
    failures = int(store.r.hincrby(key, "consecutive_failures", 1))
    wait = min(retry_max_s, BACKOFF_BASE_S * 2 ** (failures - 1))
    if retry_after_s is not None:
        wait = min(max(wait, retry_after_s), max(retry_max_s, retry_after_s))
    retry_at = now + timedelta(seconds=wait)
    store.r.hset(key, mapping={"last_error_at": now.isoformat(), "last_pull_at": now.isoformat(),
                               "last_error": f"{reason}: {message}"[:500], "last_outcome": "failed",
                               "next_retry_at": retry_at.isoformat()})
    return failures, retry_at


def all_statuses(store: Store, sources: Sequence[str]) -> list[dict[str, Any]]:
    """Statuses of `sources` (configured ones), each with its id."""
    return [{"source": s, **read(store, s)} for s in sources]


class RedisRequestCounter:
    """Requests per UTC day in Redis (for a source's daily budget), shared by every scheduler replica."""

    def __init__(self, store: Store, source: str) -> None:
        self.store = store
        self.source = source

    def incr(self, day: str) -> int:
        key = keys.request_budget(self.source, day)
        pipe = self.store.r.pipeline(transaction=True)
        pipe.incr(key)
        pipe.expire(key, 2 * 86400)
        count, _ = pipe.execute()
        return int(count)
