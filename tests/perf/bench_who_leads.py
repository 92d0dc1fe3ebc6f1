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
from pathlib import Path

from inprocess_timing import time_urls

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
    time_urls(URLS, args.repeat, args.snapshot.read_bytes() if args.snapshot else None)


if __name__ == "__main__":
    main()
