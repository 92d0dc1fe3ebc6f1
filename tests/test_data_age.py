"""Honest age: the data's age is that of its newest data point (overall and per source), not the time since
loading; past GAPCAST_STALE_AFTER_DAYS the API and dashboard say so; a median catch-up date that passed is
"overdue", never a negative number of days; a series being refit serves its previous forecast, "updating".
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import replace
from datetime import UTC, date, datetime
from typing import Any

import pytest
import redis
from click.testing import CliRunner
from flask import Flask
from prometheus_client.parser import text_string_to_metric_families

from forecasts.measure.domains import Domain
from forecasts.publishing import outlook
from forecasts.publishing.freshness import Freshness, days_until, freshness_of, overdue, source_id
from forecasts.records.model import Score
from forecasts.records.snapshot import parse_snapshot
from forecasts.settings import Settings
from forecasts.storage import keys
from forecasts.storage.ingest import load_records, load_snapshot
from forecasts.storage.store import Store
from gapcast.cli import cli
from service import create_app
from tests.conftest import FIXED_NOW

NEWEST = date(2025, 1, 20)  # open-2's release date: the newest data point of the small snapshot
AGE_S = (FIXED_NOW - datetime(2025, 1, 20, tzinfo=UTC)).total_seconds()
PAST = "2025-06-30"  # a median catch-up date FIXED_NOW has passed


def make_app(client: redis.Redis, **settings: Any) -> Flask:
    app = create_app(Settings(redis_url="unused://", **settings), client=client, config={"TESTING": True})
    app.extensions["gapcast.store"].now = lambda: FIXED_NOW  # time is injected: the app's clock is the store's
    return app


@pytest.fixture()
def loaded(store: Store, small_snapshot: bytes, small_domains: dict[str, Domain]) -> str:
    gen = load_snapshot(store, small_domains, small_snapshot, "s").generation
    outlook.compute(store, gen, outlook.pending(store, gen), domains=small_domains)
    return gen


def _set_p50(store: Store, gen: str, domain: str, p50: str) -> None:
    """Give a stored domain forecast a median catch-up date (the small data has none of its own)."""
    ref = store.r.hget(keys.gen_forecast_index(gen), f"domain:{domain}:score_gap")
    assert ref is not None
    key = outlook.doc_key(json.loads(ref)["hash"])
    raw = store.r.get(key)
    assert raw is not None
    doc = json.loads(raw)
    doc["forecast"]["catch_up"]["p50"] = p50
    store.r.set(key, json.dumps(doc))
    store.r.incr(keys.forecasts_version())


def test_freshness_is_the_newest_data_point_overall_and_per_source(small_snapshot: bytes) -> None:
    data = parse_snapshot(small_snapshot).data
    fresh = freshness_of(data)
    assert fresh.as_of == NEWEST and fresh.sources == {"canonical": NEWEST}
    # a second source whose newest model is older
    pair = next(p for p, s in data.scores.items() if s.model == "closed-1")
    data.scores[pair] = replace(data.scores[pair], source="epoch-hub:gpqa.csv#x")
    assert freshness_of(data).sources == {"canonical": NEWEST, "epoch-hub": date(2024, 1, 10)}
    assert source_id(Score("m", "b", 1.0, source="aa:2026-07-10/llms.json#x")) == "artificial-analysis"
    assert source_id(Score("m", "b", 1.0, source="lmarena-history:2025-12/x.json#y")) == "lmarena"
    assert source_id(Score("m", "b", 1.0, source="release.csv#record 2")) == "canonical"
    assert fresh.age_seconds(FIXED_NOW) == AGE_S and fresh.age_days(FIXED_NOW) == int(AGE_S // 86400)
    assert fresh.stale(FIXED_NOW, 30) and not fresh.stale(FIXED_NOW, 10_000)
    assert Freshness(date(2026, 11, 29)).age_seconds(FIXED_NOW) == 0.0  # a future-dated point: never negative
    assert Freshness(None).age_seconds(FIXED_NOW) is None and not Freshness(None).stale(FIXED_NOW, 1)


def test_overdue_is_a_status_never_negative_days() -> None:
    today = FIXED_NOW.date()
    assert overdue(PAST, today) and days_until(PAST, today) == 0
    assert not overdue("2027-01-31", today) and days_until("2027-01-31", today) == 64
    assert not overdue(None, today) and days_until(None, today) is None


def test_readyz_reports_the_age_of_the_newest_data_not_of_the_load(r: redis.Redis, loaded: str) -> None:
    ready = make_app(r).test_client().get("/readyz").get_json()
    assert ready["as_of"] == NEWEST.isoformat() and ready["data_age_seconds"] == AGE_S
    assert ready["data_age_days"] == 677 and ready["stale"] is True and ready["stale_after_days"] == 30
    assert ready["sources"] == {"canonical": {"as_of": "2025-01-20", "data_age_seconds": AGE_S}}
    assert ready["loaded_seconds_ago"] == 0.0  # loaded "now" (the pinned clock): a separate, honest field
    assert ready["forecasts_pending"] == 0
    relaxed = make_app(r, stale_after_days=1000).test_client().get("/readyz").get_json()
    assert relaxed["stale"] is False and relaxed["stale_after_days"] == 1000


def test_metrics_give_the_data_age_per_source_in_seconds_and_overdue_as_a_flag(r: redis.Redis, store: Store,
                                                                             loaded: str) -> None:
    _set_p50(store, loaded, "coding", PAST)
    text = make_app(r).test_client().get("/metrics").get_data(as_text=True)
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
               for fam in text_string_to_metric_families(text) for s in fam.samples}
    assert samples[("gapcast_data_age_seconds", ())] == AGE_S
    assert samples[("gapcast_source_data_age_seconds", (("source", "canonical"),))] == AGE_S
    assert samples[("gapcast_data_generation_age_seconds", ())] == 0.0
    assert samples[("gapcast_domain_catch_up_overdue", (("domain", "coding"),))] == 1.0
    others = {labels: v for (name, labels), v in samples.items()
              if name == "gapcast_domain_catch_up_overdue" and labels != (("domain", "coding"),)}
    assert others and set(others.values()) == {0.0}  # no date published: every other domain reads 0
    p50 = [v for (name, _), v in samples.items() if name == "gapcast_domain_catch_up_p50_seconds"]
    assert p50 == [0.0]  # overdue: 0, never a negative number


def test_api_answers_say_stale_with_the_age_and_overdue_in_json_and_csv(r: redis.Redis, store: Store,
                                                                       loaded: str) -> None:
    _set_p50(store, loaded, "coding", PAST)
    api = make_app(r).test_client()
    body = api.get("/v1/domains").get_json()
    assert (body["stale"], body["data_age_days"], body["data_as_of"]) == (True, 677, "2025-01-20")
    coding = next(d for d in body["domains"] if d["domain"] == "coding")
    assert coding["catch_up_p50"] == PAST and coding["catch_up_overdue"] is True
    assert all(d["catch_up_overdue"] is False for d in body["domains"] if d["domain"] != "coding")
    rows = list(csv.DictReader(io.StringIO(api.get("/v1/domains?format=csv").get_data(as_text=True))))
    assert next(row for row in rows if row["domain"] == "coding")["catch_up_overdue"] == "True"
    fc = api.get("/v1/domains/coding/forecast").get_json()
    assert fc["catch_up_overdue"] is True and fc["stale"] is True and fc["updating"] is False
    assert fc["forecast"]["catch_up"]["p50"] == PAST
    one = api.get("/v1/domains/coding").get_json()
    assert one["stale"] is True and one["domain"]["catch_up_overdue"] is True


def test_the_etag_changes_with_the_day_so_day_sized_facts_are_never_served_stale(r: redis.Redis,
                                                                                loaded: str) -> None:
    app = make_app(r)
    first = app.test_client().get("/v1/domains")
    app.extensions["gapcast.store"].now = lambda: datetime(2026, 11, 29, 0, 1, tzinfo=UTC)
    second = app.test_client().get("/v1/domains", headers={"If-None-Match": first.headers["ETag"]})
    assert second.status_code == 200 and second.get_json()["data_age_days"] == 678


def test_dashboard_header_shows_the_data_age_and_a_plain_stale_banner(r: redis.Redis, store: Store,
                                                                      loaded: str) -> None:
    _set_p50(store, loaded, "coding", PAST)
    html = make_app(r).test_client().get("/").get_data(as_text=True)
    assert "data as of <span class='data-as-of'>2025-01-20</span>" in html and "677 days old" in html
    assert "banner-stale" in html and "Stale data." in html and "canonical: 2025-01-20" in html
    assert "note-overdue" in html and f"median catch-up date ({PAST}) has passed" in html
    fresh = make_app(r, stale_after_days=1000).test_client().get("/").get_data(as_text=True)
    assert "banner-stale" not in fresh and "677 days old" in fresh


def test_a_refit_serves_the_previous_forecast_marked_updating(r: redis.Redis, store: Store, loaded: str,
                                                              small_domains: dict[str, Domain]) -> None:
    api = make_app(r).test_client()
    before = api.get("/v1/domains/coding/forecast").get_json()
    release = ("model,organization,release_date,access,benchmark,score\n"
               "open-2,OpenCo,2025-01-20,open,code-a,66\n")
    gen2 = load_records(store, small_domains, release.encode(), "csv", "release.csv").generation
    waiting = {ref.field for ref in outlook.pending(store, gen2)}
    assert "domain:coding:score_gap" in waiting and "domain:math:score_gap" not in waiting
    during = api.get("/v1/domains/coding/forecast")
    assert during.status_code == 200, during.data
    doc = during.get_json()
    assert doc["updating"] is True and doc["forecast"]["data_hash"] == before["forecast"]["data_hash"]
    row = next(d for d in api.get("/v1/domains").get_json()["domains"] if d["domain"] == "coding")
    assert row["forecast_updating"] is True and row["forecast_status"] != "pending"
    assert "note-updating" in api.get("/").get_data(as_text=True)
    assert api.get("/v1/domains/math/forecast").get_json()["updating"] is False  # untouched: its own document
    outlook.compute(store, gen2, outlook.pending(store, gen2), domains=small_domains)
    after = api.get("/v1/domains/coding/forecast").get_json()
    assert after["updating"] is False and after["forecast"]["data_hash"] != before["forecast"]["data_hash"]


def test_after_an_engine_upgrade_the_previous_engines_forecast_is_served_marked_updating(
        r: redis.Redis, store: Store, loaded: str, small_domains: dict[str, Domain]) -> None:
    """The new engine's documents do not exist yet right after an upgrade: each series serves the previous
    engine's document for the same data, marked updating, instead of a 503, until its refit lands."""
    ref = next(x for x in outlook.read_index(store, loaded) if x.field == "domain:coding:score_gap")
    old_key = outlook.previous_engine_doc_key(ref.hash)
    assert old_key is not None
    r.rename(outlook.doc_key(ref.hash), old_key)  # as the previous engine left it
    during = make_app(r).test_client().get("/v1/domains/coding/forecast")
    assert during.status_code == 200, during.data
    assert during.get_json()["updating"] is True
    outlook.compute(store, loaded, outlook.pending(store, loaded), domains=small_domains)
    after = make_app(r).test_client().get("/v1/domains/coding/forecast").get_json()
    assert after["updating"] is False


