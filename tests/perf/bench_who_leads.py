"""Perf figures for the filtered frontier views, the movers and the swap question on the bundled data (prints
figures, asserts nothing about time).

    python tests/perf/bench_who_leads.py [--repeat N] [--snapshot PATH]

Loads the snapshot (default: the bundled one) into a private redis-server in a temporary folder and, for each
of `--repeat` fresh apps (nothing cached), asks the URLs in order through Flask's test client (in-process, one
worker), each twice: `first` is the first answer of that URL in that app (the earlier URLs have warmed the
per-worker caches: the first URL pays the dataset read, each new filter its derivation), `repeat` the second.
An unfiltered `GET /v1/domains/coding` (the stored path) is the baseline. Medians over the fresh apps.
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

URLS = ["/v1/domains/coding",
        "/v1/domains/coding?closed_country=US&open_country=CN",
        "/v1/domains?closed_country=US&open_country=CN",
        "/v1/domains/coding/series?closed_country=US&open_country=CN",
        "/v1/domains/coding?open_country=US",
        "/v1/domains?closed_org=OpenAI&open_org=Meta",
        "/v1/domains/coding/movers",
        "/v1/domains/chat/movers",
        "/v1/swap?domain=coding&max_gap=10",
        "/v1/swap?domain=chat&max_gap=5"]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--snapshot", type=Path, default=None, help="a snapshot file (default: the bundled one)")
    args = parser.parse_args()
    raw = args.snapshot.read_bytes() if args.snapshot else bundled_bytes()
    with tempfile.TemporaryDirectory() as tmp:
        server = EmbeddedRedis(Path(tmp), appendfsync="everysec")
        server.start()
        try:
            client = redis.Redis.from_url(server.url)
            load_snapshot(Store(client), load_domains(None), raw, "bundled")
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
            print(f"{'url':62} {'first ms':>9} {'repeat ms':>9} {'bytes':>9}")
            for url in URLS:
                print(f"{url:62} {1000 * statistics.median(first[url]):9.1f} "
                      f"{1000 * statistics.median(again[url]):9.1f} {sizes[url]:9d}")
        finally:
            server.stop()


if __name__ == "__main__":
    main()
