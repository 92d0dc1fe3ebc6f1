"""Alert delivery: plan deliveries from the event stream, then send what is due, with retries.

Stages, each a plain function: `plan` (events -> one delivery per refresh and subscription, idempotent),
then `deliver_due` (send -> classify the answer -> record). 2xx: delivered, never sent again. 429: retried
after Retry-After (Slack: the header, seconds; Discord: `retry_after` in the JSON body, parsed
defensively). 5xx, timeouts and connection errors: retried with exponential backoff and jitter until the
delivery's deadline, then dead-lettered. Any other 4xx: dead-lettered at once; repeated 404/410 pause
the subscription. A send is bounded per channel (Slack about one message a second). URLs and secrets
never reach a log line or an error message: subscriptions are named by id.
"""

from __future__ import annotations

import json
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import requests

from forecasts.activity import deliveries, events, subscriptions
from forecasts.activity.deliveries import Delivery, DeliveryStatus
from forecasts.activity.subscriptions import Subscription
from forecasts.storage import keys
from forecasts.storage.store import Store
from jobs.alerts import messages
from jobs.http import TargetRefusedError, deadline, mount_guarded, user_agent
from jobs.lock import Lease

logger = logging.getLogger(__name__)

SETTLE_S = 15.0  # a refresh's events are planned once it has been quiet this long (forecast events follow data)
BACKOFF_BASE_S = 5.0
BACKOFF_MAX_S = 600.0
SEND_TIMEOUT_S = 10.0
GONE_LIMIT = 3  # consecutive 404/410 answers that pause a subscription
MIN_INTERVAL_S = {"slack": 1.0, "discord": 0.5, "teams": 1.0, "webhook": 0.1}


@dataclass
class Sender:
    """How messages are sent: an HTTP session, the dashboard link, whether private targets are allowed.

    The session connects only to the addresses it resolved (with `resolver`, default the system's DNS) and
    checked when it opens a connection, so a name that answers differently for the check and for the
    connect (DNS rebinding) cannot reach an internal address; it ignores HTTP(S)_PROXY for the same reason.
    `timeout_s` bounds each whole send (connect, upload, answer)."""

    dashboard_url: str
    allow_private: bool = False
    timeout_s: float = SEND_TIMEOUT_S
    session: requests.Session = field(default_factory=requests.Session)
    clock: Callable[[], float] = time.time
    jitter: Callable[[], float] = random.random  # in [0, 1)
    resolver: subscriptions.Resolver | None = None

    def __post_init__(self) -> None:
        hide_request_paths()
        self.session.trust_env = False
        mount_guarded(self.session, pick=self._pick)

    def _pick(self, host: str, port: int) -> list[str]:
        return subscriptions.checked_addresses(host, port, allow_private=self.allow_private, resolver=self.resolver)

    def post(self, url: str, body: bytes, headers: dict[str, str]) -> requests.Response:
        """POST within the send deadline. Raises TargetRefusedError (nothing connected), requests.Timeout
        (deadline or socket timeout) or another requests.RequestException."""
        with deadline(self.timeout_s) as limit:
            try:
                return self.session.post(url, data=body, headers=headers, timeout=self.timeout_s,
                                         allow_redirects=False)
            except TargetRefusedError:
                raise
            except requests.RequestException:
                if limit.expired:
                    raise requests.Timeout(f"not complete within {self.timeout_s:g} s") from None
                raise


class _HidePaths(logging.Filter):
    """Replace request paths in urllib3's log records: a webhook URL's path is its secret token."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple("/***" if isinstance(a, str) and a.startswith("/") else a for a in record.args)
        return True


_HIDE_PATHS = _HidePaths()


def hide_request_paths() -> None:
    """Install the path filter on urllib3's connection-pool logger (idempotent)."""
    logging.getLogger("urllib3.connectionpool").addFilter(_HIDE_PATHS)


def plan(store: Store, *, now: float, deadline_s: float, settle_s: float = SETTLE_S) -> int:
    """Turn settled events after the cursor into deliveries (one per refresh and matching subscription)
    and advance the cursor, atomically. Returns the number of deliveries created."""
    raw_cursor = store.r.get(keys.alerts_cursor())
    cursor = raw_cursor.decode() if isinstance(raw_cursor, bytes) else (raw_cursor or "0-0")
    pending = events.after(store, cursor)
    groups = _settled_groups(pending, now, settle_s)
    if not groups:
        return 0
    subs = [s for s in subscriptions.list_all(store) if not s.paused]
    pipe = store.r.pipeline(transaction=True)
    creations = []
    for refresh, evs in groups:
        order = _stream_order(evs[0]["id"])
        for sub in subs:
            matched = [e["id"] for e in evs if sub.matches(e)]
            if matched:
                d = Delivery(deliveries.delivery_id(sub.id, refresh, matched), sub.id, refresh, matched,
                             created_at=now, deadline=now + deadline_s, order=order, next_attempt_at=now)
                creations.append(deliveries.create(store, d, pipe))
    pipe.set(keys.alerts_cursor(), groups[-1][1][-1]["id"])
    replies = pipe.execute()
    return sum(1 for i in creations if replies[i])  # SET NX answered: a delivery planned before is not counted


