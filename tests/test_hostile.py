"""Hostile input everywhere gapcast takes input: canonical files (library and `gapcast load`), source payloads
(every connector's parser, zip bombs included), every GET parameter and path segment, and the admin POST bodies.

Each case asserts a clear, typed refusal: an HTTP 4xx in the one JSON error shape naming the parameter, field or
record; or `InvalidInput` / `PullFailed` / `SubscriptionError` (or a per-record exclusion) naming it. After each
one the service still answers (`/healthz`, `/v1/domains`), and a dump of every Redis key (type, value, and
whether it is persistent) is identical before and after. The only state a refusal may move, and only for source
pulls driven end to end through `run_pull`: the source's status hash `gapcast:source:<id>` (the failure, its
reason and backoff are recorded there: that is the point of it), and for Artificial Analysis the daily request
counter `gapcast:budget:artificial-analysis:<day>` (the request was sent, so it counts against the 1,000/day).
A rejected file, body or query moves nothing at all, not even `gapcast:generation_seq`.
"""

from __future__ import annotations

import csv
import io
import json
import struct
import subprocess
import sys
import textwrap
import tracemalloc
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
import redis
from click.testing import CliRunner
from flask import Flask
from flask.testing import FlaskClient

from forecasts.activity.source_status import RedisRequestCounter
from forecasts.measure.domains import Domain, parse_domains
from forecasts.publishing import outlook
from forecasts.records.canonical import InvalidInput
from forecasts.settings import Settings
from forecasts.storage.ingest import load_records, load_snapshot
from forecasts.storage.store import Store
from gapcast.cli import cli
from jobs.http import Http, PullFailed, Response
from jobs.refresh import run_pull
from jobs.sources import artificial_analysis, epoch, lmarena
from jobs.sources import canonical as canonical_feed
from jobs.sources.artificial_analysis import ArtificialAnalysis
from jobs.sources.base import Source
from jobs.sources.canonical import CanonicalFeed
from jobs.sources.epoch import EpochHub
from jobs.sources.lmarena import LMArena
from service import create_app
from tests.conftest import FIXED_NOW, SMALL_DOMAINS, small_snapshot_bytes
from tests.test_api import assert_error_shape

ADMIN = "hostile-admin-token-0123456789abcdef"
AUTH = {"Authorization": f"Bearer {ADMIN}"}
READ_DB = 12  # the GET tests share one loaded database with forecasts (GETs never write; the dump proves it)
MiB = 1 << 20
HEADER = "model,organization,release_date,access,benchmark,score,stderr,source"
GOOD = {"model": "hostile-1", "organization": "Org", "release_date": "2024-05-01", "access": "open",
        "benchmark": "code-a", "score": "50", "stderr": "", "source": ""}
MAX_MESSAGE = 2000  # a clear error is a readable one: no single problem longer than this


# --- shared helpers --------------------------------------------------------------------------------------------


def dump(r: redis.Redis) -> dict[bytes, tuple[Any, Any, bool]]:
    """Every key: (type, value, persistent?). Streams included (the events), TTL values left out (they tick)."""
    out: dict[bytes, tuple[Any, Any, bool]] = {}
    for key in sorted(r.scan_iter(count=1000)):
        kind = r.type(key)
        value: Any = None
        if kind == b"string":
            value = r.get(key)
        elif kind == b"hash":
            value = r.hgetall(key)
        elif kind == b"set":
            value = r.smembers(key)
        elif kind == b"zset":
            value = r.zrange(key, 0, -1, withscores=True)
        elif kind == b"list":
            value = r.lrange(key, 0, -1)
        elif kind == b"stream":
            value = r.xrange(key)
        out[key] = (kind, value, r.ttl(key) == -1)
    return out


def changed_keys(before: dict[bytes, Any], after: dict[bytes, Any]) -> set[bytes]:
    return {k for k in before.keys() | after.keys() if before.get(k) != after.get(k)}


def make_app(client: redis.Redis, domains_file: Path, token: str | None = ADMIN) -> Flask:
    settings = Settings(redis_url="unused://", admin_token=token, domains_file=domains_file)
    return create_app(settings, client=client, config={"TESTING": True})


def assert_still_up(api: FlaskClient) -> None:
    assert api.get("/healthz").status_code == 200
    assert api.get("/v1/domains").status_code == 200


def error_fields(body: dict[str, Any]) -> set[Any]:
    return {e.get("field") for e in body["errors"]}


@pytest.fixture(scope="module")
def domains_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("hostile") / "domains.toml"
    path.write_text(SMALL_DOMAINS, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def read_db(redis_server: Any) -> Iterator[redis.Redis]:
    """The small data with its forecasts computed, in a database of its own."""
    client = redis.Redis.from_url(f"{redis_server.url}?db={READ_DB}")
    client.flushdb()
    store = Store(client, now=lambda: FIXED_NOW)
    gen = load_snapshot(store, parse_domains(SMALL_DOMAINS, "test"), small_snapshot_bytes(), "test").generation
    outlook.compute(store, gen, outlook.pending(store, gen), domains=parse_domains(SMALL_DOMAINS, "test"))
    yield client
    client.flushdb()
    client.close()


@pytest.fixture(scope="module")
def read_api(read_db: redis.Redis, domains_file: Path) -> FlaskClient:
    return make_app(read_db, domains_file).test_client()


@pytest.fixture()
def loaded(store: Store, small_domains: dict[str, Domain]) -> Store:
    """A fresh database with the small snapshot (per test: a wrongly accepted input cannot leak into another)."""
    load_snapshot(store, small_domains, small_snapshot_bytes(), "hostile")
    return store


@pytest.fixture()
def write_api(r: redis.Redis, loaded: Store, domains_file: Path) -> FlaskClient:
    return make_app(r, domains_file).test_client()


# --- 1. canonical files ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BadFile:
    """A hostile canonical file: built lazily (some are megabytes); one of `fragments` must be in a problem."""

    id: str
    make: Callable[[], bytes]
    fragments: tuple[str, ...]
    fmt: str | None = None


def row(**over: str) -> dict[str, str]:
    return {**GOOD, **over}


def csv_text(*rows: dict[str, str], header: str = HEADER, newline: str = "\n") -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator=newline)
    for r in rows:
        writer.writerow([r[c] for c in header.split(",")])
    return header + newline + buf.getvalue()


def csv_file(*rows: dict[str, str]) -> Callable[[], bytes]:
    return lambda: csv_text(*rows).encode()


def json_file(*records: dict[str, Any]) -> Callable[[], bytes]:
    return lambda: json.dumps(list(records)).encode()


def record(**over: Any) -> dict[str, Any]:
    base: dict[str, Any] = {k: v for k, v in GOOD.items() if k not in ("stderr", "source")}
    return {**base, "score": 50, **over}


def raw(data: bytes | str) -> Callable[[], bytes]:
    return lambda: data.encode() if isinstance(data, str) else data


def nul_after_4k() -> bytes:
    return csv_text(row(source="s" * 5000), row(model="evil\x00name")).encode()


def ten_thousand_columns() -> bytes:
    names = [*HEADER.split(","), *(f"extra_{i}" for i in range(10_000 - 8))]
    return (",".join(names) + "\n" + ",".join("1" for _ in names) + "\n").encode()


