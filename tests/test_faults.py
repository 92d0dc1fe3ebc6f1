"""Faults around gapcast's dependencies, with real processes: a Redis server restarted (or killed) in the middle
of a refresh and while the API serves a steady stream of GETs, and a webhook receiver that refuses connections
for a while.

Each Redis here is a `redis-server` this module starts itself (`RedisProcess`: TCP on 127.0.0.1 with a free port,
AOF with `appendfsync everysec` in a temporary folder, no RDB, no automatic AOF rewrite), never the machine's
Redis on 6379. Restarting means stopping it (SHUTDOWN, or SIGKILL for a crash) and starting a new server on the
same AOF files and port. The refresh tests start from a copy of AOF files holding the bundled snapshot, loaded
once and given more than a second (`appendfsync everysec`) before its server was stopped.

Where in a refresh Redis goes away is chosen deterministically with a client that runs a hook at a named point
(`HookedRedis`); one test also restarts Redis from another thread while the refresh runs, without hooks.

Two scheduler replicas on one Redis are covered in tests/test_jobs.py
(`test_two_replicas_racing_on_one_job_run_it_once_and_a_later_call_skips` and
`test_two_real_schedulers_on_one_redis_run_a_job_as_often_as_one_would`); not repeated here.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import redis
import requests
from pytest_httpserver import HTTPServer
from redis.backoff import NoBackoff
from redis.retry import Retry
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from forecasts.activity import deliveries, events, subscriptions
from forecasts.activity.events import Event, EventKind
from forecasts.measure.domains import load_domains, parse_domains
from forecasts.publishing import outlook
from forecasts.records.snapshot import bundled_bytes
from forecasts.settings import Settings
from forecasts.storage import keys
from forecasts.storage.ingest import load_records, load_snapshot
from forecasts.storage.redis_server import _die_with_parent_preexec, _quote_config, find_server_binary
from forecasts.storage.store import Store
from jobs.alerts.deliver import Sender, deliver_due, plan
from service import create_app
from tests.conftest import FIXED_NOW, SMALL_DOMAINS, small_snapshot_bytes

HOST = "127.0.0.1"
READY_LINE = "Ready to accept connections"  # redis-server 6.2 and 7.x log it once the AOF is loaded
START_TIMEOUT_S = STOP_TIMEOUT_S = 10.0
HEADER = "model,organization,release_date,access,benchmark,score,stderr,source\n"


# --- a redis-server owned by the test ---------------------------------------------------------------------


class RedisStartError(RuntimeError):
    """redis-server exited or did not log that it is ready; the message ends with its output."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


