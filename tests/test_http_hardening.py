"""The served stack under hostile clients (issue 12, items 7, 9, 11, 12).

Real parts: the two served stacks run as real processes on 127.0.0.1 (`gapcast api`, which is what
`gapcast up` serves, and gunicorn with service/gunicorn_conf.py, which is what the compose file's api runs),
on the test Redis; clients are raw sockets. Source pulls read from a real local server that trickles bytes.
Every loop is bounded and every bound generous (the machine is shared): nothing here measures speed.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import redis
import requests

from forecasts.measure.domains import parse_domains
from forecasts.storage.ingest import load_snapshot
from forecasts.storage.store import Store
from jobs.http import Http, PullFailed
from tests.conftest import SMALL_DOMAINS, small_snapshot_bytes
from tests.test_redis_auth import Secured, clean, secured  # noqa: F401 (fixtures: a real Redis with TLS)

HOST = "127.0.0.1"
TOKEN = "hardening-admin-token-0123"
AUTH = f"Authorization: Bearer {TOKEN}\r\n"
DB = 11
BIN = Path(sys.executable).parent
MAX_BODY = 1 << 20


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


# --- the served stacks ------------------------------------------------------------------------------------


@dataclass
class Stack:
    name: str
    port: int
    proc: subprocess.Popen[bytes]
    r: redis.Redis

    @property
    def base(self) -> str:
        return f"http://{HOST}:{self.port}"


def stack_command(name: str, port: int) -> list[str]:
    if name == "gapcast-api":  # what `gapcast up` and `gapcast api` serve
        return [str(BIN / "gapcast"), "api", "--host", HOST, "--port", str(port), "--workers", "2"]
    return [str(BIN / "gunicorn"), "-c", "python:service.gunicorn_conf", "--bind", f"{HOST}:{port}",
            "service:create_app()"]  # what docker-compose.yml's api runs


def wait_ready(base: str, proc: subprocess.Popen[bytes], limit_s: float = 60.0) -> None:
    ends = time.monotonic() + limit_s
    while time.monotonic() < ends:
        assert proc.poll() is None, "the server exited at start"
        with contextlib.suppress(requests.RequestException):
            if requests.get(base + "/readyz", timeout=2).status_code == 200:
                return
        time.sleep(0.3)
    raise AssertionError(f"{base} not ready within {limit_s} s")


@contextlib.contextmanager
def running_stack(name: str, url: str, tmp: Path) -> Iterator[subprocess.Popen[bytes]]:
    """One served stack on a free port against the Redis at `url`, until the block ends."""
    domains_file = tmp / "domains.toml"
    domains_file.write_text(SMALL_DOMAINS, encoding="utf-8")
    metrics = tmp / "metrics"
    metrics.mkdir(exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("GAPCAST_")}
    env.update(GAPCAST_REDIS_URL=url, GAPCAST_DATA_DIR=str(tmp / "data"), GAPCAST_DOMAINS_FILE=str(domains_file),
               GAPCAST_ADMIN_TOKEN=TOKEN, GAPCAST_ALLOW_PRIVATE_WEBHOOKS="true", PROMETHEUS_MULTIPROC_DIR=str(metrics))
    port = free_port()
    log_path = tmp / "server.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(stack_command(name, port), env=env, stdout=log, stderr=log, start_new_session=True)
        proc.port = port  # type: ignore[attr-defined]
        try:
            wait_ready(f"http://{HOST}:{port}", proc)
            yield proc
        finally:
            proc.terminate()
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
    text = log_path.read_text(errors="replace")
    assert "Traceback" not in text and "MonkeyPatchWarning" not in text, text[-2000:]


def load_small(r: redis.Redis) -> None:
    r.flushdb()
    load_snapshot(Store(r), parse_domains(SMALL_DOMAINS, "test"), small_snapshot_bytes(), "test")


@pytest.fixture(scope="module", params=["gapcast-api", "gunicorn-conf"])
def stack(request: pytest.FixtureRequest, redis_server: Any, tmp_path_factory: pytest.TempPathFactory
          ) -> Iterator[Stack]:
    url = f"{redis_server.url}?db={DB}"
    r = redis.Redis.from_url(url)
    load_small(r)
    try:
        with running_stack(request.param, url, tmp_path_factory.mktemp(request.param)) as proc:
            yield Stack(request.param, proc.port, proc, r)  # type: ignore[attr-defined]
    finally:
        r.flushdb()
        r.close()


def test_the_gevent_workers_read_redis_over_tls(secured: Secured, clean: None, tmp_path: Path) -> None:  # noqa: F811
    # Workers monkey-patch ssl after the master imported it: Redis over TLS must still work in them.
    load_small(redis.Redis.from_url(secured.url()))
    with running_stack("gapcast-api", secured.url(tls=True, ca=secured.certs.ca), tmp_path) as proc:
        base = f"http://{HOST}:{proc.port}"  # type: ignore[attr-defined]
        for _ in range(20):  # several requests per worker, each on its own TLS connection pool
            assert requests.get(base + "/v1/domains", timeout=10).status_code == 200
        assert requests.get(base + "/readyz", timeout=10).json()["status"] == "ready"


def exchange(port: int, data: bytes, *, timeout_s: float = 20.0) -> tuple[int, dict[str, str], bytes]:
    """Send raw bytes, read until the server closes; (status, headers, body)."""
    with socket.create_connection((HOST, port), timeout=timeout_s) as s:
        with contextlib.suppress(OSError):  # the server may answer and close before reading everything
            s.sendall(data)
        return read_response(s)


def read_response(s: socket.socket) -> tuple[int, dict[str, str], bytes]:
    raw = b""
    while b"\r\n\r\n" not in raw:
        part = s.recv(65536)
        assert part, f"connection closed without an answer: {raw[:200]!r}"
        raw += part
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {k.strip().lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines[1:])}
    length = int(headers.get("content-length", "-1"))
    while len(body) < length:
        part = s.recv(65536)
        if not part:
            break
        body += part
    return status, headers, body[:length] if length >= 0 else body


def assert_json_error(status: int, headers: dict[str, str], body: bytes, expected: int) -> dict[str, Any]:
    assert status == expected, (status, body[:300])
    assert headers.get("content-type", "").startswith("application/json"), headers
    doc = json.loads(body)
    assert set(doc) == {"ok", "error", "errors", "status"} and doc["ok"] is False and doc["status"] == expected
    assert isinstance(doc["error"], str) and doc["error"] and isinstance(doc["errors"], list)
    assert "<html" not in body.decode("utf-8", "replace").lower() and "Traceback" not in doc["error"]
    return doc


# --- item 12: errors outside Flask are the one JSON shape -------------------------------------------------

REFUSALS = {
    "16 KB request line": (b"GET /" + b"a" * 16384 + b" HTTP/1.1\r\nHost: x\r\n\r\n", 414),
    "10 KB header": (b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 10240 + b"\r\n\r\n", 431),
    "150 headers": (b"GET /healthz HTTP/1.1\r\nHost: x\r\n"
                    + b"".join(b"X-H%d: v\r\n" % i for i in range(150)) + b"\r\n", 431),
    "garbage bytes": (bytes(range(1, 32)) + b"\xff\xfe garbage \x7f\r\n\r\n", 400),
    "a TLS hello on the plain port": (bytes.fromhex("16030100a5010000a10303") + b"\x00" * 40 + b"\r\n\r\n", 400),
    "bad method": (b"G\x01T /healthz HTTP/1.1\r\nHost: x\r\n\r\n", 400),
    "bad version": (b"GET /healthz HTTP/7.3\r\nHost: x\r\n\r\n", 400),
    "header without a colon": (b"GET /healthz HTTP/1.1\r\nHost: x\r\nnocolon\r\n\r\n", 400),
    "bad chunk size": (b"POST /v1/subscriptions HTTP/1.1\r\nHost: x\r\n" + AUTH.encode()
                       + b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n",
                       400),
}


@pytest.mark.parametrize("case", list(REFUSALS))
def test_requests_gunicorn_refuses_get_the_json_error_shape(stack: Stack, case: str) -> None:
    data, expected = REFUSALS[case]
    status, headers, body = exchange(stack.port, data)
    assert_json_error(status, headers, body, expected)
    assert requests.get(stack.base + "/healthz", timeout=10).status_code == 200


# --- item 11: chunked bodies are counted, never truncated -------------------------------------------------


def chunked_post(port: int, path: str, payload: Callable[[], Iterator[bytes]]) -> tuple[int, dict[str, str], bytes]:
    """POST `payload` (its chunks) with Transfer-Encoding: chunked; the upload runs beside the read, so a
    server that answers early is heard even while the client is still sending."""
    s = socket.create_connection((HOST, port), timeout=30)
    head = (f"POST {path} HTTP/1.1\r\nHost: x\r\n{AUTH}Content-Type: application/json\r\n"
            "Transfer-Encoding: chunked\r\n\r\n").encode()

    def upload() -> None:
        with contextlib.suppress(OSError):
            s.sendall(head)
            for chunk in payload():
                s.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            s.sendall(b"0\r\n\r\n")
    sender = threading.Thread(target=upload, daemon=True)
    sender.start()
    try:
        return read_response(s)
    finally:
        with contextlib.suppress(OSError):
            s.shutdown(socket.SHUT_RDWR)
        s.close()
        sender.join(30)


def subscription_json(pad_to: int | None = None) -> bytes:
    doc = json.dumps({"kind": "slack", "url": f"http://{HOST}:9/hook"}).encode()
    return doc if pad_to is None else doc + b" " * (pad_to - len(doc))


def in_chunks(data: bytes, size: int = 64 * 1024) -> Callable[[], Iterator[bytes]]:
    return lambda: (data[i:i + size] for i in range(0, len(data), size))


def stored_subscriptions(stack: Stack) -> list[bytes]:
    return sorted(stack.r.smembers("gapcast:subscriptions"))  # type: ignore[arg-type]


def test_a_small_chunked_body_is_read_whole(stack: Stack) -> None:
    status, _, body = chunked_post(stack.port, "/v1/subscriptions", in_chunks(subscription_json(), 7))
    assert status == 201, body
    sub_id = json.loads(body)["subscription"]["id"]
    assert requests.delete(f"{stack.base}/v1/subscriptions/{sub_id}", headers={"Authorization": f"Bearer {TOKEN}"},
                           timeout=10).status_code in (200, 204)


def test_a_chunked_body_valid_for_its_first_mib_and_longer_is_413_not_truncated(stack: Stack) -> None:
    before = stored_subscriptions(stack)
    data = subscription_json(pad_to=MAX_BODY) + b"garbage after the first MiB " * (MAX_BODY // 28)
    status, headers, body = chunked_post(stack.port, "/v1/subscriptions", in_chunks(data))
    doc = assert_json_error(status, headers, body, 413)
    assert doc["errors"][0]["field"] == "body"
    assert stored_subscriptions(stack) == before


def test_a_body_of_exactly_the_limit_is_accepted(stack: Stack) -> None:
    status, _, body = chunked_post(stack.port, "/v1/subscriptions", in_chunks(subscription_json(pad_to=MAX_BODY)))
    assert status == 201, body[:300]
    sub_id = json.loads(body)["subscription"]["id"]
    requests.delete(f"{stack.base}/v1/subscriptions/{sub_id}", headers={"Authorization": f"Bearer {TOKEN}"},
                    timeout=10)


def test_a_50_mb_chunked_body_is_413(stack: Stack) -> None:
    chunk = b" " * (256 * 1024)
    status, headers, body = chunked_post(stack.port, "/v1/subscriptions", lambda: (chunk for _ in range(200)))
    assert_json_error(status, headers, body, 413)
    assert requests.get(stack.base + "/readyz", timeout=10).status_code == 200


# --- item 7: slow clients do not take the API down --------------------------------------------------------

SLOW_SOCKETS = 200
BYTE_EVERY_S = 3.0
ATTACK_S = 20.0
PROBE_LIMIT_S = 8.0  # generous: an answering server replies in milliseconds


class SlowLoris:
    """SLOW_SOCKETS connections, each sending one more header byte every BYTE_EVERY_S and never finishing
    its headers; a socket the server drops is opened again (the attacker keeps the pressure on)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.socks: list[socket.socket | None] = [None] * SLOW_SOCKETS
        self.last = [0.0] * SLOW_SOCKETS
        self.reopened = 0

    def _open(self, i: int) -> None:
        try:
            s = socket.create_connection((HOST, self.port), timeout=2)
            s.sendall(b"GET /readyz HTTP/1.1\r\nHost: x\r\nX-Slow: ")
            self.socks[i] = s
        except OSError:
            self.socks[i] = None
        self.last[i] = time.monotonic()

    def tick(self) -> None:
        now = time.monotonic()
        for i, s in enumerate(self.socks):
            if s is None:
                self._open(i)
            elif now - self.last[i] >= BYTE_EVERY_S:
                try:
                    s.sendall(b"a")
                    self.last[i] = now
                except OSError:
                    s.close()
                    self.reopened += 1
                    self._open(i)

    def close(self) -> None:
        for s in self.socks:
            if s is not None:
                s.close()


