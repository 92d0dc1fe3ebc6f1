"""Epoch AI Benchmarking Hub connector, over real (loopback) HTTP with real-format zips.

The current-layout zip is built from trimmed real CSVs (tests/fixtures/epoch/hub, see its README); the
legacy one from real legacy rows; the model_metadata / benchmark_metadata layout has no real copy anywhere,
so its zip is synthetic (built in `metadata_layout_zip`).
"""

from __future__ import annotations

import io
import threading
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from jobs.http import Http, PullFailed
from jobs.sources.base import Pull, SourceRecord
from jobs.sources.epoch import DEFAULT_URL, EpochHub

FIXTURES = Path(__file__).parent / "fixtures" / "epoch"
PATH = "/data/benchmark_data.zip"
Z95 = 1.959963984540054


# --- helpers -------------------------------------------------------------------------------------


def zip_folder(folder: Path, prefix: str = "benchmark_data/",
               edit: Callable[[str, bytes], bytes | None] | None = None,
               extra: dict[str, bytes] | None = None) -> bytes:
    """A zip of `folder` under `prefix`; `edit(name, data)` may change a member (None drops it)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for p in sorted(folder.rglob("*")):
            if p.is_file():
                rel = p.relative_to(folder).as_posix()
                data: bytes | None = p.read_bytes()
                if edit is not None and data is not None:
                    data = edit(p.name, data)
                if data is not None:
                    z.writestr(prefix + rel, data)
        for name, data in (extra or {}).items():
            z.writestr(name, data)
    return buf.getvalue()


def zip_files(files: dict[str, str | bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in files.items():
            z.writestr(name, data)
    return buf.getvalue()


def serve(server: HTTPServer, body: bytes, *, status: int = 200, etag: str | None = '"v1"',
          content_type: str = "application/zip") -> str:
    headers = {"ETag": etag} if etag else {}
    server.expect_request(PATH).respond_with_data(body, status=status, headers=headers, content_type=content_type)
    return server.url_for(PATH)


def pull(server: HTTPServer, body: bytes, *, status: int = 200, content_type: str = "application/zip") -> Pull:
    return EpochHub(serve(server, body, status=status, content_type=content_type)).pull(Http(timeout_s=5), {})


def failure(server: HTTPServer, body: bytes, *, status: int = 200, content_type: str = "application/zip") -> PullFailed:
    with pytest.raises(PullFailed) as info:
        pull(server, body, status=status, content_type=content_type)
    return info.value


def by_key(p: Pull) -> dict[tuple[str, str], SourceRecord]:
    return {(r.model, r.benchmark): r for r in p.records}


def rename_column(file: str, old: str, new: str) -> Callable[[str, bytes], bytes | None]:
    def edit(name: str, data: bytes) -> bytes | None:
        if name != file:
            return data
        head, rest = data.split(b"\n", 1)
        return head.replace(old.encode(), new.encode()) + b"\n" + rest
    return edit


def replace_member(file: str, data: bytes) -> Callable[[str, bytes], bytes | None]:
    return lambda name, old: data if name == file else old


HUB = FIXTURES / "hub"


# --- the real current layout ---------------------------------------------------------------------


def test_real_rows_come_through_with_scores_stderr_access_and_dates(httpserver: HTTPServer) -> None:
    body = zip_folder(HUB)
    p = pull(httpserver, body)
    recs = by_key(p)

    r = recs[("DeepSeek-R1-0528", "epoch-gpqa-diamond")]
    assert r.score == pytest.approx(76.32575757575758)
    assert r.stderr == pytest.approx(2.4023818843083005)
    assert (r.access, r.release_date, r.organization) == ("open", "2025-05-28", "DeepSeek")
    assert r.source == "epoch-hub:gpqa_diamond.csv#DeepSeek-R1-0528"

    r = recs[("gpt-4o-2024-11-20", "epoch-gpqa-diamond")]
    assert (r.score, r.stderr, r.access) == (pytest.approx(47.88510101010101), pytest.approx(2.6336972178726107),
                                             "closed")
    assert recs[("gemini-2.0-pro-exp-02-05", "epoch-gpqa-diamond")].access == "closed"   # Hosted access (no API)
    assert recs[("mistral-large-2411", "epoch-gpqa-diamond")].access == "open"          # Open weights (non-commercial)
    assert recs[("Llama-3.1-405B-Instruct", "epoch-gpqa-diamond")].access == "open"     # (restricted use)
    blank = recs[("gpt-5.4-mini-2026-03-17", "epoch-gpqa-diamond")]                     # blank accessibility
    assert (blank.access, blank.organization, blank.release_date) == (None, "", "2026-03-17")

    # external files: their own score and stderr columns, and a 95 % CI turned into a stderr
    hle = recs[("o3-2025-04-16", "epoch-hle")]
    assert (hle.score, hle.stderr) == (pytest.approx(20.32), pytest.approx(1.58))
    glm = recs[("glm-5", "epoch-webdev-arena")]
    assert glm.score == pytest.approx(1447.32)
    assert glm.stderr == pytest.approx((1458.88 - 1435.76) / (2 * Z95))
    assert recs[("glm-4.7", "epoch-webdev-arena")].stderr is None                       # no CI in that row
    # the ECI file is itself a benchmark
    assert recs[("DeepSeek-R1-0528", "epoch-eci")].score == pytest.approx(142.08428730439883)

    assert p.payload == body
    assert p.validators == {"etag": '"v1"'}
    assert p.info["layout"] == "current"
    assert p.info["unknown_files"] == []                                  # README and additional_eci_data are known
    assert "math_level_5.csv" in p.info["missing_files"]                  # absent from this trimmed zip: not a fault
    assert len(p.records) == len(recs)                                    # one record per (model, benchmark)


def test_effort_variants_become_one_model_keeping_the_best_score(httpserver: HTTPServer) -> None:
    p = pull(httpserver, zip_folder(HUB))
    recs = by_key(p)
    assert not [r.model for r in p.records if r.model.endswith(("_high", "_xhigh", "_32K", "_64K", "_unknown"))]
    best = recs[("gpt-5.2-2025-12-11", "epoch-gpqa-diamond")]
    assert best.score == pytest.approx(91.4)
    assert best.source == "epoch-hub:gpqa_diamond.csv#gpt-5.2-2025-12-11_xhigh"
    dups = {e.record for e in p.rejected if e.reason == "duplicate"}
    assert {"gpqa_diamond.csv#gpt-5.2-2025-12-11_high", "gpqa_diamond.csv#gpt-5.2-2025-12-11_medium",
            "gpqa_diamond.csv#gpt-5.2-2025-12-11_low", "gpqa_diamond.csv#claude-opus-4-6_64K",
            "hle_external.csv#o3-2025-04-16_medium"} <= dups
    # one version listed twice in a file: the record names the row id
    assert "hle_external.csv#claude-opus-4-5-20251101_unknown@recxYcr9VmKPUVR3Z" in dups
    assert recs[("claude-opus-4-5-20251101", "epoch-hle")].score == pytest.approx(25.2)


def test_blank_versions_unreleased_models_and_blank_scores_are_rejections(httpserver: HTTPServer) -> None:
    p = pull(httpserver, zip_folder(HUB))
    why = {(e.record, e.reason) for e in p.rejected}
    # webdev rows Epoch did not map to a model version
    assert ("webdev_arena_external.csv#recyD2ZNG4gtW9Y0m", "unmatched") in why
    assert ("webdev_arena_external.csv#recneYtrITTW9cMYw", "unmatched") in why
    # Grok 4 Heavy is "Unreleased" in the ECI file
    assert ("frontiermath_tier_4.csv#grok-4-heavy-web-app", "unreleased") in why
    assert not [r for r in p.records if r.model == "grok-4-heavy-web-app"]
    # ECI rows without an ECI Score
    assert ("epoch_capabilities_index.csv#glm-4.5", "invalid_score") in why
    assert {e.source for e in p.rejected} == {"epoch-hub"}
    assert {e.reason for e in p.rejected} == {"unmatched", "unreleased", "invalid_score", "duplicate"}


def test_unknown_csvs_are_listed_and_catalogued_files_may_be_absent(httpserver: HTTPServer) -> None:
    new = b"Model version,Score,Release date\nglm-5,0.5,2026-02-11\n"
    body = zip_folder(HUB, edit=lambda name, data: None if name == "hle_external.csv" else data,
                      extra={"benchmark_data/brand_new_external.csv": new,
                             "__MACOSX/benchmark_data/._gpqa_diamond.csv": b"\x00\x05\x16\x07"})
    p = pull(httpserver, body)
    assert p.info["unknown_files"] == ["benchmark_data/brand_new_external.csv"]
    assert "hle_external.csv" in p.info["missing_files"]
    assert not [r for r in p.records if r.benchmark == "epoch-hle"]
    assert ("DeepSeek-R1-0528", "epoch-gpqa-diamond") in by_key(p)


# --- HTTP behaviour ------------------------------------------------------------------------------


def test_conditional_get_gets_304_with_the_etag(httpserver: HTTPServer) -> None:
    httpserver.expect_request(PATH, headers={"If-None-Match": '"v1"'}).respond_with_data(
        b"", status=304, headers={"ETag": '"v1"'})
    url = serve(httpserver, zip_folder(HUB))
    source = EpochHub(url)
    first = source.pull(Http(timeout_s=5), {})
    assert first.validators == {"etag": '"v1"'} and first.records
    again = source.pull(Http(timeout_s=5), first.validators)
    assert again.not_modified and again.validators == {"etag": '"v1"'}
    assert again.records == [] and again.payload == b""
    assert [req.headers.get("If-None-Match") for req, _ in httpserver.log] == [None, '"v1"']


def test_the_request_names_gapcast_in_its_user_agent(httpserver: HTTPServer) -> None:
    pull(httpserver, zip_folder(HUB))
    (req, _), = httpserver.log
    assert req.headers["User-Agent"].startswith("gapcast/")


def test_server_error_is_http_5xx(httpserver: HTTPServer) -> None:
    exc = failure(httpserver, b"upstream broke", status=500, content_type="text/plain")
    assert exc.reason == "http_5xx"


def test_a_slow_server_times_out(httpserver: HTTPServer) -> None:
    release = threading.Event()

    def slow(request: Request) -> Response:
        release.wait(5)
        return Response(b"late", status=200)

    httpserver.expect_request(PATH).respond_with_handler(slow)
    try:
        with pytest.raises(PullFailed) as info:
            EpochHub(httpserver.url_for(PATH)).pull(Http(timeout_s=0.5), {})
    finally:
        release.set()
    assert info.value.reason == "timeout"


def test_default_url_is_epochs() -> None:
    assert EpochHub().url == DEFAULT_URL == "https://epoch.ai/data/benchmark_data.zip"
    assert EpochHub.id == "epoch-hub"


# --- structural faults ---------------------------------------------------------------------------


def test_an_html_page_instead_of_the_zip_is_bad_format(httpserver: HTTPServer) -> None:
    page = b"<!DOCTYPE html>\n<html><head><title>Epoch AI</title></head><body>Moved</body></html>"
    exc = failure(httpserver, page, content_type="text/html")
    assert exc.reason == "bad_format" and "HTML page" in exc.message and "benchmark_data.zip" in exc.message


def test_a_truncated_zip_is_bad_format(httpserver: HTTPServer) -> None:
    body = zip_folder(HUB)
    exc = failure(httpserver, body[: len(body) // 2])
    assert exc.reason == "bad_format" and "truncated or corrupt" in exc.message


def test_a_corrupt_member_is_bad_format_naming_it(httpserver: HTTPServer) -> None:
    body = bytearray(zip_files({"gpqa_diamond.csv": (HUB / "gpqa_diamond.csv").read_bytes()}))
    body[200:260] = b"\xff" * 60                  # inside the deflated data of the only member
    exc = failure(httpserver, bytes(body))
    assert exc.reason == "bad_format" and "gpqa_diamond.csv" in exc.message


def test_a_zip_without_known_files_is_bad_format(httpserver: HTTPServer) -> None:
    exc = failure(httpserver, zip_files({"data/notes.txt": "hello", "data/other.csv": "a,b\n1,2\n"}))
    assert exc.reason == "bad_format" and "none of the catalogued" in exc.message and "data/other.csv" in exc.message


def test_a_renamed_score_column_is_bad_format_naming_file_and_column(httpserver: HTTPServer) -> None:
    body = zip_folder(HUB, edit=rename_column("gpqa_diamond.csv", "Best score (across scorers)", "Best score"))
    exc = failure(httpserver, body)
    assert exc.reason == "bad_format"
    assert "benchmark_data/gpqa_diamond.csv" in exc.message and "'Best score (across scorers)'" in exc.message


def test_a_renamed_accessibility_column_is_bad_format(httpserver: HTTPServer) -> None:
    body = zip_folder(HUB, edit=rename_column("epoch_capabilities_index.csv", "Model accessibility", "Access"))
    exc = failure(httpserver, body)
    assert exc.reason == "bad_format" and "epoch_capabilities_index.csv" in exc.message
    assert "'Model accessibility'" in exc.message


@pytest.mark.parametrize(("data", "says"), [
    (b"<html><body>Access denied</body></html>\n", "HTML"),
    (b'{"error": "not found"}', "JSON"),
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\xff\xfe", "not UTF-8"),
    (b'Model version,Best score (across scorers),stderr\n"glm-5"x,0.87,0.02\n', "not valid CSV"),
    (b"Model version,Best score (across scorers),stderr\nglm-5,0.87,0.02,extra,fields\n", "record 1 has 5 fields"),
    (b"", "empty"),
])
def test_a_member_that_is_not_csv_is_bad_format(httpserver: HTTPServer, data: bytes, says: str) -> None:
    exc = failure(httpserver, zip_folder(HUB, edit=replace_member("gpqa_diamond.csv", data)))
    assert exc.reason == "bad_format" and "gpqa_diamond.csv" in exc.message and says in exc.message


# --- other layouts -------------------------------------------------------------------------------


def metadata_layout_zip(gpqa_column: str = "Best score (across scorers)", gpqa_scale: str = "1.0") -> bytes:
    """SYNTHETIC: the model_metadata.csv / benchmark_metadata.csv layout some tools expect (FORMATS.md §1c,
    "unverified"). No real copy exists; the model rows reuse real ECI facts, the scores are real GPQA rows
    reduced to three columns, the Aider rows use Epoch's 0-100 `Percent correct`. No ECI file."""
    return zip_files({
        "model_metadata.csv":
            "model_version,model_group,date,display_name,organization,country,accessibility,training_compute_flop\n"
            ",,,,,,,\n"
            "DeepSeek-R1-0528,DeepSeek-R1 (May 2025),2025-05-28,DeepSeek-R1 (May 2025),DeepSeek,China,"
            "Open weights (unrestricted),4.020010000000001e+24\n"
            "gpt-4o-2024-11-20,GPT-4o (Nov 2024),2024-11-20,GPT-4o (Nov 2024),OpenAI,United States of America,"
            "API access,\n"
            "o3-2025-04-16_high,o3,2025-04-16,o3 (high),OpenAI,United States of America,API access,\n"
            "grok-4-heavy-web-app,Grok 4 Heavy,2025-07-10,Grok 4 Heavy (web app),xAI,United States of America,"
            "Unreleased,\n"
            "new-lab-model,New Lab Model,2026-05-01,,New Lab,,Limited access,\n",
        "benchmark_metadata.csv":
            "benchmark,source_file,score_column,scale\n"
            f"GPQA diamond,gpqa_diamond.csv,{gpqa_column},{gpqa_scale}\n"
            "Aider polyglot,aider_polyglot_external.csv,Percent correct,0.01\n",
        "gpqa_diamond.csv":
            f"Model version,{gpqa_column},stderr\n"
            "DeepSeek-R1-0528,0.7632575757575758,0.024023818843083005\n"
            "gpt-4o-2024-11-20,0.4788510101010101,0.026336972178726107\n"
            "o3-2025-04-16_high,0.8181818181818182,0.021299419227004\n"
            "grok-4-heavy-web-app,0.88,0.02\n"
            "new-lab-model,0.5,0.03\n",
        "aider_polyglot_external.csv":
            "Model version,Percent correct,Release date,Organization\n"
            "o3-2025-04-16_high,81.3,2025-04-16,OpenAI\n"
            ",61.3,,\n",
    })


