"""Derive everything gapcast serves from a dataset: benchmark gap series, domain series, the summary."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

from forecasts.measure import robustness
from forecasts.measure.domains import DOMAIN_UNIT, FRESH_DAYS, Domain, domain_series
from forecasts.measure.gaps import BenchmarkGaps, GapStatus, entries_by_benchmark, month_ends
from forecasts.records.model import Dataset

ROBUSTNESS_START = date(2023, 1, 1)  # the split's monthly series starts here (Ihle et al.'s data: 2023 on)


@dataclass(frozen=True)
class Derived:
    """Monthly series per benchmark and per domain (JSON-ready), and one summary row per domain."""

    as_of: date | None
    benchmark_series: dict[str, list[dict[str, Any]]]
    domain_series: dict[str, list[dict[str, Any]]]
    summary: list[dict[str, Any]]
    benchmark_summary: list[dict[str, Any]]
    gaps: dict[str, BenchmarkGaps] = field(default_factory=dict, repr=False)  # what the derivation built


def benchmark_gaps(data: Dataset, only: set[str] | None = None) -> dict[str, BenchmarkGaps]:
    """Frontiers and gaps of the benchmarks in `data` (all, or those in `only`)."""
    grouped = entries_by_benchmark(data)
    return {b_id: BenchmarkGaps(data.benchmarks[b_id], entries) for b_id, entries in grouped.items()
            if only is None or b_id in only}


def domains_touching(domains: dict[str, Domain], benchmarks: set[str]) -> set[str]:
    """The domains that list any of `benchmarks`."""
    return {d_id for d_id, dom in domains.items() if benchmarks & set(dom.benchmark_ids)}


def derive(data: Dataset, domains: dict[str, Domain], *, benchmarks: set[str] | None = None) -> Derived:
    """Series and summary rows for `data`: every benchmark and domain, or (incremental) only `benchmarks`
    and the domains that list them. A domain's series runs from its first month with data to the newest
    data of its own benchmarks, so a release elsewhere does not change it."""
    touched_domains = set(domains) if benchmarks is None else domains_touching(domains, benchmarks)
    needed = set(benchmarks) if benchmarks is not None else None
    if needed is not None:
        for d_id in touched_domains:
            needed |= set(domains[d_id].benchmark_ids)
    gaps = benchmark_gaps(data, needed)
    own = gaps if benchmarks is None else {b: g for b, g in gaps.items() if b in benchmarks}
    bench_series = {b_id: [p.to_dict() for p in bg.monthly()] for b_id, bg in own.items()}
    dom_series = {d_id: [p.to_dict() for p in domain_series(domains[d_id], gaps, _domain_months(domains[d_id], gaps))]
                  for d_id in touched_domains}
    summary = [_domain_row(domains[d_id], dom_series[d_id], gaps) for d_id in domains if d_id in touched_domains]
    bench_summary = [_benchmark_row(bg, bench_series[b_id]) for b_id, bg in sorted(own.items())]
    return Derived(data.latest_release(), bench_series, dom_series, summary, bench_summary, gaps)


def _domain_months(dom: Domain, gaps: dict[str, BenchmarkGaps]) -> list[date]:
    members = [gaps[b] for b in dom.benchmark_ids if b in gaps]
    starts = [s for s in (g.start() for g in members) if s is not None]
    ends = [g.data_end for g in members if g.start() is not None and g.data_end is not None]
    return list(month_ends(min(starts), max(ends))) if starts else []


def robustness_of(data: Dataset, built: dict[str, BenchmarkGaps] | None = None) -> dict[str, Any]:
    """The public vs held-out split of every benchmark in `data` (see `forecasts.measure.robustness.robustness`),
    monthly from `ROBUSTNESS_START` to the newest data; `{}` for a dataset without scores. `built` are gaps
    already derived from `data` (`Derived.gaps`): only the other benchmarks are built here."""
    built = built or {}
    gaps = {**benchmark_gaps(data, set(data.benchmarks) - set(built)), **built}
    ends = [g.data_end for g in gaps.values() if g.data_end is not None]
    if not ends:
        return {}
    end = max(ends)
    return robustness.robustness(gaps, start=min(ROBUSTNESS_START, end), end=end, fresh_days=FRESH_DAYS)


def domain_sides(dom: Domain, gaps: dict[str, BenchmarkGaps], t: date) -> dict[str, Any] | None:
    """The domain's own public and held-out sides at `t` (its member benchmarks only), or None when the
    domain does not have benchmarks on both sides."""
    members = {b: gaps[b] for b in dom.benchmark_ids if b in gaps}
    public, held = robustness.split(members)
    if not public or not held:
        return None
    pts_pub = [c for bg in public.values() for c in robustness.crossings(bg)]
    pts_held = [c for bg in held.values() for c in robustness.crossings(bg)]
    return {"public": robustness.side_at(public, pts_pub, t, FRESH_DAYS).to_dict(),
            "held_out": robustness.side_at(held, pts_held, t, FRESH_DAYS).to_dict()}


def _domain_row(dom: Domain, series: list[dict[str, Any]], gaps: dict[str, BenchmarkGaps]) -> dict[str, Any]:
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
                                         "open_leader", "benchmarks", "primary_benchmark", "member_data_age_days")})
        row["as_of"] = last["date"]
        row["robustness"] = domain_sides(dom, gaps, date.fromisoformat(last["date"]))
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
        "flat_frontier": last.get("flat_frontier", False) if last else False,
        "points": len(series),
        "tie_margin": b.tie_margin,
        "margin_source": b.margin_source,
        "scale": b.scale,
        "scale_source": b.scale_source,
        "held_out": b.held_out,
        "held_out_reason": b.held_out_reason,
        "in_split": b.in_split,
    }