def test_200_slow_loris_sockets_do_not_stop_readyz(stack: Stack) -> None:
    attack = SlowLoris(stack.port)
    waits: list[float] = []
    failures: list[str] = []
    try:
        attack.tick()
        ends = time.monotonic() + ATTACK_S
        while time.monotonic() < ends:  # bounded: ATTACK_S of attack, one probe per round
            attack.tick()
            started = time.monotonic()
            try:
                status = requests.get(stack.base + "/readyz", timeout=PROBE_LIMIT_S).status_code
                if status != 200:
                    failures.append(f"status {status}")
            except requests.RequestException as exc:
                failures.append(type(exc).__name__)
            waits.append(time.monotonic() - started)
            time.sleep(0.5)
        data = requests.get(stack.base + "/v1/domains", timeout=PROBE_LIMIT_S)
    finally:
        attack.close()
    assert not failures, f"{len(failures)} of {len(waits)} probes failed: {failures[:5]}"
    assert data.status_code == 200
    assert len(waits) >= 10 and max(waits) < PROBE_LIMIT_S


# --- item 9: a pull's timeout bounds the whole pull -------------------------------------------------------


@pytest.fixture()
def trickler() -> Iterator[Callable[[bytes, bytes], str]]:
    """A local server sending `head` at once, then `slow` one byte every TRICKLE_S (bounded: it stops at the
    end of `slow`, or when the client goes away). Returns the URL."""
    servers: list[socket.socket] = []
    stop = threading.Event()

    def start(head: bytes, slow: bytes) -> str:
        srv = socket.create_server((HOST, 0))
        srv.settimeout(0.2)
        servers.append(srv)

        def run() -> None:
            while not stop.is_set():
                try:
                    conn, _ = srv.accept()
                except (TimeoutError, OSError):
                    continue
                with conn, contextlib.suppress(OSError):
                    conn.recv(65536)
                    conn.sendall(head)
                    for byte in slow:
                        if stop.wait(TRICKLE_S):
                            break
                        conn.sendall(bytes([byte]))
        threading.Thread(target=run, daemon=True).start()
        return f"http://{HOST}:{srv.getsockname()[1]}/feed.csv"
    yield start
    stop.set()
    for srv in servers:
        srv.close()


