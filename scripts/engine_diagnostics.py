#!/usr/bin/env python3
"""Print the diagnostics behind the README's Forecasts section that `gapcast backtest` does not print.

    python scripts/engine_diagnostics.py            # the bundled snapshot (about 10 s)
    python scripts/engine_diagnostics.py --seeds 3 --paths 1000 --grid   # Monte Carlo spread, variants (~3 min)

- **Coverage by cut-off year**, per kind, metric and horizon: drift shows as years above and below 80%.
- **Coverage by unit class** of the benchmark bands, with the share of misses above and below.
- **Elo/ECI lag misses**: the Arena text series at the two cut-offs where they missed together, against
  every other row.
- **Release rates**: the share of months with a frontier move by months idle before (bounded benchmarks).
- **Point masses**: the share of benchmark-lag outcomes exactly on the paths' median, and of bands whose
  upper edge is the median (a lag with no open release grows exactly a day per day).
- **The worst series**: the 6-month benchmark-lag MAE ratios against the random walk that weigh most in the
  geometric mean, per half.
- **Blends**: the 6-month benchmark-lag ratio when the point blends the paths' median with no change.
- **Catch-up**: how many benchmark rows were asked, how many caught up (per cut-off year), how many after
  30 rows had resolved, and the raw path probability's AUC. Then time-honest logistic fits (refitted at
  each cut-off on the rows resolved by then) on simple features, scored on the rows they could be fitted
  for.
- ``--seeds K [--paths N]``: the benchmark MAE ratios per half for K seeds of the paths, mean and range: the
  Monte Carlo noise of every figure above (at 200 paths the 6-month lag ratio moves by about 0.05).
- ``--half-lives``: 80% coverage per half and on domains for each half-life of the conformal weights
  (``forecasts.engine.calibration.HALF_LIFE_MONTHS`` is chosen on the tuning half), over the ``--seeds``.
- ``--borrowing``: the same for who borrows whose conformal errors while short of their own
  (``forecasts.engine.calibration.BORROWS_FROM``), with the domains split in halves by the same hash.
- ``--grid``: the 6-month benchmark-lag ratio per half for variants of the release process (shrinkage weight
  of the release rate; the idle-duration hazard on or off), averaged over the ``--seeds``.

It loads the bundled snapshot into a private redis-server (as `gapcast load` does) and reads it back,
so that the engine sees exactly the sorted data a real rebuild sees.
"""

from __future__ import annotations

import argparse
import itertools
import sys
import tempfile
from collections import defaultdict
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402
import redis  # noqa: E402

from forecasts.engine import backtest as bt  # noqa: E402
from forecasts.engine.calibration import (  # noqa: E402
    BORROWS_FROM,
    HALF_LIFE_MONTHS,
    Calibrated,
    Question,
    calibrate,
    months_after,
)
from forecasts.engine.candidates import IDLE_BANDS, Chase, Jumps, Sawtooth, idle_before, increments  # noqa: E402
from forecasts.engine.history import BenchmarkHistory  # noqa: E402
from forecasts.engine.origin import origin_at  # noqa: E402
from forecasts.engine.publish import histories_of, published_model  # noqa: E402
from forecasts.engine.report import geo_ratio, mae_by_series  # noqa: E402
from forecasts.engine.transform import UnitClass  # noqa: E402
from forecasts.measure.domains import Domain, load_domains  # noqa: E402
from forecasts.records.snapshot import bundled_bytes  # noqa: E402
from forecasts.storage.ingest import load_snapshot  # noqa: E402
from forecasts.storage.redis_server import EmbeddedRedis  # noqa: E402
from forecasts.storage.store import Store  # noqa: E402

MIN_FIT_ROWS = 30  # as the calibration's MIN_ROWS: the rows a time-honest fit needs before it is made
FEATURE_SETS = (("logit_p",), ("log_gap",), ("log_gap", "closed_idle"), ("logit_p", "log_gap", "closed_idle"),
                ("log_gap", "closed_idle", "log_lag"))


def bundled_histories() -> dict[str, BenchmarkHistory]:
    with tempfile.TemporaryDirectory() as tmp, EmbeddedRedis(Path(tmp)) as server:
        store = Store(redis.Redis.from_url(server.url))
        gen = load_snapshot(store, load_domains(), bundled_bytes(), "diagnostics").generation
        return histories_of(store.read_dataset(gen))


