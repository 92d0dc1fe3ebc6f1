"""The scheduler process (`gapcast scheduler`): APScheduler 3 running the jobs of jobs/schedule.py.

Run it in its own process, never inside gunicorn workers. Replicas are safe: every run holds a Redis
lease (`lock:job:<name>`), and a run is skipped when another replica finished the same job within its
interval (`job:<name>` in Redis), so each job runs once per interval however many schedulers there are.
Missed runs coalesce into one; a failed pull is retried with exponential backoff before its next turn.

Retries live in Redis (`retry_at` in `job:<name>`), not only in APScheduler's in-memory job store: a
scheduler started later (a restart, another replica) plans the pending retry at its due time, and a
regular run is not skipped as "ran recently" once a retry is due. A run that meets Redis down (or a
commit its replicas did not confirm) is one WARNING line, not a traceback, and is retried after
`REDIS_RETRY_S` (planned in memory: Redis is what failed).
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import redis
from apscheduler.jobstores.base import JobLookupError
from apscheduler.schedulers.base import BaseScheduler
from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.date import DateTrigger
from apscheduler.triggers.interval import IntervalTrigger

from forecasts.storage import keys
from forecasts.storage.store import StoreError
from jobs.lock import Lease
from jobs.refresh import PullOutcome
from jobs.schedule import Deps, JobSpec

logger = logging.getLogger(__name__)

RAN_RECENTLY_SHARE = 0.9  # a run within 90% of the interval on another replica counts as this interval's run
REDIS_RETRY_S = 30  # a run that failed on Redis itself is retried this soon (Redis restarts or fails over)


def utcnow() -> datetime:
    return datetime.now(UTC)


class JobRunner:
    """Runs one job under its lease, once per interval across replicas, and plans retries of failed pulls.

    `plan_retry(spec, at)` asks the scheduler to run `spec` again at `at` (aware UTC); `cancel_retry(spec)`
    drops such a plan once a run succeeded.
    """

    def __init__(self, deps: Deps, *, now: Callable[[], datetime] = utcnow,
                 plan_retry: Callable[[JobSpec, datetime], None] | None = None,
                 cancel_retry: Callable[[JobSpec], None] | None = None) -> None:
        self.deps = deps
        self.now = now
        self.plan_retry = plan_retry
        self.cancel_retry = cancel_retry

    def run(self, spec: JobSpec, *, retry: bool = False) -> str:
        """Run `spec` if this replica should; returns what happened (`ran`, `skipped: ...`, `failed: ...`)."""
        r = self.deps.store.r
        try:
            with Lease(r, f"job:{spec.name}", self.deps.settings.job_lease_s) as held:
                if not held:
                    return "skipped: running on another replica"
                state = _job_state(r, spec.name)
                if retry and _retry_done(state):
                    return "skipped: retried on another replica"
                due = _parse(state.get("retry_at"))
                if retry and due is not None and due > self.now():  # another replica failed it again since
                    if self.plan_retry:
                        self.plan_retry(spec, due)
                    return f"skipped: retry moved to {due.isoformat()}"
                if not retry and self._ran_recently(spec, state) and not self._retry_due(state):
                    return "skipped: ran recently on another replica"
                r.hset(keys.job_runs(spec.name), "last_started_at", self.now().isoformat())
                outcome = spec.run(self.deps)
                retry_at = _retry_at(outcome)
                r.hset(keys.job_runs(spec.name), mapping={
                    "last_finished_at": self.now().isoformat(), "last_outcome": _describe(outcome),
                    "retry_at": retry_at.isoformat() if retry_at else ""})
        except (redis.RedisError, StoreError) as exc:  # Redis down, failing over, or a commit not replicated
            at = self.now() + timedelta(seconds=REDIS_RETRY_S)
            planned = self.plan_retry is not None and spec.every_s > REDIS_RETRY_S  # frequent jobs run again soon
            logger.warning("job %s failed on Redis (%s: %s); %s", spec.name, type(exc).__name__, exc,
                           f"retrying at {at.isoformat()}" if planned else "the next run retries")
            if planned and self.plan_retry is not None:
                self.plan_retry(spec, at)
            return f"failed: {type(exc).__name__}"
        except Exception as exc:  # a job failure must never stop the scheduler; the next run starts over
            logger.exception("job %s failed", spec.name)
            return f"failed: {type(exc).__name__}"
        if retry_at and self.plan_retry:
            self.plan_retry(spec, retry_at)
        elif not retry_at and self.cancel_retry:
            self.cancel_retry(spec)
        return "ran"

    def pending_retry(self, spec: JobSpec) -> datetime | None:
        """The retry of `spec` recorded in Redis and not yet done (a previous scheduler planned it), or None."""
        state = _job_state(self.deps.store.r, spec.name)
        return None if _retry_done(state) else _parse(state.get("retry_at"))

    def _ran_recently(self, spec: JobSpec, state: dict[str, str]) -> bool:
        last = _parse(state.get("last_finished_at"))
        return last is not None and self.now() - last < timedelta(seconds=spec.every_s * RAN_RECENTLY_SHARE)

    def _retry_due(self, state: dict[str, str]) -> bool:
        due = _parse(state.get("retry_at"))
        return due is not None and due <= self.now() and not _retry_done(state)


def build(deps: Deps, specs: list[JobSpec], scheduler: BaseScheduler | None = None, *,
          now: Callable[[], datetime] = utcnow) -> BaseScheduler:
    """An APScheduler with every job of `specs` (first runs start now) and the retries a previous scheduler
    left in Redis (at their due time), ready to `start()`. Redis errors reading those retries propagate."""
    sched = scheduler or BlockingScheduler(timezone=UTC)

    def plan_retry(spec: JobSpec, at: datetime) -> None:
        sched.add_job(runner.run, DateTrigger(run_date=at), args=[spec], kwargs={"retry": True},
                      id=f"retry:{spec.name}", replace_existing=True, misfire_grace_time=None)

    def cancel_retry(spec: JobSpec) -> None:
        with contextlib.suppress(JobLookupError):  # none planned
            sched.remove_job(f"retry:{spec.name}")

    runner = JobRunner(deps, now=now, plan_retry=plan_retry, cancel_retry=cancel_retry)
    start = now()
    for spec in specs:
        sched.add_job(runner.run, IntervalTrigger(seconds=spec.every_s, timezone=UTC), args=[spec], id=spec.name,
                      name=spec.description, coalesce=True, max_instances=1,
                      misfire_grace_time=max(30, spec.every_s // 2), next_run_time=utcnow())
        due = runner.pending_retry(spec)
        if due is not None and due > start:  # an overdue one is the first regular run, which starts now
            plan_retry(spec, due)
            logger.info("job %s: retry left by a previous scheduler planned at %s", spec.name, due.isoformat())
    return sched


class SkippedRunFilter(logging.Filter):
    """APScheduler logs a WARNING each time a job's turn comes while its previous run still goes on
    ("maximum number of running instances reached"), and each time a run starts late ("was missed by").
    A fit or a pull that outlasts its interval is normal here (coalesce=True, max_instances=1: the skipped
    turns simply fold into the next one), so each job gets one INFO line saying so, then silence for
    `quiet_s` seconds (monotonic `clock`)."""

    MESSAGES = ("maximum number of running instances reached", "was missed by")

    def __init__(self, quiet_s: float = 600.0, clock: Callable[[], float] | None = None) -> None:
        super().__init__()
        self.quiet_s = quiet_s
        self.clock = clock or time.monotonic
        self._last: dict[str, float] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        msg = str(record.msg)
        if not any(m in msg for m in self.MESSAGES) or not record.args:
            return True
        job = record.args[0] if isinstance(record.args, tuple) else None
        name = str(getattr(job, "id", None) or job)
        now = self.clock()
        if now - self._last.get(name, -self.quiet_s) < self.quiet_s:
            return False
        self._last[name] = now
        record.levelno, record.levelname = logging.INFO, "INFO"
        kind = "still running" if "maximum" in msg else "started late"
        record.msg = f"job %s {kind}: its turns fold into the next run (said once per {self.quiet_s:.0f} s)"
        record.args = (name,)
        return True


def quiet_apscheduler() -> None:
    """APScheduler at WARNING (its per-run INFO lines are noise: ours say what changed), with the
    repeated skipped-run warnings folded into one INFO line per job (SkippedRunFilter)."""
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    skipped = SkippedRunFilter()
    for name in ("apscheduler.scheduler", "apscheduler.executors.default"):
        lg = logging.getLogger(name)
        if not any(isinstance(f, SkippedRunFilter) for f in lg.filters):
            lg.addFilter(skipped)  # filters run after the level check: the demoted line is still shown


def _job_state(r: redis.Redis, job: str) -> dict[str, str]:
    raw = r.hgetall(keys.job_runs(job))
    return {_text(k): _text(v) for k, v in raw.items()}


def _retry_done(state: dict[str, str]) -> bool:
    """True when the recorded retry was already run: a run started at or after its due time."""
    due, started = _parse(state.get("retry_at")), _parse(state.get("last_started_at"))
    return due is not None and started is not None and started >= due


def _retry_at(outcome: Any) -> datetime | None:
    if isinstance(outcome, PullOutcome) and not outcome.ok and outcome.retry_at:
        return outcome.retry_at
    return None


def _parse(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _text(v: bytes | str) -> str:
    return v.decode() if isinstance(v, bytes) else v


def _describe(outcome: Any) -> str:
    if isinstance(outcome, PullOutcome):
        return "ok" if outcome.ok else f"failed: {outcome.error}"
    return f"ok ({outcome})"