TRICKLE_S = 0.5
PULL_TIMEOUT_S = 2.0
SLOW_HEADERS = b"HTTP/1.1 200 OK\r\nContent-Type: text/csv\r\n" + b"X-Pad: " + b"a" * 200 + b"\r\n" + \
    b"Content-Length: 2\r\n\r\nok"
SLOW_BODY_HEAD = b"HTTP/1.1 200 OK\r\nContent-Type: text/csv\r\nContent-Length: 200\r\n\r\n"


@pytest.mark.parametrize(("head", "slow"), [(b"", SLOW_HEADERS), (SLOW_BODY_HEAD, b"m" * 200)],
                         ids=["trickled headers", "trickled body"])
def test_a_trickling_source_times_out_within_the_pull_timeout(trickler: Callable[[bytes, bytes], str],
                                                              head: bytes, slow: bytes) -> None:
    # Every byte arrives well inside the per-read timeout, so only a deadline on the whole pull ends it;
    # read to the end, the trickle would take 100 s or more.
    url = trickler(head, slow)
    started = time.monotonic()
    with pytest.raises(PullFailed) as err:
        Http(timeout_s=PULL_TIMEOUT_S).get(url)
    elapsed = time.monotonic() - started
    assert err.value.reason == "timeout" and "2 s" in err.value.message
    assert elapsed < 15, f"the pull lasted {elapsed:.1f} s with a {PULL_TIMEOUT_S} s timeout"


def test_gapcast_ingest_honours_the_source_timeout_setting(trickler: Callable[[bytes, bytes], str],
                                                           redis_url: str, tmp_path: Path) -> None:
    url = trickler(SLOW_BODY_HEAD, b"m" * 200)
    env = {k: v for k, v in os.environ.items() if not k.startswith("GAPCAST_")}
    env.update(GAPCAST_REDIS_URL=redis_url, GAPCAST_DATA_DIR=str(tmp_path), GAPCAST_SOURCE_TIMEOUT_S="2")
    started = time.monotonic()
    out = subprocess.run([str(BIN / "gapcast"), "ingest", "canonical", url], env=env, capture_output=True,
                         text=True, timeout=90)
    elapsed = time.monotonic() - started
    assert out.returncode == 1 and "not complete within 2 s" in out.stderr, out.stderr[-500:]
    assert elapsed < 30, f"gapcast ingest took {elapsed:.1f} s with GAPCAST_SOURCE_TIMEOUT_S=2"