def test_the_metadata_layout_takes_access_and_dates_from_model_metadata(httpserver: HTTPServer) -> None:
    p = pull(httpserver, metadata_layout_zip())
    recs = by_key(p)
    r1 = recs[("DeepSeek-R1-0528", "epoch-gpqa-diamond")]
    assert (r1.score, r1.stderr) == (pytest.approx(76.32575757575758), pytest.approx(2.4023818843083005))
    assert (r1.access, r1.release_date, r1.organization) == ("open", "2025-05-28", "DeepSeek")
    assert recs[("gpt-4o-2024-11-20", "epoch-gpqa-diamond")].access == "closed"
    assert recs[("o3-2025-04-16", "epoch-aider-polyglot")].score == pytest.approx(81.3)   # value_factor 1
    assert recs[("new-lab-model", "epoch-gpqa-diamond")].access is None                 # "Limited access"
    assert ("gpqa_diamond.csv#grok-4-heavy-web-app", "unreleased") in {(e.record, e.reason) for e in p.rejected}
    assert ("aider_polyglot_external.csv#row2", "unmatched") in {(e.record, e.reason) for e in p.rejected}
    assert p.info["layout"] == "metadata"
    assert "epoch_capabilities_index.csv" in p.info["missing_files"]
    assert p.info["unknown_files"] == []
    assert [w for w in p.info["warnings"] if "Limited access" in w]
    assert not [w for w in p.info["warnings"] if "scale" in w]                          # both scales agree


