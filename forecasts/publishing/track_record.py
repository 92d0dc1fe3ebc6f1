"""The forecast track record: every published domain forecast, kept for good, scored against what happened.

An `Entry` is what gapcast said about one domain and metric from one state of the data: the state then
(score gap, lag, status), the point forecast and calibrated 80% band 3, 6 and 12 months on, and the catch-up
answer (P(caught up within 6/12/24 months), its basis, the median date). Two sources feed the record:

- ``live``: every forecast document the service publishes for a domain is archived when it is stored
  (`archive_entry`, Redis hash `keys.track_record(domain, metric)`: field = the series' data hash, value =
  the entry as JSON; no TTL; at most `ARCHIVE_CAP` entries per hash, the oldest dropped first);
- ``backtest``: what the engine would have published at each past cut-off of its backtest, from the data
  known then and calibrated only on outcomes resolved by then (`backtest_entries`), labelled as such. This
  is what makes the record non-empty on first start; live entries join it as they are made.

`score` compares each entry with the domain's series as it stands now: the realised value at each horizon's
month-end and whether a catch-up happened within each window (a full catch-up run, as the engine defines
it). Pure, apart from `archive_entry` / `read_archive`, which take a Redis pipeline / store.
"""

from __future__ import annotations

import calendar
import json
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import date
from typing import Any

import numpy as np

from forecasts.engine.history import STATUS_CODE
from forecasts.engine.paths import caught_up_within
from forecasts.measure.gaps import GapStatus
from forecasts.storage import keys

HORIZONS = (3, 6, 12)
WINDOWS = (6, 12, 24)
ARCHIVE_CAP = 5000  # entries per (domain, metric): decades of daily refreshes, a few MB at most


