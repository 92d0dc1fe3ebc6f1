"""Artificial Analysis prices and speed (issue 14, the swap question): `parse_offers` on both payload shapes
(recorded fixtures in tests/fixtures/aa/), served by a real local HTTP server for the pull."""

from __future__ import annotations

import importlib.util
import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from pytest_httpserver import HTTPServer

from forecasts.records.model import Offer
from jobs.http import Http, PullFailed
from jobs.sources.artificial_analysis import ArtificialAnalysis, parse_offers

FIXTURES = Path(__file__).parent / "fixtures" / "aa"
API = (FIXTURES / "api_v2_llms.json").read_bytes()
WEB = (FIXTURES / "web_llms_2026-07-10.json").read_bytes()
PATH = "/api/v2/data/llms/models"
NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


def test_api_v2_pricing_and_median_speed_dated_by_the_pull_day() -> None:
    offers, invalid = parse_offers(API, "2026-11-28")
    fable = offers["Claude Fable 5 (Adaptive Reasoning, Max Effort, Opus 4.8 Fallback)"]
    assert (fable.price_input, fable.price_output, fable.price_blended) == (10.0, 50.0, 20.0)  # (3*10 + 50) / 4
    assert fable.output_tokens_per_second == 62.9 and fable.as_of == "2026-11-28"
    assert fable.source == "aa:claude-fable-5"
    r1 = offers["DeepSeek R1 0528 (May '25)"]
    assert r1.output_tokens_per_second is None and r1.price_blended == pytest.approx((3 * 1.35 + 4.2) / 4)
    assert invalid == 0 and len(offers) == 18  # two of the 20 have neither a price nor a speed


def test_web_payload_gives_the_same_figures_dated_by_its_fetch() -> None:
    web, _ = parse_offers(WEB, "2026-11-28")
    api, _ = parse_offers(API, "2026-11-28")
    assert set(web) == set(api)
    for name, offer in web.items():
        assert offer.as_of == "2026-07-10"  # meta.fetched_at
        assert (offer.price_input, offer.price_output, offer.output_tokens_per_second) == (
            api[name].price_input, api[name].price_output, api[name].output_tokens_per_second)


def test_bad_figures_are_left_out_and_counted() -> None:
    doc = json.loads(API)
    doc["data"][0]["pricing"] = {"price_1m_blended_3_to_1": -1, "price_1m_input_tokens": "cheap",
                                 "price_1m_output_tokens": 4.2}
    doc["data"][1]["median_output_tokens_per_second"] = "fast"
    offers, invalid = parse_offers(json.dumps(doc).encode(), "2026-11-28")
    first = offers[doc["data"][0]["name"]]
    assert (first.price_blended, first.price_input, first.price_output) == (None, None, 4.2)
    assert offers[doc["data"][1]["name"]].output_tokens_per_second is None
    assert invalid == 3
    with pytest.raises(PullFailed) as err:
        parse_offers(b"<html>", "2026-11-28")
    assert err.value.reason == "bad_format"


def test_a_pull_reports_how_many_models_are_priced(httpserver: HTTPServer) -> None:
    httpserver.expect_request(PATH).respond_with_data(API, content_type="application/json")
    src = ArtificialAnalysis("key", url=httpserver.url_for(PATH), clock=lambda: NOW)
    pull = src.pull(Http(timeout_s=5), {})
    assert pull.info["priced_models"] == 18 and pull.info["invalid_figures"] == 0
    assert parse_offers(pull.payload, "2026-11-28")[0] == parse_offers(API, "2026-11-28")[0]


def _builder() -> Any:
    spec = importlib.util.spec_from_file_location("build_snapshot", Path(__file__).parents[1] / "scripts"
                                                  / "build_snapshot.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up while being made
    spec.loader.exec_module(module)
    return module


def test_the_snapshot_builder_takes_the_capture_figures() -> None:
    aa_offer = _builder().aa_offer
    web = json.loads(WEB)["models"]
    fable = next(m for m in web if m["slug"] == "claude-fable-5")
    offer = aa_offer(fable, "2026-07-10", "aa:x")
    assert offer == {"price_blended": 20.0, "price_input": 10.0, "price_output": 50.0,
                     "output_tokens_per_second": 62.9, "as_of": "2026-07-10", "source": "aa:x"}
    assert Offer.from_dict(offer).price_blended == 20.0  # what the snapshot carries parses as a model's offer
    free = {**fable, "pricing": {"price_1m_input_tokens": 0, "price_1m_output_tokens": 0}, "speed": {}}
    assert aa_offer(free, "2026-07-10", "aa:x")["price_blended"] == 0.0  # a free tier stays 0, not unknown
    assert aa_offer({**fable, "pricing": {}, "speed": {"output_tokens_per_second": 0}}, "2026-07-10", "x") is None


def test_a_live_pull_puts_its_prices_on_the_matched_stored_models_and_keeps_newer_ones(
        httpserver: HTTPServer, store: Any) -> None:
    from forecasts.measure.domains import load_domains
    from forecasts.records.snapshot import bundled_bytes
    from forecasts.storage.ingest import load_snapshot
    from jobs.refresh import run_pull

    domains = load_domains()
    load_snapshot(store, domains, bundled_bytes(), "test")
    before = store.read_dataset(store.require_generation()).models["claude-fable-5"].offer
    assert before is not None and before.as_of == "2026-07-10"  # from the bundled capture
    httpserver.expect_request(PATH).respond_with_data(API, content_type="application/json")
    src = ArtificialAnalysis("key", url=httpserver.url_for(PATH), clock=lambda: NOW)
    outcome = run_pull(store, domains, src, Http(timeout_s=5), retry_max_s=60)
    assert outcome.ok
    after = store.read_dataset(store.require_generation()).models["claude-fable-5"]
    assert after.offer is not None and after.offer.as_of == "2026-11-28"  # the live pull's day
    assert (after.offer.price_input, after.offer.price_output) == (10.0, 50.0)
    # an older capture never overwrites a newer price
    httpserver.clear()
    httpserver.expect_request(PATH).respond_with_data(WEB, content_type="application/json")
    older = run_pull(store, domains, ArtificialAnalysis("key", url=httpserver.url_for(PATH), clock=lambda: NOW),
                     Http(timeout_s=5), retry_max_s=60)
    assert older.ok
    kept = store.read_dataset(store.require_generation()).models["claude-fable-5"].offer
    assert kept is not None and kept.as_of == "2026-11-28"
