"""Turn backtest rows into calibrated answers, honestly: at each cut-off only rows resolved by then count.

- **Intervals.** The paths' 10-90% band is widened (or narrowed) by the conformal correction of earlier
  cut-offs (normalised conformalized quantile regression, one correction per edge): from ``(lo - y) / width``
  and ``(y - hi) / width`` over rows of the same kind, metric and horizon whose outcome was known at the
  cut-off (:func:`conformal_pair`), applied in widths of each band (:func:`widen`). Each row weighs by its
  age at the cut-off (half-life ``HALF_LIFE_MONTHS``: weighted conformal, as the race drifts). Too few such
  rows: the rows of every horizon of that kind and metric pooled; fewer still: the raw band.
- **Point (centre), domains only.** Per metric, a domain's band is centred on the paths' median unless "no
  change" (the series' value at the cut-off, the random walk) did better over the rows resolved by then
  (:func:`_no_change_wins`); then median and band move, unchanged in width, to the current value
  (:func:`recentre`), and the conformal correction is learnt on the moved bands. A domain's paths do not
  foresee benchmarks joining and leaving it (most of a domain's movement), so there no change wins. The
  same rule on benchmarks made their 6-month MAE ratios worse (score gap 0.87 -> 0.95, lag 12 months
  1.09 -> 1.19): it switched back and forth between cut-offs, so benchmarks keep the median.
- **Catch-up probabilities.** The paths' P(caught up within N months) is recalibrated by a logistic fit
  (Platt scaling, with the benchmark's unit class as a covariate) on the resolved rows, and *published only
  when* the recalibrated probabilities of earlier cut-offs scored a lower Brier score than the base rate
  known then. Otherwise the base rate is published, marked as not predictable from the history. The same
  machinery handles P(closed retakes the lead) for series that are level or ahead.

:func:`calibrate` does this row by row (for the backtest report) and returns the state to publish with
(:class:`CalibrationState`, fitted on everything resolved now).
"""

from __future__ import annotations

import calendar
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import numpy as np

from forecasts.engine.backtest import HORIZONS, METRICS, RETAKE_WINDOWS, WINDOWS, Row

#: Resolved rows a kind needs before a conformal correction, a recalibration or a skill verdict is made.
MIN_ROWS = 30
#: Months of the newest resolved cut-offs the base rate is taken from, and how many rows it needs: as many as
#: any other verdict (with 10, the 12-month base rate published in mid-2024 rested on 2023's few resolved
#: rows and read 0.70 where 2% then caught up: Brier 0.22 against 0.02). Fewer: no probability is published.
BASE_RATE_MONTHS = 12
MIN_BASE_ROWS = MIN_ROWS
#: Resolved rows of each outcome (caught up / not) a skill verdict needs.
MIN_EACH_OUTCOME = 5
COVERAGE = 0.8
#: Kinds whose point may be recentred on "no change" (see the module docstring).
RECENTRE_KINDS = frozenset({"domain"})
_P_CLIP = (0.005, 0.995)
UNIT_CLASSES = ("bounded", "linear", "log")


def months_after(d: date, n: int) -> date:
    y, m = divmod(d.month - 1 + n, 12)
    y, m = d.year + y, m + 1
    return date(y, m, calendar.monthrange(y, m)[1])


# ------------------------------------------------------------------------------------------------ intervals


#: A band's correction: (lower, upper) edge moves in band widths, positive outward.
Correction = tuple[float, float]
#: The score of an edge that cannot miss, and the most a correction narrows: an edge moved in by one band
#: width has reached the median (where :func:`widen` stops it) whatever the band.
NEVER_MISSES = -1.0


def _weighted_at(values: np.ndarray, weights: np.ndarray, mass: float) -> float:
    """The smallest of ``values`` whose cumulative weight (sorted ascending) reaches ``mass``; the largest
    when none does (the conformal quantile's "+inf", capped at what was seen)."""
    order = np.argsort(values, kind="stable")
    reached = np.nonzero(np.cumsum(weights[order]) >= mass - 1e-12)[0]
    return float(values[order[reached[0]]] if len(reached) else values.max())


