"""Where a benchmark's frontier moves: the scale on which the frontier models work.

A frontier on a bounded benchmark slows as it nears the ceiling: a model ships and closes a share of the
remaining headroom. On ``u = -log(1 - p)`` with ``p = (level - min) / (max - min)`` such a jump is an additive
step of the same size wherever the frontier is, so jump sizes can be pooled across benchmarks and a path
never crosses the ceiling. Elo and index scales move additively in their own unit (divided by the
benchmark's ``scale`` so that benchmarks of one class pool); METR time horizons grow multiplicatively (log).
Values here are *oriented* (higher is better), as in :mod:`forecasts.measure.gaps`.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

import numpy as np

from forecasts.records.model import Benchmark

#: The share of a bounded benchmark's range beyond which the transform stops growing (u <= 5.3): a
#: frontier at 99.5 % of the range has nothing left to forecast, and -log(0) is infinite.
P_MAX = 0.995
LOG_UNITS = frozenset({"minutes"})


class UnitClass(StrEnum):
    """How a benchmark's frontier is transformed; frontier models pool their estimates per class."""

    BOUNDED = "bounded"  # a known min and max: headroom scale
    LINEAR = "linear"  # Elo, ECI and other unbounded indices: own unit / scale
    LOG = "log"  # time horizons in minutes: log scale


@dataclass(frozen=True)
class Transform:
    """Oriented benchmark values <-> the frontier models' scale ``u`` (see the module docstring)."""

    unit_class: UnitClass
    lo: float
    span: float

    @classmethod
    def for_benchmark(cls, bench: Benchmark) -> Transform:
        if bench.unit in LOG_UNITS:
            return cls(UnitClass.LOG, 0.0, 1.0)
        if bench.min is not None and bench.max is not None and bench.max > bench.min:
            lo = bench.min if bench.higher_is_better else -bench.max
            return cls(UnitClass.BOUNDED, lo, bench.max - bench.min)
        return cls(UnitClass.LINEAR, 0.0, bench.scale)

    def to_u(self, x: np.ndarray) -> np.ndarray:
        """Oriented values to ``u`` (NaN stays NaN)."""
        x = np.asarray(x, dtype=float)
        if self.unit_class is UnitClass.BOUNDED:
            p = np.minimum((x - self.lo) / self.span, P_MAX)
            return np.asarray(-np.log1p(-p))
        if self.unit_class is UnitClass.LOG:
            return np.asarray(np.log(np.maximum(x, 1e-3)))
        return x / self.span

    def from_u(self, u: np.ndarray) -> np.ndarray:
        """``u`` back to oriented values."""
        u = np.asarray(u, dtype=float)
        if self.unit_class is UnitClass.BOUNDED:
            return np.asarray(self.lo + self.span * -np.expm1(-u))
        if self.unit_class is UnitClass.LOG:
            return np.asarray(np.exp(u))
        return u * self.span
