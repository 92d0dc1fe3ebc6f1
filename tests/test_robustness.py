"""Fidelity rules of the gap maths (issue 11): floors, clamped shares, flat frontiers, and the
threshold-crossing lag with its public / held-out split, on small hand-built cases (no Redis)."""

from __future__ import annotations

from datetime import date

import pytest

from forecasts.measure import robustness
from forecasts.measure.gaps import FLAT_FRONTIER_DAYS, BenchmarkGaps, GapStatus, normalised_gap
from tests.test_gaps import CL, OP, bench, e


def test_months_where_both_classes_score_zero_are_no_data_not_caught_up() -> None:
    bg = BenchmarkGaps(bench(), [e("c1", "2024-01-01", CL, 0.0), e("o1", "2024-01-01", OP, 0.0),
                                 e("c2", "2024-06-01", CL, 4.0)])
    assert bg.at(date(2024, 3, 31)).status is GapStatus.NO_DATA
    assert bg.at(date(2024, 3, 31)).score_gap is None
    assert bg.at(date(2024, 6, 30)).status is GapStatus.OPEN_BEHIND  # closed left the floor


def test_share_of_scale_is_clamped_to_plus_minus_100() -> None:
    b = bench(unit="minutes", min=0.0, max=None, scale=480.0)
    assert normalised_gap(700.0, b) == 100.0
    assert normalised_gap(-700.0, b) == -100.0
    assert normalised_gap(48.0, b) == pytest.approx(10.0)


def test_a_lag_on_a_frontier_flat_for_a_year_is_flagged() -> None:
    bg = BenchmarkGaps(bench(), [e("c1", "2023-01-01", CL, 88.0), e("c2", "2023-06-01", CL, 88.5),
                                 e("o1", "2023-03-01", OP, 86.4)])
    p = bg.at(date(2024, 9, 30))
    assert p.status is GapStatus.OPEN_BEHIND and p.lag_days and p.lag_days > 500
    assert p.flat_days == (date(2024, 9, 30) - date(2023, 1, 1)).days  # within 1 point of 88.5 since c1
    assert p.flat_frontier and p.to_dict()["flat_frontier"] is True
    moving = BenchmarkGaps(bench(), [e("c1", "2023-01-01", CL, 80.0), e("c2", "2024-06-01", CL, 88.0),
                                     e("o1", "2023-03-01", OP, 86.4)]).at(date(2024, 9, 30))
    assert moving.flat_days < FLAT_FRONTIER_DAYS and not moving.flat_frontier


def test_crossings_start_and_stop_the_clock_per_threshold_once_per_model_pair() -> None:
    # thresholds every 5 points above both starting values (30): 35, 40, 45, 50
    bg = BenchmarkGaps(bench(id="b"), [
        e("c0", "2024-01-01", CL, 30), e("o0", "2024-01-01", OP, 20),
        e("c1", "2024-02-01", CL, 42), e("c2", "2024-05-01", CL, 52),
        e("o1", "2024-08-01", OP, 41), e("o2", "2024-12-01", OP, 50),
    ])
    cs = robustness.crossings(bg)
    assert [c.threshold for c in cs] == [35.0, 45.0]  # 40 and 50 repeat the model pairs of 35 and 45
    assert [(c.closed_model, c.open_model) for c in cs] == [("c1", "o1"), ("c2", "o2")]
    assert cs[0].lag_days == (date(2024, 8, 1) - date(2024, 2, 1)).days
    assert cs[1].lag_days == (date(2024, 12, 1) - date(2024, 5, 1)).days


def test_a_threshold_open_reached_first_gives_a_negative_lag() -> None:
    bg = BenchmarkGaps(bench(id="b"), [e("c0", "2024-01-01", CL, 10), e("o0", "2024-01-01", OP, 10),
                                       e("o1", "2024-02-01", OP, 16), e("c1", "2024-04-01", CL, 17)])
    (c,) = robustness.crossings(bg)
    assert c.threshold == 15.0 and c.lag_days < 0


def test_the_split_puts_each_benchmark_on_its_side_and_leaves_composites_out() -> None:
    def bg(bid: str, held: bool, in_split: bool = True, lag_months: int = 3) -> BenchmarkGaps:
        b = bench(id=bid, held_out=held, in_split=in_split)
        return BenchmarkGaps(b, [e("c0", "2025-01-01", CL, 10), e("o0", "2025-01-01", OP, 10)] + [
            e(f"c{i}", f"2025-{i:02d}-01", CL, 10 + 5 * i) for i in range(2, 7)] + [
            e(f"o{i}", f"2025-{i + lag_months:02d}-01", OP, 10 + 5 * i) for i in range(2, 7)])
    gaps = {"pub": bg("pub", False, lag_months=3), "held": bg("held", True, lag_months=6),
            "mix": bg("mix", False, in_split=False, lag_months=1)}
    public, held = robustness.split(gaps)
    assert set(public) == {"pub"} and set(held) == {"held"}
    doc = robustness.robustness(gaps, start=date(2025, 1, 1), end=date(2025, 12, 31), fresh_days=91)
    now = doc["now"]
    assert now["public"]["crossings"] == 5 and now["held_out"]["crossings"] == 5  # one per model pair
    assert now["public"]["threshold_lag_days"] == pytest.approx(sum(
        (date(2025, i + 3, 1) - date(2025, i, 1)).days for i in range(2, 7)) / 5, abs=0.1)
    assert now["ratio"] == pytest.approx(now["held_out"]["threshold_lag_days"] / now["public"]["threshold_lag_days"],
                                         abs=1e-3)
    assert 1.9 < now["ratio"] < 2.1
    early = next(r for r in doc["series"] if r["date"] == "2025-09-30")  # 3 held-out crossings so far
    assert early["held_out"]["threshold_lag_days"] is None  # fewer than MIN_CROSSINGS crossings yet