def conformal_pair(scores: np.ndarray, weights: np.ndarray | None = None) -> Correction:
    """The split-conformal (lower, upper) correction for 80% coverage from rows of nonconformity ``scores``
    (n x 2: how far below the lower edge, above the upper edge, in band widths; negative inside), each row
    counted with its ``weights`` (default 1; the band being corrected weighs 1, as in weighted conformal
    prediction under drift).

    Each edge gets its own correction, so a band can cover 80% where the outcomes have a point mass on one
    edge (a lag with no open release grows exactly a day per day: that edge never misses, and a symmetric
    correction could not narrow the other side without dropping the whole mass). One edge is set at its
    one-sided 90% quantile, the other at the smallest move that brings the joint coverage to 80%; of the
    two orders, the narrower band wins."""
    w = np.ones(len(scores)) if weights is None else np.asarray(weights, dtype=float)
    total = float(w.sum()) + 1.0  # the new band's own weight: the finite-sample conformal "+1"
    one_sided = 1 - (1 - COVERAGE) / 2
    best: Correction | None = None
    for first in (0, 1):
        fixed = _weighted_at(scores[:, first], w, one_sided * total)
        inside = scores[:, first] <= fixed
        other = _weighted_at(scores[inside, 1 - first], w[inside], COVERAGE * total)
        pair = (fixed, other) if first == 0 else (other, fixed)
        if best is None or sum(pair) < sum(best):
            best = pair
    assert best is not None
    return max(best[0], NEVER_MISSES), max(best[1], NEVER_MISSES)


#: Known nonconformity scores per (kind, metric, horizon): (n x 2 scores, n weights).
Known = dict[tuple[str, str, int], tuple[np.ndarray, np.ndarray]]


#: The kind whose errors a kind borrows while its own are too few: a domain's paths are built from its member
#: benchmarks' paths, so its band inherits their miscalibration, and a domain has few rows per cut-off (about
#: 6 in 2023 against 15-20 benchmarks): without borrowing, its first 8 of 21 cut-offs kept the raw band (the
#: 3-month score gap covered 33% at 2023's cut-offs). Borrowing lifted domain coverage on both halves of the
#: domains (mean |coverage - 0.80| over 6 cells, 5 seeds: 0.062 -> 0.046 and 0.072 -> 0.051). Benchmarks
#: borrowing the domains' errors was rejected on the tuning half (0.0277 -> 0.0288; judging half 0.041 ->
#: 0.051).
#: `python scripts/engine_diagnostics.py --seeds 5 --borrowing`.
BORROWS_FROM = {"domain": "benchmark"}


def correction_for(known: Known, kind: str, metric: str, h: int, borrows: Mapping[str, str] = BORROWS_FROM
                   ) -> Correction:
    """The correction of (kind, metric, h) from the first pool of ``known`` scores with ``MIN_ROWS``: its own;
    every horizon of the kind and metric (normalised by band width, they pool: a short history borrows from
    the other horizons); then the same two with the kind ``borrows`` from (``BORROWS_FROM``) added. None
    (0, 0) when no pool has enough."""
    kinds = {kind, borrows[kind]} if kind in borrows else {kind}
    pools = ({(kind, metric, h)}, {k for k in known if k[:2] == (kind, metric)},
             {k for k in known if k[0] in kinds and k[1:] == (metric, h)},
             {k for k in known if k[0] in kinds and k[1] == metric})
    for pool in pools:
        parts = [known[k] for k in sorted(pool) if k in known and len(known[k][0])]
        if sum(len(s) for s, _ in parts) >= MIN_ROWS:
            return conformal_pair(np.concatenate([s for s, _ in parts]), np.concatenate([w for _, w in parts]))
    return (0.0, 0.0)


#: Half-life, in months before the cut-off, of a resolved row's weight in the conformal correction (None:
#: every row weighs the same). The race drifts (Elo/ECI lags outgrew their paths in 2025; 2023's score gaps
#: moved more than 2024's), so old errors say less. Chosen on the tuning half of the benchmarks from
#: none/6/9/12/18/24 by mean |coverage - 0.80| over its 6 cells (5 seeds of 200 paths): 0.041 with none,
#: 0.028 with 6 or 9 (tied; 6 won on another 3 seeds, 0.027 against 0.028). Judged on the other half: 0.052 ->
#: 0.041 (cells within 0.75-0.85: 3 -> 4 of 6); on the two halves of the domains (borrowing as published)
#: 0.055 -> 0.046 and 0.058 -> 0.051. `python scripts/engine_diagnostics.py --seeds 5 --half-lives`.
HALF_LIFE_MONTHS: float | None = 6.0