def test_the_metadata_layout_flags_a_scale_that_disagrees_with_the_catalogue(httpserver: HTTPServer) -> None:
    p = pull(httpserver, metadata_layout_zip(gpqa_scale="0.01"))
    assert [w for w in p.info["warnings"] if "gpqa_diamond.csv" in w and "scale 0.01" in w]


def test_the_metadata_layout_names_the_new_score_column_when_ours_is_gone(httpserver: HTTPServer) -> None:
    exc = failure(httpserver, metadata_layout_zip(gpqa_column="score"))
    assert exc.reason == "bad_format" and "'Best score (across scorers)'" in exc.message
    assert "benchmark_metadata.csv now names 'score'" in exc.message


def test_the_legacy_2025_export_is_read(httpserver: HTTPServer) -> None:
    p = pull(httpserver, zip_folder(FIXTURES / "legacy", prefix=""))
    recs = by_key(p)
    r = recs[("DeepSeek-R1", "epoch-gpqa-diamond")]
    assert r.score == pytest.approx(71.71717171717171)
    assert (r.access, r.release_date, r.stderr) == (None, "2025-01-20", None)    # the export marks no access
    assert r.source == "epoch-hub:benchmarks_runs.csv#DeepSeek-R1"
    assert recs[("DeepSeek-R1", "epoch-otis-mock-aime")].score == pytest.approx(53.333333333333336)
    # grok-3-mini-beta: _low outscored _high on GPQA in that export; the best is kept
    assert recs[("grok-3-mini-beta", "epoch-gpqa-diamond")].score == pytest.approx(76.26262626262627)
    assert [e.reason for e in p.rejected] == ["duplicate"]
    assert p.info["layout"] == "legacy"
    assert p.info["unmapped_tasks"] == {}


def test_legacy_tasks_without_a_catalogued_file_are_counted(httpserver: HTTPServer) -> None:
    runs = (FIXTURES / "legacy" / "benchmarks_runs.csv").read_text(encoding="utf-8")
    runs += "abc,FrontierMath-2025-02-28-Private,DeepSeek-R1,0.05,,,\n"
    p = pull(httpserver, zip_files({"benchmarks_runs.csv": runs}))
    assert p.info["unmapped_tasks"] == {"FrontierMath-2025-02-28-Private": 1}
    assert by_key(p)[("DeepSeek-R1", "epoch-gpqa-diamond")].release_date is None       # no model_versions.csv
