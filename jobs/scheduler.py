"""The scheduler process (`gapcast scheduler`): APScheduler 3 running the jobs of jobs/schedule.py.

Run it in its own process, never inside gunicorn workers. Replicas are safe: every run holds a Redis
lease (`lock:job:<name>`), and a run is skipped when another replica finished the same job within its
interval (`job:<name>` in Redis), so each job runs once per interval however many schedulers there are.
Missed runs coalesce into one; a failed pull is retried with exponential backoff before its next turn.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from apscheduler.schedulers.base import BaseScheduler
from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.date import DateTrigger
from apscheduler.triggers.interval import IntervalTrigger

from forecasts import keys
from jobs.lock import Lease
from jobs.refresh import PullOutcome
from jobs.schedule import Deps, JobSpec

logger = logging.getLogger(__name__)

RAN_RECENTLY_SHARE = 0.9  # a run within 90% of the interval on another replica counts as this interval's run


def utcnow() -> datetime:
    return datetime.now(UTC)


class JobRunner:
    """Runs one job under its lease, once per interval across replicas, and plans retries of failed pulls."""

    def __init__(self, deps: Deps, *, now: Callable[[], datetime] = utcnow,
                 plan_retry: Callable[[JobSpec, datetime], None] | None = None) -> None:
        self.deps = deps
        self.now = now
        self.plan_retry = plan_retry

    def run(self, spec: JobSpec, *, retry: bool = False) -> str:
        """Run `spec` if this replica should; returns what happened (`ran`, `skipped: ...`, `failed: ...`)."""
        r = self.deps.store.r
        try:
            with Lease(r, f"job:{spec.name}", self.deps.settings.job_lease_s) as held:
                if not held:
                    return "skipped: running on another replica"
                if not retry and self._ran_recently(spec):
                    return "skipped: ran recently on another replica"
                r.hset(keys.job_runs(spec.name), "last_started_at", self.now().isoformat())
                outcome = spec.run(self.deps)
                r.hset(keys.job_runs(spec.name), mapping={"last_finished_at": self.now().isoformat(),
                                                           "last_outcome": _describe(outcome)})
        except Exception as exc:  # a job failure must never stop the scheduler; the next run starts over
            logger.exception("job %s failed", spec.name)
            return f"failed: {type(exc).__name__}"
        if isinstance(outcome, PullOutcome) and not outcome.ok and outcome.retry_at and self.plan_retry:
            self.plan_retry(spec, outcome.retry_at)
        return "ran"

    def _ran_recently(self, spec: JobSpec) -> bool:
        last = self.deps.store.r.hget(keys.job_runs(spec.name), "last_finished_at")
        if not last:
            return False
        since = self.now() - datetime.fromisoformat(last.decode() if isinstance(last, bytes) else last)
        return since < timedelta(seconds=spec.every_s * RAN_RECENTLY_SHARE)


def build(deps: Deps, specs: list[JobSpec], scheduler: BaseScheduler | None = None) -> BaseScheduler:
    """An APScheduler with every job of `specs` (first runs start now), ready to `start()`."""
    sched = scheduler or BlockingScheduler(timezone=UTC)

    def plan_retry(spec: JobSpec, at: datetime) -> None:
        sched.add_job(runner.run, DateTrigger(run_date=at), args=[spec], kwargs={"retry": True},
                      id=f"retry:{spec.name}", replace_existing=True, misfire_grace_time=None)

    runner = JobRunner(deps, plan_retry=plan_retry)
    for spec in specs:
        sched.add_job(runner.run, IntervalTrigger(seconds=spec.every_s, timezone=UTC), args=[spec], id=spec.name,
                      name=spec.description, coalesce=True, max_instances=1,
                      misfire_grace_time=max(30, spec.every_s // 2), next_run_time=utcnow())
    return sched


def _describe(outcome: Any) -> str:
    if isinstance(outcome, PullOutcome):
        return "ok" if outcome.ok else f"failed: {outcome.error}"
    return f"ok ({outcome})"
