"""Perf figures for forecasting the bundled data through the store (prints figures, asserts nothing about time).

    /work/venv/bin/python tests/perf/bench_rebuild.py [--workers N]

Loads the bundled snapshot into a private redis-server in a temporary folder, then measures: one domain
(cold: worker pool start-up included), a full rebuild of every series, the share of worker and wall time spent
inside prophet, the no-refit check (nothing pending after the rebuild, after reloading the same snapshot, nor
after `ingest.rebuild` forces a new generation) and the published models and statuses of the stored documents.
Target: full rebuild < 60 s on 2 cores.

The engine is instrumented from here, without changing library code: `outlook.forecast_pool` and
`outlook.forecast_many` are wrapped to sum each task's worker time and keep the returned forecasts.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Hashable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis

from forecasts import outlook
from forecasts.domains import load_domains
from forecasts.forecasting import forecast_many
from forecasts.ingest import load_snapshot, rebuild
from forecasts.prophet_model import warm_up
from forecasts.published import Forecast
from forecasts.redis_server import EmbeddedRedis
from forecasts.snapshot import bundled_bytes
from forecasts.store import Store
from forecasts.workers import KillablePool, Outcome, Task

TARGET_REBUILD_S = 60.0
COMMAND = "/work/venv/bin/python tests/perf/bench_rebuild.py"


@dataclass
class Recorder:
    """What the instrumented engine saw during one `outlook.compute` call."""

    tasks: int = 0
    worker_s: float = 0.0
    forecasts: list[Forecast] = field(default_factory=list)
    groups: int = 0

    @property
    def prophet_s(self) -> float:
        return sum(f.prophet_seconds for f in self.forecasts)


class TimedPool(KillablePool):
    """A KillablePool that adds every finished task's worker time (dispatch to result) to a Recorder."""

    def __init__(self, recorder: Recorder, workers: int | None) -> None:
        super().__init__(workers, initializer=warm_up)
        self.recorder = recorder

    def run(self, tasks: Sequence[Task], timeout_s: float,
            skip: Callable[[Hashable], bool] | None = None) -> Iterator[Outcome]:
        for outcome in super().run(tasks, timeout_s, skip):
            self.recorder.tasks += 1
            self.recorder.worker_s += outcome.elapsed_s
            yield outcome


def instrument(recorder: Recorder) -> None:
    """Route `outlook.compute`'s pool and `forecast_many` calls through `recorder`."""

    def pool(workers: int | None = None) -> KillablePool:
        return TimedPool(recorder, workers)

    def many(*args: Any, **kwargs: Any) -> list[Forecast]:
        result = forecast_many(*args, **kwargs)
        recorder.groups += 1
        recorder.forecasts.extend(result)
        return result

    setattr(outlook, "forecast_pool", pool)  # noqa: B010  (patched for this process only)
    setattr(outlook, "forecast_many", many)  # noqa: B010


@dataclass
class Run:
    """One timed `outlook.compute`: series, wall and parent CPU seconds, and what the engine recorded."""

    label: str
    series: int
    wall_s: float
    parent_cpu_s: float
    rec: Recorder


def timed_compute(store: Store, gen: str, only: Callable[[outlook.SeriesRef], bool], workers: int,
                  label: str) -> Run:
    """Compute the series `only` selects, from scratch (their stored documents are dropped first), with a
    fresh pool as the CLI does."""
    selected = [r for r in outlook.read_index(store, gen) if only(r)]
    if selected:
        store.r.delete(*{outlook.doc_key(r.hash) for r in selected})
    rec = Recorder()
    instrument(rec)
    refs = outlook.pending(store, gen, only)
    wall0, cpu0 = time.perf_counter(), time.process_time()
    outlook.compute(store, gen, refs, workers=workers)
    return Run(label, len(refs), time.perf_counter() - wall0, time.process_time() - cpu0, rec)


@dataclass
class NoRefit:
    """Pending series after the rebuild, after a reload of the same snapshot and after a forced rebuild."""

    after_rebuild: int
    reload_gen: str
    reload_changed: bool
    after_reload: int
    forced_gen: str
    after_forced: int

    @property
    def ok(self) -> bool:
        return self.after_rebuild == self.after_reload == self.after_forced == 0


