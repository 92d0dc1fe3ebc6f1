"""Apply new records to the store: validate, merge with the current generation, derive, switch.

Shared by `gapcast load`, the scheduled source pulls and `POST /v1/releases`. Each call either
commits one complete new generation or changes nothing.
"""

from __future__ import annotations

import hashlib
import logging
import random
import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from forecasts.activity.events import Event, stage, summary_events
from forecasts.measure.compute import Derived, derive, robustness_of
from forecasts.measure.domains import Domain
from forecasts.measure.ratings import merge_histories
from forecasts.publishing.outlook import SeriesRef, read_index, series_refs, write_index
from forecasts.records.canonical import (
    MergeStats,
    RawRecord,
    merge,
    merge_offers,
    merges_of,
    parse,
    triage,
    validate,
)
from forecasts.records.model import Dataset, Exclusion, Offer, Score
from forecasts.records.snapshot import parse_snapshot
from forecasts.storage import keys
from forecasts.storage.store import ConcurrentRefresh, GenerationWriter, Store

logger = logging.getLogger(__name__)

# With the write lease, a lost race only happens when a writer overran its lease (or Redis lost the lease
# key); such a refresh re-reads the latest generation and re-applies its change, after a jittered pause.
COMMIT_ATTEMPTS = 5
RETRY_PAUSE_S = 0.05  # doubled per attempt, times a random factor in [0.5, 1.5)


@dataclass
class LoadResult:
    """What one load did."""

    generation: str
    origin: str
    stats: MergeStats
    exclusions: list[Exclusion] = field(default_factory=list)
    models: Counter[str] = field(default_factory=Counter)  # stored models per access class
    benchmarks: int = 0
    changed: bool = True  # False: nothing new, no generation was written
    touched_benchmarks: list[str] = field(default_factory=list)
    touched_domains: list[str] = field(default_factory=list)
    events: int = 0  # events emitted for this refresh
    # every source name merged into a stored model: {source, name, id, rule, variant} (gapcast load --report)
    merges: list[dict[str, str]] = field(default_factory=list)

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
            "changed": self.changed,
            "touched_benchmarks": self.touched_benchmarks,
            "touched_domains": self.touched_domains,
            "events": self.events,
        }


def load_snapshot(store: Store, domains: dict[str, Domain], raw: bytes, origin: str) -> LoadResult:
    """Merge a snapshot file into the store. Raises SnapshotError on a corrupt file."""
    snap = parse_snapshot(raw)

    def apply(current: Dataset) -> tuple[Dataset, MergeStats]:
        merged = Dataset(dict(current.models), dict(current.benchmarks), dict(current.scores))
        stats = MergeStats()
        for b_id, bench in snap.data.benchmarks.items():
            if merged.benchmarks.get(b_id) != bench:
                stats.touched.add(b_id)
            merged.benchmarks[b_id] = bench
        _fold_former_ids(merged, snap.data, stats)
        for m_id, model in snap.data.models.items():
            if m_id not in merged.models:
                stats.new_models.append(m_id)
            merged.models[m_id] = model
        for pair, score in snap.data.scores.items():
            old = merged.scores.get(pair)
            score = _snapshot_score(old, score)
            if not stats.count(old, score) and old is not None and old.first_seen \
                    and (not score.first_seen or old.first_seen < score.first_seen):
                score = replace(score, first_seen=old.first_seen)  # unchanged: seen since the earlier time
            if old is not None and old != score:
                stats.touched.add(pair[0])  # e.g. an earlier first_seen: its scores hash is rewritten
            merged.scores[pair] = score
        return merged, stats

    result = _commit(store, domains, apply, origin, snap.exclusions, raw=("snapshot", raw))
    result.merges = list(snap.merges)
    return result


def _snapshot_score(old: Score | None, new: Score) -> Score:
    """What a snapshot load stores for one (benchmark, model): a snapshot is a dated capture, so it never
    turns back what was observed after it. Rating histories (Arena) merge, keeping the boards live pulls
    added (:func:`merge_histories`); any other stored value first seen after the snapshot's (a later pull, a
    pushed correction) is kept, and a snapshot captured later replaces it. The same value is one observation:
    the snapshot's is stored, and the caller keeps the earlier `first_seen`."""
    if old is not None and not (old.history and new.history) and (old.value, old.stderr) != (new.value, new.stderr) \
            and old.first_seen > new.first_seen:
        return old
    return merge_histories(old, new)


