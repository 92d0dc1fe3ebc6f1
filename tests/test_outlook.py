"""Forecasts stored per generation: computed once per data hash, readable as complete documents."""

from __future__ import annotations

import json
from typing import Any

import pytest
from click.testing import CliRunner

from forecasts.measure.domains import Domain
from forecasts.publishing import outlook
from forecasts.publishing.series import ModelName
from forecasts.storage.ingest import load_records, load_snapshot
from forecasts.storage.store import Store
from gapcast.cli import cli

FORECAST_KEYS = {"target", "kind", "metric", "as_of", "model", "horizon_months", "trajectory", "catch_up",
                 "lag_trend", "status", "reason"}


def test_every_series_is_indexed_and_short_ones_get_a_status_not_a_date(
        store: Store, small_snapshot: bytes, small_domains: dict[str, Domain]) -> None:
    gen = load_snapshot(store, small_domains, small_snapshot, "s").generation
    refs = outlook.read_index(store, gen)
    assert {r.field for r in refs} >= {"domain:coding:score_gap", "domain:math:lag_days",
                                       "benchmark:code-a:score_gap"}
    assert outlook.read_forecast(store, gen, "domain", "coding", "score_gap") is None  # pending until computed
    assert outlook.compute(store, gen, outlook.pending(store, gen), domains=small_domains) == len(refs)
    doc = json.loads(outlook.read_forecast(store, gen, "domain", "coding", "score_gap") or b"{}")
    assert set(doc["forecast"]) >= FORECAST_KEYS and doc["generation"] == gen
    assert len(doc["forecast"]["trajectory"]) == 36  # 11 monthly points: enough for a forecast
    short = json.loads(outlook.read_forecast(store, gen, "benchmark", "code-elo", "score_gap") or b"{}")["forecast"]
    assert short["status"] == "insufficient_data"  # one month with both classes
    assert short["catch_up"]["p50"] is None and short["trajectory"] == [] and short["reason"]
    assert outlook.pending(store, gen) == []


def test_unchanged_series_keep_their_forecast_and_changed_ones_are_refit(
        store: Store, small_snapshot: bytes, small_domains: dict[str, Domain]) -> None:
    gen1 = load_snapshot(store, small_domains, small_snapshot, "s").generation
    outlook.compute(store, gen1, outlook.pending(store, gen1), domains=small_domains)
    csv = ("model,organization,release_date,access,benchmark,score\n"
           "open-1,OpenCo,2024-03-05,open,math-a,31\n")
    gen2 = load_records(store, small_domains, csv.encode(), "csv", "x.csv").generation
    stale = {r.field for r in outlook.pending(store, gen2)}
    assert "domain:math:score_gap" in stale and "benchmark:math-a:score_gap" in stale
    assert not any(f.startswith(("domain:coding", "benchmark:code-")) for f in stale)


def test_forecast_documents_expire_unless_a_generation_uses_them(
        store: Store, small_snapshot: bytes, small_domains: dict[str, Domain]) -> None:
    gen = load_snapshot(store, small_domains, small_snapshot, "s").generation
    outlook.compute(store, gen, outlook.pending(store, gen), domains=small_domains)
    ref = outlook.read_index(store, gen)[0]
    assert 0 < store.r.ttl(outlook.doc_key(ref.hash)) <= outlook.FORECAST_TTL_S


@pytest.fixture()
def bundled_env(redis_url: str, tmp_path: Any) -> dict[str, str]:
    env = {"GAPCAST_REDIS_URL": redis_url, "GAPCAST_DATA_DIR": str(tmp_path)}
    assert CliRunner().invoke(cli, ["load"], env=env).exit_code == 0
    return env


def test_forecast_one_domain_from_the_bundled_data(bundled_env: dict[str, str]) -> None:
    result = CliRunner().invoke(cli, ["forecast", "coding", "--json"], env=bundled_env, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    forecasts = json.loads(result.stdout)
    assert [(f["target"], f["metric"]) for f in forecasts] == [("coding", "score_gap"), ("coding", "lag_days")]
    for f in forecasts:
        assert set(f) >= FORECAST_KEYS
        assert f["status"] in {"ok", "open_leads", "caught_up", "insufficient_data"}
        assert f["model"] in {m.value for m in ModelName}
        assert len(f["trajectory"]) == 36
        assert set(f["catch_up"]["probability_within"]) == {"6", "12", "24"}
        assert f["lag_trend"]["verdict"] in {"shrinking", "stable", "widening"}
    gap = forecasts[0]
    assert all(-100 <= p["lower"] <= p["yhat"] <= p["upper"] <= 100 for p in gap["trajectory"])
    again = CliRunner().invoke(cli, ["forecast", "coding"], env=bundled_env, catch_exceptions=False)
    assert "forecast 2 series" not in again.output  # nothing refit
    assert again.output.splitlines()[0].split()[:3] == ["domain", "metric", "status"]


def test_forecast_unknown_domain_is_a_clear_error(bundled_env: dict[str, str]) -> None:
    result = CliRunner().invoke(cli, ["forecast", "cooking"], env=bundled_env)
    assert result.exit_code == 1 and "unknown domain 'cooking'" in result.output


def test_backtest_json_has_every_model_per_series(store: Store, redis_url: str, small_snapshot: bytes,
                                                  small_domains: dict[str, Domain], tmp_path: Any) -> None:
    load_snapshot(store, small_domains, small_snapshot, "s")
    env = {"GAPCAST_REDIS_URL": redis_url, "GAPCAST_DATA_DIR": str(tmp_path)}
    result = CliRunner().invoke(cli, ["backtest", "--json"], env=env, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert set(doc) >= {"series", "calibration", "catch_up", "retake", "selection", "headline", "headline_ci_90"}
    for key, value in doc["headline"].items():  # every figure sits inside its interval, or has neither
        ci = doc["headline_ci_90"][key]
        assert (value is None) == (ci is None) and (ci is None or ci[0] <= value <= ci[1])
    assert all(r["kind"] in {"domain", "benchmark"} for r in doc["series"])
    assert set(doc["selection"]["unit_classes"]) == {"bounded", "linear", "log"}


def test_a_new_engine_version_refits_every_series(store: Store, small_snapshot: bytes,
                                                  small_domains: dict[str, Domain],
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    gen = load_snapshot(store, small_domains, small_snapshot, "s").generation
    outlook.compute(store, gen, outlook.pending(store, gen), domains=small_domains)
    assert outlook.pending(store, gen) == []
    monkeypatch.setattr(outlook, "ENGINE_VERSION", "next")
    assert len(outlook.pending(store, gen)) == len(outlook.read_index(store, gen))