def _stream_order(event_id: str) -> float:
    ms, _, seq = event_id.partition("-")
    return int(ms) * 1000.0 + int(seq or 0)


def _settled_groups(evs: list[dict[str, Any]], now: float, settle_s: float) -> list[tuple[str, list[dict[str, Any]]]]:
    """Consecutive events grouped by refresh, keeping only the groups quiet for `settle_s` (in order: the
    cursor may not pass a group that is still growing)."""
    groups: list[tuple[str, list[dict[str, Any]]]] = []
    for ev in evs:
        if groups and groups[-1][0] == ev["refresh"]:
            groups[-1][1].append(ev)
        else:
            groups.append((ev["refresh"], [ev]))
    ready = []
    for refresh, group in groups:
        newest_s = int(group[-1]["id"].split("-")[0]) / 1000
        if now - newest_s < settle_s:
            break
        ready.append((refresh, group))
    return ready


def deliver_due(store: Store, sender: Sender, *, limit: int = 50) -> dict[str, int]:
    """Send every due delivery once (each under its own lease); returns counts by outcome."""
    counts: dict[str, int] = {}
    for d_id in deliveries.due(store, sender.clock(), limit):
        with Lease(store.r, f"delivery:{d_id}", 2 * sender.timeout_s + 10) as held:
            if held:
                outcome = _deliver_one(store, sender, d_id)
                counts[outcome] = counts.get(outcome, 0) + 1
                store.r.hincrby(keys.alert_stats(), outcome, 1)
    return counts


def _deliver_one(store: Store, sender: Sender, d_id: str) -> str:
    d = deliveries.get(store, d_id)
    if d is None or d.status is not DeliveryStatus.PENDING:
        store.r.zrem(keys.outbox(), d_id)  # delivered or expired: never sent again
        return "skipped"
    now = sender.clock()
    sub = subscriptions.get(store, d.subscription)
    if sub is None:
        return _dead(store, d, now, "the subscription was deleted")
    if sub.paused:
        return _retry(store, d, sender, now, f"subscription paused: {sub.paused_reason}", wait_s=300)
    head_id = deliveries.head_of_channel(store, sub.id)
    if head_id is not None and head_id != d.id:
        head = deliveries.get(store, head_id)
        if head is not None and head.status is DeliveryStatus.PENDING:  # an older message to this channel first
            d.next_attempt_at = max(now, head.next_attempt_at) + MIN_INTERVAL_S.get(sub.kind, 1.0)
            deliveries.save(store, d)
            return "waiting"
        store.r.zrem(keys.channel_queue(sub.id), head_id)  # finished or expired without leaving the queue
    next_ok = float(store.r.get(keys.channel_next(sub.id)) or 0)
    if now < next_ok:  # the channel's rate limit: wait without spending an attempt
        d.next_attempt_at = next_ok
        deliveries.save(store, d)
        return "rate_limited"
    target_error = subscriptions.check_url(sub.url, allow_private=sender.allow_private, resolver=sender.resolver)
    if target_error:  # checked again at send time: DNS may have changed since the subscription was made
        return _dead(store, d, now, f"target refused: {target_error}")
    evs = events.by_ids(store, d.event_ids)
    if not evs:
        return _dead(store, d, now, "its events are no longer in the stream")
    return _send(store, sender, d, sub, evs)


def _send(store: Store, sender: Sender, d: Delivery, sub: Subscription, evs: list[dict[str, Any]]) -> str:
    body = messages.body_bytes(messages.render(sub.kind, evs, dashboard_url=sender.dashboard_url))
    now = sender.clock()
    headers = _headers(d.id)
    if sub.kind == "webhook" and sub.secret:
        headers.update(messages.signature_headers(sub.secret, int(now), body))
    d.attempts += 1
    # Claim before sending: the attempt is recorded and no other runner finds it due during the send window.
    if not deliveries.claim(store, d, until=now + 2 * sender.timeout_s + 30):
        return "skipped"
    try:
        resp = sender.post(sub.url, body, headers)
    except TargetRefusedError as exc:  # resolved again at connect time, to a refused address: nothing was sent
        return _dead(store, d, now, f"target refused: {exc}")
    except requests.Timeout:
        return _retry(store, d, sender, now, "timeout")
    except requests.RequestException as exc:
        return _retry(store, d, sender, now, f"connection failed ({type(exc).__name__})")
    d.last_status = resp.status_code
    _pace(store, sub, now)
    if 200 <= resp.status_code < 300:
        return _delivered(store, d, sub, now)
    if resp.status_code == 429:
        return _retry(store, d, sender, now, "429 rate limited", wait_s=retry_after_s(resp))
    if resp.status_code >= 500:
        return _retry(store, d, sender, now, f"{resp.status_code} server error")
    if resp.status_code in (404, 410):
        _count_gone(store, sub)
    return _dead(store, d, now, f"{resp.status_code} refused (permanent)")