def known_scores(scores: dict[tuple[str, str, int], list[tuple[date, float, float]]], c: date,
                 half_life: float | None = HALF_LIFE_MONTHS) -> Known:
    """The ``scores`` (resolved date, below, above) resolved by ``c``, each weighted 0.5 ** (its age at ``c``
    in months / ``half_life``); all 1 without a half-life."""
    out: Known = {}
    for key, v in scores.items():
        rows = [(t, lo, hi) for t, lo, hi in v if t <= c]
        s = np.array([(lo, hi) for _, lo, hi in rows]).reshape(-1, 2)
        age = np.array([(c - t).days / 30.44 for t, _, _ in rows])
        w = np.ones(len(rows)) if half_life is None else 0.5 ** (age / half_life)
        out[key] = (s, w)
    return out


#: The smallest band width a correction scales (lag: days; gap: % of scale): a band of width 0 (every path
#: agrees) still gets a correction when such bands miss.
MIN_WIDTH = {"lag_days": 15.0, "score_gap": 1.0}


def widen(lo: np.ndarray, mid: np.ndarray, hi: np.ndarray, q_lo: float | np.ndarray, q_hi: float | np.ndarray,
          min_width: float) -> tuple[np.ndarray, np.ndarray]:
    """The band ``[lo, hi]`` with its edges moved out by ``q_lo`` / ``q_hi`` widths (negative: in), never
    excluding ``mid``."""
    width = np.maximum(np.asarray(hi) - np.asarray(lo), min_width)
    return np.minimum(lo - q_lo * width, mid), np.maximum(hi + q_hi * width, mid)


def _nonconformity(row: Row, metric: str, h: int, f: tuple[float, float, float]) -> tuple[float, float] | None:
    """How far below and above the raw band ``f`` = (median, lo, hi) the outcome fell, in band widths
    (negative inside it): the band's normalised conformity scores, so that wide and narrow bands pool. An
    edge can never miss an outcome on the median's side of it (:func:`widen` never moves an edge past the
    median), so that edge's score is ``NEVER_MISSES``: a point mass on the median (a lag with no release)
    does not stop the other bands from being narrowed."""
    a = row.actual.get((metric, h))
    if a is None:
        return None
    width = max(f[2] - f[1], MIN_WIDTH[metric])
    below = NEVER_MISSES if a >= f[0] else (f[1] - a) / width
    above = NEVER_MISSES if a <= f[0] else (a - f[2]) / width
    return below, above


def start_value(row: Row, metric: str) -> float:
    """The series' value at the row's cut-off (what "no change" forecasts)."""
    return row.gap0 if metric == "score_gap" else row.lag0


def recentre(f: tuple[float, float, float], start: float) -> tuple[float, float, float]:
    """The band ``f`` = (median, lo, hi) moved so that its median is ``start``."""
    shift = start - f[0]
    return start, f[1] + shift, f[2] + shift


def _no_change_wins(errors: list[tuple[date, float, float]], c: date, floor: float) -> bool:
    """Whether "no change" did better than the paths' median over the (resolved by ``c``) ``errors`` =
    (resolved date, |median - y|, |start - y|): a negative mean log ratio of the two errors (each floored at
    ``floor``, the metric's minimum band width), the scale-free comparison the backtest's geometric-mean
    headline makes, so that a few long-lag series do not decide for all. Needs ``MIN_ROWS`` of them."""
    known = np.array([(m, n) for t, m, n in errors if t <= c])
    if len(known) < MIN_ROWS:
        return False
    return float(np.mean(np.log((known[:, 1] + floor) / (known[:, 0] + floor)))) < 0.0


# ---------------------------------------------------------------------------------------------- probability


@dataclass(frozen=True)
class Platt:
    """A logistic recalibration ``P = sigmoid(a * logit(p) + b + c[unit class])`` (sklearn)."""

    coef: tuple[float, ...]
    intercept: float

    @classmethod
    def fit(cls, p: np.ndarray, unit: list[str], y: np.ndarray) -> Platt | None:
        if len(y) < MIN_ROWS or y.all() or not y.any():
            return None
        from sklearn.linear_model import LogisticRegression  # import cost paid only when fitting

        model = LogisticRegression(C=1.0).fit(_features(p, unit), y.astype(int))
        return cls(tuple(float(c) for c in model.coef_[0]), float(model.intercept_[0]))

    def __call__(self, p: np.ndarray, unit: list[str]) -> np.ndarray:
        z = _features(p, unit) @ np.array(self.coef) + self.intercept
        return np.asarray(1.0 / (1.0 + np.exp(-z)))


