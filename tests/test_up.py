"""`gapcast up` alone is the whole product: real processes, the real embedded Redis, a local HTTP receiver.

One `up` (API, scheduler, deliverer as supervised children) on a fresh data folder: a subscription and a
pushed release reach the receiver; /metrics carries the request metrics (prometheus_client in multiprocess
mode) and names every time in seconds; a source that cannot be reached fails cleanly (its status says so,
one log line per failure, no traceback); SIGTERM stops everything and no process is left behind.

The receiver is on 127.0.0.1, which the SSRF guard refuses by default: the test turns on the documented
GAPCAST_ALLOW_PRIVATE_WEBHOOKS=true for this `up` only (test_ssrf.py covers the default).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families
from pytest_httpserver import HTTPServer

from tests.test_supervise import alive, wait_for

TOKEN = "up-test-admin-token"
SECRET = "up-test-signing-secret-0123456789"
READY_DEADLINE_S = 240  # generous: a loaded 2-core machine; the test asserts what `up` does, not its speed


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def descendants(pid: int) -> set[int]:
    """Every live process below `pid` (children, grandchildren, ...), from /proc."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            parents[int(entry.name)] = int(stat[1])
    found, frontier = set(), {pid}
    while frontier:
        frontier = {p for p, pp in parents.items() if pp in frontier} - found
        found |= frontier
    return found


class Up:
    """A running `gapcast up` whose merged output is collected line by line."""

    def __init__(self, data_dir: Path, port: int, extra_env: dict[str, str], *args: str) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("GAPCAST_")}
        env.update({"GAPCAST_DATA_DIR": str(data_dir), **extra_env})
        self.base = f"http://127.0.0.1:{port}"
        self.proc = subprocess.Popen([sys.executable, "-m", "gapcast", "up", "--port", str(port), "--workers", "1",
                                      *args],
                                     env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))

    @property
    def output(self) -> str:
        return "\n".join(self.lines)

    def request(self, method: str, path: str, body: Any = None, token: str | None = None) -> tuple[int, bytes]:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.base + path, data=data, method=method)
        if data is not None:
            req.add_header("Content-Type", "application/json")
        if token:
            req.add_header("Authorization", f"Bearer {token}")
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:
                return resp.status, resp.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read()

    def wait_ready(self) -> None:
        def ready() -> bool:
            assert self.proc.poll() is None, self.output
            try:
                return self.request("GET", "/readyz")[0] == 200
            except OSError:
                return False
        wait_for(ready, READY_DEADLINE_S, f"/readyz under gapcast up\n{self.output}")


@pytest.fixture()
def up(tmp_path: Path) -> Iterator[Up]:
    closed = _free_port()  # nothing listens there: the Epoch pull fails at once, on loopback only
    running = Up(tmp_path / "data", _free_port(), {
        "GAPCAST_ADMIN_TOKEN": TOKEN,
        "GAPCAST_ALLOW_PRIVATE_WEBHOOKS": "true",
        "GAPCAST_EPOCH_URL": f"http://127.0.0.1:{closed}/benchmark_data.zip",
        "GAPCAST_LMARENA_URL": "",  # off
        "GAPCAST_REDIS_APPENDFSYNC": "everysec",
    })
    yield running
    if running.proc.poll() is None:
        for pid in descendants(running.proc.pid):
            os.kill(pid, signal.SIGKILL)
        running.proc.kill()
        running.proc.wait()