def bom_crlf_mix() -> bytes:
    return ("\ufeff" + HEADER + "\r\n" + "hostile-1,Org,2024-05-01,open,code-a,50,,\n"
            + "hostile-2,Org,2024-02-30,open,code-a,50,,\r\n").encode()


def lone_cr() -> bytes:
    return csv_text(row(), row(model="hostile-2", score="85%"), newline="\r").encode()


def deep_json() -> bytes:
    return b"[" * 100_000 + b"]" * 100_000


def huge_int_score() -> bytes:
    return json.dumps([record()]).replace('"score": 50', '"score": 1' + "0" * 5000).encode()


def duplicate_keys() -> bytes:
    return json.dumps([record()]).replace('"score": 50', '"score": "not a number", "score": 50').encode()


CSV_CASES = [
    BadFile("formula in score", csv_file(row(score="=1+1")), ("line 2, field 'score'",)),
    BadFile("formula in release_date", csv_file(row(release_date="=TODAY()")), ("line 2, field 'release_date'",)),
    BadFile("formula in access", csv_file(row(access="=cmd|' /C calc'!A0")), ("line 2, field 'access'",)),
    BadFile("formula in benchmark", csv_file(row(benchmark="@SUM(A1:A9)")), ("line 2, field 'benchmark'",)),
    BadFile("formula in stderr", csv_file(row(stderr="+1+cmd()")), ("line 2, field 'stderr'",)),
    BadFile("10 MB line", csv_file(row(model="a" * 10 * MiB)), ("line 2",)),
    BadFile("NUL in the first bytes", raw(b"\x00" + csv_text(row()).encode()), ("binary file",)),
    BadFile("NUL after 4 KB", nul_after_4k, ("line 3", "binary", "NUL")),
    BadFile("BOM + CRLF/LF mix, bad date on line 3", bom_crlf_mix, ("line 3, field 'release_date'",)),
    BadFile("two BOMs", raw("\ufeff\ufeff" + csv_text(row())), ("unknown column(s) '\\ufeffmodel'",)),
    BadFile("lone CR line ends, bad score on line 3", lone_cr, ("line 3, field 'score'",)),
    BadFile("header with 10,000 columns", ten_thousand_columns, ("unknown column(s) 'extra_0'",)),
    BadFile("homoglyph access (Cyrillic o)", csv_file(row(access="\u043epen")), ("line 2, field 'access'",)),
    BadFile("homoglyph access (fullwidth)", csv_file(row(access="\uff4f\uff50\uff45\uff4e")),
            ("line 2, field 'access'",)),
    BadFile("homoglyph access (Greek omicron)", csv_file(row(access="cl\u03bfsed")), ("line 2, field 'access'",)),
    BadFile("access with a zero-width space", csv_file(row(access="open\u200b")), ("line 2, field 'access'",)),
    BadFile("homoglyph benchmark (U+2010 hyphen)", csv_file(row(benchmark="code\u2010a")),
            ("line 2, field 'benchmark'",)),
    BadFile("score 1e309", csv_file(row(score="1e309")), ("line 2, field 'score': '1e309' is not a finite",)),
    BadFile("score -1e309", csv_file(row(score="-1e309")), ("line 2, field 'score'",)),
    BadFile("date 2024-02-30", csv_file(row(release_date="2024-02-30")), ("line 2, field 'release_date'",)),
    BadFile("date 0000-01-01", csv_file(row(release_date="0000-01-01")), ("line 2, field 'release_date'",)),
    BadFile("date 9999-12-31", csv_file(row(release_date="9999-12-31")), ("line 2, field 'release_date'",)),
    BadFile("ISO week date 2024-W01-1", csv_file(row(release_date="2024-W01-1")),
            ("line 2, field 'release_date'",)),
    BadFile("date 01/05/2024", csv_file(row(release_date="01/05/2024")), ("line 2, field 'release_date'",)),
    BadFile("score with a unit: 85%", csv_file(row(score="85%")), ("line 2, field 'score'",)),
    BadFile("score with a unit: 85 pts", csv_file(row(score="85 pts")), ("line 2, field 'score'",)),
    BadFile("score with a decimal comma", csv_file(row(score="85,5")), ("line 2, field 'score'",)),
    BadFile("score with digit separators 5_0", csv_file(row(score="5_0")), ("line 2, field 'score'",)),
    BadFile("score in fullwidth digits", csv_file(row(score="\uff18\uff15")), ("line 2, field 'score'",)),
    BadFile("score in hex", csv_file(row(score="0x32")), ("line 2, field 'score'",)),
    BadFile("duplicate columns", raw("model," + csv_text(row()).replace("\n", "\nx,", 1)),
            ("a column appears twice",)),
    BadFile("unterminated quote", raw(HEADER + '\n"hostile-1,Org,2024-05-01,open,code-a,50,,\n'), ("line 2",)),
    BadFile("Latin-1 bytes", raw(csv_text(row(model="caf\u00e9")).encode("latin-1")), ("not UTF-8",)),
    BadFile("UTF-16", raw(csv_text(row()).encode("utf-16")), ("binary file",)),
]

JSON_CASES = [
    BadFile("JSON object instead of a list", raw(json.dumps(record())), ("expected a JSON list",)),
    BadFile("JSON null", raw("null"), ("expected a JSON list",), "json"),
    BadFile("100,000 empty objects", raw("[" + ",".join(["{}"] * 100_000) + "]"), ("record 1",)),
    BadFile("100,000-deep nesting", deep_json, ("JSON",)),
    BadFile("5,000-digit integer score", huge_int_score, ("record 1", "JSON")),
    BadFile("NaN literal score", raw(json.dumps([record(score=float("nan"))])),
            ("record 1, field 'score'",)),
    BadFile("Infinity literal score", raw(json.dumps([record(score=float("inf"))])),
            ("record 1, field 'score'",)),
    BadFile("duplicate keys (the last one valid)", duplicate_keys, ("record 1",)),
    BadFile("model is an object", json_file(record(model={"$ne": None})), ("record 1, field 'model'",)),
    BadFile("score is a list", json_file(record(score=[50])), ("record 1, field 'score'",)),
    BadFile("release_date is a number", json_file(record(release_date=20240501)),
            ("record 1, field 'release_date'",)),
    BadFile("access is null", json_file(record(access=None)), ("record 1, field 'access'",)),
    BadFile("10 MB model name", json_file(record(model="a" * 10 * MiB)), ("record 1, field 'model'",)),
    BadFile("escaped NUL in the model name", json_file(record(model="evil\x00name")),
            ("record 1, field 'model'",)),
    BadFile("lone surrogate in the model name", json_file(record(model="evil\ud800")),
            ("record 1, field 'model'",)),
    BadFile("trailing garbage", raw(json.dumps([record()]) + " ; DROP TABLE models"), ("invalid JSON",)),
    BadFile("unknown field", json_file(record(extra="x")), ("unknown column(s) 'extra'",)),
]

FILE_CASES = CSV_CASES + JSON_CASES


