"""Shared by the in-process API benchmarks: time each URL's first answer and its repeat on fresh apps."""

from __future__ import annotations

import statistics
import time

from gapcast.sandbox import loaded_api


def time_urls(urls: list[str], repeat: int, snapshot: bytes | None = None) -> None:
    """For each of `repeat` fresh apps, ask every URL twice (`first`, then `repeat`); print the medians (ms)
    and answer sizes. Raises AssertionError on a non-200 answer."""
    first: dict[str, list[float]] = {u: [] for u in urls}
    again: dict[str, list[float]] = {u: [] for u in urls}
    sizes: dict[str, int] = {}
    with loaded_api(snapshot, "bench") as new_client:
        for _ in range(repeat):
            api = new_client()
            for url in urls:
                for bucket in (first, again):
                    t0 = time.perf_counter()
                    resp = api.get(url)
                    bucket[url].append(time.perf_counter() - t0)
                    assert resp.status_code == 200, (url, resp.status_code)
                    sizes[url] = len(resp.data)
    width = max(len(u) for u in urls) + 2
    print(f"{'url':{width}} {'first ms':>9} {'repeat ms':>9} {'bytes':>9}")
    for url in urls:
        print(f"{url:{width}} {1000 * statistics.median(first[url]):9.1f} "
              f"{1000 * statistics.median(again[url]):9.1f} {sizes[url]:9d}")
