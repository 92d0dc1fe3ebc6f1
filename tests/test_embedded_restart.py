"""The embedded Redis comes back when it is killed, with everything it acknowledged, and its users recover.

Each test starts its own embedded server through the product's code (`forecasts.storage.connection.redis_url`, what
`gapcast up` and every command use) in its tmp_path, kills the `redis-server` process with SIGKILL, and checks
that the owner restarted it on the same AOF files and socket; that the data written before the kill is there;
that a client made before the kill (the API's, the scheduler's) works again by itself within seconds; and that
a scheduler run meeting a dead Redis logs one line, not a traceback.
"""

from __future__ import annotations

import http.client
import json
import logging
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any, TypeVar

import pytest
import redis
from werkzeug.serving import make_server

from forecasts.measure.domains import parse_domains
from forecasts.settings import Settings
from forecasts.storage import keys
from forecasts.storage.connection import client_for, redis_url
from forecasts.storage.ingest import load_snapshot
from forecasts.storage.redis_server import RESTART_BACKOFF_MAX_S, restart_delay_s
from forecasts.storage.store import Store
from jobs.http import Http
from jobs.schedule import Deps, JobSpec
from jobs.scheduler import JobRunner
from service import create_app
from tests.conftest import FIXED_NOW, SMALL_DOMAINS, small_snapshot_bytes

pytestmark = pytest.mark.timeout(60)

HOST = "127.0.0.1"
RECOVER_S = 15.0  # generous: the restart itself takes well under a second
T = TypeVar("T")


def server_pid(r: redis.Redis) -> int:
    return int(r.info("server")["process_id"])


def alive(pid: int) -> bool:
    try:
        stat_line = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat_line.rsplit(")", 1)[1].split()[0] != "Z"


