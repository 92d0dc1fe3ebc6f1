"""The bundled snapshot (forecasts/data/snapshot.json.gz): the file as shipped, checked against its contract.

The last test rebuilds it from the raw files (when ../shared/data/raw is present) and requires the same
bytes, so the shipped file cannot drift from scripts/build_snapshot.py and its catalogue.
"""

from __future__ import annotations

import gzip
import importlib.util
import json
import math
import re
import sys
from collections import Counter
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from forecasts.records.names import NameIndex

REPO = Path(__file__).resolve().parent.parent
SNAPSHOT = REPO / "forecasts" / "data" / "snapshot.json.gz"
RAW = REPO.parent / "shared" / "data" / "raw"
REASONS = {"unreleased", "unknown_access", "unmatched", "conflicting_release_date", "no_release_date",
           "invalid_score", "duplicate"}
SOURCES = {"epoch-hub", "aa", "aa-scrape", "lmarena", "arena-daily", "lmarena-history"}
MODEL_ID = re.compile(r"[a-z0-9][a-z0-9.-]*")


@pytest.fixture(scope="module")
def doc() -> dict[str, Any]:
    return json.loads(gzip.decompress(SNAPSHOT.read_bytes()))


@pytest.fixture(scope="module")
def models(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {m["id"]: m for m in doc["models"]}


@pytest.fixture(scope="module")
def benchmarks(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {b["id"]: b for b in doc["benchmarks"]}


@pytest.fixture(scope="module")
def scores(doc: dict[str, Any]) -> list[dict[str, Any]]:
    return [dict(zip(doc["score_fields"], row, strict=True)) for row in doc["scores"]]


def test_file_is_small_deterministic_gzip(doc: dict[str, Any]) -> None:
    raw = SNAPSHOT.read_bytes()
    assert len(raw) < 2 * 1024 * 1024
    assert raw[:2] == b"\x1f\x8b" and raw[4:8] == b"\x00\x00\x00\x00"   # gzip mtime 0
    assert doc["schema"] == 1
    assert set(doc) == {"schema", "built_from", "benchmarks", "models", "score_fields", "scores", "exclusions",
                        "merges"}
    assert doc["score_fields"] == ["model", "benchmark", "value", "stderr", "source", "retrieved_at", "first_seen",
                                   "history"]  # history: the rating snapshots of an Arena score, else null


def test_sources_are_credited(doc: dict[str, Any]) -> None:
    ids = [s["id"] for s in doc["built_from"]]
    assert len(ids) == len(set(ids))
    assert {"epoch-hub", "aa", "lmarena"} <= set(ids)
    for s in doc["built_from"]:
        assert s["name"] and s["licence"] and s["url"].startswith("https://")
        date.fromisoformat(s["retrieved_at"])
    assert next(s for s in doc["built_from"] if s["id"] == "epoch-hub")["licence"] == "CC BY 4.0"


def test_targets_are_met(models: dict[str, dict[str, Any]], benchmarks: dict[str, Any],
                         scores: list[dict[str, Any]]) -> None:
    access = Counter(m["access"] for m in models.values())
    assert len(models) >= 400
    assert access["open"] >= 150 and access["closed"] >= 150
    assert len(benchmarks) >= 40
    assert len(scores) >= 5000
    evaluators = Counter(b["evaluator"] for b in benchmarks.values())
    assert set(evaluators) == {"epoch", "artificial-analysis", "lmarena"}


def test_benchmarks_are_well_formed(benchmarks: dict[str, dict[str, Any]]) -> None:
    prefix = {"epoch": "epoch-", "artificial-analysis": "aa-", "lmarena": "arena-"}
    for bid, b in benchmarks.items():
        assert re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)+", bid), bid
        assert bid.startswith(prefix[b["evaluator"]]), bid
        assert b["name"] and b["unit"] and b["description"] and b["source_url"].startswith("http")
        assert re.fullmatch(r"\d{4}-\d\d-01", b["launched"]) and "2015-01-01" <= b["launched"] <= "2026-12-01", bid
        assert b["launch_source"].strip(), bid
        assert isinstance(b["higher_is_better"], bool)
        assert b["tie_margin"] > 0 and b["scale"] > 0
        if b["min"] is not None and b["max"] is not None:
            assert b["min"] < b["max"]
            if bid != "aa-gdpval":          # an Elo-derived index: scale 20 = 400 Elo, like the arenas
                assert b["scale"] == pytest.approx(b["max"] - b["min"]), bid
        if b["saturation"] is not None:
            assert b["max"] is not None and b["min"] < b["saturation"] <= b["max"], bid
        if b["unit"] == "%":
            assert (b["min"], b["max"], b["saturation"], b["tie_margin"]) == (0.0, 100.0, 90.0, 1.0), bid
        if b["unit"] == "Elo":
            assert (b["min"], b["max"], b["saturation"], b["scale"]) == (None, None, None, 400.0), bid
    for needed in ("epoch-gpqa-diamond", "epoch-hle", "epoch-eci", "aa-gpqa", "aa-terminal-bench-hard",
                   "aa-intelligence-index", "arena-text-coding", "arena-text-overall"):
        assert needed in benchmarks


def test_models_are_well_formed(models: dict[str, dict[str, Any]]) -> None:
    names = Counter(m["name"] for m in models.values())
    assert max(names.values()) == 1, [n for n, k in names.items() if k > 1]
    for mid, m in models.items():
        assert MODEL_ID.fullmatch(mid), mid
        assert m["access"] in {"open", "closed"}
        date.fromisoformat(m["release_date"])
        assert m["licence"] is None or m["licence"].strip()
        assert mid in m["aliases"]
        assert m["aliases"] == sorted(m["aliases"], key=lambda s: (s.lower(), s))
        assert len(set(m["aliases"])) == len(m["aliases"])
        assert not re.search(r"_(high|low|medium|xhigh|max|\d+K)$", mid), mid   # effort variants merged


def test_release_dates_span_2023_to_2026(models: dict[str, dict[str, Any]]) -> None:
    years = Counter(int(m["release_date"][:4]) for m in models.values())
    assert all(years[y] >= 40 for y in (2023, 2024, 2025, 2026)), years
    in_range = sum(n for y, n in years.items() if 2023 <= y <= 2026)
    assert in_range / len(models) >= 0.9
    assert max(m["release_date"] for m in models.values()) <= "2026-12-31"


def test_scores_are_consistent(models: dict[str, Any], benchmarks: dict[str, dict[str, Any]],
                               scores: list[dict[str, Any]]) -> None:
    pairs = Counter((s["model"], s["benchmark"]) for s in scores)
    assert max(pairs.values()) == 1                               # no duplicate model/benchmark pair
    assert {s["model"] for s in scores} == set(models)            # every model has a score, and exists
    for s in scores:
        b = benchmarks[s["benchmark"]]
        v = s["value"]
        assert isinstance(v, float | int) and math.isfinite(v)
        assert b["min"] is None or v >= b["min"], s
        assert b["max"] is None or v <= b["max"], s
        assert s["stderr"] is None or (math.isfinite(s["stderr"]) and s["stderr"] >= 0), s
        assert s["source"].split(":", 1)[0] in SOURCES, s
        date.fromisoformat(s["retrieved_at"])
        assert s["first_seen"] == f"{s['retrieved_at']}T00:00:00+00:00", s   # first seen = source capture date


def test_every_benchmark_has_both_classes(models: dict[str, dict[str, Any]], benchmarks: dict[str, Any],
                                          scores: list[dict[str, Any]]) -> None:
    per: dict[str, Counter[str]] = {b: Counter() for b in benchmarks}
    for s in scores:
        per[s["benchmark"]][models[s["model"]]["access"]] += 1
    assert all(sum(c.values()) > 0 for c in per.values()), [b for b, c in per.items() if not c]
    both = [b for b, c in per.items() if c["open"] and c["closed"]]
    assert len(both) >= 40


def test_ratio_scores_are_in_points(scores: list[dict[str, Any]], benchmarks: dict[str, Any]) -> None:
    """0-1 fractions were turned into 0-100 points (stderr too)."""
    gpqa = [s for s in scores if s["benchmark"] == "epoch-gpqa-diamond"]
    assert max(s["value"] for s in gpqa) > 80
    assert all(s["stderr"] is None or s["stderr"] < 10 for s in gpqa)
    assert any(s["stderr"] for s in gpqa)


def test_exclusions_are_recorded(doc: dict[str, Any]) -> None:
    excl = doc["exclusions"]
    reasons = Counter(e["reason"] for e in excl)
    assert set(reasons) <= REASONS
    for reason in ("unreleased", "unknown_access", "unmatched", "conflicting_release_date", "duplicate",
                   "invalid_score"):
        assert reasons[reason] > 0, reason
    for e in excl:
        assert set(e) == {"source", "record", "name", "reason", "detail"}
        assert e["source"] in SOURCES and e["record"] and e["detail"]
        assert "#" in e["record"]


def test_deepseek_r1_0528_is_one_model_across_sources(models: dict[str, dict[str, Any]],
                                                      scores: list[dict[str, Any]]) -> None:
    m = models["deepseek-r1-0528"]
    assert {"DeepSeek-R1-0528", "DeepSeek R1 0528 (May '25)", "deepseek-r1-0528"} <= set(m["aliases"])
    assert (m["release_date"], m["access"], m["organization"]) == ("2025-05-28", "open", "DeepSeek")
    sources = {s["source"].split(":", 1)[0] for s in scores if s["model"] == "deepseek-r1-0528"}
    assert {"epoch-hub", "aa", "lmarena"} <= sources
    assert "deepseek-r1" in models and models["deepseek-r1"]["release_date"] == "2025-01-20"


@pytest.mark.parametrize(
    ("model_id", "aliases"),
    [
        ("o3", {"o3-2025-04-16_high", "o3-2025-04-16_low", "o3", "o3-2025-04-16"}),  # one dated version: no date
        ("gpt-4o-2024-11-20", {"GPT-4o (Nov '24)", "gpt-4o-2024-11-20"}),
        ("claude-3.5-sonnet-2024-10-22", {"Claude 3.5 Sonnet (Oct '24)", "claude-3-5-sonnet-20241022"}),
        ("claude-3.5-sonnet-2024-06-20", {"Claude 3.5 Sonnet (June '24)", "claude-3-5-sonnet-20240620"}),
        ("claude-opus-4", {"Claude 4 Opus (Reasoning)", "claude-opus-4-20250514-thinking-16k",
                           "claude-opus-4-20250514_32K", "claude-opus-4-20250514"}),
        ("qwen3-235b-a22b-thinking-2507", {"Qwen3 235B A22B 2507 (Reasoning)", "qwen3-235b-a22b-thinking-2507"}),
        ("gpt-oss-120b", {"gpt-oss-120b (high)", "gpt-oss-120b_high", "chutes/gpt-oss-120b"}),
        ("gpt-5", {"GPT-5 (high)", "GPT-5 (minimal)", "gpt-5-2025-08-07_high", "gpt-5-high", "gpt-5-2025-08-07"}),
        ("deepseek-v3.2", {"deepseek-chat", "deepseek-reasoner", "DeepSeek V3.2 (Reasoning)", "deepseek-v3.2"}),
    ],
)
def test_known_reconciliations(models: dict[str, dict[str, Any]], model_id: str, aliases: set[str]) -> None:
    assert aliases <= set(models[model_id]["aliases"])


def test_known_non_merges(models: dict[str, dict[str, Any]]) -> None:
    """Conservative matching: siblings stay apart."""
    assert "o3-mini" not in models["o3"]["aliases"]
    assert "gpt-5-2025-08-07" not in models                      # AA's GPT-5 joined Epoch's gpt-5-2025-08-07 ...
    assert "GPT-5 (high)" in models["gpt-5"]["aliases"]          # ... which is gpt-5 (one dated version)
    assert models["gpt-5-chat"]["name"] == "GPT-5 (ChatGPT)"
    assert "o3-mini" in models
    assert "gpt-4o-mini" in models and "gpt-4o-2024-05-13" in models
    assert "Qwen3 235B A22B 2507 Instruct" not in models["qwen3-235b-a22b-thinking-2507"]["aliases"]
    assert "Kimi K2 Thinking" not in models["kimi-k2-instruct"]["aliases"]
    sonar = next(m for m in models.values() if "Sonar Pro" in m["aliases"])
    assert "Perplexity Sonar" not in sonar["aliases"]


def test_conflicting_release_dates_are_not_merged(doc: dict[str, Any], models: dict[str, Any]) -> None:
    conflicts = [e for e in doc["exclusions"] if e["reason"] == "conflicting_release_date"]
    assert conflicts
    used = {s[4] for s in doc["scores"]}
    for e in conflicts:
        assert re.search(r"\d{4}-\d\d-\d\d.*\d{4}-\d\d-\d\d", e["detail"]), e     # both dates given
        assert f"{e['source']}:{e['record']}" not in used, e


def test_aliases_resolve_through_name_index(models: dict[str, dict[str, Any]]) -> None:
    """What the runtime does with a canonical CSV: every model is reachable by id and by display name."""
    index = NameIndex()
    for m in models.values():
        index.add(m["id"], m["id"], m["name"], *m["aliases"])
    for mid, m in models.items():
        assert index.resolve(mid) == mid
        assert index.resolve(m["name"]) == mid, (mid, m["name"])
    assert index.resolve("DeepSeek R1 0528 (May '25)") == "deepseek-r1-0528"
    assert index.resolve("deepseek-r1-0528") == "deepseek-r1-0528"
    assert index.resolve("o3-mini") == "o3-mini"
    assert index.resolve("o3-mini-2025-01-31") == "o3-mini"      # a former id still resolves
    assert index.resolve("gpt-4o") is None                       # three versions: ambiguous


@pytest.mark.skipif(not RAW.is_dir(), reason="raw data folder ../shared/data/raw not present")
def test_shipped_file_is_reproducible_from_raw(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = importlib.util.spec_from_file_location("build_snapshot", REPO / "scripts" / "build_snapshot.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    try:
        spec.loader.exec_module(module)
    finally:
        del sys.modules[spec.name]
    out = tmp_path / "snapshot.json.gz"
    assert module.main(["--raw", str(RAW), "--out", str(out), "--no-forecasts"]) == 0  # leaves the repo alone
    assert "models:" in capsys.readouterr().out
    assert out.read_bytes() == SNAPSHOT.read_bytes(), "rebuild the snapshot: python scripts/build_snapshot.py"
