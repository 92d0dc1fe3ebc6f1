"""Perf figures for the cached forecast endpoint (prints figures, asserts nothing about time).

    /work/venv/bin/python tests/perf/bench_api.py [--concurrency 16] [--duration 10] [--rounds 2]

On loopback, in one run: A = gapcast's app (`GET /v1/domains/coding/forecast`, served from its per-worker
cache) and B = a bare Flask endpoint returning the same stored document bytes from Redis (one GET), both under
gunicorn through `service.server.serve` (2 gthread workers, 4 threads, no access log). A load generator in a
second process (a fresh one per run) keeps C keep-alive HTTP/1.1 connections (`http.client`, one thread each)
busy for a fixed time after a warm-up, alternating A, B, A, B; the median of the rounds is reported.
Targets: throughput A/B >= 0.70, p99 A/B <= 2.0. Exits 0 whatever the figures (non-zero only when the set-up
fails).

Top-level imports are stdlib only: the load process (spawn) re-imports this module.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import http.client
import multiprocessing as mp
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HOST = "127.0.0.1"
DOMAIN = "coding"
GAPCAST_PATH = f"/v1/domains/{DOMAIN}/forecast"
BARE_PATH = "/bare/forecast"
TARGET_THROUGHPUT, TARGET_P99 = 0.70, 2.0
READY_TIMEOUT_S, STOP_TIMEOUT_S, CLIENT_TIMEOUT_S = 30.0, 15.0, 5.0
COMMAND = "/work/venv/bin/python tests/perf/bench_api.py"


# --- servers ---------------------------------------------------------------------------------------------


def bare_app(redis_url: str, key: str) -> Any:
    """A Flask app with one route returning the bytes stored at `key`, with gapcast's Redis client settings."""
    from dataclasses import replace

    from flask import Flask, Response

    from forecasts.settings import Settings
    from forecasts.storage.connection import client_for
    from service import API_SOCKET_TIMEOUT_S

    settings = Settings.from_env({"GAPCAST_REDIS_URL": redis_url})
    client = client_for(redis_url, replace(settings, redis_socket_timeout_s=API_SOCKET_TIMEOUT_S))
    app = Flask("bare")

    @app.get(BARE_PATH)
    def forecast() -> Response:
        return Response(client.get(key), mimetype="application/json")

    return app


def serve_main(kind: str, port: int, redis_url: str, key: str, workers: int, threads: int) -> None:
    """Server process: gapcast's app or the bare one under `service.server.serve` until SIGTERM."""
    from service.server import serve

    def factory() -> Any:
        if kind == "bare":
            return bare_app(redis_url, key)
        from forecasts.settings import Settings
        from service import create_app  # here: prometheus_client reads PROMETHEUS_MULTIPROC_DIR at import

        return create_app(Settings.from_env({"GAPCAST_REDIS_URL": redis_url}))

    serve(factory, host=HOST, port=port, workers=workers, threads=threads)


def _die_with_parent() -> Callable[[], None]:
    """preexec_fn: the server gets SIGTERM if this process dies without stopping it (Linux only)."""
    prctl = ctypes.CDLL(None, use_errno=True).prctl  # resolved in the parent, not in the forked child

    def preexec() -> None:
        prctl(1, int(signal.SIGTERM), 0, 0, 0)  # PR_SET_PDEATHSIG

    return preexec


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    """One gunicorn master (in its own session) started from this script."""

    name: str
    path: str
    port: int
    proc: subprocess.Popen[bytes]

    def stop(self) -> None:
        """SIGTERM (graceful), then SIGKILL to the whole session after STOP_TIMEOUT_S; always reaps."""
        if self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()


