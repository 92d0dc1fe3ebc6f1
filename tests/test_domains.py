"""Domain configuration and aggregation (no Redis)."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from forecasts.measure.domains import (
    FRESH_DAYS,
    DomainConfigError,
    domain_at,
    domain_series,
    load_domains,
    parse_domains,
    weighted_median,
)
from forecasts.measure.gaps import BenchmarkGaps, Entry, GapStatus, month_ends
from forecasts.records.model import Access, Benchmark

CL, OP = Access.CLOSED, Access.OPEN


def bench(bid: str, **kw: object) -> Benchmark:
    base: dict[str, object] = dict(
        id=bid, name=bid, evaluator="test", unit="%", min=0.0, max=100.0, higher_is_better=True,
        tie_margin=1.0, saturation=None, scale=100.0,
    )
    base.update(kw)
    return Benchmark(**base)  # type: ignore[arg-type]


def e(model: str, day: str, access: Access, value: float) -> Entry:
    return Entry(model, date.fromisoformat(day), access, value)


TOML = """
[domains.coding]
name = "Coding"
benchmarks = [
  { id = "a", weight = 2 },
  { id = "elo", weight = 1 },
  { id = "old", weight = 1, until = "2024-03-31" },
]
"""


def gaps() -> dict[str, BenchmarkGaps]:
    return {
        "a": BenchmarkGaps(bench("a"), [e("c1", "2024-01-01", CL, 70), e("o1", "2024-01-15", OP, 60)]),
        "elo": BenchmarkGaps(bench("elo", unit="Elo", min=0.0, max=None, tie_margin=10.0, scale=400.0),
                             [e("c1", "2024-01-01", CL, 1300), e("o2", "2024-01-20", OP, 1340)]),
        "old": BenchmarkGaps(bench("old"), [e("c0", "2023-06-01", CL, 80), e("o0", "2023-06-01", OP, 50)]),
    }


def test_shipped_domains_cover_the_required_capabilities() -> None:
    domains = load_domains()
    required = {"overall", "coding", "math", "knowledge-science", "agentic-terminal", "chat",
                "long-context", "instruction-following", "knowledge-work", "ood-reasoning"}
    assert required <= set(domains)


def test_domain_aggregates_are_scale_aware() -> None:
    dom = parse_domains(TOML, "test")["coding"]
    # "old" has data only in 2023 (and a window ending 2024-03-31): only a and elo count.
    p = domain_at(dom, gaps(), date(2024, 1, 31))
    # a: 10 points of 100 = 10 %, weight 2; elo: -40 of 400 = -10 %, weight 1 -> (20 - 10) / 3
    assert p.score_gap == pytest.approx(10.0 / 3)
    assert p.benchmarks == ("a", "elo")
    assert p.status is GapStatus.OPEN_BEHIND  # the weighted median benchmark (weight 2 of 3) is behind
    assert p.closed_leader and p.closed_leader["model"] == "c1" and p.closed_leader["benchmark"] == "a"
    assert p.open_leader and p.open_leader["model"] == "o1"


def test_domain_lag_is_the_weighted_median() -> None:
    assert weighted_median([100.0, 0.0, 30.0], [1.0, 1.0, 1.0]) == 30.0
    assert weighted_median([100.0, 0.0], [3.0, 1.0]) == 100.0


def test_saturated_benchmarks_stop_contributing() -> None:
    g = gaps()
    g["a"] = BenchmarkGaps(bench("a", saturation=65.0),
                           [e("c1", "2024-01-01", CL, 70), e("o1", "2024-01-15", OP, 60)])
    dom = parse_domains(TOML, "test")["coding"]
    p = domain_at(dom, g, date(2024, 1, 31))
    assert p.benchmarks == ("elo",) and p.status is GapStatus.OPEN_LEADS


def test_series_is_trimmed_to_months_with_data() -> None:
    dom = parse_domains(TOML, "test")["coding"]
    months = list(month_ends(date(2023, 1, 1), date(2024, 6, 30)))
    pts = domain_series(dom, gaps(), months)
    assert pts[0].date == date(2023, 6, 30)  # "old" has both classes from June 2023
    assert all(p.status is not GapStatus.NO_DATA for p in pts[:1])


def test_domain_with_no_contributing_benchmark_is_no_data() -> None:
    dom = parse_domains(TOML, "test")["coding"]
    assert domain_at(dom, {}, date(2024, 6, 30)).status is GapStatus.NO_DATA


@pytest.mark.parametrize(("text", "fragment"), [
    ("not toml [", "not valid TOML"),
    ("[other]\nx = 1", "[domains.<id>]"),
    ("[domains.x]\nbenchmarks = []", "'benchmarks' must be a non-empty list"),
    ("[domains.x]\nbenchmarks = [{ id = 'a', weight = -1 }]", "'weight' must be a positive number"),
    ("[domains.x]\nbenchmarks = [{ id = 'a', from = 'soon' }]", "'from' must be a date"),
    ("[domains.x]\nbenchmarks = [{ id = 'a' }, { id = 'a' }]", "lists a benchmark twice"),
    ("[domains.x]\nbenchmarks = [{ weight = 1 }]", "benchmarks[0]"),
])
def test_bad_domain_files_are_rejected_with_the_field_named(text: str, fragment: str) -> None:
    with pytest.raises(DomainConfigError, match=None) as info:
        parse_domains(text, "user.toml")
    assert fragment in str(info.value) and "user.toml" in str(info.value)


def test_a_benchmark_without_new_data_counts_frozen_for_the_fresh_window_then_stops() -> None:
    dom = parse_domains("[domains.d]\nbenchmarks = [{ id = 'a' }]", "test")["d"]
    bg = {"a": BenchmarkGaps(bench("a"), [e("c1", "2024-01-01", CL, 70), e("o1", "2024-01-15", OP, 60)])}
    frozen = domain_at(dom, bg, date(2024, 3, 31))
    assert frozen.status is GapStatus.OPEN_BEHIND
    assert frozen.lag_days == (date(2024, 1, 15) - date(2024, 1, 1)).days  # the lag at its last data, not grown
    assert frozen.to_dict()["member_data_age_days"] == {"a": (date(2024, 3, 31) - date(2024, 1, 15)).days}
    assert (date(2024, 1, 15) + timedelta(days=FRESH_DAYS + 1)) < date(2024, 5, 31)
    assert domain_at(dom, bg, date(2024, 5, 31)).status is GapStatus.NO_DATA  # past FRESH_DAYS: stops counting


def test_a_domains_leaders_come_from_one_benchmark_its_heaviest_current_one() -> None:
    dom = parse_domains("[domains.d]\nbenchmarks = [{ id = 'a', weight = 1 }, { id = 'b', weight = 2 }]",
                        "test")["d"]
    bg = {"a": BenchmarkGaps(bench("a"), [e("ca", "2024-01-01", CL, 90), e("oa", "2024-01-02", OP, 89)]),
          "b": BenchmarkGaps(bench("b"), [e("cb", "2024-01-01", CL, 70), e("ob", "2024-01-02", OP, 50)])}
    p = domain_at(dom, bg, date(2024, 1, 31))
    assert p.primary_benchmark == "b"
    assert p.closed_leader and p.open_leader
    assert (p.closed_leader["model"], p.open_leader["model"]) == ("cb", "ob")
    assert p.closed_leader["benchmark"] == p.open_leader["benchmark"] == "b"
