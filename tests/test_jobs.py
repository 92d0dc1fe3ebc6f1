"""Scheduled jobs end to end: source pulls over real (loopback) HTTP into a real Redis, faults and retries,
leases across scheduler replicas, a refresh killed mid-write, incremental refreshes, POST /v1/releases and the
`gapcast ingest` / `gapcast sources` commands.

The data set is small but uses catalogued benchmark ids (the connectors only accept those): SWE-bench Verified
(in two domains), GPQA Diamond and Arena coding, with real model names and aliases as the sources spell them.
"""

from __future__ import annotations

import io
import itertools
import json
import re
import signal
import subprocess
import sys
import threading
import time
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import redis
from apscheduler.schedulers.background import BackgroundScheduler
from click.testing import CliRunner
from flask.testing import FlaskClient
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from forecasts.activity import events, source_status
from forecasts.measure.domains import Domain, load_domains, parse_domains
from forecasts.publishing import outlook
from forecasts.records.snapshot import bundled_bytes
from forecasts.settings import Settings
from forecasts.storage import keys
from forecasts.storage.connection import client_for
from forecasts.storage.ingest import load_snapshot
from forecasts.storage.store import Store, generation_seq
from gapcast.cli import cli
from jobs.http import Http
from jobs.refresh import FAILING_AFTER, PullOutcome, forecast_pending, run_pull
from jobs.schedule import Deps, JobSpec, build_sources, job_specs
from jobs.scheduler import JobRunner, build
from jobs.sources.base import Source
from jobs.sources.canonical import CanonicalFeed
from jobs.sources.epoch import EpochHub
from jobs.sources.lmarena import LMArena
from service import create_app
from tests.conftest import FIXED_NOW, bench_dict, make_snapshot, model_dict

FIXTURES = Path(__file__).parent / "fixtures"
SWE, GPQA, ARENA = "epoch-swe-bench-verified", "epoch-gpqa-diamond", "arena-text-coding"
HEADER = "model,organization,release_date,access,benchmark,score,stderr,source\n"
RETRY_MAX_S = 3600
TOKEN = "s3cret-admin-token"

DOMAINS = f"""
[domains.coding]
name = "Coding"
benchmarks = [{{ id = "{SWE}", weight = 2 }}, {{ id = "{ARENA}", weight = 1 }}]

[domains.agentic]
name = "Agentic"
benchmarks = [{{ id = "{SWE}" }}]

[domains.science]
name = "Science"
benchmarks = [{{ id = "{GPQA}" }}]
"""


def catalog_snapshot() -> bytes:
    """Six real models on three catalogued benchmarks; open is behind in every domain."""
    elo = {"unit": "Elo", "min": None, "max": None, "tie_margin": 10.0, "saturation": None, "scale": 400.0}
    scores = {
        SWE: {"gpt-4o": 33.2, "claude-3-5-haiku": 40.6, "claude-opus-4": 72.5, "llama-3.1-405b": 24.0,
              "deepseek-v3": 42.0, "deepseek-r1-0528": 57.6},
        GPQA: {"gpt-4o": 49.9, "claude-3-5-haiku": 38.1, "claude-opus-4": 79.6, "llama-3.1-405b": 50.7,
               "deepseek-v3": 59.1, "deepseek-r1-0528": 76.3},
        ARENA: {"gpt-4o": 1300.0, "claude-3-5-haiku": 1285.9, "claude-opus-4": 1420.0, "llama-3.1-405b": 1290.0,
                "deepseek-v3": 1380.0, "deepseek-r1-0528": 1425.9},
    }
    return make_snapshot(
        [bench_dict(SWE), bench_dict(GPQA), bench_dict(ARENA, **elo)],
        [model_dict("gpt-4o", "2024-05-13", "closed", "OpenAI"),
         model_dict("claude-3-5-haiku", "2024-10-22", "closed", "Anthropic",
                    ("claude-3-5-haiku-20241022", "Claude 3.5 Haiku")),
         model_dict("claude-opus-4", "2025-05-14", "closed", "Anthropic", ("claude-opus-4-20250514",)),
         model_dict("llama-3.1-405b", "2024-07-23", "open", "Meta", ("llama-3.1-405b-instruct-fp8",)),
         model_dict("deepseek-v3", "2024-12-26", "open", "DeepSeek"),
         model_dict("deepseek-r1-0528", "2025-05-28", "open", "DeepSeek", ("DeepSeek-R1 (May 2025)",))],
        [(m, b, v) for b, by_model in scores.items() for m, v in by_model.items()],
    )


