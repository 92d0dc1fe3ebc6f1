"""Issue 11 "Names" and issue 14's organisation/country: the bundled snapshot's ids, merges, licences and
countries, a store loaded before the rename, `GET /v1/models/{id}` (old ids redirect), the models CSV,
`gapcast models` and `gapcast load --report`'s merges."""

from __future__ import annotations

import csv
import gzip
import io
import json
import re
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from click.testing import CliRunner
from flask.testing import FlaskClient

from forecasts.measure.domains import parse_domains
from forecasts.records.canonical import InvalidInput
from forecasts.records.names import styled_id
from forecasts.records.organisations import organisation_table
from forecasts.settings import Settings
from forecasts.storage.ingest import load_records, load_snapshot
from forecasts.storage.store import Store
from gapcast.cli import cli
from service import create_app
from tests.conftest import FIXED_NOW, SMALL_DOMAINS, bench_dict, make_snapshot, model_dict

REPO = Path(__file__).resolve().parent.parent
SNAPSHOT = REPO / "forecasts" / "data" / "snapshot.json.gz"
SPDX_LIKE = re.compile(r"Proprietary|LicenseRef-[A-Za-z0-9.-]+|[A-Z][A-Za-z0-9.+-]*")


@pytest.fixture(scope="module")
def doc() -> dict[str, Any]:
    return json.loads(gzip.decompress(SNAPSHOT.read_bytes()))