class RedisProcess:
    """A redis-server on `127.0.0.1:<port>` with its AOF in `data_dir`, restartable on the same files and port.

    No RDB snapshots and no automatic AOF rewrite: the AOF only grows, so it can be cut back to simulate writes
    lost in a crash. `conf` adds redis.conf lines (e.g. `requirepass`, TLS). The server gets SIGTERM if the test
    process dies (PR_SET_PDEATHSIG), so none is left behind.
    """

    def __init__(self, data_dir: Path, *, port: int | None = None, conf: Sequence[str] = ()) -> None:
        self.data_dir = data_dir
        self.port = free_port() if port is None else port
        self.conf = list(conf)
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://{HOST}:{self.port}/0"

    @property
    def log(self) -> Path:
        return self.data_dir / "redis.log"

    def start(self) -> None:
        """Start the server and wait until it has loaded its AOF. Raises RedisStartError."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        conf = self.data_dir / "redis.conf"
        conf.write_text("\n".join([
            "daemonize no", f"port {self.port}", f"bind {HOST}", f"dir {_quote_config(str(self.data_dir))}",
            f"logfile {_quote_config(str(self.log))}", "appendonly yes", "appendfsync everysec", 'save ""',
            "auto-aof-rewrite-percentage 0", *self.conf]) + "\n")
        offset = self.log.stat().st_size if self.log.exists() else 0
        with (self.data_dir / "redis.out").open("ab") as out:  # errors before the log file opens go here
            self.proc = subprocess.Popen([find_server_binary(), str(conf)], cwd=self.data_dir,
                                         stdin=subprocess.DEVNULL, stdout=out, stderr=out,
                                         preexec_fn=_die_with_parent_preexec())
        deadline = time.monotonic() + START_TIMEOUT_S
        while READY_LINE not in self._log_since(offset):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop(kill=True)
                raise RedisStartError(f"redis-server did not start: {self._output_tail(offset)}")
            time.sleep(0.01)

    def shutdown(self) -> None:
        """The SHUTDOWN command (Redis flushes the AOF and exits), then wait for the exit."""
        # no retries: redis-py would otherwise re-send SHUTDOWN to a server that is going away (seconds of backoff)
        client = redis.Redis(host=HOST, port=self.port, socket_timeout=STOP_TIMEOUT_S, retry=Retry(NoBackoff(), 0))
        try:
            client.shutdown()
        finally:
            client.close()
        self._wait()

    def stop(self, *, kill: bool = False) -> None:
        """SIGTERM (a clean, persisting shutdown) or SIGKILL (a crash); wait for the exit. Idempotent."""
        if self.proc is None or self.proc.poll() is not None:
            self._wait()
            return
        self.proc.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
        self._wait()

    def restart(self) -> None:
        self.shutdown()
        self.start()

    def aof_tail(self) -> Path:
        """The AOF file new writes are appended to (redis 7: `appendonlydir/*.incr.aof`; 6.2: appendonly.aof)."""
        found = sorted((self.data_dir / "appendonlydir").glob("*.incr.aof")) or [self.data_dir / "appendonly.aof"]
        return found[-1]

    def _wait(self) -> None:
        if self.proc is None:
            return
        try:
            self.proc.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc = None

    def _log_since(self, offset: int) -> str:
        try:
            with self.log.open("rb") as f:
                f.seek(offset)
                return f.read().decode(errors="replace")
        except FileNotFoundError:
            return ""

    def _output_tail(self, offset: int) -> str:
        out = (self.data_dir / "redis.out").read_bytes().decode(errors="replace")
        return " | ".join((out + self._log_since(offset)).strip().splitlines()[-6:])


@contextlib.contextmanager
def running(server: RedisProcess) -> Iterator[RedisProcess]:
    server.start()
    try:
        yield server
    finally:
        server.stop()


# --- 1. Redis restarted during a refresh ------------------------------------------------------------------

# a new open model ahead of the closed frontier on FrontierMath: events (new open frontier, caught up) for `math`
MATH_CHANGE = (HEADER + "Open Frontier 1,OpenLab,2026-05-01,open,epoch-frontiermath,55.0,,lab report\n").encode()
NEW_SCORE = ("epoch-frontiermath", "open-frontier-1", 55.0)


@dataclass
class Seed:
    """A cleanly stopped Redis data folder holding the bundled snapshot, and what it held."""

    data_dir: Path
    generation: str
    values: dict[str, Any] = field(default_factory=dict)  # every key: its value


@pytest.fixture(scope="module")
def seed(tmp_path_factory: pytest.TempPathFactory) -> Seed:
    """The bundled snapshot loaded once; each test restarts its own copy of the AOF files."""
    server = RedisProcess(tmp_path_factory.mktemp("seed") / "redis")
    with running(server):
        client = redis.Redis.from_url(server.url)
        gen = load_snapshot(Store(client, now=lambda: FIXED_NOW), load_domains(), bundled_bytes(),
                            "bundled snapshot").generation
        values = {text(k): value_of(client, k) for k in client.scan_iter(match=f"{keys.APP}:*")}
        client.close()
        # appendfsync everysec: wait > 1 s so the load is on disk even if the server were killed, not stopped
        time.sleep(1.1)
        server.shutdown()
    return Seed(server.data_dir, gen, values)


@pytest.fixture()
def seeded_redis(seed: Seed, tmp_path: Path) -> Iterator[RedisProcess]:
    """A Redis started on a copy of the seed's AOF files (the bundled snapshot, committed long ago)."""
    data_dir = tmp_path / "redis"
    shutil.copytree(seed.data_dir, data_dir, ignore=shutil.ignore_patterns("redis.log", "redis.out", "redis.conf"))
    with running(RedisProcess(data_dir)) as server:
        yield server


