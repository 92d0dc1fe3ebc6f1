"""A small process supervisor for `gapcast up`: each part of the product (API, scheduler, alert deliverer)
is a child process; their output is one stream with a `[part]` prefix per line; a child that dies is
restarted with exponential backoff; SIGINT/SIGTERM stop every child and nothing is left behind.

Why processes, not threads: gunicorn needs a main thread of its own (it installs signal handlers and
forks workers), and a scheduler job that hangs or leaks must not take the API down with it.

No child is left behind:
- each child starts in its own session (so a terminal's Ctrl-C reaches only the supervisor, which then
  stops the children in order) and its whole process group is signalled, so gunicorn's workers go too;
- each child gets PR_SET_PDEATHSIG=SIGTERM, so a supervisor killed with SIGKILL still takes them down
  (and gunicorn's workers exit when their master does);
- a child that ignores SIGTERM for `stop_timeout_s` gets SIGKILL (its whole group).
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import IO, Any

logger = logging.getLogger(__name__)

BACKOFF_BASE_S = 1.0  # first restart after a quick death; doubles while the part keeps dying young
BACKOFF_MAX_S = 30.0
HEALTHY_AFTER_S = 60.0  # a part that ran this long before dying is restarted at once (its backoff resets)
STOP_TIMEOUT_S = 15.0  # SIGTERM, then SIGKILL: gunicorn's graceful timeout is 10 s
_PR_SET_PDEATHSIG = 1


@dataclass
class Part:
    """One supervised child: its prefix name and its argv."""

    name: str
    argv: list[str]
    proc: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0
    quick_deaths: int = 0  # deaths in a row within HEALTHY_AFTER_S of starting
    restart_at: float | None = None  # monotonic time of the planned restart
    readers: list[threading.Thread] = field(default_factory=list)


class StopFlag:
    """A stop request that a signal handler may set. ``threading.Event.set`` takes the lock that
    ``Event.wait`` holds for a moment after each wake-up: a signal landing there ran a handler that waited
    for its own thread's lock, and `gapcast up` hung forever on a second Ctrl-C or a SIGTERM. Setting a
    bool takes no lock; :meth:`wait` polls it."""

    def __init__(self, poll_s: float = 0.05) -> None:
        self._set = False
        self.poll_s = poll_s

    def set(self) -> None:
        self._set = True

    def is_set(self) -> bool:
        return self._set

    def wait(self, timeout_s: float) -> bool:
        """Sleep until set or ``timeout_s`` seconds have passed; whether it is set."""
        deadline = time.monotonic() + timeout_s
        while not self._set and (left := deadline - time.monotonic()) > 0:
            time.sleep(min(left, self.poll_s))  # a signal interrupts the sleep and its handler runs
        return self._set


def restart_delay_s(quick_deaths: int, base_s: float = BACKOFF_BASE_S, max_s: float = BACKOFF_MAX_S) -> float:
    """Seconds before restarting a part that died young `quick_deaths` times in a row (0: at once)."""
    if quick_deaths <= 0:
        return 0.0
    return float(min(max_s, base_s * 2 ** (quick_deaths - 1)))


class Supervisor:
    """Run `parts` until `stop()` (or SIGINT/SIGTERM when `run(install_signals=True)`).

    `out` receives every child's stdout and stderr lines, prefixed `[name] `, and the supervisor's own
    lines (prefixed `[up] `). `env` is the children's environment. Times are monotonic seconds.
    """

    def __init__(self, parts: Sequence[Part], *, env: dict[str, str] | None = None, out: IO[str] | None = None,
                 backoff_base_s: float = BACKOFF_BASE_S, backoff_max_s: float = BACKOFF_MAX_S,
                 healthy_after_s: float = HEALTHY_AFTER_S, stop_timeout_s: float = STOP_TIMEOUT_S,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.parts = list(parts)
        self.env = env
        self.out = out or sys.stdout
        self.backoff_base_s, self.backoff_max_s = backoff_base_s, backoff_max_s
        self.healthy_after_s = healthy_after_s
        self.stop_timeout_s = stop_timeout_s
        self.clock = clock
        self.restarts: dict[str, int] = {p.name: 0 for p in self.parts}
        self._stop = StopFlag()
        self._write_lock = threading.Lock()
        self._prctl = ctypes.CDLL(None, use_errno=True).prctl if sys.platform.startswith("linux") else None

    # --- output ------------------------------------------------------------------------------------

    def say(self, name: str, line: str) -> None:
        """Write one prefixed line to the shared stream (whole lines only: parts never interleave mid-line)."""
        with self._write_lock:
            self.out.write(f"[{name}] {line}\n")
            self.out.flush()

    def _pump(self, name: str, stream: IO[bytes]) -> None:
        for raw in iter(stream.readline, b""):
            self.say(name, raw.decode("utf-8", errors="replace").rstrip("\r\n"))
        stream.close()

    # --- children -----------------------------------------------------------------------------------

    def _preexec(self) -> Callable[[], None] | None:
        prctl, parent = self._prctl, os.getpid()
        if prctl is None:
            return None

        def preexec() -> None:  # runs in the child between fork and exec: async-signal-safe calls only
            prctl(_PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0)
            if os.getppid() != parent:  # the supervisor died before prctl: no signal would ever come
                os._exit(1)
        return preexec

    def _start(self, part: Part) -> None:
        part.proc = subprocess.Popen(part.argv, env=self.env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, start_new_session=True,
                                     preexec_fn=self._preexec())  # prctl only: see _preexec
        part.started_at, part.restart_at = self.clock(), None
        assert part.proc.stdout is not None and part.proc.stderr is not None
        part.readers = [threading.Thread(target=self._pump, args=(part.name, s), daemon=True,
                                         name=f"up-{part.name}") for s in (part.proc.stdout, part.proc.stderr)]
        for t in part.readers:
            t.start()

    def _reap(self, part: Part) -> None:
        """Called when `part` exited on its own: log once and plan its restart with backoff."""
        assert part.proc is not None
        code = part.proc.returncode
        for t in part.readers:  # its last lines (a traceback) come before ours
            t.join(timeout=2)
        lived = self.clock() - part.started_at
        part.quick_deaths = part.quick_deaths + 1 if lived < self.healthy_after_s else 0
        delay = restart_delay_s(part.quick_deaths, self.backoff_base_s, self.backoff_max_s)
        part.restart_at = self.clock() + delay
        part.proc = None
        self.say("up", f"{part.name} exited ({_exit_reason(code)}) after {lived:.1f} s; restarting "
                 + (f"in {delay:.0f} s" if delay else "now"))

    def _signal_group(self, part: Part, sig: signal.Signals) -> None:
        if part.proc is None:
            return
        with contextlib.suppress(ProcessLookupError):  # the group is gone already
            os.killpg(part.proc.pid, sig)

    def _stop_all(self) -> None:
        """SIGTERM every running part's process group, wait up to stop_timeout_s, then SIGKILL the rest."""
        for part in self.parts:
            self._signal_group(part, signal.SIGTERM)
        deadline = self.clock() + self.stop_timeout_s
        for part in self.parts:
            if part.proc is None:
                continue
            try:
                part.proc.wait(timeout=max(0.0, deadline - self.clock()))
            except subprocess.TimeoutExpired:
                self.say("up", f"{part.name} did not stop in {self.stop_timeout_s:.0f} s: killing it")
                self._signal_group(part, signal.SIGKILL)
                part.proc.wait()
            # the group may outlive its leader (a gunicorn worker still closing): make sure it is gone
            self._signal_group(part, signal.SIGKILL)
            for t in part.readers:
                t.join(timeout=2)
            if part.proc.returncode != 0:  # a clean stop says nothing; anything else is worth a line
                self.say("up", f"{part.name} stopped ({_exit_reason(part.proc.returncode)})")

    # --- main loop ----------------------------------------------------------------------------------

    def stop(self) -> None:
        """Ask `run` to stop every part and return (thread- and signal-handler-safe)."""
        self._stop.set()

    def run(self, *, install_signals: bool = True, poll_s: float = 0.2) -> int:
        """Start every part, keep them running until stopped, stop them; returns 0."""
        previous: dict[signal.Signals, Any] = {}
        if install_signals:
            for signum in (signal.SIGINT, signal.SIGTERM):
                previous[signum] = signal.signal(signum, lambda *_: self._stop.set())
        try:
            for part in self.parts:
                self._start(part)
            while not self._stop.wait(poll_s):
                now = self.clock()
                for part in self.parts:
                    if part.proc is not None and part.proc.poll() is not None:
                        self._reap(part)
                    if part.proc is None and part.restart_at is not None and now >= part.restart_at:
                        self.restarts[part.name] += 1
                        self._start(part)
        finally:
            self._stop_all()
            for signum, handler in previous.items():
                signal.signal(signum, handler)
        return 0


def _exit_reason(code: int | None) -> str:
    if code is not None and code < 0:
        try:
            return f"signal {signal.Signals(-code).name}"
        except ValueError:
            return f"signal {-code}"
    return f"code {code}"
