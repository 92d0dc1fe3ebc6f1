"""From sample paths of both frontiers to everything published: score gap, lag, status and catch-up.

Per path and future month-end: the score gap ``C - O`` (oriented, benchmark unit), the lag exactly as
:mod:`forecasts.measure.gaps` defines it (the time since the closed frontier first rose clearly above where the open
frontier is now; 0 when open is within the tie margin or leads), the status, and whether the benchmark is
saturated. Catch-up is a run of at least :data:`CATCH_UP_RUN` consecutive month-ends with open within the
tie margin or ahead: a touch is not a catch-up. Everything is vectorised over ``(paths, months)``.
"""

from __future__ import annotations

import calendar
import warnings
from dataclasses import dataclass
from datetime import date

import numpy as np

from forecasts.engine.history import BEHIND, LEADS, TIED, Steps

#: Consecutive month-ends open must stay within the tie margin (or ahead) for a catch-up.
CATCH_UP_RUN = 3
#: A frontier move inside a future month is dated mid-month (the realised lag counts from the release day).
MID_MONTH_DAYS = 15.0


@dataclass(frozen=True)
class JointPaths:
    """Sample paths of one benchmark (or, with ``closed``/``open`` None, of one domain) after an origin.

    ``days``: ordinal days of the future month-ends ``(H,)``; ``gap`` in the benchmark's unit (domains: %
    of scale); ``lag`` in days; ``status`` codes of :mod:`forecasts.engine.history`; ``counts`` False where the
    series does not count (saturated on that path, or no benchmark of a domain contributes).
    """

    days: np.ndarray
    gap: np.ndarray
    lag: np.ndarray
    status: np.ndarray
    counts: np.ndarray
    closed: np.ndarray | None = None
    open: np.ndarray | None = None

    @property
    def n_paths(self) -> int:
        return int(self.gap.shape[0])


def band_of(values: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The 10%, 50% and 90% quantiles over paths (axis 0) of ``values`` ``(P, H)``; a column with no finite
    value (no path counts) stays NaN, silently."""
    if not np.isnan(values).any():  # the usual case; nanquantile is 10x slower
        lo, mid, hi = np.quantile(values, [0.1, 0.5, 0.9], axis=0)
        return lo, mid, hi
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        lo, mid, hi = np.nanquantile(values, [0.1, 0.5, 0.9], axis=0)
    return lo, mid, hi


def status_codes(gap: np.ndarray, margin: float) -> np.ndarray:
    """Status codes of oriented gaps against one tie margin (as :func:`forecasts.measure.gaps.classify`)."""
    return np.where(gap < -margin, LEADS, np.where(gap <= margin, TIED, BEHIND))


def lag_days(closed_steps: Steps, closed: np.ndarray, open_: np.ndarray, days: np.ndarray,
             margin: float) -> np.ndarray:
    """Lag in days per path and month: ``t - first date the closed frontier exceeded open(t) + margin``.

    ``closed_steps`` is the closed frontier known at the origin; ``closed``/``open_`` ``(P, H)`` the oriented
    paths at the month-ends ``days``. A path month where closed does not exceed that level has lag 0.
    """
    target = open_ + margin
    n_hist = len(closed_steps.values)
    idx = np.searchsorted(closed_steps.values, target.ravel(), side="right").reshape(target.shape)
    in_hist = idx < n_hist
    since = np.where(in_hist, closed_steps.days[np.minimum(idx, max(n_hist - 1, 0))] if n_hist else 0.0, np.nan)
    above = closed[:, None, :] > target[:, :, None]  # (P, month t, month tau)
    later = above.any(axis=2) & ~in_hist
    first = np.argmax(above, axis=2)
    since = np.where(later, days[first] - MID_MONTH_DAYS, since)
    behind = closed > target
    return np.where(behind & np.isfinite(since), np.maximum(days[None, :] - since, 0.0), 0.0)


def benchmark_paths(closed_steps: Steps, closed: np.ndarray, open_: np.ndarray, days: np.ndarray,
                    margin: float, saturation: float | None, saturated_now: bool) -> JointPaths:
    """Joint paths of one benchmark from its two frontiers' oriented paths."""
    gap = closed - open_
    counts = np.ones(gap.shape, dtype=bool)
    if saturated_now:
        counts[:] = False
    elif saturation is not None:
        counts = np.logical_not(np.maximum.accumulate(closed >= saturation, axis=1))
    return JointPaths(days, gap, lag_days(closed_steps, closed, open_, days, margin), status_codes(gap, margin),
                      counts, closed, open_)


def caught_up_runs(status: np.ndarray) -> np.ndarray:
    """``(P, H - RUN + 1)``: True where a catch-up run of :data:`CATCH_UP_RUN` months starts."""
    tie = status <= TIED
    run = tie[:, : tie.shape[1] - CATCH_UP_RUN + 1].copy()
    for k in range(1, CATCH_UP_RUN):
        run &= tie[:, k : tie.shape[1] - CATCH_UP_RUN + 1 + k]
    return run


def caught_up_within(status: np.ndarray, months: int) -> np.ndarray:
    """Per path: a full catch-up run inside the first ``months`` month-ends."""
    runs = caught_up_runs(status[:, :months])
    return np.asarray(runs.any(axis=1)) if runs.shape[1] else np.zeros(status.shape[0], dtype=bool)


def first_catch_up(status: np.ndarray) -> np.ndarray:
    """Per path, the 0-based month index where the first catch-up run starts; -1 when none."""
    runs = caught_up_runs(status)
    if runs.shape[1] == 0:
        return np.full(status.shape[0], -1)
    return np.where(runs.any(axis=1), np.argmax(runs, axis=1), -1)


def retakes_within(status: np.ndarray, months: int) -> np.ndarray:
    """Per path: closed clearly ahead again (status behind) in one of the first ``months`` month-ends."""
    return np.asarray((status[:, :months] == BEHIND).any(axis=1))


def future_month_days(after: date, horizon: int) -> np.ndarray:
    """Ordinal days of the ``horizon`` month-ends after ``after``'s month."""
    out, y, m = [], after.year, after.month
    for _ in range(horizon):
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)
        out.append(date(y, m, calendar.monthrange(y, m)[1]).toordinal())
    return np.array(out, dtype=float)
