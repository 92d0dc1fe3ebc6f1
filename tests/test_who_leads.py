"""Issue 14: frontier views by organisation / country, each country's share of open frontier moves, and the
swap question (GET /v1/swap, gapcast swap), on small hand-built data and on the bundled snapshot."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from click.testing import CliRunner
from flask.testing import FlaskClient

from forecasts.measure.domains import load_domains, parse_domains
from forecasts.measure.views import FilterError, Filters, check_filters, filtered
from forecasts.records.model import Model, Offer
from forecasts.records.snapshot import bundled_bytes, parse_snapshot
from forecasts.settings import Settings
from forecasts.storage.ingest import load_snapshot
from forecasts.storage.store import Store
from gapcast.cli import cli
from service import create_app
from tests.conftest import FIXED_NOW, SMALL_DOMAINS, bench_dict, make_snapshot, model_dict

BUNDLED_DB = 15  # the bundled-data tests share one loaded database (read only)


def _offer(blended: float, tps: float | None = 50.0) -> dict[str, Any]:
    return {"price_blended": blended, "price_input": blended / 2, "price_output": blended * 2.5,
            "output_tokens_per_second": tps, "as_of": "2026-07-10", "source": "aa:test"}


def _model(mid: str, day: str, access: str, org: str, offer: dict[str, Any] | None = None) -> dict[str, Any]:
    return {**model_dict(mid, day, access, org), **({"offer": offer} if offer else {})}


# coding = code-a (weight 2, the primary benchmark) + code-elo (no scores here). Unfiltered: the closed leader
# is Chinese (closed-cn 85), the open leader French (open-fr 83).
MODELS = [
    _model("closed-us", "2024-01-10", "closed", "OpenAI", _offer(10.0)),
    _model("closed-cn", "2024-06-01", "closed", "Baidu", _offer(8.0)),
    _model("open-cn", "2024-03-01", "open", "Alibaba", _offer(1.0)),
    _model("open-us", "2024-05-01", "open", "Meta", _offer(0.5)),
    _model("open-fr", "2024-07-01", "open", "Mistral AI", _offer(2.0, None)),
    _model("open-free", "2025-02-01", "open", "Allen Institute for AI", _offer(0.0)),
    _model("open-cn-2", "2025-03-01", "open", "Qwen"),  # no offer; Qwen is an alias of Alibaba
]
SCORES = [("closed-us", "code-a", 80.0), ("closed-cn", "code-a", 85.0), ("open-cn", "code-a", 78.0),
          ("open-us", "code-a", 70.0), ("open-fr", "code-a", 83.0), ("open-free", "code-a", 81.0),
          ("open-cn-2", "code-a", 84.0), ("closed-us", "math-a", 50.0), ("open-us", "math-a", 40.0)]


def small_bytes() -> bytes:
    benches = [bench_dict("code-a", saturation=None), bench_dict("code-elo", unit="Elo", max=None, tie_margin=10.0,
                                                                 saturation=None, scale=400.0),
               bench_dict("math-a")]
    return make_snapshot(benches, MODELS, SCORES)


@pytest.fixture()
def api(store: Store, tmp_path: Path) -> Iterator[FlaskClient]:
    domains_file = tmp_path / "domains.toml"
    domains_file.write_text(SMALL_DOMAINS)
    load_snapshot(store, parse_domains(SMALL_DOMAINS, "test"), small_bytes(), "test")
    app = create_app(Settings(redis_url="unused://", domains_file=domains_file), client=store.r,
                     config={"TESTING": True})
    yield app.test_client()


# --- the pure parts ----------------------------------------------------------------------------------------


def test_filtered_keeps_each_class_of_its_own_side() -> None:
    data = parse_snapshot(small_bytes()).data
    view = filtered(data, check_filters(data, Filters(closed_country="us", open_country="CN")))
    assert set(view.models) == {"closed-us", "open-cn", "open-cn-2"}
    assert {m for _, m in view.scores} == set(view.models)
    assert set(view.benchmarks) == set(data.benchmarks)
    assert set(filtered(data, Filters(open_org="Meta AI")).models) == {"closed-us", "closed-cn", "open-us"}


@pytest.mark.parametrize(("raw", "param", "fragment"), [
    (Filters(open_country="ZZ"), "open_country", "no open model comes from 'ZZ'; open models come from CN, FR, US"),
    (Filters(closed_country="FR"), "closed_country", "no closed model comes from 'FR'"),
    (Filters(closed_country="USA"), "closed_country", "not an ISO 3166-1 alpha-2"),
    (Filters(open_org="OpenAI"), "open_org", "no open model is made by 'OpenAI'"),
    (Filters(closed_org="  "), "closed_org", "no closed model is made by"),
])
def test_bad_filters_name_their_parameter(raw: Filters, param: str, fragment: str) -> None:
    with pytest.raises(FilterError) as err:
        check_filters(parse_snapshot(small_bytes()).data, raw)
    assert err.value.param == param and fragment in err.value.message


def test_an_offer_round_trips_and_bad_figures_name_the_field() -> None:
    m = Model.from_dict(MODELS[0])
    assert m.offer == Offer(10.0, 5.0, 25.0, 50.0, "2026-07-10", "aa:test")
    assert Model.from_dict(m.to_dict()) == m
    assert "offer" not in Model.from_dict(model_dict("x", "2024-01-01", "open")).to_dict()
    with pytest.raises(ValueError, match="offer field 'price_input'"):
        Offer.from_dict({**_offer(1.0), "price_input": -1})
    with pytest.raises(ValueError, match="offer field 'as_of'"):
        Offer.from_dict({**_offer(1.0), "as_of": "July"})


# --- filtered frontier views over HTTP --------------------------------------------------------------------


def test_a_filter_changes_the_domains_leaders(api: FlaskClient) -> None:
    whole = api.get("/v1/domains/coding").get_json()["domain"]
    assert (whole["closed_leader"]["model"], whole["open_leader"]["model"]) == ("closed-cn", "open-cn-2")
    body = api.get("/v1/domains/coding?closed_country=us&open_country=FR").get_json()
    assert body["filters"] == {"closed_country": "US", "open_country": "FR"}
    row = body["domain"]
    assert (row["closed_leader"]["model"], row["open_leader"]["model"]) == ("closed-us", "open-fr")
    assert row["score_gap"] == pytest.approx(-3 * 2 / 2)  # open-fr 83 vs closed-us 80: only code-a contributes
    assert row["status"] == "open_leads" and row["forecast_status"] == "filtered" and row["catch_up_p50"] is None
    assert [b["benchmark"] for b in body["benchmarks"]] == ["code-a", "code-elo"]
    meta = api.get("/v1/domains/coding?closed_org=openai&open_org=Meta").get_json()["domain"]
    assert (meta["closed_leader"]["model"], meta["open_leader"]["model"]) == ("closed-us", "open-us")


def test_the_list_and_the_series_take_the_same_filters(api: FlaskClient) -> None:
    rows = {r["domain"]: r for r in api.get("/v1/domains?open_country=US").get_json()["domains"]}
    assert rows["coding"]["open_leader"]["model"] == "open-free"
    assert rows["math"]["open_leader"]["model"] == "open-us"
    assert all(r["filters"] == {"open_country": "US"} for r in rows.values())
    plain = api.get("/v1/domains/coding/series").get_json()["points"]
    us = api.get("/v1/domains/coding/series?open_country=US").get_json()["points"]
    # the US open frontier starts with open-us (2024-05) and its newest data is open-free (2025-02-01)
    assert (plain[0]["date"], plain[-1]["date"]) == ("2024-03-31", "2025-03-01")
    assert (us[0]["date"], us[-1]["date"]) == ("2024-05-31", "2025-02-01")
    assert plain[-1]["value"] == pytest.approx(1.0) and us[-1]["value"] == pytest.approx(4.0)  # 85-84, 85-81
    text = api.get("/v1/domains/coding/series?open_country=US&format=csv").get_data(as_text=True)
    assert list(csv.DictReader(io.StringIO(text)))[-1]["value"] == "4.0"
    assert api.get("/v1/domains?open_country=US&format=csv").status_code == 200


@pytest.mark.parametrize(("url", "field"), [
    ("/v1/domains/coding?open_country=ZZ", "open_country"),
    ("/v1/domains/coding?closed_country=USA", "closed_country"),
    ("/v1/domains?closed_org=Nobody%20Labs", "closed_org"),
    ("/v1/domains/coding/series?open_org=OpenAI", "open_org"),
    ("/v1/domains/coding?open_country=CN&as_of=2025-01-01", "as_of"),
])
def test_bad_filters_are_400s_naming_the_parameter(api: FlaskClient, url: str, field: str) -> None:
    resp = api.get(url)
    body = resp.get_json()
    assert resp.status_code == 400 and body["ok"] is False and body["status"] == 400
    assert [e["field"] for e in body["errors"]] == [field]


def test_movers_give_each_countrys_share_per_year(api: FlaskClient) -> None:
    body = api.get("/v1/domains/coding/movers").get_json()
    # open frontier of code-a: open-cn (2024-03, CN), open-fr (2024-07, FR), open-cn-2 (2025-03, CN)
    assert [(m["model"], m["date"], m["country"]) for m in body["moves"]] == [
        ("open-cn", "2024-03-01", "CN"), ("open-fr", "2024-07-01", "FR"), ("open-cn-2", "2025-03-01", "CN")]
    assert body["years"] == [
        {"year": 2024, "moves": 2, "countries": [{"country": "CN", "moves": 1, "share": 0.5},
                                                  {"country": "FR", "moves": 1, "share": 0.5}]},
        {"year": 2025, "moves": 1, "countries": [{"country": "CN", "moves": 1, "share": 1.0}]}]
    assert body["all_years"]["countries"][0] == {"country": "CN", "moves": 2, "share": 0.6667}
    assert api.get("/v1/domains/nope/movers").status_code == 404
    assert api.get("/v1/domains/coding/movers?year=2024").status_code == 400


# --- the swap question --------------------------------------------------------------------------------------


def test_swap_lists_the_open_models_within_the_gap_cheapest_first(api: FlaskClient) -> None:
    body = api.get("/v1/swap?domain=coding&max_gap=5").get_json()
    assert body["benchmark"] == "code-a" and body["gap_unit"] == "% of scale" and body["max_gap"] == 5
    leader = body["closed_leader"]
    assert (leader["model"], leader["price_blended"], leader["offer_as_of"]) == ("closed-cn", 8.0, "2026-07-10")
    # within 5 points of 85: open-cn-2 (84, no price), open-fr (83), open-free (81, free); not open-cn (78)
    assert [(c["model"], c["gap"], c["price_blended"]) for c in body["candidates"]] == [
        ("open-free", 4.0, 0.0), ("open-fr", 2.0, 2.0), ("open-cn-2", 1.0, None)]
    for c in body["candidates"]:
        assert c["score_date"] == "2026-01-01"
        assert c["offer_as_of"] == ("2026-07-10" if c["price_blended"] is not None else None)
    assert body["candidates"][1]["output_tokens_per_second"] is None  # open-fr: AA has no speed for it
    cheapest = body["cheapest"]  # a free tier gives no ratio: the cheapest priced candidate does
    assert (cheapest["model"], cheapest["times_cheaper"], cheapest["closed_price_blended"]) == ("open-fr", 4.0, 8.0)
    assert "costs 4x less than closed-cn" in cheapest["sentence"]
    wider = api.get("/v1/swap?domain=coding&max_gap=10").get_json()
    assert [c["model"] for c in wider["candidates"]] == ["open-free", "open-cn", "open-fr", "open-cn-2"]
    assert wider["cheapest"]["model"] == "open-cn" and wider["cheapest"]["times_cheaper"] == 8.0
    rows = list(csv.DictReader(io.StringIO(api.get("/v1/swap?domain=coding&format=csv").get_data(as_text=True))))
    assert [r["model"] for r in rows] == ["open-free", "open-fr", "open-cn-2"] and rows[1]["price_blended"] == "2.0"


def test_swap_on_a_domain_where_nothing_is_close(api: FlaskClient) -> None:
    body = api.get("/v1/swap?domain=math&max_gap=5").get_json()
    assert body["closed_leader"]["model"] == "closed-us" and body["candidates"] == [] and body["cheapest"] is None


@pytest.mark.parametrize(("url", "status", "field"), [
    ("/v1/swap?domain=nope", 404, "domain"),
    ("/v1/swap", 400, "domain"),
    ("/v1/swap?domain=coding&max_gap=-1", 400, "max_gap"),
    ("/v1/swap?domain=coding&max_gap=lots", 400, "max_gap"),
    ("/v1/swap?domain=coding&benchmark=math-a", 400, "benchmark"),
])
def test_bad_swap_questions(api: FlaskClient, url: str, status: int, field: str) -> None:
    resp = api.get(url)
    assert resp.status_code == status and [e["field"] for e in resp.get_json()["errors"]] == [field]


def test_gapcast_swap_prints_the_table_and_the_verdict(store: Store, redis_url: str, tmp_path: Path) -> None:
    domains_file = tmp_path / "domains.toml"
    domains_file.write_text(SMALL_DOMAINS)
    load_snapshot(store, parse_domains(SMALL_DOMAINS, "test"), small_bytes(), "test")
    env = {"GAPCAST_REDIS_URL": redis_url, "GAPCAST_DATA_DIR": str(tmp_path / "d"),
           "GAPCAST_DOMAINS_FILE": str(domains_file)}
    out = CliRunner().invoke(cli, ["swap", "--domain", "coding", "--max-gap", "5"], env=env, catch_exceptions=False)
    assert out.exit_code == 0, out.output
    lines = out.output.splitlines()
    assert lines[0].startswith("coding: open models within 5 (% of scale) of the closed leader on code-a")
    models = [line.split()[0] for line in lines[2:6]]
    assert models == ["closed-cn", "open-free", "open-fr", "open-cn-2"]
    assert "8.000" in lines[2] and "2026-07-10" in lines[2]
    assert lines[-1].startswith("The cheapest open model within 5 points") and "4x less" in lines[-1]
    bad = CliRunner().invoke(cli, ["swap", "--domain", "nope"], env=env)
    assert bad.exit_code == 1 and "no domain 'nope'" in bad.output


# --- the bundled data ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def bundled_api(redis_server: Any) -> Iterator[FlaskClient]:
    client = redis.Redis.from_url(f"{redis_server.url}?db={BUNDLED_DB}")
    client.flushdb()
    load_snapshot(Store(client, now=lambda: FIXED_NOW), load_domains(None), bundled_bytes(), "bundled")
    yield create_app(Settings(redis_url="unused://"), client=client, config={"TESTING": True}).test_client()
    client.flushdb()
    client.close()


def _country(api: FlaskClient, leader: dict[str, Any]) -> str:
    return str(api.get(f"/v1/models/{leader['model']}").get_json()["model"]["country"])


def test_bundled_us_closed_vs_chinese_open_and_us_open(bundled_api: FlaskClient) -> None:
    for domain in ("coding", "overall", "math"):
        row = bundled_api.get(f"/v1/domains/{domain}?closed_country=US&open_country=CN").get_json()["domain"]
        assert _country(bundled_api, row["closed_leader"]) == "US"
        assert _country(bundled_api, row["open_leader"]) == "CN"
        us = bundled_api.get(f"/v1/domains/{domain}?open_country=US").get_json()["domain"]
        assert _country(bundled_api, us["open_leader"]) == "US"
        assert us["score_gap"] > row["score_gap"]  # the US open models are further behind than the Chinese ones


def test_bundled_movers_and_swap(bundled_api: FlaskClient) -> None:
    movers = bundled_api.get("/v1/domains/coding/movers").get_json()
    assert movers["all_years"]["moves"] == len(movers["moves"]) > 10
    for year in movers["years"]:
        assert sum(c["moves"] for c in year["countries"]) == year["moves"]
        assert sum(c["share"] for c in year["countries"]) == pytest.approx(1.0, abs=0.01)
    body = bundled_api.get("/v1/swap?domain=coding&max_gap=15").get_json()
    prices = [c["price_blended"] for c in body["candidates"] if c["price_blended"] is not None]
    assert body["candidates"] and prices == sorted(prices)
    assert all(c["gap"] <= 15 for c in body["candidates"])


def test_swap_on_a_rating_board_reads_the_current_board() -> None:
    """Arena-like benchmark: each score carries its rating snapshots. A model whose newest rating is older than
    the board's carry window is off the current board and is no candidate; the others are read, and dated,
    at the newest board."""
    from forecasts.measure.compute import benchmark_gaps
    from forecasts.measure.views import swap
    from forecasts.records.model import Access, Benchmark, Dataset, Score

    bench = Benchmark.from_dict(bench_dict("elo", unit="Elo", min=0.0, max=None, tie_margin=5.0, saturation=None,
                                           scale=400.0))
    models = {m.id: m for m in (Model.from_dict(_model("c", "2025-01-01", "closed", "OpenAI", _offer(10.0))),
                                Model.from_dict(_model("o-now", "2025-02-01", "open", "Alibaba", _offer(1.0))),
                                Model.from_dict(_model("o-gone", "2025-01-15", "open", "Meta", _offer(0.5))))}

    def rated(mid: str, *boards: tuple[str, float]) -> Score:
        return Score(mid, "elo", boards[-1][1], None, "arena", "2026-01-05",
                     history=tuple((day, value, None) for day, value in boards))

    scores = [rated("c", ("2025-03-01", 1290.0), ("2026-01-01", 1300.0)),
              rated("o-now", ("2025-03-01", 1270.0), ("2026-01-01", 1284.0)),
              rated("o-gone", ("2025-03-01", 1296.0))]  # not on any board since 2025-03
    data = Dataset(models, {"elo": bench}, {("elo", s.model): s for s in scores})
    assert data.models["c"].access is Access.CLOSED
    answer = swap(data, benchmark_gaps(data)["elo"], 5.0)
    assert answer["as_of"] == "2026-01-01" and answer["closed_leader"]["score"] == 1300.0
    assert [(c["model"], c["score"], c["gap"], c["score_date"]) for c in answer["candidates"]] == [
        ("o-now", 1284.0, 4.0, "2026-01-01")]  # 16 Elo = 4 % of a 400-Elo scale