def _features(p: np.ndarray, unit: list[str]) -> np.ndarray:
    q = np.clip(np.asarray(p, dtype=float), *_P_CLIP)
    cols = [np.log(q / (1 - q))]
    cols += [np.array([u == c for u in unit], dtype=float) for c in UNIT_CLASSES[1:]]
    return np.column_stack(cols)


@dataclass
class Question:
    """One probability question of one kind (e.g. benchmark, caught up within 12 months), scored in time."""

    kind: str
    window: int
    retake: bool
    published: list[tuple[Row, float, bool, float | None]] = field(default_factory=list)  # row, P, model?, base
    platt: Platt | None = None
    base_rate: float | None = None
    skilled: bool = False
    n_skill: int = 0

    def applies(self, row: Row) -> bool:
        """The row asks this question: its kind, its side (behind: catch-up; level or ahead: retake), and a
        probability read off its paths (none on a saturated benchmark)."""
        return row.kind == self.kind and (row.behind != self.retake) and self.raw(row) is not None

    def raw(self, row: Row) -> float | None:
        return (row.p_retake if self.retake else row.p_catch).get(self.window)

    def outcome(self, row: Row) -> bool | None:
        return (row.retake if self.retake else row.catch).get(self.window)


def _state_at(q: Question, resolved: list[Row], scored: list[tuple[Row, float, bool, float | None]]) -> None:
    """Fit the question's recalibration, base rate and skill verdict on what is resolved."""
    y = np.array([bool(q.outcome(r)) for r in resolved])
    # The base rate of the recent resolved cut-offs (the race changes: 2023's catch-ups on old benchmarks
    # say little about 2025), Jeffreys-smoothed: 0 of 50 is "rare", not "impossible".
    newest = max((r.cutoff for r in resolved), default=None)
    recent = np.array([bool(q.outcome(r)) for r in resolved
                       if newest is not None and r.cutoff > months_after(newest, -BASE_RATE_MONTHS)])
    q.base_rate = float((recent.sum() + 0.5) / (len(recent) + 1)) if len(recent) >= MIN_BASE_ROWS else None
    p = np.array([q.raw(r) for r in resolved], dtype=float)
    q.platt = Platt.fit(p, [r.unit_class for r in resolved], y)
    model_rows = [(r, pp, b) for r, pp, is_model, b in scored if is_model and b is not None]
    q.n_skill = len(model_rows)
    yy = np.array([bool(q.outcome(r)) for r, _, _ in model_rows], dtype=float)
    # skill needs enough rows and enough of both outcomes: beating a base rate of 0 proves nothing
    if len(model_rows) >= MIN_ROWS and min(yy.sum(), len(yy) - yy.sum()) >= MIN_EACH_OUTCOME:
        pm = np.array([pp for _, pp, _ in model_rows])
        pb = np.array([b for _, _, b in model_rows], dtype=float)
        q.skilled = bool(np.mean((pm - yy) ** 2) < np.mean((pb - yy) ** 2))
    else:
        q.skilled = False


def answer(q: Question, row: Row) -> tuple[float | None, bool]:
    """The published probability for ``row`` under the question's current state, and whether it is the
    model's (True) or the base rate (False). The model's is published only once it has shown skill; until
    then it is still recorded (as a candidate) so that its skill can be judged."""
    raw = q.raw(row)
    if raw is None:
        return None, False
    model_p = float(q.platt(np.array([raw]), [row.unit_class])[0]) if q.platt is not None else None
    if model_p is not None and q.skilled:
        return model_p, True
    return q.base_rate, False


# -------------------------------------------------------------------------------------------------- driver