def coverage_by_year(rows: list[bt.Row], cal: Calibrated) -> None:
    print("80% coverage by cut-off year (n):")
    cells: dict[tuple[str, str, int], dict[int, list[bool]]] = defaultdict(lambda: defaultdict(list))
    for (i, metric, h), (lo, hi) in cal.bands.items():
        a = rows[i].actual.get((metric, h))
        if a is not None:
            cells[(rows[i].kind, metric, h)][rows[i].cutoff.year].append(lo <= a <= hi)
    for (kind, metric, h), years in sorted(cells.items()):
        shown = "  ".join(f"{y}: {np.mean(v):.2f} ({len(v)})" for y, v in sorted(years.items()))
        print(f"  {kind:<9} {metric:<9} {h:>2} months  {shown}")


def coverage_by_unit_class(rows: list[bt.Row], cal: Calibrated) -> None:
    print("\nbenchmark 80% coverage by unit class (n; share of outcomes above / below the band):")
    cells: dict[tuple[str, int, str], list[tuple[bool, bool]]] = defaultdict(list)
    for (i, metric, h), (lo, hi) in cal.bands.items():
        a = rows[i].actual.get((metric, h))
        if a is not None and rows[i].kind == "benchmark":
            cells[(metric, h, rows[i].unit_class)].append((a > hi, a < lo))
    for (metric, h, uc), v in sorted(cells.items()):
        above, below = np.mean(v, axis=0)
        print(f"  {metric:<9} {h:>2} months  {uc:<8} {1 - above - below:.2f} ({len(v)}; {above:.2f} / {below:.2f})")


def arena_misses(rows: list[bt.Row], cal: Calibrated, h: int = 6) -> None:
    """Where the Elo/ECI benchmark-lag bands miss: the Arena text series at the cut-offs where most of them
    missed together, against every other row."""
    cells: dict[tuple[str, str], int] = defaultdict(int)
    for (i, metric, hh), (lo, hi) in cal.bands.items():
        r, a = rows[i], rows[i].actual.get((metric, hh))
        if a is None or (r.kind, r.unit_class, metric, hh) != ("benchmark", "linear", "lag_days", h):
            continue
        together = r.target.startswith("arena-text") and str(r.cutoff) in ARENA_MISS_CUTOFFS
        cells[("arena text at " + "/".join(ARENA_MISS_CUTOFFS) if together else "every other row",
               "above" if a > hi else "below" if a < lo else "covered")] += 1
    print(f"\nElo/ECI benchmark-lag bands at {h} months (rows above / below / covered):")
    for group in sorted({g for g, _ in cells}):
        n = sum(v for (g, _), v in cells.items() if g == group)
        print(f"  {group}: {n} rows, " + ", ".join(f"{cells[(group, k)]} {k}" for k in ("above", "below", "covered")))


#: The cut-offs at which the Arena text series' lag bands missed together (one release moved them all).
ARENA_MISS_CUTOFFS = ("2025-04-30", "2025-06-30")


def release_rates(histories: Mapping[str, BenchmarkHistory]) -> None:
    """The share of months with a frontier move, by the months the frontier had stood still before (the
    release process's idle bands), over the whole bundled history of the bounded benchmarks."""
    end = max(h.months[-1] for h in histories.values())
    print("\nbounded frontiers: share of months with a move, by months idle before (months counted):")
    for access in ("closed", "open"):
        moves, idles = [], []
        for h in histories.values():
            o = origin_at(h, end) if h.transform.unit_class is UnitClass.BOUNDED else None
            if o is None:
                continue
            u = o.closed_u if access == "closed" else o.open_u
            finite = u[np.isfinite(u)]
            d = increments(finite, len(finite))
            if len(d):
                moves.append(d > 0)
                idles.append(idle_before(finite)[-len(d):])
        moved, band = np.concatenate(moves), np.searchsorted(IDLE_BANDS, np.concatenate(idles), side="right")
        edges = [0, *IDLE_BANDS.tolist()]
        labels = [f"{a}-{b - 1}" if b - 1 > a else f"{a}" for a, b in itertools.pairwise(edges)]
        labels.append(f"{edges[-1]}+")
        shown = ", ".join(f"{label}: {np.mean(moved[band == k]):.2f} ({np.sum(band == k)})"
                          for k, label in enumerate(labels))
        print(f"  {access:<6} {shown}")


