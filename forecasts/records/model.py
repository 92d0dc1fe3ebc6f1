"""Canonical records: models, benchmarks and scores.

Every source is turned into these three record types before anything is stored or computed. They are
plain frozen dataclasses with `to_dict`/`from_dict` so that they travel through Redis as JSON.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from datetime import date
from enum import StrEnum
from typing import Any

from forecasts.records.organisations import country_of

# Sane bounds: what any stored number must satisfy, whatever a benchmark declares (README "Reliability: data
# integrity"). A value outside them is a typo or an attack, and one such value (1.7e308) would overflow every
# derived series. Open ends of a benchmark's range are closed by its unit's bound (else DEFAULT_BOUND).
UNIT_BOUNDS: dict[str, tuple[float, float]] = {
    "Elo": (0.0, 3000.0),  # LMArena ratings are 700-1600; chess engines reach 3600, no LLM arena does
    "minutes": (0.0, 1e6),  # METR time horizon: ~2 years of work, far above any measured (hours)
    "index": (-1000.0, 1000.0),  # ECI and AA indices are in the low hundreds
}
DEFAULT_BOUND = (-1e6, 1e6)
MAX_STDERR_SHARE = 0.1  # a stderr is at most 10% of the benchmark's scale (real data: at most 7.5%)
EARLIEST_RELEASE = date(2015, 1, 1)  # no model released before compares (monthly series stay bounded)


class Access(StrEnum):
    """Access class of a model: `open` = weights downloadable, `closed` = API or hosted only."""

    OPEN = "open"
    CLOSED = "closed"


@dataclass(frozen=True)
class Model:
    """A canonical model. `release_date` is when it became publicly usable. `licence` is an SPDX id
    (`MIT`, `LicenseRef-Llama-3.1-Community`) or `Proprietary`; `country` is the ISO 3166-1 alpha-2 code of
    the organisation's headquarters (forecasts/data/organisations.toml), "" when unknown."""

    id: str
    name: str
    organization: str
    release_date: date
    access: Access
    licence: str | None = None
    aliases: tuple[str, ...] = ()
    country: str = ""
    offer: Offer | None = None  # API price and speed (Artificial Analysis), None when no source gives them

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id,
            "name": self.name,
            "organization": self.organization,
            "release_date": self.release_date.isoformat(),
            "access": self.access.value,
            "licence": self.licence,
            "aliases": list(self.aliases),
            "country": self.country,
        }
        if self.offer is not None:  # models without one keep their stored form
            out["offer"] = self.offer.to_dict()
        return out

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Model:
        """A model from its dict; a record stored before `country` existed gets it from its organisation."""
        organization = d.get("organization") or ""
        return cls(
            id=d["id"],
            name=d["name"],
            organization=organization,
            release_date=date.fromisoformat(d["release_date"]),
            access=Access(d["access"]),
            licence=d.get("licence"),
            aliases=tuple(d.get("aliases") or ()),
            country=d.get("country") or country_of(organization),
            offer=Offer.from_dict(d["offer"]) if d.get("offer") else None,
        )


@dataclass(frozen=True)
class Offer:
    """What using a model through an API costs and how fast it answers, as one source measured it on one day.

    Prices are USD per million tokens: `price_input`, `price_output` and `price_blended` (Artificial
    Analysis's 3:1 input:output blend, `(3 * input + output) / 4`, computed from the two when the source leaves
    it blank); `output_tokens_per_second` is the median output speed. Any of them may be None (not measured);
    a 0 price is what the source says (a free tier). `as_of` (YYYY-MM-DD) is the day the source published the
    figures, `source` the record they come from (e.g. `aa:2026-07-10/llms.json#glm-4-5v`)."""

    price_blended: float | None
    price_input: float | None
    price_output: float | None
    output_tokens_per_second: float | None
    as_of: str
    source: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Offer:
        """An offer from its dict. Raises ValueError when a figure is negative or not finite, or `as_of` is not
        a YYYY-MM-DD date (the message names the field)."""
        vals = {f: _offer_figure(d.get(f), f) for f in OFFER_FIGURES}
        as_of = str(d.get("as_of") or "")
        try:
            date.fromisoformat(as_of)
        except ValueError:
            raise ValueError(f"offer field 'as_of': {as_of!r} is not a YYYY-MM-DD date") from None
        return cls(**vals, as_of=as_of, source=str(d.get("source") or ""))


