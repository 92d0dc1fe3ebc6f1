"""Render a dashboard card from sample JSON into tests/artifacts/sample_card.html and print ms per chart.

    /work/venv/bin/python tests/perf/render_charts_sample.py
    /work/venv/bin/python tests/perf/render_charts_sample.py --domain-series D.json --benchmark-series B.json \
        --forecast F.json --compare-matplotlib

Inputs default to /tmp/sample_*.json (a domain series, a benchmark series, a forecast); a missing file is
replaced by synthetic data of the same shape. ``--compare-matplotlib`` times an equivalent matplotlib SVG
gap chart (the alternative that was measured before choosing the hand-written renderer).
"""

from __future__ import annotations

import argparse
import io
import json
import statistics
import sys
import time
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from service.charts import CARD_CSS, catch_up_chart, domain_card, frontier_chart, gap_chart  # noqa: E402

ARTIFACTS = ROOT / "tests" / "artifacts"


def _month_ends(n: int, end: date) -> list[str]:
    out, d = [], end
    for _ in range(n):
        out.append(d.isoformat())
        d = d.replace(day=1) - timedelta(days=1)
    return out[::-1]


def synthetic_benchmark(n: int = 34) -> list[dict[str, Any]]:
    days = _month_ends(n, date(2026, 3, 31))
    pts = []
    for i, d in enumerate(days):
        closed, open_ = 35 + 60 * i / n, 25 + 60 * i / n - (i % 5)
        pts.append({"date": d, "closed_leader": {"model": f"closed-{i // 6}", "score": round(closed, 2),
                                                 "release_date": d},
                    "open_leader": {"model": f"open-{i // 7}", "score": round(open_, 2), "release_date": d},
                    "score_gap": round(closed - open_, 2), "lag_days": 120 + i, "status": "open_behind"})
    return pts


def synthetic_domain(n: int = 40) -> list[dict[str, Any]]:
    days = _month_ends(n, date(2026, 6, 30))
    return [{"date": d, "score_gap": round(30 * 0.95**i + (i % 3), 2), "unit": "% of scale", "lag_days": 150.0,
             "status": "open_behind"} for i, d in enumerate(days)]


def synthetic_forecast(last: date = date(2026, 6, 30)) -> dict[str, Any]:
    days = _month_ends(37, date(last.year + 3, last.month, 28))[1:]
    traj = [{"date": d, "yhat": 8 - 0.2 * i, "lower": 8 - 0.2 * i - 2 - 0.6 * i, "upper": 8 - 0.2 * i + 2 + 0.6 * i}
            for i, d in enumerate(days)]
    return {"target": "coding", "kind": "domain", "metric": "score_gap", "as_of": last.isoformat(),
            "model": "sawtooth", "horizon_months": 36, "trajectory": traj,
            "catch_up": {"p10": days[8], "p50": days[20], "p90": None,
                         "probability_within": {"6": 0.04, "12": 0.21, "24": 0.55}, "never_within_horizon": 0.31},
            "lag_trend": {"slope_days_per_year": -12.0, "lower": -40.0, "upper": 15.0, "verdict": "stable"},
            "status": "ok", "reason": "Synthetic forecast."}


def load(path: str, fallback: Callable[[], Any]) -> Any:
    p = Path(path)
    if p.exists():
        return json.loads(p.read_text())
    print(f"{path} missing: using synthetic data", file=sys.stderr)
    return fallback()


def timed(fn: Callable[[], str], repeat: int = 50) -> tuple[float, str]:
    """Median ms over ``repeat`` calls, and the output."""
    out, times = fn(), []
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times), out


