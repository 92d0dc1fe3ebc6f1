"""The canonical-format feed, over a real local HTTP server and from files.

The rows are real: values, dates and sources of the bundled snapshot (Epoch GPQA Diamond, LMArena coding).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from jobs.http import Http, PullFailed
from jobs.sources.base import Pull, SourceRecord
from jobs.sources.canonical import CanonicalFeed, local_path

HEADER = "model,organization,release_date,access,benchmark,score,stderr,source\n"
ROWS = (
    "DeepSeek-R1 (May 2025),DeepSeek,2025-05-28,open,epoch-gpqa-diamond,76.3258,2.4024,"
    "epoch-hub:gpqa_diamond.csv#DeepSeek-R1-0528\n"
    "Claude 3.5 Haiku,Anthropic,2024-10-22,closed,epoch-gpqa-diamond,38.1313,2.6352,\n"
    "claude-3-5-haiku-20241022,,,,arena-text-coding,1285.916,,\n"
)
CSV = (HEADER + ROWS).encode()
JSON = json.dumps([
    {"model": "DeepSeek-R1 (May 2025)", "organization": "DeepSeek", "release_date": "2025-05-28", "access": "open",
     "benchmark": "arena-text-coding", "score": 1425.8667, "stderr": 5.767},
    {"model": "Claude 3.5 Haiku", "organization": "Anthropic", "release_date": "2024-10-22", "access": "closed",
     "benchmark": "epoch-gpqa-diamond", "score": "38.1313"},
]).encode()


@pytest.fixture()
def http() -> Http:
    return Http(timeout_s=5)


def serve(server: HTTPServer, path: str, data: bytes, *, etag: str | None = None, status: int = 200,
          content_type: str = "text/csv") -> str:
    def handler(request: Request) -> Response:
        if etag is not None and request.headers.get("If-None-Match") == etag:
            return Response(b"", status=304, headers={"ETag": etag})
        return Response(data, status=status, content_type=content_type, headers={"ETag": etag} if etag else {})
    server.expect_request(path).respond_with_handler(handler)
    return server.url_for(path)


def by(pull: Pull, model: str, bench: str) -> SourceRecord:
    [rec] = [r for r in pull.records if r.model == model and r.benchmark == bench]
    return rec


def write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


# --- reading ---------------------------------------------------------------------------------------------


def test_csv_over_http_real_values(httpserver: HTTPServer, http: Http) -> None:
    url = serve(httpserver, "/feeds/scores.csv", CSV, etag='"c1"')
    pull = CanonicalFeed(url).pull(http, {})
    assert pull.source == "canonical" and pull.rejected == [] and pull.payload == CSV
    r1 = by(pull, "DeepSeek-R1 (May 2025)", "epoch-gpqa-diamond")
    assert r1 == SourceRecord("DeepSeek-R1 (May 2025)", "epoch-gpqa-diamond", 76.3258, "DeepSeek", "2025-05-28",
                              "open", 2.4024, "epoch-hub:gpqa_diamond.csv#DeepSeek-R1-0528")
    haiku = by(pull, "Claude 3.5 Haiku", "epoch-gpqa-diamond")
    assert (haiku.access, haiku.stderr, haiku.source) == ("closed", 2.6352, "canonical:scores.csv#line 3")
    arena = by(pull, "claude-3-5-haiku-20241022", "arena-text-coding")  # blank date/access: only for a stored model
    assert (arena.release_date, arena.access, arena.organization, arena.stderr) == (None, None, "", None)
    assert pull.validators == {"etag": '"c1"'}
    [(request, _)] = httpserver.log
    assert request.headers["User-Agent"].startswith("gapcast/")


def test_json_over_http(httpserver: HTTPServer, http: Http) -> None:
    url = serve(httpserver, "/scores", JSON, content_type="application/json")
    pull = CanonicalFeed(url).pull(http, {})
    r = by(pull, "DeepSeek-R1 (May 2025)", "arena-text-coding")
    assert (r.score, r.stderr, r.source) == (1425.8667, 5.767, "canonical:scores#record 1")
    assert by(pull, "Claude 3.5 Haiku", "epoch-gpqa-diamond").score == 38.1313  # a string turned number
    assert len(pull.records) == 2


def test_conditional_get(httpserver: HTTPServer, http: Http) -> None:
    url = serve(httpserver, "/scores.csv", CSV, etag='"c1"')
    pull = CanonicalFeed(url).pull(http, {"etag": '"c1"'})
    assert pull.not_modified and pull.records == [] and pull.validators == {"etag": '"c1"'}
    [(request, _)] = httpserver.log
    assert request.headers["If-None-Match"] == '"c1"'


def test_from_a_plain_path_and_a_file_url(tmp_path: Path, http: Http) -> None:
    path = write(tmp_path, "my scores.json", JSON)
    for location in (str(path), path.as_uri()):
        pull = CanonicalFeed(location).pull(http, {})
        assert len(pull.records) == 2 and pull.payload == JSON
        assert pull.records[0].source == "canonical:my scores.json#record 1"
    assert local_path(path.as_uri()) == path


def test_file_mtime_is_the_validator(tmp_path: Path, http: Http) -> None:
    path = write(tmp_path, "scores.csv", CSV)
    os.utime(path, ns=(1_700_000_000_000_000_000, 1_700_000_000_000_000_000))
    feed = CanonicalFeed(str(path))
    first = feed.pull(http, {})
    assert first.validators == {"mtime": "1700000000000000000"} and len(first.records) == 3
    same = feed.pull(http, first.validators)
    assert same.not_modified and same.records == [] and same.validators == first.validators
    path.write_bytes(HEADER.encode() + ROWS.encode().splitlines(keepends=True)[0])
    os.utime(path, ns=(1_700_000_100_000_000_000, 1_700_000_100_000_000_000))
    changed = feed.pull(http, first.validators)
    assert not changed.not_modified and len(changed.records) == 1
    assert changed.validators == {"mtime": "1700000100000000000"}


def test_missing_file(tmp_path: Path, http: Http) -> None:
    with pytest.raises(PullFailed) as info:
        CanonicalFeed(str(tmp_path / "nope.csv")).pull(http, {})
    assert info.value.reason == "not_found" and "nope.csv" in info.value.message


def test_round_trip_of_source_records(tmp_path: Path, httpserver: HTTPServer, http: Http) -> None:
    records = CanonicalFeed(serve(httpserver, "/s.csv", CSV)).pull(http, {}).records
    path = write(tmp_path, "out.json", json.dumps([r.to_canonical() for r in records]).encode())
    assert CanonicalFeed(str(path)).pull(http, {}).records == records


# --- bad rows: rejected, the rest kept ---------------------------------------------------------------------


def test_bad_csv_rows_are_rejected_with_line_and_field(httpserver: HTTPServer, http: Http) -> None:
    bad = (
        "Gemma 3 27B,Google,2025-03-12,open,epoch-gpqa-diamond,n/a,,\n"  # line 5
        "Gemma 3 27B,Google,2025-02-30,open,epoch-gpqa-diamond,42.4,,\n"  # line 6
        "Gemma 3 27B,Google,2999-01-01,open,epoch-gpqa-diamond,42.4,,\n"  # line 7
        "Gemma 3 27B,Google,2025-03-12,public,epoch-gpqa-diamond,42.4,,\n"  # line 8
        "Gemma 3 27B,Google,2025-03-12,open,gpqa,42.4,,\n"  # line 9
        "Gemma 3 27B,Google,2025-03-12,open,epoch-gpqa-diamond,142.4,,\n"  # line 10
        "Gemma 3 27B,Google,2025-03-12,open,epoch-gpqa-diamond,42.4,-1,\n"  # line 11
        ",Google,2025-03-12,open,epoch-gpqa-diamond,42.4,,\n"  # line 12
        "Gemma 3 27B,Google,03/12/2025,open,epoch-gpqa-diamond,inf,,\n"  # line 13
    )
    url = serve(httpserver, "/s.csv", CSV + bad.encode())
    pull = CanonicalFeed(url).pull(http, {})
    assert len(pull.records) == 3
    got = [(e.record, e.reason, e.detail) for e in pull.rejected]
    assert got == [
        ("line 5", "invalid_score", "line 5, field 'score': 'n/a' is not a number"),
        ("line 6", "invalid_date", "line 6, field 'release_date': '2025-02-30' is not a date YYYY-MM-DD"),
        ("line 7", "invalid_date", "line 7, field 'release_date': 2999-01-01 is in the future"),
        ("line 8", "invalid_access", "line 8, field 'access': 'public' is not 'open' or 'closed'"),
        ("line 9", "unknown_benchmark", "line 9, field 'benchmark': unknown benchmark 'gpqa'"),
        ("line 10", "invalid_score", "line 10, field 'score': 142.4 is outside epoch-gpqa-diamond's range [0, 100]"),
        ("line 11", "invalid_score", "line 11, field 'stderr': -1 is negative"),
        ("line 12", "missing_field", "line 12, field 'model': is empty"),
        ("line 13", "invalid_score", "line 13, field 'score': 'inf' is not a finite number; "
                                     "line 13, field 'release_date': '03/12/2025' is not a date YYYY-MM-DD"),
    ]
    assert all(e.source == "canonical" for e in pull.rejected) and pull.rejected[0].name == "Gemma 3 27B"


def test_bad_json_records_name_the_record(httpserver: HTTPServer, http: Http) -> None:
    doc = json.loads(JSON)
    doc[1]["score"] = True
    doc[0]["release_date"] = "May 2025"
    url = serve(httpserver, "/s.json", json.dumps(doc).encode(), content_type="application/json")
    pull = CanonicalFeed(url).pull(http, {})
    assert pull.records == []
    assert [(e.record, e.reason) for e in pull.rejected] == [("record 1", "invalid_date"),
                                                              ("record 2", "invalid_score")]
    assert pull.rejected[1].detail == "record 2, field 'score': True is not a number"


# --- structural faults fail the pull ------------------------------------------------------------------------


@pytest.mark.parametrize(("data", "expected"), [
    (b"model,organization,release_date,access,benchmark\nx,o,2024-01-01,open,epoch-hle\n",
     "header: missing column(s) score"),
    (HEADER.replace("score,", "scor,").encode() + ROWS.encode(), "header: missing column(s) score"),
    (b"", "the file is empty"),
    (b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03", "binary file"),
    (b'[{"model": "x", "score": 1', "invalid JSON"),
    (b'{"scores": []}', "expected a JSON list of score records"),
    (HEADER.encode() + b"a,b,c\n", "line 2: has 3 fields, the header has 8"),
    (b"<!doctype html><title>Sign in</title>", "an HTML/XML page"),
    (HEADER.encode(), "no data rows after the header"),
])
def test_structural_faults_fail_the_pull(httpserver: HTTPServer, http: Http, data: bytes, expected: str) -> None:
    url = serve(httpserver, "/feed.csv", data)
    with pytest.raises(PullFailed) as info:
        CanonicalFeed(url).pull(http, {})
    assert info.value.reason == "bad_format" and expected in info.value.message
    assert info.value.message.startswith("feed.csv")


def test_structural_fault_in_a_file(tmp_path: Path, http: Http) -> None:
    path = write(tmp_path, "scores.json", b"not json at all, nor canonical CSV\n1,2\n")
    with pytest.raises(PullFailed) as info:
        CanonicalFeed(str(path)).pull(http, {})
    assert info.value.reason == "bad_format" and "missing column(s)" in info.value.message


def test_http_failure(httpserver: HTTPServer, http: Http) -> None:
    url = serve(httpserver, "/s.csv", b"down", status=502)
    with pytest.raises(PullFailed) as info:
        CanonicalFeed(url).pull(http, {})
    assert info.value.reason == "http_5xx"