@pytest.fixture()
def domains() -> dict[str, Domain]:
    return parse_domains(DOMAINS, "test domains")


@pytest.fixture()
def domains_file(tmp_path: Path) -> Path:
    path = tmp_path / "domains.toml"
    path.write_text(DOMAINS)
    return path


@pytest.fixture()
def loaded(store: Store, domains: dict[str, Domain]) -> str:
    """The catalog snapshot loaded; returns its generation."""
    return load_snapshot(store, domains, catalog_snapshot(), "test").generation


# --- helpers ---------------------------------------------------------------------------------------------


def text(v: bytes | str) -> str:
    return v.decode() if isinstance(v, bytes) else v


def served_data(r: redis.Redis) -> dict[str, tuple[bytes | None, bool]]:
    """Every key readers may see (not the source status, locks, job runs, budgets, events), by value and
    whether it is permanent."""
    skip = (keys.source_status(""), keys.lock(""), keys.job_runs(""), f"{keys.APP}:budget:", keys.events())
    out = {}
    for raw_key in r.scan_iter(match=f"{keys.APP}:*"):
        key = text(raw_key)
        if not key.startswith(skip):
            out[key] = (r.dump(key), r.ttl(key) == -1)
    return out


def pull(store: Store, domains: dict[str, Domain], source: Source, *, timeout_s: float = 5.0) -> PullOutcome:
    return run_pull(store, domains, source, Http(timeout_s=timeout_s), retry_max_s=RETRY_MAX_S)


def csv_rows(*rows: str) -> bytes:
    return (HEADER + "".join(r + "\n" for r in rows)).encode()