class HookedRedis(redis.Redis):
    """A client that runs `hook` once, at one point of a refresh (`point`):

    - "id-before" / "id-after": around the script that hands out the new generation id (after reading the
      current data; before any write of the new generation);
    - "tx-1": before the MULTI/EXEC that switches to the new generation (its keys are written; the switch, its
      events and its raw payload commit together, so there is no later point where events could be lost).
    """

    point: str = ""
    hook: Callable[[], None] | None = None
    fired: bool = False
    _transactions: int = 0

    def _at(self, point: str) -> None:
        if point == self.point and not self.fired and self.hook is not None:
            self.fired = True
            self.hook()

    def eval(self, script: Any, numkeys: int, *keys_and_args: Any) -> Any:
        point = "id" if keys_and_args and keys_and_args[0] == keys.generation_seq() else "eval"
        self._at(f"{point}-before")
        out = super().eval(script, numkeys, *keys_and_args)
        self._at(f"{point}-after")
        return out

    def pipeline(self, transaction: bool = True, shard_hint: Any = None) -> Any:
        if transaction:
            self._transactions += 1
            self._at(f"tx-{self._transactions}")
        return super().pipeline(transaction, shard_hint)


def hooked_store(url: str, point: str, hook: Callable[[], None]) -> tuple[Store, HookedRedis]:
    # the same connection settings as forecasts.storage.connection.client_for() with the default 5 s timeout
    client = HookedRedis(connection_pool=redis.ConnectionPool.from_url(url, socket_timeout=5, socket_connect_timeout=5,
                                                                       health_check_interval=30))
    client.point, client.hook = point, hook
    return Store(client, now=lambda: FIXED_NOW), client


def text(v: bytes | str) -> str:
    return v.decode() if isinstance(v, bytes) else v


def value_of(r: redis.Redis, key: Any) -> Any:
    """A key's value, comparable across servers (DUMP is not: it carries the internal encoding)."""
    kind = text(r.type(key))
    read: dict[str, Callable[[], Any]] = {
        "string": lambda: r.get(key), "hash": lambda: r.hgetall(key), "list": lambda: r.lrange(key, 0, -1),
        "set": lambda: r.smembers(key), "zset": lambda: r.zrange(key, 0, -1, withscores=True),
        "stream": lambda: r.xrange(key), "none": lambda: None}
    return kind, read[kind]()


def assert_complete(r: redis.Redis, when: str) -> str:
    """Readers see one complete generation: summary, index, every benchmark and domain series, all permanent;
    no key of another generation lives forever. Returns the generation."""
    gen = Store(r).current_generation()
    assert gen is not None, f"{when}: no generation"
    summary = json.loads(r.get(keys.gen_summary(gen)) or b"[]")
    assert summary, f"{when}: generation {gen} has no summary"
    benches = [text(b) for b in r.hkeys(keys.gen_benchmarks(gen))]
    assert benches and r.hlen(keys.gen_models(gen)) and r.hlen(keys.gen_forecast_index(gen)), when
    needed = [keys.gen_summary(gen), keys.gen_benchmark_summary(gen), keys.gen_meta(gen), keys.gen_models(gen),
              keys.gen_benchmarks(gen), keys.gen_forecast_index(gen), keys.gen_keys(gen),
              *(keys.gen_benchmark_series(gen, b) for b in benches),
              *(keys.gen_domain_series(gen, row["domain"]) for row in summary)]
    needed += [text(k) for k in r.smembers(keys.gen_keys(gen))]
    missing = [k for k in needed if not r.exists(k)]
    assert not missing, f"{when}: generation {gen} lacks {missing[:5]}"
    expiring = [k for k in needed if r.ttl(k) != -1]
    assert not expiring, f"{when}: keys of the current generation {gen} will expire: {expiring[:5]}"
    undying = [text(k) for k in r.scan_iter(match=f"{keys.APP}:gen:*")
               if text(k).split(":")[2] != gen and r.ttl(k) == -1]
    assert not undying, f"{when}: keys of other generations that never expire: {undying[:5]}"
    return gen


def assert_nothing_committed_was_lost(r: redis.Redis, seed: Seed, when: str) -> None:
    """The seed generation's keys hold what they held (its TTL may now run: it may be superseded); every other
    key of the seed still exists (counters, raw payloads, the event stream only grow)."""
    changed = [k for k, v in seed.values.items() if k.startswith(f"{keys.APP}:gen:{seed.generation}:")
               and value_of(r, k) != v]
    gone = [k for k in seed.values if not r.exists(k)]
    assert not changed and not gone, f"{when}: committed data changed {changed[:5]} or lost {gone[:5]}"


