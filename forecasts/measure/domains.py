"""Capability domains: their configuration (TOML) and the per-domain aggregates of benchmark gaps.

A domain is a weighted set of benchmarks, each with an optional validity window. At a month `t` a
benchmark *contributes* to its domain when `t` is inside its window, it is *current* (its newest data is at
most `FRESH_DAYS` old at `t`; in between, its last state counts frozen), both classes have a score and it is
not saturated. Over the contributing benchmarks:

- `lag_days` is the weighted median of the benchmark lags (unit-free already);
- `score_gap` is the weighted mean of the normalised gaps `100 * G_b / scale_b`, in "% of scale"
  (a 0-100 benchmark's points; 400 Elo = 100 %; each clamped to +-100), so that Elo, indices and
  percentages mix honestly;
- `status` is the weighted median of the benchmark statuses ordered open_leads < caught_up < open_behind;
- the closed and open leaders are those of one benchmark, the heaviest contributing one (the freshest
  on equal weight): `primary_benchmark`. Leaders from two benchmarks would compare unlike numbers;
- `ages` gives each contributing benchmark's data age at `t` (days since its newest data).
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from importlib import resources
from pathlib import Path
from typing import Any

from forecasts.measure.gaps import BenchmarkGaps, GapPoint, GapStatus, Leader, normalised_gap

DOMAIN_UNIT = "% of scale"
# How long a benchmark keeps counting for its domain after its newest data (frozen at its last state):
# one quarter, about the time evaluators take to score a new frontier release. Longer windows let stale
# benchmarks hold a domain's headline (at the 2026-07 end of the bundled data, 5 of coding's 7 contributors
# had no data for four months or more under the earlier six-month window).
FRESH_DAYS = 91
_STATUS_ORDER = [GapStatus.OPEN_LEADS, GapStatus.CAUGHT_UP, GapStatus.OPEN_BEHIND]


class DomainConfigError(ValueError):
    """A domain file that cannot be used; the message names the file, domain and field."""


@dataclass(frozen=True)
class Member:
    """One benchmark of a domain, with its weight and optional validity window (inclusive dates)."""

    benchmark: str
    weight: float
    valid_from: date | None = None
    valid_until: date | None = None

    def valid_at(self, t: date) -> bool:
        return (self.valid_from is None or t >= self.valid_from) and (
            self.valid_until is None or t <= self.valid_until
        )


@dataclass(frozen=True)
class Domain:
    """A named capability domain."""

    id: str
    name: str
    description: str
    members: tuple[Member, ...]

    @property
    def benchmark_ids(self) -> list[str]:
        return [m.benchmark for m in self.members]


@dataclass(frozen=True)
class DomainPoint:
    """A domain's state at `date` (see the module docstring for the formulas)."""

    date: date
    score_gap: float | None
    lag_days: float | None
    status: GapStatus
    closed_leader: dict[str, Any] | None
    open_leader: dict[str, Any] | None
    benchmarks: tuple[str, ...] = field(default=())
    primary_benchmark: str | None = None  # the benchmark the leaders come from (see the module docstring)
    ages: tuple[int, ...] = field(default=())  # data age at `date` (days) of each of `benchmarks`

    def to_dict(self) -> dict[str, Any]:
        return {
            "date": self.date.isoformat(),
            "score_gap": None if self.score_gap is None else round(self.score_gap, 4),
            "unit": DOMAIN_UNIT,
            "lag_days": None if self.lag_days is None else round(self.lag_days, 1),
            "status": self.status.value,
            "closed_leader": self.closed_leader,
            "open_leader": self.open_leader,
            "benchmarks": list(self.benchmarks),
            "primary_benchmark": self.primary_benchmark,
            "member_data_age_days": dict(zip(self.benchmarks, self.ages, strict=True)),
        }


def default_domains_text() -> str:
    """The TOML text of the domains shipped with gapcast."""
    return resources.files("forecasts.data").joinpath("domains.toml").read_text(encoding="utf-8")


def load_domains(path: Path | None = None) -> dict[str, Domain]:
    """Domains from `path`, or the shipped file when None. Raises DomainConfigError on a bad file."""
    if path is None:
        return parse_domains(default_domains_text(), "domains.toml (shipped)")
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise DomainConfigError(f"{path}: cannot read ({exc.strerror})") from exc
    return parse_domains(text, str(path))


def parse_domains(text: str, origin: str) -> dict[str, Domain]:
    """Parse and validate a domain TOML document; `origin` names it in error messages."""
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise DomainConfigError(f"{origin}: not valid TOML ({exc})") from exc
    table = doc.get("domains")
    if not isinstance(table, dict) or not table:
        raise DomainConfigError(f"{origin}: expected a [domains.<id>] table with at least one domain")
    return {dom_id: _parse_domain(origin, dom_id, body) for dom_id, body in table.items()}


