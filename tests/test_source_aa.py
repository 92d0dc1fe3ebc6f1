"""The Artificial Analysis connector against a real local HTTP server, with real-format payloads.

Fixtures (tests/fixtures/aa/, rebuilt by build_fixtures.py): `web_llms_2026-07-10.json` is 20 real entries of
the stored 2026-07-10 leaderboard web payload; `api_v2_llms.json` holds the same models' real values in the
official Data API v2 shape, which is reconstructed from the documented example (FORMATS.md section 9): no
official API response is stored.
"""

from __future__ import annotations

import json
import logging
import socket
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from jobs.http import Http, PullFailed
from jobs.sources.artificial_analysis import (
    API_KEY_ALIASES,
    ArtificialAnalysis,
    DailyRequestBudget,
    rate_limit_info,
)
from jobs.sources.base import Pull, SourceRecord
from jobs.sources.catalog import entries

FIXTURES = Path(__file__).parent / "fixtures" / "aa"
KEY = "aa-test-key-7Qz3xR9v"  # distinctive, so a leak is easy to spot
PATH = "/api/v2/data/llms/models"
NOW = datetime(2026, 11, 28, 23, 59, 50, tzinfo=UTC)


def body(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


API = "api_v2_llms.json"
WEB = "web_llms_2026-07-10.json"


class Clock:
    def __init__(self, now: datetime = NOW) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture()
def http() -> Http:
    return Http(timeout_s=5)


@pytest.fixture()
def make(httpserver: HTTPServer) -> Callable[..., ArtificialAnalysis]:
    def _make(key: str | None = KEY, **kw: Any) -> ArtificialAnalysis:
        return ArtificialAnalysis(key, url=httpserver.url_for(PATH), **kw)
    return _make


def serve(httpserver: HTTPServer, data: bytes, status: int = 200, headers: dict[str, str] | None = None,
          content_type: str = "application/json") -> None:
    httpserver.expect_request(PATH).respond_with_data(data, status=status, headers=headers,
                                                      content_type=content_type)


def by(pull: Pull, model: str, bench: str) -> SourceRecord:
    [rec] = [r for r in pull.records if r.model == model and r.benchmark == bench]
    return rec


def fails(src: ArtificialAnalysis, http: Http) -> PullFailed:
    with pytest.raises(PullFailed) as info:
        src.pull(http, {})
    return info.value


# --- request --------------------------------------------------------------------------------------


def test_sends_the_key_header_and_gapcast_user_agent(httpserver: HTTPServer, make: Any, http: Http) -> None:
    httpserver.expect_request(PATH, method="GET", headers={"x-api-key": KEY}).respond_with_data(
        body(API), content_type="application/json")
    pull = make().pull(http, {})
    assert pull.source == "artificial-analysis" and pull.records
    [(request, _)] = httpserver.log
    assert request.headers["x-api-key"] == KEY
    assert request.headers["User-Agent"].startswith("gapcast/")
    assert KEY not in request.url  # only in the header


def test_payload_is_the_response_bytes_and_validators_are_kept(httpserver: HTTPServer, make: Any,
                                                               http: Http) -> None:
    serve(httpserver, body(API), headers={"ETag": '"v1"'})
    pull = make().pull(http, {})
    assert pull.payload == body(API)
    assert pull.validators == {"etag": '"v1"'}


def test_conditional_get_returns_not_modified(httpserver: HTTPServer, make: Any, http: Http) -> None:
    httpserver.expect_request(PATH, headers={"If-None-Match": '"v1"'}).respond_with_data(b"", status=304)
    src = make(clock=Clock())
    pull = src.pull(http, {"etag": '"v1"'})
    assert pull.not_modified and pull.records == [] and pull.payload == b""
    assert pull.validators == {"etag": '"v1"'}
    assert pull.info["budget_used"] == 1  # a 304 still costs a request


# --- parsing: real values -------------------------------------------------------------------------


def test_api_v2_shape_real_values_without_access(httpserver: HTTPServer, make: Any, http: Http) -> None:
    serve(httpserver, body(API))
    pull = make().pull(http, {})
    r1 = by(pull, "DeepSeek R1 0528 (May '25)", "aa-gpqa")
    assert r1.score == pytest.approx(81.3131313131313)  # 0.813131313131313 x 100
    assert (r1.organization, r1.release_date, r1.access, r1.source) == ("DeepSeek", "2025-05-28", None,
                                                                         "aa:deepseek-r1")
    assert all(r.access is None for r in pull.records)  # the official API has no open-weights field
    assert by(pull, "GPT-5.6 Sol (max)", "aa-gpqa").score == pytest.approx(94.1414141414141)
    assert by(pull, "DeepSeek R1 0528 (May '25)", "aa-omniscience").score == pytest.approx(-27.0833333333333)
    # the API's own spellings reach the catalogue's benchmarks
    assert by(pull, "DeepSeek R1 0528 (May '25)", "aa-lcr").score == pytest.approx(54.6666666666667)
    assert by(pull, "DeepSeek R1 0528 (May '25)", "aa-terminal-bench-hard").score == pytest.approx(15.9090909090909)
    assert by(pull, "DeepSeek R1 0528 (May '25)", "aa-tau2-bench").score == pytest.approx(36.5497076023392)
    assert pull.info["shape"] == "api_v2" and pull.info["models"] == 20
    assert set(pull.info["unknown_keys"]) == {"artificial_analysis_math_index", "mmlu_pro", "livecodebench",
                                              "math_500", "aime", "aime_25"}
    assert not set(API_KEY_ALIASES) & set(pull.info["unknown_keys"])
    assert pull.rejected == []


def test_web_payload_real_values_with_access(httpserver: HTTPServer, make: Any, http: Http) -> None:
    serve(httpserver, body(WEB))
    pull = make().pull(http, {})
    assert by(pull, "DeepSeek R1 0528 (May '25)", "aa-gpqa").access == "open"
    assert by(pull, "GLM-5.2 (max)", "aa-gpqa").access == "open"
    assert by(pull, "GPT-5.6 Sol (max)", "aa-gpqa").access == "closed"
    assert by(pull, "Claude Opus 4.8 (Adaptive Reasoning, Max Effort)", "aa-gpqa").organization == "Anthropic"
    gdp = by(pull, "Gemini 3.5 Flash (high)", "aa-gdpval")
    assert gdp.score == pytest.approx(42.442)  # (1348.84 - 500) / 20
    assert gdp.stderr == pytest.approx((1365.52 - 1332.16) / (2 * 1.959963984540054) * 0.05)
    assert by(pull, "Grok Build 0.1 0616", "aa-intelligence-index").release_date is None  # AA gives none
    assert pull.info["shape"] == "web_payload" and pull.info["unknown_keys"] == []  # *_is_estimated is a flag


def test_both_shapes_give_the_same_scores(httpserver: HTTPServer, make: Any, http: Http) -> None:
    serve(httpserver, body(WEB))
    web = make().pull(http, {})
    httpserver.clear()
    serve(httpserver, body(API))
    api = make().pull(http, {})

    def key(p: Pull) -> set[tuple[str, str, float, str | None, str]]:
        return {(r.model, r.benchmark, round(r.score, 9), r.release_date, r.organization) for r in p.records}
    assert key(web) == key(api) and len(web.records) == 285


def test_nulls_are_skipped_and_bad_values_rejected(httpserver: HTTPServer, make: Any, http: Http) -> None:
    doc = json.loads(body(API))
    real = doc["data"][0]  # DeepSeek R1 0528
    evals = real["evaluations"]
    evals.update({"gpqa": "81%", "hle": 1.7, "scicode": True, "ifbench": float("nan")})
    doc["data"] = [real, {"name": "no evaluations"}, 42]
    serve(httpserver, json.dumps(doc).encode())
    pull = make().pull(http, {})
    bad = {(e.record, e.reason, e.detail.split(" = ")[0]) for e in pull.rejected}
    assert bad == {("aa:deepseek-r1", "invalid_score", k) for k in ("gpqa", "hle", "scicode", "ifbench")}
    benches = {r.benchmark for r in pull.records}
    assert "aa-apex-agents" not in benches and "aa-mmmu-pro" not in benches  # null = not evaluated
    assert {"aa-lcr", "aa-critpt", "aa-intelligence-index"} <= benches
    assert pull.info["malformed_entries"] == 2


def test_every_catalogued_aa_key_is_read() -> None:
    keys = {e["key"] for e in entries("aa")}
    web = json.loads(body(WEB))["models"]
    assert keys <= set(web[0]["evaluations"])  # the catalogue matches the real payload's names


# --- disabled, budget -------------------------------------------------------------------------------


@pytest.mark.parametrize("key", [None, "", "   "])
def test_disabled_without_a_key(httpserver: HTTPServer, make: Any, http: Http, key: str | None) -> None:
    serve(httpserver, body(API))
    src = make(key)
    assert not src.enabled and "GAPCAST_AA_API_KEY" in (src.disabled_reason or "")
    err = fails(src, http)
    assert err.reason == "disabled" and "GAPCAST_AA_API_KEY" in err.message
    assert httpserver.log == [] and src.budget.used == 0
    assert make().enabled and make().disabled_reason is None


def test_budget_refuses_when_spent_and_resets_next_utc_day(httpserver: HTTPServer, make: Any, http: Http) -> None:
    serve(httpserver, body(API))
    clock = Clock()
    src = make(daily_request_budget=3, clock=clock)
    assert [src.pull(http, {}).info["budget_used"] for _ in range(3)] == [1, 2, 3]
    err = fails(src, http)
    assert err.reason == "budget_exhausted"
    assert err.retry_after_s == pytest.approx(10.0)  # 23:59:50 -> 00:00 UTC
    assert len(httpserver.log) == 3  # the refused request was never sent
    clock.now += timedelta(seconds=11)  # next UTC day
    assert src.pull(http, {}).info["budget_used"] == 1
    assert len(httpserver.log) == 4


def test_daily_budget_allows_1000_and_refuses_the_1001st() -> None:
    clock = Clock(datetime(2026, 11, 28, 8, 0, tzinfo=UTC))
    budget = DailyRequestBudget(1000, clock=clock)
    assert all(budget.take() for _ in range(1000))
    assert not budget.take() and not budget.take()
    clock.now = datetime(2026, 11, 29, 0, 0, tzinfo=UTC)
    assert budget.take() and budget.used == 1


def test_budget_counter_is_injectable_and_shared(httpserver: HTTPServer, make: Any, http: Http) -> None:
    class DictCounter:  # what a Redis INCR-backed counter looks like to the connector
        def __init__(self) -> None:
            self.days: dict[str, int] = {}

        def incr(self, day: str) -> int:
            self.days[day] = self.days.get(day, 0) + 1
            return self.days[day]

    serve(httpserver, body(API))
    shared = DictCounter()
    a, b = (make(daily_request_budget=2, state=shared, clock=Clock()) for _ in range(2))
    a.pull(http, {})
    b.pull(http, {})
    assert fails(a, http).reason == "budget_exhausted"
    assert shared.days == {"2026-11-28": 3}


# --- rate-limit headers ---------------------------------------------------------------------------


def test_rate_limit_headers_go_into_info(httpserver: HTTPServer, make: Any, http: Http) -> None:
    serve(httpserver, body(API), headers={"X-RateLimit-Limit": "1000", "X-RateLimit-Remaining": "998",
                                          "X-RateLimit-Reset": "1764374400"})
    assert make().pull(http, {}).info["rate_limit"] == {"limit": 1000, "remaining": 998, "reset": 1764374400}
    httpserver.clear()
    serve(httpserver, body(API), headers={"RateLimit-Limit": "1000", "RateLimit-Remaining": "5",
                                          "RateLimit-Reset": "3600"})
    assert make().pull(http, {}).info["rate_limit"] == {"limit": 1000, "remaining": 5, "reset": 3600}
    httpserver.clear()
    serve(httpserver, body(API))
    assert "rate_limit" not in make().pull(http, {}).info


def test_structured_ratelimit_header() -> None:
    assert rate_limit_info({"ratelimit": "limit=1000, remaining=12, reset=30"}) == {
        "limit": 1000, "remaining": 12, "reset": 30}
    assert rate_limit_info({"ratelimit": '"daily";r=12;t=30'}) == {"remaining": 12, "reset": 30}
    assert rate_limit_info({}) == {}


# --- failures ---------------------------------------------------------------------------------------


def test_401_names_the_setting(httpserver: HTTPServer, make: Any, http: Http) -> None:
    serve(httpserver, b'{"error": "Invalid API key"}', status=401)
    err = fails(make(), http)
    assert err.reason == "http_401" and "GAPCAST_AA_API_KEY" in err.message and err.retry_after_s is None


def test_429_carries_retry_after(httpserver: HTTPServer, make: Any, http: Http) -> None:
    serve(httpserver, b'{"error": "Rate limit exceeded"}', status=429, headers={"Retry-After": "7"})
    err = fails(make(), http)
    assert err.reason == "http_429" and err.retry_after_s == 7


@pytest.mark.parametrize("status", [500, 503])
def test_5xx(httpserver: HTTPServer, make: Any, http: Http, status: int) -> None:
    serve(httpserver, b"Internal server error", status=status, content_type="text/plain")
    assert fails(make(), http).reason == "http_5xx"


@pytest.mark.parametrize("payload", [
    b'{"status": 200, "data": [{"id": "x", "name": "trunc',                    # truncated JSON
    b"\xff\xfe garbage",                                                      # not even text
    b"<!DOCTYPE html><html><body>Log in to Artificial Analysis</body></html>",  # an HTML page
    b'{"status": 200, "models_v3": []}',                                      # renamed list
    b'{"status": 200, "data": "none"}',                                       # data is not a list
    b"[1, 2, 3]",                                                             # not an object
    b'{"data": [{"model": "x", "scores": {}}]}',                              # entries renamed
])
def test_bad_format(httpserver: HTTPServer, make: Any, http: Http, payload: bytes) -> None:
    serve(httpserver, payload, content_type="text/html" if payload.startswith(b"<") else "application/json")
    err = fails(make(), http)
    assert err.reason == "bad_format", err.message


def test_the_key_never_leaks(httpserver: HTTPServer, make: Any, http: Http,
                             caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    texts: list[str] = []

    def echo(request: Request) -> Response:  # a hostile server that echoes the key back
        return Response(f"<html>bad key {request.headers['x-api-key']}</html>", status=200,
                        content_type="text/html")

    cases: list[tuple[int, bytes, dict[str, str]]] = [(401, b"bad key", {}), (429, b"", {"Retry-After": "7"}),
                                                      (500, b"", {}), (200, b"{not json", {})]
    for status, data, headers in cases:
        httpserver.clear()
        serve(httpserver, data, status=status, headers=headers)
        err = fails(make(), http)
        texts += [str(err), err.message, repr(err)]
    httpserver.clear()
    httpserver.expect_request(PATH).respond_with_handler(echo)
    err = fails(make(), http)
    texts += [str(err), err.message]
    httpserver.clear()
    serve(httpserver, body(API), headers={"X-RateLimit-Remaining": "3"})
    src = make(daily_request_budget=1)
    pull = src.pull(http, {})
    texts += [json.dumps(pull.info), repr(src), repr(pull.rejected)]
    err = fails(src, http)  # budget spent
    texts += [str(err), err.message]
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    err = fails(ArtificialAnalysis(KEY, url=f"http://127.0.0.1:{port}{PATH}"), http)
    assert err.reason == "connection"
    texts += [str(err), err.message, repr(err.__context__)]
    assert caplog.records  # something was logged (urllib3, the budget warning)
    for text in [*texts, caplog.text, *(r.getMessage() for r in caplog.records)]:
        assert KEY not in text