def test_a_series_that_never_had_a_forecast_is_503_with_retry_after(r: redis.Redis, store: Store,
                                                                    small_snapshot: bytes,
                                                                    small_domains: dict[str, Domain]) -> None:
    load_snapshot(store, small_domains, small_snapshot, "s")  # nothing fitted yet
    resp = make_app(r).test_client().get("/v1/domains/coding/forecast")
    assert resp.status_code == 503 and resp.headers["Retry-After"] == "5"
    body = resp.get_json()
    assert body["ok"] is False and body["errors"] == [{"field": "forecast", "message": "pending"}]


def test_gapcast_gaps_prints_the_data_age(redis_url: str, tmp_path: Any, loaded: str) -> None:
    env = {"GAPCAST_REDIS_URL": redis_url, "GAPCAST_DATA_DIR": str(tmp_path)}
    out = CliRunner().invoke(cli, ["gaps"], env=env, catch_exceptions=False)
    assert out.exit_code == 0, out.output
    # the CLI's clock is the real one: the small data (2025-01-20) is old whatever day this runs
    assert "data as of 2025-01-20 (newest data point):" in out.output and "STALE" in out.output
    assert "newest data per source: canonical 2025-01-20" in out.output
    rows = json.loads(CliRunner().invoke(cli, ["gaps", "--json"], env=env, catch_exceptions=False).stdout)
    assert all(row["data_as_of"] == "2025-01-20" and row["stale"] is True and row["data_age_days"] > 600
               for row in rows)


