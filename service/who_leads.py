"""Answers computed on request from a generation's dataset (issue 14): filtered frontier views, frontier
moves per country and the swap question, with a per-worker cache keyed by (generation, what was asked).

The stored series cover the unfiltered view only; a filtered view is `forecasts.measure.compute.derive` on
`forecasts.measure.views.filtered(...)` of the generation's dataset. A generation never changes once committed, so a
result cached under its id stays right until the generation is superseded (the LRU then ages it out).
Measured on the bundled data (README "Who leads"): reading the dataset from Redis once per generation, then
one derivation per distinct filter (every domain at once, so the list, each domain and each series of that
filter share it).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import current_app

from forecasts.measure.compute import Derived, benchmark_gaps, derive
from forecasts.measure.domains import Domain
from forecasts.measure.gaps import BenchmarkGaps
from forecasts.measure.views import FilterError, Filters, check_filters, filtered, frontier_moves, movers
from forecasts.records.model import Dataset
from service.errors import BadRequest
from service.http import store
from service.lru import LRU

# Two caches, so that many distinct questions (filters, swap gaps) cannot push out the dataset every answer
# is made from: the dataset and its gaps (a few MB per generation: the current one and the one before), and
# the answers (a derivation of ~100 series is a few hundred kB; a swap answer a few kB).
BASE_ENTRIES = 4
ANSWER_ENTRIES = 64
_CACHES = {"base": ("gapcast.who_leads_base", BASE_ENTRIES), "answer": ("gapcast.who_leads_answers", ANSWER_ENTRIES)}


def _cache(which: str) -> LRU:
    name, size = _CACHES[which]
    cache: LRU | None = current_app.extensions.get(name)
    if cache is None:  # created on first use: importing this module starts nothing
        cache = current_app.extensions.setdefault(name, LRU(size))
    return cache


def _cached(gen: str, key: str, make: Any, which: str = "answer") -> Any:
    hit, value = _cache(which).get((gen, key))
    if not hit:
        value = make()
        _cache(which).put((gen, key), value)
    return value


def domains() -> dict[str, Domain]:
    """The app's domain configuration."""
    doms: dict[str, Domain] = current_app.extensions["gapcast.domains"]
    return doms


def dataset(gen: str) -> Dataset:
    """Generation `gen`'s dataset, read from Redis once per worker and generation."""
    return _cached(gen, "dataset", lambda: store().read_dataset(gen), "base")


def gaps(gen: str) -> dict[str, BenchmarkGaps]:
    """Frontiers and gaps of every benchmark of generation `gen` (unfiltered), once per worker."""
    return _cached(gen, "gaps", lambda: benchmark_gaps(dataset(gen)), "base")


def checked(gen: str, raw: Filters) -> Filters:
    """`raw` validated against generation `gen`'s models. Raises BadRequest (400) naming the parameter."""
    try:
        return check_filters(dataset(gen), raw)
    except FilterError as exc:
        raise BadRequest(f"invalid filter {exc.param}: {exc.message}",
                         [{"field": exc.param, "message": exc.message}]) from None


def derived(gen: str, filters: Filters) -> Derived:
    """Every domain's and benchmark's series and summary rows on the filtered dataset (checked `filters`)."""
    return _cached(gen, "derive?" + filters.key(),
                   lambda: derive(filtered(dataset(gen), filters), domains()))


def domain_movers(gen: str, domain_id: str) -> dict[str, Any]:
    """`forecasts.measure.views.movers` of one (known) domain on generation `gen`'s unfiltered data."""
    return _cached(gen, "movers?" + domain_id,
                   lambda: movers(frontier_moves(domains()[domain_id], gaps(gen), dataset(gen).models)))


def swap_answer(gen: str, benchmark: str, max_gap: float, make: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """`make()` (a `forecasts.measure.views.swap` answer), cached per generation, benchmark and gap."""
    return _cached(gen, f"swap?{benchmark}&{max_gap!r}", make)
