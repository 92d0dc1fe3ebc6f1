"""Perf figures for the data-out endpoints on the bundled data (prints figures, asserts nothing about time).

    python tests/perf/bench_scores.py [--repeat N]

Loads the bundled snapshot into a private redis-server in a temporary folder and times, in-process through
Flask's test client (no network, one worker), the first answer of each URL (nothing cached: each run uses a
fresh app) and a repeat (served from the per-worker replay cache when the answer is at most 512 KiB), with a
bare `GET /v1/domains` as the baseline of the same run. Figures are medians over `--repeat` fresh apps.
"""

from __future__ import annotations

import argparse

from inprocess_timing import time_urls

URLS = ["/v1/domains", "/v1/scores", "/v1/scores?limit=5000", "/v1/scores?limit=5000&format=csv",
        "/v1/scores?benchmark=epoch-gpqa-diamond", "/v1/scores?model=o3", "/v1/scores?since=2026-07-01",
        "/v1/events.atom", "/v1/benchmarks/epoch-gpqa-diamond", "/v1/credit"]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    time_urls(URLS, args.repeat)


if __name__ == "__main__":
    main()
