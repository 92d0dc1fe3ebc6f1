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

import redis

from forecasts.storage import keys
from forecasts.storage.store import Store

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
    order: float = 0.0  # position in the event stream: a channel gets its messages in this order
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


def create(store: Store, d: Delivery, pipe: Any) -> int:
    """Queue `d` in `pipe` unless a delivery with its id exists (SET NX): planning twice is harmless.
    Returns the index of the SET NX reply in the pipeline's results (truthy when created)."""
    index = len(pipe.command_stack)
    pipe.set(keys.delivery(d.id), json.dumps(d.to_dict()), nx=True, ex=DELIVERY_TTL_S)
    pipe.zadd(keys.outbox(), {d.id: d.next_attempt_at}, nx=True)
    pipe.zadd(keys.channel_queue(d.subscription), {d.id: d.order}, nx=True)
    pipe.expire(keys.channel_queue(d.subscription), DELIVERY_TTL_S)
    pipe.zadd(keys.deliveries(), {d.id: d.created_at}, nx=True)
    pipe.zremrangebyrank(keys.deliveries(), 0, -DELIVERIES_KEPT - 1)
    return index


def head_of_channel(store: Store, sub_id: str) -> str | None:
    """The oldest undelivered delivery of a channel: only it may be sent (messages stay in order)."""
    found: list[Any] = store.r.zrange(keys.channel_queue(sub_id), 0, 0)
    return _text(found[0]) if found else None


def claim(store: Store, d: Delivery, until: float) -> bool:
    """Take `d` for sending: its attempt is recorded and it is not due again before `until`, unless it is
    no longer pending (someone else finished it). One round trip, atomic."""
    with store.r.pipeline(transaction=True) as pipe:
        try:
            pipe.watch(keys.delivery(d.id))
            stored = pipe.get(keys.delivery(d.id))
            if stored is None or json.loads(stored)["status"] != DeliveryStatus.PENDING.value:
                pipe.unwatch()
                return False
            pipe.multi()
            pipe.set(keys.delivery(d.id), json.dumps(d.to_dict()), ex=DELIVERY_TTL_S)
            pipe.zadd(keys.outbox(), {d.id: until})
            pipe.execute()
            return True
        except redis.WatchError:
            return False


def get(store: Store, d_id: str) -> Delivery | None:
    raw = store.r.get(keys.delivery(d_id))
    if raw is None:
        return None
    d = json.loads(raw)
    d["status"] = DeliveryStatus(d["status"])
    return Delivery(**d)


def save(store: Store, d: Delivery) -> bool:
    """Store `d`; a delivered or dead one leaves the outbox and its channel's queue, a pending one is due at
    `next_attempt_at`. A delivery already delivered or dead is never turned back (returns False)."""
    with store.r.pipeline(transaction=True) as pipe:
        try:
            pipe.watch(keys.delivery(d.id))
            stored = pipe.get(keys.delivery(d.id))
            if stored is not None and json.loads(stored)["status"] != DeliveryStatus.PENDING.value:
                pipe.unwatch()
                return False
            pipe.multi()
            pipe.set(keys.delivery(d.id), json.dumps(d.to_dict()), ex=DELIVERY_TTL_S)
            if d.status is DeliveryStatus.PENDING:
                pipe.zadd(keys.outbox(), {d.id: d.next_attempt_at})
            else:
                pipe.zrem(keys.outbox(), d.id)
                pipe.zrem(keys.channel_queue(d.subscription), d.id)
            pipe.execute()
            return True
        except redis.WatchError:
            return False


def due(store: Store, now: float, limit: int = 50) -> list[str]:
    """Ids of deliveries due at `now`, earliest due first."""
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