def _fold_former_ids(merged: Dataset, snap: Dataset, stats: MergeStats) -> None:
    """A stored model whose id is now an alias of another snapshot model (a renamed id, a merged duplicate:
    `claude-opus-4-6` -> `claude-opus-4.6`, `open-mistral-7b` -> `mistral-7b-v0.1`) is folded into it: its
    scores move to the new id where the new id has none on that benchmark, and the old model goes, so a
    store loaded before the rename holds each model once. Old ids keep resolving as aliases."""
    owner = {a.lower(): m_id for m_id, m in snap.models.items() for a in m.aliases}
    for old_id in [m for m in merged.models if m not in snap.models]:
        new_id = owner.get(old_id.lower())
        if new_id is None or new_id == old_id:
            continue
        del merged.models[old_id]
        for (b_id, m_id), score in list(merged.scores.items()):
            if m_id != old_id:
                continue
            del merged.scores[(b_id, m_id)]
            merged.scores.setdefault((b_id, new_id), replace(score, model=new_id))
            stats.touched.add(b_id)


def load_records(store: Store, domains: dict[str, Domain], raw: bytes, fmt: str | None, origin: str,
                 *, source: str = "canonical") -> LoadResult:
    """Validate canonical CSV/JSON `raw` and merge it. Raises InvalidInput; the store is then untouched."""
    records = parse(raw, fmt, origin)
    now = store.now()

    found: list[dict[str, str]] = []

    def apply(current: Dataset) -> tuple[Dataset, MergeStats]:
        rows = validate(records, current, now.date(), origin)
        found[:] = merges_of(rows, current, origin)
        return merge(current, rows, origin, now.date().isoformat(), seen_at=now.isoformat(timespec="seconds"))

    result = _commit(store, domains, apply, origin, [], raw=(source, raw))
    result.merges = found
    return result


def load_source(store: Store, domains: dict[str, Domain], records: list[dict[str, Any]], origin: str,
                *, rejected: list[Exclusion] | None = None, raw: tuple[str, bytes] | None = None,
                offers: Mapping[str, Offer] | None = None) -> LoadResult:
    """Merge records pulled from a source (canonical-format dicts). Bad records are excluded with a reason
    instead of failing the pull, and a record without release date or access only counts for a stored
    model. Only new or changed scores count; when nothing changed no generation is written. `offers`
    (source model name -> Offer: prices and speed) go onto the models the records matched (merge_offers);
    a new price alone makes a new generation."""
    raw_records = [RawRecord(f"record {i}", r) for i, r in enumerate(records, start=1)]
    now = store.now()
    found: list[Exclusion] = []

    merges: list[dict[str, str]] = []

    def apply(current: Dataset) -> tuple[Dataset, MergeStats]:
        rows, excluded = triage(raw_records, current, now.date(), origin)
        found[:] = excluded
        merges[:] = merges_of(rows, current, origin)
        merged, stats = merge(current, rows, origin, now.date().isoformat(), seen_at=now.isoformat(timespec="seconds"))
        return (merge_offers(merged, rows, offers) if offers else merged), stats

    result = _commit(store, domains, apply, origin, [], raw=raw)
    result.exclusions = [*(rejected or []), *found]
    result.merges = merges
    return result


def rebuild(store: Store, domains: dict[str, Domain], origin: str = "rebuild") -> LoadResult:
    """Recompute every derived series from the stored data (e.g. after the domain file changed)."""
    return _commit(store, domains, lambda current: (current, MergeStats()), origin, [], everything=True)


def domains_digest(domains: dict[str, Domain]) -> str:
    """A hash of the domain definitions: when it changes, every domain is recomputed."""
    text = repr(sorted((d.id, d.name, d.members) for d in domains.values()))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _commit(store: Store, domains: dict[str, Domain], apply: Any, origin: str, exclusions: list[Exclusion],
            *, everything: bool = False, raw: tuple[str, bytes] | None = None) -> LoadResult:
    """Under the store's write lease, read the latest generation, apply a change, and commit a new generation
    on top of exactly that one, with only what the change touched recomputed (the rest copied server-side).
    Its events and the raw payload (`(source, bytes)`) are stored in the same MULTI/EXEC as the switch: a
    refresh is recorded whole or not at all. Returning means the change is in the current generation.

    Raises StoreBusy when the lease stays taken for the store's bounded wait, ConcurrentRefresh when every
    attempt lost its race (both: nothing stored), and whatever `apply` raises (InvalidInput)."""
    for attempt in range(1, COMMIT_ATTEMPTS + 1):
        with store.writing():
            try:
                return _commit_once(store, domains, apply, origin, exclusions, everything=everything, raw=raw)
            except ConcurrentRefresh as exc:
                logger.warning("refresh from %s lost a race (attempt %d): %s", origin, attempt, exc)
        if attempt < COMMIT_ATTEMPTS:  # outside the lease: the winner's successor is not held up
            time.sleep(RETRY_PAUSE_S * 2 ** (attempt - 1) * random.uniform(0.5, 1.5))
    raise ConcurrentRefresh(f"gave up after {COMMIT_ATTEMPTS} attempts: other refreshes kept committing; "
                            "nothing was stored")


