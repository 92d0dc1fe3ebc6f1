"""The bundled snapshot: real public data shipped inside the package (built by scripts/build_snapshot.py)."""

from __future__ import annotations

import gzip
import json
from dataclasses import dataclass, field
from importlib import resources
from typing import Any, cast

from forecasts.records.model import Benchmark, Dataset, Exclusion, Model, Score

SCHEMA = 1


MERGE_FIELDS = ("source", "name", "id", "rule", "variant")


class SnapshotError(ValueError):
    """The snapshot file is unreadable or of an unknown schema."""


@dataclass(frozen=True)
class Snapshot:
    """The parsed snapshot: its dataset, what was excluded and why, and the sources it credits. `merges` lists
    every source name the builder's matcher merged into a canonical model: `{source, name, id, rule,
    variant}` (`variant`: the configuration tags the name carried, "" when none)."""

    data: Dataset
    exclusions: list[Exclusion]
    sources: list[dict[str, Any]]
    merges: list[dict[str, str]] = field(default_factory=list)


def bundled_bytes() -> bytes:
    """The gzip'd snapshot file shipped with gapcast."""
    return resources.files("forecasts.data").joinpath("snapshot.json.gz").read_bytes()


def parse_snapshot(raw: bytes) -> Snapshot:
    """Parse a gzip'd snapshot. Raises SnapshotError on a corrupt file or unknown schema."""
    try:
        doc = json.loads(gzip.decompress(raw))
    except (OSError, EOFError, ValueError) as exc:
        raise SnapshotError(f"snapshot is not gzip'd JSON: {exc}") from exc
    if doc.get("schema") != SCHEMA:
        raise SnapshotError(f"snapshot schema {doc.get('schema')!r} is not supported (expected {SCHEMA})")
    data = Dataset()
    for b in doc["benchmarks"]:
        bench = Benchmark.from_dict(b)
        data.benchmarks[bench.id] = bench
    for m in doc["models"]:
        model = Model.from_dict(m)
        data.models[model.id] = model
    fields = doc["score_fields"]
    for row in doc["scores"]:
        s = Score.from_dict(dict(zip(fields, row, strict=True)))
        data.scores[(s.benchmark, s.model)] = s
    exclusions = [Exclusion(**e) for e in doc.get("exclusions", [])]
    merges = [{k: str(m.get(k) or "") for k in MERGE_FIELDS} for m in doc.get("merges", [])]
    return Snapshot(data, exclusions, doc.get("built_from", []), merges)


# --- shipped forecasts -------------------------------------------------------------------------------
# A separate file, not a part of the snapshot: the snapshot is facts (any engine reads them), the forecasts are
# one engine version's output for exactly those facts. Kept apart, the snapshot's schema and parsing stay as
# they are, reading the data never pays for ~200 forecast documents, and a forecasts file that no longer
# matches (older engine, rebuilt data) costs nothing but the fits of the documents it lacks.

FORECASTS_FILE = "forecasts.json.gz"
FORECASTS_SCHEMA = 1


@dataclass(frozen=True)
class ShippedForecasts:
    """Precomputed forecast documents of the bundled snapshot, content-addressed like the store's.

    `documents`: series data hash -> the stored document's JSON text (as `outlook.doc_key(hash)` holds it);
    `calibrations`: calibration digest -> the engine calibration's JSON text; both made by `engine_version`.
    """

    engine_version: str
    documents: dict[str, str]
    calibrations: dict[str, str]


def bundled_forecasts_bytes() -> bytes | None:
    """The gzip'd forecasts file shipped with gapcast, or None when the package has none."""
    res = resources.files("forecasts.data").joinpath(FORECASTS_FILE)
    return res.read_bytes() if res.is_file() else None


def encode_forecasts(shipped: ShippedForecasts) -> bytes:
    """The gzip'd JSON of `shipped`, byte-for-byte reproducible for the same documents (sorted, mtime 0)."""
    doc = {"schema": FORECASTS_SCHEMA, "engine_version": shipped.engine_version,
           "documents": shipped.documents, "calibrations": shipped.calibrations}
    text = json.dumps(doc, sort_keys=True, separators=(",", ":"))
    return gzip.compress(text.encode(), compresslevel=9, mtime=0)


def parse_forecasts(raw: bytes) -> ShippedForecasts:
    """Parse a gzip'd forecasts file. Raises SnapshotError on a corrupt file or unknown schema, naming the
    field that is wrong."""
    try:
        doc = json.loads(gzip.decompress(raw))
    except (OSError, EOFError, ValueError) as exc:
        raise SnapshotError(f"{FORECASTS_FILE} is not gzip'd JSON: {exc}") from exc
    if not isinstance(doc, dict) or doc.get("schema") != FORECASTS_SCHEMA:
        got = doc.get("schema") if isinstance(doc, dict) else None
        raise SnapshotError(f"{FORECASTS_FILE}: schema {got!r} is not supported (expected {FORECASTS_SCHEMA})")
    version, docs, cals = doc.get("engine_version"), doc.get("documents"), doc.get("calibrations")
    if not isinstance(version, str):
        raise SnapshotError(f"{FORECASTS_FILE}: field engine_version must be a string, got {version!r}")
    for name, part in (("documents", docs), ("calibrations", cals)):
        if not isinstance(part, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in part.items()):
            raise SnapshotError(f"{FORECASTS_FILE}: field {name} must map strings to JSON strings")
    return ShippedForecasts(version, cast(dict[str, str], docs), cast(dict[str, str], cals))
