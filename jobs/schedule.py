"""Every scheduled job, declared in one place: which sources are on, how often each job runs.

A job is a plain function of `Deps`; the scheduler (jobs/scheduler.py) only decides when it runs and
makes sure one replica at a time runs it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from forecasts.domains import Domain
from forecasts.settings import Settings
from forecasts.store import Store
from jobs.http import Http
from jobs.refresh import forecast_pending, run_pull
from jobs.sources.artificial_analysis import ArtificialAnalysis
from jobs.sources.base import Source
from jobs.sources.canonical import CanonicalFeed
from jobs.sources.epoch import EpochHub
from jobs.sources.lmarena import LMArena
from jobs.status import RedisRequestCounter

FORECAST_EVERY_S = 5  # how soon forecasts follow a refresh (a cheap check when nothing is pending)


@dataclass
class Deps:
    """What jobs need: the store, the domains, an HTTP client and the settings."""

    store: Store
    domains: dict[str, Domain]
    http: Http
    settings: Settings


@dataclass(frozen=True)
class JobSpec:
    """A job: its name (also its lock and its run record), its interval and what it does."""

    name: str
    every_s: int
    description: str
    run: Callable[[Deps], Any]


SOURCE_IDS = ("epoch-hub", "artificial-analysis", "lmarena", "canonical")


def build_sources(settings: Settings, store: Store) -> dict[str, Source]:
    """The sources that are on (configured), by id. AA is off without a key; the others without a URL."""
    sources: dict[str, Source] = {}
    if settings.epoch_url:
        sources["epoch-hub"] = EpochHub(settings.epoch_url)
    if settings.aa_api_key and settings.aa_url:
        sources["artificial-analysis"] = ArtificialAnalysis(
            settings.aa_api_key, url=settings.aa_url, state=RedisRequestCounter(store, "artificial-analysis"))
    if settings.lmarena_url:
        sources["lmarena"] = LMArena(settings.lmarena_url, licences_url=settings.lmarena_licences_url)
    if settings.canonical_url:
        sources["canonical"] = CanonicalFeed(settings.canonical_url)
    return sources


def source_interval_s(settings: Settings, source_id: str) -> int:
    """Seconds between pulls of `source_id`."""
    return {"epoch-hub": settings.epoch_every_s, "artificial-analysis": settings.aa_every_s,
            "lmarena": settings.lmarena_every_s, "canonical": settings.canonical_every_s}[source_id]


def job_specs(settings: Settings, sources: dict[str, Source]) -> list[JobSpec]:
    """Every scheduled job: one pull per enabled source, and the forecast job."""
    specs = [_pull_spec(settings, src) for src in sources.values()]
    specs.append(JobSpec("forecast", FORECAST_EVERY_S, "fit the forecasts a refresh left pending",
                         lambda deps: forecast_pending(deps.store)))
    return specs


def _pull_spec(settings: Settings, source: Source) -> JobSpec:
    def run(deps: Deps) -> Any:
        return run_pull(deps.store, deps.domains, source, deps.http, retry_max_s=deps.settings.retry_max_s)
    return JobSpec(f"pull:{source.id}", source_interval_s(settings, source.id), f"pull {source.id}", run)
