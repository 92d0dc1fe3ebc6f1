"""Gap maths for one benchmark: frontiers, score gap, time lag, caught-up and saturation.

Pure functions over canonical records; see ../shared/BRIEF.md "What the numbers mean". Internally every
value is *oriented* (negated when lower is better) so that "higher is better" holds everywhere and a
positive score gap always means open is behind; values handed back to callers are in the benchmark's
own unit and direction.

A benchmark cannot count before it existed: a score counts for the frontier from its *effective date*,
max(model release date, benchmark launch month) (`Benchmark.launched`, first day of the month; a
benchmark without one counts from the release date). A 2023 model scored on a benchmark launched in
2025-03 joins the frontier on 2025-03-01, so a series starts no earlier than the launch and a cut-off
before it sees nothing. Leaders keep the model's real `release_date` for display; every date the maths
uses (frontier steps, lag, saturation, series start and end) is the effective date.
"""

from __future__ import annotations

import bisect
import calendar
import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from typing import Any

from forecasts.records.model import Access, Benchmark, Dataset

# One-sided 95% test: closed is "clearly ahead" only when its lead exceeds 1.645 standard errors of the
# difference (and the configured tie margin, which stays the floor when errors are tiny or unknown).
Z_ONE_SIDED_95 = 1.645
#: Days per month (365.25 / 12), for turning lags in days into months.
DAYS_PER_MONTH = 365.25 / 12
# A lag on a closed frontier that has stayed within its tie margin this long is flagged (GapPoint.flat_frontier):
# a 1.6-point MMLU gap on a frontier flat since 2024 reads as an 18.6-month lag.
FLAT_FRONTIER_DAYS = 365


class GapStatus(StrEnum):
    """Where open stands against closed at one date."""

    OPEN_BEHIND = "open_behind"
    CAUGHT_UP = "caught_up"
    OPEN_LEADS = "open_leads"
    NO_DATA = "no_data"


@dataclass(frozen=True)
class Entry:
    """One scored model on one benchmark (value and stderr in the benchmark's unit).

    `counts_from` is the effective date (see the module docstring); None means the release date.
    """

    model: str
    release_date: date
    access: Access
    value: float
    stderr: float | None = None
    counts_from: date | None = None
    history: tuple[tuple[str, float, float | None], ...] = ()  # Score.history (rating snapshots)

    @property
    def effective_date(self) -> date:
        """When this score starts to count for the frontier."""
        return self.counts_from or self.release_date


@dataclass(frozen=True)
class Leader:
    """A frontier holder: the model, its score (benchmark unit), release date (for display) and the
    effective date from which its score counts (`counts_from`, None = the release date)."""

    model: str
    score: float
    release_date: date
    stderr: float | None = None
    counts_from: date | None = None

    @property
    def effective_date(self) -> date:
        """When this leader's score started to count (frontier step and lag use this date)."""
        return self.counts_from or self.release_date

    def to_dict(self) -> dict[str, Any]:
        return {"model": self.model, "score": self.score, "release_date": self.release_date.isoformat()}


@dataclass(frozen=True)
class GapPoint:
    """The state of one benchmark at `date`.

    `score_gap` is in the benchmark's unit (positive = open behind), `lag_days` in days, `margin` is the
    effective tie margin used (configured margin, widened by the scores' standard errors).
    """

    date: date
    closed: Leader | None
    open: Leader | None
    score_gap: float | None
    lag_days: int | None
    margin: float
    status: GapStatus
    saturated: bool
    flat_days: int = 0  # how long the closed frontier has stayed within the tie margin of its value now

    @property
    def flat_frontier(self) -> bool:
        """True when a lag rests on a closed frontier that has not moved by more than the margin for
        `FLAT_FRONTIER_DAYS`: the lag then counts the age of an old lead, not the pace of progress."""
        return bool(self.lag_days) and self.flat_days >= FLAT_FRONTIER_DAYS

    def to_dict(self) -> dict[str, Any]:
        return {
            "date": self.date.isoformat(),
            "closed_leader": self.closed.to_dict() if self.closed else None,
            "open_leader": self.open.to_dict() if self.open else None,
            "score_gap": _round(self.score_gap),
            "lag_days": self.lag_days,
            "margin": _round(self.margin),
            "status": self.status.value,
            "saturated": self.saturated,
            "frontier_flat_days": self.flat_days,
            "flat_frontier": self.flat_frontier,
        }


