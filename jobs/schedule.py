"""Every scheduled job, declared in one place: which sources are on, how often each job runs.

A job is a plain function of `Deps`; the scheduler (jobs/scheduler.py) only decides when it runs and
makes sure one replica at a time runs it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from forecasts.activity.source_status import RedisRequestCounter, enabled_sources
from forecasts.measure.domains import Domain
from forecasts.settings import Settings
from forecasts.storage.store import Store
from jobs.alerts.deliver import Sender, deliver_due, plan
from jobs.http import Http
from jobs.refresh import forecast_pending, run_pull
from jobs.sources.artificial_analysis import ArtificialAnalysis
from jobs.sources.base import Source
from jobs.sources.canonical import CanonicalFeed
from jobs.sources.epoch import EpochHub
from jobs.sources.lmarena import LMArena

FORECAST_EVERY_S = 5  # how soon forecasts follow a refresh (a cheap check when nothing is pending)
ALERTS_EVERY_S = 2  # how often the outbox is planned and due alerts are sent
ALERTS_JOB = "alerts"  # the alert deliverer's job name (`gapcast up` runs it as a part of its own)


@dataclass
class Deps:
    """What jobs need: the store, the domains, an HTTP client and the settings."""

    store: Store
    domains: dict[str, Domain]
    http: Http
    settings: Settings
    sender: Sender | None = None  # alert delivery; None: no alerts job


@dataclass(frozen=True)
class JobSpec:
    """A job: its name (also its lock and its run record), its interval and what it does."""

    name: str
    every_s: int
    description: str
    run: Callable[[Deps], Any]


def build_sources(settings: Settings, store: Store) -> dict[str, Source]:
    """The sources that are on (`enabled_sources`), by id."""
    makers: dict[str, Callable[[], Source]] = {
        "epoch-hub": lambda: EpochHub(settings.epoch_url or ""),
        "artificial-analysis": lambda: ArtificialAnalysis(
            settings.aa_api_key, url=settings.aa_url or "", state=RedisRequestCounter(store, "artificial-analysis")),
        "lmarena": lambda: LMArena(settings.lmarena_url or "", licences_url=settings.lmarena_licences_url),
        "canonical": lambda: CanonicalFeed(settings.canonical_url or ""),
    }
    return {s: makers[s]() for s in enabled_sources(settings)}


def source_interval_s(settings: Settings, source_id: str) -> int:
    """Seconds between pulls of `source_id`."""
    return {"epoch-hub": settings.epoch_every_s, "artificial-analysis": settings.aa_every_s,
            "lmarena": settings.lmarena_every_s, "canonical": settings.canonical_every_s}[source_id]


def job_specs(settings: Settings, sources: dict[str, Source]) -> list[JobSpec]:
    """Every scheduled job: one pull per enabled source, and the forecast job."""
    specs = [_pull_spec(settings, src) for src in sources.values()]
    specs.append(JobSpec("forecast", FORECAST_EVERY_S, "fit the forecasts a refresh left pending",
                         lambda deps: forecast_pending(deps.store, domains=deps.domains)))
    specs.append(JobSpec(ALERTS_JOB, ALERTS_EVERY_S, "plan and send alerts", run_alerts))
    return specs


def run_alerts(deps: Deps) -> dict[str, int]:
    """Plan deliveries from new events, then send what is due."""
    if deps.sender is None:
        return {}
    planned = plan(deps.store, now=deps.sender.clock(), deadline_s=deps.settings.alert_deadline_s)
    return {"planned": planned, **deliver_due(deps.store, deps.sender)}


def _pull_spec(settings: Settings, source: Source) -> JobSpec:
    def run(deps: Deps) -> Any:
        return run_pull(deps.store, deps.domains, source, deps.http, retry_max_s=deps.settings.retry_max_s)
    return JobSpec(f"pull:{source.id}", source_interval_s(settings, source.id), f"pull {source.id}", run)
