"""Soak run of the cached API endpoints (prints figures, asserts nothing about time).

    /work/venv/bin/python tests/perf/load_soak.py [--duration 60] [--concurrency 16] [--baseline 20]

On loopback, in one run: gapcast's app under gunicorn (`service.server.serve`, 2 gthread workers x 4 threads,
set up by bench_api.py's functions: the bundled snapshot in a private Redis, the coding domain's forecasts
computed) is kept saturated for --duration seconds by C keep-alive HTTP/1.1 connections, each cycling over the
cached endpoints /v1/domains, /v1/domains/coding/forecast, /v1/benchmarks and /v1/domains/coding/series, from a
separate load process. Meanwhile the RSS of each gunicorn worker (VmRSS in /proc/<pid>/status) is sampled every
5 s. Then bench_api.py's bare Flask endpoint (one Redis GET returning the stored forecast document) is driven for
--baseline seconds for the ratio. Printed: requests, throughput, p50/p99 and non-2xx per endpoint and overall, the
ratios to the bare endpoint, and per worker the first/last/max RSS and its growth.
Exits 0 whatever the figures (non-zero only when the set-up fails).

Top-level imports are stdlib only (plus bench_api.py, stdlib only too): the load process (spawn) re-imports
this module.
"""

from __future__ import annotations

import argparse
import http.client
import multiprocessing as mp
import signal
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_api  # tests/perf is not a package

DOMAIN = bench_api.DOMAIN
CACHED_PATHS = ["/v1/domains", f"/v1/domains/{DOMAIN}/forecast", "/v1/benchmarks", f"/v1/domains/{DOMAIN}/series"]
SAMPLE_EVERY_S = 5.0
MIB = 1024 * 1024
COMMAND = "/work/venv/bin/python tests/perf/load_soak.py"


# --- load generator over several paths (runs in its own process) ----------------------------------------


@dataclass(frozen=True)
class MixedSpec:
    port: int
    paths: list[str]
    concurrency: int
    warmup_s: float
    duration_s: float


@dataclass
class PathStats:
    latencies: list[float] = field(default_factory=list)
    errors: int = 0


@dataclass
class MixedResult:
    """Per path: latencies (s) and non-2xx of the requests started inside the measured window."""

    by_path: dict[str, PathStats]
    duration_s: float
    client_cpu: float  # load-process CPU seconds per measured second


def _mixed_loop(spec: MixedSpec, offset: int, measure_from: float, end: float, out: dict[str, PathStats]) -> None:
    """One keep-alive connection issuing GETs back to back over `spec.paths` until `end` (reconnects on failure)."""
    conn = http.client.HTTPConnection(bench_api.HOST, spec.port, timeout=bench_api.CLIENT_TIMEOUT_S)
    n = offset
    while (started := time.perf_counter()) < end:
        path = spec.paths[n % len(spec.paths)]
        n += 1
        try:
            conn.request("GET", path)
            resp = conn.getresponse()
            resp.read()
            status = resp.status
        except (OSError, http.client.HTTPException):
            status = 0
            conn.close()
            conn = http.client.HTTPConnection(bench_api.HOST, spec.port, timeout=bench_api.CLIENT_TIMEOUT_S)
        if started >= measure_from:
            stats = out[path]
            stats.latencies.append(time.perf_counter() - started)
            stats.errors += not 200 <= status < 300
    conn.close()


def run_mixed(spec: MixedSpec) -> MixedResult:
    measure_from = time.perf_counter() + spec.warmup_s
    end = measure_from + spec.duration_s
    per_conn = [{p: PathStats() for p in spec.paths} for _ in range(spec.concurrency)]
    threads = [threading.Thread(target=_mixed_loop, args=(spec, i, measure_from, end, out))
               for i, out in enumerate(per_conn)]
    for t in threads:
        t.start()
    time.sleep(max(0.0, measure_from - time.perf_counter()))
    cpu0 = time.process_time()
    for t in threads:
        t.join()
    cpu = time.process_time() - cpu0
    merged = {p: PathStats() for p in spec.paths}
    for out in per_conn:
        for p, stats in out.items():
            merged[p].latencies.extend(stats.latencies)
            merged[p].errors += stats.errors
    return MixedResult(merged, spec.duration_s, cpu / spec.duration_s)


