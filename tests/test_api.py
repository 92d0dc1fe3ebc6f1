"""The HTTP API against a real Redis: every endpoint, one error shape, ETag/304, metrics, Redis down."""

from __future__ import annotations

import csv
import io
import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from flask import Flask
from flask.testing import FlaskClient
from prometheus_client.parser import text_string_to_metric_families

from forecasts.measure.domains import Domain, parse_domains
from forecasts.publishing import outlook
from forecasts.settings import Settings
from forecasts.storage.ingest import load_snapshot
from forecasts.storage.store import Store
from service import create_app
from tests.conftest import FIXED_NOW, SMALL_DOMAINS, small_snapshot_bytes


def make_app(client: redis.Redis) -> Flask:
    return create_app(Settings(redis_url="unused://"), client=client, config={"TESTING": True})


API_DB = 7  # the read-only tests share one loaded database, loaded once per module


@pytest.fixture(scope="module")
def loaded_db(redis_server: Any) -> Iterator[tuple[redis.Redis, str]]:
    client = redis.Redis.from_url(f"{redis_server.url}?db={API_DB}")
    client.flushdb()
    store = Store(client, now=lambda: FIXED_NOW)
    gen = load_snapshot(store, parse_domains(SMALL_DOMAINS, "test"), small_snapshot_bytes(), "test").generation
    outlook.compute(store, gen, outlook.pending(store, gen), domains=parse_domains(SMALL_DOMAINS, "test"))
    yield client, gen
    client.flushdb()
    client.close()


@pytest.fixture()
def loaded(loaded_db: tuple[redis.Redis, str]) -> str:
    return loaded_db[1]


@pytest.fixture()
def api(loaded_db: tuple[redis.Redis, str]) -> Iterator[FlaskClient]:
    yield make_app(loaded_db[0]).test_client()


def assert_error_shape(resp: Any, status: int) -> dict[str, Any]:
    assert resp.status_code == status, resp.data
    assert resp.mimetype == "application/json"
    body = resp.get_json()
    assert set(body) == {"ok", "error", "errors", "status"}
    assert body["ok"] is False and body["status"] == status and isinstance(body["error"], str)
    assert isinstance(body["errors"], list)
    assert "Traceback" not in resp.get_data(as_text=True)
    return dict(body)


def test_health_and_readiness(api: FlaskClient, loaded: str) -> None:
    assert api.get("/healthz").get_json() == {"ok": True, "status": "alive", "redis": "up"}
    ready = api.get("/readyz").get_json()
    assert ready["status"] == "ready" and ready["generation"] == loaded and ready["as_of"] == "2025-01-20"
    assert ready["data_age_seconds"] is not None


def test_readyz_is_503_before_any_load(r: redis.Redis) -> None:
    body = assert_error_shape(make_app(r).test_client().get("/readyz"), 503)
    assert body["error"] == "no data loaded yet"


def test_domains_list_has_gaps_and_forecast_headlines(api: FlaskClient) -> None:
    body = api.get("/v1/domains").get_json()
    rows = {d["domain"]: d for d in body["domains"]}
    assert set(rows) == {"coding", "math"}
    coding = rows["coding"]
    assert coding["status"] == "open_behind" and coding["closed_leader"]["model"] == "closed-2"
    assert coding["forecast_status"] in {"ok", "insufficient_data", "caught_up", "open_leads"}
    assert {"catch_up_p50", "p_within_6", "p_within_12", "p_within_24", "lag_verdict"} <= set(coding)


def test_domains_csv(api: FlaskClient) -> None:
    resp = api.get("/v1/domains?format=csv")
    assert resp.mimetype == "text/csv"
    rows = list(csv.DictReader(io.StringIO(resp.get_data(as_text=True))))
    assert [r["domain"] for r in rows] == ["coding", "math"] and rows[1]["status"] == "open_leads"


def test_one_domain_with_its_benchmarks(api: FlaskClient) -> None:
    body = api.get("/v1/domains/coding").get_json()
    assert body["domain"]["domain"] == "coding"
    assert {b["benchmark"] for b in body["benchmarks"]} == {"code-a", "code-elo"}


def test_domain_series_metric_and_date_window(api: FlaskClient) -> None:
    body = api.get("/v1/domains/coding/series?metric=lag_days&from=2024-06-01&to=2024-08-31").get_json()
    assert body["unit"] == "days" and [p["date"] for p in body["points"]] == ["2024-06-30", "2024-07-31",
                                                                              "2024-08-31"]
    assert all(isinstance(p["value"], float | int) for p in body["points"])
    text = api.get("/v1/domains/coding/series?format=csv").get_data(as_text=True)
    assert text.splitlines()[0] == "date,value,status"


def test_domain_forecast_is_the_stored_document(api: FlaskClient) -> None:
    body = api.get("/v1/domains/coding/forecast").get_json()
    fc = body["forecast"]
    assert fc["target"] == "coding" and fc["metric"] == "score_gap" and len(fc["trajectory"]) == 36
    assert set(fc["catch_up"]) >= {"p10", "p50", "p90", "probability_within", "never_within_horizon"}
    assert api.get("/v1/domains/coding/forecast?metric=lag_days").get_json()["forecast"]["metric"] == "lag_days"