def point_masses(rows: list[bt.Row]) -> None:
    print("\nbenchmark lag outcomes on the paths' median / bands whose upper edge is the median:")
    for h in bt.HORIZONS:
        pairs = [(r.forecast[("lag_days", h)], a) for r in rows
                 if r.kind == "benchmark" and (a := r.actual.get(("lag_days", h))) is not None
                 and ("lag_days", h) in r.forecast]
        on_mid = np.mean([abs(a - f[0]) < 1e-6 for f, a in pairs])
        hi_mid = np.mean([abs(f[2] - f[0]) < 1e-6 for f, _ in pairs])
        print(f"  {h:>2} months: {on_mid:.0%} of outcomes on the median, {hi_mid:.0%} of bands ({len(pairs)} rows)")


def worst_series(rows: list[bt.Row], cal: Calibrated, top: int = 8) -> None:
    print(f"\nthe {top} largest 6-month benchmark-lag MAE ratios (published / random walk):")
    series = [s for s in mae_by_series(rows, cal.points).values()
              if s["kind"] == "benchmark" and s.get("lag_days_rw_mae_6") and s.get("lag_days_mae_6")]
    series.sort(key=lambda s: -s["lag_days_mae_6"] / s["lag_days_rw_mae_6"])
    for s in series[:top]:
        print(f"  {s['half']:<5} {s['target']:<32} {s['lag_days_mae_6']:8.1f} / {s['lag_days_rw_mae_6']:7.1f} days"
              f" = {s['lag_days_mae_6'] / s['lag_days_rw_mae_6']:.2f} ({s['lag_days_n_6']} rows)")


def halves(rows: list[bt.Row], points: Mapping[tuple[int, str, int], float] | None = None) -> str:
    series = [s for s in mae_by_series(rows, points).values() if s["kind"] == "benchmark"]
    return ", ".join(f"{half} {geo_ratio([s for s in series if s['half'] == half], 'lag_days', 6)[0]}"
                     for half in ("tune", "judge"))


def blends(rows: list[bt.Row]) -> None:
    print("\n6-month benchmark lag / random walk, the point blending the paths' median (weight w) with no change:")
    for w in (1.0, 0.75, 0.5, 0.25, 0.0):
        points = {(i, "lag_days", h): w * f[0] + (1 - w) * r.lag0 for i, r in enumerate(rows)
                  for (m, h), f in r.forecast.items() if m == "lag_days" and r.kind == "benchmark"}
        print(f"  w = {w:.2f}: {halves(rows, points)}")


def _months_idle(history: BenchmarkHistory, cutoff_ordinal: int) -> float:
    days = [d for d in history.closed_steps.days if d <= cutoff_ordinal]
    return (cutoff_ordinal - max(days)) / 30.44 if days else 99.0


def _features(r: bt.Row, window: int, h: BenchmarkHistory) -> dict[str, float]:
    p = min(max(r.p_catch[window], 0.005), 0.995)
    return {"logit_p": float(np.log(p / (1 - p))), "log_gap": float(np.log1p(max(r.gap0, 0.0))),
            "closed_idle": min(_months_idle(h, r.cutoff.toordinal()), 24.0), "log_lag": float(np.log1p(r.lag0))}


def catch_up(rows: list[bt.Row], histories: Mapping[str, BenchmarkHistory]) -> None:
    from sklearn.metrics import roc_auc_score

    print("\ncatch-up (benchmark rows asked 'caught up within N months?'):")
    for window in bt.WINDOWS:
        q = Question("benchmark", window, False)
        asked = sorted((r for r in rows if q.applies(r) and q.outcome(r) is not None), key=lambda r: r.cutoff)
        if not asked:
            continue
        y = np.array([bool(q.outcome(r)) for r in asked])
        per_year: dict[int, list[int]] = defaultdict(lambda: [0, 0])
        for r, caught in zip(asked, y, strict=True):
            per_year[r.cutoff.year][0] += 1
            per_year[r.cutoff.year][1] += int(caught)
        raw = np.array([q.raw(r) for r in asked], dtype=float)
        auc = f"{roc_auc_score(y, raw):.2f}" if 0 < y.sum() < len(y) else "-"
        years = ", ".join(f"{yr}: {c} of {n}" for yr, (n, c) in sorted(per_year.items()))
        print(f"  within {window}: {len(asked)} rows, {int(y.sum())} caught up ({years}); raw path AUC {auc}")
        for names in FEATURE_SETS:
            print(f"    logistic on {', '.join(names)}: {_time_honest_fit(asked, q, window, histories, names)}")


