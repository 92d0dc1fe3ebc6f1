"""A real Redis Sentinel failover on loopback, with the API under load and the scheduler refreshing.

`Cluster` starts, from the `redis-server` on PATH, in the test's tmp_path, on free 127.0.0.1 ports: a primary, one
replica and three sentinels (`redis-server sentinel.conf --sentinel`; quorum 2, `down-after-milliseconds` 1000,
`failover-timeout` 3000). gapcast reaches it only through `GAPCAST_REDIS_URL=redis+sentinel://...` (so commits
WAIT for 1 replica, the default with a Sentinel URL). A test SIGKILLs the primary, waits until the sentinels
name the replica as the new primary, then starts the old primary again as a replica of the new one (what an
operator or an orchestrator does; until then the new primary has no replica and every commit fails visibly
with NotReplicated).

Checked: the API answers only 200/202 or the JSON 503; GETs are 503 at most from the kill until shortly after the
sentinels switched (the failover window), writes until the replica is back; every write acknowledged (202, or a
pull recorded as applied) is in the data at the end; the scheduler carries on by itself. Each test is bounded
(pytest-timeout 60 s) and part of the default suite.
"""

from __future__ import annotations

import http.client
import json
import logging
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import redis
from apscheduler.schedulers.background import BackgroundScheduler
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response
from werkzeug.serving import make_server

from forecasts.measure.domains import parse_domains
from forecasts.settings import Settings, SettingsError
from forecasts.storage import keys
from forecasts.storage.connection import RedisUnavailable, client_for, open_redis
from forecasts.storage.ingest import load_snapshot
from forecasts.storage.redis_server import _die_with_parent_preexec, _quote_config, find_server_binary
from forecasts.storage.redis_urls import parse_sentinel_url
from forecasts.storage.replication import ReplicatedRedis
from forecasts.storage.store import Store
from jobs.http import Http
from jobs.refresh import PullOutcome
from jobs.schedule import Deps, JobSpec, build_sources, job_specs
from jobs.scheduler import build
from service import create_app
from tests.test_faults import free_port
from tests.test_jobs import DOMAINS, GPQA, catalog_snapshot

pytestmark = pytest.mark.timeout(60)

HOST = "127.0.0.1"
SERVICE = "mymaster"
TOKEN = "failover-admin-token"
DOWN_AFTER_MS = 1000
SETTLE_S = 4.0  # after the sentinels switched: the clients' next connection finds the new primary (generous)
HEADER = "model,organization,release_date,access,benchmark,score,stderr,source\n"


# --- the cluster ------------------------------------------------------------------------------------------


class Node:
    """One redis-server (data node or sentinel) on 127.0.0.1:<port> in its own folder, started and killed."""

    def __init__(self, folder: Path, port: int, conf: list[str], *, sentinel: bool = False,
                 password: str | None = None) -> None:
        self.folder, self.port, self.conf, self.sentinel = folder, port, conf, sentinel
        self.password = password
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        conf = self.folder / ("sentinel.conf" if self.sentinel else "redis.conf")
        conf.write_text("\n".join([f"port {self.port}", f"bind {HOST}", f"dir {_quote_config(str(self.folder))}",
                                   f"logfile {_quote_config(str(self.folder / 'redis.log'))}", *self.conf]) + "\n")
        argv = [find_server_binary(), str(conf), *(["--sentinel"] if self.sentinel else [])]
        with (self.folder / "redis.out").open("ab") as out:
            self.proc = subprocess.Popen(argv, cwd=self.folder, stdin=subprocess.DEVNULL, stdout=out, stderr=out,
                                         preexec_fn=_die_with_parent_preexec())  # never outlives the test
        wait_until(lambda: self.ping(), 10, f"{conf.name} on port {self.port} did not answer: {self.output()}")

    def client(self) -> redis.Redis:
        return redis.Redis(host=HOST, port=self.port, socket_timeout=2, decode_responses=True, password=self.password)

    def ping(self) -> bool:
        try:
            with self.client() as c:
                return bool(c.ping())
        except redis.RedisError:
            return False

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()

    def output(self) -> str:
        text = "".join(p.read_text(errors="replace") for p in (self.folder / "redis.out", self.folder / "redis.log")
                       if p.exists())
        return " | ".join(text.strip().splitlines()[-5:])


