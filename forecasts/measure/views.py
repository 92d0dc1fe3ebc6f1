"""Who leads, and the swap question: pure functions over a `Dataset` (issue 14).

- `filtered(data, filters)`: the dataset a frontier view by organisation / country is computed from. The
  closed side keeps only the closed models matching the closed filters, the open side only the open models
  matching the open filters; everything downstream (frontiers, tie margins, freshness, domain aggregation) is
  the unchanged `forecasts.measure.compute.derive` run on it.
- `frontier_moves(...)` / `movers(...)`: every time an open model became the open leader on one of a
  domain's benchmarks, and the share of those moves made by each country, per year.
- `swap(...)`: the open models within a gap of the closed leader on one benchmark, with their API prices and
  speed (`Model.offer`), sorted by price, and how many times cheaper the cheapest one is.

Organisations match as `forecasts.records.organisations.by_organisation` matches them: through the table
forecasts/data/organisations.toml (a name or alias of one row is one lab, case-insensitive), else by name.
"""

from __future__ import annotations

import functools
import re
import tomllib
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import date
from importlib import resources
from typing import Any

from forecasts.measure.domains import Domain
from forecasts.measure.gaps import BenchmarkGaps, normalised_gap
from forecasts.measure.ratings import MAX_CARRY_DAYS
from forecasts.records.model import Access, Dataset, Model, Score
from forecasts.records.organisations import by_organisation

__all__ = ["FilterError", "Filters", "check_filters", "display_org", "filtered", "frontier_moves", "movers",
           "swap"]

_ISO2 = re.compile(r"[A-Za-z]{2}")
UNKNOWN_COUNTRY = ""  # a model whose organisation is not in the table: counted under "" in the movers


class FilterError(ValueError):
    """A filter or swap parameter that cannot be used; `param` names the query parameter."""

    def __init__(self, param: str, message: str) -> None:
        super().__init__(f"{param}: {message}")
        self.param = param
        self.message = message


@dataclass(frozen=True)
class Filters:
    """Frontier filters: ISO 3166-1 alpha-2 country codes and organisation names, per side; None = no filter
    on that side. Matching is `forecasts.records.organisations.by_organisation`'s."""

    closed_country: str | None = None
    open_country: str | None = None
    closed_org: str | None = None
    open_org: str | None = None

    def active(self) -> bool:
        """True when any filter is set (an unfiltered view is served from the stored series instead)."""
        return bool(self.to_dict())

    def to_dict(self) -> dict[str, str]:
        """The filters that are set, in a fixed order (how an answer names its view)."""
        every = {"closed_country": self.closed_country, "open_country": self.open_country,
                 "closed_org": self.closed_org, "open_org": self.open_org}
        return {k: v for k, v in every.items() if v is not None}

    def key(self) -> str:
        """A stable cache key: `closed_country=US&open_country=CN` (set filters only, fixed order)."""
        return "&".join(f"{k}={v.casefold()}" for k, v in self.to_dict().items())


def _norm(name: str) -> str:
    return " ".join(name.split()).casefold()


@functools.cache
def _organisation_rows() -> dict[str, str]:
    """Normalised organisation name or alias -> the table row's name (read on first use)."""
    text = resources.files("forecasts.data").joinpath("organisations.toml").read_text(encoding="utf-8")
    out: dict[str, str] = {}
    for row in tomllib.loads(text).get("organisation", []):
        for name in [row["name"], *row.get("aliases", [])]:
            out.setdefault(_norm(name), row["name"])
    return out


def display_org(model: Model) -> str:
    """The table's name of `model`'s first organisation ("Meta" -> "Meta AI"), else that name as given."""
    first = (model.organization or "").split(",")[0].strip()
    return _organisation_rows().get(_norm(first), first)