def _mixed_main(spec: MixedSpec, conn: Any) -> None:
    conn.send(run_mixed(spec))
    conn.close()


# --- memory of the gunicorn workers ---------------------------------------------------------------------


def worker_pids(master: int) -> list[int]:
    """The gunicorn workers: the children of the server process (which runs the arbiter)."""
    pids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()  # the command name may hold spaces and ')'
        except (OSError, IndexError):
            continue
        if int(fields[1]) == master:
            pids.append(int(stat.parent.name))
    return sorted(pids)


def rss_bytes(pid: int) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


@dataclass
class RssLog:
    """RSS samples per worker pid: (seconds since the load started, bytes)."""

    samples: dict[int, list[tuple[float, int]]] = field(default_factory=dict)

    def sample(self, master: int, t: float) -> None:
        for pid in worker_pids(master):
            rss = rss_bytes(pid)
            if rss is not None:
                self.samples.setdefault(pid, []).append((t, rss))


def soak(port: int, master: int, args: argparse.Namespace) -> tuple[MixedResult, RssLog]:
    """The mixed load in a fresh spawned process; RSS sampled here every SAMPLE_EVERY_S until it reports."""
    spec = MixedSpec(port, CACHED_PATHS, args.concurrency, args.warmup, args.duration)
    ctx = mp.get_context("spawn")
    parent, child = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_mixed_main, args=(spec, child), daemon=True)
    log = RssLog()
    started = time.monotonic()
    log.sample(master, 0.0)
    proc.start()
    child.close()
    try:
        deadline = started + args.warmup + args.duration + 60
        next_sample = started + SAMPLE_EVERY_S
        while not parent.poll(max(0.0, min(next_sample, deadline) - time.monotonic())):
            now = time.monotonic()
            if now >= deadline:
                raise RuntimeError("the load generator did not report in time")
            if now >= next_sample:
                log.sample(master, now - started)
                print(f"  t={now - started:5.0f} s  worker RSS: " + ", ".join(
                    f"{pid} {s[-1][1] / MIB:.1f} MiB" for pid, s in sorted(log.samples.items())), flush=True)
                next_sample += SAMPLE_EVERY_S
        result: MixedResult = parent.recv()
        log.sample(master, time.monotonic() - started)
        return result, log
    finally:
        if proc.is_alive():
            proc.terminate()
        proc.join(timeout=5)
        parent.close()


# --- report ---------------------------------------------------------------------------------------------


def _row(label: str, n: int, seconds: float, lat: list[float], errors: int) -> tuple[str, float, float]:
    ordered = sorted(lat)
    p50, p99 = bench_api._quantile(ordered, 0.50) * 1000, bench_api._quantile(ordered, 0.99) * 1000
    print(f"{label:<44} {n:>9} {n / seconds:>8.0f} {p50:>8.2f} {p99:>8.2f} {errors:>8}")
    return label, n / seconds, p99


