"""APScheduler's skipped-run warnings, folded: a job that outlasts its interval gives one INFO line, not a
WARNING every tick (a real BackgroundScheduler, a job that sleeps past its 0.2 s interval)."""

from __future__ import annotations

import logging
import threading
import time
from datetime import UTC

import pytest
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.interval import IntervalTrigger

from jobs.scheduler import SkippedRunFilter, quiet_apscheduler


def test_a_job_outlasting_its_interval_is_said_once_at_info(caplog: pytest.LogCaptureFixture) -> None:
    quiet_apscheduler()
    release = threading.Event()
    sched = BackgroundScheduler(timezone=UTC)
    sched.add_job(lambda: release.wait(10), IntervalTrigger(seconds=0.2, timezone=UTC), id="slow-fit",
                  coalesce=True, max_instances=1)
    with caplog.at_level(logging.INFO, logger="apscheduler"):
        sched.start()
        time.sleep(1.5)  # ~6 turns come while the first run still holds its only instance
        release.set()
        sched.shutdown(wait=True)
    skipped = [r for r in caplog.records if "slow-fit" in r.getMessage()
               and ("still running" in r.getMessage() or "maximum number" in r.getMessage())]
    assert len(skipped) == 1, [r.getMessage() for r in skipped]
    assert skipped[0].levelno == logging.INFO
    assert "its turns fold into the next run" in skipped[0].getMessage()
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING and "slow-fit" in r.getMessage()]


def test_the_filter_speaks_again_after_its_quiet_period() -> None:
    now = [0.0]
    f = SkippedRunFilter(quiet_s=60, clock=lambda: now[0])

    def record() -> logging.LogRecord:
        return logging.LogRecord("apscheduler.scheduler", logging.WARNING, __file__, 1, 'Execution of job "%s" '
                                 "skipped: maximum number of running instances reached (%d)", ("job-a", 1), None)
    assert f.filter(record()) and not f.filter(record())
    now[0] = 61
    assert f.filter(record())
    other = logging.LogRecord("apscheduler.scheduler", logging.WARNING, __file__, 1, "something else", (), None)
    assert f.filter(other) and other.levelno == logging.WARNING
