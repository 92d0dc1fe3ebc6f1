"""Measurement fidelity on the bundled data (issue 11): the field's published figures reproduced from the
same data, the public / held-out split over HTTP, and the invariants every served row keeps."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import date
from typing import Any

import pytest
import redis
from flask.testing import FlaskClient

from forecasts.measure.domains import FRESH_DAYS, load_domains
from forecasts.measure.figures import FIGURES, reproduce
from forecasts.records.snapshot import bundled_bytes, parse_snapshot
from forecasts.settings import Settings
from forecasts.storage import keys
from forecasts.storage.ingest import load_snapshot
from forecasts.storage.store import Store
from service import create_app
from tests.conftest import FIXED_NOW

BUNDLED_DB = 9


@pytest.fixture(scope="module")
def bundled(redis_server: Any) -> Iterator[tuple[redis.Redis, str]]:
    client = redis.Redis.from_url(f"{redis_server.url}?db={BUNDLED_DB}")
    client.flushdb()
    gen = load_snapshot(Store(client, now=lambda: FIXED_NOW), load_domains(), bundled_bytes(), "test").generation
    yield client, gen
    client.flushdb()
    client.close()


@pytest.fixture()
def api(bundled: tuple[redis.Redis, str]) -> FlaskClient:
    return create_app(Settings(redis_url="unused://"), client=bundled[0], config={"TESTING": True}).test_client()


@pytest.fixture(scope="module")
def figure_rows() -> dict[str, dict[str, Any]]:
    return {r["figure"]: r for r in reproduce(parse_snapshot(bundled_bytes()).data)}


@pytest.mark.parametrize("figure", [f.id for f in FIGURES])
def test_each_published_figure_is_reproduced_within_its_tolerance(figure: str,
                                                                   figure_rows: dict[str, dict[str, Any]]) -> None:
    row = figure_rows[figure]
    assert row["gapcast"] is not None, f"{row['figure']}: gapcast has no value"
    assert row["within"], (f"{row['figure']}: published {row['published']} ± {row['tolerance']}, "
                           f"gapcast {row['gapcast']}")


def test_robustness_answer_names_each_side_and_agrees_with_the_benchmarks_classification(api: FlaskClient) -> None:
    body = api.get("/v1/robustness").get_json()
    assert body["ok"] and body["credit"]
    benches = {b["benchmark"]: b for b in api.get("/v1/benchmarks").get_json()["benchmarks"]}
    for side, held in (("public", False), ("held_out", True)):
        crossed = {c["benchmark"] for c in body["crossings"][side]}
        assert crossed, side
        assert all(benches[b]["held_out"] is held and benches[b]["in_split"] for b in crossed)
        assert all(c["lag_days"] == _days(c["closed"]["date"], c["open"]["date"]) for c in body["crossings"][side])
    now = body["now"]
    assert now["public"]["threshold_lag_days"] > 0 and now["held_out"]["threshold_lag_days"] > 0
    assert now["ratio"] == pytest.approx(now["held_out"]["threshold_lag_days"] / now["public"]["threshold_lag_days"],
                                         rel=0.01)
    rows = list(csv.DictReader(io.StringIO(api.get("/v1/robustness?format=csv").get_data(as_text=True))))
    assert [r["date"] for r in rows] == [r["date"] for r in body["series"]]


def test_every_benchmark_says_its_margin_scale_and_side_and_where_they_come_from(
        bundled: tuple[redis.Redis, str]) -> None:
    client, gen = bundled
    rows = Store(client).read_json(keys.gen_benchmark_summary(gen))
    assert rows
    for r in rows:
        assert r["margin_source"] and r["scale_source"] and r["held_out_reason"], r["benchmark"]
        assert isinstance(r["held_out"], bool)
    eci = next(r for r in rows if r["benchmark"] == "epoch-eci")
    assert eci["tie_margin"] == 3.0 and "statistically significant" in eci["margin_source"]


def test_served_domain_series_keep_one_benchmarks_leaders_bounded_shares_and_current_data(
        bundled: tuple[redis.Redis, str]) -> None:
    client, gen = bundled
    store = Store(client)
    for dom in load_domains():
        for p in store.read_json(keys.gen_domain_series(gen, dom)) or []:
            if p["score_gap"] is not None:
                assert -100.0 <= p["score_gap"] <= 100.0, (dom, p["date"])
            if p["closed_leader"] and p["open_leader"]:
                assert p["closed_leader"]["benchmark"] == p["open_leader"]["benchmark"] == p["primary_benchmark"]
            assert all(0 <= age <= FRESH_DAYS for age in p["member_data_age_days"].values()), (dom, p["date"])


def _days(a: str, b: str) -> int:
    return (date.fromisoformat(b) - date.fromisoformat(a)).days