def zip_folder(folder: Path) -> bytes:
    """The Epoch hub fixture folder zipped as `benchmark_data/...`, like the real download."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for p in sorted(folder.rglob("*")):
            if p.is_file():
                z.writestr("benchmark_data/" + p.relative_to(folder).as_posix(), p.read_bytes())
    return buf.getvalue()


class Feed:
    """A switchable payload at one path of the local server: `good` (with an ETag honouring If-None-Match)
    or a fault; a slow fault waits up to 1 s (released at once when the feed recovers)."""

    def __init__(self, server: HTTPServer, path: str, good: bytes, content_type: str, *,
                 etag: str | None = None) -> None:
        self.good, self.content_type, self.etag = good, content_type, etag
        self.fault: Callable[[], Response] | None = None
        self.released = threading.Event()
        self.requests: list[dict[str, str]] = []
        server.expect_request(path).respond_with_handler(self._handle)
        self.url = server.url_for(path)

    def _handle(self, request: Request) -> Response:
        self.requests.append(dict(request.headers))
        if self.fault is not None:
            return self.fault()
        if self.etag is not None and request.headers.get("If-None-Match") == self.etag:
            return Response(b"", status=304, headers={"ETag": self.etag})
        return Response(self.good, content_type=self.content_type, headers={"ETag": self.etag} if self.etag else {})

    def slow(self) -> Response:
        self.released.wait(1.0)
        return Response(self.good, content_type=self.content_type)

    def recover(self) -> None:
        self.fault = None
        self.released.set()


# --- 1. a pull end to end --------------------------------------------------------------------------------

FIRST_FEED = csv_rows(
    "DeepSeek-R1 (May 2025),DeepSeek,2025-05-28,open,epoch-gpqa-diamond,76.3,,",  # unchanged
    "Claude 3.5 Haiku,Anthropic,2024-10-22,closed,epoch-gpqa-diamond,41.6,2.6,",  # changed
    "Qwen3 235B A22B,Alibaba,2025-04-29,open,epoch-gpqa-diamond,62.0,,",  # a new model
    "claude-3-5-haiku-20241022,,,,arena-text-coding,1285.9,,",  # a stored model without date: unchanged
    "mystery-model-x,,,,arena-text-coding,1301.0,,",  # unknown and without date: unmatched
)


def test_canonical_pull_commits_a_generation_counting_only_new_or_changed_scores(
        store: Store, domains: dict[str, Domain], loaded: str, httpserver: HTTPServer) -> None:
    feed = Feed(httpserver, "/feeds/scores.csv", FIRST_FEED, "text/csv", etag='"v1"')
    out = pull(store, domains, CanonicalFeed(feed.url))
    assert out.ok and out.result is not None and out.result.changed
    res = out.result
    assert res.generation == store.current_generation() and generation_seq(res.generation) > generation_seq(loaded)
    assert (res.stats.new_scores, res.stats.changed_scores, res.stats.unchanged_scores) == (1, 1, 2)
    assert len(res.stats.new_models) == 1
    assert [(e.name, e.reason) for e in res.exclusions] == [("mystery-model-x", "unmatched")]
    assert res.touched_benchmarks == [GPQA] and res.touched_domains == ["science"]
    data = store.read_dataset(res.generation)
    assert data.scores[(GPQA, "claude-3-5-haiku")].value == 41.6
    assert data.scores[(ARENA, "deepseek-v3")].value == 1380.0  # untouched benchmark copied over
    status = source_status.read(store, "canonical")
    assert status["last_success_at"] == FIXED_NOW.isoformat() and status["consecutive_failures"] == 0
    assert (status["rows_accepted"], status["rows_rejected"], status["generation"]) == (4, 1, res.generation)
    [(meta, raw)] = store.raw_payloads("canonical")
    assert raw == FIRST_FEED and meta["generation"] == res.generation

    again = pull(store, domains, CanonicalFeed(feed.url))  # the server answers 304 to our ETag
    assert again.ok and again.not_modified and again.result is None
    assert feed.requests[-1]["If-None-Match"] == '"v1"'
    assert store.current_generation() == res.generation
    status = source_status.read(store, "canonical")
    assert status["last_outcome"] == "not_modified" and status["pulls"] == 2 and status["rows_accepted"] == 4


def test_identical_pull_without_validators_writes_no_generation(
        store: Store, domains: dict[str, Domain], loaded: str, httpserver: HTTPServer) -> None:
    feed = Feed(httpserver, "/scores.csv", FIRST_FEED, "text/csv")
    first = pull(store, domains, CanonicalFeed(feed.url))
    assert first.result is not None and first.result.changed
    before = served_data(store.r)
    second = pull(store, domains, CanonicalFeed(feed.url))
    assert second.ok and not second.not_modified and second.result is not None
    assert not second.result.changed and second.result.stats.new_scores == second.result.stats.changed_scores == 0
    assert second.result.stats.unchanged_scores == 4 and second.rejected == 1
    assert "If-None-Match" not in feed.requests[-1]
    after = served_data(store.r)
    raw_key = keys.raw("canonical")
    assert {k: v for k, v in after.items() if k != raw_key} == {k: v for k, v in before.items() if k != raw_key}
    assert store.current_generation() == first.result.generation


def test_lmarena_pull_applies_stored_models_and_rejects_unknown_undated_ones(
        store: Store, domains: dict[str, Domain], loaded: str, httpserver: HTTPServer) -> None:
    board = (FIXTURES / "lmarena" / "leaderboard-text.json").read_bytes()
    feed = Feed(httpserver, "/data/leaderboard-text.json", board, "application/json")
    out = pull(store, domains, LMArena(feed.url))
    assert out.ok and out.result is not None and out.result.changed
    res = out.result
    assert ARENA in res.touched_benchmarks and "coding" in res.touched_domains and "science" not in res.touched_domains
    unmatched = {e.name for e in res.exclusions if e.reason == "unmatched"}
    assert {"gemini-3-pro", "glm-4.6"} <= unmatched  # not stored, and Arena gives no release date
    data = store.read_dataset(res.generation)
    assert data.scores[(ARENA, "claude-opus-4")].value != 1420.0  # Arena's own rating replaced ours
    status = source_status.read(store, "lmarena")
    assert status["consecutive_failures"] == 0 and status["rows_rejected"] == len(res.exclusions) > 0
    assert status["rows_accepted"] == res.stats.accepted > 0


# --- 2. faults -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Fault:
    """A broken answer from a source, the healthy payload it recovers to, and the reason it must record."""

    source: Callable[[str], Source]
    path: str
    good: bytes
    content_type: str
    bad: Callable[[Feed], Response]
    reason: str | None  # None: any reason (the error must still name the problem, see `mentions`)
    mentions: str = ""
    timeout_s: float = 5.0


GOOD_CSV = csv_rows("DeepSeek-V3,DeepSeek,2024-12-26,open,epoch-swe-bench-verified,44.5,,")
EPOCH_ZIP = zip_folder(FIXTURES / "epoch" / "hub")
ARENA_JSON = (FIXTURES / "lmarena" / "leaderboard-text.json").read_bytes()


def _body(data: bytes, content_type: str, status: int = 200) -> Callable[[Feed], Response]:
    return lambda feed: Response(data, status=status, content_type=content_type)


FAULTS = {
    "html-instead-of-csv": Fault(CanonicalFeed, "/feed.csv", GOOD_CSV, "text/csv", _body(
        b"<!DOCTYPE html><html><head><title>Sign in</title></head><body>Please sign in</body></html>",
        "text/html"), "bad_format", "HTML"),
    "truncated-epoch-zip": Fault(EpochHub, "/data/benchmark_data.zip", EPOCH_ZIP, "application/zip",
                                 _body(EPOCH_ZIP[: len(EPOCH_ZIP) // 2], "application/zip"), "bad_format"),
    "garbage-lmarena-json": Fault(LMArena, "/leaderboard-text.json", ARENA_JSON, "application/json",
                                  _body(b'{"coding": {"gemini-3-pro": {"rating": 15', "application/json"),
                                  "bad_format", "JSON"),
    "renamed-column": Fault(CanonicalFeed, "/feed.csv", GOOD_CSV, "text/csv", _body(
        GOOD_CSV.replace(b",score,", b",value,", 1), "text/csv"), "bad_format", "score"),
    "http-500": Fault(CanonicalFeed, "/feed.csv", GOOD_CSV, "text/csv",
                      _body(b"internal error", "text/plain", status=500), "http_5xx"),
    "timeout": Fault(CanonicalFeed, "/feed.csv", GOOD_CSV, "text/csv", Feed.slow, "timeout", timeout_s=0.5),
    "model-with-two-release-dates": Fault(CanonicalFeed, "/feed.csv", GOOD_CSV, "text/csv", _body(csv_rows(
        "Qwen3 235B A22B,Alibaba,2025-04-29,open,epoch-gpqa-diamond,62.0,,",
        "Qwen3 235B A22B,Alibaba,2025-07-21,open,epoch-swe-bench-verified,34.4,,"), "text/csv"), None, "release"),
}


@pytest.mark.parametrize("name", list(FAULTS))
def test_a_failing_source_backs_off_raises_an_event_changes_no_data_and_recovers(
        name: str, store: Store, domains: dict[str, Domain], loaded: str, httpserver: HTTPServer) -> None:
    fault = FAULTS[name]
    feed = Feed(httpserver, fault.path, fault.good, fault.content_type)
    feed.fault = lambda: fault.bad(feed)
    source = fault.source(feed.url)
    before = served_data(store.r)
    for n in range(1, FAILING_AFTER + 1):
        out = pull(store, domains, source, timeout_s=fault.timeout_s)
        assert not out.ok and out.result is None and out.error, f"{name}: the pull was applied: {out.to_dict()}"
        status = source_status.read(store, source.id)
        assert status["consecutive_failures"] == n and status["last_outcome"] == "failed"
        if fault.reason is not None:
            assert out.error.startswith(f"{fault.reason}: ") and status["last_error"].startswith(fault.reason)
        assert fault.mentions.lower() in status["last_error"].lower()
        wait = timedelta(seconds=source_status.BACKOFF_BASE_S * 2 ** (n - 1))
        assert out.retry_at == FIXED_NOW + wait
        assert datetime.fromisoformat(status["next_retry_at"]) == FIXED_NOW + wait
        assert "last_success_at" not in status
    assert served_data(store.r) == before, "a failed pull changed the data readers see"
    failing = [e for e in events.recent(store) if e["kind"] == "source_failing"]
    assert [e["after"]["source"] for e in failing] == [source.id]
    assert failing[0]["after"]["consecutive_failures"] == FAILING_AFTER

    feed.recover()
    out = pull(store, domains, source, timeout_s=fault.timeout_s)
    assert out.ok and out.result is not None and out.result.changed, out.error
    assert store.current_generation() == out.result.generation != loaded
    status = source_status.read(store, source.id)
    assert status["consecutive_failures"] == 0 and status["next_retry_at"] == "" and status["last_outcome"] == "ok"
    assert status["last_success_at"] == FIXED_NOW.isoformat()


# --- 3. Redis unavailable during a run -------------------------------------------------------------------


def test_job_run_against_a_dead_redis_fails_without_raising_and_the_next_run_completes(
        store: Store, domains: dict[str, Domain], loaded: str, httpserver: HTTPServer, tmp_path: Path) -> None:
    feed = Feed(httpserver, "/feed.csv", GOOD_CSV, "text/csv")
    settings = Settings(redis_url="unused://", canonical_url=feed.url, epoch_url="", lmarena_url="")
    specs = {s.name: s for s in job_specs(settings, build_sources(settings, store))}
    assert [n for n in specs if n.startswith("pull:")] == ["pull:canonical"] and "forecast" in specs
    dead = client_for(f"unix://{tmp_path / 'no-redis.sock'}", Settings(redis_socket_timeout_s=0.5))
    dead_deps = Deps(Store(dead, now=lambda: FIXED_NOW), domains, Http(timeout_s=5), settings)
    outcome = JobRunner(dead_deps).run(specs["pull:canonical"])
    assert outcome.startswith("failed: ") and "Connection" in outcome
    assert feed.requests == [] and store.current_generation() == loaded

    live = JobRunner(Deps(store, domains, Http(timeout_s=5), settings))
    assert live.run(specs["pull:canonical"]) == "ran"
    assert store.current_generation() != loaded and len(feed.requests) == 1
    assert store.r.hget(keys.job_runs("pull:canonical"), "last_outcome") == b"ok"
    assert source_status.read(store, "canonical")["consecutive_failures"] == 0


def test_a_failed_pull_under_the_runner_is_recorded_and_its_retry_planned_at_the_backoff_time(
        store: Store, domains: dict[str, Domain], loaded: str, httpserver: HTTPServer) -> None:
    feed = Feed(httpserver, "/feed.csv", GOOD_CSV, "text/csv")
    feed.fault = lambda: Response(b"busy", status=503, headers={"Retry-After": "300"})
    settings = Settings(redis_url="unused://", canonical_url=feed.url, epoch_url="", lmarena_url="")
    [spec] = [s for s in job_specs(settings, build_sources(settings, store)) if s.name == "pull:canonical"]
    planned: list[tuple[str, datetime]] = []
    clock = [FIXED_NOW]  # the runner's clock; the store's stays at FIXED_NOW
    runner = JobRunner(Deps(store, domains, Http(timeout_s=5), settings), now=lambda: clock[0],
                       plan_retry=lambda job, at: planned.append((job.name, at)))
    assert runner.run(spec) == "ran"
    assert planned == [("pull:canonical", FIXED_NOW + timedelta(seconds=300))]  # Retry-After beats the 60 s backoff
    last = store.r.hget(keys.job_runs(spec.name), "last_outcome")
    assert last is not None and text(last).startswith("failed: http_5xx")
    assert runner.run(spec) == "skipped: ran recently on another replica"  # the regular turn waits
    clock[0] = FIXED_NOW + timedelta(seconds=300)  # the retry's due time
    assert runner.run(spec, retry=True) == "ran" and len(planned) == 2
    assert planned[1][1] == FIXED_NOW + timedelta(seconds=300)
    assert source_status.read(store, "canonical")["consecutive_failures"] == 2


# --- 4. two schedulers, one Redis ------------------------------------------------------------------------


def counting_job(calls: list[float], every_s: int, sleep_s: float) -> JobSpec:
    def run(_deps: Deps) -> int:
        calls.append(time.monotonic())
        time.sleep(sleep_s)
        return len(calls)
    return JobSpec("count", every_s, "count the runs", run)


def replica_deps(redis_url: str, domains: dict[str, Domain]) -> Deps:
    """A scheduler replica's own dependencies: its own Redis client to the shared server."""
    return Deps(Store(redis.Redis.from_url(redis_url)), domains, Http(timeout_s=5), Settings(redis_url=redis_url))