@pytest.fixture(scope="module")
def models(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {m["id"]: m for m in doc["models"]}


def owners(models: dict[str, dict[str, Any]], alias: str) -> set[str]:
    return {mid for mid, m in models.items() if alias.lower() in {a.lower() for a in m["aliases"]}}


# --- the bundled snapshot ---------------------------------------------------------------------------


def test_configuration_tags_are_aliases_of_the_model_not_its_id(models: dict[str, dict[str, Any]]) -> None:
    for mid in models:
        assert not re.search(r"fallback|max-effort|adaptive-reasoning|-thinking-\d+k$", mid), mid
    fable = models["claude-fable-5"]
    assert "Claude Fable 5 (Adaptive Reasoning, Max Effort, Opus 4.8 Fallback)" in fable["aliases"]
    assert owners(models, "anthropic/claude-fable-5") == {"claude-fable-5"}
    assert owners(models, "claude-fable-5-opus-4.8-fallback") == {"claude-fable-5"}  # the former id resolves


def test_known_duplicates_are_merged_and_siblings_split(doc: dict[str, Any],
                                                       models: dict[str, dict[str, Any]]) -> None:
    assert "open-mistral-7b" not in models and owners(models, "open-mistral-7b") == {"mistral-7b-v0.1"}
    assert "gpt-4-turbo" not in models and owners(models, "gpt-4-turbo") == {"gpt-4-1106-preview"}
    assert models["gpt-4-turbo-2024-04-09"]["release_date"] == "2024-04-09"        # the April model stays apart
    assert owners(models, "phi-3-mini-128k-instruct") == {"phi-3-mini-128k-instruct"}
    assert "phi-3-mini-128k-instruct" not in {a.lower() for a in models["phi-3-mini-instruct-3.8b"]["aliases"]}
    scored = {row[1] for row in doc["scores"] if row[0] == "phi-3-mini-128k-instruct"}
    assert "arena-text-overall" in scored                                            # its own Arena rating
    rules = {(m["name"], m["id"]): m["rule"] for m in doc["merges"]}
    assert rules[("open-mistral-7b", "mistral-7b-v0.1")] == "names.toml same_model"


def test_every_id_has_the_one_style_and_old_ids_stay_aliases(models: dict[str, dict[str, Any]]) -> None:
    for mid, m in models.items():
        assert styled_id(mid) == mid and mid == mid.lower(), mid
        assert mid in m["aliases"]
    assert "claude-opus-4.6" in models and owners(models, "claude-opus-4-6") == {"claude-opus-4.6"}
    assert "claude-opus-4.5" in models and owners(models, "claude-opus-4-5-20251101") == {"claude-opus-4.5"}
    assert {"gpt-4o-2024-05-13", "gpt-4o-2024-11-20"} <= set(models)              # several dated versions
    former = tomllib.loads((REPO / "forecasts" / "data" / "names.toml").read_text("utf-8"))["former_ids"]
    for old, new in former.items():
        assert owners(models, old) == {new}, old                                     # old URLs keep resolving


def test_licences_are_spdx_ids(models: dict[str, dict[str, Any]]) -> None:
    licences = {m["licence"] for m in models.values()} - {None}
    assert licences and all(SPDX_LIKE.fullmatch(x) for x in licences), licences
    assert not licences & {"Mit", "apache-2.0", "Apache 2.0", "Other"}
    assert {"MIT", "Apache-2.0", "Proprietary"} <= licences
    assert any(x.startswith("LicenseRef-Llama") for x in licences)


def test_organisation_and_country_on_models(models: dict[str, dict[str, Any]]) -> None:
    with_org = [m for m in models.values() if m["organization"]]
    assert len(with_org) >= 0.97 * len(models)
    table = organisation_table()
    for m in models.values():
        assert re.fullmatch(r"[A-Z]{2}|", m["country"]), m
        first = m["organization"].split(",")[0].strip().casefold()
        assert (m["country"] != "") == (first in table), m["id"]
    assert models["deepseek-r1-0528"]["country"] == "CN" and models["claude-opus-4.6"]["country"] == "US"
    assert models["mistral-7b-v0.1"]["country"] == "FR"


def test_merges_name_their_rule_and_variant(doc: dict[str, Any], models: dict[str, dict[str, Any]]) -> None:
    merges = doc["merges"]
    assert len(merges) > 500
    for m in merges:
        assert set(m) == {"source", "name", "id", "rule", "variant"} and m["id"] in models and m["rule"], m
    fable = [m for m in merges if m["id"] == "claude-fable-5" and m["source"] == "aa"]
    assert fable and "Opus 4.8 Fallback" in fable[0]["variant"]
    assert {m["rule"] for m in merges} >= {"epoch-version-key", "epoch-pooled", "catalogue [aliases]"}


# --- a store loaded before the rename ---------------------------------------------------------------


def _old_and_new() -> tuple[bytes, bytes]:
    benches = [bench_dict("code-a"), bench_dict("math-a")]
    old = make_snapshot(benches, [model_dict("claude-opus-4-6", "2026-02-05", "closed", "Anthropic"),
                                  model_dict("open-1", "2025-01-01", "open", "OpenCo")],
                        [("claude-opus-4-6", "code-a", 80.0), ("open-1", "code-a", 60.0)])
    new = make_snapshot(benches, [model_dict("claude-opus-4.6", "2026-02-05", "closed", "Anthropic",
                                             ("claude-opus-4-6", "Claude Opus 4.6")),
                                  model_dict("open-1", "2025-01-01", "open", "OpenCo")],
                        [("claude-opus-4.6", "code-a", 81.0), ("open-1", "code-a", 60.0)])
    return old, new


def test_a_renamed_id_is_folded_into_its_new_model(store: Store) -> None:
    domains = parse_domains(SMALL_DOMAINS, "test")
    old, new = _old_and_new()
    load_snapshot(store, domains, old, "old")
    user_csv = (b"model,organization,release_date,access,benchmark,score\n"
                b"claude-opus-4-6,Anthropic,2026-02-05,closed,math-a,70\n")
    load_records(store, domains, user_csv, "csv", "user.csv")  # a user's score under the old id
    result = load_snapshot(store, domains, new, "new")
    data = store.read_dataset(result.generation)
    assert "claude-opus-4-6" not in data.models and "claude-opus-4.6" in data.models
    assert {m for (_, m) in data.scores} == {"claude-opus-4.6", "open-1"}
    assert data.scores[("code-a", "claude-opus-4.6")].value == 81.0
    assert data.scores[("math-a", "claude-opus-4.6")].value == 70.0           # moved to the new id
    assert data.models["claude-opus-4.6"].country == "US"


def test_load_records_reports_its_merges(store: Store) -> None:
    domains = parse_domains(SMALL_DOMAINS, "test")
    load_snapshot(store, domains, _old_and_new()[1], "new")
    rows = (b"model,organization,release_date,access,benchmark,score\n"
            b'"Claude Opus 4.6 (Adaptive Reasoning, Max Effort)",Anthropic,2026-02-05,closed,code-a,82\n'
            b"claude-opus-4-6,Anthropic,2026-02-05,closed,code-a,82\n")
    with pytest.raises(InvalidInput, match="duplicate"):  # both names are one model: a second score is refused
        load_records(store, domains, rows, "csv", "two.csv")
    result = load_records(store, domains, rows.rsplit(b"\n", 2)[0] + b"\n", "csv", "one.csv")
    assert result.merges == [{"source": "one.csv", "name": "Claude Opus 4.6 (Adaptive Reasoning, Max Effort)",
                              "id": "claude-opus-4.6", "rule": "name-key",
                              "variant": "Claude Opus 4.6 (Adaptive Reasoning, Max Effort)"}]


# --- the API and the CLI on the bundled snapshot --------------------------------------------------------

NAMES_DB = 9


@pytest.fixture(scope="module")
def bundled(redis_server: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """`gapcast load --report` of the bundled snapshot into db 9; yields (redis url, report path)."""
    url = f"{redis_server.url}?db={NAMES_DB}"
    redis.Redis.from_url(url).flushdb()
    report = tmp_path_factory.mktemp("report") / "report.json"
    env = {"GAPCAST_REDIS_URL": url, "GAPCAST_DATA_DIR": str(tmp_path_factory.mktemp("d"))}
    result = CliRunner().invoke(cli, ["load", "--report", str(report)], env=env, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "merge(s) written" in result.output
    yield url, report
    redis.Redis.from_url(url).flushdb()


@pytest.fixture()
def api(bundled: tuple[str, Path]) -> Iterator[FlaskClient]:
    client = redis.Redis.from_url(bundled[0])
    yield create_app(Settings(redis_url="unused://"), client=client, config={"TESTING": True}).test_client()
    client.close()


def test_report_lists_every_merge(bundled: tuple[str, Path], doc: dict[str, Any]) -> None:
    report = json.loads(bundled[1].read_text())
    assert set(report) == {"excluded", "merges"}
    assert report["merges"] == doc["merges"]
    assert any(m["name"] == "open-mistral-7b" and m["id"] == "mistral-7b-v0.1" for m in report["merges"])


def test_models_api_shows_organisation_and_country(api: FlaskClient) -> None:
    body = api.get("/v1/models?limit=1000").get_json()
    assert body["total"] == len(body["models"]) > 400
    assert all("country" in m for m in body["models"])
    one = api.get("/v1/models/claude-opus-4.6").get_json()
    assert one["model"]["organization"] == "Anthropic" and one["model"]["country"] == "US"
    assert one["model"]["licence"] == "Proprietary"
    assert {s["benchmark"] for s in one["scores"]} >= {"aa-intelligence-index"}
    rows = list(csv.DictReader(io.StringIO(api.get("/v1/models?format=csv&limit=1000").get_data(as_text=True))))
    assert rows and "country" in rows[0]
    assert next(r for r in rows if r["id"] == "deepseek-r1-0528")["country"] == "CN"


def test_an_old_model_id_redirects_to_the_new_one(api: FlaskClient) -> None:
    resp = api.get("/v1/models/claude-opus-4-6")
    assert resp.status_code == 308 and resp.headers["Location"] == "/v1/models/claude-opus-4.6"
    assert api.get("/v1/models/open-mistral-7b").headers["Location"] == "/v1/models/mistral-7b-v0.1"
    assert api.get("/v1/models/claude-opus-4-6", follow_redirects=True).get_json()["model"]["id"] == \
        "claude-opus-4.6"
    missing = api.get("/v1/models/no-such-model")
    assert missing.status_code == 404 and missing.get_json()["ok"] is False
    assert set(missing.get_json()) == {"ok", "error", "errors", "status"}


def test_gapcast_models_lists_country(bundled: tuple[str, Path], tmp_path: Path) -> None:
    env = {"GAPCAST_REDIS_URL": bundled[0], "GAPCAST_DATA_DIR": str(tmp_path)}
    out = CliRunner().invoke(cli, ["models", "--json", "--country", "cn", "--access", "open"], env=env,
                             catch_exceptions=False)
    assert out.exit_code == 0, out.output
    rows = json.loads(out.output)
    assert rows and all(r["country"] == "CN" and r["access"] == "open" for r in rows)
    assert "deepseek-r1-0528" in {r["id"] for r in rows}
    table = CliRunner().invoke(cli, ["models"], env=env, catch_exceptions=False).output
    assert table.splitlines()[0].split()[:3] == ["model", "organisation", "cc"]
    assert re.search(r"^claude-opus-4\.6\s+Anthropic\s+US\s+closed\s+Proprietary", table, re.MULTILINE)


def test_a_store_without_country_fields_gets_them(store: Store) -> None:
    """Models stored before the field existed read back with their organisation's country."""
    domains = parse_domains(SMALL_DOMAINS, "test")
    gen = load_snapshot(store, domains, _old_and_new()[1], "new").generation
    raw = store.r.hget(f"gapcast:gen:{gen}:models", "claude-opus-4.6")
    assert raw is not None
    stored = json.loads(raw)
    stored.pop("country")
    store.r.hset(f"gapcast:gen:{gen}:models", "claude-opus-4.6", json.dumps(stored))
    assert store.read_dataset(gen).models["claude-opus-4.6"].country == "US"
    assert FIXED_NOW  # the store's clock is the fixed test clock


# --- frontiers by organisation and country (issue 14) -------------------------------------------------


def test_by_organisation_keeps_each_class_of_its_own_labs() -> None:
    from forecasts.records.organisations import by_organisation
    from forecasts.records.snapshot import parse_snapshot

    data = parse_snapshot(_old_and_new()[1]).data
    kept = by_organisation(data, closed_country="us", open_country="CN")
    assert set(kept.models) == {"claude-opus-4.6"}                       # OpenCo has no country: dropped
    assert {m for (_, m) in kept.scores} == {"claude-opus-4.6"}
    assert set(by_organisation(data, open_org="openco").models) == {"claude-opus-4.6", "open-1"}
    assert set(by_organisation(data, closed_org="OpenAI").models) == {"open-1"}
    assert by_organisation(data) == data


def _country_of_leader(api: FlaskClient, leader: dict[str, Any] | None) -> str:
    assert leader is not None
    return str(api.get(f"/v1/models/{leader['model']}").get_json()["model"]["country"])


def test_domain_frontiers_us_closed_vs_china_open(api: FlaskClient) -> None:
    whole = api.get("/v1/domains/coding").get_json()["domain"]
    body = api.get("/v1/domains/coding?closed_country=US&open_country=CN").get_json()
    assert body["filters"] == {"closed_country": "US", "open_country": "CN"}
    row = body["domain"]
    assert _country_of_leader(api, row["closed_leader"]) == "US"
    assert _country_of_leader(api, row["open_leader"]) == "CN"
    assert body["benchmarks"] and all(b["benchmark"] in whole["configured_benchmarks"] for b in body["benchmarks"])
    fr = api.get("/v1/domains/coding?open_country=FR").get_json()["domain"]
    if fr["open_leader"] is not None:
        assert _country_of_leader(api, fr["open_leader"]) == "FR"
    openai = api.get("/v1/domains/overall?closed_org=OpenAI&open_org=Meta").get_json()["domain"]
    assert openai["closed_leader"] is None or api.get(
        f"/v1/models/{openai['closed_leader']['model']}").get_json()["model"]["organization"] == "OpenAI"
    bad = api.get("/v1/domains/coding?closed_country=USA")
    assert bad.status_code == 400 and bad.get_json()["ok"] is False