def _commit_once(store: Store, domains: dict[str, Domain], apply: Any, origin: str, exclusions: list[Exclusion],
                 *, everything: bool, raw: tuple[str, bytes] | None) -> LoadResult:
    """One read-apply-commit. Raises ConcurrentRefresh when another generation was committed meanwhile."""
    gen = store.current_generation()
    current = store.read_dataset(gen) if gen else Dataset()
    data, stats = apply(current)
    digest = domains_digest(domains)
    old_meta = store.read_meta(gen) if gen else {}
    full = everything or gen is None or old_meta.get("domains_digest") != digest
    counts = Counter(m.access.value for m in data.models.values())
    if not full and data == current:
        return LoadResult(gen or "", origin, stats, exclusions, counts, len(data.benchmarks), changed=False)
    touched = set(data.benchmarks) if full else set(stats.touched)
    writer = store.begin(gen)  # the parent is the generation `data` was derived from, never a re-read
    derived, events = _write_generation(store, writer, gen, data, domains, touched, full)
    meta = {"origin": origin, "as_of": derived.as_of.isoformat() if derived.as_of else "",
            "models": len(data.models), "benchmarks": len(data.benchmarks), "scores": len(data.scores),
            "domains_digest": digest, "touched_benchmarks": len(touched),
            "touched_domains": len(derived.domain_series)}
    writer.put_json(keys.gen_exclusions(writer.gen), [e.to_dict() for e in exclusions])

    def also(pipe: Any, gen: str = writer.gen, evs: list[Event] = events) -> None:
        stage(pipe, evs, refresh=gen, generation=gen, at=store.now().isoformat())
        if raw is not None:
            store.push_raw(raw[0], raw[1], {"origin": origin, "generation": gen}, pipe)
    new_gen = writer.commit(meta, also)
    return LoadResult(new_gen, origin, stats, exclusions, counts, len(data.benchmarks),
                      touched_benchmarks=sorted(touched), touched_domains=sorted(derived.domain_series),
                      events=len(events))


def _write_generation(store: Store, writer: GenerationWriter, old: str | None, data: Dataset,
                      domains: dict[str, Domain], touched: set[str], full: bool) -> tuple[Derived, list[Event]]:
    """Write `data` and its derived series; what `touched` does not reach is copied from generation `old`.
    Returns the derivation and the events it makes (emitted once the generation is committed)."""
    new = writer.gen
    derived = derive(data, domains, benchmarks=None if full else touched)
    writer.put_models_and_benchmarks(data)
    by_bench: dict[str, list[Score]] = {}
    for (b_id, _), score in data.scores.items():
        by_bench.setdefault(b_id, []).append(score)
    for b_id in data.benchmarks:
        if b_id in touched or old is None:
            writer.put_scores(b_id, by_bench.get(b_id, []))
        else:
            writer.copy(keys.gen_scores(old, b_id), keys.gen_scores(new, b_id))
            writer.copy(keys.gen_benchmark_series(old, b_id), keys.gen_benchmark_series(new, b_id))
    for b_id, series in derived.benchmark_series.items():
        writer.put_json(keys.gen_benchmark_series(new, b_id), series)
    for d_id in domains:
        if d_id in derived.domain_series:
            writer.put_json(keys.gen_domain_series(new, d_id), derived.domain_series[d_id])
        elif old is not None:
            writer.copy(keys.gen_domain_series(old, d_id), keys.gen_domain_series(new, d_id))
    old_summary = store.read_json(keys.gen_summary(old)) or [] if old else []
    old_bench = store.read_json(keys.gen_benchmark_summary(old)) or [] if old else []
    summary = _merge_rows(old_summary, derived.summary, "domain", list(domains))
    writer.put_json(keys.gen_summary(new), summary)
    writer.put_json(keys.gen_benchmark_summary(new),
                    _merge_rows(old_bench, derived.benchmark_summary, "benchmark", sorted(data.benchmarks)))
    writer.put_json(keys.gen_robustness(new), robustness_of(data, derived.gaps))
    old_index = {r.field: r for r in read_index(store, old)} if old else {}
    fresh = {r.field: r for r in series_refs(data, derived, domains)}
    index = {**{f: r for f, r in old_index.items() if _still_valid(r, data, domains)}, **fresh}
    write_index(writer, list(index.values()))
    return derived, summary_events(old_summary, summary)


def _merge_rows(old: list[dict[str, Any]], new: list[dict[str, Any]], key: str, order: list[str]) -> list[Any]:
    """Summary rows: the recomputed ones replace the old ones; ordered like `order`, unknown ids dropped."""
    rows = {r[key]: r for r in old} | {r[key]: r for r in new}
    return [rows[k] for k in order if k in rows]


def _still_valid(ref: SeriesRef, data: Dataset, domains: dict[str, Domain]) -> bool:
    return ref.target in (domains if ref.kind == "domain" else data.benchmarks)