def report(result: MixedResult, bare: Any, log: RssLog, args: argparse.Namespace) -> None:
    print(f"\nsoak: {args.duration:g} s measured after {args.warmup:g} s warm-up; {args.concurrency} keep-alive "
          f"connections; gunicorn {args.workers} workers x {args.threads} threads (gthread); loopback; "
          f"load-process CPU {result.client_cpu:.2f} cores")
    print(f"{'target':<44} {'requests':>9} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'non-2xx':>8}")
    for path, stats in result.by_path.items():
        _row(f"  GET {path}", len(stats.latencies), result.duration_s, stats.latencies, stats.errors)
    every = [x for s in result.by_path.values() for x in s.latencies]
    errors = sum(s.errors for s in result.by_path.values())
    _, rps, p99 = _row("gapcast, all cached endpoints", len(every), result.duration_s, every, errors)
    print(f"{f'bare Flask GET {bench_api.BARE_PATH} ({args.baseline:g} s)':<44} {bare.requests:>9} {bare.rps:>8.0f} "
          f"{bare.p50_ms:>8.2f} {bare.p99_ms:>8.2f} {bare.errors:>8}")
    print(f"ratio gapcast/bare: throughput {rps / bare.rps:.3f}, p99 {p99 / bare.p99_ms:.3f}; "
          f"non-2xx {errors + bare.errors} (target 0)")
    print(f"\ngunicorn worker RSS (MiB), sampled every {SAMPLE_EVERY_S:g} s over {args.warmup + args.duration:g} s:")
    print("(first: before the load; growth: last - first; after warm-up: last - first sample after the warm-up)")
    print(f"{'worker pid':<12} {'samples':>7} {'first':>8} {'last':>8} {'max':>8} {'growth':>8} {'after warm-up':>14}")
    for pid, samples in sorted(log.samples.items()):
        values = [v for _, v in samples]
        warm = [v for t, v in samples if t >= args.warmup] or values
        first, last, top = values[0] / MIB, values[-1] / MIB, max(values) / MIB
        print(f"{pid:<12} {len(values):>7} {first:>8.1f} {last:>8.1f} {top:>8.1f} {last - first:>+8.1f} "
              f"{last - warm[0] / MIB:>+14.1f}")
    print(f"\nreproduce: {COMMAND} --duration {args.duration:g} --concurrency {args.concurrency} "
          f"--baseline {args.baseline:g}")


def run(args: argparse.Namespace) -> None:
    from forecasts.storage.redis_server import EmbeddedRedis

    with tempfile.TemporaryDirectory(prefix="gapcast-soak-") as name, EmbeddedRedis(Path(name) / "redis") as rs:
        print("loading the bundled snapshot and computing the coding forecasts ...", flush=True)
        key = bench_api.prepare_data(rs.url)
        gap = bench_api.start_server("gapcast", CACHED_PATHS[1], rs.url, key, args, Path(name))
        try:
            for path in CACHED_PATHS:
                status, _ = bench_api.fetch(gap.port, path)
                if status != 200:
                    raise RuntimeError(f"GET {path} answered {status} before the soak")
            print(f"gapcast on :{gap.port} (server pid {gap.proc.pid}, workers "
                  f"{worker_pids(gap.proc.pid)}); {args.warmup:g} + {args.duration:g} s", flush=True)
            result, log = soak(gap.port, gap.proc.pid, args)
        finally:
            gap.stop()
        bare_server = bench_api.start_server("bare", bench_api.BARE_PATH, rs.url, key, args, Path(name))
        try:
            print(f"bare Flask on :{bare_server.port}; {args.warmup:g} + {args.baseline:g} s", flush=True)
            bare = bench_api.load_in_process(bench_api.LoadSpec(bare_server.port, bench_api.BARE_PATH,
                                                                args.concurrency, args.warmup, args.baseline))
        finally:
            bare_server.stop()
    report(result, bare, log, args)


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--duration", type=float, default=60.0, help="measured seconds on gapcast (default 60)")
    p.add_argument("--concurrency", type=int, default=16, help="keep-alive connections (default 16)")
    p.add_argument("--baseline", type=float, default=20.0, help="measured seconds on the bare endpoint (default 20)")
    p.add_argument("--warmup", type=float, default=2.0, help="unmeasured seconds before each measurement")
    p.add_argument("--workers", type=int, default=2, help="gunicorn workers (default 2)")
    p.add_argument("--threads", type=int, default=4, help="gthread threads per worker (default 4, as serve())")
    return p.parse_args()


def main() -> None:
    args = parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # run the clean-up on SIGTERM too
    try:
        run(args)
    except KeyboardInterrupt:
        print("interrupted: servers stopped", file=sys.stderr)
        sys.exit(130)


if __name__ == "__main__":
    main()