@pytest.mark.parametrize("case", FILE_CASES, ids=[c.id for c in FILE_CASES])
def test_a_hostile_canonical_file_is_rejected_whole(r: redis.Redis, loaded: Store, small_domains: dict[str, Domain],
                                                   case: BadFile) -> None:
    data = case.make()
    before = dump(r)
    with pytest.raises(InvalidInput) as info:
        load_records(loaded, small_domains, data, case.fmt, "hostile")
    problems = [str(p) for p in info.value.problems]
    assert any(f in p for p in problems for f in case.fragments), problems[:3]
    assert all(len(p) <= MAX_MESSAGE for p in problems), f"a {max(map(len, problems))}-character message"
    assert dump(r) == before


CLI_CASES = [c for c in FILE_CASES if c.id in {
    "formula in score", "NUL after 4 KB", "BOM + CRLF/LF mix, bad date on line 3", "header with 10,000 columns",
    "homoglyph access (Cyrillic o)", "date 2024-02-30", "JSON object instead of a list", "100,000-deep nesting",
    "5,000-digit integer score", "10 MB line"}]


@pytest.mark.parametrize("case", CLI_CASES, ids=[c.id for c in CLI_CASES])
def test_gapcast_load_refuses_a_hostile_file_with_exit_1(r: redis.Redis, loaded: Store, redis_url: str,
                                                         domains_file: Path, tmp_path: Path, case: BadFile) -> None:
    path = tmp_path / ("hostile.json" if case in JSON_CASES else "hostile.csv")
    path.write_bytes(case.make())
    env = {"GAPCAST_REDIS_URL": redis_url, "GAPCAST_DATA_DIR": str(tmp_path / "data"),
           "GAPCAST_DOMAINS_FILE": str(domains_file)}
    before = dump(r)
    result = CliRunner().invoke(cli, ["load", str(path)], env=env)
    outcome = (result.exit_code, repr(result.exception), result.output[-300:])
    assert isinstance(result.exception, SystemExit) and result.exit_code == 1, outcome
    assert "nothing was stored" in result.stderr and "Traceback" not in result.output
    assert any(f in result.stderr for f in case.fragments), result.stderr[:500]
    assert dump(r) == before


def test_formula_names_never_reach_a_csv_export_unescaped(r: redis.Redis, write_api: FlaskClient) -> None:
    """Text fields may hold any name, but a CSV export must not start a cell with = + @ (spreadsheet formulas)."""
    body = [record(model="=cmd|' /C calc'!A0", organization="@SUM(1+1)*cmd|' /C calc'!A0"),
            record(model="+HYPERLINK(\"http://x\")", organization="=1+1", release_date="2024-06-01")]
    resp = write_api.post("/v1/releases", json=body, headers=AUTH)
    assert resp.status_code in (202, 400)
    if resp.status_code == 400:
        return  # refused at the door: fine too
    export = write_api.get("/v1/models?format=csv")
    assert export.status_code == 200
    cells = [c for line in csv.reader(io.StringIO(export.get_data(as_text=True))) for c in line]
    assert not [c for c in cells if c[:1] in ("=", "+", "@", "\t", "\r")], "formula cells served as they are"


def test_a_stored_name_never_breaks_an_endpoint(write_api: FlaskClient) -> None:
    """Whatever the loader accepts must be servable: a lone surrogate taken in must not 500 an export later."""
    data = json.dumps([record(model="lead\ud800", score=99, release_date="2025-06-01")]).encode()
    resp = write_api.post("/v1/releases", data=data, headers=AUTH, content_type="application/json")
    assert resp.status_code in (202, 400)
    for path in ["/", "/v1/domains", "/v1/domains?format=csv", "/v1/models", "/v1/models?format=csv",
                 "/v1/benchmarks?format=csv", "/v1/domains/coding", "/v1/domains/coding/chart.svg", "/metrics"]:
        assert write_api.get(path).status_code == 200, path


def test_negative_zero_is_an_ordinary_zero(loaded: Store, small_domains: dict[str, Domain]) -> None:
    """`-0` is a valid score and stderr (not malformed); it is stored as a number equal to zero."""
    result = load_records(loaded, small_domains, csv_text(row(score="-0", stderr="-0.0")).encode(), "csv", "negz")
    assert result.stats.new_scores == 1
    data = loaded.read_dataset(loaded.require_generation())
    score = next(s for s in data.scores.values() if s.model == result.stats.new_models[0])
    assert score.value == 0.0 and score.stderr == 0.0


# --- 2. source payloads ----------------------------------------------------------------------------------------


