"""How old the data is: the date of its newest data point, overall and per source, and whether it is stale.

The age is that of the data, not of the load: a snapshot loaded a minute ago whose newest model was
released five months ago is five months old. A data point is dated by its model's release date (a score
measured later belongs to the day the model existed), so the newest data point is the newest release date
among the models that have a score; its age counts from 00:00 UTC of that day. Pure apart from
:func:`generation_freshness`, which reads a generation from the store (cached: a generation never changes).
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from typing import Any

from forecasts.records.model import Dataset, Score
from forecasts.storage import keys
from forecasts.storage.store import Store

DAY_S = 86400.0
#: Score.source prefixes (before the first ':') of the pulled sources; anything else came in in the canonical
#: format (a file, the canonical feed, POST /v1/releases).
#: The bundled snapshot's own prefixes (its [sources] ids) name the same publishers' files.
SOURCE_PREFIXES = {"epoch-hub": "epoch-hub", "epoch-models": "epoch-hub",
                   "aa": "artificial-analysis", "aa-scrape": "artificial-analysis",
                   "artificial-analysis": "artificial-analysis",
                   "lmarena": "lmarena", "lmarena-history": "lmarena", "arena-daily": "lmarena"}
CACHE_ENTRIES = 16
STORED_TTL_S = 7 * 24 * 3600


@dataclass(frozen=True)
class Freshness:
    """`as_of`: the newest data point's date (None: no scored model); `sources`: per source id, the newest
    data point that source gave."""

    as_of: date | None
    sources: dict[str, date] = field(default_factory=dict)

    def age_seconds(self, now: datetime) -> float | None:
        """Seconds from 00:00 UTC of `as_of` to `now` (an aware datetime), never negative; None without data."""
        return _age(self.as_of, now)

    def age_days(self, now: datetime) -> int | None:
        """Whole days of :meth:`age_seconds` (None without data)."""
        s = self.age_seconds(now)
        return None if s is None else int(s // DAY_S)

    def stale(self, now: datetime, after_days: int) -> bool:
        """True when the newest data point is more than `after_days` days old (no data is not stale: it is
        "no data", which readiness reports on its own)."""
        s = self.age_seconds(now)
        return s is not None and s > after_days * DAY_S

    def to_dict(self, now: datetime, after_days: int) -> dict[str, Any]:
        """JSON-ready: `as_of`, `data_age_seconds`, `data_age_days`, `stale`, `stale_after_days` and per source
        its `as_of` and `data_age_seconds`."""
        age = self.age_seconds(now)
        return {"as_of": self.as_of.isoformat() if self.as_of else None,
                "data_age_seconds": None if age is None else round(age, 1),
                "data_age_days": self.age_days(now), "stale": self.stale(now, after_days),
                "stale_after_days": after_days,
                "sources": {s: {"as_of": d.isoformat(), "data_age_seconds": round(_age(d, now) or 0.0, 1)}
                            for s, d in sorted(self.sources.items())}}


def source_id(score: Score) -> str:
    """The source a score came from, as /v1/sources names it (`canonical` for canonical-format input)."""
    return SOURCE_PREFIXES.get(score.source.split(":", 1)[0], "canonical")


def freshness_of(data: Dataset) -> Freshness:
    """The newest data point of `data`, overall and per source."""
    newest: dict[str, date] = {}
    for (_, model_id), score in data.scores.items():
        model = data.models.get(model_id)
        if model is None or model.release_date is None:
            continue
        src = source_id(score)
        if src not in newest or model.release_date > newest[src]:
            newest[src] = model.release_date
    return Freshness(max(newest.values()) if newest else None, newest)


_cache: dict[str, Freshness] = {}
_cache_lock = threading.Lock()


def generation_freshness(store: Store, gen: str) -> Freshness:
    """:func:`freshness_of` the data of generation `gen`, remembered per generation id (ids are unique: a
    sequence number and a random part) in this process and in Redis (`keys.freshness`, String JSON, TTL
    :data:`STORED_TTL_S`), so the dataset is read once per generation, not once per process (a first
    `/readyz` after `gapcast up` loaded the data reads one key). A malformed stored value is recomputed."""
    with _cache_lock:
        hit = _cache.get(gen)
    if hit is not None:
        return hit
    fresh = _stored(store, gen)
    if fresh is None:
        fresh = freshness_of(store.read_dataset(gen))
        doc = {"as_of": fresh.as_of.isoformat() if fresh.as_of else None,
               "sources": {s: d.isoformat() for s, d in fresh.sources.items()}}
        store.r.set(keys.freshness(gen), json.dumps(doc, sort_keys=True), ex=STORED_TTL_S)
    with _cache_lock:
        if len(_cache) >= CACHE_ENTRIES:
            _cache.pop(next(iter(_cache)))
        _cache[gen] = fresh
    return fresh


def _stored(store: Store, gen: str) -> Freshness | None:
    raw = store.r.get(keys.freshness(gen))
    if raw is None:
        return None
    try:
        doc = json.loads(raw)
        return Freshness(date.fromisoformat(doc["as_of"]) if doc["as_of"] else None,
                         {str(s): date.fromisoformat(d) for s, d in doc["sources"].items()})
    except (ValueError, KeyError, TypeError, AttributeError):
        return None


def overdue(p50: str | None, today: date) -> bool:
    """True when a median catch-up date (ISO, from a forecast anchored at its data's date) has passed by
    `today` without the data showing the catch-up: report "overdue", never a negative number of days."""
    return p50 is not None and date.fromisoformat(p50) < today


def days_until(p50: str | None, today: date) -> int | None:
    """Days from `today` to a median catch-up date, never negative: 0 when it is overdue, None without one."""
    if p50 is None:
        return None
    return max((date.fromisoformat(p50) - today).days, 0)


def _age(d: date | None, now: datetime) -> float | None:
    if d is None:
        return None
    return max((now - datetime.combine(d, time(0), UTC)).total_seconds(), 0.0)