def eventually(read: Callable[[], T], timeout_s: float = RECOVER_S) -> T:
    """`read()` once it stops raising RedisError (the client recovering by itself); re-raises after the timeout."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            return read()
        except redis.RedisError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


@contextmanager
def embedded(tmp_path: Path) -> Iterator[tuple[Settings, str]]:
    """The embedded server as the product starts it (settings as from the environment, URL)."""
    settings = Settings(data_dir=tmp_path / "data", domains_file=tmp_path / "domains.toml")
    settings.domains_file.write_text(SMALL_DOMAINS)  # type: ignore[union-attr]
    with redis_url(settings) as url:
        yield settings, url


def test_a_killed_embedded_redis_is_restarted_with_every_acknowledged_write_and_the_api_serves_again(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="forecasts.storage.redis_server")
    domains = parse_domains(SMALL_DOMAINS, "test")
    with embedded(tmp_path) as (settings, url):
        r = client_for(url, settings)
        store = Store(r, now=lambda: FIXED_NOW)
        gen = load_snapshot(store, domains, small_snapshot_bytes(), "test").generation
        app = create_app(replace(settings, redis_url=url))  # its own client, as gunicorn workers make it
        http_server = make_server(HOST, 0, app, threaded=True)
        threading.Thread(target=http_server.serve_forever, daemon=True).start()
        try:
            before = get(http_server.server_port, "/v1/domains")
            assert before[0] == 200
            r.set("gapcast:test:last-write", "acknowledged")  # acknowledged, then the server dies at once
            old_pid = server_pid(r)
            os.kill(old_pid, signal.SIGKILL)

            new_pid = eventually(lambda: server_pid(r))
            assert new_pid != old_pid and not alive(old_pid)
            assert r.get("gapcast:test:last-write") == b"acknowledged"  # the AOF had it
            assert store.current_generation() == gen and store.read_json(keys.gen_summary(gen))
            answers = poll_until_200(http_server.server_port, "/v1/domains")
            assert answers[-1] == before, "the API serves the same data again"
            assert all(status in (200, 503) for status, _ in answers), answers  # never a 500 or a hang
            health = get(http_server.server_port, "/healthz")
            assert health[0] == 200 and json.loads(health[1])["redis"] == "up"
        finally:
            http_server.shutdown()
            r.close()
    lines = [rec.getMessage() for rec in caplog.records]
    assert any("exited with signal SIGKILL" in m and "restarting it" in m for m in lines), lines
    assert any(m.startswith("restarted the embedded redis-server") for m in lines), lines


def test_a_server_that_keeps_dying_is_restarted_with_growing_backoff_and_stop_leaves_none(tmp_path: Path) -> None:
    assert [restart_delay_s(n) for n in range(1, 6)] == [0.0, 0.5, 1.0, 2.0, 4.0]
    assert restart_delay_s(50) == RESTART_BACKOFF_MAX_S
    with embedded(tmp_path) as (settings, url):
        r = client_for(url, settings)
        r.set("k", "v")
        pids = [server_pid(r)]
        for _ in range(3):
            os.kill(pids[-1], signal.SIGKILL)
            pids.append(eventually(lambda: server_pid(r)))
        assert len(set(pids)) == 4 and r.get("k") == b"v"
        last = pids[-1]
    deadline = time.monotonic() + 5
    while alive(last) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not alive(last), "stop() must stop the restarted server"
    r.close()


def test_after_a_kill_the_next_scheduler_run_completes_and_a_run_on_a_dead_redis_is_one_line(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    calls: list[int] = []

    def job(deps: Deps) -> int:
        calls.append(int(deps.store.r.incr("gapcast:test:runs")))
        return calls[-1]
    spec = JobSpec("count", 3600, "count", job)
    with embedded(tmp_path) as (settings, url):
        r = client_for(url, settings)  # the scheduler's client (`gapcast scheduler`: the default budget)
        runner = JobRunner(Deps(Store(r), {}, Http(timeout_s=5), settings))
        assert runner.run(spec) == "ran"
        os.kill(server_pid(r), signal.SIGKILL)
        caplog.clear()
        caplog.set_level(logging.WARNING)
        # right after the kill: the client rides through the restart (GAPCAST_REDIS_RETRY_S) and the run completes
        assert runner.run(spec, retry=True) == "ran" and calls == [1, 2]
        assert not [rec for rec in caplog.records if rec.name.startswith("jobs")], caplog.records
        r.close()

    dead = client_for(f"unix://{tmp_path / 'gone.sock'}", replace(settings, redis_retry_s=0.2))
    dead_runner = JobRunner(Deps(Store(dead), {}, Http(timeout_s=5), settings))
    caplog.clear()
    assert dead_runner.run(spec).startswith("failed: ")
    job_lines = [rec for rec in caplog.records if rec.name.startswith("jobs")]
    assert len(job_lines) == 1 and job_lines[0].levelno == logging.WARNING and job_lines[0].exc_info is None
    assert "failed on Redis" in job_lines[0].getMessage()


def test_healthz_is_liveness_and_says_redis_is_down_while_readyz_is_503(tmp_path: Path) -> None:
    dead = client_for(f"unix://{tmp_path / 'gone.sock'}", Settings(redis_retry_s=0.2, redis_socket_timeout_s=1))
    app = create_app(Settings(domains_file=None), client=dead)
    http_server = make_server(HOST, 0, app, threaded=True)
    threading.Thread(target=http_server.serve_forever, daemon=True).start()
    try:
        status, body = get(http_server.server_port, "/healthz")
        assert status == 200 and json.loads(body) == {"ok": True, "status": "alive", "redis": "down"}
        assert get(http_server.server_port, "/readyz")[0] == 503
    finally:
        http_server.shutdown()


def get(port: int, path: str) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection(HOST, port, timeout=10)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def poll_until_200(port: int, path: str) -> list[tuple[int, Any]]:
    answers = [get(port, path)]
    deadline = time.monotonic() + RECOVER_S
    while answers[-1][0] != 200 and time.monotonic() < deadline:
        time.sleep(0.1)
        answers.append(get(port, path))
    return answers