def _parse_domain(origin: str, dom_id: str, body: Any) -> Domain:
    where = f"{origin}: domain {dom_id!r}"
    if not isinstance(body, dict):
        raise DomainConfigError(f"{where}: expected a table")
    members = body.get("benchmarks")
    if not isinstance(members, list) or not members:
        raise DomainConfigError(f"{where}: field 'benchmarks' must be a non-empty list")
    parsed = tuple(_parse_member(f"{where}, benchmarks[{i}]", m) for i, m in enumerate(members))
    ids = [m.benchmark for m in parsed]
    if len(set(ids)) != len(ids):
        raise DomainConfigError(f"{where}: field 'benchmarks' lists a benchmark twice")
    return Domain(dom_id, str(body.get("name") or dom_id), str(body.get("description") or ""), parsed)


def _parse_member(where: str, raw: Any) -> Member:
    if not isinstance(raw, dict) or not isinstance(raw.get("id"), str) or not raw["id"]:
        raise DomainConfigError(f"{where}: expected {{ id = \"<benchmark id>\", weight = <number> }}")
    weight = raw.get("weight", 1.0)
    if isinstance(weight, bool) or not isinstance(weight, int | float) or not weight > 0:
        raise DomainConfigError(f"{where}: field 'weight' must be a positive number, got {weight!r}")
    valid_from, valid_until = _opt_date(where, raw, "from"), _opt_date(where, raw, "until")
    if valid_from and valid_until and valid_until < valid_from:
        raise DomainConfigError(f"{where}: field 'until' is before 'from'")
    return Member(raw["id"], float(weight), valid_from, valid_until)


def _opt_date(where: str, raw: dict[str, Any], key: str) -> date | None:
    v = raw.get(key)
    if v is None or isinstance(v, date):
        return v
    try:
        return date.fromisoformat(str(v))
    except ValueError as exc:
        raise DomainConfigError(f"{where}: field {key!r} must be a date YYYY-MM-DD, got {v!r}") from exc


# --- aggregation -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Contribution:
    member: Member
    point: GapPoint
    norm_gap: float
    age_days: int  # days from the benchmark's newest data to the domain's date


def contributions(domain: Domain, gaps: dict[str, BenchmarkGaps], t: date) -> list[_Contribution]:
    """The benchmarks that count for `domain` at `t`, with their gap points.

    After a benchmark's newest data its last state counts, frozen, for `FRESH_DAYS` (evaluators test new
    models late; letting its lag grow would invent a widening), then it stops counting.
    """
    out = []
    for member in domain.members:
        bg = gaps.get(member.benchmark)
        if bg is None or not member.valid_at(t):
            continue
        start, end = bg.start(), bg.data_end
        if start is None or end is None or t < start or (t - end).days > FRESH_DAYS:
            continue
        point = bg.at(min(t, end))
        if point.saturated or point.score_gap is None:
            continue
        age = max(0, (t - end).days)
        out.append(_Contribution(member, point, normalised_gap(point.score_gap, bg.bench), age))
    return out


def domain_at(domain: Domain, gaps: dict[str, BenchmarkGaps], t: date) -> DomainPoint:
    """The domain's aggregate state at `t`; status `no_data` when no benchmark contributes."""
    parts = contributions(domain, gaps, t)
    if not parts:
        return DomainPoint(t, None, None, GapStatus.NO_DATA, None, None)
    weights = [p.member.weight for p in parts]
    total = sum(weights)
    gap = sum(w * p.norm_gap for w, p in zip(weights, parts, strict=True)) / total
    lag = weighted_median([float(p.point.lag_days or 0) for p in parts], weights)
    rank = weighted_median([float(_STATUS_ORDER.index(p.point.status)) for p in parts], weights)
    primary = max(parts, key=lambda p: (p.member.weight, -p.age_days))  # first on a full tie
    return DomainPoint(
        date=t,
        score_gap=gap,
        lag_days=lag,
        status=_STATUS_ORDER[int(rank)],
        closed_leader=_leader(primary, primary.point.closed),
        open_leader=_leader(primary, primary.point.open),
        benchmarks=tuple(p.member.benchmark for p in parts),
        primary_benchmark=primary.member.benchmark,
        ages=tuple(p.age_days for p in parts),
    )


def domain_series(
    domain: Domain, gaps: dict[str, BenchmarkGaps], months: Iterable[date]
) -> list[DomainPoint]:
    """The domain at each date of `months`, trimmed to the span where some benchmark contributes."""
    points = [domain_at(domain, gaps, t) for t in months]
    idx = [i for i, p in enumerate(points) if p.status is not GapStatus.NO_DATA]
    return points[idx[0] : idx[-1] + 1] if idx else []


def weighted_median(values: list[float], weights: list[float]) -> float:
    """The lower weighted median: the smallest value whose cumulative weight reaches half the total."""
    if not values:
        raise ValueError("weighted_median of no values")
    pairs = sorted(zip(values, weights, strict=True))
    half, acc = sum(weights) / 2.0, 0.0
    for v, w in pairs:
        acc += w
        if acc >= half:
            return v
    return pairs[-1][0]


def _leader(part: _Contribution, ldr: Leader | None) -> dict[str, Any] | None:
    """A class's leader on the primary benchmark, with that benchmark's id (both leaders share it)."""
    return None if ldr is None else {**ldr.to_dict(), "benchmark": part.member.benchmark}