def test_two_replicas_racing_on_one_job_run_it_once_and_a_later_call_skips(
        redis_url: str, domains: dict[str, Domain]) -> None:
    calls: list[float] = []
    spec = counting_job(calls, every_s=3600, sleep_s=0.3)
    runners = [JobRunner(replica_deps(redis_url, domains)) for _ in range(2)]
    start = threading.Barrier(2)
    outcomes: list[str] = []

    def race(runner: JobRunner) -> None:
        start.wait()
        outcomes.append(runner.run(spec))
    threads = [threading.Thread(target=race, args=(r,)) for r in runners]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert len(calls) == 1 and sorted(outcomes)[0] == "ran" and outcomes.count("ran") == 1, outcomes
    assert next(o for o in outcomes if o != "ran").startswith("skipped: ")
    assert runners[1].run(spec) == "skipped: ran recently on another replica"
    assert runners[0].run(spec) == "skipped: ran recently on another replica"
    assert len(calls) == 1
    assert runners[0].run(spec, retry=True) == "ran" and len(calls) == 2  # a planned retry is not skipped


def test_two_real_schedulers_on_one_redis_run_a_job_as_often_as_one_would(
        redis_url: str, domains: dict[str, Domain]) -> None:
    calls: list[float] = []
    spec = counting_job(calls, every_s=1, sleep_s=0.05)
    duration_s = 2.5
    scheds = [build(replica_deps(redis_url, domains), [spec], BackgroundScheduler(timezone=UTC)) for _ in range(2)]
    for s in scheds:
        s.start()
    time.sleep(duration_s)
    for s in scheds:
        s.shutdown(wait=True)
    one_scheduler = int(duration_s // spec.every_s) + 1  # first run at start, then every second
    assert abs(len(calls) - one_scheduler) <= 1, f"{len(calls)} runs, one scheduler would do {one_scheduler}"
    gaps = [b - a for a, b in itertools.pairwise(calls)]
    assert all(g > 0.5 for g in gaps), gaps  # never two runs of one interval


# --- 5. a refresh killed mid-write -----------------------------------------------------------------------

REFRESH = """
import sys
import redis
from forecasts.measure.domains import load_domains
from forecasts.storage.ingest import load_snapshot
from forecasts.records.snapshot import bundled_bytes
from forecasts.storage.store import Store
store, domains, raw = Store(redis.Redis.from_url(sys.argv[1])), load_domains(), bundled_bytes()
print("ready", flush=True)
load_snapshot(store, domains, raw, "killed refresh")
print("done", flush=True)
"""


def assert_readers_see_nothing_or_a_complete_generation(r: redis.Redis, when: str) -> None:
    store = Store(r)
    gen = store.current_generation()
    if gen is not None:
        summary = store.read_json(keys.gen_summary(gen))
        assert summary, when
        benches = [text(b) for b in r.hkeys(keys.gen_benchmarks(gen))]
        assert benches and r.exists(keys.gen_models(gen)) and r.exists(keys.gen_forecast_index(gen)), when
        missing = [b for b in benches if not r.exists(keys.gen_benchmark_series(gen, b))]
        missing += [row["domain"] for row in summary if not r.exists(keys.gen_domain_series(gen, row["domain"]))]
        assert not missing, f"{when}: generation {gen} lacks series {missing}"
    undying = [text(k) for k in r.scan_iter(match=f"{keys.APP}:gen:*")
               if text(k).split(":")[2] != gen and r.ttl(k) == -1]
    assert not undying, f"{when}: keys of unfinished generations that never expire: {undying[:5]}"


def kill_at(url: str, r: redis.Redis, trigger: Callable[[float], bool]) -> int:
    """Start a refresh of the bundled snapshot in a subprocess, SIGKILL it once `trigger(seconds since it
    started writing)` holds (or it ended); returns the number of keys at the kill."""
    child = subprocess.Popen([sys.executable, "-c", REFRESH, url], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "ready"
        started = time.monotonic()
        while child.poll() is None and not trigger(time.monotonic() - started):
            pass
        child.send_signal(signal.SIGKILL)
        child.wait(10)
        return int(r.dbsize())
    finally:
        if child.poll() is None:
            child.kill()
        if child.stdout is not None:
            child.stdout.close()


def test_a_refresh_killed_at_any_point_leaves_a_complete_generation_or_none_and_a_restart_completes(
        redis_url: str, r: redis.Redis) -> None:
    triggers: dict[str, Callable[[float], bool]] = {
        "after 0.05 s": lambda t: t >= 0.05,
        "after 0.4 s": lambda t: t >= 0.4,
        "once writing began": lambda _t: r.dbsize() > 2,
        "half way through the writes": lambda _t: r.dbsize() > 100,
    }
    half_written = 0
    for when, trigger in triggers.items():
        r.flushdb()
        kill_at(redis_url, r, trigger)
        assert_readers_see_nothing_or_a_complete_generation(r, f"killed {when}")
        half_written += Store(r).current_generation() is None and r.dbsize() > 1
    assert half_written, "no kill landed while the generation was being written: the test proved nothing"
    result = load_snapshot(Store(r), load_domains(), bundled_bytes(), "restarted refresh")
    assert Store(r).current_generation() == result.generation and result.benchmarks > 50
    assert_readers_see_nothing_or_a_complete_generation(r, "after the restart")


# --- 6. incremental refresh ------------------------------------------------------------------------------


def test_a_pull_changing_one_benchmark_touches_only_its_domains_and_forecasts(
        store: Store, domains: dict[str, Domain], loaded: str, httpserver: HTTPServer) -> None:
    assert forecast_pending(store, domains=domains) == 12  # 3 domains and 3 benchmarks, two metrics each
    before = {ref.field: ref.hash for ref in outlook.read_index(store, loaded)}
    feed = Feed(httpserver, "/feed.csv", csv_rows(
        "DeepSeek-R1 (May 2025),DeepSeek,2025-05-28,open,epoch-swe-bench-verified,65.0,,"), "text/csv")
    out = pull(store, domains, CanonicalFeed(feed.url))
    assert out.result is not None and out.result.stats.changed_scores == 1
    gen = out.result.generation
    assert out.result.touched_benchmarks == [SWE] and out.result.touched_domains == ["agentic", "coding"]
    touched = {f"{kind}:{target}:{metric}" for kind, target in
               (("benchmark", SWE), ("domain", "coding"), ("domain", "agentic"))
               for metric in outlook.METRICS}
    pending = {ref.field for ref in outlook.pending(store, gen)}
    assert f"benchmark:{SWE}:score_gap" in pending and "domain:coding:score_gap" in pending
    assert pending <= touched, pending - touched
    after = {ref.field: ref.hash for ref in outlook.read_index(store, gen)}
    assert set(after) == set(before)
    assert {f for f in after if after[f] != before[f]} == pending  # the rest keep their forecasts
    assert forecast_pending(store, domains=domains) == len(pending) and outlook.pending(store, gen) == []


# --- 7. POST /v1/releases --------------------------------------------------------------------------------

NEW_OPEN_LEADER = [{"model": "Open Frontier 1", "organization": "OpenLab", "release_date": "2025-06-10",
                    "access": "open", "benchmark": GPQA, "score": 85.0, "source": "lab report"}]


def api_client(r: redis.Redis, domains_file: Path, **settings: Any) -> FlaskClient:
    base = Settings(redis_url="unused://", domains_file=domains_file)
    return create_app(replace(base, **settings), client=r, config={"TESTING": True}).test_client()


def post(api: FlaskClient, body: Any, *, token: str | None = TOKEN, content_type: str = "application/json",
         raw: bytes | None = None) -> Any:
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    data = raw if raw is not None else json.dumps(body).encode()
    return api.post("/v1/releases", data=data, headers=headers, content_type=content_type)


def assert_error(resp: Any, status: int) -> dict[str, Any]:
    assert resp.status_code == status, resp.data
    body = resp.get_json()
    assert set(body) == {"ok", "error", "errors", "status"} and body["ok"] is False and body["status"] == status
    assert TOKEN not in resp.get_data(as_text=True)
    return dict(body)


def test_releases_refuse_without_admin_token_or_json_or_with_a_huge_body(
        r: redis.Redis, loaded: str, domains_file: Path) -> None:
    before = served_data(r)
    assert_error(post(api_client(r, domains_file), NEW_OPEN_LEADER), 403)
    api = api_client(r, domains_file, admin_token=TOKEN)
    assert assert_error(post(api, NEW_OPEN_LEADER, token=None), 401)["errors"][0]["field"] == "Authorization"
    assert_error(post(api, NEW_OPEN_LEADER, token="wrong"), 401)
    assert_error(post(api, NEW_OPEN_LEADER, token=TOKEN[:-1]), 401)
    assert_error(post(api, NEW_OPEN_LEADER, content_type="text/csv"), 415)
    assert_error(post(api, None, raw=b"[" + b" " * (1 << 20) + b"]"), 413)
    assert served_data(r) == before


def test_releases_with_bad_records_are_400_naming_record_and_field_and_store_nothing(
        r: redis.Redis, loaded: str, domains_file: Path) -> None:
    api = api_client(r, domains_file, admin_token=TOKEN)
    before = served_data(r)
    bad = [{**NEW_OPEN_LEADER[0], "release_date": "2025-02-30"},
           {**NEW_OPEN_LEADER[0], "model": "Other", "score": 150},
           {**NEW_OPEN_LEADER[0], "model": "Third", "benchmark": "no-such-benchmark"}]
    body = assert_error(post(api, bad), 400)
    found = {(e["record"], e["field"]) for e in body["errors"]}
    assert {("record 1", "release_date"), ("record 2", "score"), ("record 3", "benchmark")} <= found, found
    assert_error(post(api, None, raw=b"[{not json"), 400)
    assert served_data(r) == before


def test_a_release_beating_the_closed_frontier_is_stored_forecast_and_announced(
        r: redis.Redis, store: Store, loaded: str, domains_file: Path) -> None:
    api = api_client(r, domains_file, admin_token=TOKEN)
    resp = post(api, NEW_OPEN_LEADER)
    assert resp.status_code == 202, resp.data
    body = resp.get_json()
    assert body["generation"] == store.current_generation() != loaded and body["forecasts"] == "pending"
    assert (body["new_scores"], body["touched_domains"]) == (1, ["science"])
    assert api.get("/v1/domains/science/forecast").status_code == 503  # not computed inside the request
    assert forecast_pending(store, only=lambda ref: ref.kind == "domain" and ref.target == "science",
                            domains=parse_domains(DOMAINS, "test domains")) == 2
    fc = api.get("/v1/domains/science/forecast")
    assert fc.status_code == 200 and fc.get_json()["forecast"]["target"] == "science"
    row = {d["domain"]: d for d in api.get("/v1/domains").get_json()["domains"]}["science"]
    assert row["status"] == "open_leads" and row["open_leader"]["model"] == "open-frontier-1"
    science = [e for e in api.get("/v1/events").get_json()["events"] if e["domain"] == "science"]
    kinds = {e["kind"] for e in science}
    assert {"caught_up", "new_open_frontier"} <= kinds, kinds
    assert all(e["generation"] == body["generation"] for e in science)
    caught = api.get("/v1/events?kind=caught_up").get_json()["events"]
    assert [e["domain"] for e in caught] == ["science"]


def test_sources_endpoint_lists_the_four_sources_with_enabled(
        r: redis.Redis, loaded: str, domains_file: Path) -> None:
    api = api_client(r, domains_file, lmarena_url="", canonical_url="http://127.0.0.1:9/feed.csv")
    rows = api.get("/v1/sources").get_json()["sources"]
    assert {row["source"]: row["enabled"] for row in rows} == {
        "epoch-hub": True, "artificial-analysis": False, "lmarena": False, "canonical": True}


# --- 8. the CLI ------------------------------------------------------------------------------------------


@pytest.fixture()
def gapcast(redis_url: str, tmp_path: Path, domains_file: Path) -> Iterator[Callable[..., Any]]:
    env = {"GAPCAST_REDIS_URL": redis_url, "GAPCAST_DATA_DIR": str(tmp_path / "data"),
           "GAPCAST_DOMAINS_FILE": str(domains_file), "GAPCAST_EPOCH_URL": "",
           "GAPCAST_CANONICAL_URL": str(tmp_path / "feed.csv")}

    def run(*args: str) -> Any:
        return CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)
    yield run


def test_cli_ingest_prints_accepted_and_rejected_and_sources_shows_the_status(
        gapcast: Callable[..., Any], loaded: str, store: Store, tmp_path: Path) -> None:
    good = tmp_path / "new.csv"
    good.write_bytes(FIRST_FEED)
    result = gapcast("ingest", "canonical", str(good))
    assert result.exit_code == 0, result.output
    assert "4 scores accepted (1 new, 1 changed), 1 rejected" in result.output
    changed = [line.strip() for line in result.output.splitlines() if line.startswith("  ") and " -> " in line]
    assert changed and all(re.match(r"[\w-]+: \S+ -> \S+, gap \S+ -> \S+ % of scale, lag \S+ -> \S+ months$", c)
                           for c in changed), result.output  # each touched domain, before -> after
    gen = store.current_generation()
    assert gen != loaded and outlook.pending(store, gen or "") == []  # it fitted what it changed

    bad = tmp_path / "bad.csv"
    bad.write_bytes(GOOD_CSV.replace(b",score,", b",points,", 1))
    result = gapcast("ingest", "canonical", str(bad))
    assert result.exit_code == 1
    assert "pull failed: bad_format" in result.output and "score" in result.output
    assert store.current_generation() == gen

    result = gapcast("sources", "--json")
    assert result.exit_code == 0, result.output
    rows = {row["source"]: row for row in json.loads(result.output)}
    assert list(rows) == list(source_status.SOURCE_IDS)
    canonical = rows["canonical"]
    assert canonical["enabled"] is True and rows["epoch-hub"]["enabled"] is False
    assert canonical["consecutive_failures"] == 1 and canonical["last_error"].startswith("bad_format")
    assert (canonical["rows_accepted"], canonical["rows_rejected"], canonical["generation"]) == (4, 1, gen)