def _time_honest_fit(asked: list[bt.Row], q: Question, window: int, histories: Mapping[str, BenchmarkHistory],
                     names: tuple[str, ...]) -> str:
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score

    def x(r: bt.Row) -> list[float]:
        f = _features(r, window, histories[r.target])
        return [f[n] for n in names]

    scored: list[tuple[float, bool]] = []
    for c in sorted({r.cutoff for r in asked}):
        resolved = [r for r in asked if months_after(r.cutoff, window) <= c]
        y = np.array([bool(q.outcome(r)) for r in resolved])
        if len(resolved) < MIN_FIT_ROWS or min(y.sum(), len(y) - y.sum()) < 5:
            continue
        model = LogisticRegression(C=1.0).fit(np.array([x(r) for r in resolved]), y)
        scored += [(float(model.predict_proba(np.array([x(r)]))[0, 1]), bool(q.outcome(r)))
                   for r in asked if r.cutoff == c]
    if not scored:
        return "never fitted (too few resolved rows of each outcome)"
    p = np.array([s[0] for s in scored])
    y = np.array([s[1] for s in scored], dtype=float)
    auc = f"{roc_auc_score(y, p):.2f}" if 0 < y.sum() < len(y) else "-"
    return (f"{len(scored)} rows scored, {int(y.sum())} caught up; AUC {auc}, Brier {np.mean((p - y) ** 2):.4f}"
            f" against {np.mean((y.mean() - y) ** 2):.4f} for the base rate in hindsight")


def _bench_cells(rows: list[bt.Row]) -> dict[str, dict[str, float | None]]:
    """Per half: the geometric-mean MAE ratio against the random walk of each benchmark cell."""
    series = [s for s in mae_by_series(rows, calibrate(rows).points).values() if s["kind"] == "benchmark"]
    return {half: {f"{metric}_{h}": geo_ratio([s for s in series if s["half"] == half], metric, h)[0]
                   for metric in bt.METRICS for h in bt.HORIZONS} for half in ("tune", "judge")}


def seeds(histories: Mapping[str, BenchmarkHistory], domains: Mapping[str, Domain], n_seeds: int,
          n_paths: int) -> None:
    print(f"\nMonte Carlo noise: the published engine's benchmark MAE ratios (published / random walk) for "
          f"{n_seeds} seeds at {n_paths} paths, per half: mean [min - max]")
    runs = [_bench_cells(bt.run(histories, domains, published_model, n_paths=n_paths, seed=bt.SEED + k))
            for k in range(n_seeds)]
    for half in ("tune", "judge"):
        for cell in runs[0][half]:
            v = np.array([r[half][cell] for r in runs], dtype=float)
            print(f"  {half:<5} {cell:<12} {np.mean(v):.3f} [{np.min(v):.3f} - {np.max(v):.3f}]")


def grid(histories: Mapping[str, BenchmarkHistory], domains: Mapping[str, Domain], n_seeds: int,
         n_paths: int) -> None:
    print(f"\n6-month benchmark lag / random walk per half by variant of the release process (mean of {n_seeds} "
          f"seeds at {n_paths} paths; published: rate prior 12, idle-duration hazard on); the rule picks on the "
          "tuning half:")
    variants = [(f"rate prior {prior:>5}, duration {'on' if duration else 'off'}",
                 Jumps(rate_prior=prior, duration=duration))
                for duration in (True, False) for prior in (12.0, 4.0, 1.0)]
    for label, closed in variants:
        models: dict[UnitClass, Any] = {UnitClass.BOUNDED: Chase(closed_model=closed),
                                        UnitClass.LINEAR: Sawtooth(closed_model=closed), UnitClass.LOG: closed}
        model_for: Callable[[UnitClass], Any] = models.__getitem__
        runs = [_bench_cells(bt.run(histories, domains, model_for, n_paths=n_paths, seed=bt.SEED + k))
                for k in range(n_seeds)]
        tune, judge = (np.mean([r[half]["lag_days_6"] for r in runs]) for half in ("tune", "judge"))
        print(f"  {label}: tune {tune:.3f}, judge {judge:.3f}")


HALF_LIVES: tuple[float | None, ...] = (None, 6.0, 9.0, 12.0, 18.0, 24.0)
#: Who borrows whose conformal errors while short of their own (``calibration.BORROWS_FROM`` is published).
BORROWING: tuple[tuple[str, dict[str, str]], ...] = (
    ("nobody", {}), ("domains from benchmarks", {"domain": "benchmark"}),
    ("both ways", {"domain": "benchmark", "benchmark": "domain"}))


