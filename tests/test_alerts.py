"""Alert delivery over real HTTP: a local receiver that answers like chat platforms do when things go wrong
(5xx, 429 with a Slack `Retry-After` header or a Discord JSON `retry_after`, 400/404/410, timeouts) and records
what it got; time is driven by an injected clock. Exactly-once per (refresh, subscription), Retry-After, dead
letters and pausing, grouping and order, filters, signatures, chat formats, secrets, target validation and the
end-to-end path from `POST /v1/releases` to three receivers."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
import redis
import requests
from click.testing import CliRunner
from flask.testing import FlaskClient
from pytest_httpserver import HTTPServer
from werkzeug.datastructures import Headers
from werkzeug.wrappers import Request, Response

from forecasts.activity import deliveries, subscriptions
from forecasts.activity import events as fe
from forecasts.activity.events import Event, EventKind
from forecasts.activity.subscriptions import Subscription, SubscriptionError, validate
from forecasts.measure.domains import parse_domains
from forecasts.settings import Settings
from forecasts.storage import keys
from forecasts.storage.ingest import load_snapshot
from forecasts.storage.store import Store
from gapcast.cli import cli
from jobs.alerts import messages
from jobs.alerts.deliver import Sender, deliver_due, plan
from service import create_app
from tests.conftest import FIXED_NOW, SMALL_DOMAINS, small_snapshot_bytes

DASH = "https://gapcast.example/"
TOKEN = "admin-token-for-the-alert-tests"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
SECRET = "whsec-TOPSECRET-0123456789abcdef"
TIMEOUT_S = 0.5  # the sender's timeout; a "timeout" answer comes later than this
DEADLINE_S = 3600.0
AFTER = "2026-11-28T12:00:01+00:00"  # just after the events the `store` fixture emits (FIXED_NOW)


# ------------------------------------------------------------------------------------------- receiver


@pytest.fixture(scope="module")
def make_httpserver() -> Iterator[HTTPServer]:
    """The receiver (overrides the plugin's): threaded, so a request being timed out holds up no other."""
    server = HTTPServer(host="127.0.0.1", port=0, threaded=True)
    server.start()
    yield server
    server.clear()
    server.stop()


@dataclass
class Got:
    """One request the receiver got, and what it answered."""

    path: str
    headers: Headers
    body: bytes
    answer: str

    @property
    def delivery(self) -> str:
        return str(self.headers.get("X-Gapcast-Delivery", ""))

    def json(self) -> Any:
        return json.loads(self.body)


class Receiver:
    """One chat endpoint on the local server. It answers from `script` in turn, per delivery (the
    `X-Gapcast-Delivery` header) or, with `per_delivery=False`, per request; the last answer repeats.

    Answers: "200", "400", "404", "410", "500", ...; "429h:N" (Slack: `Retry-After: N`), "429j:N" (Discord:
    JSON `{"retry_after": N}`), "timeout" (answers after the sender gave up), "hold" (waits for `release`).
    """

    def __init__(self, server: HTTPServer, path: str, *script: str, per_delivery: bool = True) -> None:
        self.path, self.url = path, server.url_for(path)
        self.script = list(script) or ["200"]
        self.per_delivery = per_delivery
        self.got: list[Got] = []
        self.seen: dict[str, int] = {}
        self.lock = threading.Lock()
        self.entered, self.release = threading.Event(), threading.Event()
        server.expect_request(path, method="POST").respond_with_handler(self)

    def __call__(self, request: Request) -> Response:
        key = request.headers.get("X-Gapcast-Delivery", "") if self.per_delivery else ""
        with self.lock:
            n = self.seen.get(key, 0)
            self.seen[key] = n + 1
            answer = self.script[min(n, len(self.script) - 1)]
            self.got.append(Got(request.path, Headers(request.headers), request.get_data(), answer))
        return self._answer(answer)

    def _answer(self, answer: str) -> Response:
        if answer == "timeout":
            time.sleep(TIMEOUT_S + 0.4)
            return Response("too late", 200)
        if answer == "hold":
            self.entered.set()
            self.release.wait(10)
            return Response("ok", 200)
        if answer.startswith("429h:"):
            return Response("rate limited", 429, headers={"Retry-After": answer[5:]})
        if answer.startswith("429j:"):
            body = {"message": "You are being rate limited.", "retry_after": float(answer[5:]), "global": False}
            return Response(json.dumps(body), 429, content_type="application/json")
        return Response("ok" if answer == "200" else "error", int(answer))

    @property
    def delivered(self) -> list[Got]:
        """The requests answered 200 in time: the messages the channel shows."""
        return [g for g in self.got if g.answer in ("200", "hold")]


class Clock:
    """The sender's and planner's clock (Unix seconds), moved by the test. It starts a little after real
    time (planning compares it with the stream ids) and stays near it (signatures are checked against it)."""

    def __init__(self) -> None:
        self.t = time.time() + 1.0

    def __call__(self) -> float:
        return self.t


def make_sender(clock: Clock, timeout_s: float = TIMEOUT_S) -> Sender:
    session = requests.Session()
    session.trust_env = False  # loopback only, whatever proxy the environment names
    return Sender(DASH, allow_private=True, timeout_s=timeout_s, session=session, clock=clock, jitter=lambda: 0.0)


def plan_now(store: Store, clock: Clock, *, settle_s: float = 0.0, deadline_s: float = DEADLINE_S) -> int:
    return plan(store, now=clock(), deadline_s=deadline_s, settle_s=settle_s)


def drive(store: Store, sender: Sender, clock: Clock, rounds: int = 40) -> None:
    """`deliver_due` until the outbox is empty, moving the clock just past each next due time."""
    for _ in range(rounds):
        deliver_due(store, sender)
        nxt = store.r.zrange(keys.outbox(), 0, 0, withscores=True)
        if not nxt:
            return
        clock.t = max(clock.t, float(nxt[0][1])) + 0.01
    raise AssertionError("the outbox never emptied")


def sub_of(store: Store, sub_id: str) -> Subscription:
    sub = subscriptions.get(store, sub_id)
    assert sub is not None, sub_id
    return sub


def delivery_of(store: Store, d_id: str) -> deliveries.Delivery:
    d = deliveries.get(store, d_id)
    assert d is not None, d_id
    return d


def subscribe(store: Store, kind: str, url: str, sub_id: str, **extra: Any) -> Subscription:
    now = extra.pop("now", "")
    raw = {"kind": kind, "url": url, **extra}
    if kind == "webhook":
        raw.setdefault("secret", SECRET)
    sub = validate(raw, allow_private=True, sub_id=sub_id, now=now)
    subscriptions.save(store, sub)
    return sub


# --------------------------------------------------------------------------------------------- events


def refresh(store: Store, name: str, *evs: Event) -> list[str]:
    """The events of one refresh, appended to the stream; their ids."""
    return fe.emit(store, list(evs), refresh=name, generation=name)


def narrowed(domain: str = "coding", before: float = 12.0, after: float = 9.0) -> Event:
    return Event(EventKind.GAP_NARROWED, domain, f"{domain.title()}: gap narrowed from {before:.1f} to {after:.1f} "
                 "% of scale", {"score_gap": before, "status": "open_behind"},
                 {"score_gap": after, "status": "open_behind"}, ("closed-2", "open-3"))


def frontier(domain: str = "coding", model: str = "open-3") -> Event:
    return Event(EventKind.NEW_OPEN_FRONTIER, domain, f"{domain.title()}: new best open model {model} (75 on code-a)",
                 {"leader": {"model": "open-2", "score": 60.0}}, {"leader": {"model": model, "score": 75.0}},
                 ("open-2", model))


def caught_up(domain: str = "coding") -> Event:
    return Event(EventKind.CAUGHT_UP, domain, f"{domain.title()}: open models caught up (open_leads)",
                 {"score_gap": 9.0, "status": "open_behind"}, {"score_gap": -1.0, "status": "open_leads"},
                 ("closed-2", "open-3"))


def moved(days: int) -> Event:
    start = date(2027, 1, 31)
    ev = fe.catch_up_moved("coding", {"catch_up": {"p50": start.isoformat()}},
                           {"catch_up": {"p50": (start + timedelta(days=days)).isoformat()}})
    assert ev is not None
    return ev


# ------------------------------------------------------------------------------------------------ API


@pytest.fixture()
def domains_file(tmp_path: Path) -> Path:
    path = tmp_path / "domains.toml"
    path.write_text(SMALL_DOMAINS, encoding="utf-8")
    return path


@pytest.fixture()
def make_api(r: redis.Redis, domains_file: Path) -> Callable[..., FlaskClient]:
    """An API client on the test Redis; admin token set and loopback targets allowed unless overridden."""
    def make(**overrides: Any) -> FlaskClient:
        values: dict[str, Any] = {"admin_token": TOKEN, "allow_private_webhooks": True, **overrides}
        settings = Settings(redis_url="unused://", domains_file=domains_file, **values)
        return create_app(settings, client=r, config={"TESTING": True}).test_client()
    return make


def error_fields(resp: Any) -> set[str]:
    return {e.get("field", "") for e in resp.get_json()["errors"]}


# ====================================================================================== 1. exactly once

FAULTS = {
    "500 then 200": ("slack", ("500", "200")),
    "429 Retry-After then 200": ("slack", ("429h:2", "200")),
    "Discord 429 JSON then 200": ("discord", ("429j:1.5", "200")),
    "timeout then 200": ("webhook", ("timeout", "200")),
    "several 5xx then 200": ("teams", ("500", "502", "503", "500", "504", "200")),
}


@pytest.mark.parametrize(("kind", "script"), list(FAULTS.values()), ids=list(FAULTS))
def test_exactly_one_message_per_refresh_and_channel_after_a_fault(store: Store, redis_url: str, httpserver: HTTPServer,
                                                                  kind: str, script: tuple[str, ...]) -> None:
    a = Receiver(httpserver, "/hooks/a", *script)
    b = Receiver(httpserver, "/hooks/b", *script)
    subscribe(store, kind, a.url, "sub-a")
    subscribe(store, kind, b.url, "sub-b")
    refresh(store, "r1", frontier(), narrowed())
    refresh(store, "r2", narrowed("math"))
    clock = Clock()
    sender = make_sender(clock)
    assert plan_now(store, clock) == 4
    drive(store, sender, clock)

    for rcv, sub in ((a, "sub-a"), (b, "sub-b")):
        ok = [g.delivery for g in rcv.delivered]
        assert len(ok) == len(set(ok)) == 2, [g.answer for g in rcv.got]
        found = [delivery_of(store, d) for d in ok]
        assert sorted((d.subscription, d.refresh) for d in found) == [(sub, "r1"), (sub, "r2")]
        assert {g.delivery for g in rcv.got} == set(ok)  # every retry carried its delivery's id
        assert len(rcv.got) == 2 * len(script)  # each delivery: the whole fault sequence, then nothing
    rows = deliveries.recent(store)
    assert len(rows) == 4 and {row["status"] for row in rows} == {"delivered"}
    assert all(row["attempts"] == len(script) for row in rows)

    sent = len(a.got) + len(b.got)
    for _ in range(3):  # later runs of the job send nothing more
        clock.t += 3600
        assert plan_now(store, clock) == 0
        deliver_due(store, sender)
    clock.t += 86400
    with redis.Redis.from_url(redis_url) as client:  # a restart: new clients, new sender
        restarted = Store(client, now=lambda: FIXED_NOW)
        assert plan_now(restarted, clock) == 0
        assert deliver_due(restarted, make_sender(clock)) == {}
    assert len(a.got) + len(b.got) == sent


def test_planning_the_same_events_twice_makes_no_second_delivery(store: Store, httpserver: HTTPServer) -> None:
    rcv = Receiver(httpserver, "/hooks/once", "200")
    subscribe(store, "slack", rcv.url, "sub-once")
    refresh(store, "r1", narrowed(), caught_up())
    clock = Clock()
    assert plan_now(store, clock) == 1
    assert plan_now(store, clock) == 0  # the cursor moved past them
    store.r.delete(keys.alerts_cursor())  # the cursor lost: the same events are planned again
    plan_now(store, clock)
    assert len(deliveries.recent(store)) == 1
    drive(store, make_sender(clock), clock)
    store.r.delete(keys.alerts_cursor())  # ... even after the delivery went out
    replanned = plan_now(store, clock)
    drive(store, make_sender(clock), clock)
    assert len(rcv.got) == 1 and len(deliveries.recent(store)) == 1 and replanned <= 1


def test_planning_again_counts_no_delivery_it_did_not_create(store: Store, httpserver: HTTPServer) -> None:
    """`plan` "returns the number of deliveries created" (the CLI prints it, the job reports it)."""
    subscribe(store, "slack", Receiver(httpserver, "/hooks/count", "200").url, "sub-count")
    refresh(store, "r1", narrowed())
    clock = Clock()
    assert plan_now(store, clock) == 1
    store.r.delete(keys.alerts_cursor())
    assert len(deliveries.recent(store)) == 1
    assert plan_now(store, clock) == 0, "plan() counted a delivery its SET NX did not create"


def test_a_lease_lost_while_sending_does_not_send_twice(store: Store, redis_url: str, httpserver: HTTPServer) -> None:
    rcv = Receiver(httpserver, "/hooks/slow", "hold", "200")
    subscribe(store, "slack", rcv.url, "sub-slow")
    refresh(store, "r1", narrowed())
    clock = Clock()
    assert plan_now(store, clock) == 1
    [d_id] = deliveries.due(store, clock())
    first = threading.Thread(target=deliver_due, args=(store, make_sender(clock, timeout_s=5.0)))
    first.start()
    try:
        assert rcv.entered.wait(5), "the first send never arrived"
        store.r.delete(keys.lock(f"delivery:{d_id}"))  # the lease vanishes (expired, failover) mid-send
        with redis.Redis.from_url(redis_url) as client:  # a second replica (or `gapcast alerts deliver --once`)
            deliver_due(Store(client, now=lambda: FIXED_NOW), make_sender(clock, timeout_s=5.0))
    finally:
        rcv.release.set()
        first.join(10)
    clock.t += 60
    drive(store, make_sender(clock), clock)
    assert len(rcv.got) == 1, f"sent {len(rcv.got)} times: {[g.answer for g in rcv.got]}"
    assert delivery_of(store, d_id).status == "delivered"


# ================================================================================= 2. Retry-After


@pytest.mark.parametrize(("kind", "answer", "wait_s"), [("slack", "429h:2", 2.0), ("discord", "429j:1.5", 1.5),
                                                        ("slack", "429h:30", 30.0)])
def test_retry_after_is_honoured(store: Store, httpserver: HTTPServer, kind: str, answer: str, wait_s: float) -> None:
    rcv = Receiver(httpserver, "/hooks/limited", answer, "200")
    subscribe(store, kind, rcv.url, "sub-limited")
    refresh(store, "r1", narrowed())
    clock = Clock()
    sender = make_sender(clock)
    plan_now(store, clock)
    t0 = clock()
    assert deliver_due(store, sender) == {"retry": 1} and len(rcv.got) == 1
    [row] = deliveries.recent(store)
    assert row["next_attempt_at"] == pytest.approx(t0 + wait_s)
    for dt in (0.2, wait_s / 2, wait_s - 0.05):  # the backoff alone would allow a retry after 2.5 s
        clock.t = t0 + dt
        assert deliver_due(store, sender) == {} and len(rcv.got) == 1, f"attempt {dt} s after a 429"
    clock.t = t0 + wait_s + 0.01
    assert deliver_due(store, sender) == {"delivered": 1} and len(rcv.got) == 2


# ======================================================================== 3. permanent failures


def test_a_400_is_dead_lettered_at_once_and_listed(store: Store, httpserver: HTTPServer,
                                                   make_api: Callable[..., FlaskClient]) -> None:
    rcv = Receiver(httpserver, "/hooks/bad", "400")
    subscribe(store, "webhook", rcv.url, "sub-bad")
    refresh(store, "r1", narrowed())
    clock = Clock()
    plan_now(store, clock)
    assert deliver_due(store, make_sender(clock)) == {"dead": 1}
    for _ in range(3):
        clock.t += 3600
        deliver_due(store, make_sender(clock))
    assert len(rcv.got) == 1
    [dead] = deliveries.recent(store, status="dead")
    assert dead["subscription"] == "sub-bad" and dead["last_status"] == 400 and "400" in dead["last_error"]
    assert dead["attempts"] == 1 and deliveries.recent(store, status="pending") == []
    api = make_api()
    body = api.get("/v1/deliveries?status=dead", headers=AUTH).get_json()
    assert [d["id"] for d in body["deliveries"]] == [dead["id"]] and body["deliveries"][0]["status"] == "dead"
    assert api.get("/v1/deliveries?status=delivered", headers=AUTH).get_json()["deliveries"] == []
    assert api.get("/v1/deliveries").status_code == 401


def test_three_404_or_410_answers_pause_the_subscription(store: Store, httpserver: HTTPServer,
                                                         make_api: Callable[..., FlaskClient]) -> None:
    gone = Receiver(httpserver, "/hooks/gone", "404", "410", "404", per_delivery=False)
    alive = Receiver(httpserver, "/hooks/alive", "200")
    subscribe(store, "discord", gone.url, "sub-gone")
    subscribe(store, "discord", alive.url, "sub-alive")
    clock = Clock()
    for i in (1, 2, 3):
        assert not sub_of(store, "sub-gone").paused
        refresh(store, f"r{i}", narrowed(after=9.0 - i))
        clock.t += 10
        assert plan_now(store, clock) == 2
        drive(store, make_sender(clock), clock)
    sub = sub_of(store, "sub-gone")
    assert sub.paused and "404/410" in sub.paused_reason
    assert [g.answer for g in gone.got] == ["404", "410", "404"]  # each dead at once, none retried
    assert {row["status"] for row in deliveries.recent(store) if row["subscription"] == "sub-gone"} == {"dead"}

    refresh(store, "r4", narrowed(after=4.0))
    clock.t += 10
    assert plan_now(store, clock) == 1  # only the live channel
    drive(store, make_sender(clock), clock)
    assert len(gone.got) == 3 and len(alive.delivered) == 4
    listed = {s["id"]: s for s in make_api().get("/v1/subscriptions", headers=AUTH).get_json()["subscriptions"]}
    assert listed["sub-gone"]["paused"] is True and "404/410" in listed["sub-gone"]["paused_reason"]
    assert listed["sub-alive"]["paused"] is False


def test_500s_past_the_deadline_are_dead_lettered(store: Store, httpserver: HTTPServer) -> None:
    rcv = Receiver(httpserver, "/hooks/down", "500")
    subscribe(store, "slack", rcv.url, "sub-down")
    refresh(store, "r1", narrowed())
    clock = Clock()
    plan_now(store, clock, deadline_s=20)
    drive(store, make_sender(clock), clock)  # attempts at 0, 2.5, 7.5 and 17.5 s; the next would be at 37.5 s
    [dead] = deliveries.recent(store, status="dead")
    assert "deadline passed" in dead["last_error"] and "500" in dead["last_error"]
    assert len(rcv.got) == dead["attempts"] == 4
    clock.t += 3600
    deliver_due(store, make_sender(clock))
    assert len(rcv.got) == 4


# ================================================================================ 4. grouping, order


def test_one_refresh_is_one_message_with_its_events_in_stream_order(store: Store, httpserver: HTTPServer) -> None:
    hook = Receiver(httpserver, "/hooks/signed", "200")
    slack = Receiver(httpserver, "/hooks/slack", "200")
    subscribe(store, "webhook", hook.url, "sub-hook")
    subscribe(store, "slack", slack.url, "sub-slack")
    evs = [frontier(), narrowed(), caught_up(), narrowed("math", 20.0, 15.0)]
    ids = refresh(store, "r1", *evs)
    clock = Clock()
    assert plan_now(store, clock) == 2
    drive(store, make_sender(clock), clock)
    [msg] = hook.delivered
    body = msg.json()
    assert body["refresh"] == "r1" and [e["id"] for e in body["events"]] == ids
    assert [e["summary"] for e in body["events"]] == [e.summary for e in evs]
    [note] = slack.delivered
    text = note.body.decode()
    where = [text.find(e.summary) for e in evs]
    assert -1 not in where and where == sorted(where), where


def test_two_refreshes_are_two_messages_in_order(store: Store, httpserver: HTTPServer) -> None:
    hook = Receiver(httpserver, "/hooks/ordered", "200")
    subscribe(store, "webhook", hook.url, "sub-ordered")
    clock = Clock()
    sender = make_sender(clock)
    refresh(store, "r1", narrowed(after=8.0))
    refresh(store, "r2", narrowed(after=7.0))
    assert plan_now(store, clock) == 2
    drive(store, sender, clock)
    for name in ("r3", "r4", "r5", "r6"):  # a backlog: several refreshes planned by one run of the job
        refresh(store, name, frontier(model=f"open-{name}"))
    clock.t += 10
    assert plan_now(store, clock) == 4
    drive(store, sender, clock)
    assert [g.json()["refresh"] for g in hook.delivered] == ["r1", "r2", "r3", "r4", "r5", "r6"]


def test_a_refresh_still_settling_is_not_planned_yet(store: Store, httpserver: HTTPServer) -> None:
    hook = Receiver(httpserver, "/hooks/settle", "200")
    subscribe(store, "webhook", hook.url, "sub-settle")
    first = refresh(store, "r1", narrowed())
    time.sleep(0.05)
    more = refresh(store, "r1", caught_up())  # the same refresh grows (forecast events follow the data)
    time.sleep(0.05)
    later = refresh(store, "r2", frontier())
    t = {name: int(ids[-1].split("-")[0]) / 1000 for name, ids in (("r1", more), ("r2", later))}
    settle = 15.0
    assert plan(store, now=t["r1"] + settle - 0.02, deadline_s=DEADLINE_S, settle_s=settle) == 0
    assert store.r.get(keys.alerts_cursor()) is None
    assert plan(store, now=t["r2"] + settle - 0.02, deadline_s=DEADLINE_S, settle_s=settle) == 1  # r1 only
    assert plan(store, now=t["r2"] + settle, deadline_s=DEADLINE_S, settle_s=settle) == 1  # now r2
    clock = Clock()
    clock.t = t["r2"] + settle + 1
    drive(store, make_sender(clock), clock)
    assert [[e["id"] for e in g.json()["events"]] for g in hook.delivered] == [first + more, later]


# ========================================================================================= 5. filters


def test_subscription_filters(store: Store, httpserver: HTTPServer) -> None:
    rcv = {name: Receiver(httpserver, f"/hooks/{name}", "200") for name in ("all", "math", "caught", "big", "new")}
    subscribe(store, "webhook", rcv["all"].url, "sub-all")
    subscribe(store, "webhook", rcv["math"].url, "sub-math", domains=["math"])
    subscribe(store, "webhook", rcv["caught"].url, "sub-caught", events=["caught_up", "lead_lost"])
    subscribe(store, "webhook", rcv["big"].url, "sub-big", min_change=2.0)
    evs = [narrowed("coding", 12.0, 11.5), narrowed("math", 12.0, 9.0), caught_up("coding"), frontier("math"),
           moved(45)]
    refresh(store, "r1", *evs)
    subscribe(store, "webhook", rcv["new"].url, "sub-new", now=AFTER)  # created after r1's events
    later = Store(store.r, now=lambda: FIXED_NOW + timedelta(minutes=5))
    refresh(later, "r2", narrowed("math", 9.0, 8.0))
    clock = Clock()
    plan_now(store, clock)
    drive(store, make_sender(clock), clock)

    def got(name: str) -> list[tuple[str, str, str]]:  # messages by refresh (their order is another test's)
        bodies = sorted((g.json() for g in rcv[name].delivered), key=lambda b: str(b["refresh"]))
        return [(b["refresh"], e["kind"], e["domain"]) for b in bodies for e in b["events"]]
    assert got("all") == [("r1", "gap_narrowed", "coding"), ("r1", "gap_narrowed", "math"),
                          ("r1", "caught_up", "coding"), ("r1", "new_open_frontier", "math"),
                          ("r1", "catch_up_moved", "coding"), ("r2", "gap_narrowed", "math")]
    assert got("math") == [("r1", "gap_narrowed", "math"), ("r1", "new_open_frontier", "math"),
                           ("r2", "gap_narrowed", "math")]
    assert got("caught") == [("r1", "caught_up", "coding")]
    # min_change is "% of scale for gap moves" (README): the 0.5 and 1.0 point moves are too small, other kinds pass
    assert got("big") == [("r1", "gap_narrowed", "math"), ("r1", "caught_up", "coding"),
                          ("r1", "new_open_frontier", "math"), ("r1", "catch_up_moved", "coding")]
    assert got("new") == [("r2", "gap_narrowed", "math")]


# ====================================================================================== 6. signatures


def test_every_webhook_request_is_signed_and_names_its_delivery(store: Store, httpserver: HTTPServer) -> None:
    hook = Receiver(httpserver, "/hooks/signed", "500", "429h:1", "timeout", "200")
    slack = Receiver(httpserver, "/hooks/unsigned", "200")
    subscribe(store, "webhook", hook.url, "sub-signed")
    subscribe(store, "slack", slack.url, "sub-unsigned")
    refresh(store, "r1", narrowed(), caught_up())
    clock = Clock()
    plan_now(store, clock)
    drive(store, make_sender(clock), clock)
    recipe: dict[str, Any] = {}
    exec(messages.VERIFY_RECIPE, recipe)
    [row] = [d for d in deliveries.recent(store) if d["subscription"] == "sub-signed"]
    assert [g.answer for g in hook.got] == ["500", "429h:1", "timeout", "200"]
    for g in hook.got:
        assert g.delivery == row["id"]
        ts = int(g.headers["X-Gapcast-Timestamp"])
        assert g.headers["X-Gapcast-Signature"].startswith("sha256=")
        assert messages.verify(SECRET, g.headers, g.body, now=ts + 1)
        assert not messages.verify(SECRET + "x", g.headers, g.body, now=ts + 1)
        assert not messages.verify(SECRET, g.headers, g.body + b" ", now=ts + 1)
        assert recipe["verify_gapcast"](SECRET, g.headers, g.body) is True
    stamps = [int(g.headers["X-Gapcast-Timestamp"]) for g in hook.got]
    assert stamps == sorted(stamps) and stamps[-1] > stamps[0]  # signed afresh at each attempt
    [plain] = slack.got
    assert "X-Gapcast-Signature" not in plain.headers and plain.delivery != row["id"] and plain.delivery


# ==================================================================================== 7. chat formats


def test_each_chat_format_arrives(store: Store, httpserver: HTTPServer) -> None:
    rcv = {kind: Receiver(httpserver, f"/hooks/{kind}", "200") for kind in ("slack", "discord", "teams")}
    for kind, r in rcv.items():
        subscribe(store, kind, r.url, f"sub-{kind}")
    refresh(store, "r1", frontier(), caught_up())
    clock = Clock()
    plan_now(store, clock)
    drive(store, make_sender(clock), clock)
    bodies = {}
    for kind, r in rcv.items():
        [g] = r.delivered
        assert g.headers["Content-Type"].startswith("application/json")
        bodies[kind] = g.json()
    assert isinstance(bodies["slack"]["blocks"], list) and bodies["slack"]["blocks"]
    assert "open-3" in bodies["slack"]["text"]
    assert len(bodies["discord"]["embeds"]) == 2 and bodies["discord"]["allowed_mentions"] == {"parse": []}
    attachment = bodies["teams"]["attachments"][0]
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    assert attachment["content"]["type"] == "AdaptiveCard"


# ========================================================================================= 8. secrets

HOOK_PATH = "/hooks/T000/SECRET-PATH-123"


def test_urls_and_secrets_never_reach_logs_or_responses(store: Store, redis_url: str, httpserver: HTTPServer,
                                                        make_api: Callable[..., FlaskClient], tmp_path: Path,
                                                        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    slack = Receiver(httpserver, HOOK_PATH, "500", "timeout", "429j:1", "200")
    signed = Receiver(httpserver, HOOK_PATH + "-signed", "429h:1", "400")
    gone = Receiver(httpserver, HOOK_PATH + "-gone", "404")
    refused = "http://127.0.0.1:1" + HOOK_PATH + "-refused"
    api = make_api()
    shown: list[str] = []

    def call(resp: Any, status: int) -> Any:
        shown.append(resp.get_data(as_text=True))
        assert resp.status_code == status, resp.data
        return resp.get_json()

    made = {}
    for name, body in (("slack", {"kind": "slack", "url": slack.url}),
                       ("signed", {"kind": "webhook", "url": signed.url, "secret": SECRET}),
                       ("gone", {"kind": "discord", "url": gone.url}),
                       ("refused", {"kind": "teams", "url": refused})):
        made[name] = call(api.post("/v1/subscriptions", json=body, headers=AUTH), 201)["subscription"]
    assert made["slack"]["url"] == subscriptions.redact_url(slack.url) and made["slack"]["url"].endswith("/***")
    assert made["signed"]["secret"] == "***"
    call(api.post("/v1/subscriptions", json={"kind": "webhook", "url": signed.url + "?x=1", "secret": "short"},
                  headers=AUTH), 400)

    live = Store(store.r)  # the subscriptions were made just now (real time): so are the events
    clock = Clock()
    for i in (1, 2, 3):
        refresh(live, f"r{i}", narrowed(after=9.0 - i), caught_up())
        clock.t = max(clock.t, time.time() + 1)
        plan_now(live, clock, deadline_s=30)
        drive(live, make_sender(clock), clock)
    assert sub_of(store, made["gone"]["id"]).paused
    assert len(slack.delivered) == 3 and deliveries.recent(store, status="dead")

    env = {"GAPCAST_REDIS_URL": redis_url, "GAPCAST_ALLOW_PRIVATE_WEBHOOKS": "true", "GAPCAST_LOG_LEVEL": "DEBUG",
           "GAPCAST_DATA_DIR": str(tmp_path / "data")}
    runner = CliRunner()
    outputs = [runner.invoke(cli, args, env=env) for args in (
        ["alerts", "list"], ["alerts", "list", "--json"], ["alerts", "test", made["slack"]["id"]],
        ["alerts", "test", made["signed"]["id"]], ["alerts", "test", made["refused"]["id"]],
        ["alerts", "deliver", "--once"])]
    assert outputs[0].exit_code == 0 and subscriptions.redact_url(slack.url) in outputs[0].output
    assert "sending failed: ConnectionError" in outputs[4].output
    shown += [o.output for o in outputs]
    listed = call(api.get("/v1/subscriptions", headers=AUTH), 200)["subscriptions"]
    assert {s["url"] for s in listed} == {subscriptions.redact_url(u) for u in (slack.url, signed.url, gone.url,
                                                                                 refused)}
    assert len(call(api.get("/v1/deliveries", headers=AUTH), 200)["deliveries"]) == 12  # 4 channels x 3 refreshes
    assert call(api.get("/v1/deliveries?status=dead", headers=AUTH), 200)["deliveries"]

    formatter = logging.Formatter("%(name)s %(levelname)s %(message)s")
    ours = [(rec.name, formatter.format(rec)) for rec in caplog.records
            if not rec.name.startswith("werkzeug")]  # werkzeug: the receiver's own access log
    assert any("dead-lettered" in text for _, text in ours) and any("paused" in text for _, text in ours)
    leaks = [(name, text) for name, text in ours if "SECRET-PATH" in text or SECRET in text]
    assert leaks == [], f"secrets logged by {sorted({name for name, _ in leaks})}: {leaks[0][1]}"
    for text in shown:
        assert "SECRET-PATH" not in text and SECRET not in text, text


# ============================================================================= 9. target validation


@pytest.mark.parametrize(("raw", "field"), [
    ({"kind": "slack", "url": "http://hooks.example.com/x"}, "url"),
    ({"kind": "slack", "url": "https://127.0.0.1/hook"}, "url"),
    ({"kind": "slack", "url": "https://localhost/hook"}, "url"),
    ({"kind": "slack", "url": "https://10.0.0.1/hook"}, "url"),
    ({"kind": "slack", "url": "https://169.254.169.254/latest/meta-data"}, "url"),
    ({"kind": "slack", "url": "https://[::1]/hook"}, "url"),
    ({"kind": "slack", "url": "https://user:pw@127.0.0.1/hook"}, "url"),
    ({"kind": "pager", "url": "https://10.0.0.1/hook"}, "kind"),
    ({"kind": "webhook", "url": "https://10.0.0.1/hook", "secret": "short"}, "secret"),
    ({"kind": "slack", "url": "https://10.0.0.1/hook", "channel": "#general"}, "channel"),
])
def test_validate_refuses_bad_targets_naming_the_field(raw: dict[str, Any], field: str,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    looked_up: list[str] = []
    real = subscriptions.socket.getaddrinfo

    def getaddrinfo(host: str, *args: Any, **kwargs: Any) -> Any:
        looked_up.append(host)
        return real(host, *args, **kwargs)
    monkeypatch.setattr(subscriptions.socket, "getaddrinfo", getaddrinfo)
    with pytest.raises(SubscriptionError) as exc:
        validate(raw, allow_private=False)
    fields = {e["field"] for e in exc.value.errors}
    assert field in fields, exc.value.errors
    assert set(looked_up) <= {"127.0.0.1", "localhost", "10.0.0.1", "169.254.169.254", "::1"}  # no DNS
    assert "/hook" not in str(exc.value)


def test_validate_allows_loopback_http_only_when_told() -> None:
    assert validate({"kind": "slack", "url": "http://127.0.0.1:9/hook"}, allow_private=True).kind == "slack"
    with pytest.raises(SubscriptionError):
        validate({"kind": "slack", "url": "http://127.0.0.1:9/hook"}, allow_private=False)
    with pytest.raises(SubscriptionError) as exc:  # credentials stay refused even so
        validate({"kind": "slack", "url": "http://u:p@127.0.0.1:9/hook"}, allow_private=True)
    assert {e["field"] for e in exc.value.errors} == {"url"}


def test_subscription_api_errors(make_api: Callable[..., FlaskClient]) -> None:
    api = make_api(allow_private_webhooks=False)
    bad = {"kind": "pager", "url": "https://169.254.169.254/latest", "secret": "x", "domains": ["nope"],
           "events": ["boom"], "min_change": -1, "colour": "red"}
    resp = api.post("/v1/subscriptions", json=bad, headers=AUTH)
    assert resp.status_code == 400
    assert error_fields(resp) >= {"kind", "url", "domains", "events", "min_change", "colour"}
    resp = api.post("/v1/subscriptions", json={"kind": "slack", "url": "https://10.0.0.1/x"}, headers=AUTH)
    assert resp.status_code == 400 and error_fields(resp) == {"url"}
    resp = api.post("/v1/subscriptions", json={"kind": "webhook", "url": "https://[::1]/x", "secret": "s"},
                    headers=AUTH)
    assert resp.status_code == 400 and error_fields(resp) == {"url", "secret"}
    assert api.post("/v1/subscriptions", data="nope", headers=AUTH, content_type="application/json").status_code == 400
    assert api.post("/v1/subscriptions", data="nope", headers=AUTH).status_code == 415  # not declared as JSON
    assert api.post("/v1/subscriptions", json={"kind": "slack", "url": "https://10.0.0.1/x"}).status_code == 401
    assert api.get("/v1/subscriptions", headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert api.delete("/v1/subscriptions/nope", headers=AUTH).status_code == 404
    off = make_api(admin_token=None)
    assert off.get("/v1/subscriptions", headers=AUTH).status_code == 403
    assert off.get("/v1/deliveries", headers=AUTH).status_code == 403
    # the token comes first: without it, a bad parameter or an unknown id says nothing about the API
    assert api.get("/v1/deliveries?status=bogus").status_code == 401
    assert api.get("/v1/subscriptions?page=2").status_code == 401
    assert api.delete("/v1/subscriptions/nope").status_code == 401
    assert off.get("/v1/deliveries?status=bogus").status_code == 403


def test_subscription_api_create_list_delete(make_api: Callable[..., FlaskClient], httpserver: HTTPServer) -> None:
    api = make_api()
    url = httpserver.url_for("/hooks/x")
    resp = api.post("/v1/subscriptions", json={"kind": "slack", "url": url, "domains": ["coding"]}, headers=AUTH)
    assert resp.status_code == 201
    sub = resp.get_json()["subscription"]
    assert sub["url"] == subscriptions.redact_url(url) and sub["domains"] == ["coding"] and sub["paused"] is False
    assert [s["id"] for s in api.get("/v1/subscriptions", headers=AUTH).get_json()["subscriptions"]] == [sub["id"]]
    assert api.delete(f"/v1/subscriptions/{sub['id']}", headers=AUTH).status_code == 200
    assert api.get("/v1/subscriptions", headers=AUTH).get_json()["subscriptions"] == []
    assert api.delete(f"/v1/subscriptions/{sub['id']}", headers=AUTH).status_code == 404


# ===================================================================================== 10. end to end


def test_a_release_that_catches_up_reaches_three_receivers_exactly_once(
        store: Store, httpserver: HTTPServer, make_api: Callable[..., FlaskClient]) -> None:
    load_snapshot(store, parse_domains(SMALL_DOMAINS, "test"), small_snapshot_bytes(), "test")
    script = ("500", "429h:1", "200")
    rcv = {"slack": Receiver(httpserver, "/hooks/e2e/slack", *script),
           "discord": Receiver(httpserver, "/hooks/e2e/discord", *script),
           "webhook": Receiver(httpserver, "/hooks/e2e/signed", *script)}
    api = make_api()
    for kind, r in rcv.items():
        body: dict[str, Any] = {"kind": kind, "url": r.url, **({"secret": SECRET} if kind == "webhook" else {})}
        assert api.post("/v1/subscriptions", json=body, headers=AUTH).status_code == 201
    release = [{"model": "open-3", "organization": "OpenCo", "release_date": "2025-06-01", "access": "open",
                "benchmark": "code-a", "score": 80.0}]
    resp = api.post("/v1/releases", json=release, headers=AUTH)
    assert resp.status_code == 202, resp.data
    assert resp.get_json()["events"] >= 2
    kinds = {e["kind"] for e in fe.recent(store) if e["domain"] == "coding"}
    assert {"new_open_frontier", "caught_up"} <= kinds, kinds

    clock = Clock()
    sender = make_sender(clock)
    assert plan_now(store, clock) == 3
    for _ in range(3):  # the job runs again and again, well past every retry
        drive(store, sender, clock)
        clock.t += 30
        plan_now(store, clock)
    for kind, r in rcv.items():
        assert [g.answer for g in r.got] == list(script), kind
        [msg] = r.delivered
        text = {"slack": lambda b: b["text"] + json.dumps(b["blocks"]),
                "discord": lambda b: b["content"] + json.dumps(b["embeds"]),
                "webhook": lambda b: " ".join(e["summary"] for e in b["events"])}[kind](msg.json())
        assert "Coding" in text and "open-3" in text and "caught up" in text, (kind, text)
    signed = rcv["webhook"].delivered[0]
    assert messages.verify(SECRET, signed.headers, signed.body, now=int(clock()))
    assert {row["status"] for row in deliveries.recent(store)} == {"delivered"}