def zip_of(files: dict[str, bytes | str]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in files.items():
            z.writestr(name, data)
    return buf.getvalue()


EPOCH_GOOD = "Model version,Best score (across scorers),stderr\nm1,0.5,0.01\n"


def patch_zip(body: bytes, *, size: int | None = None, flags: int | None = None, method: int | None = None) -> bytes:
    """The zip with its first member's declared uncompressed size / flag bits / compression method rewritten
    (in the local header and the central directory alike)."""
    b = bytearray(body)
    local, central = b.find(b"PK\x03\x04"), b.find(b"PK\x01\x02")
    if size is not None:
        struct.pack_into("<I", b, local + 22, size)
        struct.pack_into("<I", b, central + 24, size)
    if flags is not None:
        struct.pack_into("<H", b, local + 6, flags)
        struct.pack_into("<H", b, central + 8, flags)
    if method is not None:
        struct.pack_into("<H", b, local + 8, method)
        struct.pack_into("<H", b, central + 10, method)
    return bytes(b)


def streamed_zip(name: str, head: bytes, chunk: bytes, count: int) -> bytes:
    """A zip whose one member is `head` + `chunk` x `count`, deflated as it is written (never whole in memory)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        info = zipfile.ZipInfo(name)
        info.compress_type = zipfile.ZIP_DEFLATED
        with z.open(info, "w") as fh:
            fh.write(head)
            for _ in range(count):
                fh.write(chunk)
    return buf.getvalue()


def lmarena_parse(body: bytes, licences: bytes | None = None) -> Callable[[], tuple[list[Any], list[Any]]]:
    def run() -> tuple[list[Any], list[Any]]:
        parsed = lmarena.parse(body, "leaderboard.json", licences)
        return parsed.records, parsed.rejected
    return run


def aa_parse(body: bytes) -> Callable[[], tuple[list[Any], list[Any]]]:
    def run() -> tuple[list[Any], list[Any]]:
        records, rejected, _ = artificial_analysis.parse(body)
        return records, rejected
    return run


def feed_row(**over: str) -> dict[str, str]:
    return row(benchmark="aa-scicode", **over)  # the feed is checked against the shipped catalogue


def feed_convert(body: bytes) -> Callable[[], tuple[list[Any], list[Any]]]:
    return lambda: canonical_feed.convert(body, "feed.csv", FIXED_NOW.date())


def epoch_parse(body: bytes) -> Callable[[], tuple[list[Any], list[Any]]]:
    def run() -> tuple[list[Any], list[Any]]:
        pull = epoch.parse_hub_zip(body)
        return pull.records, pull.rejected
    return run


@dataclass(frozen=True)
class BadPayload:
    """A hostile source payload. `outcome` "fail": the whole pull fails (PullFailed bad_format, `fragment` in its
    message); "reject": the parser survives and rejects the record (an exclusion whose detail has `fragment`)."""

    id: str
    run: Callable[[], tuple[list[Any], list[Any]]]
    outcome: str
    fragment: str


HTML = b"<!doctype html><html><body>Just a moment...</body></html>"
DEEP = b"[" * 100_000 + b"]" * 100_000
BIG_INT = b"1" + b"0" * 5000  # more digits than Python's int parser takes (4,300)
WIDE_INT = b"1" + b"0" * 400  # parses, but overflows a float


def arena(rating: bytes) -> bytes:
    return b'{"full": {"model-x": {"rating": ' + rating + b', "rating_q025": 1190, "rating_q975": 1210}}}'


def aa_doc(value: bytes) -> bytes:
    return b'{"data": [{"name": "Model X", "evaluations": {"artificial_analysis_intelligence_index": ' + value + b"}}]}"


PAYLOAD_CASES = [
    BadPayload("lmarena: HTML page", lmarena_parse(HTML), "fail", "HTML"),
    BadPayload("lmarena: JSON list", lmarena_parse(b"[1, 2]"), "fail", "unknown shape"),
    BadPayload("lmarena: empty object", lmarena_parse(b"{}"), "fail", "unknown shape"),
    BadPayload("lmarena: binary", lmarena_parse(b"\x00\x01\x02garbage"), "fail", "binary"),
    BadPayload("lmarena: Latin-1", lmarena_parse(b"model,arena_score\ncaf\xe9,1200\n"), "fail", "UTF-8"),
    BadPayload("lmarena: 10 MB CSV line", lmarena_parse(b"model,arena_score\n" + b"a" * 10 * MiB + b",1200\n"),
               "fail", "CSV"),
    BadPayload("lmarena: 100,000-deep JSON", lmarena_parse(DEEP), "fail", "JSON"),
    BadPayload("lmarena: 5,000-digit rating", lmarena_parse(arena(BIG_INT)), "fail", "JSON"),
    BadPayload("lmarena: 401-digit rating", lmarena_parse(arena(WIDE_INT)), "reject", "model-x"),
    BadPayload("lmarena: rating with a unit", lmarena_parse(arena(b'"1200 Elo"')), "reject", "1200 Elo"),
    BadPayload("lmarena: daily 401-digit score", lmarena_parse(
        b'{"meta": {"leaderboard": "text"}, "models": [{"model": "m", "score": ' + WIDE_INT + b"}]}"),
        "reject", "score"),
    BadPayload("lmarena: unknown daily leaderboard", lmarena_parse(
        b'{"meta": {"leaderboard": "../../etc"}, "models": []}'), "fail", "not catalogued"),
    BadPayload("lmarena: licences 100,000-deep", lmarena_parse(arena(b"1200"), licences=DEEP), "fail", "JSON"),
    BadPayload("aa: HTML page", aa_parse(HTML), "fail", "HTML"),
    BadPayload("aa: JSON list", aa_parse(b"[1]"), "fail", "data"),
    BadPayload("aa: data is a string", aa_parse(b'{"data": "x"}'), "fail", "data"),
    BadPayload("aa: entries without names", aa_parse(b'{"data": [{"name": ["x"], "evaluations": {}}]}'),
               "fail", "name"),
    BadPayload("aa: Latin-1", aa_parse(b'{"data": [{"name": "caf\xe9"}]}'), "fail", "not JSON"),
    BadPayload("aa: 100,000-deep JSON", aa_parse(DEEP), "fail", "JSON"),
    BadPayload("aa: 5,000-digit value", aa_parse(aa_doc(BIG_INT)), "fail", "JSON"),
    BadPayload("aa: 401-digit value", aa_parse(aa_doc(WIDE_INT)), "reject", "artificial_analysis_intelligence"),
    BadPayload("aa: value with a unit", aa_parse(aa_doc(b'"85%"')), "reject", "85%"),
    BadPayload("aa: NaN value", aa_parse(aa_doc(b"NaN")), "reject", "nan"),
    BadPayload("aa: boolean value", aa_parse(aa_doc(b"true")), "reject", "True"),
    BadPayload("canonical feed: HTML page", feed_convert(HTML), "fail", "HTML"),
    BadPayload("canonical feed: JSON object", feed_convert(b'{"model": "x"}'), "fail", "expected a JSON list"),
    BadPayload("canonical feed: 10,000 columns", feed_convert(ten_thousand_columns()), "fail", "unknown column"),
    BadPayload("canonical feed: NUL bytes", feed_convert(b"\x00\x00" + csv_text(row()).encode()), "fail",
               "binary"),
    BadPayload("canonical feed: 100,000-deep JSON", feed_convert(DEEP), "fail", "JSON"),
    BadPayload("canonical feed: 5,000-digit score", feed_convert(huge_int_score()), "fail", "JSON"),
    BadPayload("canonical feed: score with a unit", feed_convert(csv_text(feed_row(score="85%")).encode()), "reject",
               "line 2, field 'score'"),
    BadPayload("canonical feed: date 2024-02-30", feed_convert(csv_text(feed_row(release_date="2024-02-30")).encode()),
               "reject", "line 2, field 'release_date'"),
    BadPayload("canonical feed: homoglyph access", feed_convert(csv_text(feed_row(access="\u043epen")).encode()),
               "reject", "line 2, field 'access'"),
    BadPayload("canonical feed: score 1e309", feed_convert(csv_text(feed_row(score="1e309")).encode()), "reject",
               "line 2, field 'score'"),
    BadPayload("epoch: HTML page", epoch_parse(HTML), "fail", "HTML"),
    BadPayload("epoch: truncated zip", epoch_parse(zip_of({"gpqa_diamond.csv": EPOCH_GOOD})[:60]), "fail", "zip"),
    BadPayload("epoch: zip slip ../../x.csv", epoch_parse(zip_of({"../../x.csv": EPOCH_GOOD})), "fail", "x.csv"),
    BadPayload("epoch: zip slip onto a catalogued name", epoch_parse(zip_of({"../../gpqa_diamond.csv": EPOCH_GOOD})),
               "fail", "gpqa_diamond.csv"),
    BadPayload("epoch: binary CSV member", epoch_parse(zip_of({"gpqa_diamond.csv": bytes(range(256)) * 40})),
               "fail", "gpqa_diamond.csv"),
    BadPayload("epoch: PNG as CSV", epoch_parse(zip_of({"gpqa_diamond.csv": b"\x89PNG\r\n\x1a\n" + b"\x00" * 64})),
               "fail", "gpqa_diamond.csv"),
    BadPayload("epoch: UTF-16 CSV", epoch_parse(zip_of({"gpqa_diamond.csv": EPOCH_GOOD.encode("utf-16")})), "fail",
               "gpqa_diamond.csv"),
    BadPayload("epoch: NUL in a UTF-8 CSV", epoch_parse(zip_of({"gpqa_diamond.csv": EPOCH_GOOD + "m2\x00,0.1,\n"})),
               "fail", "NUL"),
    BadPayload("epoch: HTML as CSV", epoch_parse(zip_of({"gpqa_diamond.csv": HTML})), "fail", "HTML"),
    BadPayload("epoch: 10 MB CSV line", epoch_parse(zip_of({"gpqa_diamond.csv": EPOCH_GOOD + "a" * 10 * MiB})),
               "fail", "gpqa_diamond.csv"),
    BadPayload("epoch: 10,000-column header", epoch_parse(zip_of({"gpqa_diamond.csv": ",".join(
        f"c{i}" for i in range(10_000)) + "\n"})), "fail", "'Model version'"),
    BadPayload("epoch: encrypted member", epoch_parse(patch_zip(zip_of({"gpqa_diamond.csv": EPOCH_GOOD}), flags=1)),
               "fail", "gpqa_diamond.csv"),
    BadPayload("epoch: unknown compression method", epoch_parse(patch_zip(
        zip_of({"gpqa_diamond.csv": EPOCH_GOOD}), method=99)), "fail", "gpqa_diamond.csv"),
]


@pytest.mark.parametrize("case", PAYLOAD_CASES, ids=[c.id for c in PAYLOAD_CASES])
def test_a_hostile_source_payload_fails_cleanly_or_is_rejected(case: BadPayload) -> None:
    if case.outcome == "fail":
        with pytest.raises(PullFailed) as info:
            case.run()
        assert info.value.reason == "bad_format" and case.fragment in info.value.message, info.value.message
        assert len(info.value.message) <= MAX_MESSAGE
        return
    records, rejected = case.run()
    assert records == [] and len(rejected) == 1, (records, rejected)
    assert rejected[0].reason.startswith("invalid") and case.fragment in f"{rejected[0].record} {rejected[0].detail}"


class CannedHttp(Http):
    """Answers every GET with one body (no network: the connectors' URLs point at a closed loopback port)."""

    def __init__(self, body: bytes) -> None:
        super().__init__(timeout_s=1)
        self.body = body

    def get(self, url: str, *, headers: dict[str, str] | None = None,
            validators: dict[str, str] | None = None) -> Response:
        return Response(200, self.body, url, {})


NOWHERE = "http://127.0.0.1:9"
PULL_CASES: list[tuple[str, str, bytes]] = [
    ("lmarena", "HTML", HTML),
    ("lmarena", "100,000-deep JSON", DEEP),
    ("artificial-analysis", "HTML", HTML),
    ("artificial-analysis", "5,000-digit value", aa_doc(BIG_INT)),
    ("canonical", "10,000 columns", ten_thousand_columns()),
    ("epoch-hub", "zip slip ../../x.csv", zip_of({"../../x.csv": EPOCH_GOOD})),
    ("epoch-hub", "declares 4 GB", patch_zip(zip_of({"gpqa_diamond.csv": EPOCH_GOOD}), size=0xF000_0000)),
]


def make_source(source_id: str, store: Store) -> Source:
    if source_id == "lmarena":
        return LMArena(f"{NOWHERE}/leaderboard-text.json")
    if source_id == "artificial-analysis":
        return ArtificialAnalysis("hostile-key", url=f"{NOWHERE}/aa",
                                  state=RedisRequestCounter(store, "artificial-analysis"))
    if source_id == "canonical":
        return CanonicalFeed(f"{NOWHERE}/feed.csv")
    return EpochHub(f"{NOWHERE}/benchmark_data.zip")


@pytest.mark.parametrize(("source_id", "label", "body"), PULL_CASES, ids=[f"{c[0]}: {c[1]}" for c in PULL_CASES])
def test_a_hostile_pull_is_recorded_as_failed_and_changes_no_data(r: redis.Redis, loaded: Store,
                                                                  small_domains: dict[str, Domain], source_id: str,
                                                                  label: str, body: bytes) -> None:
    before = dump(r)
    outcome = run_pull(loaded, small_domains, make_source(source_id, loaded), CannedHttp(body), retry_max_s=3600)
    assert not outcome.ok and outcome.error is not None and outcome.error.startswith("bad_format")
    allowed = {f"gapcast:source:{source_id}".encode(), f"gapcast:budget:{source_id}:".encode()}
    moved = changed_keys(before, dump(r))
    assert {k for k in moved if not any(k.startswith(a) for a in allowed)} == set(), moved
    status = r.hgetall(f"gapcast:source:{source_id}")
    assert status[b"consecutive_failures"] == b"1" and status[b"last_outcome"] == b"failed"


# --- zip bombs -------------------------------------------------------------------------------------------------


def peak_bytes(run: Callable[[], Any]) -> tuple[Any, int]:
    """(what `run` raised or returned, the peak of Python allocations while it ran)."""
    tracemalloc.start()
    try:
        try:
            result: Any = run()
        except Exception as exc:  # the caller checks which
            result = exc
        return result, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def lying_zip() -> bytes:
    """A ~100 kB zip whose member holds 100 MB of zeros but declares 1 kB."""
    return patch_zip(streamed_zip("gpqa_diamond.csv", b"", b"\x00" * MiB, 100), size=1024)


ZIP_BOMBS: list[tuple[str, Callable[[], bytes]]] = [
    ("declares 4 GB", lambda: patch_zip(zip_of({"gpqa_diamond.csv": EPOCH_GOOD}), size=0xF000_0000)),
    ("honest 200 MB of zeros", lambda: streamed_zip("gpqa_diamond.csv", b"", b"\x00" * MiB, 200)),
    ("declares 1 kB, holds 100 MB", lying_zip),
]


@pytest.mark.parametrize("make", [z[1] for z in ZIP_BOMBS], ids=[z[0] for z in ZIP_BOMBS])
def test_a_zip_bomb_is_refused_without_inflating_it(make: Callable[[], bytes]) -> None:
    body = make()
    assert len(body) < 2 * MiB
    result, peak = peak_bytes(lambda: epoch.parse_hub_zip(body))
    assert isinstance(result, PullFailed) and result.reason == "bad_format", result
    assert peak < 8 * MiB, f"{peak / MiB:.0f} MiB allocated to refuse a {len(body) / 1024:.0f} kB zip"


BOMB_CHILD = """
import io, json, resource, sys, zipfile
from jobs.http import PullFailed
from jobs.sources.epoch import parse_hub_zip

buf = io.BytesIO()
with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
    info = zipfile.ZipInfo("epoch_capabilities_index.csv")
    info.compress_type = zipfile.ZIP_DEFLATED
    with z.open(info, "w") as fh:
        fh.write(b"Model version,Model accessibility\\n")
        for _ in range({mib}):
            fh.write(b"1\\n" * (1 << 19))
    z.writestr("gpqa_diamond.csv", "Model version,Best score (across scorers)\\n")
body = buf.getvalue()
vm = int(next(l.split()[1] for l in open("/proc/self/status") if l.startswith("VmSize:"))) * 1024
resource.setrlimit(resource.RLIMIT_AS, (vm + {cap_mib} * 1024 * 1024, resource.RLIM_INFINITY))
rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
try:
    parse_hub_zip(body)
    outcome = "parsed"
except PullFailed as exc:
    outcome = "PullFailed: " + exc.message[:200]
except MemoryError:
    outcome = "MemoryError"
grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss0
print(json.dumps({{"zip": len(body), "outcome": outcome, "grown_mib": grown / 1024}}))
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="measures with /proc and RLIMIT_AS")
def test_a_small_zip_under_the_member_cap_does_not_blow_up_the_parser() -> None:
    """A ~32 kB zip holding a 32 MB CSV of 16 million one-character rows: under MAX_MEMBER_BYTES (64 MB), far
    over any real Epoch file (~90 kB). Run in a child with its address space capped 512 MiB above its start, so a
    parser that inflates it fails fast with MemoryError instead of eating the machine."""
    script = textwrap.dedent(BOMB_CHILD).format(mib=32, cap_mib=512)
    done = subprocess.run([sys.executable, "-c", script], cwd=Path(__file__).resolve().parents[1],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["zip"] < 128 * 1024
    assert report["outcome"].startswith("PullFailed") and report["grown_mib"] < 160, report


# --- 3. query parameters and path segments ---------------------------------------------------------------------

ENDPOINTS: dict[str, dict[str, str]] = {  # path -> {query parameter: kind}
    "/v1/domains": {"format": "enum"},
    "/v1/domains/coding": {},
    "/v1/domains/coding/series": {"format": "enum", "metric": "enum", "from": "date", "to": "date"},
    "/v1/domains/coding/forecast": {"metric": "enum"},
    "/v1/domains/coding/chart.svg": {"metric": "enum"},
    "/v1/benchmarks": {"format": "enum"},
    "/v1/benchmarks/code-a": {},
    "/v1/benchmarks/code-a/series": {"format": "enum", "metric": "enum", "from": "date", "to": "date"},
    "/v1/benchmarks/code-a/forecast": {"metric": "enum"},
    "/v1/models": {"format": "enum", "access": "enum", "organization": "text", "since": "date", "limit": "int",
                   "offset": "int"},
    "/v1/backtest": {"format": "enum"},
    "/v1/sources": {},
    "/v1/events": {"limit": "int", "kind": "enum"},
    "/v1/subscriptions": {},
    "/v1/deliveries": {"limit": "int", "status": "enum"},
    "/": {},
    "/healthz": {},
    "/readyz": {},
    "/metrics": {},
    "/docs": {},
    "/openapi.json": {},
}
VALID = {"format": "json", "metric": "score_gap", "access": "open", "kind": "caught_up", "status": "dead",
         "from": "2024-06-01", "to": "2024-08-31", "since": "2024-01-01", "limit": "5", "offset": "0",
         "organization": "OpenCo"}
SQL = "' OR '1'='1' --"
SHELL = "$(touch /tmp/gapcast-pwned);`id`|nc 127.0.0.1 9"
COMMON = {"SQL": SQL, "shell": SHELL, "NUL": "\x00", "overlong": "x" * 5000, "CRLF": "json\r\nSet-Cookie: a=b"}
BY_KIND: dict[str, dict[str, str]] = {
    "enum": {"wrong value": "XML", "empty": ""},
    "int": {"not a number": "abc", "float": "1.5", "negative": "-1", "huge": "9" * 400, "5,000 digits": "9" * 5000,
            "exponent": "1e3", "hex": "0x10"},
    "date": {"Feb 30": "2024-02-30", "year 0": "0000-01-01", "word": "yesterday", "datetime": "2024-01-01T00:00:00",
             "too many digits": "02024-01-01"},
    "text": {},
}


@dataclass(frozen=True)
class BadQuery:
    id: str
    path: str
    query: list[tuple[str, str]]
    status: int
    field: str | None


OUTSIDE_V1 = ("/healthz", "/readyz", "/metrics", "/docs", "/openapi.json")  # see test_unknown_parameters_...


def query_cases() -> list[BadQuery]:
    cases = []
    for path, params in ENDPOINTS.items():
        if path not in OUTSIDE_V1:
            cases.append(BadQuery(f"{path} unknown parameter", path, [("verbose", "1")], 400, "verbose"))
        for name, kind in params.items():
            for label, value in {**COMMON, **BY_KIND[kind]}.items():
                cases.append(BadQuery(f"{path} {name}: {label}", path, [(name, value)], 400, name))
            if kind == "enum":
                cases.append(BadQuery(f"{path} {name}: NUL suffix", path, [(name, VALID[name] + "\x00")], 400, name))
    return cases


def ambiguous_cases() -> list[BadQuery]:
    """Values a lenient parser reads one way and a person another: a parameter given twice (which one counts?),
    and dates that are not YYYY-MM-DD (ISO week and basic forms, which Python's fromisoformat takes)."""
    cases, seen = [], set()
    for path, params in ENDPOINTS.items():
        for name, kind in params.items():
            if kind == "date":
                cases.append(BadQuery(f"{path} {name}: ISO week", path, [(name, "2024-W27-1")], 400, name))
                cases.append(BadQuery(f"{path} {name}: basic format", path, [(name, "20240701")], 400, name))
            if name not in seen:  # one per parameter name: the same parser reads it everywhere
                seen.add(name)
                other = {"json": "csv", "score_gap": "lag_days", "open": "closed", "5": "6", "0": "1"}.get(
                    VALID[name], VALID[name][:-1] + "9" if kind == "date" else VALID[name] + "x")
                cases.append(BadQuery(f"{path} {name}: given twice", path, [(name, VALID[name]), (name, other)],
                                      400, name))
    return cases


QUERY_CASES = query_cases()
FREE_TEXT_OK = {"SQL", "shell"}  # a legitimate organization may hold quotes, $ or `: no match, not an error


@pytest.mark.parametrize("case", QUERY_CASES, ids=[c.id for c in QUERY_CASES])
def test_a_hostile_query_parameter_is_a_400_naming_it(read_db: redis.Redis, read_api: FlaskClient,
                                                      case: BadQuery) -> None:
    before = dump(read_db)
    resp = read_api.get(f"{case.path}?{urlencode(case.query)}", headers=AUTH)
    label = case.id.rsplit(": ", 1)[-1]
    if case.field == "organization" and label in FREE_TEXT_OK:
        assert resp.status_code == 200 and resp.get_json()["total"] == 0
    else:
        body = assert_error_shape(resp, case.status)
        assert case.field in error_fields(body), body
    assert "Set-Cookie" not in resp.headers
    assert_still_up(read_api)
    assert dump(read_db) == before


AMBIGUOUS_CASES = ambiguous_cases()


def offenders(api: FlaskClient, cases: list[BadQuery]) -> list[str]:
    """The cases not answered 400 naming their parameter, each with what came back instead."""
    out = []
    for case in cases:
        resp = api.get(f"{case.path}?{urlencode(case.query)}", headers=AUTH)
        body = resp.get_json(silent=True) or {}
        if resp.status_code != case.status or case.field not in {e.get("field") for e in body.get("errors", [])}:
            out.append(f"{case.id} -> {resp.status_code}")
    return out


def test_ambiguous_query_values_are_refused_not_guessed(read_db: redis.Redis, read_api: FlaskClient) -> None:
    before = dump(read_db)
    bad = offenders(read_api, AMBIGUOUS_CASES)
    assert not bad, "not refused:\n" + "\n".join(bad)
    assert_still_up(read_api)
    assert dump(read_db) == before


def test_unknown_parameters_are_refused_outside_v1_too(read_db: redis.Redis, read_api: FlaskClient) -> None:
    """The README: a 400 naming the bad query parameter, "unknown parameters too", whatever the endpoint."""
    before = dump(read_db)
    cases = [BadQuery(f"{p} unknown parameter", p, [("verbose", "1")], 400, "verbose") for p in OUTSIDE_V1]
    bad = offenders(read_api, cases)
    assert not bad, "not refused:\n" + "\n".join(bad)
    assert dump(read_db) == before


LONG = "a" * 5000
PATH_CASES: list[tuple[str, str, tuple[int, ...], str | None]] = [
    ("5,000-char domain id", f"/v1/domains/{LONG}", (404,), "domain"),
    ("5,000-char domain id, series", f"/v1/domains/{LONG}/series", (404,), "domain"),
    ("5,000-char domain id, forecast", f"/v1/domains/{LONG}/forecast", (404,), "domain"),
    ("5,000-char domain id, chart", f"/v1/domains/{LONG}/chart.svg", (404,), "domain"),
    ("5,000-char benchmark id", f"/v1/benchmarks/{LONG}", (404,), "benchmark"),
    ("5,000-char benchmark id, series", f"/v1/benchmarks/{LONG}/series", (404,), "benchmark"),
    ("5,000-char benchmark id, forecast", f"/v1/benchmarks/{LONG}/forecast", (404,), "benchmark"),
    ("dot-dot", "/v1/domains/../benchmarks", (404,), None),
    ("encoded dot-dot", "/v1/domains/%2e%2e/benchmarks", (404,), None),
    ("encoded traversal to /etc/passwd", "/v1/domains/..%2F..%2F..%2Fetc%2Fpasswd", (404,), None),
    ("encoded slash", "/v1/domains/coding%2Fseries", (200, 404), None),
    ("encoded NUL", "/v1/domains/coding%00", (404,), "domain"),
    ("invalid UTF-8", "/v1/benchmarks/%ff%fe", (404,), "benchmark"),
    ("CRLF header injection", "/v1/benchmarks/code-a%0d%0aSet-Cookie:%20a=b", (404,), "benchmark"),
    ("script tag", "/v1/domains/%3Cscript%3Ealert(document.cookie)%3C", (404,), "domain"),
    ("SQL in a path segment", "/v1/domains/coding'%20OR%20'1'='1", (404,), "domain"),
    ("shell in a path segment", "/v1/benchmarks/$(id)", (404,), "benchmark"),
    ("unknown path", "/v1/../../etc/passwd", (404,), None),
]


@pytest.mark.parametrize(("label", "path", "statuses", "field"), PATH_CASES, ids=[c[0] for c in PATH_CASES])
def test_a_hostile_path_is_a_404(read_db: redis.Redis, read_api: FlaskClient, label: str, path: str,
                                 statuses: tuple[int, ...], field: str | None) -> None:
    before = dump(read_db)
    resp = read_api.get(path)
    assert resp.status_code in statuses, (resp.status_code, resp.data[:200])
    if resp.status_code >= 400:
        body = assert_error_shape(resp, resp.status_code)
        assert field is None or field in error_fields(body)
        assert "root:" not in resp.get_data(as_text=True)
    assert "Set-Cookie" not in resp.headers and resp.mimetype != "text/html"
    assert_still_up(read_api)
    assert dump(read_db) == before


WRONG_METHODS = [("POST", "/v1/domains"), ("PUT", "/v1/domains/coding"), ("PATCH", "/v1/models"),
                 ("DELETE", "/v1/benchmarks/code-a"), ("GET", "/v1/releases"), ("DELETE", "/v1/releases"),
                 ("PUT", "/v1/subscriptions"), ("POST", "/healthz")]


@pytest.mark.parametrize(("method", "path"), WRONG_METHODS, ids=[f"{m} {p}" for m, p in WRONG_METHODS])
def test_a_wrong_method_is_a_405_with_allow(read_db: redis.Redis, read_api: FlaskClient, method: str,
                                            path: str) -> None:
    before = dump(read_db)
    resp = read_api.open(path, method=method, headers=AUTH, json={"x": 1})
    assert_error_shape(resp, 405)
    assert resp.headers.get("Allow")
    assert_still_up(read_api)
    assert dump(read_db) == before


# --- 4. admin bodies -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BadBody:
    """A hostile request: `kwargs` for the test client's `open`; the expected status and the field it names."""

    id: str
    method: str
    path: str
    kwargs: dict[str, Any]
    status: int
    field: str | None


def releases(label: str, body: Any = None, *, data: bytes | str | None = None, headers: dict[str, str] | None = None,
             content_type: str | None = "application/json", query: str = "", status: int = 400,
             field: str | None = None) -> BadBody:
    kwargs: dict[str, Any] = {"headers": AUTH if headers is None else headers}
    kwargs["data"] = data if data is not None else json.dumps(body)
    if content_type is not None:
        kwargs["content_type"] = content_type
    return BadBody(f"releases: {label}", "POST", "/v1/releases" + query, kwargs, status, field)


def subscription(label: str, body: Any = None, *, data: bytes | str | None = None,
                 headers: dict[str, str] | None = None, content_type: str | None = "application/json",
                 query: str = "", status: int = 400, field: str | None = None) -> BadBody:
    case = releases(label, body, data=data, headers=headers, content_type=content_type, query=query, status=status,
                    field=field)
    return BadBody(f"subscriptions: {label}", "POST", "/v1/subscriptions" + query, case.kwargs, status, field)


def slack(url: Any, **extra: Any) -> dict[str, Any]:
    return {"kind": "slack", "url": url, **extra}


DEEP_TEXT = "[" * 200_000 + "]" * 200_000  # 400 kB: under the 1 MiB cap
BAD_BODIES = [
    releases("no token", [record()], headers={}, status=401, field="Authorization"),
    releases("wrong token", [record()], headers={"Authorization": "Bearer nope"}, status=401, field="Authorization"),
    releases("token prefix", [record()], headers={"Authorization": f"Bearer {ADMIN[:-1]}"}, status=401,
             field="Authorization"),
    releases("token in the query string", [record()], headers={}, query=f"?token={ADMIN}", status=401,
             field="Authorization"),
    releases("access_token in the query string", [record()], headers={}, query=f"?access_token={ADMIN}",
             status=401, field="Authorization"),
    releases("token as Basic auth", [record()], headers={"Authorization": f"Basic {ADMIN}"}, status=401,
             field="Authorization"),
    releases("empty bearer", [record()], headers={"Authorization": "Bearer "}, status=401, field="Authorization"),
    releases("text/plain body", [record()], content_type="text/plain", status=415, field="Content-Type"),
    releases("no content type", [record()], content_type=None, status=415, field="Content-Type"),
    releases("form body", data="model=x&score=50", content_type="application/x-www-form-urlencoded", status=415,
             field="Content-Type"),
    releases("not JSON", data="model,score\nx,50\n"),
    releases("JSON object instead of a list", record()),
    releases("empty list", []),
    releases("list of numbers", [1, 2, 3]),
    releases("score is a word", [record(score="fifty")], field="score"),
    releases("score is a boolean", [record(score=True)], field="score"),
    releases("score with a unit", [record(score="85%")], field="score"),
    releases("score 1e309", data=json.dumps([record()]).replace('"score": 50', '"score": 1e309'), field="score"),
    releases("NaN score", data=json.dumps([record()]).replace('"score": 50', '"score": NaN'), field="score"),
    releases("release_date is a number", [record(release_date=20240501)], field="release_date"),
    releases("release_date 2024-02-30", [record(release_date="2024-02-30")], field="release_date"),
    releases("release_date 9999-12-31", [record(release_date="9999-12-31")], field="release_date"),
    releases("homoglyph access", [record(access="\u043epen")], field="access"),
    releases("access is a list", [record(access=["open"])], field="access"),
    releases("model is an object", [record(model={"$ne": None})], field="model"),
    releases("escaped NUL in the model", [record(model="evil\x00name")], field="model"),
    releases("lone surrogate in the model", [record(model="evil\ud800")], field="model"),
    releases("unknown field", [record(is_admin=True)]),
    releases("missing score", [{k: v for k, v in record().items() if k != "score"}]),
    releases("20,000 empty objects", [{}] * 20_000),
    releases("body over 1 MiB", data="[" + " " * (MiB + 16) + "]", status=413),
    releases("200,000-deep nesting", data=DEEP_TEXT),
    releases("5,000-digit score", data=huge_int_score()),
    releases("duplicate keys, the last one valid", data=duplicate_keys()),
    subscription("no token", slack("https://1.1.1.1/hook"), headers={}, status=401, field="Authorization"),
    subscription("wrong token", slack("https://1.1.1.1/hook"), headers={"Authorization": "Bearer x"}, status=401,
                 field="Authorization"),
    subscription("token in the query string", slack("https://1.1.1.1/hook"), headers={}, query=f"?token={ADMIN}",
                 status=401, field="Authorization"),
    subscription("not JSON", data="kind=slack", field="body"),
    subscription("form body", data="kind=slack&url=x", content_type="application/x-www-form-urlencoded",
                 status=415, field="Content-Type"),
    subscription("JSON list", [slack("https://1.1.1.1/hook")], field="body"),
    subscription("JSON string", "https://1.1.1.1/hook", field="body"),
    subscription("cloud metadata over http", slack("http://169.254.169.254/latest/meta-data/"), field="url"),
    subscription("cloud metadata over https", slack("https://169.254.169.254/latest/meta-data/"), field="url"),
    subscription("file URL", slack("file:///etc/passwd"), field="url"),
    subscription("credentials in the URL", slack("https://user:pass@hooks.example.com/x"), field="url"),
    subscription("javascript URL", slack("javascript:alert(document.cookie)"), field="url"),
    subscription("gopher URL", slack("gopher://1.1.1.1:25/_HELO"), field="url"),
    subscription("3 KB URL", slack("https://hooks.example.com/" + "a" * 3000), field="url"),
    subscription("loopback", slack("https://127.0.0.1/hook"), field="url"),
    subscription("loopback in hex", slack("https://0x7f000001/hook"), field="url"),
    subscription("loopback as a decimal", slack("https://2130706433/hook"), field="url"),
    subscription("IPv6 loopback", slack("https://[::1]/hook"), field="url"),
    subscription("IPv4-mapped loopback", slack("https://[::ffff:127.0.0.1]/hook"), field="url"),
    subscription("private network", slack("https://10.0.0.1/hook"), field="url"),
    subscription("0.0.0.0", slack("https://0.0.0.0/hook"), field="url"),
    subscription("port 99999", slack("https://1.1.1.1:99999/hook"), field="url"),
    subscription("port that is not a number", slack("https://1.1.1.1:abc/hook"), field="url"),
    subscription("unclosed IPv6 bracket", slack("https://[::1/hook"), field="url"),
    subscription("NUL in the host", slack("https://1.1.1.1\x00.internal.example/hook"), field="url"),
    subscription("URL is a number", slack(42), field="url"),
    subscription("kind is a list", {"kind": ["slack"], "url": "https://1.1.1.1/hook"}, field="kind"),
    subscription("webhook without a secret", {"kind": "webhook", "url": "https://1.1.1.1/hook"}, field="secret"),
    subscription("unknown field", slack("https://1.1.1.1/hook", admin=True), field="admin"),
    subscription("min_change is a string", slack("https://1.1.1.1/hook", min_change="5"), field="min_change"),
    subscription("min_change NaN", data='{"kind": "slack", "url": "https://1.1.1.1/hook", "min_change": NaN}',
                 field="min_change"),
    subscription("min_change 1e309", data='{"kind": "slack", "url": "https://1.1.1.1/hook", "min_change": 1e309}',
                 field="min_change"),
    subscription("101 domains", slack("https://1.1.1.1/hook", domains=["coding"] * 101), field="domains"),
    subscription("unknown domain", slack("https://1.1.1.1/hook", domains=["../../etc"]), field="domains"),
    subscription("unknown event kind", slack("https://1.1.1.1/hook", events=["rm -rf"]), field="events"),
    subscription("200,000-deep nesting", data=DEEP_TEXT, field="body"),
    subscription("body over 1 MiB", slack("https://1.1.1.1/" + "a" * MiB), status=413),
    subscription("duplicate keys, the last one valid",
                 data='{"kind": "slack", "url": "javascript:alert(1)", "url": "https://1.1.1.1/hook"}', field="url"),
    BadBody("delete subscription: no token", "DELETE", "/v1/subscriptions/x", {}, 401, "Authorization"),
    BadBody("delete subscription: 5,000-char id", "DELETE", f"/v1/subscriptions/{LONG}", {"headers": AUTH}, 404,
            "subscription"),
    BadBody("list subscriptions: wrong token", "GET", "/v1/subscriptions",
            {"headers": {"Authorization": "Bearer x"}}, 401, "Authorization"),
    BadBody("deliveries: no token", "GET", "/v1/deliveries", {}, 401, "Authorization"),
]


@pytest.mark.parametrize("case", BAD_BODIES, ids=[c.id for c in BAD_BODIES])
def test_a_hostile_admin_request_is_refused_and_stores_nothing(r: redis.Redis, write_api: FlaskClient,
                                                               case: BadBody) -> None:
    before = dump(r)
    resp = write_api.open(case.path, method=case.method, **case.kwargs)
    body = assert_error_shape(resp, case.status)
    if case.field is not None:
        assert case.field in error_fields(body) or any(case.field in str(f) for f in error_fields(body)), body
    if case.path.startswith("/v1/releases") and case.status == 400:
        assert all("record" in e for e in body["errors"]), body  # each problem names its record (or "file")
    assert ADMIN not in resp.get_data(as_text=True)
    assert len(resp.get_data()) < 64 * 1024, "the error echoes the whole input"
    assert_still_up(write_api)
    assert dump(r) == before


@pytest.mark.parametrize("path", ["/v1/releases", "/v1/subscriptions"])
def test_the_admin_api_off_is_a_403_whatever_the_token(r: redis.Redis, loaded: Store, domains_file: Path,
                                                       path: str) -> None:
    api = make_app(r, domains_file, token=None).test_client()
    before = dump(r)
    for headers in ({}, AUTH, {"Authorization": "Bearer "}):
        assert_error_shape(api.post(path, json=[record()], headers=headers), 403)
    assert_still_up(api)
    assert dump(r) == before


def test_there_are_at_least_fifty_distinct_hostile_inputs() -> None:
    total = (len(FILE_CASES) + len(PAYLOAD_CASES) + len(PULL_CASES) + len(ZIP_BOMBS) + 1 + len(QUERY_CASES)
             + len(AMBIGUOUS_CASES) + len(OUTSIDE_V1) + len(PATH_CASES) + len(WRONG_METHODS) + len(BAD_BODIES))
    assert total >= 50
