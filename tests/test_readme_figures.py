"""The README's Forecasts tables are what `gapcast backtest --json` prints on the bundled data.

A review as a new user found eight figures of that section out of date after engine changes; this test
recomputes the report (the published seed and paths, so the figures are deterministic) and reads the
tables back from the README: the accuracy table, the coverage table with its intervals and halves, and the
rule's selection table. Each figure is compared at the precision the README prints it.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path
from typing import Any

from forecasts.engine.report import report
from forecasts.measure.domains import load_domains
from forecasts.records.snapshot import bundled_bytes, parse_snapshot

README = Path(__file__).resolve().parent.parent / "README.md"
NUMBER = re.compile(r"\d+(?:\.\d+)?")  # no table here holds a negative figure; "0.73-0.87" is a range
HORIZONS = (3, 6, 12)
ROWS = {"benchmark score gap": ("benchmark", "score_gap"), "benchmark lag": ("benchmark", "lag_days"),
        "domain score gap": ("domain", "score_gap"), "domain lag": ("domain", "lag_days")}


@cache
def backtest() -> dict[str, Any]:
    return report(parse_snapshot(bundled_bytes()).data, load_domains())


def table_after(heading: str) -> list[list[str]]:
    """The cells (markup stripped) of the first Markdown table after the line starting with ``heading``."""
    text = README.read_text().split("\n" + heading, 1)[1]
    lines = text.split("\n\n|", 1)[1].split("\n\n", 1)[0]
    rows = [[c.strip().replace("**", "") for c in ("|" + line if i == 0 else line).strip().strip("|").split("|")]
            for i, line in enumerate(lines.splitlines())]
    return [r for r in rows if not set("".join(r)) <= set("-: ")]


def shown(text: str, value: float | None) -> None:
    """``value`` rounds to the number ``text`` shows, at the decimals it shows (a half rounds either way:
    1.095 may read 1.09 or 1.10)."""
    decimals = len(text.split(".")[1]) if "." in text else 0
    assert value is not None and abs(value - float(text)) <= 0.5 * 10**-decimals + 1e-9, (text, value)


def test_the_accuracy_table_is_the_backtests_headline() -> None:
    headline = backtest()["headline"]
    rows = table_after("Accuracy, as the geometric mean")
    assert [r[0] for r in rows[1:]] == list(ROWS)
    for label, *cells in rows[1:]:
        kind, metric = ROWS[label]
        for h, cell in zip(HORIZONS, cells, strict=True):
            shown(NUMBER.findall(cell)[0], headline[f"{kind}_{metric}_mae_{h}_vs_rw"])


def test_the_judging_halfs_lag_and_its_interval_are_the_backtests() -> None:
    doc = backtest()
    text = README.read_text()
    figure = re.search(r"\*\*(\d\.\d+) on the judging half\*\*", text)
    interval = re.search(r"the judging half's \d\.\d+ has a 90% interval of (\d\.\d+)-(\d\.\d+)", text)
    assert figure and interval
    shown(figure.group(1), doc["headline"]["judge_half_benchmark_lag_days_mae_6_vs_rw"])
    for got, value in zip(interval.groups(), doc["headline_ci_90"]["judge_half_benchmark_lag_days_mae_6_vs_rw"],
                          strict=True):
        shown(got, value)


def test_the_coverage_table_is_the_backtests_calibration() -> None:
    cells = {(r.get("half", "all"), r["kind"], r["metric"], r["horizon_months"]): r
             for r in backtest()["calibration"]}
    rows = table_after("Coverage of the calibrated 80% bands")
    figures, intervals = rows[1::2], rows[2::2]
    assert [r[0] for r in figures] == list(ROWS) and all(r[0] == "" for r in intervals)
    for (label, *cover), (_, *ci) in zip(figures, intervals, strict=True):
        kind, metric = ROWS[label]
        for h, cell, band in zip(HORIZONS, cover, ci, strict=True):
            whole = cells[("all", kind, metric, h)]
            numbers = NUMBER.findall(cell)
            shown(numbers[0], whole["coverage_80"])
            assert int(numbers[1]) == whole["n"], (label, h)
            if kind == "benchmark":  # (n; tuning half / judging half)
                shown(numbers[2], cells[("tune", kind, metric, h)]["coverage_80"])
                shown(numbers[3], cells[("judge", kind, metric, h)]["coverage_80"])
            for got, value in zip(NUMBER.findall(band), whole["ci_90"], strict=True):
                shown(got, value)


def test_the_selection_table_is_the_rules_figures() -> None:
    classes = backtest()["selection"]["unit_classes"]
    rows = table_after("The rule's choice per unit class")
    names = [c.split(" ")[0] for c in rows[0][1:-1]]
    assert names == ["flat", "jumps", "sawtooth", "sawtooth-relative", "chase"]
    for label, *cells, published in rows[1:]:
        unit = label.split(":")[0].split(" ")[0]
        assert classes[unit]["published"] == published == classes[unit]["chosen_by_rule"]
        for name, cell in zip(names, cells, strict=True):
            tune, judge = (part.strip() for part in cell.split("(")[0].split(","))
            figures = classes[unit]["candidates"][name]
            shown(tune, figures["tune"]["lag_mae_6_vs_rw"])
            if judge == "-":
                assert figures["judge"]["lag_mae_6_vs_rw"] is None
            else:
                shown(judge, figures["judge"]["lag_mae_6_vs_rw"])


def test_the_catch_up_table_is_the_backtests_scores() -> None:
    scored = {(r["kind"], r["within_months"]): r for r in backtest()["catch_up"] if "half" not in r}
    rows = table_after("Catch-up probabilities, scored at every past cut-off")
    assert rows[0][:3] == ["kind", "within", "n"]
    assert len(rows) - 1 == len(scored), "a published cell is missing from the README, or one too many"
    for kind, within, n, base, auc, brier, brier_base, share in rows[1:]:
        r = scored[(kind, int(within.split()[0]))]
        assert int(n) == r["n"]
        for text, value in ((base, r["base_rate"]), (brier, r["brier"]), (brier_base, r["brier_base_rate"]),
                            (share.rstrip("%"), 100 * r["share_from_model"])):
            shown(text, value)
        if auc == "-":
            assert r["auc"] is None
        else:
            shown(auc, r["auc"])
