"""gapcast/supervise.py with real child processes: prefixed output, restart with backoff, and no process
left behind (grandchildren, a child that ignores SIGTERM, a supervisor killed with SIGKILL)."""

from __future__ import annotations

import io
import itertools
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from gapcast.supervise import Part, StopFlag, Supervisor, restart_delay_s

PY = sys.executable


def alive(pid: int) -> bool:
    """True while `pid` exists and is not a zombie."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def wait_for(check: Callable[[], bool], timeout_s: float = 20, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.05)
    raise AssertionError(f"{what} not met in {timeout_s} s")


def pids_in(path: Path) -> list[int]:
    """The pids a child wrote, one per line (each line written whole, then flushed)."""
    try:
        return [int(x) for x in path.read_text().split()]
    except FileNotFoundError:
        return []


@pytest.fixture()
def running() -> Iterator[Callable[[Supervisor], threading.Thread]]:
    """Run a supervisor in a thread (no signal handlers: not the main thread); stop and join it after."""
    started: list[tuple[Supervisor, threading.Thread]] = []

    def start(sup: Supervisor) -> threading.Thread:
        t = threading.Thread(target=sup.run, kwargs={"install_signals": False, "poll_s": 0.05}, daemon=True)
        t.start()
        started.append((sup, t))
        return t
    yield start
    for sup, t in started:
        sup.stop()
        t.join(timeout=30)


def test_restart_delay_doubles_up_to_the_cap() -> None:
    assert [restart_delay_s(n, 1, 30) for n in range(7)] == [0, 1, 2, 4, 8, 16, 30]


def test_each_line_is_prefixed_with_its_part(running: Callable[[Supervisor], threading.Thread]) -> None:
    out = io.StringIO()
    code = "import sys; print('hello from {0}'); print('to stderr', file=sys.stderr); import time; time.sleep(60)"
    sup = Supervisor([Part("api", [PY, "-c", code.format("api")]), Part("deliver", [PY, "-c", code.format("d")])],
                     out=out)
    running(sup)
    wait_for(lambda: out.getvalue().count("\n") >= 4, what="four lines")
    lines = set(out.getvalue().splitlines())
    assert {"[api] hello from api", "[api] to stderr", "[deliver] hello from d", "[deliver] to stderr"} <= lines


def test_a_part_that_dies_is_restarted_with_backoff(tmp_path: Path,
                                                    running: Callable[[Supervisor], threading.Thread]) -> None:
    starts = tmp_path / "starts"
    # Each start appends its time; the part dies at once (a crash loop).
    code = f"import time; open({str(starts)!r}, 'a').write(f'{{time.monotonic()}}\\n'); raise SystemExit(3)"
    out = io.StringIO()
    sup = Supervisor([Part("scheduler", [PY, "-c", code])], out=out, backoff_base_s=0.4, backoff_max_s=1.6)
    running(sup)
    wait_for(lambda: len(starts.read_text().split()) >= 5 if starts.exists() else False, what="five starts")
    times = [float(x) for x in starts.read_text().split()]
    gaps = [b - a for a, b in itertools.pairwise(times)]
    # backoff 0.4, 0.8, 1.6, 1.6 s (plus the start-up time of each python)
    assert gaps[0] >= 0.4 and gaps[1] >= 0.8 and gaps[2] >= 1.6 and gaps[3] >= 1.6, gaps
    assert gaps[3] < 1.6 + 5, gaps  # the cap holds
    assert "[up] scheduler exited (code 3)" in out.getvalue() and "restarting in" in out.getvalue()
    assert sup.restarts["scheduler"] >= 4


def test_stop_ends_every_child_and_grandchild_even_one_ignoring_sigterm(
        tmp_path: Path, running: Callable[[Supervisor], threading.Thread]) -> None:
    pids = tmp_path / "pids"
    # The child starts a grandchild (as gunicorn starts workers), writes both pids, and ignores SIGTERM.
    code = ("import os, signal, subprocess, sys, time\n"
            "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
            "g = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(120)'])\n"
            f"with open({str(pids)!r}, 'w') as f: f.write(f'{{os.getpid()}} {{g.pid}}\\n')\n"
            "time.sleep(120)\n")
    sup = Supervisor([Part("api", [PY, "-c", code])], out=io.StringIO(), stop_timeout_s=1.0)
    thread = running(sup)
    wait_for(lambda: len(pids_in(pids)) == 2, what="child and grandchild pids")
    child, grandchild = pids_in(pids)
    assert alive(child) and alive(grandchild)
    sup.stop()
    thread.join(timeout=20)
    assert not thread.is_alive()
    wait_for(lambda: not alive(child) and not alive(grandchild), timeout_s=10, what="no survivor")


def test_a_supervisor_killed_with_sigkill_leaves_no_child(tmp_path: Path) -> None:
    pids = tmp_path / "pids"
    child_code = f"import os, time; open({str(pids)!r}, 'a').write(f'{{os.getpid()}}\\n'); time.sleep(120)"
    sup_code = ("import sys\n"
                "from gapcast.supervise import Part, Supervisor\n"
                f"Supervisor([Part('a', [sys.executable, '-c', {child_code!r}]),"
                f" Part('b', [sys.executable, '-c', {child_code!r}])]).run()\n")
    sup = subprocess.Popen([PY, "-c", sup_code], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: len(pids_in(pids)) == 2, what="both children started")
        children = pids_in(pids)
        assert all(alive(p) for p in children)
        sup.kill()
        sup.wait(timeout=10)
        wait_for(lambda: not any(alive(p) for p in children), timeout_s=10, what="children gone after SIGKILL")
    finally:
        if sup.poll() is None:
            sup.kill()
        for p in pids_in(pids):
            if alive(p):
                os.kill(p, signal.SIGKILL)


def test_a_burst_of_signals_never_deadlocks_the_stop() -> None:
    """Ctrl-C pressed twice, or SIGTERM after SIGINT: a handler that took a lock (threading.Event.set) could
    interrupt the main thread while it held that very lock inside Event.wait, and `gapcast up` hung forever.
    A helper thread signals the process every 0.1 ms while it runs and stops 50,000 supervisors, each
    polling as fast as it can. With Event, 1 run in 3 of this test ended in nested handlers and a
    RecursionError (a signal storm with no sleep hung every time, but starves the fixed loop too)."""
    code = ("import os, signal, threading, time\n"
            "from gapcast.supervise import Supervisor\n"
            "signal.signal(signal.SIGTERM, signal.SIG_IGN)  # between runs, run() restores this\n"
            "done = False\n"
            "def blast():\n"
            "    while not done:\n"
            "        os.kill(os.getpid(), signal.SIGTERM)\n"
            "        time.sleep(0.0001)\n"
            "threading.Thread(target=blast, daemon=True).start()\n"
            "for _ in range(50_000):\n"
            "    Supervisor([]).run(poll_s=1e-6)\n"
            "done = True\n"
            "print('stopped', flush=True)\n")
    proc = subprocess.Popen([PY, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        out, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0 and out.strip() == b"stopped", out[-2000:]


def test_the_stop_flag_wakes_a_wait_and_times_out() -> None:
    flag = StopFlag(poll_s=0.01)
    t0 = time.monotonic()
    assert flag.wait(0.05) is False and time.monotonic() - t0 >= 0.05
    threading.Timer(0.05, flag.set).start()
    assert flag.wait(5.0) is True and flag.is_set()
