"""Print the issue-14 figures of a snapshot through the API (in-process, a private redis-server): per domain the
score gap unfiltered, US closed vs Chinese open and US closed vs US open, those views' open leaders, China's
share of the open frontier moves per year; then the swap answer at max_gap 5 and 10 (benchmark, closed leader
and its blended price, number of candidates, the cheapest priced one and how many times cheaper it is).

    python scripts/who_leads_figures.py [SNAPSHOT]   (default: the bundled snapshot)
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from gapcast.sandbox import loaded_api


def _gap(row: dict[str, Any]) -> str:
    return "-" if row["score_gap"] is None else f"{row['score_gap']:.1f}"


def _leader(row: dict[str, Any]) -> str:
    return str((row["open_leader"] or {}).get("model") or "-")


def main() -> None:
    raw = Path(sys.argv[1]).read_bytes() if len(sys.argv) > 1 else None
    with loaded_api(raw, "figures") as new_client:
        api = new_client()

        def rows(query: str = "") -> dict[str, dict[str, Any]]:
            return {r["domain"]: r for r in api.get(f"/v1/domains{query}").get_json()["domains"]}

        every, us_cn, us_us = rows(), rows("?closed_country=US&open_country=CN"), rows("?open_country=US")
        print(f"{'domain':22} {'all':>6} {'US/CN':>6} {'US/US':>6}  {'open leader US/CN':30} "
              f"{'open leader US/US':36} CN share of open moves by year")
        for d in every:
            years = api.get(f"/v1/domains/{d}/movers").get_json()["years"]
            cn = " ".join(f"{y['year']}:{next((c['share'] for c in y['countries'] if c['country'] == 'CN'), 0):.2f}"
                          for y in years if y["year"] >= 2023)
            print(f"{d:22} {_gap(every[d]):>6} {_gap(us_cn[d]):>6} {_gap(us_us[d]):>6}  {_leader(us_cn[d]):30} "
                  f"{_leader(us_us[d]):36} {cn}")
        print(f"\n{'domain':22} {'gap':>4} {'benchmark':24} {'closed leader':18} {'USD/M':>6} {'open':>4}  "
              "cheapest")
        for d in every:
            for gap in (5, 10):
                s = api.get(f"/v1/swap?domain={d}&max_gap={gap}").get_json()
                closed, ch = s["closed_leader"] or {}, s["cheapest"]
                best = f"{ch['model']} {ch['price_blended']:g} USD/M, {ch['times_cheaper']}x less" if ch else "-"
                print(f"{d:22} {gap:>4} {s['benchmark'] or '-':24} {closed.get('model', '-'):18} "
                      f"{closed.get('price_blended') or '-':>6} {len(s['candidates']):>4}  {best}")


if __name__ == "__main__":
    main()
