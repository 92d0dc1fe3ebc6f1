"""From a new release appearing at a source to updated forecasts for its domain (prints figures, asserts nothing
about time). Target: within 10 s on 2 cores.

    python tests/perf/bench_release.py [--repeats 3]

Starts a private redis-server in a temporary folder, loads the bundled snapshot and computes every forecast
once (not timed against the target). Then, per repeat, a local HTTP server (http.server, loopback) serves a
canonical CSV with one new open model scoring above the closed frontier on a benchmark of the `coding` domain,
and it times: the pull (`run_pull` with `CanonicalFeed`: fetch, validate, commit a new generation), the refit
of what the new generation left pending (`forecast_pending`, with the stored engine calibration, as in the
scheduler's forecast job), and reading the coding domain's new forecast. Each repeat uses another model (and
another coding benchmark where there is one). The median total is compared with the target.

Not included: the scheduler's own latency (the forecast job looks for pending series every
`jobs.schedule.FORECAST_EVERY_S` seconds, and a source is pulled on its interval).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import redis

from forecasts.measure.domains import Domain, load_domains
from forecasts.publishing import outlook
from forecasts.records.snapshot import bundled_bytes
from forecasts.storage.ingest import load_snapshot
from forecasts.storage.redis_server import EmbeddedRedis
from forecasts.storage.store import Store
from jobs.http import Http
from jobs.refresh import forecast_pending, run_pull
from jobs.schedule import FORECAST_EVERY_S
from jobs.sources.canonical import CanonicalFeed

TARGET_S = 10.0
DOMAIN = "coding"
HEADER = "model,organization,release_date,access,benchmark,score,stderr,source\n"


class Feed:
    """A canonical CSV served over loopback HTTP; `body` may be replaced between pulls."""

    def __init__(self) -> None:
        self.body = HEADER.encode()
        feed = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "text/csv")
                self.send_header("Content-Length", str(len(feed.body)))
                self.end_headers()
                self.wfile.write(feed.body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/releases.csv"
        self.thread = threading.Thread(target=self.server.serve_forever, name="feed", daemon=True)

    @contextmanager
    def running(self) -> Iterator[Feed]:
        self.thread.start()
        try:
            yield self
        finally:
            self.server.shutdown()
            self.server.server_close()


@dataclass
class Run:
    model: str
    benchmark: str
    score: float
    closed_frontier: float
    pull_s: float
    forecast_s: float
    read_s: float
    refit: int
    domain_refit: bool

    @property
    def total_s(self) -> float:
        return self.pull_s + self.forecast_s + self.read_s


def coding_targets(store: Store, domains: dict[str, Domain]) -> list[tuple[str, float, float]]:
    """Coding benchmarks with a closed frontier that a new score can beat: (id, closed best, new score), the
    heaviest first."""
    gen = store.require_generation()
    data = store.read_dataset(gen)
    out = []
    for member in sorted(domains[DOMAIN].members, key=lambda m: -m.weight):
        bench = data.benchmarks.get(member.benchmark)
        closed = [s.value for (b, m), s in data.scores.items()
                  if b == member.benchmark and data.models[m].access.value == "closed"]
        if bench is None or not closed:
            continue
        best = max(closed)
        step = 0.02 * bench.scale
        if bench.max is None or best + step <= bench.max:
            out.append((bench.id, best, round(best + step, 3)))
    return out


def one_release(store: Store, domains: dict[str, Domain], feed: Feed, i: int, target: tuple[str, float, float]
                ) -> Run:
    bench_id, closed_best, score = target
    model = f"Bench Open {i} ({datetime.now(UTC):%H%M%S})"
    today = datetime.now(UTC).date().isoformat()
    feed.body = (HEADER + f"{model},BenchLab,{today},open,{bench_id},{score},,bench_release\n").encode()
    before = store.current_generation()

    t0 = time.perf_counter()
    out = run_pull(store, domains, CanonicalFeed(feed.url), Http(timeout_s=10), retry_max_s=3600)
    t1 = time.perf_counter()
    if not out.ok or out.result is None or not out.result.changed:
        raise SystemExit(f"the pull did not commit a new generation: {out.to_dict()}")
    gen = out.result.generation
    assert gen != before and store.current_generation() == gen
    pending = outlook.pending(store, gen)
    refit = forecast_pending(store, domains=domains)
    t2 = time.perf_counter()
    doc = outlook.read_forecast_dict(store, gen, "domain", DOMAIN, "score_gap")
    t3 = time.perf_counter()
    if doc is None:
        raise SystemExit(f"no {DOMAIN} forecast readable in generation {gen}")
    domain_refit = any(r.kind == "domain" and r.target == DOMAIN for r in pending)
    return Run(model, bench_id, score, closed_best, t1 - t0, t2 - t1, t3 - t2, refit, domain_refit)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="gapcast-bench-") as tmp:
        server = EmbeddedRedis(Path(tmp))
        url = server.start()
        client = redis.Redis.from_url(url)
        try:
            store = Store(client)
            domains = load_domains()
            t = time.perf_counter()
            loaded = load_snapshot(store, domains, bundled_bytes(), "bench")
            print(f"setup: bundled snapshot loaded in {time.perf_counter() - t:.2f} s "
                  f"(generation {loaded.generation}, {loaded.benchmarks} benchmarks)")
            t = time.perf_counter()
            n = forecast_pending(store, domains=domains)
            print(f"setup: {n} forecasts computed in {time.perf_counter() - t:.1f} s (not part of the target)")
            targets = coding_targets(store, domains)
            if not targets:
                raise SystemExit(f"no {DOMAIN} benchmark with a closed frontier to beat")
            runs = []
            with Feed().running() as feed:
                for i in range(args.repeats):
                    run = one_release(store, domains, feed, i + 1, targets[i % len(targets)])
                    runs.append(run)
                    print(f"run {i + 1}: {run.model!r} scores {run.score:g} on {run.benchmark} (closed frontier "
                          f"{run.closed_frontier:g}): pull+commit {run.pull_s:.2f} s, forecasts {run.forecast_s:.2f} "
                          f"s ({run.refit} series refit, {DOMAIN} domain among them: "
                          f"{'yes' if run.domain_refit else 'NO'}), read {run.read_s * 1000:.1f} ms, "
                          f"total {run.total_s:.2f} s")
            median = statistics.median(r.total_s for r in runs)
            verdict = "PASS" if median <= TARGET_S else "FAIL"
            print(f"median total {median:.2f} s over {len(runs)} releases (min {min(r.total_s for r in runs):.2f}, "
                  f"max {max(r.total_s for r in runs):.2f}); target {TARGET_S:g} s: {verdict}")
            print(f"note: in the scheduler, add up to {FORECAST_EVERY_S} s for the forecast job's next turn")
            print(f"keys in Redis: {client.dbsize()} (generation {store.current_generation()})")
        finally:
            client.close()
            server.stop()


if __name__ == "__main__":
    main()
