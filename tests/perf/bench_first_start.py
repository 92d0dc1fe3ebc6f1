"""Perf figures for a first start (prints figures, asserts nothing about time).

    python tests/perf/bench_first_start.py [--repeat N] [--port P]

Each run starts from a fresh, empty data folder (so the embedded Redis starts, the bundled snapshot is
loaded and the shipped forecasts are installed) and measures, in the same run:

- the baseline: a bare `gapcast load` (a process that starts Redis, loads the bundled snapshot and installs
  the shipped forecasts, then exits);
- `gapcast up --workers 1`: from the spawn to the first 200 of `/readyz`, and to the first `/readyz` that
  says `forecasts_pending: 0` (every forecast served, nothing fitted: the shipped ones match);
- `GET /v1/domains` right after: every domain has a forecast, none "pending".

Figures are medians over `--repeat` runs, with the ratio of up-to-ready to the bare load (these machines are
shared and noisy). Target (issue 13): ready <= 10 s on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

POLL_S = 0.05
TIMEOUT_S = 120.0


def gapcast(*args: str) -> list[str]:
    return [sys.executable, "-m", "gapcast", *args]


def fresh_env(data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GAPCAST_")}
    env["GAPCAST_DATA_DIR"] = str(data_dir)
    return env


def bare_load() -> float:
    with tempfile.TemporaryDirectory(prefix="gapcast-first-") as tmp:
        started = time.perf_counter()
        done = subprocess.run(gapcast("load"), env=fresh_env(Path(tmp) / "data"), capture_output=True, text=True,
                              timeout=TIMEOUT_S)
        took = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"gapcast load failed: {done.stderr[-2000:]}")
    return took


def get(url: str) -> tuple[int, dict[str, Any]]:
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, {}
    except (urllib.error.URLError, ConnectionError, TimeoutError, json.JSONDecodeError):
        return 0, {}


def first_up(port: int) -> dict[str, Any]:
    """One `gapcast up` from an empty data folder: seconds to ready, to no pending forecast, and the check."""
    with tempfile.TemporaryDirectory(prefix="gapcast-first-") as tmp:
        base = f"http://127.0.0.1:{port}"
        started = time.perf_counter()
        proc = subprocess.Popen(gapcast("up", "--port", str(port), "--workers", "1"),
                                env=fresh_env(Path(tmp) / "data"), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                text=True, start_new_session=True)
        ready = complete = None
        body: dict[str, Any] = {}
        try:
            while time.perf_counter() - started < TIMEOUT_S and proc.poll() is None:
                status, body = get(f"{base}/readyz")
                if status == 200 and ready is None:
                    ready = time.perf_counter() - started
                if status == 200 and body.get("forecasts_pending") == 0:
                    complete = time.perf_counter() - started
                    break
                time.sleep(POLL_S)
            _, domains = get(f"{base}/v1/domains")
            pending = [d["domain"] for d in domains.get("domains", []) if d.get("forecast_status") == "pending"]
        finally:
            os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C does: up stops its parts and its Redis
            try:
                out, _ = proc.communicate(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                out, _ = proc.communicate()
        if ready is None:
            raise SystemExit(f"gapcast up was not ready within {TIMEOUT_S:.0f} s; its output:\n{out[-3000:]}")
        fitted = [line for line in out.splitlines()
                  if "will be fitted" in line or ("forecast " in line and " series in " in line)]
        return {"ready_s": ready, "complete_s": complete, "pending_domains": pending, "fit_lines": fitted,
                "data_age_days": body.get("data_age_days"), "stale": body.get("stale")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--port", type=int, default=8731)
    args = parser.parse_args()
    loads, ups = [], []
    for _ in range(args.repeat):  # interleaved, so a burst of load on the machine hits both sides alike
        loads.append(bare_load())
        ups.append(first_up(args.port))
    load_s = statistics.median(loads)
    ready_s = statistics.median(u["ready_s"] for u in ups)
    complete = [u["complete_s"] for u in ups if u["complete_s"] is not None]
    print(f"bare `gapcast load` on a fresh data folder: {load_s:.2f} s median of {len(loads)} "
          f"({', '.join(f'{x:.2f}' for x in loads)})")
    each = ", ".join(f"{u['ready_s']:.2f}" for u in ups)
    print(f"`gapcast up` from a fresh data folder to /readyz 200: {ready_s:.2f} s median of {len(ups)} "
          f"({each}); ratio to the bare load {ready_s / load_s:.2f}x "
          f"(target <= 10 s)")
    if complete:
        print(f"... to /readyz forecasts_pending 0 (every forecast served): {statistics.median(complete):.2f} s "
              f"median of {len(complete)}")
    else:
        print("... forecasts were still pending when the runs ended")
    last = ups[-1]
    print(f"domains without a forecast right after: {last['pending_domains'] or 'none'}; fits reported by up: "
          f"{last['fit_lines'] or 'none'}; /readyz data_age_days {last['data_age_days']}, stale {last['stale']}")
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