def matplotlib_gap_ms(series: list[dict[str, Any]], forecast: dict[str, Any]) -> tuple[float, float, int]:
    """(import ms, median ms per chart, bytes) of a comparable matplotlib SVG chart (deterministic settings)."""
    t0 = time.perf_counter()
    import matplotlib

    matplotlib.use("svg")
    from matplotlib.figure import Figure

    import_ms = (time.perf_counter() - t0) * 1000
    matplotlib.rcParams.update({"svg.hashsalt": "gapcast", "svg.fonttype": "none"})

    def render() -> str:
        fig = Figure(figsize=(4.2, 2.8), dpi=100)
        ax = fig.subplots()
        xs = [date.fromisoformat(p["date"]) for p in series]
        ax.plot(xs, [p["score_gap"] for p in series], color="#222", gid="series-gap")
        traj = forecast.get("trajectory") or []
        tx = [date.fromisoformat(t["date"]) for t in traj]
        ax.fill_between(tx, [t["lower"] for t in traj], [t["upper"] for t in traj], color="#999", alpha=0.35)
        ax.plot(tx, [t["yhat"] for t in traj], "--", color="#555")
        ax.axhline(0, color="#333", lw=1)
        ax.set_title("score gap")
        ax.legend(["gap", "80%", "forecast"])
        buf = io.StringIO()
        fig.savefig(buf, format="svg", metadata={"Date": None})
        return buf.getvalue()

    ms, out = timed(render, repeat=20)
    return import_ms, ms, len(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--domain-series", default="/tmp/sample_domain_series.json")
    ap.add_argument("--benchmark-series", default="/tmp/sample_benchmark_series.json")
    ap.add_argument("--forecast", default="/tmp/sample_forecast.json")
    ap.add_argument("--out", default=str(ARTIFACTS / "sample_card.html"))
    ap.add_argument("--compare-matplotlib", action="store_true")
    args = ap.parse_args()

    series = load(args.domain_series, synthetic_domain)
    bench = load(args.benchmark_series, synthetic_benchmark)
    forecast = load(args.forecast, synthetic_forecast)
    last = series[-1] if series else {}
    row = {"domain": forecast.get("target", "coding"), "name": str(forecast.get("target", "coding")).title(),
           "as_of": last.get("date"), "score_gap": last.get("score_gap"), "unit": last.get("unit", "% of scale"),
           "lag_days": last.get("lag_days"), "status": last.get("status", "open_behind"),
           "closed_leader": last.get("closed_leader"), "open_leader": last.get("open_leader")}

    charts: dict[str, Callable[[], str]] = {
        "frontier": lambda: frontier_chart(bench, title="Primary benchmark: best closed vs open", unit="score"),
        "gap": lambda: gap_chart(series, forecast, title=f"{row['name']}: score gap and forecast", unit=row["unit"]),
        "catch-up": lambda: catch_up_chart(forecast, title=f"{row['name']}: when does open catch up?"),
        "card (3 charts)": lambda: domain_card(row, series, forecast, bench, "Primary benchmark"),
    }
    for name, fn in charts.items():
        ms, out = timed(fn)
        print(f"{name:16s} {ms:7.3f} ms  {len(out):6d} bytes")

    variants = [domain_card(row, series, forecast, bench, "Primary benchmark")]
    made_up = synthetic_forecast(date.fromisoformat(row["as_of"] or "2026-06-30"))
    variants.append(domain_card({**row, "domain": "synthetic", "name": "Synthetic forecast"}, series, made_up,
                                bench, "Primary benchmark"))
    for status in ("insufficient_data", "caught_up"):
        other = {**forecast, "status": status, "trajectory": [], "reason": f"Example card for status {status}.",
                 "catch_up": {"p10": None, "p50": None, "p90": None, "probability_within": {},
                              "never_within_horizon": None, "p_lead_lost_within_12": 0.35}}
        variants.append(domain_card({**row, "domain": status, "name": f"Example ({status})"}, series, other, [],
                                    "Empty benchmark"))
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("<!doctype html><html lang=en><head><meta charset=utf-8><title>gapcast sample card</title>"
                   f"<style>body{{margin:16px;background:#f4f4f4}}{CARD_CSS}</style></head><body>"
                   + "".join(variants) + "</body></html>")
    print(f"wrote {out}")
    if args.compare_matplotlib:
        import_ms, ms, size = matplotlib_gap_ms(series, forecast)
        print(f"matplotlib gap   {ms:7.3f} ms  {size:6d} bytes  (import {import_ms:.0f} ms)")


if __name__ == "__main__":
    main()