@dataclass
class Cluster:
    primary: Node
    replica: Node
    sentinels: list[Node] = field(default_factory=list)

    @property
    def url(self) -> str:
        return "redis+sentinel://" + ",".join(f"{HOST}:{s.port}" for s in self.sentinels) + f"/{SERVICE}/0"

    def url_with(self, password: str) -> str:
        return self.url.replace("://", f"://:{quote(password, safe='')}@", 1)

    def primary_port(self) -> int | None:
        """The primary's port as the sentinels' majority names it now."""
        ports = []
        for s in self.sentinels:
            try:
                with s.client() as c:
                    addr = c.execute_command("SENTINEL", "get-master-addr-by-name", SERVICE)
                ports.append(int(addr[1]))
            except (redis.RedisError, TypeError):
                continue
        return max(set(ports), key=ports.count) if ports else None

    def nodes(self) -> list[Node]:
        return [self.primary, self.replica, *self.sentinels]


def data_conf(*extra: str) -> list[str]:
    return ["appendonly yes", "appendfsync everysec", 'save ""', *extra]


@pytest.fixture()
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    with running_cluster(tmp_path) as c:
        yield c


@contextmanager
def running_cluster(tmp_path: Path, password: str | None = None,
                    sentinel_password: str | None = None) -> Iterator[Cluster]:
    """Start the five processes and wait until the replica is in sync and the sentinels know everyone."""
    p_port, r_port = free_port(), free_port()
    auth = [f"requirepass {password}", f"masterauth {password}"] if password else []
    primary = Node(tmp_path / "primary", p_port, data_conf(*auth), password=password)
    replica = Node(tmp_path / "replica", r_port, data_conf(f"replicaof {HOST} {p_port}", *auth), password=password)
    sentinel_auth = [f"sentinel auth-pass {SERVICE} {password}"] if password else []
    if sentinel_password:
        sentinel_auth += [f"requirepass {sentinel_password}", f"sentinel sentinel-pass {sentinel_password}"]
    sentinels = [Node(tmp_path / f"sentinel{i}", free_port(), [
        f"sentinel monitor {SERVICE} {HOST} {p_port} 2",
        f"sentinel down-after-milliseconds {SERVICE} {DOWN_AFTER_MS}",
        f"sentinel failover-timeout {SERVICE} 3000",
        f"sentinel parallel-syncs {SERVICE} 1", *sentinel_auth], sentinel=True, password=sentinel_password)
        for i in range(3)]
    c = Cluster(primary, replica, sentinels)
    try:
        for node in c.nodes():
            node.start()
        wait_until(lambda: in_sync(primary), 15, "the replica did not sync")
        wait_until(lambda: all(knows_everyone(s) for s in sentinels), 20, "the sentinels did not find each other")
        yield c
    finally:
        for node in reversed(c.nodes()):
            node.stop()


def in_sync(primary: Node) -> bool:
    """True when the primary has a replica in state online."""
    try:
        with primary.client() as c:
            info = c.info("replication")
    except redis.RedisError:
        return False
    return any(isinstance(v, dict) and v.get("state") == "online" for k, v in info.items() if k.startswith("slave"))


def knows_everyone(sentinel: Node) -> bool:
    try:
        with sentinel.client() as c:
            state = c.execute_command("SENTINEL", "master", SERVICE)
    except redis.RedisError:
        return False
    fields = dict(zip(state[::2], state[1::2], strict=True)) if isinstance(state, list) else state
    return int(fields["num-other-sentinels"]) == 2 and int(fields["num-slaves"]) == 1