@dataclass
class CalibrationState:
    """What the published run applies: conformal corrections and the probability questions, fitted on every
    resolved backtest row."""

    conformal: dict[tuple[str, str, int], Correction]
    questions: dict[tuple[str, int, bool], Question]
    #: (kind, metric) whose published point is "no change" (see the module docstring)
    recentred: frozenset[tuple[str, str]] = frozenset()

    def to_json(self) -> dict[str, Any]:
        return {
            "recentred": sorted([k, m] for k, m in self.recentred),
            "conformal": [[k, m, h, lo, hi] for (k, m, h), (lo, hi) in self.conformal.items()],
            "questions": [{"kind": q.kind, "window": q.window, "retake": q.retake, "base_rate": q.base_rate,
                           "skilled": q.skilled, "n_skill": q.n_skill,
                           "platt": None if q.platt is None else [list(q.platt.coef), q.platt.intercept]}
                          for q in self.questions.values()],
        }

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> CalibrationState:
        """The state :meth:`to_json` wrote. Raises KeyError/TypeError/ValueError on a malformed document."""
        conformal = {(str(k), str(m), int(h)): (float(lo), float(hi)) for k, m, h, lo, hi in doc["conformal"]}
        questions = {}
        for d in doc["questions"]:
            q = Question(str(d["kind"]), int(d["window"]), bool(d["retake"]))
            q.base_rate, q.skilled, q.n_skill = d["base_rate"], bool(d["skilled"]), int(d["n_skill"])
            if d["platt"] is not None:
                q.platt = Platt(tuple(float(c) for c in d["platt"][0]), float(d["platt"][1]))
            questions[(q.kind, q.window, q.retake)] = q
        recentred = frozenset((str(k), str(m)) for k, m in doc.get("recentred", []))
        return cls(conformal, questions, recentred)

    def probability(self, kind: str, window: int, retake: bool, raw: float, unit_class: str
                    ) -> tuple[float | None, bool]:
        q = self.questions.get((kind, window, retake))
        if q is None:
            return None, False
        row = Row(kind, "", date.min, unit_class, "", 2 if not retake else 0, 0.0, 0.0)
        (row.p_retake if retake else row.p_catch)[window] = raw
        return answer(q, row)


@dataclass
class Calibrated:
    """The backtest after calibration: per-row published answers, and the state for the published run."""

    rows: list[Row]
    bands: dict[tuple[int, str, int], tuple[float, float]]  # (row index, metric, h) -> calibrated band
    points: dict[tuple[int, str, int], float]  # (row index, metric, h) -> published point (median or start)
    answers: dict[tuple[int, int, bool], tuple[float | None, bool]]  # (row index, window, retake) -> P, model?
    state: CalibrationState


