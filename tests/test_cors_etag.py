"""Conditional GETs compare ETags weakly (RFC 9110 13.1.2), and CORS: GET answers readable from other origins
(configurable with GAPCAST_CORS_ORIGINS), preflights answered for GET only, never for writes or admin paths."""

from __future__ import annotations

from typing import Any

import pytest
import redis
from flask.testing import FlaskClient

from forecasts.measure.domains import Domain
from forecasts.settings import Settings, SettingsError
from forecasts.storage.ingest import load_snapshot
from forecasts.storage.store import Store
from service import create_app

ORIGIN = "https://dash.example"


def client_for(r: redis.Redis, **settings: Any) -> FlaskClient:
    return create_app(Settings(redis_url="unused://", **settings), client=r, config={"TESTING": True}).test_client()


def cors_headers(resp: Any) -> list[str]:
    return [name for name, _ in resp.headers.items() if name.startswith("Access-Control-")]


@pytest.fixture()
def api(r: redis.Redis, store: Store, small_snapshot: bytes, small_domains: dict[str, Domain]) -> FlaskClient:
    load_snapshot(store, small_domains, small_snapshot, "test")
    return client_for(r)


# --- weak ETag comparison ------------------------------------------------------------------------------------

CONDITIONAL_URLS = ["/v1/domains", "/v1/domains/coding", "/v1/benchmarks/code-a/series", "/v1/models",
                    "/v1/scores", "/v1/domains?format=csv", "/"]


@pytest.mark.parametrize("url", CONDITIONAL_URLS)
def test_a_weak_tag_matches_the_strong_one(api: FlaskClient, url: str) -> None:
    first = api.get(url)
    assert first.status_code == 200
    strong = first.headers["ETag"]
    assert strong.startswith('"') and strong.endswith('"')
    for header in (strong, f"W/{strong}", f'"other", W/{strong}', f'W/"nope",{strong}', "*"):
        resp = api.get(url, headers={"If-None-Match": header})
        assert resp.status_code == 304, (url, header)
        assert resp.headers["ETag"] == strong and not resp.data
    for header in ('"other"', 'W/"other"', '"other", W/"nope"', strong[:-2] + '"'):
        assert api.get(url, headers={"If-None-Match": header}).status_code == 200, (url, header)


def test_a_replayed_answer_compares_weakly_too(api: FlaskClient) -> None:
    """The second GET is served from the per-worker replay cache: it must give the same 304s."""
    tag = api.get("/v1/benchmarks").headers["ETag"]
    assert api.get("/v1/benchmarks").status_code == 200
    assert api.get("/v1/benchmarks", headers={"If-None-Match": f"W/{tag}"}).status_code == 304


def test_the_atom_feed_is_conditional(api: FlaskClient) -> None:
    tag = api.get("/v1/events.atom").headers["ETag"]
    assert api.get("/v1/events.atom", headers={"If-None-Match": f"W/{tag}"}).status_code == 304


# --- CORS ----------------------------------------------------------------------------------------------------

def test_get_answers_are_readable_from_any_origin_by_default(api: FlaskClient) -> None:
    for url in ("/v1/domains", "/v1/domains?format=csv", "/v1/scores?limit=1", "/v1/events.atom", "/healthz",
                "/v1/domains/nope"):
        resp = api.get(url, headers={"Origin": ORIGIN})
        assert resp.headers.get("Access-Control-Allow-Origin") == "*", url
        exposed = {h.strip() for h in resp.headers["Access-Control-Expose-Headers"].split(",")}
        assert {"ETag", "Link", "X-Gapcast-Credit"} <= exposed
        assert "Access-Control-Allow-Credentials" not in resp.headers
    plain = api.get("/v1/domains")  # no Origin: the same headers, so a shared cache's copy serves both
    assert plain.headers["Access-Control-Allow-Origin"] == "*" and "Vary" not in plain.headers
    assert not cors_headers(api.options("/v1/domains", headers={"Access-Control-Request-Method": "GET"}))  # no Origin