def fail_over(c: Cluster) -> tuple[float, float]:
    """SIGKILL the primary; return when the sentinels switched (monotonic) and when the old primary, restarted as
    a replica of the new one, is in sync (the new primary can confirm commits again)."""
    old, new = c.primary, c.replica
    old.kill()
    wait_until(lambda: c.primary_port() == new.port, 30, "the sentinels did not fail over")
    switched = time.monotonic()
    old.conf = data_conf(f"replicaof {HOST} {new.port}")
    old.start()
    wait_until(lambda: in_sync(new), 20, "the old primary did not sync as a replica")
    c.primary, c.replica = new, old
    return switched, time.monotonic()


def wait_until(predicate: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(what)
        time.sleep(0.05)


# --- URL forms ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("url", "message"), [
    ("redis+sentinel://s1:26379", "names the service"),
    ("redis+sentinel://s1/mymaster/zero", "database must be a whole number"),
    ("redis+sentinel://s1:99999/mymaster", "bad sentinel address"),
    ("redis+sentinel://:pw@/mymaster", "at least one HOST"),
    ("redis+sentinel://s1/mymaster?ssl_ca_certs=/ca.crt", "needs the TLS form"),
    ("rediss+sentinel://s1/mymaster?sentinel_password=x", "unknown query parameter(s) sentinel_password"),
    ("sentinel://s1/mymaster", "the scheme must be one of"),
])
def test_bad_redis_urls_are_one_line_naming_the_setting_without_the_password(url: str, message: str) -> None:
    with pytest.raises(SettingsError) as err:
        Settings.from_env({"GAPCAST_REDIS_URL": url.replace("://", "://:hunter2@", 1) if "@" not in url else url})
    assert str(err.value).startswith("GAPCAST_REDIS_URL: ") and message in str(err.value)
    assert "hunter2" not in str(err.value) and "\n" not in str(err.value)


def test_sentinel_url_forms_parse_to_sentinels_service_database_credentials_and_tls() -> None:
    spec = parse_sentinel_url("rediss+sentinel://app:p%40ss@s1,[::1]:26380/cache/3?ssl_ca_certs=/etc/ca.crt")
    assert spec.sentinels == (("s1", 26379), ("::1", 26380)) and spec.service == "cache" and spec.db == 3
    assert (spec.username, spec.password, spec.tls, spec.ssl_ca_certs) == ("app", "p@ss", True, "/etc/ca.crt")
    plain = parse_sentinel_url("redis+sentinel://s1:26379,s2:26379/mymaster")
    assert plain.db == 0 and plain.password is None and not plain.tls


def test_password_protected_nodes_and_sentinels_through_the_url_and_the_sentinel_password(tmp_path: Path) -> None:
    password, sentinel_password = "data/p@ss:1", "sentinel-secret"
    with running_cluster(tmp_path, password=password, sentinel_password=sentinel_password) as c:
        settings = Settings(redis_url=c.url_with(password), redis_sentinel_password=sentinel_password)
        r = client_for(c.url_with(password), settings)
        gen = load_snapshot(Store(r), parse_domains(DOMAINS, "test"), catalog_snapshot(), "test").generation
        assert r.get(keys.replicated()) == gen.encode()  # the commit was confirmed by the replica
        r.close()
        no_sentinel_password = client_for(c.url_with(password), Settings(redis_retry_s=0.2))
        with pytest.raises(redis.ConnectionError):
            no_sentinel_password.ping()
        no_sentinel_password.close()
        with pytest.raises(RedisUnavailable) as err, open_redis(replace(settings, redis_url=c.url_with("wrong"))):
            pass
        assert "wrong" not in str(err.value) and "***" in str(err.value)


# --- the API under load -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Answer:
    method: str
    started: float
    status: int  # 0: no HTTP answer
    body: bytes
    ended: float
    model: str = ""