def assert_the_change_is_served_and_announced(r: redis.Redis, when: str) -> None:
    store = Store(r)
    gen = assert_complete(r, when)
    bench, model, value = NEW_SCORE
    assert store.read_dataset(gen).scores[(bench, model)].value == value, f"{when}: the new score is not served"
    announced = [e for e in events.recent(store) if e["generation"] == gen]
    assert announced, (f"{when}: generation {gen} carries the change but no event announces it: the refresh's "
                       "events were lost, so no alert will ever be sent for it")


RESTART_POINTS = ["id-before", "id-after", "tx-1"]


@pytest.mark.parametrize("kill", [False, True], ids=["SHUTDOWN", "SIGKILL"])
@pytest.mark.parametrize("point", RESTART_POINTS)
def test_redis_going_down_during_a_refresh_leaves_a_complete_generation_and_the_retry_completes(
        seed: Seed, seeded_redis: RedisProcess, point: str, kill: bool) -> None:
    server = seeded_redis
    stop = (lambda: server.stop(kill=True)) if kill else server.shutdown
    store, hooked = hooked_store(server.url, point, stop)
    with pytest.raises(redis.ConnectionError):  # the refresh's next command finds no server
        load_records(store, load_domains(), MATH_CHANGE, "csv", "new.csv")
    assert hooked.fired and server.proc is None
    server.start()  # same AOF files, same port
    r = redis.Redis.from_url(server.url)
    try:
        when = f"Redis stopped at {point}"
        gen = assert_complete(r, when)
        assert gen == seed.generation, f"{when}: a half-written refresh was switched in"
        assert_nothing_committed_was_lost(r, seed, when)

        retried = load_records(Store(r, now=lambda: FIXED_NOW), load_domains(), MATH_CHANGE, "csv", "new.csv")
        assert retried.generation == Store(r).current_generation()
        assert_nothing_committed_was_lost(r, seed, f"{when}, then retried")
        assert_the_change_is_served_and_announced(r, f"{when}, then retried")
    finally:
        r.close()
        hooked.close()


@pytest.mark.parametrize("point", RESTART_POINTS)
def test_a_refresh_rides_through_a_quick_restart_between_two_of_its_commands(
        seed: Seed, seeded_redis: RedisProcess, point: str) -> None:
    store, hooked = hooked_store(seeded_redis.url, point, seeded_redis.restart)
    result = load_records(store, load_domains(), MATH_CHANGE, "csv", "new.csv")  # reconnects by itself
    assert hooked.fired
    r = redis.Redis.from_url(seeded_redis.url)
    try:
        assert result.changed and Store(r).current_generation() == result.generation
        assert_nothing_committed_was_lost(r, seed, f"restarted at {point}")
        assert_the_change_is_served_and_announced(r, f"restarted at {point}")
    finally:
        r.close()
        hooked.close()


def test_a_refresh_in_another_thread_with_redis_restarted_under_it(seed: Seed, seeded_redis: RedisProcess) -> None:
    """The same without hooks: the refresh runs in a thread; Redis is restarted (SHUTDOWN, start) as soon as the
    refresh has taken its generation id, while it derives and writes. Either outcome is fine (it fails on a
    connection error, or rides through); what readers see afterwards, and the retry, are checked."""
    r = redis.Redis.from_url(seeded_redis.url)
    seq_before = r.get(keys.generation_seq())
    outcome: list[BaseException | str] = []

    def refresh() -> None:
        client = redis.Redis.from_url(seeded_redis.url, socket_timeout=5, socket_connect_timeout=5)
        try:
            load_records(Store(client, now=lambda: FIXED_NOW), load_domains(), MATH_CHANGE, "csv", "new.csv")
            outcome.append("completed")
        except BaseException as exc:  # reported below
            outcome.append(exc)
        finally:
            client.close()

    worker = threading.Thread(target=refresh)
    worker.start()
    deadline = time.monotonic() + 10
    while r.get(keys.generation_seq()) == seq_before and worker.is_alive() and time.monotonic() < deadline:
        time.sleep(0.001)
    assert worker.is_alive(), f"the refresh ended before the restart: {outcome}"
    seeded_redis.restart()
    worker.join(15)
    assert not worker.is_alive() and outcome and (outcome[0] == "completed"
                                                   or isinstance(outcome[0], redis.ConnectionError)), outcome
    when = f"Redis restarted during a refresh in a thread (the refresh: {outcome[0]!r})"
    try:
        assert_complete(r, when)
        assert_nothing_committed_was_lost(r, seed, when)
        load_records(Store(r, now=lambda: FIXED_NOW), load_domains(), MATH_CHANGE, "csv", "new.csv")
        assert_nothing_committed_was_lost(r, seed, f"{when}, then retried")
        assert_the_change_is_served_and_announced(r, f"{when}, then retried")
    finally:
        r.close()