def test_a_get_preflight_is_answered(api: FlaskClient) -> None:
    resp = api.options("/v1/domains/coding/series", headers={
        "Origin": ORIGIN, "Access-Control-Request-Method": "GET", "Access-Control-Request-Headers": "if-none-match"})
    assert resp.status_code == 200
    assert resp.headers["Access-Control-Allow-Origin"] == "*"
    assert {m.strip() for m in resp.headers["Access-Control-Allow-Methods"].split(",")} == {"GET", "HEAD", "OPTIONS"}
    assert "if-none-match" in resp.headers["Access-Control-Allow-Headers"].lower()
    assert "authorization" not in resp.headers["Access-Control-Allow-Headers"].lower()
    assert int(resp.headers["Access-Control-Max-Age"]) > 0


@pytest.mark.parametrize(("method", "url"), [("POST", "/v1/releases"), ("POST", "/v1/subscriptions"),
                                              ("DELETE", "/v1/subscriptions/x"), ("POST", "/v1/domains")])
def test_writes_get_no_cors_at_all(api: FlaskClient, method: str, url: str) -> None:
    pre = api.options(url, headers={"Origin": ORIGIN, "Access-Control-Request-Method": method})
    assert not cors_headers(pre), (url, dict(pre.headers))
    resp = api.open(url, method=method, json=[], headers={"Origin": ORIGIN})
    assert "Access-Control-Allow-Origin" not in resp.headers, url


def test_admin_reads_get_no_cors(api: FlaskClient) -> None:
    for url in ("/v1/subscriptions", "/v1/deliveries"):
        assert "Access-Control-Allow-Origin" not in api.get(url, headers={"Origin": ORIGIN}).headers
        pre = api.options(url, headers={"Origin": ORIGIN, "Access-Control-Request-Method": "GET"})
        assert "Access-Control-Allow-Origin" not in pre.headers


def test_a_configured_origin_list_is_echoed_and_varies(r: redis.Redis, store: Store, small_snapshot: bytes,
                                                       small_domains: dict[str, Domain]) -> None:
    load_snapshot(store, small_domains, small_snapshot, "test")
    settings = Settings.from_env({"GAPCAST_CORS_ORIGINS": "https://a.example, http://localhost:3000/"})
    assert settings.cors_origins == ("https://a.example", "http://localhost:3000")
    api = client_for(r, cors_origins=settings.cors_origins)
    ok = api.get("/v1/domains", headers={"Origin": "http://localhost:3000"})
    assert ok.headers["Access-Control-Allow-Origin"] == "http://localhost:3000"
    assert "Origin" in ok.headers["Vary"]
    other = api.get("/v1/domains", headers={"Origin": "https://evil.example"})
    assert "Access-Control-Allow-Origin" not in other.headers and "Origin" in other.headers["Vary"]
    pre = api.options("/v1/domains", headers={"Origin": "https://a.example", "Access-Control-Request-Method": "GET"})
    assert pre.headers["Access-Control-Allow-Origin"] == "https://a.example"


def test_cors_can_be_turned_off(r: redis.Redis, store: Store, small_snapshot: bytes,
                                small_domains: dict[str, Domain]) -> None:
    load_snapshot(store, small_domains, small_snapshot, "test")
    assert Settings.from_env({"GAPCAST_CORS_ORIGINS": "off"}).cors_origins == ()
    api = client_for(r, cors_origins=())
    assert not cors_headers(api.get("/v1/domains", headers={"Origin": ORIGIN}))


@pytest.mark.parametrize("bad", ["a.example", "ftp://a.example", "https://a.example/path", "https://*.example"])
def test_a_bad_origin_setting_is_one_clear_error(bad: str) -> None:
    with pytest.raises(SettingsError, match="GAPCAST_CORS_ORIGINS"):
        Settings.from_env({"GAPCAST_CORS_ORIGINS": bad})
