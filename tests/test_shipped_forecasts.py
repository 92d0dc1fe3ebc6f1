"""The forecasts shipped with the bundled snapshot (forecasts/data/forecasts.json.gz).

They must be exactly what the engine computes today for the shipped data (else a first start would serve
stale documents, or fit everything): this test refits every series (about 5 s on 2 cores) and compares.
When it fails, rebuild the file: `python scripts/build_snapshot.py --forecasts-only`.
"""

from __future__ import annotations

import json
import re
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from forecasts.engine.publish import ENGINE_VERSION, calibration_digest, histories_of
from forecasts.measure.domains import load_domains
from forecasts.publishing import outlook
from forecasts.records.snapshot import (
    ShippedForecasts,
    SnapshotError,
    bundled_bytes,
    bundled_forecasts_bytes,
    encode_forecasts,
    parse_forecasts,
)
from forecasts.storage import keys
from forecasts.storage.ingest import load_snapshot
from forecasts.storage.store import Store
from gapcast.cli import cli
from jobs.refresh import forecast_pending

REBUILD = "rebuild it: python scripts/build_snapshot.py --forecasts-only"


@pytest.fixture(scope="module")
def shipped() -> ShippedForecasts:
    raw = bundled_forecasts_bytes()
    assert raw is not None, f"forecasts/data/forecasts.json.gz is missing: {REBUILD}"
    return parse_forecasts(raw)


def _load(store: Store) -> str:
    return load_snapshot(store, load_domains(), bundled_bytes(), "bundled snapshot").generation


def test_shipped_documents_are_what_the_engine_computes_today_for_the_shipped_data(
        store: Store, shipped: ShippedForecasts) -> None:
    assert shipped.engine_version == ENGINE_VERSION, f"shipped by engine {shipped.engine_version}: {REBUILD}"
    gen = _load(store)
    refs = [r for r in outlook.read_index(store, gen) if not r.hash.startswith("empty-")]
    missing = [r.field for r in refs if r.hash not in shipped.documents]
    assert not missing, f"{len(missing)} series have no shipped document (first: {missing[:3]}): {REBUILD}"
    digest = calibration_digest(histories_of(store.read_dataset(gen)), load_domains())
    assert digest in shipped.calibrations, f"the shipped calibration is not this data's: {REBUILD}"
    # refit everything and compare the published part field by field (the engine is seeded: equal inputs,
    # equal forecasts)
    assert outlook.compute(store, gen, outlook.pending(store, gen)) == len(refs)
    for r in refs:
        fitted = json.loads(store.r.get(outlook.doc_key(r.hash)) or b"{}")
        assert json.loads(shipped.documents[r.hash])["forecast"] == fitted["forecast"], f"{r.field}: {REBUILD}"
        assert json.loads(shipped.documents[r.hash])["backtest"] == fitted["backtest"], f"{r.field}: {REBUILD}"
    assert len(shipped.documents) == len(refs), "the shipped file carries documents no series uses"


def test_a_first_load_with_shipped_documents_fits_nothing(store: Store, shipped: ShippedForecasts) -> None:
    gen = _load(store)
    before = int(store.r.get(keys.forecasts_version()) or 0)
    done = outlook.install_shipped(store, gen, shipped)
    assert done.installed == len(outlook.read_index(store, gen)) and done.missing == [] and done.calibrations == 1
    assert outlook.pending(store, gen) == []
    assert forecast_pending(store) == 0  # the job that fits pending forecasts has nothing to do
    assert int(store.r.get(keys.forecasts_version()) or 0) == before + 1  # ETags change: documents appeared
    doc = json.loads(outlook.read_forecast(store, gen, "domain", "coding", "score_gap") or b"{}")
    assert doc["generation"] == outlook.SHIPPED_GENERATION and doc["forecast"]["target"] == "coding"
    assert 0 < store.r.ttl(outlook.doc_key(outlook.read_index(store, gen)[0].hash)) <= outlook.FORECAST_TTL_S
    again = outlook.install_shipped(store, gen, shipped)  # nothing is overwritten or counted twice
    assert (again.installed, again.present) == (0, done.installed)


def test_a_stale_shipped_file_costs_only_the_fits_of_what_it_lacks(store: Store, shipped: ShippedForecasts) -> None:
    gen = _load(store)
    ref = next(r for r in outlook.read_index(store, gen) if r.field == "domain:math:lag_days")
    partial = replace(shipped, documents={h: d for h, d in shipped.documents.items() if h != ref.hash})
    done = outlook.install_shipped(store, gen, partial)
    assert [r.field for r in done.missing] == [ref.field] and done.installed == len(shipped.documents) - 1
    assert [r.field for r in outlook.pending(store, gen)] == [ref.field]
    assert forecast_pending(store) == 1 and outlook.pending(store, gen) == []  # exactly the one is fitted


def test_shipped_documents_of_another_engine_are_never_installed(store: Store, shipped: ShippedForecasts) -> None:
    gen = _load(store)
    done = outlook.install_shipped(store, gen, replace(shipped, engine_version="3"))
    assert done.installed == 0 and "engine 3" in done.reason and len(done.missing) == len(shipped.documents)
    assert len(outlook.pending(store, gen)) == len(shipped.documents)


def test_a_corrupt_forecasts_file_is_a_clear_error(shipped: ShippedForecasts) -> None:
    assert parse_forecasts(encode_forecasts(shipped)) == shipped
    with pytest.raises(SnapshotError, match="not gzip'd JSON"):
        parse_forecasts(b"nope")
    bad = encode_forecasts(replace(shipped, documents={"abc": 1}))  # type: ignore[dict-item]
    with pytest.raises(SnapshotError, match="field documents"):
        parse_forecasts(bad)


def test_gapcast_load_says_what_it_installed_and_forecast_then_fits_nothing(redis_url: str, tmp_path: Path) -> None:
    env = {"GAPCAST_REDIS_URL": redis_url, "GAPCAST_DATA_DIR": str(tmp_path)}
    loaded = CliRunner().invoke(cli, ["load"], env=env, catch_exceptions=False)
    assert loaded.exit_code == 0, loaded.output
    found = re.search(r"shipped forecasts: (\d+) installed, 0 already stored", loaded.output)
    assert found and int(found.group(1)) >= 150, loaded.output  # every series of the bundled data
    assert "will be fitted" not in loaded.output, loaded.output
    out = CliRunner().invoke(cli, ["forecast", "--json"], env=env, catch_exceptions=False)
    assert out.exit_code == 0 and "forecast " not in out.stderr  # "forecast N series in X s" means a fit
    rows: list[dict[str, Any]] = json.loads(out.stdout)
    assert rows and all(r["trajectory"] or r["status"] == "insufficient_data" for r in rows)