def test_a_redis_that_lost_its_last_second_of_writes_never_has_a_generation_id_handed_out_twice(
        seed: Seed, seeded_redis: RedisProcess) -> None:
    """`appendfsync everysec` may lose up to a second of writes when the machine crashes (and a failover to a
    replica may lose the writes it had not replicated). Simulated: SIGKILL right after the refresh took its
    generation id, the AOF cut back to where it was before the refresh, restart. The refresh reconnects and
    commits; the next refreshes must still get fresh generation ids and leave a complete, permanent generation."""
    aof = seeded_redis.aof_tail()
    size_before = aof.stat().st_size

    def crash_losing_the_last_writes() -> None:
        seeded_redis.stop(kill=True)
        os.truncate(aof, size_before)
        seeded_redis.start()

    store, hooked = hooked_store(seeded_redis.url, "id-after", crash_losing_the_last_writes)
    load_records(store, load_domains(), MATH_CHANGE, "csv", "new.csv")  # reconnects after the restart
    assert hooked.fired
    r = redis.Redis.from_url(seeded_redis.url)
    problems: list[str] = []
    try:
        assert_complete(r, "after the lost writes")  # the counter may be behind now: the next ids must not be
        for n, score in enumerate((56.0, 57.0), start=2):
            change = MATH_CHANGE.replace(b",55.0,", f",{score},".encode())
            before = Store(r).current_generation()
            try:
                result = load_records(Store(r, now=lambda: FIXED_NOW), load_domains(), change, "csv", f"{n}.csv")
                if not result.changed or result.generation == before:
                    problems.append(f"refresh {n} committed nothing new (generation {result.generation})")
            except redis.RedisError as exc:
                problems.append(f"refresh {n} failed: {exc}")
            try:
                assert_complete(r, f"after refresh {n}")
            except AssertionError as exc:
                problems.append(str(exc).splitlines()[0])
    finally:
        r.close()
        hooked.close()
    assert not problems, "\n".join(problems)


# --- 2. Redis restarted while the API is under load -------------------------------------------------------

LOAD_PATHS = ["/v1/domains", "/v1/domains/coding", "/v1/domains/coding/series", "/v1/benchmarks",
              "/v1/benchmarks/code-a/series", "/v1/domains/math/forecast"]
CODE_A_CHANGE = (HEADER + "open-2,OpenCo,2025-01-20,open,code-a,66.0,,bench report\n").encode()
HANG_S = 2.0


@dataclass(frozen=True)
class Answer:
    path: str
    started: float
    elapsed: float
    status: int  # 0: no HTTP answer (connection error or client timeout)
    etag: str
    body: bytes


def get(port: int, path: str) -> Answer:
    started = time.monotonic()
    conn = http.client.HTTPConnection(HOST, port, timeout=HANG_S + 1)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        body, status, etag = resp.read(), resp.status, resp.headers.get("ETag", "")
    except (OSError, http.client.HTTPException) as exc:
        body, status, etag = repr(exc).encode(), 0, ""
    finally:
        conn.close()
    return Answer(path, started, time.monotonic() - started, status, etag, body)


def steady_gets(port: int, stop: threading.Event, out: list[Answer], offset: int) -> None:
    """GETs back to back over LOAD_PATHS until `stop` (at most 60 s)."""
    deadline = time.monotonic() + 60
    n = offset
    while not stop.is_set() and time.monotonic() < deadline:
        out.append(get(port, LOAD_PATHS[n % len(LOAD_PATHS)]))
        n += 1