def start_server(kind: str, path: str, redis_url: str, key: str, args: argparse.Namespace, tmp: Path) -> Server:
    """Start a server process and wait until `path` answers 200."""
    port = free_port()
    metrics_dir = tmp / f"prometheus-{kind}"
    metrics_dir.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("GAPCAST_")}
    env["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_dir)
    argv = [sys.executable, __file__, "--serve", kind, "--port", str(port), "--redis-url", redis_url, "--key", key,
            "--workers", str(args.workers), "--threads", str(args.threads)]
    proc = subprocess.Popen(argv, env=env, start_new_session=True, preexec_fn=_die_with_parent())
    server = Server(kind, path, port, proc)
    try:
        wait_ready(server)
    except BaseException:
        server.stop()
        raise
    return server


def wait_ready(server: Server) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if server.proc.poll() is not None:
            raise RuntimeError(f"{server.name} server exited with status {server.proc.returncode}")
        with contextlib.suppress(OSError):
            if fetch(server.port, server.path)[0] == 200:
                return
        time.sleep(0.1)
    raise RuntimeError(f"{server.name} server did not answer within {READY_TIMEOUT_S:.0f} s")


def fetch(port: int, path: str) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection(HOST, port, timeout=CLIENT_TIMEOUT_S)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


# --- load generator (runs in its own process) ----------------------------------------------------------


@dataclass(frozen=True)
class LoadSpec:
    port: int
    path: str
    concurrency: int
    warmup_s: float
    duration_s: float


@dataclass
class LoadResult:
    """Requests that started inside the measured window: count, non-2xx, latencies (s), client CPU."""

    requests: int
    errors: int
    rps: float
    p50_ms: float
    p99_ms: float
    client_cpu: float  # load-process CPU seconds per measured second (1.0 = one core busy)


@dataclass
class _Conn:
    latencies: list[float] = field(default_factory=list)
    errors: int = 0


def _client_loop(spec: LoadSpec, measure_from: float, end: float, out: _Conn) -> None:
    """One keep-alive connection issuing GETs back to back until `end` (reconnects after a failure)."""
    conn = http.client.HTTPConnection(HOST, spec.port, timeout=CLIENT_TIMEOUT_S)
    while (started := time.perf_counter()) < end:
        try:
            conn.request("GET", spec.path)
            resp = conn.getresponse()
            resp.read()
            status = resp.status
        except (OSError, http.client.HTTPException):
            status = 0
            conn.close()
            conn = http.client.HTTPConnection(HOST, spec.port, timeout=CLIENT_TIMEOUT_S)
        if started >= measure_from:
            out.latencies.append(time.perf_counter() - started)
            out.errors += not 200 <= status < 300
    conn.close()


def run_load(spec: LoadSpec) -> LoadResult:
    """Drive `spec.concurrency` connections for warm-up + duration; summarise the measured window."""
    measure_from = time.perf_counter() + spec.warmup_s
    end = measure_from + spec.duration_s
    conns = [_Conn() for _ in range(spec.concurrency)]
    threads = [threading.Thread(target=_client_loop, args=(spec, measure_from, end, c)) for c in conns]
    for t in threads:
        t.start()
    time.sleep(max(0.0, measure_from - time.perf_counter()))
    cpu0 = time.process_time()
    for t in threads:
        t.join()
    cpu = time.process_time() - cpu0
    lat = sorted(x for c in conns for x in c.latencies)
    return LoadResult(len(lat), sum(c.errors for c in conns), len(lat) / spec.duration_s,
                      _quantile(lat, 0.50) * 1000, _quantile(lat, 0.99) * 1000, cpu / spec.duration_s)


def _load_main(spec: LoadSpec, conn: Any) -> None:
    conn.send(run_load(spec))
    conn.close()


def load_in_process(spec: LoadSpec) -> LoadResult:
    """`run_load` in a fresh spawned process, killed if it outlives its time or on any exception here."""
    ctx = mp.get_context("spawn")
    parent, child = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_load_main, args=(spec, child), daemon=True)
    proc.start()
    child.close()
    try:
        if not parent.poll(spec.warmup_s + spec.duration_s + 60):
            raise RuntimeError("the load generator did not report in time")
        result: LoadResult = parent.recv()
        return result
    finally:
        if proc.is_alive():
            proc.terminate()
        proc.join(timeout=5)
        parent.close()


def _quantile(ordered: list[float], q: float) -> float:
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


# --- set-up and report ---------------------------------------------------------------------------------


def prepare_data(redis_url: str) -> str:
    """Load the bundled snapshot, compute the domain's forecasts; return the stored document's key."""
    import json

    import redis

    from forecasts.measure.domains import load_domains
    from forecasts.publishing import outlook
    from forecasts.records.snapshot import bundled_bytes
    from forecasts.storage import keys
    from forecasts.storage.ingest import load_snapshot
    from forecasts.storage.store import Store

    client = redis.Redis.from_url(redis_url)
    try:
        store = Store(client)
        gen = load_snapshot(store, load_domains(), bundled_bytes(), "bench").generation
        refs = outlook.pending(store, gen, lambda r: r.kind == "domain" and r.target == DOMAIN)
        outlook.compute(store, gen, refs)
        ref = client.hget(keys.gen_forecast_index(gen), f"domain:{DOMAIN}:score_gap")
        if ref is None:
            raise RuntimeError(f"no forecast index entry for domain {DOMAIN!r}")
        return outlook.doc_key(json.loads(ref)["hash"])
    finally:
        client.close()


def check_same_bytes(a: Server, b: Server) -> int:
    """Both targets must serve the same document; returns its size."""
    (sa, body_a), (sb, body_b) = fetch(a.port, a.path), fetch(b.port, b.path)
    if (sa, sb) != (200, 200) or body_a != body_b:
        raise RuntimeError(f"targets differ: A {sa} {len(body_a)} bytes, B {sb} {len(body_b)} bytes")
    return len(body_a)


