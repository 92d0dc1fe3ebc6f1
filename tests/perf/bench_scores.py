"""Perf figures for the data-out endpoints on the bundled data (prints figures, asserts nothing about time).

    python tests/perf/bench_scores.py [--repeat N]

Loads the bundled snapshot into a private redis-server in a temporary folder and times, in-process through
Flask's test client (no network, one worker), the first answer of each URL (nothing cached: each run uses a
fresh app) and a repeat (served from the per-worker replay cache when the answer is at most 512 KiB), with a
bare `GET /v1/domains` as the baseline of the same run. Figures are medians over `--repeat` fresh apps.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import redis

from forecasts.measure.domains import load_domains
from forecasts.records.snapshot import bundled_bytes
from forecasts.settings import Settings
from forecasts.storage.ingest import load_snapshot
from forecasts.storage.redis_server import EmbeddedRedis
from forecasts.storage.store import Store
from service import create_app

URLS = ["/v1/domains", "/v1/scores", "/v1/scores?limit=5000", "/v1/scores?limit=5000&format=csv",
        "/v1/scores?benchmark=epoch-gpqa-diamond", "/v1/scores?model=o3", "/v1/scores?since=2026-07-01",
        "/v1/events.atom", "/v1/benchmarks/epoch-gpqa-diamond", "/v1/credit"]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        server = EmbeddedRedis(Path(tmp), appendfsync="everysec")
        server.start()
        try:
            client = redis.Redis.from_url(server.url)
            load_snapshot(Store(client), load_domains(None), bundled_bytes(), "bundled")
            first: dict[str, list[float]] = {u: [] for u in URLS}
            again: dict[str, list[float]] = {u: [] for u in URLS}
            sizes: dict[str, int] = {}
            for _ in range(args.repeat):
                api = create_app(Settings(redis_url="unused://"), client=client).test_client()
                for url in URLS:
                    for bucket in (first, again):
                        t0 = time.perf_counter()
                        resp = api.get(url)
                        bucket[url].append(time.perf_counter() - t0)
                        assert resp.status_code == 200, (url, resp.status_code)
                        sizes[url] = len(resp.data)
            print(f"{'url':45} {'first ms':>9} {'repeat ms':>9} {'bytes':>9}")
            for url in URLS:
                print(f"{url:45} {1000 * statistics.median(first[url]):9.1f} "
                      f"{1000 * statistics.median(again[url]):9.1f} {sizes[url]:9d}")
        finally:
            server.stop()


if __name__ == "__main__":
    main()
