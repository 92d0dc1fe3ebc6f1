"""The bundled snapshot: real public data shipped inside the package (built by scripts/build_snapshot.py)."""

from __future__ import annotations

import gzip
import json
from dataclasses import dataclass
from importlib import resources
from typing import Any

from forecasts.model import Benchmark, Dataset, Exclusion, Model, Score

SCHEMA = 1


class SnapshotError(ValueError):
    """The snapshot file is unreadable or of an unknown schema."""


@dataclass(frozen=True)
class Snapshot:
    """The parsed snapshot: its dataset, what was excluded and why, and the sources it credits."""

    data: Dataset
    exclusions: list[Exclusion]
    sources: list[dict[str, Any]]


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
    return Snapshot(data, exclusions, doc.get("built_from", []))
