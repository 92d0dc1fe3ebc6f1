"""A process pool whose individual tasks can time out: the late worker is killed and replaced.

``multiprocessing.Pool`` and ``ProcessPoolExecutor`` cannot kill one stuck task, and a prophet fit can hang
inside its cmdstan subprocess. Here every worker is its own process-group leader, so a timeout kills the
worker *and* its cmdstan child, and the pool starts a fresh worker for the remaining tasks.

Workers start with ``forkserver`` where available (``spawn`` elsewhere), never ``fork``: the caller may be a
threaded server or scheduler. Nothing starts at import time; a pool starts its workers lazily on first use.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing as mp
import os
import signal
import time
from collections import deque
from collections.abc import Callable, Hashable, Iterator, Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from typing import Any

logger = logging.getLogger(__name__)

#: How long a new worker may take to import its libraries before it counts as broken (seconds).
STARTUP_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class Task:
    """``fn(*args)`` to run in a worker; ``fn`` must be a module-level (picklable) function."""

    key: Hashable
    fn: Callable[..., Any]
    args: tuple[Any, ...]


@dataclass(frozen=True)
class Outcome:
    """What became of a task: ``status`` is ``ok`` (``value`` set), ``timeout`` or ``error`` (``error`` set)."""

    key: Hashable
    status: str
    value: Any = None
    error: str | None = None
    elapsed_s: float = 0.0


def _worker_main(conn: Connection, initializer: Callable[[], None] | None) -> None:
    """Worker loop: become a process-group leader, initialise, then run tasks until told to stop."""
    if hasattr(os, "setsid"):
        os.setsid()  # so that a kill reaches our subprocesses (cmdstan) too
    if initializer is not None:
        initializer()
    conn.send(("ready", None))
    while True:
        try:
            message = conn.recv()
        except EOFError:
            return
        if message is None:
            return
        fn, args = message
        try:
            conn.send(("ok", fn(*args)))
        except Exception as exc:
            conn.send(("error", f"{type(exc).__name__}: {exc}"))


class _Worker:
    def __init__(self, ctx: Any, initializer: Callable[[], None] | None) -> None:
        self.conn, child = ctx.Pipe()
        self.process = ctx.Process(target=_worker_main, args=(child, initializer), daemon=True)
        self.process.start()
        child.close()
        self.ready = False
        self.task: Task | None = None
        self.deadline = time.monotonic() + STARTUP_TIMEOUT_S
        self.started_task = 0.0

    def kill(self) -> None:
        """Kill the worker and everything in its process group; wait for it."""
        pid = self.process.pid
        if pid is not None and hasattr(os, "killpg"):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, signal.SIGKILL)
        self.process.kill()
        self.process.join(timeout=5)
        self.conn.close()

    def stop(self) -> None:
        with contextlib.suppress(OSError, BrokenPipeError):
            self.conn.send(None)
        self.process.join(timeout=2)
        if self.process.is_alive():
            self.kill()
        else:
            self.conn.close()


class KillablePool:
    """``workers`` processes (default ``os.cpu_count()``) running tasks under a per-task timeout.

    Reusable across :meth:`run` calls (keeps warm workers); use as a context manager or call :meth:`close`.
    ``initializer`` runs once per worker, before its first task and outside any task's timeout.
    """

    def __init__(
        self,
        workers: int | None = None,
        *,
        initializer: Callable[[], None] | None = None,
        start_method: str | None = None,
    ) -> None:
        if workers is not None and workers < 1:
            raise ValueError(f"workers must be >= 1, got {workers!r}")
        self.size = workers or os.cpu_count() or 1
        self._initializer = initializer
        methods = mp.get_all_start_methods()
        self._ctx = mp.get_context(start_method or ("forkserver" if "forkserver" in methods else "spawn"))
        self._workers: list[_Worker] = []
        self._startup_failures = 0

    def __enter__(self) -> KillablePool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop every worker (killing any that does not stop within 2 s)."""
        for worker in self._workers:
            worker.stop()
        self._workers = []

    def _spawn(self) -> _Worker:
        worker = _Worker(self._ctx, self._initializer)
        self._workers.append(worker)
        return worker

    def _replace(self, worker: _Worker) -> None:
        worker.kill()
        self._workers.remove(worker)

    def run(
        self,
        tasks: Sequence[Task],
        timeout_s: float,
        skip: Callable[[Hashable], bool] | None = None,
    ) -> Iterator[Outcome]:
        """Run ``tasks`` and yield one :class:`Outcome` per task as each finishes, in completion order.

        A task running longer than ``timeout_s`` seconds yields ``timeout`` and its worker is killed and
        replaced. A task whose key ``skip`` accepts when its turn comes is not run and yields nothing.
        Never raises for a failing task: a raising task yields ``error``, a dying worker too.
        """
        queue = deque(tasks)
        self._startup_failures = 0
        while len(self._workers) < min(self.size, len(queue)):
            self._spawn()
        try:
            while queue or self._busy():
                if self._startup_failures > 2 * self.size:
                    # Workers cannot even start (broken install?): fail what is left instead of looping.
                    while queue:
                        yield Outcome(queue.popleft().key, "error", error="forecast workers fail to start")
                    break
                self._dispatch(queue, timeout_s, skip)
                if not queue and not self._busy():
                    break
                yield from self._collect()
                yield from self._expire()
        finally:
            for worker in [w for w in self._workers if w.task is not None]:
                self._replace(worker)  # abandoned mid-run: do not leave a stale result in a pipe

    def _busy(self) -> bool:
        return any(w.task is not None for w in self._workers)

    def _dispatch(self, queue: deque[Task], timeout_s: float, skip: Callable[[Hashable], bool] | None) -> None:
        for worker in self._workers:
            if not worker.ready or worker.task is not None:
                continue
            while queue and skip is not None and skip(queue[0].key):
                queue.popleft()
            if not queue:
                return
            task = queue.popleft()
            try:
                worker.conn.send((task.fn, task.args))
            except (BrokenPipeError, OSError):  # died while idle: retry the task on a fresh worker
                queue.appendleft(task)
                self._replace(worker)
                self._spawn()
                return
            worker.task = task
            worker.started_task = time.monotonic()
            worker.deadline = worker.started_task + timeout_s

    def _collect(self) -> Iterator[Outcome]:
        deadline = min((w.deadline for w in self._workers), default=time.monotonic())
        # Wake at least once a second whatever the deadlines say (a cheap guard against an infinite wait).
        timeout = min(max(0.0, deadline - time.monotonic()), 1.0)
        ready = wait([w.conn for w in self._workers], timeout=timeout)
        for worker in [w for w in self._workers if w.conn in ready]:
            task = worker.task
            try:
                kind, value = worker.conn.recv()
            except (EOFError, OSError):
                logger.warning("forecast worker %s died", worker.process.pid)
                self._startup_failures += not worker.ready
                self._replace(worker)
                self._spawn()
                if task is not None:
                    yield Outcome(task.key, "error", error="the worker process died")
                continue
            if kind == "ready":
                worker.ready = True
                worker.deadline = float("inf")
                continue
            worker.task = None
            worker.deadline = float("inf")
            if task is not None:
                elapsed = time.monotonic() - worker.started_task
                if kind == "ok":
                    yield Outcome(task.key, "ok", value=value, elapsed_s=elapsed)
                else:
                    yield Outcome(task.key, "error", error=str(value), elapsed_s=elapsed)

    def _expire(self) -> Iterator[Outcome]:
        now = time.monotonic()
        for worker in [w for w in self._workers if w.deadline <= now]:
            task = worker.task
            self._startup_failures += not worker.ready
            self._replace(worker)
            self._spawn()
            if task is not None:
                logger.warning("task %r timed out; worker %s killed", task.key, worker.process.pid)
                yield Outcome(task.key, "timeout", error="timed out", elapsed_s=now - worker.started_task)
            else:
                logger.error("forecast worker %s did not start within %.0f s", worker.process.pid,
                             STARTUP_TIMEOUT_S)