def calibrate(rows: list[Row], half_life: float | None = HALF_LIFE_MONTHS,
              borrows: Mapping[str, str] = BORROWS_FROM) -> Calibrated:
    """Calibrate every row from earlier cut-offs only, then fit the final state on everything resolved.
    ``half_life``: of the conformal weights (months; see ``HALF_LIFE_MONTHS``); ``borrows``: which kind's
    errors a kind short of its own borrows (see ``BORROWS_FROM``)."""
    order = sorted(range(len(rows)), key=lambda i: rows[i].cutoff)
    by_cutoff: dict[date, list[int]] = defaultdict(list)
    for i in order:
        by_cutoff[rows[i].cutoff].append(i)
    kinds = sorted({r.kind for r in rows})
    questions = {(k, w, rt): Question(k, w, rt) for k in kinds for rt in (False, True)
                 for w in (RETAKE_WINDOWS if rt else WINDOWS)}
    scores: dict[tuple[str, str, int], list[tuple[date, float, float]]] = defaultdict(list)
    centre_errors: dict[tuple[str, str], list[tuple[date, float, float]]] = defaultdict(list)
    bands: dict[tuple[int, str, int], tuple[float, float]] = {}
    points: dict[tuple[int, str, int], float] = {}
    answers: dict[tuple[int, int, bool], tuple[float | None, bool]] = {}
    seen: list[int] = []
    for c in sorted(by_cutoff):
        known = known_scores(scores, c, half_life)
        corrections: dict[tuple[str, str, int], Correction] = {}  # one per key and cut-off
        moved = {key for key, errs in centre_errors.items()
                 if key[0] in RECENTRE_KINDS and _no_change_wins(errs, c, MIN_WIDTH[key[1]])}
        for q in questions.values():
            resolved = [rows[i] for i in seen if q.applies(rows[i]) and q.outcome(rows[i]) is not None
                        and months_after(rows[i].cutoff, q.window) <= c]
            scored = [s for s in q.published if months_after(s[0].cutoff, q.window) <= c
                      and q.outcome(s[0]) is not None]
            _state_at(q, resolved, scored)
        for i in by_cutoff[c]:
            r = rows[i]
            for metric in METRICS:
                for h in HORIZONS:
                    raw_f = r.forecast.get((metric, h))
                    if raw_f is None:
                        continue
                    f = recentre(raw_f, start_value(r, metric)) if (r.kind, metric) in moved else raw_f
                    key = (r.kind, metric, h)
                    if key not in corrections:
                        corrections[key] = correction_for(known, *key, borrows)
                    q_lo, q_hi = corrections[key]
                    lo, hi = widen(np.array(f[1]), np.array(f[0]), np.array(f[2]), q_lo, q_hi, MIN_WIDTH[metric])
                    if metric == "lag_days":  # a lag is never negative (published trajectories are clamped alike)
                        lo = np.maximum(lo, 0.0)
                    bands[(i, metric, h)] = (float(lo), float(hi))
                    points[(i, metric, h)] = f[0]
                    e = _nonconformity(r, metric, h, f)
                    if e is not None:
                        scores[(r.kind, metric, h)].append((months_after(c, h), *e))
                    a = r.actual.get((metric, h))
                    if a is not None:
                        centre_errors[(r.kind, metric)].append(
                            (months_after(c, h), abs(raw_f[0] - a), abs(start_value(r, metric) - a)))
            for (_, w, rt), q in questions.items():
                if not q.applies(r) or q.raw(r) is None:
                    continue
                p, is_model = answer(q, r)
                answers[(i, w, rt)] = (p, is_model)
                model_p = (float(q.platt(np.array([q.raw(r)]), [r.unit_class])[0])
                           if q.platt is not None else None)
                if model_p is not None:  # the model's candidate answer, judged before it may be published
                    q.published.append((r, model_p, True, q.base_rate))
        seen.extend(by_cutoff[c])
    for q in questions.values():
        resolved = [r for r in rows if q.applies(r) and q.outcome(r) is not None]
        scored = [s for s in q.published if q.outcome(s[0]) is not None]
        _state_at(q, resolved, scored)
    # the published run's cut-off is the data end: every score is resolved by then (the newest weighs most)
    newest = max((t for v in scores.values() for t, _, _ in v), default=date.min)
    everything = known_scores(scores, newest, half_life)
    conformal = {key: correction_for(everything, *key, borrows) for key in everything}
    recentred = frozenset(key for key, errs in centre_errors.items()
                          if key[0] in RECENTRE_KINDS and _no_change_wins(errs, date.max, MIN_WIDTH[key[1]]))
    return Calibrated(rows, bands, points, answers, CalibrationState(conformal, questions, recentred))


# -------------------------------------------------------------------------------------------------- report


#: Resamples behind the report's intervals, and their fixed seed (the report is reproducible).
BOOTSTRAP_RESAMPLES = 2000
BOOTSTRAP_SEED = 0


def bootstrap_interval(units: np.ndarray, statistic: Callable[[np.ndarray], np.ndarray], level: float = 0.9
                       ) -> tuple[float, float]:
    """A ``level`` interval of ``statistic`` by resampling the rows of ``units`` (one per independent unit)
    with replacement; ``statistic`` maps resamples (resamples x units x columns) to one value per resample."""
    rng = np.random.default_rng(BOOTSTRAP_SEED)
    values = statistic(units[rng.integers(0, len(units), size=(BOOTSTRAP_RESAMPLES, len(units)))])
    tail = (1 - level) / 2 * 100
    lo, hi = np.percentile(values, [tail, 100 - tail])
    return round(float(lo), 3), round(float(hi), 3)


def cutoff_bootstrap(hits_by_cutoff: Mapping[date, list[bool]], level: float = 0.9) -> tuple[float, float]:
    """A ``level`` interval (share covered) for a coverage figure, by resampling whole cut-offs: the bands of
    one cut-off miss together (one release moves every Arena category, every member of a domain), so the
    rows are not independent and a row bootstrap would be too narrow."""
    counts = np.array([[sum(v), len(v)] for v in hits_by_cutoff.values()], dtype=float)
    return bootstrap_interval(counts, lambda x: x[..., 0].sum(axis=1) / x[..., 1].sum(axis=1), level)


