"""Rating-history benchmarks (LMArena): the frontier at a date from the rating snapshot current at that date.

Arena ratings are Bradley-Terry fits over all votes so far; each leaderboard snapshot re-fits every model,
so ratings drift between snapshots (2023-06 rescaled GPT-4 by -125 Elo, 2024-06 shifted the whole board by
about +125). Two models are only comparable *within* one snapshot. A score on such a benchmark therefore
carries its `history`: one `(as_of, value, stderr)` per snapshot that rated the model (`Score.history`,
ascending by `as_of`, ISO dates; the newest one is also the score's `value`/`stderr`).

At a date `t` the benchmark is seen through the snapshot current at `t` (the newest `as_of <= t`). A model
counts at `t` when its score counts (effective date <= t, see forecasts.measure.gaps) and some snapshot with
`as_of <= t` rated it; its rating at `t` is the one from the newest such snapshot, provided that snapshot
is at most `MAX_CARRY_DAYS` older than the current one. The carry fills what one snapshot leaves out
(arena.ai daily files hold only the top 20-71 models, so the open leader is missing on some days; deprecated
models drop off the board) without letting a rating from another era of the scale stand next to today's.

From that view: the closed and open leaders are the best model of each class, the score gap is their
difference, the tie margin is `effective_margin` of their CIs, and the lag is measured inside the same view
(`t - the first effective date of a closed model rated clearly above today's open leader`), so no two
snapshots are ever compared. The release-date frontiers of `BenchmarkGaps` (each model at its newest
rating) stay as they are for the forecast engine, which models monotone frontiers.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import date, timedelta
from typing import TYPE_CHECKING

from forecasts.records.model import Access, Benchmark, Score

if TYPE_CHECKING:  # forecasts.measure.gaps imports this module lazily; the types only matter to mypy
    from forecasts.measure.gaps import Entry, GapPoint, Leader

#: How much older than the current snapshot a model's newest rating may be and still count (days). 120
#: bridges the longest real gap between stored snapshots (2025-12-17 catalogue -> 2026-03-19 daily files,
#: 92 days) and is far shorter than the span between the Arena's rescalings.
MAX_CARRY_DAYS = 120


@dataclass(frozen=True)
class RatedModel:
    """One model's ratings on one benchmark: snapshot dates ascending, with value and stderr per date."""

    model: str
    release_date: date
    access: Access
    counts_from: date | None  # effective date when later than the release (benchmark launch)
    as_of: tuple[date, ...]
    values: tuple[float, ...]
    stderrs: tuple[float | None, ...]

    @property
    def effective_date(self) -> date:
        return self.counts_from or self.release_date

    def rating_at(self, t: date, current: date) -> tuple[float, float | None] | None:
        """(value, stderr) from the newest snapshot on or before `t`, if no more than MAX_CARRY_DAYS older
        than the `current` snapshot; None otherwise."""
        i = bisect.bisect_right(self.as_of, t) - 1
        if i < 0 or self.as_of[i] < current - timedelta(days=MAX_CARRY_DAYS):
            return None
        return self.values[i], self.stderrs[i]


@dataclass(frozen=True)
class Seen:
    """A model as the view at some date sees it (value in the benchmark's unit, `oriented` higher-better)."""

    model: RatedModel
    value: float
    stderr: float | None
    oriented: float