OFFER_FIGURES = ("price_blended", "price_input", "price_output", "output_tokens_per_second")


def blended_price(price_input: float | None, price_output: float | None) -> float | None:
    """Artificial Analysis's blended price: 3 parts input to 1 part output, USD per million tokens; None when
    either price is unknown."""
    if price_input is None or price_output is None:
        return None
    return round((3 * price_input + price_output) / 4, 6)


def _offer_figure(v: Any, name: str) -> float | None:
    if v is None or v == "":
        return None
    if isinstance(v, bool) or not isinstance(v, int | float | str):
        raise ValueError(f"offer field {name!r}: {v!r} is not a number")
    x = float(v)
    if not math.isfinite(x) or x < 0:
        raise ValueError(f"offer field {name!r}: {v!r} must be a finite number >= 0")
    return x


@dataclass(frozen=True)
class Benchmark:
    """One benchmark as run by one evaluator.

    Values are in `unit`, within [`min`, `max`] (`max` None = unbounded, e.g. Elo). `tie_margin` and
    `saturation` are in the same unit; `scale` is the span that turns a gap into a unit-free share
    (see `forecasts.measure.gaps.normalised_gap`).
    """

    id: str
    name: str
    evaluator: str
    unit: str
    min: float | None
    max: float | None
    higher_is_better: bool
    tie_margin: float
    saturation: float | None
    scale: float
    description: str = ""
    source_url: str = ""
    launched: date | None = None  # first day of the month the benchmark was publicly released
    launch_source: str = ""  # where that launch month comes from (arXiv id or announcement URL)
    margin_source: str = ""  # why `tie_margin` has its value (a significance practice, a typical stderr)
    scale_source: str = ""  # where `scale` comes from (the declared range, a convention, the data's span)
    held_out: bool = False  # a private / held-out or out-of-distribution test set (held_out.toml)
    held_out_reason: str = ""  # why it is (or is not) held out: the test set's access model
    in_split: bool = True  # counts on its side of the public / held-out split (not composites, not live votes)
    # The evaluator re-fits every model on one scale after the fact (ECI): a score measures the model at
    # its release, so it counts from the release date even before the index was published.
    retrospective: bool = False

    def sane_range(self) -> tuple[float, float]:
        """[lo, hi]: the declared range, its open ends (and anything wider) closed by the unit's bound."""
        lo, hi = UNIT_BOUNDS.get(self.unit, DEFAULT_BOUND)
        return (lo if self.min is None else max(lo, self.min)), (hi if self.max is None else min(hi, self.max))

    def in_range(self, value: float) -> bool:
        """True when `value` is finite and inside `sane_range()`."""
        lo, hi = self.sane_range()
        return math.isfinite(value) and lo <= value <= hi

    def max_stderr(self) -> float:
        """The largest acceptable standard error, in the benchmark's unit."""
        return MAX_STDERR_SHARE * self.scale

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "launched": self.launched.isoformat() if self.launched else None}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Benchmark:
        return cls(
            id=d["id"],
            name=d["name"],
            evaluator=d["evaluator"],
            unit=d["unit"],
            min=_opt_float(d.get("min")),
            max=_opt_float(d.get("max")),
            higher_is_better=bool(d["higher_is_better"]),
            tie_margin=float(d["tie_margin"]),
            saturation=_opt_float(d.get("saturation")),
            scale=float(d["scale"]),
            description=d.get("description") or "",
            source_url=d.get("source_url") or "",
            launched=launch_month(d.get("launched")),  # records stored before the field: None
            launch_source=d.get("launch_source") or "",
            margin_source=d.get("margin_source") or "",
            scale_source=d.get("scale_source") or "",
            held_out=bool(d.get("held_out", False)),
            in_split=bool(d.get("in_split", True)),
            held_out_reason=d.get("held_out_reason") or "",
            retrospective=bool(d.get("retrospective", False)),
        )