def coverage_table(cal: Calibrated, halves: Iterable[str] = ("all",)) -> list[dict[str, Any]]:
    """Rows ``{kind, metric, horizon_months, coverage_80, n, cutoffs, ci_90}`` of the calibrated bands
    (``ci_90``: a 90% interval of the coverage by a bootstrap over cut-offs, :func:`cutoff_bootstrap`); for a
    ``half`` other than ``all``, the benchmark rows of that half of the benchmarks (with ``half``)."""
    out = []
    for half in halves:
        cells: dict[tuple[str, str, int], dict[date, list[bool]]] = defaultdict(lambda: defaultdict(list))
        for (i, metric, h), (lo, hi) in cal.bands.items():
            r = cal.rows[i]
            a = r.actual.get((metric, h))
            if a is None or (half != "all" and (r.kind != "benchmark" or r.half != half)):
                continue
            cells[(r.kind, metric, h)][r.cutoff].append(lo <= a <= hi)
        for (kind, metric, h), by_cutoff in sorted(cells.items()):
            hits = [x for v in by_cutoff.values() for x in v]
            row = {"kind": kind, "metric": metric, "horizon_months": h,
                   "coverage_80": round(float(np.mean(hits)), 3), "n": len(hits), "cutoffs": len(by_cutoff),
                   "ci_90": list(cutoff_bootstrap(by_cutoff))}
            if half != "all":
                row["half"] = half
            out.append(row)
    return out


def probability_table(cal: Calibrated, *, retake: bool, half: str = "all") -> list[dict[str, Any]]:
    """Scores of the *published* probabilities at every past cut-off against what happened; for a ``half``
    other than ``all``, the benchmark rows of that half of the benchmarks (domains are not split)."""
    from sklearn.metrics import brier_score_loss, roc_auc_score

    cells: dict[tuple[str, int], list[tuple[float, bool, bool]]] = defaultdict(list)
    for (i, w, rt), (p, is_model) in cal.answers.items():
        r = cal.rows[i]
        if rt != retake or p is None or (half != "all" and (r.kind != "benchmark" or r.half != half)):
            continue
        y = (r.retake if retake else r.catch).get(w)
        if y is not None:
            cells[(r.kind, w)].append((p, bool(y), is_model))
    out = []
    for (kind, w), items in sorted(cells.items()):
        pa = np.array([x[0] for x in items], dtype=float)
        yb = np.array([x[1] for x in items], dtype=bool)
        base = float(yb.mean())
        row: dict[str, Any] = {
            "kind": kind, "within_months": w, "n": len(items), "base_rate": round(base, 4),
            "auc": round(float(roc_auc_score(yb, pa)), 3) if 0 < yb.sum() < len(yb) else None,
            "brier": round(float(brier_score_loss(yb, pa)), 4),
            "brier_base_rate": round(float(np.mean((base - yb) ** 2)), 4),
            "share_from_model": round(float(np.mean([x[2] for x in items])), 3),
        }
        if half != "all":
            row["half"] = half
        out.append(row)
    return out


def series_scores(cal: Calibrated) -> dict[tuple[str, str, str], dict[str, dict[str, Any]]]:
    """Per (kind, target, metric): backtest MAE at 3/6/12 months, 80% coverage and pairs of the published
    forecast (``published``) and of the random walk (``last_value``), in the series' own unit."""
    acc: dict[tuple[str, str, str], dict[str, dict[int, list[float]]]] = defaultdict(
        lambda: defaultdict(lambda: defaultdict(list)))
    for (i, metric, h), (lo, hi) in cal.bands.items():
        r = cal.rows[i]
        a, point = r.actual.get((metric, h)), cal.points.get((i, metric, h))
        if a is None or point is None:
            continue
        base = start_value(r, metric)
        cell = acc[(r.kind, r.target, metric)]
        cell["published"][h].append(abs(point - a))
        cell["last_value"][h].append(abs(base - a))
        cell["covered"][h].append(float(lo <= a <= hi))
    out: dict[tuple[str, str, str], dict[str, dict[str, Any]]] = {}
    for key, cell in acc.items():
        models: dict[str, dict[str, Any]] = {}
        for name in ("published", "last_value"):
            sc: dict[str, Any] = {f"mae_{h}": round(float(np.mean(cell[name][h])), 4) if cell[name][h] else None
                                  for h in HORIZONS}
            sc["coverage_80"] = (round(float(np.mean(cell["covered"][6])), 3)
                                 if name == "published" and cell["covered"][6] else None)
            sc["n"] = len(cell[name][6])
            models[name] = sc
        out[key] = models
    return out
