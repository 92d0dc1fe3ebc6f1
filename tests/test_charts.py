"""SVG charts: well-formed, hooks for browser tests, escaping, empty inputs, fan inside the plot, determinism."""

from __future__ import annotations

import itertools
import re
import xml.etree.ElementTree as ET
from datetime import date, timedelta
from typing import Any

import pytest

from service.charts import (
    SummaryRow,
    catch_up_answer,
    catch_up_chart,
    domain_card,
    frontier_chart,
    gap_chart,
    gap_title,
    leader_text,
    margin_text,
    precision,
    shorten,
    summary_table,
    track_record_table,
    trend_cell,
)

NS = "{http://www.w3.org/2000/svg}"


# ------------------------------------------------------------------------------------------------ data


def month_ends(n: int, end: date = date(2026, 3, 31)) -> list[str]:
    out, d = [], end
    for _ in range(n):
        out.append(d.isoformat())
        d = d.replace(day=1) - timedelta(days=1)
    return out[::-1]


def bench_points(n: int = 34, closed_name: str = "gpt-5.4-pro", open_name: str = "glm-5") -> list[dict[str, Any]]:
    """Benchmark series points shaped like the store's: rising step frontiers, open a few points behind."""
    pts = []
    for i, d in enumerate(month_ends(n)):
        closed, open_ = 35 + 2 * (i // 3) * 3, 26 + 2 * (i // 4) * 4
        pts.append({"date": d, "closed_leader": {"model": closed_name if i == n - 1 else f"c-{i // 3}",
                                                 "score": float(closed), "release_date": d},
                    "open_leader": {"model": open_name if i == n - 1 else f"o-{i // 4}", "score": float(open_),
                                    "release_date": d},
                    "score_gap": float(closed - open_), "lag_days": 100 + i, "margin": 2.0,
                    "status": "open_behind", "saturated": False})
    return pts


def domain_points(n: int = 40) -> list[dict[str, Any]]:
    return [{"date": d, "score_gap": round(30 * 0.95**i + (i % 3), 3), "unit": "% of scale", "lag_days": 120.0,
             "status": "open_behind", "closed_leader": None, "open_leader": None, "benchmarks": ["b"]}
            for i, d in enumerate(month_ends(n, date(2026, 6, 30)))]


def forecast(status: str = "ok", **catch: Any) -> dict[str, Any]:
    days = month_ends(37, date(2029, 6, 30))[1:]
    traj = [{"date": d, "yhat": 8 - 0.2 * i, "lower": 6 - 3 * i, "upper": 10 + 3 * i} for i, d in enumerate(days)]
    catch_up = {"p10": "2027-03-31", "p50": "2028-01-31", "p90": None,
                "probability_within": {"6": 0.04, "12": 0.21, "24": 0.55}, "never_within_horizon": 0.31,
                "p_lead_lost_within_12": None, **catch}
    return {"target": "coding", "kind": "domain", "metric": "score_gap", "as_of": "2026-06-30",
            "model": "sawtooth", "model_reason": "best backtest", "horizon_months": 36, "trajectory": traj,
            "catch_up": catch_up,
            "lag_trend": {"slope_days_per_year": -12.0, "lower": -40.0, "upper": 15.0, "verdict": "stable"},
            "status": status, "reason": "Open models are behind."}


def no_forecast(status: str, reason: str = "only 2 observed months; at least 6 are needed.") -> dict[str, Any]:
    return {**forecast(status), "model": None, "trajectory": [], "reason": reason,
            "catch_up": {"p10": None, "p50": None, "p90": None,
                         "probability_within": {"6": None, "12": None, "24": None},
                         "never_within_horizon": None, "p_lead_lost_within_12": None},
            "lag_trend": {"slope_days_per_year": None, "lower": None, "upper": None, "verdict": None}}


ROW = {"domain": "coding", "name": "Coding", "as_of": "2026-06-30", "score_gap": 8.15, "unit": "% of scale",
       "lag_days": 126.0, "status": "open_behind",
       "closed_leader": {"model": "gpt-5.6-sol", "score": 78.35, "release_date": "2026-06-09",
                         "benchmark": "aa-coding-index"},
       "open_leader": {"model": "glm-5.2", "score": 68.76, "release_date": "2026-06-16",
                       "benchmark": "aa-coding-index"},
       "benchmarks": ["aa-coding-index"]}


# ------------------------------------------------------------------------------------------------ helpers


def parse(svg: str) -> ET.Element:
    root = ET.fromstring(svg)
    assert root.tag == f"{NS}svg"
    assert root.get("class") == "gapcast-chart"
    assert re.fullmatch(r"0 0 \d+ \d+", root.get("viewBox") or "")
    assert int(root.get("width") or 0) > 0 and int(root.get("height") or 0) > 0
    assert root.find(f"{NS}title") is not None
    return root


def by_class(root: ET.Element, cls: str, tag: str = "*") -> list[ET.Element]:
    return [e for e in root.iter(f"{NS}{tag}" if tag != "*" else tag) if cls in (e.get("class") or "").split()]


def text_of(e: ET.Element) -> str:
    return "".join(e.itertext())


def plot_area(root: ET.Element) -> tuple[float, float, float, float]:
    rect = by_class(root, "plot-area")[0]
    x, y = float(rect.get("x") or 0), float(rect.get("y") or 0)
    return x, y, x + float(rect.get("width") or 0), y + float(rect.get("height") or 0)


def path_points(d: str) -> list[tuple[float, float]]:
    nums = [float(n) for n in re.findall(r"-?\d+(?:\.\d+)?", d)]
    return list(zip(nums[::2], nums[1::2], strict=True))


def x_ticks(root: ET.Element) -> list[tuple[float, str]]:
    axis = by_class(root, "axis-x")[0]
    return [(float(t.get("x") or 0), text_of(t)) for t in by_class(axis, "tick", "text")]


# ------------------------------------------------------------------------------------------------ frontier


def test_frontier_has_hooks_axes_and_legend() -> None:
    root = parse(frontier_chart(bench_points(), title="GPQA Diamond (Epoch)", unit="% correct"))
    assert root.get("data-chart") == "frontier"
    assert len(by_class(root, "series-closed", "path")) == 1
    assert len(by_class(root, "series-open", "path")) == 1
    assert all("series" in (p.get("class") or "").split() for p in by_class(root, "series-closed"))
    assert len(x_ticks(root)) >= 4
    assert len(by_class(by_class(root, "axis-y")[0], "tick", "text")) >= 3
    assert [text_of(e) for e in by_class(root, "legend-item")] == ["Closed (best)", "Open-weight (best)"]
    assert text_of(by_class(root, "unit")[0]) == "% correct"
    assert text_of(by_class(root, "title")[0]) == "GPQA Diamond (Epoch)"


def test_frontier_marks_latest_leaders() -> None:
    root = parse(frontier_chart(bench_points(), title="t", unit="%"))
    assert len(by_class(root, "leader-dot", "circle")) == 2
    labels = {text_of(e) for e in by_class(root, "leader-label", "text")}
    assert any(label.startswith("gpt-5.4-pro ") for label in labels)
    assert any(label.startswith("glm-5 ") for label in labels)


def test_leader_labels_do_not_overlap_when_scores_are_close() -> None:
    pts = bench_points()
    pts[-1]["open_leader"]["score"] = pts[-1]["closed_leader"]["score"] - 0.3
    root = parse(frontier_chart(pts, title="t", unit="%"))
    a, b = (float(e.get("y") or 0) for e in by_class(root, "leader-label", "text"))
    assert abs(a - b) >= 13


def test_frontier_breaks_line_at_missing_leader() -> None:
    pts = bench_points(12)
    pts[5]["open_leader"] = None
    root = parse(frontier_chart(pts, title="t", unit="%"))
    assert (by_class(root, "series-open", "path")[0].get("d") or "").count("M") == 2
    assert (by_class(root, "series-closed", "path")[0].get("d") or "").count("M") == 1


def test_frontier_single_point_renders() -> None:
    root = parse(frontier_chart(bench_points(1), title="t", unit="%"))
    assert by_class(root, "series-closed", "path") and len(x_ticks(root)) >= 1


# ------------------------------------------------------------------------------------------------ gap


def test_gap_chart_with_forecast_has_fan_forecast_zero_line_and_marker() -> None:
    root = parse(gap_chart(domain_points(), forecast(), title="Coding: score gap", unit="% of scale"))
    assert root.get("data-chart") == "gap"
    for cls in ("series-gap", "series-forecast"):
        assert len(by_class(root, cls, "path")) == 1
    assert len(by_class(root, "fan", "path")) == 1
    assert by_class(root, "zero-line") and text_of(by_class(root, "zero-label")[0]) == "0 = caught up"
    assert by_class(root, "marker-catch-up")
    assert "Jan 2028" in text_of(by_class(root, "marker-label")[0])
    legend = [text_of(e) for e in by_class(root, "legend-item")]
    assert legend == ["Score gap", "Forecast", "80% interval", "Median catch-up"]
    assert len(x_ticks(root)) >= 4


@pytest.mark.parametrize("upper", [12.0, 1e6])
def test_fan_lies_within_plot_area(upper: float) -> None:
    fc = forecast()
    fc["trajectory"][-1]["upper"] = upper
    root = parse(gap_chart(domain_points(), fc, title="t", unit="%"))
    x0, y0, x1, y1 = plot_area(root)
    points = path_points(by_class(root, "fan", "path")[0].get("d") or "")
    assert len(points) >= 2 * len(fc["trajectory"])
    assert all(x0 - 0.05 <= x <= x1 + 0.05 and y0 - 0.05 <= y <= y1 + 0.05 for x, y in points)


def test_gap_without_forecast_and_with_null_gaps() -> None:
    pts = domain_points(12)
    pts[4]["score_gap"] = None
    root = parse(gap_chart(pts, None, title="t", unit="%"))
    assert not by_class(root, "fan") and not by_class(root, "series-forecast")
    assert (by_class(root, "series-gap", "path")[0].get("d") or "").count("M") == 2
    assert [text_of(e) for e in by_class(root, "legend-item")] == ["Score gap"]


def test_gap_chart_of_lag_metric() -> None:
    root = parse(gap_chart(domain_points(), None, title="t", unit="days", metric="lag_days"))
    assert by_class(root, "series-gap", "path")
    assert [text_of(e) for e in by_class(root, "legend-item")] == ["Lag"]


@pytest.mark.parametrize("months", [2, 5, 13, 40, 130])
def test_x_tick_labels_do_not_overlap(months: int) -> None:
    root = parse(gap_chart(domain_points(months), None, title="t", unit="%"))
    ticks = x_ticks(root)
    assert ticks
    width = float(root.get("width") or 0)
    for x, label in ticks:  # 12 px font, generous 0.6 em per glyph
        assert x - len(label) * 3.6 >= 0 and x + len(label) * 3.6 <= width
    for (xa, la), (xb, lb) in itertools.pairwise(ticks):
        assert xb - xa >= (len(la) + len(lb)) * 3.6 + 4


# ------------------------------------------------------------------------------------------------ catch-up


def test_catch_up_bars_and_dates() -> None:
    root = parse(catch_up_chart(forecast(), title="Coding: when does open catch up?"))
    assert root.get("data-chart") == "catch-up"
    bars = by_class(root, "bar", "rect")
    assert [b.get("data-value") for b in bars] == ["0.0400", "0.2100", "0.5500", "0.3100"]
    assert [b.get("data-label") for b in bars][-1] == "not in 36 months"
    notes = [text_of(e) for e in by_class(root, "note")]
    assert "Median catch-up: Jan 2028" in notes
    assert any("Mar 2027" in n and "beyond the horizon" in n for n in notes)
    assert any(n.startswith("Lag trend: stable") for n in notes)
    assert len(by_class(root, "tick", "text")) == 5


@pytest.mark.parametrize("status", ["insufficient_data", "weird_new_status"])
def test_catch_up_without_numbers_shows_status_and_reason(status: str) -> None:
    root = parse(catch_up_chart(no_forecast(status, "only <2> months & no more"), title="t"))
    assert not by_class(root, "bar")
    assert text_of(by_class(root, "status")[0])
    assert "only <2> months & no more" in " ".join(text_of(e) for e in by_class(root, "reason"))


def test_catch_up_when_open_leads_shows_retake_odds() -> None:
    fc = {**no_forecast("open_leads", "Open models lead."),
          "catch_up": {**no_forecast("x")["catch_up"], "p_lead_lost_within_12": 0.35}}
    root = parse(catch_up_chart(fc, title="t"))
    assert [b.get("data-value") for b in by_class(root, "bar", "rect")] == ["0.3500"]
    assert "Open models lead" in text_of(by_class(root, "subtitle")[0])


def test_catch_up_from_the_base_rate_says_it_is_not_predictable() -> None:
    fc = forecast(basis="base_rate", p10=None, p50=None, never_within_horizon=None)
    root = parse(catch_up_chart(fc, title="t"))
    assert len(by_class(root, "bar", "rect")) == 3
    assert "base rate" in text_of(by_class(root, "subtitle")[0])
    assert any("not predictable" in text_of(e) for e in by_class(root, "note"))


# ------------------------------------------------------------------------------------------------ empty inputs


@pytest.mark.parametrize("svg", [
    lambda: frontier_chart([], title="t", unit="%"),
    lambda: frontier_chart(None, title="t", unit="%"),
    lambda: frontier_chart([{"date": "2025-01-31", "closed_leader": None, "open_leader": None}], title="t", unit="%"),
    lambda: frontier_chart([{"nodate": 1}, "junk"], title="t", unit="%"),  # type: ignore[list-item]
    lambda: gap_chart([], None, title="t", unit="%"),
    lambda: gap_chart(None, None, title="t", unit="%"),
    lambda: gap_chart([{"date": "2025-01-31", "score_gap": None}], no_forecast("insufficient_data"), title="t",
                      unit="%"),
    lambda: catch_up_chart(None, title="t"),
    lambda: catch_up_chart({}, title="t"),
])
def test_empty_inputs_render_a_readable_no_data_chart(svg: Any) -> None:
    root = parse(svg())
    assert by_class(root, "no-data") or by_class(root, "status")
    message = by_class(root, "message") or by_class(root, "status")
    assert text_of(message[0]).startswith("No ")


def test_forecast_only_gap_chart_renders() -> None:
    root = parse(gap_chart([], forecast(), title="t", unit="%"))
    assert by_class(root, "fan") and by_class(root, "series-forecast") and not by_class(root, "series-gap")


# ------------------------------------------------------------------------------------------------ text & style


def test_text_is_escaped() -> None:
    evil = "<b>&evil's \"model\"</b>"
    svg = frontier_chart(bench_points(closed_name=evil, open_name="o<&>"), title=f"T {evil}", unit="<u>")
    assert "<b>" not in svg and "<u>" not in svg
    root = parse(svg)
    assert text_of(by_class(root, "title")[0]).startswith("T <b>&evil")
    assert root.get("aria-label") == f"T {evil}"
    labels = " ".join(text_of(e) for e in by_class(root, "leader-label"))
    assert "o<&>" in labels and "<b>&evil" in labels


def test_fonts_are_at_least_11px() -> None:
    for svg in (frontier_chart(bench_points(), title="t", unit="%"), gap_chart(domain_points(), forecast(),
                title="t", unit="%"), catch_up_chart(forecast(), title="t"), catch_up_chart(None, title="t")):
        root = parse(svg)
        sizes = [float(e.get("font-size") or 0) for e in root.iter() if e.get("font-size")]
        assert sizes and min(sizes) >= 11


def test_colour_blind_safe_series_colours() -> None:
    root = parse(frontier_chart(bench_points(), title="t", unit="%"))
    assert by_class(root, "series-closed")[0].get("stroke") == "#d55e00"
    assert by_class(root, "series-open")[0].get("stroke") == "#0072b2"


def test_deterministic_bytes() -> None:
    args = (domain_points(), forecast())
    assert gap_chart(*args, title="t", unit="%") == gap_chart(*args, title="t", unit="%")
    assert frontier_chart(bench_points(), title="t", unit="%") == frontier_chart(bench_points(), title="t", unit="%")
    card = domain_card(ROW, domain_points(), forecast(), bench_points(), "GPQA")
    assert card == domain_card(ROW, domain_points(), forecast(), bench_points(), "GPQA")


def test_only_the_card_anchor_is_an_id_so_charts_can_share_a_page() -> None:
    card = domain_card(ROW, domain_points(), forecast(), bench_points(), "GPQA")
    assert card.count(" id=") == 1 and 'id="domain-coding"' in card  # the anchor alert messages link to


# ------------------------------------------------------------------------------------------------ card


def test_domain_card_structure() -> None:
    card = domain_card(ROW, domain_points(), forecast(), bench_points(), "GPQA Diamond", primary_unit="% correct")
    root = ET.fromstring(card)  # the fragment is well-formed XML too
    assert root.tag == "section" and root.get("class") == "domain-card" and root.get("data-domain") == "coding"
    assert root.get("data-status") == "open_behind"
    charts = [e for e in root.iter(f"{NS}svg")]
    assert [c.get("data-chart") for c in charts] == ["frontier", "gap", "catch-up"]
    text = text_of(root)
    assert "Coding" in text and "Open behind" in text
    assert "8.2% of scale" in text and "126 days (4.1 months)" in text
    assert "Best closedgpt-5.6-sol (78.3)" in text and "Leaders onGPQA Diamond" in text
    verdict = next(e for e in root.iter("p") if e.get("class") == "verdict")
    assert text_of(verdict).startswith("The lag is stable (\u221212 days/year")


def test_domain_card_with_nothing_and_hostile_names() -> None:
    row = {"domain": 'x"><script>', "name": "<script>alert(1)</script>", "status": "no_data"}
    card = domain_card(row, [], None, [], "<i>bench</i>")
    assert "<script>" not in card and "<i>" not in card
    root = ET.fromstring(card)
    assert root.get("data-domain") == 'x"><script>'
    assert "No forecast yet." in text_of(root)
    assert len(list(root.iter(f"{NS}svg"))) == 3


# ------------------------------------------------------------------------------------------------ issue 14: readable


def test_gap_titles_name_the_metric_and_unit_in_words() -> None:
    assert gap_title("Coding") == "Coding: score gap (% of scale)"
    assert gap_title("Coding", "lag_days", "days") == "Coding: lag (days)"
    card = domain_card(ROW, domain_points(), forecast(), bench_points(), "GPQA Diamond (Epoch)")
    root = ET.fromstring(card)
    titles = {c.get("data-chart"): " ".join(text_of(t) for t in by_class(c, "title")) for c in root.iter(f"{NS}svg")}
    assert titles["gap"] == "Coding: score gap (% of scale)"
    assert titles["frontier"] == "GPQA Diamond (Epoch): best closed vs open"
    assert "score_gap" not in card


def test_long_titles_wrap_at_words_instead_of_being_cut() -> None:
    title = "Out-of-distribution reasoning: score gap (% of scale)"
    root = parse(gap_chart(domain_points(), forecast(), title=title, unit="% of scale"))
    lines = [text_of(t) for t in by_class(root, "title")]
    assert len(lines) == 2 and " ".join(lines) == title and not any("…" in x for x in lines)
    assert all(len(x) * 14 * 0.6 <= 420 - 24 for x in lines)
    # what follows the title moves down with it: the legend starts below the second line
    legend_y = min(float(t.get("y") or 0) for g in by_class(root, "legend-item") for t in g.iter(f"{NS}text"))
    assert legend_y > max(float(t.get("y") or 0) for t in by_class(root, "title")) + 10


def test_gap_axis_is_bounded_to_the_data_and_the_interval() -> None:
    pts = domain_points()
    data_hi = max(p["score_gap"] for p in pts)
    fc = forecast()
    fc["trajectory"] = [{**t, "yhat": 8.0, "lower": 4.0 - i * 0.1, "upper": 14.0 + i * 0.2}
                        for i, t in enumerate(fc["trajectory"])]
    band_lo, band_hi = min(t["lower"] for t in fc["trajectory"]), max(t["upper"] for t in fc["trajectory"])
    ticks = [float(text_of(t).replace("\u2212", "-")) for t in by_class(by_class(parse(
        gap_chart(pts, fc, title="t", unit="% of scale")), "axis-y")[0], "tick", "text")]
    lo, hi = min(ticks), max(ticks)
    assert lo <= min(0.0, band_lo) and hi >= max(data_hi, band_hi)  # everything shown is on the axis
    assert lo >= -10 and hi <= 50, ticks  # and the axis is no wider than a tick step past it


def test_an_interval_beyond_the_possible_does_not_stretch_the_gap_axis() -> None:
    fc = forecast()
    fc["trajectory"] = [{**t, "lower": -180.0, "upper": 250.0} for t in fc["trajectory"]]
    ticks = [float(text_of(t).replace("\u2212", "-")) for t in by_class(by_class(parse(
        gap_chart(domain_points(), fc, title="t", unit="% of scale")), "axis-y")[0], "tick", "text")]
    assert min(ticks) >= -100 and max(ticks) <= 100, ticks  # a gap in % of scale lies in [-100, 100]
    lag = forecast()
    lag["trajectory"] = [{**t, "yhat": 100.0, "lower": -300.0, "upper": 400.0} for t in lag["trajectory"]]
    ticks = [float(text_of(t).replace("\u2212", "-").replace(",", "")) for t in by_class(by_class(parse(
        gap_chart(domain_points(), lag, title="t", unit="days", metric="lag_days")), "axis-y")[0], "tick", "text")]
    assert min(ticks) == 0 and max(ticks) >= 400, ticks  # a lag is never negative


@pytest.mark.parametrize(("margin", "unit", "scale", "text"), [
    (1.3125, "%", 100.0, "±1.3%"),
    (1.0, "index", 100.0, "±1.0 index"),
    (12.6, "Elo", 400.0, "±13 Elo"),
    (0.04, "%", 100.0, "±0.04%"),  # finer than the precision: one significant digit, not "±0.0"
    (0.0131, "", 1.0, "±0.013"),
    (2.25, "points", None, "±2.2 points"),
    (None, "%", 100.0, "—"),
])
def test_tie_margins_are_rounded_to_the_benchmarks_precision(margin: float | None, unit: str, scale: float | None,
                                                             text: str) -> None:
    assert margin_text(margin, unit, scale) == text


def test_precision_follows_the_benchmarks_scale() -> None:
    assert [precision(s) for s in (100.0, 400.0, 1.0, 10.0, None, 0.0)] == [1, 0, 3, 2, 1, 1]


def test_card_shows_the_primary_benchmarks_margin_rounded() -> None:
    card = domain_card(ROW, domain_points(), forecast(), bench_points(), "AA Coding Index", primary_unit="index",
                       primary_scale=100.0, primary_margin=1.3125)
    text = text_of(ET.fromstring(card))
    assert "Tie margin±1.3 index" in text and "1.3125" not in text


@pytest.mark.parametrize(("name", "px", "short"), [
    ("claude-opus-4.6-fast-thinking", 150, "claude-opus-4.6…"),
    ("gpt-5", 150, "gpt-5"),
    ("DeepSeek R1 0528 (May '25)", 120, "DeepSeek R1…"),
    ("qwen3_235b_a22b_thinking", 130, "qwen3_235b_a22b…"),
    ("supercalifragilisticexpialidocious", 100, "supercalifra…"),  # one word longer than the room: cut inside it
])
def test_names_are_shortened_at_word_boundaries(name: str, px: float, short: str) -> None:
    assert shorten(name, px) == short
    assert len(short) * 12 * 0.6 <= px


def test_leader_labels_keep_the_full_name_in_a_tooltip() -> None:
    long = "claude-opus-4.6-fast-thinking-high-effort-preview"
    root = parse(frontier_chart(bench_points(closed_name=long), title="t", unit="%"))
    label = next(t for t in by_class(root, "leader-closed", "text"))
    assert text_of(label) == "claude-opus-4.6-fast… 101.0"  # cut after a whole word, not inside one
    tooltips = [text_of(t) for t in root.iter(f"{NS}title")]
    assert f"{long} 101.0" in tooltips


def test_frontier_scores_use_the_benchmarks_precision() -> None:
    pts = bench_points()
    pts[-1]["closed_leader"]["score"] = 1503.6
    pts[-1]["open_leader"]["score"] = 1470.2
    root = parse(frontier_chart(pts, title="t", unit="Elo", scale=400.0))
    labels = [text_of(t) for t in by_class(root, "leader-label", "text")]
    assert any(x.endswith("1,504") for x in labels) and any(x.endswith("1,470") for x in labels), labels
    assert leader_text({"model": "m", "score": 1503.6, "benchmark": "b"}, "b", "Arena", 400.0) == "m (1,504 on Arena)"


def test_catch_up_notes_wrap_whole_instead_of_being_cut() -> None:
    fc = forecast(basis="base_rate")
    fc["lag_trend"] = {"slope_days_per_year": 12345.0, "lower": -23456.0, "upper": 34567.0, "verdict": "stable"}
    root = parse(catch_up_chart(fc, title="Out-of-distribution reasoning: when does open catch up?"))
    notes = [text_of(t) for t in by_class(root, "note")]
    assert not any("…" in n for n in notes)
    assert "+34567" in " ".join(notes).replace("\u2212", "-")
    height = float(root.get("height") or 0)
    assert all(float(t.get("y") or 0) < height for t in by_class(root, "note"))


# ------------------------------------------------------------------------------------------------ summary table


TODAY = date(2026, 11, 28)


def test_catch_up_answers() -> None:
    row: dict[str, Any] = {"status": "open_behind"}
    assert catch_up_answer(row, None, TODAY)[:2] == ("pending", "no forecast yet")
    assert catch_up_answer(row, forecast(p50="2027-08-31"), TODAY)[:2] == \
        ("forecast", "21% within 12 mo · median Aug 2027")
    assert catch_up_answer(row, forecast(p50=None), TODAY)[1] == "21% within 12 mo · median beyond 36 months"
    assert catch_up_answer(row, forecast(basis="base_rate"), TODAY)[:2] == ("not-predictable", "not predictable")
    assert catch_up_answer(row, forecast(p50="2026-09-30"), TODAY)[:2] == \
        ("overdue", "overdue (median was Sep 2026)")
    assert catch_up_answer(row, forecast("open_leads", p_lead_lost_within_12=0.4), TODAY) == \
        ("open-leads", "open leads", "P(closed clearly ahead again within 12 months): 40%")
    assert catch_up_answer(row, forecast("caught_up"), TODAY)[:2] == ("caught-up", "caught up")
    assert catch_up_answer(row, no_forecast("insufficient_data"), TODAY)[:2] == ("insufficient", "not enough data")


def test_trend_cell_reads_the_forecasts_lag_trend() -> None:
    verdict, tip = trend_cell(forecast())
    assert verdict == "stable" and "\u221212 days/year" in tip and "next 12 months" in tip
    fc = forecast()
    fc["lag_trend"] = {"slope_days_per_year": -90.0, "lower": -150.0, "upper": -20.0, "verdict": "shrinking"}
    assert trend_cell(fc)[0] == "shrinking"
    assert trend_cell(None)[0] == "—" and trend_cell(no_forecast("insufficient_data"))[0] == "—"


def test_summary_table_has_a_row_per_domain_linking_to_its_card() -> None:
    rows = [SummaryRow({**ROW, "primary_benchmark": "aa-coding-index",
                        "member_data_age_days": {"aa-coding-index": 0, "arena-webdev": 81}}, forecast(p50="2027-08-31"),
                       "AA Coding Index", 100.0),
            SummaryRow({"domain": "math", "name": "Math <&>", "status": "no_data"}, None)]
    html = summary_table(rows, TODAY, {"arena-webdev": "WebDev Arena"})
    root = ET.fromstring(html)
    body = [tr for tr in root.iter("tr") if tr.get("data-domain")]
    assert [tr.get("data-domain") for tr in body] == ["coding", "math"]
    assert [a.get("href") for tr in body for a in tr.iter("a")] == ["#domain-coding", "#domain-math"]
    cells = ["".join(c.itertext()) for c in body[0]]
    assert cells == ["Coding", "8.2", "4.1", "stable →", "21% within 12 mo · median Aug 2027", "gpt-5.6-sol 78.3",
                     "glm-5.2 68.8", "AA Coding Index", "2026-06-30 (151 d)"]
    data_tip = body[0][-1].get("title") or ""
    assert "WebDev Arena: 2026-04-10" in data_tip and "aa-coding-index: 2026-06-30" in data_tip
    assert ["".join(c.itertext()) for c in body[1]][1:6] == ["—", "—", "—", "no forecast yet", "—"]
    assert "Math <&>" in "".join(body[1][0].itertext())
    assert "widening when the whole band is above zero" in "".join(root.itertext())


def test_track_record_table_labels_backtest_and_live() -> None:
    summary = {"errors": [{"metric": "score_gap", "horizon_months": 6, "mae": 4.83, "mae_no_change": 3.34,
                           "coverage_80": 1.0, "n": 9}],
               "catch_up": [{"within_months": 6, "brier": 0.0005, "brier_base_rate": 0.0, "base_rate": 0.0, "n": 9},
                            {"within_months": 12, "brier": 0.0912, "brier_base_rate": 0.1, "base_rate": 0.1, "n": 4}]}
    scored = {"backtest": {"pooled": summary, "domains": {"coding": summary}},
              "live": {"pooled": {"errors": [], "catch_up": []}, "domains": {"coding": {"errors": [], "catch_up": []}}}}
    html = track_record_table(scored, [("coding", "Coding")], {"backtest": {"coding": 12}, "live": {"coding": 1}})
    root = ET.fromstring(html)
    rows = [tr for tr in root.iter("tr") if tr.get("data-source")]
    assert [(tr.get("data-domain"), tr.get("data-source")) for tr in rows] == \
        [("coding", "backtest"), ("coding", "live"), ("pooled", "backtest"), ("pooled", "live")]
    first = ["".join(c.itertext()) for c in rows[0]]
    assert first == ["Coding", "backtest", "12", "4.8", "3.3", "100%n=9", "0.0912within 12 mo, n=4", "0.1000"]
    assert "not resolved yet" in "".join(rows[1].itertext())
    assert track_record_table({}, [("coding", "Coding")], {}).count("No forecasts archived yet") == 1
