"""The alert outbox in Redis: one delivery per (subscription, refresh), its status and its history.

A delivery's id is an idempotency key (a hash of subscription, refresh and event ids), so planning the same
events twice never makes a second delivery, and a delivered one is never sent again. Dead letters (a
permanent 4xx, or retries past the deadline) stay listed with their reason (`GET /v1/deliveries`).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any

from forecasts import keys
from forecasts.store import Store

DELIVERY_TTL_S = 30 * 86400
DELIVERIES_KEPT = 10_000


class DeliveryStatus(StrEnum):
    PENDING = "pending"
    DELIVERED = "delivered"
    DEAD = "dead"


@dataclass
class Delivery:
    """One message to one channel: the events of one refresh that the channel asked for."""

    id: str
    subscription: str
    refresh: str
    event_ids: list[str]
    created_at: float  # Unix seconds
    deadline: float  # give up (dead letter) after this
    status: DeliveryStatus = DeliveryStatus.PENDING
    attempts: int = 0
    next_attempt_at: float = 0.0
    last_error: str = ""
    last_status: int | None = None
    delivered_at: float | None = None
    history: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "status": self.status.value}


def delivery_id(subscription: str, refresh: str, event_ids: list[str]) -> str:
    """The idempotency key of a delivery."""
    return hashlib.sha256(f"{subscription}|{refresh}|{','.join(event_ids)}".encode()).hexdigest()[:24]


def create(store: Store, d: Delivery, pipe: Any | None = None) -> None:
    """Queue `d` unless a delivery with its id exists (SET NX): planning twice is harmless."""
    p = pipe or store.r.pipeline(transaction=True)
    p.set(keys.delivery(d.id), json.dumps(d.to_dict()), nx=True, ex=DELIVERY_TTL_S)
    p.zadd(keys.outbox(), {d.id: d.next_attempt_at}, nx=True)
    p.zadd(keys.deliveries(), {d.id: d.created_at}, nx=True)
    p.zremrangebyrank(keys.deliveries(), 0, -DELIVERIES_KEPT - 1)
    if pipe is None:
        p.execute()


def get(store: Store, d_id: str) -> Delivery | None:
    raw = store.r.get(keys.delivery(d_id))
    if raw is None:
        return None
    d = json.loads(raw)
    d["status"] = DeliveryStatus(d["status"])
    return Delivery(**d)


def save(store: Store, d: Delivery) -> None:
    """Store `d`; a delivered or dead one leaves the outbox, a pending one is due at `next_attempt_at`."""
    pipe = store.r.pipeline(transaction=True)
    pipe.set(keys.delivery(d.id), json.dumps(d.to_dict()), ex=DELIVERY_TTL_S)
    if d.status is DeliveryStatus.PENDING:
        pipe.zadd(keys.outbox(), {d.id: d.next_attempt_at})
    else:
        pipe.zrem(keys.outbox(), d.id)
    pipe.execute()


def due(store: Store, now: float, limit: int = 50) -> list[str]:
    """Ids of deliveries due at `now`, oldest first."""
    found: list[Any] = store.r.zrangebyscore(keys.outbox(), "-inf", now, start=0, num=limit)
    return [_text(i) for i in found]


def recent(store: Store, limit: int = 100, status: str | None = None) -> list[dict[str, Any]]:
    """The newest deliveries (dead letters included), newest first; subscription ids, never URLs."""
    found: list[Any] = store.r.zrevrange(keys.deliveries(), 0, max(limit * 5, limit) - 1)
    ids = [_text(i) for i in found]
    raws = store.r.mget([keys.delivery(i) for i in ids]) if ids else []
    rows = [json.loads(r) for r in raws if r]
    if status:
        rows = [r for r in rows if r["status"] == status]
    return rows[:limit]


def _text(v: Any) -> str:
    return v.decode() if isinstance(v, bytes) else str(v)
