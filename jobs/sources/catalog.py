"""The shipped benchmark catalogue (forecasts/data/benchmark_catalog.toml), as the connectors read it.

Each entry says which source holds a benchmark and where (Epoch: `file`/`column`/`value_factor`/stderr
fields; AA: `key`; LMArena: `category`, ...). Templates are applied, so every entry is complete, and
`launched` (`YYYY-MM` in the file) is the first day of that month as a `date` (None when absent).
"""

from __future__ import annotations

import math
import tomllib
from functools import cache
from importlib import resources
from typing import Any

from forecasts.records.model import launch_month


@cache
def catalog() -> dict[str, Any]:
    """The whole parsed catalogue (read once per process)."""
    text = resources.files("forecasts.data").joinpath("benchmark_catalog.toml").read_text(encoding="utf-8")
    return tomllib.loads(text)


def entries(source: str | None = None) -> list[dict[str, Any]]:
    """Benchmark entries with their template applied (NaN = null, `launched` a date), optionally only those
    of `source`. Raises ValueError naming the benchmark when its `launched` is not `YYYY-MM`."""
    doc = catalog()
    out = []
    for raw in doc["benchmark"]:
        entry = {**doc.get("templates", {}).get(raw.get("template", ""), {}), **raw}
        entry = {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in entry.items()}
        try:
            entry["launched"] = launch_month(entry.get("launched"))
        except ValueError as exc:
            raise ValueError(f"benchmark catalogue: {entry.get('id')!r}: launched: {exc}") from None
        if source is None or entry.get("source") == source:
            out.append(entry)
    return out


def aliases() -> dict[str, str]:
    """Hand-checked spellings no rule can reach: source name -> canonical model id."""
    return dict(catalog().get("aliases", {}))