def test_forecast_not_computed_yet_is_503(r: redis.Redis, store: Store, small_snapshot: bytes,
                                          small_domains: dict[str, Domain]) -> None:
    load_snapshot(store, small_domains, small_snapshot, "test")
    body = assert_error_shape(make_app(r).test_client().get("/v1/domains/coding/forecast"), 503)
    assert "not computed yet" in body["error"]


def test_domain_chart_is_svg(api: FlaskClient) -> None:
    resp = api.get("/v1/domains/coding/chart.svg")
    assert resp.mimetype == "image/svg+xml" and b'class="gapcast-chart"' in resp.data


def test_benchmarks_list_one_series_and_forecast(api: FlaskClient) -> None:
    rows = {b["benchmark"]: b for b in api.get("/v1/benchmarks").get_json()["benchmarks"]}
    assert set(rows) == {"code-a", "code-elo", "math-a"}
    one = api.get("/v1/benchmarks/code-a").get_json()
    assert one["definition"]["unit"] == "%" and one["benchmark"]["status"] == "open_behind"
    series = api.get("/v1/benchmarks/code-a/series").get_json()
    assert series["points"][-1]["value"] == pytest.approx(10.0)
    assert api.get("/v1/benchmarks/code-a/forecast").get_json()["forecast"]["kind"] == "benchmark"
    assert api.get("/v1/benchmarks?format=csv").mimetype == "text/csv"


def test_models_filters_and_pagination(api: FlaskClient) -> None:
    body = api.get("/v1/models?access=open&limit=1").get_json()
    assert body["total"] == 2 and [m["id"] for m in body["models"]] == ["open-2"] and body["next_offset"] == 1
    assert [m["id"] for m in api.get("/v1/models?access=open&limit=1&offset=1").get_json()["models"]] == ["open-1"]
    assert api.get("/v1/models?organization=closedco").get_json()["total"] == 2
    assert [m["id"] for m in api.get("/v1/models?since=2024-09-01").get_json()["models"]] == ["open-2", "closed-2"]


def test_backtest_json_and_csv(api: FlaskClient) -> None:
    series = {s["series"]: s for s in api.get("/v1/backtest").get_json()["series"]}
    assert "domain:coding:score_gap" in series
    coding = series["domain:coding:score_gap"]
    assert set(coding["models"]) == {"published", "last_value"}  # the engine's forecast vs the random walk
    header = api.get("/v1/backtest?format=csv").get_data(as_text=True).splitlines()[0]
    assert header == "series,kind,target,metric,published_model,model,mae_3,mae_6,mae_12,coverage_80,n"


def test_dashboard_and_docs_pages(api: FlaskClient) -> None:
    page = api.get("/").get_data(as_text=True)
    assert page.count('class="domain-card"') == 2 and "<svg" in page and "http://" not in page.replace(
        "http://www.w3.org", "")
    docs = api.get("/docs").get_data(as_text=True)
    assert "/v1/domains/{domain_id}/forecast" in docs
    spec = api.get("/openapi.json").get_json()
    assert spec["openapi"].startswith("3.") and "/v1/models" in spec["paths"]


def test_metrics_parse_with_the_prometheus_parser(api: FlaskClient) -> None:
    api.get("/v1/domains")
    text = api.get("/metrics").get_data(as_text=True)
    families = {f.name: f for f in text_string_to_metric_families(text)}
    gaps = {s.labels["domain"]: s.value for s in families["gapcast_domain_score_gap"].samples}
    assert set(gaps) == {"coding", "math"} and gaps["math"] < 0
    assert {s.labels["domain"] for s in families["gapcast_domain_lag_seconds"].samples} == {"coding", "math"}
    assert "gapcast_domain_catch_up_probability" in families and "gapcast_data_age_seconds" in families
    requests = families["gapcast_http_requests"].samples
    assert any(s.labels.get("endpoint") == "/v1/domains" and s.value >= 1 for s in requests)
    assert "gapcast_http_request_duration_seconds" in families


def test_etag_and_304(api: FlaskClient) -> None:
    first = api.get("/v1/domains/coding/forecast")
    tag = first.headers["ETag"]
    assert first.headers["Cache-Control"].startswith("public")
    again = api.get("/v1/domains/coding/forecast", headers={"If-None-Match": tag})
    assert again.status_code == 304 and again.data == b""
    assert api.get("/v1/domains", headers={"If-None-Match": tag}).status_code == 304


def test_etag_changes_when_forecasts_appear(r: redis.Redis, store: Store, small_snapshot: bytes,
                                           small_domains: dict[str, Domain]) -> None:
    gen = load_snapshot(store, small_domains, small_snapshot, "test").generation
    client = make_app(r).test_client()
    before = client.get("/v1/domains").headers["ETag"]
    outlook.compute(store, gen, outlook.pending(store, gen), domains=small_domains)
    assert client.get("/v1/domains", headers={"If-None-Match": before}).status_code == 200