def is_503_shape(a: Answer) -> bool:
    try:
        body = json.loads(a.body)
    except ValueError:
        return False
    return a.status == 503 and set(body) == {"ok", "error", "errors", "status"} and body["status"] == 503


def test_the_api_under_load_answers_200_or_a_json_503_while_redis_restarts_and_recovers_by_itself(
        tmp_path: Path) -> None:
    domains_file = tmp_path / "domains.toml"
    domains_file.write_text(SMALL_DOMAINS)
    domains = parse_domains(SMALL_DOMAINS, "test domains")
    with running(RedisProcess(tmp_path / "redis")) as server:
        r = redis.Redis.from_url(server.url)
        store = Store(r, now=lambda: FIXED_NOW)
        gen_a = load_snapshot(store, domains, small_snapshot_bytes(), "test").generation
        outlook.compute(store, gen_a, outlook.pending(store, gen_a), domains=domains)
        app = create_app(Settings(redis_url=server.url, domains_file=domains_file))  # its own client, 1 s timeouts
        http_server = make_server(HOST, 0, app, threaded=True)
        serving = threading.Thread(target=http_server.serve_forever, daemon=True)
        serving.start()
        port = http_server.server_port
        stop, answers = threading.Event(), [list[Answer]() for _ in range(4)]
        clients = [threading.Thread(target=steady_gets, args=(port, stop, out, i)) for i, out in enumerate(answers)]
        try:
            ref_a = {p: get(port, p) for p in LOAD_PATHS}
            assert all(a.status == 200 for a in ref_a.values()), ref_a
            for t in clients:
                t.start()
            time.sleep(1.0)
            down_at = time.monotonic()
            server.shutdown()
            time.sleep(1.0)
            server.start()  # same AOF files and port; the API is not restarted
            up_at = time.monotonic()
            time.sleep(1.0)
            gen_b = load_records(store, domains, CODE_A_CHANGE, "csv", "change.csv").generation  # a new generation
            switched_at = time.monotonic()
            time.sleep(1.0)
        finally:
            stop.set()
            for t in clients:
                if t.ident is not None:  # started
                    t.join(10)
            ref_b = {p: get(port, p) for p in LOAD_PATHS}
            http_server.shutdown()
            serving.join(10)
            r.close()
    assert gen_b != gen_a and all(a.status == 200 for a in ref_b.values()), ref_b
    done = sorted((a for out in answers for a in out), key=lambda a: a.started)
    assert len(done) > 100, f"only {len(done)} requests"

    odd = [a for a in done if not (a.status == 200 or is_503_shape(a))]
    assert not odd, f"{len(odd)} answers neither 200 nor the JSON 503, e.g. {odd[:3]}"
    slow = [a for a in done if a.elapsed > HANG_S]
    assert not slow, f"{len(slow)} requests took over {HANG_S} s, e.g. {slow[:3]}"
    mixed = [a for a in done if a.status == 200 and (a.etag, a.body) not in {
        (ref_a[a.path].etag, ref_a[a.path].body), (ref_b[a.path].etag, ref_b[a.path].body)}]
    assert not mixed, f"{len(mixed)} bodies of neither generation (or with the other's ETag), e.g. {mixed[:2]}"

    assert all(a.status == 200 and a.body == ref_a[a.path].body for a in done if a.started < down_at - 0.05)
    assert any(a.status == 503 for a in done if down_at <= a.started < up_at), "the outage was never seen"
    after_up = [a for a in done if a.started >= up_at + 0.2]
    assert after_up and all(a.status == 200 for a in after_up), Counter(a.status for a in after_up)
    after_switch = [a for a in done if a.started > switched_at]
    assert after_switch and all(a.body == ref_b[a.path].body for a in after_switch), "a stale generation was served"


# --- 3. a webhook receiver down for a while ---------------------------------------------------------------


class Clock:
    """The planner's and sender's clock (Unix seconds), moved by the test; starts just after real time."""

    def __init__(self) -> None:
        self.t = time.time() + 1.0

    def __call__(self) -> float:
        return self.t