class RatingHistory:
    """Every rated model of one benchmark, and the benchmark's gap state at a date seen from one snapshot."""

    def __init__(self, bench: Benchmark, models: list[RatedModel]) -> None:
        self.bench = bench
        self.models = models
        self.snapshots = sorted({d for m in models for d in m.as_of})
        self._sign = 1.0 if bench.higher_is_better else -1.0

    @classmethod
    def build(cls, bench: Benchmark, entries: Iterable[Entry]) -> RatingHistory | None:
        """The history of `entries` that carry one (None when none does: an ordinary benchmark).

        An entry without a history on a rating-history benchmark (an undated rating, see `extend_history`)
        is not seen: it cannot be placed on a board. Raises ValueError naming the model when a history date
        is not YYYY-MM-DD."""
        entries = list(entries)
        if not any(e.history for e in entries):
            return None
        models = []
        for e in entries:
            rows = e.history
            if not rows:
                continue
            try:
                parsed = sorted((date.fromisoformat(a), float(v), s) for a, v, s in rows)
            except ValueError as exc:
                raise ValueError(f"{bench.id}: {e.model}: history: {exc}") from None
            models.append(RatedModel(e.model, e.release_date, e.access, e.counts_from,
                                     tuple(p[0] for p in parsed), tuple(p[1] for p in parsed),
                                     tuple(p[2] for p in parsed)))
        return cls(bench, models)

    @property
    def first_snapshot(self) -> date | None:
        return self.snapshots[0] if self.snapshots else None

    @property
    def last_snapshot(self) -> date | None:
        return self.snapshots[-1] if self.snapshots else None

    def current(self, t: date) -> date | None:
        """The snapshot current at `t` (the newest on or before it), None before the first."""
        i = bisect.bisect_right(self.snapshots, t) - 1
        return self.snapshots[i] if i >= 0 else None

    def view(self, t: date) -> list[Seen]:
        """The models that count at `t`, each with its rating as the snapshot current at `t` sees it."""
        current = self.current(t)
        if current is None:
            return []
        out = []
        for m in self.models:
            if m.effective_date > t:
                continue
            r = m.rating_at(t, current)
            if r is not None:
                out.append(Seen(m, r[0], r[1], self._sign * r[0]))
        return out

    def at(self, t: date, saturated: bool) -> GapPoint:
        """The benchmark's gap point at `t` from the snapshot current at `t` (see the module docstring)."""
        from forecasts.measure.gaps import GapPoint, GapStatus, classify, effective_margin

        seen = self.view(t)
        closed = self._best(s for s in seen if s.model.access is Access.CLOSED)
        open_ = self._best(s for s in seen if s.model.access is Access.OPEN)
        tie = self.bench.tie_margin
        if closed is None or open_ is None:
            return GapPoint(t, _leader(closed), _leader(open_), None, None, tie, GapStatus.NO_DATA, saturated)
        margin = effective_margin(tie, closed.stderr, open_.stderr)
        gap = closed.oriented - open_.oriented
        status = classify(gap, margin)
        lag = 0
        if status is GapStatus.OPEN_BEHIND:
            ahead = [s.model.effective_date for s in seen if s.model.access is Access.CLOSED
                     and s.oriented > open_.oriented + effective_margin(tie, s.stderr, open_.stderr)]
            lag = (t - min(ahead)).days if ahead else 0
        return GapPoint(t, _leader(closed), _leader(open_), gap, lag, margin, status, saturated)

    @staticmethod
    def _best(seen: Iterable[Seen]) -> Seen | None:
        """The best-rated model (of two equal ratings, the earlier release: it held the lead first)."""
        return min(seen, key=lambda s: (-s.oriented, s.model.effective_date, s.model.model), default=None)


def _leader(s: Seen | None) -> Leader | None:
    from forecasts.measure.gaps import Leader

    if s is None:
        return None
    return Leader(s.model.model, s.value, s.model.release_date, s.stderr, s.model.counts_from)


def merge_histories(old: Score | None, new: Score) -> Score:
    """``new`` (a snapshot file's score) merged into the rating history ``old`` holds (what a snapshot load
    merges; ingest.load_snapshot): a history only grows, so the boards of both are kept, ``new``'s entry
    winning on a date both have, and the newest entry is the returned score's value and stderr. A board a
    live pull added after the snapshot was built is not dropped by reloading it; the score keeps the
    provenance (source, retrieval) of the side its newest board came from. Without a history on both sides,
    ``new`` as it is."""
    if old is None or not old.history or not new.history:
        return new
    by_day = {h[0]: h for h in old.history} | {h[0]: h for h in new.history}
    history = tuple(sorted(by_day.values()))
    newest = history[-1]
    base = new if newest in new.history else old
    return replace(base, value=newest[1], stderr=newest[2], history=history)


def extend_history(old: Score | None, new: Score, as_of: date | None) -> Score:
    """`new` as the next snapshot of the rating history `old` holds (what a pull merges; canonical.merge).

    With `as_of` (an arena.ai daily file's date), `(as_of, value, stderr)` joins `old.history`, replacing an
    entry of the same date; the newest entry is the returned score's value and stderr, so a late pull of an
    older file adds to the history without turning the score back. A stored score without a history has no
    date and is not kept in it. Without `as_of` (an arena-catalog JSON or fboulnois CSV: they carry no date)
    a score whose stored version has a history is left as stored: an undated file cannot say which board it
    is (the default arena-catalog URL still serves the 2025-12-11 file), and dating it by the pull would
    show a stale board as today's. Any other score is returned as it is."""
    if as_of is None:
        return old if old is not None and old.history else new
    day = as_of.isoformat()
    kept = [h for h in (old.history if old is not None else ()) if h[0] != day]
    history = tuple(sorted([*kept, (day, new.value, new.stderr)]))
    newest = history[-1]
    return replace(new, value=newest[1], stderr=newest[2], history=history)