ERROR_CASES = [
    ("/v1/domains/nope", 404, "domain"),
    ("/v1/domains/nope/series", 404, "domain"),
    ("/v1/domains/nope/forecast", 404, "domain"),
    ("/v1/domains/nope/chart.svg", 404, "domain"),
    ("/v1/benchmarks/nope", 404, "benchmark"),
    ("/v1/benchmarks/nope/series", 404, "benchmark"),
    ("/v1/benchmarks/nope/forecast", 404, "benchmark"),
    ("/v1/no/such/path", 404, None),
    ("/v1/domains?format=xml", 400, "format"),
    ("/v1/domains/coding/series?metric=elo", 400, "metric"),
    ("/v1/domains/coding/series?from=2024-13-01", 400, "from"),
    ("/v1/domains/coding/series?from=2024-06-01&to=2024-01-01", 400, "to"),
    ("/v1/domains/coding/forecast?metric=gap", 400, "metric"),
    ("/v1/domains/coding?verbose=1", 400, "verbose"),
    ("/v1/benchmarks/code-a/series?to=yesterday", 400, "to"),
    ("/v1/models?limit=0", 400, "limit"),
    ("/v1/models?limit=100000", 400, "limit"),
    ("/v1/models?offset=-1", 400, "offset"),
    ("/v1/models?access=public", 400, "access"),
    ("/v1/models?since=2024-02-30", 400, "since"),
    ("/v1/backtest?format=pdf", 400, "format"),
    ("/?x=1", 400, "x"),
]


@pytest.mark.parametrize(("path", "status", "field"), ERROR_CASES, ids=[c[0] for c in ERROR_CASES])
def test_every_failure_has_the_one_error_shape(api: FlaskClient, path: str, status: int, field: str | None) -> None:
    body = assert_error_shape(api.get(path), status)
    if field is not None:
        assert field in {e.get("field") for e in body["errors"]}, body


@pytest.mark.parametrize("path", ["/v1/domains", "/v1/domains/coding", "/v1/models", "/healthz", "/metrics"])
def test_unsupported_methods_are_405_with_allow(api: FlaskClient, path: str) -> None:
    resp = api.delete(path)
    assert_error_shape(resp, 405)
    assert "GET" in resp.headers["Allow"]


def test_redis_down_is_a_fast_503(loaded: str) -> None:
    from forecasts.storage.connection import client_for

    dead = client_for("redis://127.0.0.1:1/0", Settings(redis_socket_timeout_s=1.0, redis_retry_s=0.3))  # the API's
    client = make_app(dead).test_client()
    for path in ["/v1/domains", "/v1/domains/coding/forecast", "/readyz", "/", "/v1/models"]:
        started = time.monotonic()
        body = assert_error_shape(client.get(path), 503)
        assert time.monotonic() - started < 1.0
        assert "127.0.0.1:1" not in json.dumps(body)
    health = client.get("/healthz")  # liveness: alive even without Redis, and saying so
    assert health.status_code == 200 and health.get_json()["redis"] == "down"


def test_unexpected_errors_are_a_generic_500(loaded_db: tuple[redis.Redis, str]) -> None:
    app = make_app(loaded_db[0])

    @app.get("/boom")
    def boom() -> None:
        raise RuntimeError("secret detail")

    body = assert_error_shape(app.test_client().get("/boom"), 500)
    assert body["error"] == "Internal Server Error" and "secret" not in json.dumps(body)


def test_the_api_recovers_when_redis_comes_back(tmp_path: Any, small_domains: dict[str, Domain]) -> None:
    from forecasts.storage.connection import client_for
    from forecasts.storage.redis_server import EmbeddedRedis

    server = EmbeddedRedis(tmp_path / "redis")
    url = server.start()
    client = client_for(url, Settings(redis_socket_timeout_s=1.0))
    load_snapshot(Store(client), small_domains, small_snapshot_bytes(), "test")
    api = make_app(client).test_client()
    assert api.get("/v1/domains").status_code == 200
    server.stop()
    assert_error_shape(api.get("/v1/domains"), 503)
    server = EmbeddedRedis(tmp_path / "redis")
    server.start()  # same data dir, same socket: the data comes back from the AOF
    try:
        assert api.get("/v1/domains").status_code == 200
    finally:
        server.stop()


def test_a_replayed_answer_is_identical_and_errors_are_never_replayed(api: FlaskClient) -> None:
    first = api.get("/v1/domains/coding/series?metric=lag_days&format=csv")
    again = api.get("/v1/domains/coding/series?metric=lag_days&format=csv")
    assert again.data == first.data and again.headers["Content-Disposition"] == first.headers["Content-Disposition"]
    assert again.headers["ETag"] == first.headers["ETag"] and again.mimetype == "text/csv"
    tag = first.headers["ETag"]
    assert api.get("/v1/domains/nope", headers={"If-None-Match": tag}).status_code == 404
    assert api.get("/v1/domains?format=xml", headers={"If-None-Match": tag}).status_code == 400