def test_alert_text_marks_a_median_catch_up_date_that_passed_as_overdue() -> None:
    from forecasts.activity import events as fe
    from jobs.alerts.messages import render

    moved = fe.catch_up_moved("math", {"catch_up": {"p50": "2027-06-30"}}, {"catch_up": {"p50": PAST}})
    assert moved is not None
    fields = moved.fields("g1", "g1", FIXED_NOW.isoformat())
    ev = {"id": "1-0", **fields, "before": json.loads(fields["before"]), "after": json.loads(fields["after"]),
          "models": json.loads(fields["models"])}
    text = json.dumps(render("slack", [ev], dashboard_url="http://127.0.0.1:8000/"))
    assert f"{PAST} (overdue)" in text and "2027-06-30 (overdue)" not in text and "-15" not in text


def test_gapcast_forecast_says_overdue(redis_url: str, tmp_path: Any, store: Store, loaded: str) -> None:
    _set_p50(store, loaded, "coding", PAST)
    env = {"GAPCAST_REDIS_URL": redis_url, "GAPCAST_DATA_DIR": str(tmp_path)}
    out = CliRunner().invoke(cli, ["forecast", "coding", "--json"], env=env, catch_exceptions=False)
    gap = next(f for f in json.loads(out.stdout) if f["metric"] == "score_gap")
    assert gap["catch_up"]["p50"] == PAST and gap["catch_up_overdue"] is True
    table = CliRunner().invoke(cli, ["forecast", "coding"], env=env, catch_exceptions=False).stdout
    assert f"{PAST} overdue" in table


def test_a_generations_freshness_is_computed_once_and_kept_in_redis(store: Store, loaded: str) -> None:
    from forecasts.publishing import freshness
    freshness._cache.clear()
    assert freshness.generation_freshness(store, loaded).as_of == NEWEST
    key = keys.freshness(loaded)
    assert json.loads(store.r.get(key) or b"{}") == {"as_of": "2025-01-20", "sources": {"canonical": "2025-01-20"}}
    assert 0 < store.r.ttl(key) <= freshness.STORED_TTL_S
    # another process (an empty in-process cache) reads the stored value, not the dataset
    store.r.set(key, json.dumps({"as_of": "2025-01-01", "sources": {}}))
    freshness._cache.clear()
    assert freshness.generation_freshness(store, loaded).as_of == date(2025, 1, 1)
    store.r.set(key, b"not json")  # a malformed value is recomputed from the generation, never served
    freshness._cache.clear()
    assert freshness.generation_freshness(store, loaded).as_of == NEWEST
    freshness._cache.clear()