def check_filters(data: Dataset, raw: Filters) -> Filters:
    """`raw` checked against `data`: country codes upper-cased, names stripped. Raises FilterError naming the
    parameter when a country code is not two letters, or when no model of that side (closed / open) in `data`
    has that country or organisation (the message lists the known ones)."""
    out: dict[str, str | None] = {}
    for side, access in (("closed", Access.CLOSED), ("open", Access.OPEN)):
        models = [m for m in data.models.values() if m.access is access]
        side_data = Dataset({m.id: m for m in models})
        country = getattr(raw, f"{side}_country")
        if country is not None:
            param = f"{side}_country"
            country = country.strip()
            if not _ISO2.fullmatch(country):
                raise FilterError(param, f"{country!r} is not an ISO 3166-1 alpha-2 country code (two letters)")
            country = country.upper()
            if not by_organisation(side_data, **{param: country}).models:
                known = sorted({m.country for m in models if m.country})
                raise FilterError(param, f"no {side} model comes from {country!r}; "
                                         f"{side} models come from {', '.join(known)}")
        out[f"{side}_country"] = country
        org = getattr(raw, f"{side}_org")
        if org is not None:
            org = " ".join(org.split())
            if not org or not by_organisation(side_data, **{f"{side}_org": org}).models:
                listed = sorted({display_org(m) for m in models if display_org(m)}, key=str.casefold)
                raise FilterError(f"{side}_org", f"no {side} model is made by {org!r}; e.g. "
                                                 f"{', '.join(listed[:12])} ({len(listed)} organisations)")
        out[f"{side}_org"] = org
    return Filters(**out)


def filtered(data: Dataset, filters: Filters) -> Dataset:
    """The models of `data` matching `filters` (each class by its own side's filters), their scores, and every
    benchmark (`forecasts.records.organisations.by_organisation`). Pure: `data` is not changed."""
    return by_organisation(data, **filters.to_dict())


# --- frontier moves --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Move:
    """An open model becoming the open leader of `benchmark` on `date` (the day its score started to count;
    for a rating benchmark, the month-end of the first monthly point it leads)."""

    benchmark: str
    model: str
    date: date
    country: str
    organization: str

    def to_dict(self) -> dict[str, Any]:
        return {"benchmark": self.benchmark, "model": self.model, "date": self.date.isoformat(),
                "country": self.country, "organization": self.organization}


def frontier_moves(dom: Domain, gaps: dict[str, BenchmarkGaps], models: dict[str, Model]) -> list[Move]:
    """Every open frontier move on `dom`'s benchmarks inside their validity windows, oldest first. A benchmark
    whose frontier is read from its rating snapshots (Arena) moves when its monthly open leader changes (the
    snapshot current then decides); every other benchmark at each step of its open frontier."""
    moves: list[Move] = []
    for member in dom.members:
        bg = gaps.get(member.benchmark)
        if bg is None:
            continue
        if bg.ratings is not None:
            steps: list[tuple[str, date]] = []
            for p in bg.monthly():
                if p.open is not None and (not steps or steps[-1][0] != p.open.model):
                    steps.append((p.open.model, p.date))
        else:
            steps = [(ldr.model, ldr.effective_date) for ldr in bg.open.leaders]
        for model_id, when in steps:
            if not member.valid_at(when):
                continue
            m = models.get(model_id)
            moves.append(Move(member.benchmark, model_id, when, m.country if m else UNKNOWN_COUNTRY,
                              display_org(m) if m else ""))
    return sorted(moves, key=lambda mv: (mv.date, mv.benchmark, mv.model))


def movers(moves: list[Move]) -> dict[str, Any]:
    """The share of `moves` made by each country, per year and over all years: `years` [{year, moves,
    countries: [{country, moves, share}]}] (share in [0, 1], countries by moves, "" = unknown country),
    `all_years` {moves, countries} and the `moves` themselves."""
    by_year: dict[int, Counter[str]] = defaultdict(Counter)
    for mv in moves:
        by_year[mv.date.year][mv.country] += 1
    total: Counter[str] = Counter(mv.country for mv in moves)
    return {"years": [{"year": y, **_shares(c)} for y, c in sorted(by_year.items())],
            "all_years": _shares(total), "moves": [mv.to_dict() for mv in moves]}


def _shares(counts: Counter[str]) -> dict[str, Any]:
    n = sum(counts.values())
    rows = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    return {"moves": n, "countries": [{"country": c, "moves": k, "share": round(k / n, 4)} for c, k in rows]}


# --- the swap question -----------------------------------------------------------------------------------

SWAP_UNIT = "% of scale"