class Frontier:
    """The best score among one class's models released on or before a date (a step function)."""

    def __init__(self, leaders: list[Leader], oriented: list[float]) -> None:
        self.leaders = leaders  # frontier improvements, in effective-date order
        self._oriented = oriented  # the same values, oriented so that higher is better
        self._dates = [ldr.effective_date for ldr in leaders]

    @classmethod
    def build(cls, entries: Iterable[Entry], higher_is_better: bool) -> Frontier:
        """Frontier from entries of one class, stepping at their effective dates; of two entries counting
        from one day (e.g. every model released before the benchmark's launch) the better one counts."""
        sign = 1.0 if higher_is_better else -1.0
        leaders: list[Leader] = []
        oriented: list[float] = []
        ordered = sorted(entries, key=lambda e: (e.effective_date, -sign * e.value, e.model))
        for e in ordered:
            v = sign * e.value
            if oriented and v <= oriented[-1]:
                continue  # not an improvement (incl. a same-day release that scored lower)
            leaders.append(Leader(e.model, e.value, e.release_date, e.stderr, e.counts_from))
            oriented.append(v)
        return cls(leaders, oriented)

    def at(self, t: date) -> tuple[Leader, float] | None:
        """The leader and its oriented value at `t`, or None before the first release."""
        i = bisect.bisect_right(self._dates, t) - 1
        return (self.leaders[i], self._oriented[i]) if i >= 0 else None

    def first_date(self) -> date | None:
        return self._dates[0] if self._dates else None

    def first_reaching(self, oriented_value: float) -> date | None:
        """The first date the frontier's oriented value is at least `oriented_value`, else None."""
        ldr = self.leader_reaching(oriented_value)
        return ldr.effective_date if ldr else None

    def leader_reaching(self, oriented_value: float) -> Leader | None:
        """The first leader whose oriented value is at least `oriented_value`, else None."""
        for ldr, v in zip(self.leaders, self._oriented, strict=True):
            if v >= oriented_value:
                return ldr
        return None

    def best(self) -> float | None:
        """The frontier's newest (highest) oriented value, None when empty."""
        return self._oriented[-1] if self._oriented else None

    def clearly_above(self, open_value: float, open_stderr: float | None, margin: float) -> date | None:
        """The first date this (closed) frontier was clearly ahead of `open_value` (oriented), else None."""
        for ldr, v in zip(self.leaders, self._oriented, strict=True):
            if v > open_value + effective_margin(margin, ldr.stderr, open_stderr):
                return ldr.effective_date
        return None


def effective_margin(tie_margin: float, stderr_a: float | None, stderr_b: float | None) -> float:
    """The tie margin widened to a one-sided 95% test when both scores carry a standard error."""
    if stderr_a is None or stderr_b is None:
        return tie_margin
    return max(tie_margin, Z_ONE_SIDED_95 * math.hypot(stderr_a, stderr_b))


def saturation_date(bench: Benchmark, closed: Frontier) -> date | None:
    """The first date the closed frontier reached the benchmark's saturation threshold, else None."""
    if bench.saturation is None:
        return None
    sign = 1.0 if bench.higher_is_better else -1.0
    return closed.first_reaching(sign * bench.saturation)


