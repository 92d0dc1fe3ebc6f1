"""Apply new records to the store: validate, merge with the current generation, derive, switch.

Shared by `gapcast load`, the scheduled source pulls and `POST /v1/releases`. Each call either
commits one complete new generation or changes nothing.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from forecasts import keys
from forecasts.canonical import MergeStats, merge, parse, validate
from forecasts.compute import derive
from forecasts.domains import Domain
from forecasts.model import Dataset, Exclusion
from forecasts.outlook import series_refs, write_index
from forecasts.snapshot import parse_snapshot
from forecasts.store import ConcurrentRefresh, Store

logger = logging.getLogger(__name__)

COMMIT_ATTEMPTS = 3  # a refresh that loses the race to another one re-reads and retries


@dataclass
class LoadResult:
    """What one load did."""

    generation: str
    origin: str
    stats: MergeStats
    exclusions: list[Exclusion] = field(default_factory=list)
    models: Counter[str] = field(default_factory=Counter)  # stored models per access class
    benchmarks: int = 0

    @property
    def excluded_by_reason(self) -> Counter[str]:
        return Counter(e.reason for e in self.exclusions)

    def to_dict(self) -> dict[str, Any]:
        return {
            "generation": self.generation,
            "origin": self.origin,
            "accepted": self.stats.accepted,
            "new_scores": self.stats.new_scores,
            "changed_scores": self.stats.changed_scores,
            "unchanged_scores": self.stats.unchanged_scores,
            "new_models": len(self.stats.new_models),
            "rejected": len(self.exclusions),
            "rejected_by_reason": dict(sorted(self.excluded_by_reason.items())),
            "models": dict(self.models),
            "benchmarks": self.benchmarks,
        }


def load_snapshot(store: Store, domains: dict[str, Domain], raw: bytes, origin: str) -> LoadResult:
    """Merge a snapshot file into the store. Raises SnapshotError on a corrupt file."""
    snap = parse_snapshot(raw)

    def apply(current: Dataset) -> tuple[Dataset, MergeStats]:
        merged = Dataset(dict(current.models), dict(current.benchmarks), dict(current.scores))
        stats = MergeStats()
        merged.benchmarks.update(snap.data.benchmarks)
        for m_id, model in snap.data.models.items():
            if m_id not in merged.models:
                stats.new_models.append(m_id)
            merged.models[m_id] = model
        for pair, score in snap.data.scores.items():
            old = merged.scores.get(pair)
            if old is None:
                stats.new_scores += 1
            elif (old.value, old.stderr) != (score.value, score.stderr):
                stats.changed_scores += 1
            else:
                stats.unchanged_scores += 1
            merged.scores[pair] = score
        return merged, stats

    result = _commit(store, domains, apply, origin, snap.exclusions)
    store.push_raw("snapshot", raw, {"origin": origin, "generation": result.generation})
    return result


def load_records(store: Store, domains: dict[str, Domain], raw: bytes, fmt: str | None, origin: str,
                 *, source: str = "canonical") -> LoadResult:
    """Validate canonical CSV/JSON `raw` and merge it. Raises InvalidInput; the store is then untouched."""
    records = parse(raw, fmt, origin)
    now = store.now()

    def apply(current: Dataset) -> tuple[Dataset, MergeStats]:
        rows = validate(records, current, now.date(), origin)
        return merge(current, rows, origin, now.date().isoformat())

    result = _commit(store, domains, apply, origin, [])
    store.push_raw(source, raw, {"origin": origin, "generation": result.generation})
    return result


def rebuild(store: Store, domains: dict[str, Domain], origin: str = "rebuild") -> LoadResult:
    """Recompute every derived series from the stored data (e.g. after the domain file changed)."""
    return _commit(store, domains, lambda current: (current, MergeStats()), origin, [])


def _commit(store: Store, domains: dict[str, Domain], apply: Any, origin: str,
            exclusions: list[Exclusion]) -> LoadResult:
    for attempt in range(1, COMMIT_ATTEMPTS + 1):
        gen = store.current_generation()
        current = store.read_dataset(gen) if gen else Dataset()
        data, stats = apply(current)
        writer = store.begin()
        derived = derive(data, domains)
        writer.put_dataset(data)
        for b_id, series in derived.benchmark_series.items():
            writer.put_json(keys.gen_benchmark_series(writer.gen, b_id), series)
        for d_id, series in derived.domain_series.items():
            writer.put_json(keys.gen_domain_series(writer.gen, d_id), series)
        writer.put_json(keys.gen_summary(writer.gen), derived.summary)
        writer.put_json(keys.gen_benchmark_summary(writer.gen), derived.benchmark_summary)
        writer.put_json(keys.gen_exclusions(writer.gen), [e.to_dict() for e in exclusions])
        write_index(writer, series_refs(data, derived, domains))
        meta = {"origin": origin, "as_of": derived.as_of.isoformat() if derived.as_of else "",
                "models": len(data.models), "benchmarks": len(data.benchmarks), "scores": len(data.scores)}
        try:
            new_gen = writer.commit(meta)
        except ConcurrentRefresh as exc:
            logger.warning("refresh from %s lost a race (attempt %d): %s", origin, attempt, exc)
            continue
        return LoadResult(new_gen, origin, stats, exclusions,
                          Counter(m.access.value for m in data.models.values()), len(data.benchmarks))
    raise ConcurrentRefresh(f"gave up after {COMMIT_ATTEMPTS} attempts: other refreshes kept committing")