def no_refit_check(store: Store, domains: dict[str, Any], raw: bytes) -> NoRefit:
    """Reload the same snapshot (an unchanged load may write no generation), then force a new generation
    with every series re-derived (`ingest.rebuild`): neither may leave anything to refit."""
    before = len(outlook.pending(store, store.require_generation()))
    reload = load_snapshot(store, domains, raw, "bench reload")
    after_reload = len(outlook.pending(store, store.require_generation()))
    forced = rebuild(store, domains, "bench forced rebuild").generation
    return NoRefit(before, reload.generation, reload.changed, after_reload, forced,
                   len(outlook.pending(store, forced)))


def doc_counts(store: Store, gen: str) -> tuple[Counter[str], Counter[str], int]:
    """Published model and status counts over the stored forecast documents of `gen`, and missing docs."""
    models: Counter[str] = Counter()
    statuses: Counter[str] = Counter()
    missing = 0
    for ref in outlook.read_index(store, gen):
        raw = outlook.read_forecast(store, gen, ref.kind, ref.target, ref.metric)
        if raw is None:
            missing += 1
            continue
        fc = json.loads(raw)["forecast"]
        models[str(fc["model"])] += 1
        statuses[str(fc["status"])] += 1
    return models, statuses, missing


def print_runs(runs: list[Run], workers: int) -> None:
    print(f"\n{'run':<22} {'series':>6} {'groups':>6} {'tasks':>6} {'wall s':>8} {'s/series':>8} "
          f"{'worker s':>9} {'prophet s':>9} {'prophet/worker':>14} {'prophet/wall':>12} {'util':>5} "
          f"{'parent cpu s':>12}")
    for r in runs:
        rec = r.rec
        per = r.wall_s / r.series if r.series else 0.0
        pw = rec.prophet_s / rec.worker_s if rec.worker_s else 0.0
        util = rec.worker_s / (r.wall_s * workers) if r.wall_s else 0.0
        print(f"{r.label:<22} {r.series:>6} {rec.groups:>6} {rec.tasks:>6} {r.wall_s:>8.2f} {per:>8.3f} "
              f"{rec.worker_s:>9.2f} {rec.prophet_s:>9.2f} {pw:>14.0%} {rec.prophet_s / r.wall_s:>12.2f} "
              f"{util:>5.0%} {r.parent_cpu_s:>12.2f}")
    print("  prophet/wall = prophet seconds summed over workers / wall seconds (at most the worker count); "
          "util = worker seconds / (wall x workers)")


def print_counts(title: str, counts: Counter[str]) -> None:
    print(f"{title}: " + ", ".join(f"{k} {v}" for k, v in counts.most_common()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="forecast worker processes")
    args = parser.parse_args()
    raw, domains = bundled_bytes(), load_domains()
    with tempfile.TemporaryDirectory(prefix="gapcast-bench-") as tmp, EmbeddedRedis(Path(tmp) / "redis") as server:
        client = redis.Redis.from_url(server.url)
        store = Store(client)
        started = time.perf_counter()
        gen = load_snapshot(store, domains, raw, "bench").generation
        load_s = time.perf_counter() - started
        total = len(outlook.read_index(store, gen))
        print(f"loaded the bundled snapshot -> generation {gen} in {load_s:.2f} s: {total} series; "
              f"{args.workers} workers on {os.cpu_count()} CPUs")
        domain = timed_compute(store, gen, lambda r: r.kind == "domain" and r.target == "coding",
                               args.workers, "one domain (coding)")
        full = timed_compute(store, gen, lambda r: True, args.workers, "full rebuild")
        print_runs([domain, full], args.workers)
        verdict = "PASS" if full.wall_s < TARGET_REBUILD_S else "FAIL"
        print(f"full rebuild: {full.series} series in {full.wall_s:.1f} s ({verdict}: target < "
              f"{TARGET_REBUILD_S:.0f} s on 2 cores)")
        nr = no_refit_check(store, domains, raw)
        written = "new generation" if nr.reload_changed else "no new generation written"
        print(f"no-refit ({'PASS' if nr.ok else 'FAIL'}): pending after the rebuild {nr.after_rebuild}; reload of "
              f"the same snapshot -> generation {nr.reload_gen} ({written}), pending {nr.after_reload}; forced "
              f"re-derivation -> generation {nr.forced_gen}, pending {nr.after_forced}")
        models, statuses, missing = doc_counts(store, nr.forced_gen)
        print_counts(f"published model ({sum(models.values())} docs, {missing} missing)", models)
        print_counts("status", statuses)
        client.close()
    print(f"\nreproduce: {COMMAND} --workers {args.workers}")


if __name__ == "__main__":
    main()