@dataclass(frozen=True)
class Score:
    """A model's score on a benchmark, with an optional standard error (same unit as `value`)."""

    model: str
    benchmark: str
    value: float
    stderr: float | None = None
    source: str = ""
    retrieved_at: str = ""
    # ISO date-time (UTC) when gapcast first saw this value for this (model, benchmark): an unchanged
    # re-pull keeps it, a changed value is a new observation and gets the time of the change.
    first_seen: str = ""
    # Rating-history benchmarks (Arena): (as_of YYYY-MM-DD, value, stderr) per snapshot that rated the
    # model, ascending; the last is `value`/`stderr`. Empty elsewhere. See forecasts/measure/ratings.py.
    history: tuple[tuple[str, float, float | None], ...] = ()

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        if not self.history:
            del d["history"]  # scores without a history keep their stored form
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Score:
        return cls(
            model=d["model"],
            benchmark=d["benchmark"],
            value=float(d["value"]),
            stderr=_opt_float(d.get("stderr")),
            source=d.get("source") or "",
            retrieved_at=d.get("retrieved_at") or "",
            first_seen=d.get("first_seen") or _seen_from_retrieval(d.get("retrieved_at")),
            history=tuple((str(a), float(v), _opt_float(e)) for a, v, e in d.get("history") or ()),
        )


@dataclass(frozen=True)
class Exclusion:
    """A source record that was not used, and why (`reason` is a short code, `detail` a sentence)."""

    source: str
    record: str
    name: str
    reason: str
    detail: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Dataset:
    """Models, benchmarks and scores keyed for lookup; what one generation in Redis holds."""

    models: dict[str, Model] = field(default_factory=dict)
    benchmarks: dict[str, Benchmark] = field(default_factory=dict)
    scores: dict[tuple[str, str], Score] = field(default_factory=dict)  # (benchmark, model) -> score

    def scores_for(self, benchmark_id: str) -> list[Score]:
        """All scores on one benchmark (unordered)."""
        return [s for (b, _), s in self.scores.items() if b == benchmark_id]

    def latest_release(self) -> date | None:
        """The newest release date among models that have at least one score."""
        scored = {m for (_, m) in self.scores}
        dates = [self.models[m].release_date for m in scored if m in self.models]
        return max(dates) if dates else None


def insane_score(score: Score, bench: Benchmark) -> str | None:
    """Why `score` breaks the sane bounds of `bench` (None when it does not): for defensive reads."""
    if not bench.in_range(score.value):
        return f"value {score.value!r} outside {bench.sane_range()}"
    if score.stderr is not None and not (math.isfinite(score.stderr) and 0 <= score.stderr <= bench.max_stderr()):
        return f"stderr {score.stderr!r} outside [0, {bench.max_stderr():g}]"
    return None


def launch_month(v: Any) -> date | None:
    """A launch month as the first day of that month, from `YYYY-MM`, a `YYYY-MM-01` date string or a
    date whose day is 1; None or "" -> None. Raises ValueError on anything else."""
    if v is None or v == "":
        return None
    text = v.isoformat() if isinstance(v, date) else v if isinstance(v, str) else ""
    if len(text) == 7:
        text += "-01"
    try:
        when = date.fromisoformat(text) if len(text) == 10 else None
    except ValueError:
        when = None
    if when is None or when.day != 1:
        raise ValueError(f"launch month {v!r} is not of the form YYYY-MM")
    return when


def _seen_from_retrieval(retrieved_at: Any) -> str:
    """`first_seen` of a score stored before the field existed: its `retrieved_at` day at 00:00 UTC (a
    merge keeps an unchanged score's provenance, so that is the day its value was first stored)."""
    try:
        day = date.fromisoformat(str(retrieved_at or "")[:10])
    except ValueError:
        return ""
    return f"{day.isoformat()}T00:00:00+00:00"


def _opt_float(v: Any) -> float | None:
    return None if v is None or v == "" else float(v)
