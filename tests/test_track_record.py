"""The forecast track record: archived forecasts scored against what happened (issue 14)."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
import redis
from flask.testing import FlaskClient

from forecasts.measure.domains import parse_domains
from forecasts.publishing import outlook, track_record
from forecasts.publishing.track_record import Entry
from forecasts.settings import Settings
from forecasts.storage import keys
from forecasts.storage.ingest import load_snapshot
from forecasts.storage.store import Store
from service import create_app
from tests.conftest import FIXED_NOW, SMALL_DOMAINS, small_snapshot_bytes


def entry(made: str, metric: str = "score_gap", source: str = "live", **kw: Any) -> Entry:
    base: dict[str, Any] = dict(domain="coding", metric=metric, made=made, source=source, engine="4", model="x",
                                state={"score_gap": 10.0, "lag_days": 90, "status": "open_behind"},
                                horizons={"3": [9.0, 5.0, 13.0], "6": [8.0, 2.0, 14.0]},
                                p_within={"6": 0.2, "12": 0.5, "24": None}, data_hash=f"h-{made}-{metric}")
    base.update(kw)
    return Entry(**base)


def month(d: str, gap: float, status: str = "open_behind", lag: float = 60.0) -> dict[str, Any]:
    return {"date": d, "score_gap": gap, "lag_days": lag, "status": status}


SERIES = [month("2025-01-31", 10), month("2025-02-28", 9), month("2025-03-31", 9), month("2025-04-30", 14),
          month("2025-05-31", 0.5, "caught_up"), month("2025-06-30", 0.4, "caught_up"),
          month("2025-07-31", 0.2, "caught_up"), *[month(f"2025-{m:02d}-28", 0.1, "caught_up") for m in (8, 9, 10, 11,
                                                                                                       12)]]


def test_a_forecast_is_scored_against_the_series_as_it_stands_now() -> None:
    real = track_record.realised_of(entry("2025-01-15"), SERIES)
    assert real["values"]["3"] == 14 and real["values"]["6"] == 0.2 and real["values"]["12"] is None
    assert real["caught_up"]["6"] is True  # a full catch-up run (May-Jul) inside the 6 months after January
    assert real["caught_up"]["12"] is None  # the series does not reach 12 months on: unresolved
    out = track_record.score([entry("2025-01-15")], {"coding": SERIES})
    errs = {(e["metric"], e["horizon_months"]): e for e in out["pooled"]["errors"]}
    assert errs[("score_gap", 3)]["mae"] == pytest.approx(5.0) and errs[("score_gap", 3)]["coverage_80"] == 0.0
    assert errs[("score_gap", 3)]["mae_no_change"] == pytest.approx(4.0)  # from the state then, 10 -> 14
    assert errs[("score_gap", 6)]["mae"] == pytest.approx(7.8) and errs[("score_gap", 6)]["coverage_80"] == 0.0
    (brier,) = out["pooled"]["catch_up"]
    assert brier["within_months"] == 6 and brier["brier"] == pytest.approx(0.64) and brier["n"] == 1
    assert out["domains"]["coding"] == out["pooled"] and out["forecasts"][0]["realised"] == real


def test_backtest_entries_keep_what_happened_and_as_of_prefers_the_newest_live_entry() -> None:
    done = entry("2024-06-30", source="backtest", realised={"values": {"3": 12.0}, "caught_up": {"6": False}})
    assert track_record.realised_of(done, SERIES) == done.realised  # its own outcome, not today's series
    said = track_record.said_at([done, entry("2025-01-15"), entry("2025-01-15", source="backtest"),
                                 entry("2025-09-01")], date(2025, 3, 1))
    assert said["score_gap"]["made"] == "2025-01-15" and said["score_gap"]["source"] == "live"
    assert track_record.said_at([done], date(2024, 1, 1)) == {}


@pytest.fixture()
def served(r: redis.Redis) -> tuple[FlaskClient, Store, str]:
    store = Store(r, now=lambda: FIXED_NOW)
    domains = parse_domains(SMALL_DOMAINS, "test")
    gen = load_snapshot(store, domains, small_snapshot_bytes(), "test").generation
    outlook.compute(store, gen, outlook.pending(store, gen), domains=domains)
    app = create_app(Settings(redis_url="unused://"), client=r, config={"TESTING": True})
    return app.test_client(), store, gen


def test_every_published_domain_forecast_is_archived_permanently_and_served(
        served: tuple[FlaskClient, Store, str]) -> None:
    api, store, gen = served
    for d in ("coding", "math"):
        for m in ("score_gap", "lag_days"):
            key = keys.track_record(d, m)
            assert store.r.hlen(key) == 1 and store.r.ttl(key) == -1  # no expiry: the record is permanent
    body = api.get("/v1/track-record?source=live").get_json()
    assert body["ok"] and body["counts"]["live"] == 4 and body["credit"]
    f = next(x for x in body["forecasts"] if x["domain"] == "coding" and x["metric"] == "score_gap")
    assert f["source"] == "live" and f["generation"] == gen and f["made"] == "2025-01-20"
    assert f["state"]["status"] == "open_behind" and set(f["horizons"]) <= {"3", "6", "12"}
    said = api.get("/v1/domains/coding?as_of=2025-02-01").get_json()
    assert said["said"]["score_gap"]["made"] == "2025-01-20" and said["as_of"] == "2025-02-01"
    assert api.get("/v1/domains/coding?as_of=2024-01-01").get_json()["said"] == {}
    bad = api.get("/v1/domains/coding?as_of=soon")
    assert bad.status_code == 400 and bad.get_json()["errors"][0]["field"] == "as_of"
    assert api.get("/v1/track-record?domain=nope").status_code == 404
    assert api.get("/v1/track-record?source=later").status_code == 400