def request(port: int, method: str, path: str, body: bytes | None = None, model: str = "") -> Answer:
    started = time.monotonic()
    conn = http.client.HTTPConnection(HOST, port, timeout=40)  # a write may wait for the store's write lease
    headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"} if body else {}
    try:
        conn.request(method, path, body=body, headers=headers)
        resp = conn.getresponse()
        status, data = resp.status, resp.read()
    except (OSError, http.client.HTTPException) as exc:
        status, data = 0, repr(exc).encode()
    finally:
        conn.close()
    return Answer(method, started, status, data, time.monotonic(), model)


def release(n: int) -> tuple[str, bytes]:
    model = f"Failover Open {n}"
    return model, json.dumps([{"model": model, "organization": "FailoverLab", "release_date": "2025-03-01",
                               "access": "open", "benchmark": GPQA, "score": 40 + n / 100,
                               "source": "failover test"}]).encode()


def is_json_503(a: Answer) -> bool:
    try:
        body = json.loads(a.body)
    except ValueError:
        return False
    return a.status == 503 and set(body) == {"ok", "error", "errors", "status"}


def served_models(r: redis.Redis) -> set[str]:
    store = Store(r)
    data = store.read_dataset(store.require_generation())
    return {m.name for m in data.models.values()}


def test_the_api_under_load_serves_again_after_a_failover_and_loses_no_acknowledged_release(
        cluster: Cluster, tmp_path: Path) -> None:
    domains_file = tmp_path / "domains.toml"
    domains_file.write_text(DOMAINS)
    settings = Settings(redis_url=cluster.url, domains_file=domains_file, admin_token=TOKEN)
    r = client_for(cluster.url, settings)
    assert isinstance(r, ReplicatedRedis) and r.replica_wait is not None and r.replica_wait.replicas == 1
    load_snapshot(Store(r), parse_domains(DOMAINS, "test"), catalog_snapshot(), "test")
    http_server = make_server(HOST, 0, create_app(settings), threaded=True)
    threading.Thread(target=http_server.serve_forever, daemon=True).start()
    port = http_server.server_port
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one access line per request is noise here
    stop = threading.Event()
    answers: list[Answer] = []

    def reader(path: str) -> None:
        while not stop.is_set():
            answers.append(request(port, "GET", path))

    def writer() -> None:
        n = 0
        while not stop.is_set():
            n += 1
            model, body = release(n)
            answers.append(request(port, "POST", "/v1/releases", body, model))
            time.sleep(0.05)
    threads = [threading.Thread(target=reader, args=(p,)) for p in ("/v1/domains", "/readyz")]
    threads.append(threading.Thread(target=writer))
    try:
        for t in threads:
            t.start()
        time.sleep(1.5)
        killed = time.monotonic()
        switched, rejoined = fail_over(cluster)
        wait_until(lambda: any(a.status == 202 and a.started > rejoined for a in list(answers)), 25,
                   "no release was accepted after the replica came back")
        time.sleep(1.0)
    finally:
        stop.set()
        for t in threads:
            t.join(45)
        http_server.shutdown()
    gets = [a for a in answers if a.method == "GET"]
    posts = [a for a in answers if a.method == "POST"]
    odd = [a for a in answers if a.status not in (200, 202) and not is_json_503(a)]
    assert not odd, f"answers neither 200/202 nor the JSON 503: {odd[:3]}"
    assert all(a.status == 200 for a in gets if a.ended < killed), "503 before the primary was killed"
    late = [a for a in gets if a.started > switched + SETTLE_S and a.status != 200]
    assert not late, f"{len(late)} GETs failed {SETTLE_S} s after the sentinels switched: {late[:2]}"
    assert any(a.status == 200 for a in gets if a.started > switched + SETTLE_S)
    assert any(a.status == 202 for a in posts if a.ended < killed)

    acknowledged = {a.model for a in posts if a.status == 202}
    final = client_for(cluster.url, settings)
    try:
        missing = acknowledged - served_models(final)
    finally:
        final.close()
        r.close()
    assert not missing, f"acknowledged releases lost in the failover: {sorted(missing)}"
    last_503 = max((a.ended for a in gets if a.status == 503), default=killed)
    print(f"failover: sentinels switched {switched - killed:.1f} s after the kill, GETs 503 for "
          f"{last_503 - killed:.1f} s, replica back after {rejoined - killed:.1f} s; "
          f"{len(acknowledged)} releases acknowledged, {sum(a.status == 503 for a in posts)} refused with 503")


