"""Derive everything gapcast serves from a dataset: benchmark gap series, domain series, the summary."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from forecasts.domains import DOMAIN_UNIT, Domain, domain_series
from forecasts.gaps import BenchmarkGaps, GapStatus, entries_by_benchmark, month_ends
from forecasts.model import Dataset


@dataclass(frozen=True)
class Derived:
    """Monthly series per benchmark and per domain (JSON-ready), and one summary row per domain."""

    as_of: date | None
    benchmark_series: dict[str, list[dict[str, Any]]]
    domain_series: dict[str, list[dict[str, Any]]]
    summary: list[dict[str, Any]]
    benchmark_summary: list[dict[str, Any]]


def benchmark_gaps(data: Dataset) -> dict[str, BenchmarkGaps]:
    """Frontiers and gaps of every benchmark in `data`."""
    grouped = entries_by_benchmark(data)
    return {b_id: BenchmarkGaps(data.benchmarks[b_id], entries) for b_id, entries in grouped.items()}


def derive(data: Dataset, domains: dict[str, Domain]) -> Derived:
    """All series and summaries for `data`, as of its newest scored release."""
    as_of = data.latest_release()
    gaps = benchmark_gaps(data)
    bench_series = {b_id: [p.to_dict() for p in bg.monthly()] for b_id, bg in gaps.items()}
    starts = [s for s in (bg.start() for bg in gaps.values()) if s is not None]
    months = list(month_ends(min(starts), as_of)) if starts and as_of else []
    dom_series = {d_id: [p.to_dict() for p in domain_series(dom, gaps, months)]
                  for d_id, dom in domains.items()}
    summary = [_domain_row(dom, dom_series[d_id]) for d_id, dom in domains.items()]
    bench_summary = [_benchmark_row(bg, bench_series[b_id]) for b_id, bg in sorted(gaps.items())]
    return Derived(as_of, bench_series, dom_series, summary, bench_summary)


def _domain_row(dom: Domain, series: list[dict[str, Any]]) -> dict[str, Any]:
    last = series[-1] if series else None
    row: dict[str, Any] = {
        "domain": dom.id,
        "name": dom.name,
        "as_of": None,
        "score_gap": None,
        "unit": DOMAIN_UNIT,
        "lag_days": None,
        "status": GapStatus.NO_DATA.value,
        "closed_leader": None,
        "open_leader": None,
        "benchmarks": [],
        "primary_benchmark": None,
    }
    if last is not None:
        row.update({k: last[k] for k in ("score_gap", "lag_days", "status", "closed_leader",
                                         "open_leader", "benchmarks", "primary_benchmark")})
        row["as_of"] = last["date"]
    row["configured_benchmarks"] = dom.benchmark_ids
    return row


def _benchmark_row(bg: BenchmarkGaps, series: list[dict[str, Any]]) -> dict[str, Any]:
    b = bg.bench
    last = series[-1] if series else None
    return {
        "benchmark": b.id,
        "name": b.name,
        "evaluator": b.evaluator,
        "unit": b.unit,
        "as_of": last["date"] if last else None,
        "score_gap": last["score_gap"] if last else None,
        "lag_days": last["lag_days"] if last else None,
        "status": last["status"] if last else GapStatus.NO_DATA.value,
        "saturated": last["saturated"] if last else False,
        "closed_leader": last["closed_leader"] if last else None,
        "open_leader": last["open_leader"] if last else None,
        "points": len(series),
    }