@dataclass(frozen=True)
class Entry:
    """One published forecast (see the module docstring). `horizons` maps months ahead to [point, lo, hi]
    in the metric's unit (% of scale, or days); `p_within` maps months to P(caught up within), None where
    the question was not asked."""

    domain: str
    metric: str
    made: str  # the data's date the forecast starts from (YYYY-MM-DD)
    source: str  # "live" or "backtest"
    engine: str
    model: str | None
    state: dict[str, Any]  # score_gap, lag_days, status at `made`
    horizons: dict[str, list[float]]
    p_within: dict[str, float | None]
    basis: str | None = None  # model | base_rate | saturated
    catch_up_p50: str | None = None
    generation: str | None = None
    data_hash: str | None = None
    realised: dict[str, Any] = field(default_factory=dict)  # backtest entries carry what happened

    def to_json(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"), sort_keys=True)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Entry:
        """Raises KeyError/TypeError on a malformed record."""
        return cls(**{k: d[k] for k in d if k in cls.__dataclass_fields__})


def entry_from_forecast(doc: dict[str, Any], state: dict[str, Any], *, generation: str, engine: str) -> Entry:
    """The live entry of a stored forecast document's `forecast` member (`Forecast.to_dict()`) for a domain.
    `state` is the domain's last series point (score_gap, lag_days, status)."""
    made = date.fromisoformat(doc["as_of"])
    by_month = {_months_between(made, date.fromisoformat(p["date"])): p for p in doc.get("trajectory", [])}
    horizons = {str(h): [p["yhat"], p["lower"], p["upper"]] for h in HORIZONS if (p := by_month.get(h))}
    cu = doc.get("catch_up") or {}
    return Entry(domain=doc["target"], metric=doc["metric"], made=made.isoformat(), source="live", engine=engine,
                 model=doc.get("model"), state={k: state.get(k) for k in ("score_gap", "lag_days", "status")},
                 horizons=horizons, p_within={str(w): (cu.get("probability_within") or {}).get(str(w))
                                              for w in WINDOWS},
                 basis=cu.get("basis"), catch_up_p50=cu.get("p50"), generation=generation,
                 data_hash=doc.get("data_hash"))


def archive_entry(pipe: Any, entry: Entry) -> None:
    """Stage `entry` into its domain's archive hash (one field per data hash: a re-publication of the same
    data overwrites itself, new data adds a field)."""
    pipe.hset(keys.track_record(entry.domain, entry.metric), entry.data_hash or entry.made, entry.to_json())


def trim_archive(r: Any, domain: str, metric: str) -> None:
    """Drop the oldest entries beyond `ARCHIVE_CAP` (by `made`)."""
    key = keys.track_record(domain, metric)
    if r.hlen(key) <= ARCHIVE_CAP:
        return
    items = sorted(((json.loads(v)["made"], f) for f, v in r.hgetall(key).items()), reverse=True)
    r.hdel(key, *[f for _, f in items[ARCHIVE_CAP:]])


def store_backtest(r: Any, record: list[dict[str, Any]]) -> bool:
    """Keep `record` (entries as dicts) as the backtest part of the track record unless the stored one
    reaches a later cut-off. Returns whether it was stored."""
    if not record:
        return False
    newest = max(e["made"] for e in record)
    old = r.get(keys.track_record_backtest())
    if old is not None:
        try:
            if max((e["made"] for e in json.loads(old)), default="") > newest:
                return False
        except (TypeError, ValueError, KeyError):
            pass  # a malformed record is replaced
    r.set(keys.track_record_backtest(), json.dumps(record, separators=(",", ":")))
    return True


def read_backtest(r: Any) -> list[Entry]:
    """The stored backtest entries (empty when none or malformed)."""
    raw = r.get(keys.track_record_backtest())
    try:
        return [Entry.from_dict(d) for d in json.loads(raw)] if raw else []
    except (TypeError, ValueError, KeyError):
        return []


def read_archive(r: Any, domains: Iterable[str], metrics: Iterable[str] = ("score_gap", "lag_days")
                 ) -> list[Entry]:
    """Every live entry of `domains`, oldest first (one round trip); a malformed field is skipped."""
    pipe = r.pipeline(transaction=False)
    for d in domains:
        for m in metrics:
            pipe.hvals(keys.track_record(d, m))
    out = []
    for raw in (v for values in pipe.execute() for v in values):
        try:
            out.append(Entry.from_dict(json.loads(raw)))
        except (KeyError, TypeError, ValueError):
            continue
    return sorted(out, key=lambda e: (e.made, e.domain, e.metric))


def backtest_entries(rows: list[Any], bands: Mapping[tuple[int, str, int], tuple[float, float]],
                     points: Mapping[tuple[int, str, int], float],
                     answers: Mapping[tuple[int, int, bool], tuple[float | None, bool]], *, engine: str,
                     model: str | None) -> list[Entry]:
    """Entries for the domain rows of a calibrated backtest (`forecasts.engine.calibration.Calibrated`):
    what would have been published at each cut-off, and what happened (`realised`)."""
    out = []
    status_name = {v: k.value for k, v in STATUS_CODE.items()}
    for i, r in enumerate(rows):
        if r.kind != "domain":
            continue
        p_within = {str(w): answers[(i, w, False)][0] if (i, w, False) in answers else None for w in WINDOWS}
        basis = next((("model" if answers[(i, w, False)][1] else "base_rate") for w in WINDOWS
                      if (i, w, False) in answers and answers[(i, w, False)][0] is not None), None)
        for metric in ("score_gap", "lag_days"):
            horizons = {str(h): [round(points[(i, metric, h)], 3), *(round(x, 3) for x in bands[(i, metric, h)])]
                        for h in HORIZONS if (i, metric, h) in points and (i, metric, h) in bands}
            realised = {"values": {str(h): None if (v := r.actual.get((metric, h))) is None else round(v, 3)
                                   for h in HORIZONS},
                        "caught_up": {str(w): r.catch.get(w) for w in WINDOWS}}
            out.append(Entry(domain=r.target, metric=metric, made=r.cutoff.isoformat(), source="backtest",
                             engine=engine, model=model,
                             state={"score_gap": round(r.gap0, 3), "lag_days": r.lag0,
                                    "status": status_name.get(r.status0)},
                             horizons=horizons, p_within=p_within, basis=basis, realised=realised))
    return out


# ---------------------------------------------------------------------------------------------- scoring


def realised_of(entry: Entry, series: list[dict[str, Any]]) -> dict[str, Any]:
    """What happened after `entry` on the domain's series as it stands now (`series`: monthly points with
    `date`, `score_gap`, `lag_days`, `status`): the value at each horizon's month-end (None when the series
    does not reach it) and, per window, whether a catch-up run happened (None while unresolved)."""
    if entry.realised:
        return entry.realised
    made = date.fromisoformat(entry.made)
    by_month = {(p["date"][:7]): p for p in series}
    ahead = [by_month.get(_add_months(made, k).strftime("%Y-%m")) for k in range(1, max(WINDOWS) + 1)]
    values = {str(h): (ahead[h - 1] or {}).get(entry.metric) for h in HORIZONS}
    caught: dict[str, bool | None] = {}
    for w in WINDOWS:
        pts = ahead[:w]
        if any(p is None or p["status"] == GapStatus.NO_DATA.value for p in pts):
            caught[str(w)] = None
            continue
        status = np.array([[STATUS_CODE[GapStatus(p["status"])] for p in pts if p is not None]])
        caught[str(w)] = bool(caught_up_within(status, w)[0])
    return {"values": values, "caught_up": caught}


def score(entries: list[Entry], series: Mapping[str, list[dict[str, Any]]]) -> dict[str, Any]:
    """The record's figures per domain and pooled (see `summary`), and every entry with what happened."""
    scored = [(e, realised_of(e, series.get(e.domain, []))) for e in entries]
    by_domain: dict[str, list[tuple[Entry, dict[str, Any]]]] = defaultdict(list)
    for e, real in scored:
        by_domain[e.domain].append((e, real))
    return {
        "pooled": summary(scored),
        "domains": {d: summary(items) for d, items in sorted(by_domain.items())},
        "forecasts": [{**asdict(e), "realised": real} for e, real in scored],
    }


def summary(items: list[tuple[Entry, dict[str, Any]]]) -> dict[str, Any]:
    """Per metric and horizon: mean absolute error of the point forecast and of "no change" (the state the
    forecast started from: the random walk a forecast has to beat), 80%-band coverage, n; per window:
    the Brier score of the published P(caught up within) and that of the record's own base rate (the share
    of resolved forecasts that caught up: hindsight, so a fair bar for the probabilities), n."""
    errors: dict[tuple[str, str], list[tuple[float, float, bool]]] = defaultdict(list)
    probs: dict[str, list[tuple[float, bool]]] = defaultdict(list)
    seen_catch: set[tuple[str, str]] = set()
    for e, real in items:
        start = e.state.get(e.metric)
        for h, (point, lo, hi) in e.horizons.items():
            actual = real["values"].get(h)
            if actual is not None and start is not None:
                errors[(e.metric, h)].append((abs(point - actual), abs(start - actual), lo <= actual <= hi))
        if (e.domain, e.made) in seen_catch:
            continue  # one catch-up answer per domain and date (both metrics carry the same one)
        seen_catch.add((e.domain, e.made))
        for w, p in e.p_within.items():
            y = real["caught_up"].get(w)
            if p is not None and y is not None:
                probs[w].append((p, bool(y)))
    return {
        "errors": [{"metric": m, "horizon_months": int(h), "mae": round(float(np.mean([a for a, _, _ in v])), 3),
                    "mae_no_change": round(float(np.mean([b for _, b, _ in v])), 3),
                    "coverage_80": round(float(np.mean([c for _, _, c in v])), 3), "n": len(v)}
                   for (m, h), v in sorted(errors.items(), key=lambda kv: (kv[0][0], int(kv[0][1])))],
        "catch_up": [_brier(int(w), v) for w, v in sorted(probs.items(), key=lambda kv: int(kv[0]))],
    }


def said_at(entries: list[Entry], day: date) -> dict[str, dict[str, Any]]:
    """Per metric, the newest entry made on or before `day` (a live entry over a backtest one of the
    same date)."""
    best: dict[str, Entry] = {}
    for e in entries:
        if date.fromisoformat(e.made) > day:
            continue
        cur = best.get(e.metric)
        if cur is None or (e.made, e.source == "live") > (cur.made, cur.source == "live"):
            best[e.metric] = e
    return {m: asdict(e) for m, e in best.items()}


def _brier(window: int, v: list[tuple[float, bool]]) -> dict[str, Any]:
    p = np.array([x for x, _ in v])
    y = np.array([b for _, b in v], dtype=float)
    base = float(y.mean())
    return {"within_months": window, "brier": round(float(np.mean((p - y) ** 2)), 4),
            "brier_base_rate": round(float(np.mean((base - y) ** 2)), 4), "base_rate": round(base, 3), "n": len(v)}


def _add_months(d: date, n: int) -> date:
    y, m = divmod(d.month - 1 + n, 12)
    year, month = d.year + y, m + 1
    return date(year, month, calendar.monthrange(year, month)[1])


def _months_between(a: date, b: date) -> int:
    return (b.year - a.year) * 12 + (b.month - a.month)