class BenchmarkGaps:
    """Frontiers of one benchmark, and its gap state at any date."""

    def __init__(self, bench: Benchmark, entries: Iterable[Entry]) -> None:
        entries = list(entries)
        self.bench = bench
        hib = bench.higher_is_better
        self.closed = Frontier.build((e for e in entries if e.access is Access.CLOSED), hib)
        self.open = Frontier.build((e for e in entries if e.access is Access.OPEN), hib)
        self.saturated_from = saturation_date(bench, self.closed)
        self.entry_dates = sorted(e.effective_date for e in entries)  # when each score started to count
        self.data_end = self.entry_dates[-1] if self.entry_dates else None
        # Rating-history benchmarks (Arena): `at` sees each date through the snapshot current then, and
        # the data runs to the newest snapshot (forecasts/measure/ratings.py). None for every other benchmark.
        from forecasts.measure.ratings import RatingHistory  # lazily: ratings builds this module's GapPoints
        self.ratings = RatingHistory.build(bench, entries)
        if self.ratings is not None and self.ratings.last_snapshot is not None:
            self.data_end = max(self.data_end or self.ratings.last_snapshot, self.ratings.last_snapshot)
            self.entry_dates = sorted([*self.entry_dates, *self.ratings.snapshots])  # a new board is new data

    def start(self) -> date | None:
        """The first date both classes have a score, else None."""
        c, o = self.closed.first_date(), self.open.first_date()
        if self.ratings is not None and c and o and self.ratings.first_snapshot:
            return max(c, o, self.ratings.first_snapshot)  # nothing is seen before the first snapshot
        return max(c, o) if c and o else None

    def at(self, t: date) -> GapPoint:
        """The benchmark's gap, lag and status at `t` (scores whose effective date is on or before `t`)."""
        c, o = self.closed.at(t), self.open.at(t)
        saturated = self.saturated_from is not None and self.saturated_from <= t
        if self.ratings is not None:
            return self.ratings.at(t, saturated)
        if c is None or o is None:
            return GapPoint(t, c[0] if c else None, o[0] if o else None, None, None,
                            self.bench.tie_margin, GapStatus.NO_DATA, saturated)
        (c_leader, c_val), (o_leader, o_val) = c, o
        if self._at_floor(c_val) and self._at_floor(o_val):
            # both classes score nothing: the benchmark cannot tell them apart yet, which is not a catch-up
            return GapPoint(t, c_leader, o_leader, None, None, self.bench.tie_margin, GapStatus.NO_DATA,
                            saturated)
        margin = effective_margin(self.bench.tie_margin, c_leader.stderr, o_leader.stderr)
        gap = c_val - o_val
        status = classify(gap, margin)
        lag = 0
        if status is GapStatus.OPEN_BEHIND:
            since = self.closed.clearly_above(o_val, o_leader.stderr, self.bench.tie_margin)
            lag = (t - since).days if since else 0
        flat_from = self.closed.leader_reaching(c_val - self.bench.tie_margin)
        flat_days = (t - flat_from.effective_date).days if flat_from else 0
        return GapPoint(t, c_leader, o_leader, gap, lag, margin, status, saturated, flat_days)

    def _at_floor(self, oriented: float) -> bool:
        """True when an oriented value sits at the benchmark's worst possible score (0 % solved)."""
        floor = self.bench.min if self.bench.higher_is_better else self.bench.max
        if floor is None:
            return False
        sign = 1.0 if self.bench.higher_is_better else -1.0
        return oriented <= sign * floor + 1e-9

    def monthly(self, end: date | None = None) -> list[GapPoint]:
        """Monthly points from the first month both classes have a score to `end`.

        `end` defaults to the newest release scored on this benchmark. Each point is evaluated at the
        month's last day, or at `end` for the final, partial month.
        """
        start, end = self.start(), end or self.data_end
        if start is None or end is None or end < start:
            return []
        return [self.at(d) for d in month_ends(start, end)]


def classify(gap: float, margin: float) -> GapStatus:
    """Status of an oriented gap against an effective tie margin."""
    if gap < -margin:
        return GapStatus.OPEN_LEADS
    if gap <= margin:
        return GapStatus.CAUGHT_UP
    return GapStatus.OPEN_BEHIND


def month_ends(start: date, end: date) -> Iterator[date]:
    """Last day of every month from `start`'s month to `end`'s month; the last one is capped at `end`."""
    y, m = start.year, start.month
    while (y, m) <= (end.year, end.month):
        last = date(y, m, calendar.monthrange(y, m)[1])
        yield min(last, end)
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)


def entries_by_benchmark(data: Dataset) -> dict[str, list[Entry]]:
    """Group a dataset's scores into entries per benchmark; scores of unknown models are skipped.

    Each entry counts from max(model release date, benchmark launch): no score counts on a benchmark
    before the benchmark existed (`counts_from` is set only where the launch is later).
    """
    grouped: dict[str, list[Entry]] = {b: [] for b in data.benchmarks}
    for (bench_id, model_id), s in data.scores.items():
        m = data.models.get(model_id)
        if m is None or bench_id not in grouped:
            continue
        bench = data.benchmarks[bench_id]
        launched = None if bench.retrospective else bench.launched
        counts_from = launched if launched is not None and launched > m.release_date else None
        grouped[bench_id].append(Entry(m.id, m.release_date, m.access, s.value, s.stderr, counts_from,
                                       s.history))
    return grouped


def normalised_gap(gap: float, bench: Benchmark) -> float:
    """A score gap as a percentage of the benchmark's scale (unit-free, comparable across benchmarks),
    clamped to [-100, 100]: a gap wider than the benchmark's whole span says "a whole scale apart"."""
    return max(-100.0, min(100.0, 100.0 * gap / bench.scale))


def _round(v: float | None, digits: int = 4) -> float | None:
    return None if v is None else round(v, digits)