def measure(servers: list[Server], args: argparse.Namespace) -> dict[str, list[LoadResult]]:
    """Alternate the targets (A, B, A, B, ...), each run from a fresh load process."""
    results: dict[str, list[LoadResult]] = {s.name: [] for s in servers}
    for rnd in range(1, args.rounds + 1):
        for s in servers:
            res = load_in_process(LoadSpec(s.port, s.path, args.concurrency, args.warmup, args.duration))
            results[s.name].append(res)
            print(f"  round {rnd} {s.name:<8} {res.rps:>8.0f} req/s  p50 {res.p50_ms:6.2f} ms  "
                  f"p99 {res.p99_ms:6.2f} ms  errors {res.errors}  client cpu {res.client_cpu:.2f}", flush=True)
    return results


def median_of(rounds: list[LoadResult]) -> LoadResult:
    def med(name: str) -> Any:
        return statistics.median(getattr(r, name) for r in rounds)

    return LoadResult(int(med("requests")), int(med("errors")), med("rps"), med("p50_ms"), med("p99_ms"),
                      med("client_cpu"))


def report(results: dict[str, list[LoadResult]], args: argparse.Namespace, size: int) -> None:
    a, b = median_of(results["gapcast"]), median_of(results["bare"])
    print(f"\nmedian of {args.rounds} rounds; {args.concurrency} connections, {args.duration:g} s measured after "
          f"{args.warmup:g} s warm-up; document {size} bytes; gunicorn {args.workers} workers x {args.threads} "
          f"threads (gthread)")
    print(f"{'target':<44} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7}")
    for label, r in ((f"A gapcast GET {GAPCAST_PATH}", a), (f"B bare    GET {BARE_PATH}", b)):
        print(f"{label:<44} {r.rps:>8.0f} {r.p50_ms:>8.2f} {r.p99_ms:>8.2f} {r.errors:>7}")
    tput, p99 = a.rps / b.rps, a.p99_ms / b.p99_ms
    pairs = list(zip(results["gapcast"], results["bare"], strict=True))
    print(f"throughput ratio A/B {tput:.3f} ({'PASS' if tput >= TARGET_THROUGHPUT else 'FAIL'}: >= "
          f"{TARGET_THROUGHPUT:.2f}); per round: {', '.join(f'{x.rps / y.rps:.2f}' for x, y in pairs)}")
    print(f"p99 ratio A/B        {p99:.3f} ({'PASS' if p99 <= TARGET_P99 else 'FAIL'}: <= {TARGET_P99:.1f}); "
          f"per round: {', '.join(f'{x.p99_ms / y.p99_ms:.2f}' for x, y in pairs)}")
    print(f"\nreproduce: {COMMAND} --concurrency {args.concurrency} --duration {args.duration:g} "
          f"--warmup {args.warmup:g} --rounds {args.rounds}")


@contextlib.contextmanager
def started_servers(redis_url: str, key: str, args: argparse.Namespace, tmp: Path) -> Iterator[list[Server]]:
    """Servers A (gapcast) and B (bare), stopped on the way out whatever happens."""
    servers: list[Server] = []
    try:
        servers.append(start_server("gapcast", GAPCAST_PATH, redis_url, key, args, tmp))
        servers.append(start_server("bare", BARE_PATH, redis_url, key, args, tmp))
        yield servers
    finally:
        for s in servers:
            s.stop()


def bench(args: argparse.Namespace) -> None:
    from forecasts.storage.redis_server import EmbeddedRedis

    with tempfile.TemporaryDirectory(prefix="gapcast-bench-api-") as name, EmbeddedRedis(Path(name) / "redis") as rs:
        key = prepare_data(rs.url)
        with started_servers(rs.url, key, args, Path(name)) as servers:
            size = check_same_bytes(*servers)
            print(f"A on :{servers[0].port}, B on :{servers[1].port}; {args.rounds} rounds of "
                  f"{args.warmup:g} + {args.duration:g} s each, alternating A, B", flush=True)
            results = measure(servers, args)
    report(results, args, size)


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--concurrency", type=int, default=16, help="keep-alive connections (default 16)")
    p.add_argument("--duration", type=float, default=10.0, help="measured seconds per target and round")
    p.add_argument("--warmup", type=float, default=1.5, help="unmeasured seconds before each measurement")
    p.add_argument("--rounds", type=int, default=2, help="rounds of A then B (default 2)")
    p.add_argument("--workers", type=int, default=2, help="gunicorn workers per server (default 2)")
    p.add_argument("--threads", type=int, default=4, help="gthread threads per worker (default 4, as serve())")
    for name in ("--serve", "--port", "--redis-url", "--key"):  # internal: run one server process
        p.add_argument(name, help=argparse.SUPPRESS)
    return p.parse_args()


def main() -> None:
    args = parse_args()
    if args.serve:
        serve_main(args.serve, int(args.port), args.redis_url, args.key, args.workers, args.threads)
        return
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # run the clean-up on SIGTERM too
    try:
        bench(args)
    except KeyboardInterrupt:
        print("interrupted: servers stopped", file=sys.stderr)
        sys.exit(130)


if __name__ == "__main__":
    main()
