"""SVG charts: well-formed, hooks for browser tests, escaping, empty inputs, fan inside the plot, determinism."""

from __future__ import annotations

import itertools
import re
import xml.etree.ElementTree as ET
from datetime import date, timedelta
from typing import Any

import pytest

from service.charts import catch_up_chart, domain_card, frontier_chart, gap_chart

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
    assert "gpt-5.6-sol (78.3 on aa-coding-index)" in text
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
