"""Plain job functions: pull one source and refresh, and fit the forecasts a refresh left pending.

They take their dependencies as arguments (a Store, the domains, a source, an Http client) and never need
a Flask app or the scheduler, so `gapcast ingest`, `gapcast forecast` and the scheduler share them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from forecasts.activity import events
from forecasts.activity import source_status as status
from forecasts.measure.domains import Domain
from forecasts.publishing import outlook
from forecasts.storage.ingest import LoadResult, load_source
from forecasts.storage.store import Store
from jobs.http import Http, PullFailed
from jobs.sources.base import Source, SourceRecord

logger = logging.getLogger(__name__)

FAILING_AFTER = 3  # consecutive failures that make a source_failing (operations) event


@dataclass
class PullOutcome:
    """What one pull did: `result` when data was applied; `error`/`retry_at` when it failed."""

    source: str
    ok: bool
    not_modified: bool = False
    result: LoadResult | None = None
    error: str | None = None
    retry_at: datetime | None = None
    rejected: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {"source": self.source, "ok": self.ok, "not_modified": self.not_modified, "error": self.error,
                "retry_at": self.retry_at.isoformat() if self.retry_at else None, "rejected": self.rejected,
                "result": self.result.to_dict() if self.result else None}


def run_pull(store: Store, domains: dict[str, Domain], source: Source, http: Http, *, retry_max_s: int) -> PullOutcome:
    """Pull `source`, apply what is new or changed, record the source's status.

    A failed pull (bad payload, HTTP error, timeout) changes no data: it is recorded with its reason and a
    backoff. Redis errors propagate (the run fails; the next one starts over)."""
    try:
        pull = source.pull(http, status.validators(store, source.id))
        check_release_dates(pull.records)
    except PullFailed as exc:
        return _failed(store, source.id, exc, retry_max_s)
    except (ValueError, TypeError, KeyError, RecursionError, MemoryError, UnicodeError) as exc:
        # A payload the connector did not foresee must fail this pull, not the job (and be retried later).
        logger.exception("connector %s could not parse its payload", source.id)
        return _failed(store, source.id, PullFailed("parse_error", f"unreadable payload ({type(exc).__name__})"),
                       retry_max_s)
    if pull.not_modified:
        status.record_success(store, source.id, accepted=0, rejected=0, validators=pull.validators,
                              not_modified=True, generation=None)
        return PullOutcome(source.id, ok=True, not_modified=True)
    # The raw payload is kept with the generation it made (an unchanged payload is not kept: it would only
    # push older, different ones out of the capped history).
    result = load_source(store, domains, [r.to_canonical() for r in pull.records], f"{source.id} pull",
                         rejected=pull.rejected, raw=(source.id, pull.payload), offers=pull.offers)
    rejected = len(result.exclusions)
    status.record_success(store, source.id, accepted=result.stats.accepted, rejected=rejected,
                          validators=pull.validators, not_modified=False, generation=result.generation)
    logger.info("pulled %s: %d accepted (%d new, %d changed), %d rejected, generation %s", source.id,
                result.stats.accepted, result.stats.new_scores, result.stats.changed_scores, rejected,
                result.generation if result.changed else "unchanged")
    return PullOutcome(source.id, ok=True, result=result, rejected=rejected)


def check_release_dates(records: list[SourceRecord]) -> None:
    """A source that gives one model two release dates is not trusted for this pull (which date is right is
    unknowable here, and storing either would make the other fail forever). Raises PullFailed."""
    seen: dict[str, tuple[str, int]] = {}
    for i, rec in enumerate(records, start=1):
        if not rec.release_date:
            continue
        first = seen.setdefault(rec.model, (rec.release_date, i))
        if first[0] != rec.release_date:
            raise PullFailed("conflicting_release_date", f"record {i}: model {rec.model!r} has release date "
                             f"{rec.release_date}, record {first[1]} gave {first[0]}")


def _failed(store: Store, source: str, exc: PullFailed, retry_max_s: int) -> PullOutcome:
    failures, retry_at = status.record_failure(store, source, reason=exc.reason, message=exc.message,
                                               retry_max_s=retry_max_s, retry_after_s=exc.retry_after_s)
    logger.warning("pull of %s failed (%s, %d in a row): %s; retry at %s", source, exc.reason, failures,
                   exc.message, retry_at.isoformat())
    if failures == FAILING_AFTER:
        gen = store.current_generation() or ""
        events.emit(store, [events.source_failing(source, failures, exc.reason)], refresh=f"source:{source}",
                    generation=gen)
    return PullOutcome(source, ok=False, error=f"{exc.reason}: {exc.message}", retry_at=retry_at)


def forecast_pending(store: Store, *, only: Callable[[outlook.SeriesRef], bool] = lambda r: True,
                     progress: Callable[[int, int], None] | None = None,
                     domains: dict[str, Domain] | None = None) -> int:
    """Fit the current generation's missing forecasts, then emit catch_up_moved events for domains whose
    median catch-up date moved against the previous generation. Returns how many series were fitted."""
    gen = store.current_generation()
    if gen is None:
        return 0
    refs = outlook.pending(store, gen, only)
    if not refs:
        return 0
    outlook.compute(store, gen, refs, progress=progress, domains=domains)
    parent = store.read_meta(gen).get("parent")
    moved = [ev for ev in (_moved(store, gen, parent, r) for r in refs) if ev is not None]
    events.emit(store, moved, refresh=gen, generation=gen)
    return len(refs)


def _moved(store: Store, gen: str, parent: str | None, ref: outlook.SeriesRef) -> events.Event | None:
    if ref.kind != "domain" or ref.metric != "score_gap" or not parent:
        return None
    new = outlook.read_forecast_dict(store, gen, ref.kind, ref.target, ref.metric)
    old = outlook.read_forecast_dict(store, parent, ref.kind, ref.target, ref.metric)
    return events.catch_up_moved(ref.target, old, new) if new else None
