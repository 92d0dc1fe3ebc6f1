"""Gap maths on small hand-built cases (no Redis)."""

from __future__ import annotations

from datetime import date

import pytest

from forecasts.measure.gaps import BenchmarkGaps, Entry, GapStatus, effective_margin, month_ends
from forecasts.records.model import Access, Benchmark

CL, OP = Access.CLOSED, Access.OPEN


def bench(**kw: object) -> Benchmark:
    base: dict[str, object] = dict(
        id="t-bench", name="T", evaluator="test", unit="%", min=0.0, max=100.0, higher_is_better=True,
        tie_margin=1.0, saturation=None, scale=100.0,
    )
    base.update(kw)
    return Benchmark(**base)  # type: ignore[arg-type]


def e(model: str, day: str, access: Access, value: float, stderr: float | None = None) -> Entry:
    return Entry(model, date.fromisoformat(day), access, value, stderr)


def test_gap_and_lag_when_open_behind() -> None:
    bg = BenchmarkGaps(bench(), [
        e("c1", "2024-01-10", CL, 50), e("c2", "2024-06-01", CL, 70),
        e("o1", "2024-03-01", OP, 55),
    ])
    p = bg.at(date(2024, 12, 31))
    assert p.status is GapStatus.OPEN_BEHIND
    assert p.score_gap == pytest.approx(15.0)
    assert p.closed and p.closed.model == "c2" and p.open and p.open.model == "o1"
    # closed first clearly beat open's 55 (+1 margin) on 2024-06-01
    assert p.lag_days == (date(2024, 12, 31) - date(2024, 6, 1)).days


def test_lag_counts_from_first_closed_release_clearly_above_open() -> None:
    bg = BenchmarkGaps(bench(), [
        e("c1", "2024-01-01", CL, 60), e("c2", "2024-05-01", CL, 80), e("o1", "2024-09-01", OP, 58),
    ])
    # open's 58 was already beaten by c1 (60 > 58 + 1) on 2024-01-01
    assert bg.at(date(2024, 9, 30)).lag_days == (date(2024, 9, 30) - date(2024, 1, 1)).days


def test_open_leads() -> None:
    bg = BenchmarkGaps(bench(), [e("c1", "2024-01-01", CL, 60), e("o1", "2024-02-01", OP, 65)])
    p = bg.at(date(2024, 3, 1))
    assert p.status is GapStatus.OPEN_LEADS
    assert p.score_gap == pytest.approx(-5.0)
    assert p.lag_days == 0


def test_tie_within_margin_is_caught_up_with_zero_lag() -> None:
    bg = BenchmarkGaps(bench(tie_margin=1.0), [e("c1", "2024-01-01", CL, 60.0), e("o1", "2024-02-01", OP, 59.2)])
    p = bg.at(date(2024, 3, 1))
    assert p.status is GapStatus.CAUGHT_UP
    assert p.lag_days == 0
    assert p.score_gap == pytest.approx(0.8)


def test_uncertainty_widens_the_margin_to_a_one_sided_test() -> None:
    # 3 points ahead, but each score has a 2-point stderr: 1.645 * sqrt(8) = 4.65 > 3, so not clearly ahead.
    entries = [e("c1", "2024-01-01", CL, 63.0, 2.0), e("o1", "2024-02-01", OP, 60.0, 2.0)]
    p = BenchmarkGaps(bench(), entries).at(date(2024, 3, 1))
    assert p.status is GapStatus.CAUGHT_UP
    assert p.margin == pytest.approx(effective_margin(1.0, 2.0, 2.0))
    # The same gap with tight errors is a real lead.
    tight = [e("c1", "2024-01-01", CL, 63.0, 0.2), e("o1", "2024-02-01", OP, 60.0, 0.2)]
    assert BenchmarkGaps(bench(), tight).at(date(2024, 3, 1)).status is GapStatus.OPEN_BEHIND


def test_one_class_missing_is_no_data_and_no_series() -> None:
    bg = BenchmarkGaps(bench(), [e("c1", "2024-01-01", CL, 60), e("c2", "2024-04-01", CL, 70)])
    p = bg.at(date(2024, 5, 1))
    assert p.status is GapStatus.NO_DATA and p.score_gap is None and p.lag_days is None
    assert bg.monthly() == []


def test_two_releases_on_one_day_the_better_one_leads() -> None:
    bg = BenchmarkGaps(bench(), [
        e("c-small", "2024-05-01", CL, 40), e("c-big", "2024-05-01", CL, 70), e("o1", "2024-01-01", OP, 50),
    ])
    p = bg.at(date(2024, 5, 1))
    assert p.closed and p.closed.model == "c-big"
    assert [ldr.model for ldr in bg.closed.leaders] == ["c-big"]


def test_release_after_the_date_does_not_count() -> None:
    bg = BenchmarkGaps(bench(), [e("c1", "2024-01-01", CL, 60), e("o1", "2024-01-01", OP, 50),
                                 e("o2", "2024-06-15", OP, 62)])
    assert bg.at(date(2024, 6, 14)).status is GapStatus.OPEN_BEHIND
    assert bg.at(date(2024, 6, 15)).status is GapStatus.OPEN_LEADS


def test_saturation_marks_points_from_the_date_closed_reaches_the_threshold() -> None:
    bg = BenchmarkGaps(bench(saturation=90.0), [
        e("c1", "2024-01-01", CL, 80), e("c2", "2024-07-01", CL, 92), e("o1", "2024-02-01", OP, 75),
    ])
    assert bg.saturated_from == date(2024, 7, 1)
    assert not bg.at(date(2024, 6, 30)).saturated
    assert bg.at(date(2024, 7, 31)).saturated


def test_lower_is_better_gap_is_positive_when_open_is_behind() -> None:
    b = bench(higher_is_better=False, saturation=5.0)
    bg = BenchmarkGaps(b, [e("c1", "2024-01-01", CL, 10.0), e("o1", "2024-01-01", OP, 20.0)])
    p = bg.at(date(2024, 2, 1))
    assert p.score_gap == pytest.approx(10.0) and p.status is GapStatus.OPEN_BEHIND
    assert p.closed and p.closed.score == 10.0  # reported in the benchmark's own direction


def test_monthly_series_starts_when_both_classes_have_a_score() -> None:
    bg = BenchmarkGaps(bench(), [
        e("c1", "2023-11-20", CL, 60), e("o1", "2024-02-10", OP, 50), e("o2", "2024-04-03", OP, 55),
    ])
    pts = bg.monthly()
    assert [p.date for p in pts] == [date(2024, 2, 29), date(2024, 3, 31), date(2024, 4, 3)]
    assert [p.score_gap for p in pts] == [10, 10, 5]


def test_month_ends_cap_the_last_month_at_the_end_date() -> None:
    assert list(month_ends(date(2024, 11, 5), date(2025, 1, 10))) == [
        date(2024, 11, 30), date(2024, 12, 31), date(2025, 1, 10)]