# --- the scheduler refreshing -----------------------------------------------------------------------------


class GrowingFeed:
    """A canonical CSV that gains one new open model per request; request `kill_at` SIGKILLs the primary first,
    so that pull's writes all meet the failover."""

    def __init__(self, server: HTTPServer, kill: Callable[[], None], kill_at: int) -> None:
        self.served = 0
        self.kill, self.kill_at = kill, kill_at
        self.killed_at: float | None = None
        server.expect_request("/feed.csv").respond_with_handler(self._handle)
        self.url = server.url_for("/feed.csv")

    @staticmethod
    def model(n: int) -> str:
        return f"Feed Open {n}"

    def _handle(self, _request: Request) -> Response:
        self.served += 1
        if self.served == self.kill_at:
            self.kill()
            self.killed_at = time.monotonic()
        rows = "".join(f"{self.model(n)},FeedLab,2025-04-01,open,{GPQA},{50 + n / 100},,feed\n"
                       for n in range(1, self.served + 1))
        return Response((HEADER + rows).encode(), content_type="text/csv")


def test_the_scheduler_carries_on_through_a_failover_in_the_middle_of_a_refresh_and_loses_no_applied_pull(
        cluster: Cluster, httpserver: HTTPServer, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING)
    feed = GrowingFeed(httpserver, cluster.primary.kill, kill_at=3)
    settings = Settings(redis_url=cluster.url, canonical_url=feed.url, epoch_url="", lmarena_url="",
                        canonical_every_s=1, job_lease_s=5)
    r = client_for(cluster.url, settings)  # the scheduler's own client, as `gapcast scheduler` makes it
    store = Store(r)
    load_snapshot(store, parse_domains(DOMAINS, "test"), catalog_snapshot(), "test")
    [pull] = [s for s in job_specs(settings, build_sources(settings, store)) if s.name == "pull:canonical"]
    applied: list[tuple[int, float]] = []  # (feed request n, when) of every pull whose generation was confirmed

    def recorded(deps: Deps) -> Any:
        outcome = pull.run(deps)
        if isinstance(outcome, PullOutcome) and outcome.ok and outcome.result is not None:
            applied.append((feed.served, time.monotonic()))
        return outcome
    spec = JobSpec(pull.name, pull.every_s, pull.description, recorded)
    sched = build(Deps(store, parse_domains(DOMAINS, "test"), Http(timeout_s=5), settings), [spec],
                  BackgroundScheduler(timezone=UTC))
    sched.start()
    try:
        wait_until(lambda: feed.killed_at is not None, 20, "the feed was not pulled three times")
        wait_until(lambda: cluster.primary_port() == cluster.replica.port, 30, "the sentinels did not fail over")
        old = cluster.primary
        old.conf = data_conf(f"replicaof {HOST} {cluster.replica.port}")
        old.start()
        cluster.primary, cluster.replica = cluster.replica, old
        wait_until(lambda: in_sync(cluster.primary), 20, "the old primary did not sync as a replica")
        rejoined = time.monotonic()
        wait_until(lambda: any(t > rejoined for _, t in applied), 25, "no pull was applied after the failover")
    finally:
        sched.shutdown(wait=True)
    assert feed.killed_at is not None
    assert any(t < feed.killed_at for _, t in applied), "no pull before the failover"
    final = client_for(cluster.url, settings)
    try:
        models = served_models(final)
    finally:
        final.close()
        r.close()
    lost = [n for n, _ in applied if GrowingFeed.model(n) not in models]
    assert not lost, f"pulls recorded as applied but lost in the failover: {lost}"
    tracebacks = [rec for rec in caplog.records if rec.name.startswith("jobs") and rec.exc_info]
    assert not tracebacks, [rec.getMessage() for rec in tracebacks]
