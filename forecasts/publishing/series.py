"""What a forecast series is: its spec (target, kind, metric, tie margin, range) and the model names a
published forecast can carry. Pure; no I/O."""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum
from typing import Literal

from forecasts.measure.gaps import DAYS_PER_MONTH

__all__ = ["DAYS_PER_MONTH", "Kind", "Metric", "ModelName", "SeriesSpec"]

Metric = Literal["score_gap", "lag_days"]
Kind = Literal["domain", "benchmark"]


@dataclass(frozen=True)
class SeriesSpec:
    """What a series is and how to read it.

    ``tie_margin`` is in the metric's unit (score points for ``score_gap``, days for ``lag_days``): the
    series counts as caught up when its value is ``<= tie_margin``. ``lower``/``upper`` clamp every
    prediction and sample (``None`` = unbounded; a 0-100 benchmark's score gap is [-100, 100], a lag is
    [0, None]). ``closed_upper`` is the ceiling of the closed frontier (e.g. 100). Raises ``ValueError``
    on an inconsistent spec (a programming error, not bad data).
    """

    target: str
    kind: Kind
    metric: Metric
    tie_margin: float
    lower: float | None
    upper: float | None
    closed_upper: float | None = None

    def __post_init__(self) -> None:
        if self.kind not in ("domain", "benchmark"):
            raise ValueError(f"kind must be 'domain' or 'benchmark', got {self.kind!r}")
        if self.metric not in ("score_gap", "lag_days"):
            raise ValueError(f"metric must be 'score_gap' or 'lag_days', got {self.metric!r}")
        if not (math.isfinite(self.tie_margin) and self.tie_margin >= 0):
            raise ValueError(f"tie_margin must be a finite number >= 0, got {self.tie_margin!r}")
        if self.lower is not None and self.upper is not None and self.lower >= self.upper:
            raise ValueError(f"lower must be below upper, got [{self.lower!r}, {self.upper!r}]")


class ModelName(StrEnum):
    """The frontier models of the engine (:mod:`forecasts.engine.candidates`); a published forecast names one."""

    FLAT = "flat"
    JUMPS = "jumps"
    SAWTOOTH = "sawtooth"
    CHASE = "chase"
    AGGREGATED = "aggregated"  # a domain: its member benchmarks' paths, each from its own model