def swap(data: Dataset, bg: BenchmarkGaps, max_gap: float) -> dict[str, Any]:
    """The open models within `max_gap` (% of the benchmark's scale, like the domain score gap) of the closed
    leader of `bg`'s benchmark at its newest data, with their offers (`Model.offer`), sorted by blended price
    (unpriced last, then by gap), the closed leader's own offer, and `cheapest`: how many times less the
    cheapest priced (> 0) open candidate costs than the closed leader (null when either price is unknown).
    Each score carries its source's retrieval date, each offer its `as_of`. Raises FilterError("max_gap")
    when `max_gap` is negative or not finite."""
    if not (max_gap >= 0 and max_gap != float("inf")):
        raise FilterError("max_gap", f"{max_gap!r} must be a finite number >= 0")
    bench = bg.bench
    end = bg.data_end
    point = bg.at(end) if end is not None else None
    leader = point.closed if point is not None else None
    out: dict[str, Any] = {"benchmark": bench.id, "benchmark_name": bench.name, "unit": bench.unit,
                           "scale": bench.scale, "gap_unit": SWAP_UNIT, "max_gap": max_gap,
                           "as_of": end.isoformat() if end else None, "closed_leader": None, "candidates": [],
                           "cheapest": None}
    if leader is None or end is None:
        return out
    sign = 1.0 if bench.higher_is_better else -1.0
    closed_score = data.scores.get((bench.id, leader.model))
    rated = _value_at(closed_score, end)[1] if closed_score is not None else None
    out["closed_leader"] = _entry(data, leader.model, leader.score, bench.id, None, rated)
    rows = []
    for (b_id, m_id), s in data.scores.items():
        m = data.models.get(m_id)
        if b_id != bench.id or m is None or m.access is not Access.OPEN or _counts_from(m, bg) > end:
            continue
        value, rated = _value_at(s, end)
        if s.history and (rated is None or (end - date.fromisoformat(rated)).days > MAX_CARRY_DAYS):
            continue  # off the board current at `end`, as the rating frontier sees it (forecasts.measure.ratings)
        gap = normalised_gap(sign * (leader.score - value), bench)
        if gap <= max_gap + 1e-9:
            rows.append(_entry(data, m_id, value, bench.id, round(gap, 4), rated))
    rows.sort(key=lambda r: (r["price_blended"] is None, r["price_blended"] or 0.0, r["gap"], r["model"]))
    out["candidates"] = rows
    out["cheapest"] = _cheapest(out["closed_leader"], rows, max_gap)
    return out


def _counts_from(m: Model, bg: BenchmarkGaps) -> date:
    launched = None if bg.bench.retrospective else bg.bench.launched
    return max(m.release_date, launched) if launched else m.release_date


def _value_at(s: Score, end: date) -> tuple[float, str | None]:
    """The score at `end` and the day it is of: a rating history's newest snapshot on or before `end` (its
    board date), else the value (dated by the source's retrieval)."""
    past = [(v, as_of) for as_of, v, _ in s.history if as_of <= end.isoformat()]
    return past[-1] if past else (s.value, None)


def _entry(data: Dataset, model_id: str, value: float, bench_id: str, gap: float | None,
           rated: str | None = None) -> dict[str, Any]:
    """One row of a swap answer: the model, its score (and the day it is of), its gap and its offer."""
    m = data.models[model_id]
    s = data.scores.get((bench_id, model_id))
    o = m.offer
    return {"model": m.id, "name": m.name, "organization": m.organization, "country": m.country,
            "release_date": m.release_date.isoformat(), "score": value, "gap": gap,
            "score_date": rated or (s.retrieved_at[:10] if s and s.retrieved_at else None),
            "score_source": s.source if s else None,
            "price_blended": o.price_blended if o else None, "price_input": o.price_input if o else None,
            "price_output": o.price_output if o else None,
            "output_tokens_per_second": o.output_tokens_per_second if o else None,
            "offer_as_of": o.as_of if o else None, "offer_source": o.source if o else None}


def _cheapest(closed: dict[str, Any], rows: list[dict[str, Any]], max_gap: float) -> dict[str, Any] | None:
    """The cheapest open candidate with a blended price above 0 against the closed leader's price. A 0 price
    (a free tier) is listed among the candidates but gives no ratio (it would be infinite)."""
    priced = [r for r in rows if r["price_blended"]]
    if not priced:
        return None
    best = priced[0]
    closed_price = closed["price_blended"]
    times = round(closed_price / best["price_blended"], 2) if closed_price else None
    sentence = (f"The cheapest open model within {max_gap:g} points ({SWAP_UNIT}), {best['name']}, costs "
                f"{times:g}x less than {closed['name']} (blended USD per million tokens, "
                f"{best['price_blended']:g} vs {closed_price:g})." if times is not None else
                f"The cheapest open model within {max_gap:g} points ({SWAP_UNIT}) is {best['name']} "
                f"({best['price_blended']:g} USD per million tokens, blended); {closed['name']} has no price.")
    return {"model": best["model"], "name": best["name"], "price_blended": best["price_blended"],
            "closed_price_blended": closed_price, "times_cheaper": times, "offer_as_of": best["offer_as_of"],
            "closed_offer_as_of": closed["offer_as_of"], "sentence": sentence}
