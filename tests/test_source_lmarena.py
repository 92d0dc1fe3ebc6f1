"""The LMArena connector against a real local HTTP server, with real-format payloads.

Fixtures (tests/fixtures/lmarena/, rebuilt by build_fixtures.py) are real rows trimmed from the stored
arena-catalog 2025-12-11 files, the arena.ai daily 2026-04-19 files and two fboulnois CSV releases.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from jobs.http import Http, PullFailed
from jobs.sources.base import Pull, SourceRecord
from jobs.sources.lmarena import Z95, LMArena, bundle, licence_access, unbundle

FIXTURES = Path(__file__).parent / "fixtures" / "lmarena"
BOARD = "/data/leaderboard-text.json"
LICENCES = "/data/scatterplot-data.json"
INDUSTRIES = [f"industry_{s}" for s in ("software_and_it_services", "mathematical", "legal_and_government",
                                        "life_and_physical_and_social_science", "medicine_and_healthcare",
                                        "business_and_management_and_financial_operations",
                                        "writing_and_literature_and_language", "entertainment_and_sports_and_media")]


def body(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


@pytest.fixture()
def http() -> Http:
    return Http(timeout_s=5)


def serve(server: HTTPServer, path: str, data: bytes, status: int = 200, etag: str | None = None,
          content_type: str = "application/json") -> None:
    """Serve `data` at `path`; with `etag`, answer 304 to a request carrying it."""
    def handler(request: Request) -> Response:
        if etag is not None and request.headers.get("If-None-Match") == etag:
            return Response(b"", status=304, headers={"ETag": etag})
        return Response(data, status=status, content_type=content_type, headers={"ETag": etag} if etag else {})
    server.expect_request(path).respond_with_handler(handler)


def by(pull: Pull, model: str, bench: str) -> SourceRecord:
    [rec] = [r for r in pull.records if r.model == model and r.benchmark == bench]
    return rec


def fails(src: LMArena, http: Http) -> PullFailed:
    with pytest.raises(PullFailed) as info:
        src.pull(http, {})
    return info.value


# --- arena-catalog leaderboard-text.json -----------------------------------------------------------


def test_catalog_with_licences_real_values(httpserver: HTTPServer, http: Http) -> None:
    serve(httpserver, BOARD, body("leaderboard-text.json"), etag='"b1"')
    serve(httpserver, LICENCES, body("scatterplot-data.json"), etag='"l1"')
    src = LMArena(httpserver.url_for(BOARD), licences_url=httpserver.url_for(LICENCES))
    pull = src.pull(http, {})
    r1 = by(pull, "deepseek-r1-0528", "arena-text-coding")
    assert r1.score == pytest.approx(1425.8666668547535)
    assert r1.stderr == pytest.approx((1437.169800492474 - 1414.563533217033) / (2 * 1.96), rel=1e-4)
    assert r1.stderr == pytest.approx(5.767010887382726)  # the snapshot's z95 = 1.959963984540054
    assert (r1.access, r1.organization, r1.release_date) == ("open", "DeepSeek", None)  # MIT
    assert r1.source == "lmarena:leaderboard-text.json#coding/deepseek-r1-0528"
    assert by(pull, "gemini-3-pro", "arena-text-overall").access == "closed"  # Proprietary
    haiku = by(pull, "claude-3-5-haiku-20241022", "arena-text-math")
    assert haiku.access == "closed"  # the real misspelling "Propretary"
    assert by(pull, "deepseek-v3", "arena-text-instruction-following").access == "open"  # licence "DeepSeek"
    assert by(pull, "gpt-oss-120b", "arena-text-overall").access is None  # no licence item
    # one record per catalogued category present; `chinese` is not catalogued
    assert {r.benchmark for r in pull.records} == {"arena-text-coding", "arena-text-overall",
                                                   "arena-text-hard-prompts", "arena-text-instruction-following",
                                                   "arena-text-math"}
    assert len(pull.records) == 19 + 20 + 20 + 20 + 19  # coding, full, hard_6, if, math: codellama lacks two
    assert not [r for r in pull.records if r.model == "codellama-70b-instruct" and r.benchmark == "arena-text-coding"]
    assert all(r.release_date is None for r in pull.records) and pull.rejected == []
    assert pull.validators == {"etag": '"b1"', "licences_etag": '"l1"'}
    assert pull.info["format"] == "arena-catalog" and pull.info["licences"] == "17 licences"
    assert unbundle(pull.payload) == [(src.url, body("leaderboard-text.json")),
                                      (src.licences_url, body("scatterplot-data.json"))]


def test_catalog_without_licences_has_no_access(httpserver: HTTPServer, http: Http) -> None:
    serve(httpserver, BOARD, body("leaderboard-text.json"))
    pull = LMArena(httpserver.url_for(BOARD)).pull(http, {})
    assert pull.records and all(r.access is None and r.organization == "" for r in pull.records)
    assert pull.payload == body("leaderboard-text.json")  # a single payload is kept as received
    assert pull.info["missing_categories"] == sorted(
        ["creative_writing", "expert", "long_user", "multiturn", *INDUSTRIES])  # catalogued, not in the trimmed file


def test_non_numeric_rating_is_rejected_and_the_rest_kept(httpserver: HTTPServer, http: Http) -> None:
    doc = json.loads(body("leaderboard-text.json"))
    doc["coding"]["glm-4.6"]["rating"] = "n/a"
    doc["math"]["glm-4.6"]["rating"] = None
    serve(httpserver, BOARD, json.dumps(doc).encode())
    pull = LMArena(httpserver.url_for(BOARD)).pull(http, {})
    assert [(e.record, e.name, e.reason) for e in pull.rejected] == [
        ("leaderboard-text.json#coding/glm-4.6", "glm-4.6", "invalid_score"),
        ("leaderboard-text.json#math/glm-4.6", "glm-4.6", "invalid_score")]
    assert "'n/a' is not a number" in pull.rejected[0].detail
    assert by(pull, "glm-4.6", "arena-text-overall").score == pytest.approx(doc["full"]["glm-4.6"]["rating"])


def test_licences_that_fail_leave_access_unknown_and_force_a_full_reread(httpserver: HTTPServer, http: Http) -> None:
    serve(httpserver, BOARD, body("leaderboard-text.json"), etag='"b1"')
    serve(httpserver, LICENCES, b"oops", status=503)
    pull = LMArena(httpserver.url_for(BOARD), licences_url=httpserver.url_for(LICENCES)).pull(http, {})
    assert pull.records and all(r.access is None for r in pull.records)
    assert pull.info["licences"].startswith("not used (http_5xx")
    assert pull.validators == {}  # next pull re-reads both
    assert pull.payload == body("leaderboard-text.json")


def test_licences_conditional_get(httpserver: HTTPServer, http: Http) -> None:
    serve(httpserver, BOARD, body("leaderboard-text.json"), etag='"b1"')
    serve(httpserver, LICENCES, body("scatterplot-data.json"), etag='"l1"')
    src = LMArena(httpserver.url_for(BOARD), licences_url=httpserver.url_for(LICENCES))
    v = {"etag": '"b1"', "licences_etag": '"l1"'}
    pull = src.pull(http, v)
    assert pull.not_modified and pull.validators == v and pull.records == []
    sent = [(req.path, req.headers.get("If-None-Match")) for req, _ in httpserver.log]
    assert sent == [(BOARD, '"b1"'), (LICENCES, '"l1"')]
    # licences changed, leaderboard not: the leaderboard is read again so access can change
    again = src.pull(http, {"etag": '"b1"', "licences_etag": '"old"'})
    assert not again.not_modified and by(again, "deepseek-r1-0528", "arena-text-coding").access == "open"
    assert again.validators == v


# --- arena.ai daily ------------------------------------------------------------------------------------


def test_arena_daily_text_with_ci_and_licence(httpserver: HTTPServer, http: Http) -> None:
    serve(httpserver, "/data/2026-04-19/text.json", body("daily-text.json"))
    pull = LMArena(httpserver.url_for("/data/2026-04-19/text.json")).pull(http, {})
    glm = by(pull, "glm-5.1", "arena-text-overall")  # the one continuous text series, not a dated id
    assert (glm.score, glm.access, glm.organization, glm.release_date) == (1472, "open", "Z.ai", None)
    assert glm.as_of == "2026-04-19"  # meta.fetched_at's day: the snapshot this rating belongs to
    assert glm.stderr == pytest.approx(7 / 1.96, rel=1e-4)
    assert glm.source == "lmarena:2026-04-19/text.json#glm-5.1"
    top = by(pull, "claude-opus-4-7-thinking", "arena-text-overall")
    assert (top.score, top.access, top.stderr) == (1505, "closed", pytest.approx(11 / Z95))
    assert len(pull.records) == 20 and sum(r.access == "open" for r in pull.records) == 5
    assert pull.info["format"] == "arena-daily" and pull.info["leaderboard"] == "text"
    assert {r.as_of for r in pull.records} == {"2026-04-19"}
    assert glm.to_canonical()["as_of"] == "2026-04-19"


def test_arena_daily_code_goes_to_the_webdev_benchmark(httpserver: HTTPServer, http: Http) -> None:
    serve(httpserver, "/latest", body("daily-code.json"))  # the URL says nothing: the content does
    pull = LMArena(httpserver.url_for("/latest")).pull(http, {})
    assert {r.benchmark for r in pull.records} == {"arena-webdev"}
    assert by(pull, "gpt-5.4-high (codex-harness)", "arena-webdev").stderr == pytest.approx(17 / Z95)


def test_arena_daily_without_fetched_at_uses_last_updated_else_no_date(httpserver: HTTPServer, http: Http) -> None:
    doc = json.loads(body("daily-text.json"))
    doc["meta"]["fetched_at"], doc["meta"]["last_updated"] = None, "2026-05-02T10:00:00Z"
    serve(httpserver, "/a.json", json.dumps(doc).encode())
    assert {r.as_of for r in LMArena(httpserver.url_for("/a.json")).pull(http, {}).records} == {"2026-05-02"}
    doc["meta"]["last_updated"] = "yesterday"
    serve(httpserver, "/b.json", json.dumps(doc).encode())
    pull = LMArena(httpserver.url_for("/b.json")).pull(http, {})
    assert {r.as_of for r in pull.records} == {None} and "as_of" not in pull.records[0].to_canonical()


def test_arena_daily_of_an_uncatalogued_leaderboard_fails(httpserver: HTTPServer, http: Http) -> None:
    doc = json.loads(body("daily-text.json"))
    doc["meta"]["leaderboard"] = "text-to-image"
    serve(httpserver, "/v.json", json.dumps(doc).encode())
    err = fails(LMArena(httpserver.url_for("/v.json")), http)
    assert err.reason == "bad_format" and "'text-to-image' is not catalogued" in err.message
    assert "code, document, search, text, vision" in err.message


def test_arena_daily_bad_score_and_null_licence(httpserver: HTTPServer, http: Http) -> None:
    doc = json.loads(body("daily-text.json"))
    doc["models"][0]["score"] = "pending"
    doc["models"][1]["license"] = None
    serve(httpserver, "/t.json", json.dumps(doc).encode())
    pull = LMArena(httpserver.url_for("/t.json")).pull(http, {})
    [rej] = pull.rejected
    assert (rej.reason, rej.name) == ("invalid_score", "claude-opus-4-7-thinking")
    assert by(pull, "claude-opus-4-6-thinking", "arena-text-overall").access is None


# --- fboulnois CSV ----------------------------------------------------------------------------------------


def test_fboulnois_csv_2025_arena_score(httpserver: HTTPServer, http: Http) -> None:
    serve(httpserver, "/lmarena_text.csv", body("lmarena_text.csv"), content_type="text/csv")
    pull = LMArena(httpserver.url_for("/lmarena_text.csv")).pull(http, {})
    qwen = by(pull, "Qwen3-235B-A22B-Instruct-2507", "arena-text-overall")
    assert (qwen.score, qwen.access, qwen.organization) == (1427, "open", "Alibaba")  # Apache 2.0
    assert qwen.stderr == pytest.approx(18 / (2 * 1.96), rel=1e-4)  # +9/-9
    assert qwen.source == "lmarena:lmarena_text.csv#Qwen3-235B-A22B-Instruct-2507"
    assert by(pull, "Gemini-2.5-Pro", "arena-text-overall").access == "closed"
    assert by(pull, "Llama-4-Maverick-03-26-Experimental", "arena-text-overall").access is None  # blank licence
    assert len(pull.records) == 20 and pull.info["score_column"] == "arena_score"


def test_fboulnois_csv_2024_arena_elo_asymmetric_ci(httpserver: HTTPServer, http: Http) -> None:
    serve(httpserver, "/lmsys.csv", body("lmsys-2024-06-19.csv"), content_type="text/csv")
    pull = LMArena(httpserver.url_for("/lmsys.csv")).pull(http, {})
    g = by(pull, "Gemini-Advanced-0514", "arena-text-overall")
    assert g.score == 1267 and g.stderr == pytest.approx(7 / (2 * Z95))  # +3/-4
    assert pull.info["score_column"] == "arena_elo" and len(pull.records) == 10


def test_fboulnois_csv_non_numeric_score_is_rejected_with_its_line(httpserver: HTTPServer, http: Http) -> None:
    lines = body("lmarena_text.csv").decode().splitlines()
    lines[3] = lines[3].replace(",1434,", ",n/a,")
    serve(httpserver, "/x.csv", "\n".join(lines).encode(), content_type="text/csv")
    pull = LMArena(httpserver.url_for("/x.csv")).pull(http, {})
    [rej] = pull.rejected
    assert (rej.name, rej.reason) == ("GLM-4.5", "invalid_score") and rej.detail.startswith("line 4:")


# --- HTTP behaviour and structural faults ----------------------------------------------------------------


def test_user_agent_and_conditional_get(httpserver: HTTPServer, http: Http) -> None:
    serve(httpserver, BOARD, body("leaderboard-text.json"), etag='"v7"')
    src = LMArena(httpserver.url_for(BOARD))
    first = src.pull(http, {})
    assert first.validators == {"etag": '"v7"'}
    second = src.pull(http, first.validators)
    assert second.not_modified and second.records == [] and second.validators == {"etag": '"v7"'}
    (r1, _), (r2, _) = httpserver.log
    assert r1.headers["User-Agent"].startswith("gapcast/") and "If-None-Match" not in r1.headers
    assert r2.headers["If-None-Match"] == '"v7"'


@pytest.mark.parametrize(("data", "content_type", "expected"), [
    (b"<!DOCTYPE html><html><body>Just a moment...</body></html>", "text/html", "HTML"),
    (b'{"coding": {"gpt-4": {"rating": 12', "application/json", "invalid JSON at line 1"),
    (b'{"leaderboard": [{"model": "x", "elo": 1200}]}', "application/json", "unknown shape"),
    (b"[1, 2, 3]", "application/json", "unknown shape"),
    (b'{"vision": {"gpt-4o": {"rating": 1200}}}', "application/json", "no catalogued category"),
    (b"", "application/json", "empty"),
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "image/png", "binary"),
])
def test_structural_faults_fail_the_pull(httpserver: HTTPServer, http: Http, data: bytes, content_type: str,
                                         expected: str) -> None:
    serve(httpserver, BOARD, data, content_type=content_type)
    err = fails(LMArena(httpserver.url_for(BOARD)), http)
    assert err.reason == "bad_format" and expected in err.message


def test_csv_with_a_renamed_score_column_fails(httpserver: HTTPServer, http: Http) -> None:
    data = body("lmarena_text.csv").replace(b"arena_score", b"score", 1)
    serve(httpserver, "/lmarena_text.csv", data, content_type="text/csv")
    err = fails(LMArena(httpserver.url_for("/lmarena_text.csv")), http)
    assert err.reason == "bad_format"
    assert "arena_score or arena_elo" in err.message and "model, score, 95_pct_ci" in err.message


def test_server_error(httpserver: HTTPServer, http: Http) -> None:
    serve(httpserver, BOARD, b"upstream down", status=500, content_type="text/plain")
    assert fails(LMArena(httpserver.url_for(BOARD)), http).reason == "http_5xx"


def test_timeout(httpserver: HTTPServer) -> None:
    def slow(request: Request) -> Response:
        time.sleep(1.0)
        return Response(body("leaderboard-text.json"), content_type="application/json")
    httpserver.expect_request(BOARD).respond_with_handler(slow)
    err = fails(LMArena(httpserver.url_for(BOARD)), Http(timeout_s=0.5))
    assert err.reason == "timeout"


# --- helpers -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("licence", "access"), [
    ("Proprietary", "closed"), ("proprietary", "closed"), ("Propretary", "closed"), ("MIT", "open"),
    ("Llama 3.1 Community", "open"), ("open", "open"), (None, None), ("", None), ("  ", None), ("Unknown", None),
])
def test_licence_access(licence: str | None, access: str | None) -> None:
    assert licence_access(licence) == access


def test_bundle_round_trip() -> None:
    parts = [("https://a/x.json", '{"é": 1}'.encode()), ("https://a/y.json", b"[]")]
    assert unbundle(bundle(parts)) == parts
    assert unbundle(b"rank,model\n") == [("", b"rank,model\n")]