def drive(store: Store, sender: Sender, clock: Clock, until: float | None = None, rounds: int = 200) -> None:
    """`deliver_due`, moving the clock to each next due time, until the outbox is empty (or the clock would pass
    `until`)."""
    for _ in range(rounds):
        deliver_due(store, sender)
        nxt = store.r.zrange(keys.outbox(), 0, 0, withscores=True)
        if not nxt:
            return
        due = max(clock.t, float(nxt[0][1])) + 0.01
        if until is not None and due > until:
            clock.t = until
            return
        clock.t = due
    raise AssertionError("the outbox never emptied")


def gap_event(domain: str, before: float, after: float) -> Event:
    return Event(EventKind.GAP_NARROWED, domain, f"{domain}: gap narrowed from {before} to {after} % of scale",
                 {"score_gap": before}, {"score_gap": after}, ("closed-2", "open-3"))


def test_alerts_to_a_receiver_that_was_down_for_a_while_arrive_exactly_once_when_it_returns(store: Store) -> None:
    port = free_port()  # nothing listens here yet: every send is refused
    base = f"http://{HOST}:{port}"
    subs = {"hook-a": ("webhook", "/hooks/a"), "hook-b": ("webhook", "/hooks/b"), "chat": ("slack", "/hooks/chat")}
    for sub_id, (kind, path) in subs.items():
        raw = {"kind": kind, "url": base + path, **({"secret": "whsec-0123456789abcdef"} if kind == "webhook" else {})}
        subscriptions.save(store, subscriptions.validate(raw, allow_private=True, sub_id=sub_id))
    clock = Clock()
    session = requests.Session()
    session.trust_env = False  # loopback only, whatever proxy the environment names
    sender = Sender("https://gapcast.example/", allow_private=True, timeout_s=1.0, session=session, clock=clock,
                    jitter=lambda: 0.0)

    events.emit(store, [gap_event("coding", 12.0, 9.0)], refresh="r1", generation="r1")
    events.emit(store, [gap_event("math", 5.0, 2.0), gap_event("coding", 9.0, 7.5)], refresh="r2", generation="r2")
    assert plan(store, now=clock(), deadline_s=86400, settle_s=0) == 6
    drive(store, sender, clock, until=clock() + 600)  # ten minutes of refused connections
    events.emit(store, [gap_event("math", 2.0, 0.5)], refresh="r3", generation="r3")  # a refresh during the outage
    clock.t = max(clock.t, time.time() + 1.0)  # the new events' stream ids are real time
    assert plan(store, now=clock(), deadline_s=86400, settle_s=0) == 3
    drive(store, sender, clock, until=clock() + 1200)
    rows = deliveries.recent(store)
    assert len(rows) == 9 and {row["status"] for row in rows} == {"pending"}, rows
    heads = [row for row in rows if row["refresh"] == "r1"]  # a channel's messages go in order: r1 first
    tried = [(row["subscription"], row["attempts"], row["last_error"]) for row in heads]
    assert len(tried) == 3 and all(n >= 3 and "connection failed" in err for _, n, err in tried), tried
    planned = {row["id"]: row["refresh"] for row in rows}

    got: list[tuple[str, str]] = []
    receiver = HTTPServer(host=HOST, port=port)  # the receiver comes back on the same port

    def record(request: Request) -> Response:
        got.append((request.path, request.headers.get("X-Gapcast-Delivery", "")))
        return Response("ok", 200)

    receiver.expect_request("/hooks/a", method="POST").respond_with_handler(record)
    receiver.expect_request("/hooks/b", method="POST").respond_with_handler(record)
    receiver.expect_request("/hooks/chat", method="POST").respond_with_handler(record)
    receiver.start()
    try:
        drive(store, sender, clock)
        for _ in range(3):  # later runs of the job, hours apart, send nothing more
            clock.t += 3600
            assert plan(store, now=clock(), deadline_s=86400, settle_s=0) == 0
            assert deliver_due(store, sender) == {}
    finally:
        receiver.clear()
        receiver.stop()
    counts = Counter(d for _, d in got)
    assert set(counts) == set(planned), "some alerts were lost"
    assert set(counts.values()) == {1}, f"some alerts were sent twice: {counts.most_common(3)}"
    for path in ("/hooks/a", "/hooks/b", "/hooks/chat"):  # each channel: its three messages, in stream order
        assert [planned[d] for p, d in got if p == path] == ["r1", "r2", "r3"], path
    assert {row["status"] for row in deliveries.recent(store)} == {"delivered"}