def _coverage_cells(cal: Calibrated) -> dict[str, dict[tuple[str, int], float]]:
    """80% coverage per part (tune / judge half of the benchmarks, and of the domains by the same hash) and
    (metric, horizon)."""
    hits: dict[str, dict[tuple[str, int], list[bool]]] = defaultdict(lambda: defaultdict(list))
    for (i, metric, h), (lo, hi) in cal.bands.items():
        r = cal.rows[i]
        a = r.actual.get((metric, h))
        if a is not None:
            part = r.half if r.kind == "benchmark" else f"domain {bt.half_of(r.target)}"
            hits[part][(metric, h)].append(lo <= a <= hi)
    return {part: {k: float(np.mean(v)) for k, v in cells.items()} for part, cells in hits.items()}


def _coverage_grid(runs: list[list[bt.Row]], variants: list[tuple[str, dict[str, Any]]]) -> None:
    """Per variant (label, keyword arguments of :func:`calibrate`): mean |coverage - 0.80| over each part's 6
    cells (and how many lie within 0.75-0.85), averaged over the runs (seeds)."""
    for label, kwargs in variants:
        cells: dict[tuple[str, str, int], list[float]] = defaultdict(list)
        for rows in runs:
            for part, by_cell in _coverage_cells(calibrate(rows, **kwargs)).items():
                for (metric, h), v in by_cell.items():
                    cells[(part, metric, h)].append(v)
        text = []
        for part in ("tune", "judge", "domain tune", "domain judge"):
            cov = np.array([np.mean(v) for k, v in cells.items() if k[0] == part])
            within = int(np.sum(np.abs(cov - 0.8) <= 0.05))
            text.append(f"{part} {np.mean(np.abs(cov - 0.8)):.4f} ({within}/{len(cov)})")
        print(f"  {label:>24}: " + ", ".join(text))


def half_lives(runs: list[list[bt.Row]]) -> None:
    """The conformal half-life's grid; the calibration's rule picks on the tuning half of the benchmarks."""
    print(f"\n80% coverage by conformal half-life (months; mean of {len(runs)} seeds; published: "
          f"{HALF_LIFE_MONTHS}): mean |coverage - 0.80| over 6 cells (cells within 0.75-0.85)")
    _coverage_grid(runs, [("none" if hl is None else f"{hl:g}", {"half_life": hl}) for hl in HALF_LIVES])


def borrowing(runs: list[list[bt.Row]]) -> None:
    """Which kind borrows whose conformal errors while short of its own: benchmarks are judged on their tuning
    half, domains on both halves of the domains (split by the benchmarks' hash)."""
    print(f"\n80% coverage by conformal borrowing (mean of {len(runs)} seeds; published: {BORROWS_FROM}): "
          "mean |coverage - 0.80| over 6 cells (cells within 0.75-0.85)")
    _coverage_grid(runs, [(label, {"borrows": b}) for label, b in BORROWING])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--grid", action="store_true", help="Also run the release-process grid (slow).")
    parser.add_argument("--half-lives", action="store_true",
                        help="Also run the conformal half-life grid (over --seeds, at least 1).")
    parser.add_argument("--borrowing", action="store_true",
                        help="Also run the conformal borrowing variants (over --seeds, at least 1).")
    parser.add_argument("--seeds", type=int, default=0, metavar="K",
                        help="Also print the benchmark MAE ratios for K seeds (their Monte Carlo spread).")
    parser.add_argument("--paths", type=int, default=bt.BACKTEST_PATHS, metavar="N",
                        help="Paths per forecast for --seeds and --grid (default: the published 200).")
    args = parser.parse_args()
    histories = bundled_histories()
    domains = load_domains()
    rows = bt.run(histories, domains, published_model)
    cal = calibrate(rows)
    coverage_by_year(rows, cal)
    coverage_by_unit_class(rows, cal)
    arena_misses(rows, cal)
    release_rates(histories)
    point_masses(rows)
    worst_series(rows, cal)
    blends(rows)
    catch_up(rows, histories)
    if args.seeds:
        seeds(histories, domains, args.seeds, args.paths)
    if args.half_lives or args.borrowing:
        runs = [bt.run(histories, domains, published_model, n_paths=args.paths, seed=bt.SEED + k)
                for k in range(max(args.seeds, 1))]
        if args.half_lives:
            half_lives(runs)
        if args.borrowing:
            borrowing(runs)
    if args.grid:
        grid(histories, domains, max(args.seeds, 1), args.paths)


if __name__ == "__main__":
    main()
