"""A failed pull's retry survives a scheduler restart: it lives in Redis (`gapcast:job:<name>` `retry_at`), not only
in APScheduler's in-memory job store, so a restarted scheduler runs it at its due time instead of waiting a full
interval (6 h for the big sources).

The source is a real HTTP server on loopback (pytest-httpserver) that fails, then recovers; Redis is the suite's.
One test injects the clock (due times exact to the second); one runs two real schedulers one after the other.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
import redis
from apscheduler.schedulers.background import BackgroundScheduler
from pytest_httpserver import HTTPServer
from werkzeug import Response

from forecasts.activity import source_status
from forecasts.measure.domains import Domain, parse_domains
from forecasts.settings import Settings
from forecasts.storage import keys
from forecasts.storage.ingest import load_snapshot
from forecasts.storage.store import Store
from jobs.http import Http
from jobs.schedule import Deps, JobSpec, build_sources, job_specs
from jobs.scheduler import JobRunner, build
from tests.conftest import FIXED_NOW
from tests.test_jobs import DOMAINS, GOOD_CSV, Feed, catalog_snapshot

pytestmark = pytest.mark.timeout(60)

SIX_HOURS = 21600


class Clock:
    """The scheduler's and store's clock, moved by the test."""

    def __init__(self, t: datetime) -> None:
        self.t = t

    def __call__(self) -> datetime:
        return self.t


def setup(redis_url: str, feed_url: str, clock: Callable[[], datetime],
          retry_max_s: int = 3600) -> tuple[Deps, JobSpec]:
    """A scheduler process's dependencies (its own Redis client) and the canonical pull's job."""
    settings = Settings(redis_url=redis_url, canonical_url=feed_url, epoch_url="", lmarena_url="",
                        canonical_every_s=SIX_HOURS, retry_max_s=retry_max_s)
    store = Store(redis.Redis.from_url(redis_url), now=clock)
    [spec] = [s for s in job_specs(settings, build_sources(settings, store)) if s.name == "pull:canonical"]
    return Deps(store, domains(), Http(timeout_s=5), settings), spec


def domains() -> dict[str, Domain]:
    return parse_domains(DOMAINS, "test domains")


def run_now(sched: BackgroundScheduler, job_id: str) -> str:
    """Run one job of a not-started scheduler the way APScheduler would."""
    job = sched.get_job(job_id)
    assert job is not None, f"no job {job_id}: {[j.id for j in sched.get_jobs()]}"
    return str(job.func(*job.args, **job.kwargs))


def test_a_restarted_scheduler_plans_the_pending_retry_at_its_due_time_and_runs_it_then(
        redis_url: str, httpserver: HTTPServer) -> None:
    store = Store(redis.Redis.from_url(redis_url), now=lambda: FIXED_NOW)
    load_snapshot(store, domains(), catalog_snapshot(), "test")
    feed = Feed(httpserver, "/feed.csv", GOOD_CSV, "text/csv")
    feed.fault = lambda: Response(b"down", status=502)
    clock = Clock(FIXED_NOW)

    deps, spec = setup(redis_url, feed.url, clock)
    first = build(deps, [spec], BackgroundScheduler(timezone=UTC), now=clock)
    assert run_now(first, spec.name) == "ran" and len(feed.requests) == 1  # failed: retry in 60 s (first backoff)
    due = FIXED_NOW + timedelta(seconds=60)
    assert source_status.read(store, "canonical")["next_retry_at"] == due.isoformat()
    first.remove_all_jobs()  # the process stops; its in-memory retry is gone

    clock.t = FIXED_NOW + timedelta(seconds=10)  # restarted 10 s later
    deps2, spec2 = setup(redis_url, feed.url, clock)
    second = build(deps2, [spec2], BackgroundScheduler(timezone=UTC), now=clock)
    retry = second.get_job(f"retry:{spec.name}")
    assert retry is not None and retry.trigger.run_date == due, "the retry must be planned at its due time"
    assert run_now(second, spec.name) == "skipped: ran recently on another replica"  # start-up run: not due yet

    clock.t = due
    feed.fault = None
    assert run_now(second, f"retry:{spec.name}") == "ran" and len(feed.requests) == 2
    status = source_status.read(store, "canonical")
    assert status["consecutive_failures"] == 0 and status["last_outcome"] == "ok"
    assert store.r.hget(keys.job_runs(spec.name), "retry_at") == b""
    assert second.get_job(f"retry:{spec.name}") is None  # done: not planned again


def test_a_scheduler_started_after_the_retry_was_due_runs_it_at_once_not_after_the_interval(
        redis_url: str, httpserver: HTTPServer) -> None:
    store = Store(redis.Redis.from_url(redis_url), now=lambda: FIXED_NOW)
    load_snapshot(store, domains(), catalog_snapshot(), "test")
    feed = Feed(httpserver, "/feed.csv", GOOD_CSV, "text/csv")
    feed.fault = lambda: Response(b"down", status=502)
    clock = Clock(FIXED_NOW)
    deps, spec = setup(redis_url, feed.url, clock)
    assert JobRunner(deps, now=clock).run(spec) == "ran"  # failed; due in 60 s

    clock.t = FIXED_NOW + timedelta(minutes=5)  # the scheduler was down over the due time
    feed.fault = None
    deps2, spec2 = setup(redis_url, feed.url, clock)
    restarted = build(deps2, [spec2], BackgroundScheduler(timezone=UTC), now=clock)
    assert restarted.get_job(f"retry:{spec.name}") is None  # overdue: the start-up run does it
    assert run_now(restarted, spec.name) == "ran" and len(feed.requests) == 2
    assert source_status.read(store, "canonical")["last_outcome"] == "ok"


def test_a_retry_another_replica_already_ran_or_moved_is_not_run_again(
        redis_url: str, httpserver: HTTPServer) -> None:
    store = Store(redis.Redis.from_url(redis_url), now=lambda: FIXED_NOW)
    load_snapshot(store, domains(), catalog_snapshot(), "test")
    feed = Feed(httpserver, "/feed.csv", GOOD_CSV, "text/csv")
    feed.fault = lambda: Response(b"down", status=502)
    clock = Clock(FIXED_NOW)
    planned: list[datetime] = []
    a = JobRunner(setup(redis_url, feed.url, clock)[0], now=clock, plan_retry=lambda _s, at: planned.append(at))
    deps_b, spec = setup(redis_url, feed.url, clock)
    b = JobRunner(deps_b, now=clock)
    assert a.run(spec) == "ran"  # fails: A plans its retry in memory at +60 s
    clock.t = planned[0]
    assert b.run(spec, retry=True) == "ran" and len(feed.requests) == 2  # B restarted and did it (failing again)
    assert a.run(spec, retry=True).startswith("skipped: retry moved to ") and len(feed.requests) == 2
    assert planned[-1] > clock.t  # A follows the new due time instead


def test_two_real_schedulers_one_after_the_other_the_second_does_the_retry_of_the_first(
        redis_url: str, httpserver: HTTPServer) -> None:
    store = Store(redis.Redis.from_url(redis_url))
    load_snapshot(store, domains(), catalog_snapshot(), "test")
    feed = Feed(httpserver, "/feed.csv", GOOD_CSV, "text/csv")
    feed.fault = lambda: Response(b"down", status=502)
    deps, spec = setup(redis_url, feed.url, lambda: datetime.now(UTC), retry_max_s=2)  # retry after 2 s; 6 h interval
    first = build(deps, [spec], BackgroundScheduler(timezone=UTC))
    first.start()
    wait_for(lambda: store.r.hget(keys.job_runs(spec.name), "last_outcome") is not None)
    first.shutdown(wait=True)  # stopped before its retry was due
    assert len(feed.requests) == 1

    feed.fault = None
    deps2, spec2 = setup(redis_url, feed.url, lambda: datetime.now(UTC), retry_max_s=2)
    second = build(deps2, [spec2], BackgroundScheduler(timezone=UTC))
    second.start()
    try:
        wait_for(lambda: source_status.read(store, "canonical").get("last_outcome") == "ok", timeout_s=20)
    finally:
        second.shutdown(wait=True)
    assert len(feed.requests) == 2, "the retry, then nothing until the 6 h interval"


def wait_for(predicate: Callable[[], bool], timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)