def _headers(delivery: str) -> dict[str, str]:
    # The delivery id doubles as an idempotency key receivers can use to drop a duplicate.
    return {"Content-Type": "application/json; charset=utf-8", "User-Agent": user_agent(),
            "X-Gapcast-Delivery": delivery}


def retry_after_s(resp: requests.Response) -> float:
    """Seconds to wait after a 429: the Retry-After header (Slack), else `retry_after` in a JSON body
    (Discord; seconds, possibly fractional; a value over an hour is taken as milliseconds). Default 5 s."""
    header = resp.headers.get("Retry-After")
    try:
        if header is not None:
            return max(0.0, float(header))
    except ValueError:
        pass
    try:
        value = float(json.loads(resp.content or b"{}").get("retry_after"))
    except (ValueError, TypeError, AttributeError):
        return BACKOFF_BASE_S
    return max(0.0, value / 1000 if value > 3600 else value)


def _pace(store: Store, sub: Subscription, now: float) -> None:
    store.r.set(keys.channel_next(sub.id), now + MIN_INTERVAL_S.get(sub.kind, 1.0), ex=3600)


def _delivered(store: Store, d: Delivery, sub: Subscription, now: float) -> str:
    d.status, d.delivered_at, d.last_error = DeliveryStatus.DELIVERED, now, ""
    d.history.append({"at": now, "status": d.last_status, "outcome": "delivered"})
    deliveries.save(store, d)
    store.r.delete(keys.channel_gone(sub.id))
    logger.info("delivery %s to subscription %s: delivered (attempt %d)", d.id, sub.id, d.attempts)
    return "delivered"


def _retry(store: Store, d: Delivery, sender: Sender, now: float, reason: str, wait_s: float | None = None) -> str:
    if wait_s is None:
        backoff = min(BACKOFF_MAX_S, BACKOFF_BASE_S * 2 ** max(0, d.attempts - 1))
        wait_s = backoff * (0.5 + sender.jitter() / 2)  # jitter: retries of many channels do not align
    if now + wait_s > d.deadline:
        return _dead(store, d, now, f"{reason}; deadline passed")
    d.next_attempt_at, d.last_error = now + wait_s, reason
    d.history.append({"at": now, "status": d.last_status, "outcome": f"retry in {wait_s:.1f} s: {reason}"})
    deliveries.save(store, d)
    logger.warning("delivery %s to subscription %s: %s; retry in %.1f s", d.id, d.subscription, reason, wait_s)
    return "retry"


def _dead(store: Store, d: Delivery, now: float, reason: str) -> str:
    d.status, d.last_error = DeliveryStatus.DEAD, reason
    d.history.append({"at": now, "status": d.last_status, "outcome": f"dead: {reason}"})
    deliveries.save(store, d)
    logger.error("delivery %s to subscription %s dead-lettered: %s", d.id, d.subscription, reason)
    return "dead"


def _count_gone(store: Store, sub: Subscription) -> None:
    pipe = store.r.pipeline(transaction=True)
    pipe.incr(keys.channel_gone(sub.id))
    pipe.expire(keys.channel_gone(sub.id), 30 * 86400)
    gone = int(pipe.execute()[0])
    if gone >= GONE_LIMIT:
        subscriptions.set_paused(store, sub.id, f"the target answered 404/410 {gone} times in a row")
        logger.error("subscription %s paused: its target is gone", sub.id)


def send_test(store: Store, sender: Sender, sub: Subscription) -> int:
    """Send a sample message to `sub` now (not through the outbox); returns the HTTP status.
    Raises requests.RequestException on a network failure (TargetRefusedError for a refused address)."""
    sample = {"id": f"{int(sender.clock() * 1000)}-0", "kind": "gap_narrowed", "domain": "coding",
              "summary": "Coding: gap narrowed from 8.2 to 6.9 % of scale (test message from gapcast)",
              "refresh": "test", "generation": "test", "at": "", "before": {"score_gap": 8.2, "lag_days": 126},
              "after": {"score_gap": 6.9, "lag_days": 98}, "models": ["example-closed", "example-open"]}
    body = messages.body_bytes(messages.render(sub.kind, [sample], dashboard_url=sender.dashboard_url))
    headers = _headers("test")
    if sub.kind == "webhook" and sub.secret:
        headers.update(messages.signature_headers(sub.secret, int(sender.clock()), body))
    return sender.post(sub.url, body, headers).status_code
