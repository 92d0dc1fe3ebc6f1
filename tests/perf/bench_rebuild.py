"""Perf figures for forecasting the bundled data through the store (prints figures, asserts nothing about time).

    python tests/perf/bench_rebuild.py [--repeat N]

Loads the bundled snapshot into a private redis-server in a temporary folder and measures, in the same run:

- the baseline: a bare `load_snapshot` of the bundled data (what `gapcast load` does before any forecast);
- a full rebuild: every series' forecast document from scratch (`outlook.compute`: the engine backtests every
  series for its calibration, then forecasts all of them);
- one changed benchmark: a release that touches one benchmark, then computing what it left pending;
- the no-refit check: nothing pending after the rebuild, nor after reloading the same snapshot.

Figures are medians over `--repeat` runs, with ratios to the baseline (these machines are shared and noisy).
Targets (issue "engine v3"): full rebuild <= 5 s on 2 cores, one changed benchmark <= 0.5 s.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import redis

from forecasts.measure.domains import Domain, load_domains
from forecasts.publishing import outlook
from forecasts.records.snapshot import bundled_bytes
from forecasts.storage.ingest import load_records, load_snapshot
from forecasts.storage.redis_server import EmbeddedRedis
from forecasts.storage.store import Store

RELEASE = [{"model": "bench-open-model", "organization": "BenchOrg", "release_date": "2026-07-09",
            "access": "open", "benchmark": "epoch-gpqa-diamond", "score": 61.5}]


def timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def one_run(client: redis.Redis, domains: dict[str, Domain]) -> tuple[dict[str, float], list[int], int]:
    """Time a bare load, a full rebuild and one changed benchmark's refit on an empty database."""
    client.flushdb()
    store = Store(client)
    times = {"load_s": timed(lambda: load_snapshot(store, domains, bundled_bytes(), "bench"))}
    gen = store.require_generation()
    refs = outlook.pending(store, gen)
    times["full_rebuild_s"] = timed(lambda: outlook.compute(store, gen, refs, domains=domains))
    pending = [len(outlook.pending(store, gen))]
    load_snapshot(store, domains, bundled_bytes(), "bench again")
    pending.append(len(outlook.pending(store, store.require_generation())))
    load_records(store, domains, json.dumps(RELEASE).encode(), "json", "bench release")
    gen2 = store.require_generation()
    times["one_benchmark_s"] = timed(lambda: outlook.compute(store, gen2, outlook.pending(store, gen2),
                                                             domains=domains))
    return times, pending, len(refs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    domains = load_domains()
    figures: dict[str, list[float]] = {"load_s": [], "full_rebuild_s": [], "one_benchmark_s": []}
    pending_after: list[int] = []
    series = 0
    with tempfile.TemporaryDirectory() as tmp, EmbeddedRedis(Path(tmp)) as server:
        client = redis.Redis.from_url(server.url)
        for _ in range(args.repeat):
            times, pending, series = one_run(client, domains)
            pending_after += pending
            for k, v in times.items():
                figures[k].append(v)
    med = {k: statistics.median(v) for k, v in figures.items()}
    print(f"series forecast: {series}")
    for k, v in med.items():
        print(f"{k:<18} median {v:7.3f} s   ({v / med['load_s']:.1f}x the bare load)   runs: "
              + ", ".join(f"{x:.2f}" for x in figures[k]))
    print(f"pending after rebuild / after reloading the same snapshot: {pending_after} (must be all 0)")


if __name__ == "__main__":
    main()