def test_up_alone_delivers_a_release_to_a_subscriber_serves_metrics_and_stops_clean(
        up: Up, httpserver: HTTPServer) -> None:
    httpserver.expect_request("/hooks/up", method="POST").respond_with_data("ok")
    up.wait_ready()
    assert up.lines[0].startswith("redis: ") and "embedded" in up.lines[0], up.lines[:3]
    assert "redis-server" in up.lines[0] or "valkey-server" in up.lines[0], up.lines[0]

    status, body = up.request("POST", "/v1/subscriptions", {"kind": "webhook", "url": httpserver.url_for("/hooks/up"),
                                                            "secret": SECRET}, TOKEN)
    assert status == 201, body
    release = [{"model": "up-test-open-1", "organization": "OpenCo", "release_date": "2026-11-20",
                "access": "open", "benchmark": "aa-apex-agents", "score": 99.0}]
    status, body = up.request("POST", "/v1/releases", release, TOKEN)
    assert status == 202, body
    pushed = json.loads(body)
    assert pushed["changed"] is True

    # The deliverer part plans the release's events and sends them: nothing else runs but `up`.
    wait_for(lambda: any(req.path == "/hooks/up" for req, _ in httpserver.log), 120,
             f"a delivery to the local receiver\n{up.output}")
    req = next(req for req, _ in httpserver.log if req.path == "/hooks/up")
    message = json.loads(req.get_data(as_text=True))
    assert message["type"] == "gapcast.events" and message["generation"] == pushed["generation"], message
    assert message["events"], message
    assert req.headers.get("X-Gapcast-Signature", "").startswith("sha256="), dict(req.headers)

    # /metrics under up: the request counter and histogram exist (multiprocess files were written).
    status, text = up.request("GET", "/metrics")
    assert status == 200
    families = {f.name: f for f in text_string_to_metric_families(text.decode())}
    requests = families["gapcast_http_requests"]
    assert requests.type == "counter"
    assert any(s.labels.get("endpoint") == "/v1/releases" and s.labels.get("status") == "202" and s.value >= 1
               for s in requests.samples), requests.samples
    assert families["gapcast_http_request_duration_seconds"].type == "histogram"
    for name, family in families.items():  # units: seconds, never days (Prometheus naming conventions)
        assert "_days" not in name and "_hours" not in name and "_minutes" not in name, name
        if family.type == "counter":
            assert all(s.name.endswith(("_total", "_created")) for s in family.samples), name
    assert "gapcast_domain_lag_seconds" in families and "gapcast_data_age_seconds" in families
    promtool = shutil.which("promtool")  # Debian's prometheus package; .ci/run installs it
    if promtool:
        lint = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True, timeout=30,
                              check=False)
        assert lint.returncode == 0 and not lint.stdout.strip(), lint.stdout + lint.stderr
    elif os.environ.get("CI"):
        raise AssertionError("promtool is not installed: .ci/run installs Debian's prometheus package")

    # No network: the Epoch pull failed cleanly, the source's status says so, one line per failure.
    status, body = up.request("GET", "/v1/sources")
    epoch = next(s for s in json.loads(body)["sources"] if s["source"] == "epoch-hub")
    assert epoch["consecutive_failures"] >= 1 and epoch.get("last_error"), epoch
    failures = [line for line in up.lines if "pull of epoch-hub failed" in line]
    assert failures and all(line.startswith("[scheduler] ") for line in failures)
    assert abs(len(failures) - epoch["consecutive_failures"]) <= 1, failures  # a line may trail its status
    assert "Traceback" not in up.output, up.output
    assert "maximum number of running instances" not in up.output

    children = descendants(up.proc.pid)
    assert len(children) >= 4, children  # api (gunicorn master + worker), scheduler, deliver, redis-server
    assert {line.split("]")[0] + "]" for line in up.lines if line.startswith("[")} >= {"[api]", "[scheduler]",
                                                                                      "[deliver]"}
    up.proc.send_signal(signal.SIGTERM)
    assert up.proc.wait(timeout=60) == 0, up.output
    wait_for(lambda: not any(alive(p) for p in children), 15, f"no child of up left: {children}")
    assert up.lines[-1] == "gapcast stopped", up.lines[-5:]


def test_up_no_scheduler_serves_only_the_api(tmp_path: Path) -> None:
    running = Up(tmp_path / "data", _free_port(), {"GAPCAST_EPOCH_URL": "", "GAPCAST_LMARENA_URL": ""},
                 "--no-scheduler")
    try:
        running.wait_ready()
        time.sleep(1)  # the parts would have printed their job lists by now
        assert "[api] " in running.output
        assert "[scheduler]" not in running.output and "[deliver]" not in running.output
        # links name the server up started (GAPCAST_DASHBOARD_URL unset), not the default port 8000
        status, feed = running.request("GET", "/v1/events.atom")
        assert status == 200 and f'href="{running.base}/"'.encode() in feed, feed[:600]
        running.proc.send_signal(signal.SIGINT)
        assert running.proc.wait(timeout=60) == 0
    finally:
        if running.proc.poll() is None:
            running.proc.kill()
