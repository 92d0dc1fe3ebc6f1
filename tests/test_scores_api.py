"""`GET /v1/scores` (raw scores, filters, pages with Link rel=next, CSV) and the credit every data answer carries
(JSON `credit`, CSV headers, the dashboard footer, `/v1/benchmarks/{id}`'s source), on small data and on the
bundled snapshot."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from flask.testing import FlaskClient

from forecasts.measure.domains import Domain, load_domains
from forecasts.publishing import outlook
from forecasts.records.snapshot import bundled_bytes, bundled_forecasts_bytes, parse_forecasts
from forecasts.settings import Settings
from forecasts.storage.ingest import load_records, load_snapshot
from forecasts.storage.store import Store
from service import create_app
from tests.conftest import FIXED_NOW

BUNDLED_DB = 9
PUBLISHERS = ["Epoch AI", "Artificial Analysis", "LMArena"]


def client_for(r: redis.Redis) -> FlaskClient:
    return create_app(Settings(redis_url="unused://"), client=r, config={"TESTING": True}).test_client()


@pytest.fixture()
def api(r: redis.Redis, store: Store, small_snapshot: bytes, small_domains: dict[str, Domain]) -> FlaskClient:
    load_snapshot(store, small_domains, small_snapshot, "test")
    return client_for(r)


def next_link(resp: Any) -> str | None:
    for value in resp.headers.getlist("Link"):
        for part in value.split(","):
            m = re.fullmatch(r'\s*<([^>]+)>;\s*rel="next"\s*', part)
            if m:
                return m.group(1)
    return None


def test_every_score_with_its_source_and_dates(api: FlaskClient) -> None:
    body = api.get("/v1/scores").get_json()
    assert body["total"] == 9 and len(body["scores"]) == 9 and body["next_offset"] is None
    assert [(s["benchmark"], s["model"]) for s in body["scores"]] == sorted((s["benchmark"], s["model"])
                                                                            for s in body["scores"])
    one = next(s for s in body["scores"] if s["benchmark"] == "code-a" and s["model"] == "closed-2")
    assert one["value"] == 70.0 and one["access"] == "closed" and one["release_date"] == "2024-09-01"
    assert one["source"] == "test" and one["retrieved_at"] == "2026-01-01"
    assert one["first_seen"] == "2026-01-01T00:00:00+00:00" and one["unit"] == "%"
    assert [c["name"] for c in body["credit"]] == PUBLISHERS


def test_filters(api: FlaskClient) -> None:
    rows = api.get("/v1/scores?benchmark=math-a").get_json()["scores"]
    assert {s["model"] for s in rows} == {"closed-1", "open-1", "open-2"}
    by_alias = api.get("/v1/scores?model=open%20one%20(mar%20%2724)").get_json()["scores"]
    assert {(s["benchmark"], s["model"]) for s in by_alias} == {("code-a", "open-1"), ("math-a", "open-1")}
    both = api.get("/v1/scores?benchmark=code-a&model=open-2").get_json()["scores"]
    assert [(s["benchmark"], s["value"]) for s in both] == [("code-a", 60.0)]
    assert api.get("/v1/scores?since=2026-01-02").get_json()["total"] == 0
    assert api.get("/v1/scores?since=2026-01-01").get_json()["total"] == 9


def test_since_finds_what_is_new(api: FlaskClient, store: Store, small_domains: dict[str, Domain]) -> None:
    """A score pushed later is first seen at that time (the store's clock), so since= finds only it."""
    raw = (b'[{"model": "open-3", "organization": "OpenCo", "release_date": "2025-02-01", "access": "open", '
           b'"benchmark": "code-a", "score": 72.5, "source": "lab blog"}]')
    load_records(store, small_domains, raw, "json", "test push", source="releases")
    body = api.get(f"/v1/scores?since={FIXED_NOW.date().isoformat()}").get_json()
    assert [(s["model"], s["value"], s["source"], s["publisher"]) for s in body["scores"]] == [
        ("open-3", 72.5, "lab blog", None)]


def test_pages_follow_link_next(api: FlaskClient) -> None:
    url: str | None = "/v1/scores?limit=4&benchmark=code-a"
    seen: list[tuple[str, str]] = []
    pages = 0
    while url:
        resp = api.get(url)
        assert resp.status_code == 200
        seen += [(s["benchmark"], s["model"]) for s in resp.get_json()["scores"]]
        url = next_link(resp)
        assert url is None or "benchmark=code-a" in url  # the filters travel with the link
        pages += 1
    assert pages == 1 and len(seen) == 4
    url = "/v1/scores?limit=4"
    seen, pages = [], 0
    while url:
        resp = api.get(url)
        seen += [(s["benchmark"], s["model"]) for s in resp.get_json()["scores"]]
        url = next_link(resp)
        pages += 1
    assert pages == 3 and len(seen) == len(set(seen)) == 9
    last = api.get("/v1/scores?limit=4&offset=8")
    assert next_link(last) is None and 'rel="prev"' in ",".join(last.headers.getlist("Link"))


def test_model_pages_follow_link_next_too(api: FlaskClient) -> None:
    """`/v1/models` pages like `/v1/scores`: `Link` rel=next with the filters kept, rel=prev after the first."""
    url: str | None = "/v1/models?limit=1&access=open"
    seen: list[str] = []
    while url:
        resp = api.get(url)
        assert resp.status_code == 200
        seen += [m["id"] for m in resp.get_json()["models"]]
        url = next_link(resp)
        assert url is None or "access=open" in url
    total = api.get("/v1/models?access=open").get_json()["total"]
    assert total > 1 and len(seen) == len(set(seen)) == total
    assert 'rel="prev"' in ",".join(api.get("/v1/models?limit=1&offset=1").headers.getlist("Link"))
    assert "Link" not in api.get("/v1/models").headers  # one page: nothing to link


def test_csv_is_plain_and_credits_in_headers(api: FlaskClient) -> None:
    resp = api.get("/v1/scores?format=csv&limit=5")
    assert resp.mimetype == "text/csv"
    rows = list(csv.DictReader(io.StringIO(resp.get_data(as_text=True))))
    assert len(rows) == 5 and rows[0]["benchmark"] == "code-a" and rows[0]["retrieved_at"] == "2026-01-01"
    assert "Epoch AI (CC BY 4.0" in resp.headers["X-Gapcast-Credit"]
    links = ",".join(resp.headers.getlist("Link"))
    assert '</v1/credit>; rel="license"' in links and 'rel="next"' in links
    replay = api.get("/v1/scores?format=csv&limit=5")  # the replay cache keeps the headers
    assert replay.headers["X-Gapcast-Credit"] == resp.headers["X-Gapcast-Credit"]
    assert ",".join(replay.headers.getlist("Link")) == links


@pytest.mark.parametrize(("query", "field"), [
    ("benchmark=nope", "benchmark"), ("model=nobody", "model"), ("since=2026-1-1", "since"), ("limit=0", "limit"),
    ("limit=5001", "limit"), ("offset=-1", "offset"), ("format=xml", "format"), ("page=2", "page")])
def test_bad_parameters_are_400_naming_the_field(api: FlaskClient, query: str, field: str) -> None:
    resp = api.get(f"/v1/scores?{query}")
    assert resp.status_code == 400
    body = resp.get_json()
    assert set(body) == {"ok", "error", "errors", "status"} and body["status"] == 400
    assert [e["field"] for e in body["errors"]] == [field]


def test_every_data_answer_credits_its_sources(api: FlaskClient) -> None:
    for url in ("/v1/domains", "/v1/domains/coding", "/v1/domains/coding/series", "/v1/benchmarks",
                "/v1/benchmarks/code-a/series", "/v1/models", "/v1/backtest", "/v1/events", "/v1/credit"):
        body = api.get(url).get_json()
        assert [c["name"] for c in body["credit"]] == PUBLISHERS, url
        assert all(c["licence"] and c["url"].startswith("https://") for c in body["credit"])
    for url in ("/v1/domains?format=csv", "/v1/benchmarks?format=csv", "/v1/models?format=csv",
                "/v1/backtest?format=csv", "/v1/domains/coding/series?format=csv"):
        resp = api.get(url)
        assert "LMArena" in resp.headers["X-Gapcast-Credit"], url
        assert next(csv.reader(io.StringIO(resp.get_data(as_text=True))))[0] in {"domain", "benchmark", "id",
                                                                               "series", "date"}
    svg = api.get("/v1/domains/coding/chart.svg")
    assert svg.mimetype == "image/svg+xml" and "Epoch AI" in svg.headers["X-Gapcast-Credit"]
    page = api.get("/").get_data(as_text=True)
    footer = page[page.index("<footer"):]
    assert all(name in footer for name in PUBLISHERS) and "CC BY 4.0" in footer
    credit = api.get("/v1/credit").get_json()
    assert {s["credit"] for s in credit["sources"]} == {"epoch-ai", "artificial-analysis", "lmarena"}


# --- on the bundled data -------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def bundled(redis_server: Any) -> Iterator[FlaskClient]:
    client = redis.Redis.from_url(f"{redis_server.url}?db={BUNDLED_DB}")
    client.flushdb()
    store = Store(client, now=lambda: FIXED_NOW)
    gen = load_snapshot(store, load_domains(None), bundled_bytes(), "bundled").generation
    raw = bundled_forecasts_bytes()
    assert raw is not None
    outlook.install_shipped(store, gen, parse_forecasts(raw))  # as `gapcast load` does: forecasts are served
    yield client_for(client)
    client.flushdb()
    client.close()


def test_bundled_scores_name_their_real_publisher(bundled: FlaskClient) -> None:
    body = bundled.get("/v1/scores?limit=5000").get_json()
    assert body["total"] > 5000 and body["next_offset"] == 5000
    publishers: set[str | None] = set()
    for offset in range(0, body["total"], 5000):
        page = bundled.get(f"/v1/scores?limit=5000&offset={offset}").get_json()["scores"]
        publishers |= {s["publisher"] for s in page}
    assert publishers == {"epoch-ai", "artificial-analysis", "lmarena"}
    gpqa = bundled.get("/v1/scores?benchmark=epoch-gpqa-diamond&limit=5000").get_json()["scores"]
    assert gpqa and all(s["publisher"] == "epoch-ai" and s["source"].startswith("epoch-hub:") for s in gpqa)
    assert all(s["retrieved_at"] == "2026-04-19" and 0 <= s["value"] <= 100 for s in gpqa)
    arena = bundled.get("/v1/benchmarks").get_json()["benchmarks"]
    arena_id = next(b["benchmark"] for b in arena if b["evaluator"] == "lmarena")
    rows = bundled.get(f"/v1/scores?benchmark={arena_id}&limit=3").get_json()["scores"]
    assert rows and all(s["publisher"] == "lmarena" and s["unit"] == "Elo" for s in rows)


@pytest.mark.parametrize(("benchmark", "publisher", "licence", "source"), [
    ("epoch-gpqa-diamond", "Epoch AI", "CC BY 4.0", "epoch-hub"),
    ("aa-gpqa", "Artificial Analysis", "Attribution required", "aa"),
])
def test_a_benchmark_gives_its_source_evaluator_licence_and_url(bundled: FlaskClient, benchmark: str, publisher: str,
                                                                licence: str, source: str) -> None:
    resp = bundled.get(f"/v1/benchmarks/{benchmark}")
    if resp.status_code == 404:
        pytest.fail(f"{benchmark} is not in the bundled data")
    body = resp.get_json()
    src = body["source"]
    assert src["publisher"] == publisher and src["licence"] == licence and src["source"] == source
    assert src["evaluator"] == body["benchmark"]["evaluator"] and src["url"].startswith("https://")
    assert [c["name"] for c in body["credit"]] == [publisher]


def test_every_bundled_benchmark_has_a_publisher(bundled: FlaskClient) -> None:
    for row in bundled.get("/v1/benchmarks").get_json()["benchmarks"]:
        src = bundled.get(f"/v1/benchmarks/{row['benchmark']}").get_json()["source"]
        assert src["publisher"] in PUBLISHERS and src["licence"] and src["url"], row["benchmark"]


@pytest.mark.parametrize(("benchmark", "publisher"), [("aa-scicode", "Artificial Analysis"),
                                                      ("epoch-gpqa-diamond", "Epoch AI")])
def test_a_benchmarks_series_and_forecast_credit_its_own_publisher(bundled: FlaskClient, benchmark: str,
                                                                    publisher: str) -> None:
    """Every answer about one benchmark names the publisher of its numbers, as `/v1/benchmarks/{id}` does."""
    for url in (f"/v1/benchmarks/{benchmark}", f"/v1/benchmarks/{benchmark}/series?metric=score_gap"):
        assert [c["name"] for c in bundled.get(url).get_json()["credit"]] == [publisher], url
    csv_resp = bundled.get(f"/v1/benchmarks/{benchmark}/series?format=csv")
    assert csv_resp.headers["X-Gapcast-Credit"].startswith(f"{publisher} (") and ";" not in \
        csv_resp.headers["X-Gapcast-Credit"]
    forecast = bundled.get(f"/v1/benchmarks/{benchmark}/forecast?metric=score_gap")
    assert forecast.status_code == 200, forecast.get_json()
    assert [c["name"] for c in forecast.get_json()["credit"]] == [publisher]
