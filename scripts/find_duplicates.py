#!/usr/bin/env python3
"""List likely duplicate and wrongly merged models in a snapshot, for a reviewer (issue 11).

    python scripts/find_duplicates.py [--snapshot forecasts/data/snapshot.json.gz] [--raw ../shared/data/raw]

Three checks, each printing its candidates and a count:

* ``epoch-same-name``: Epoch ECI versions with the same ``Model name``, organisation and release date that
  are separate canonical models (``open-mistral-7b`` / ``Mistral-7B-v0.1``, ``gpt-4-turbo`` /
  ``gpt-4-1106-preview``): Epoch's own table says they are one model.
* ``same-day-subset``: two models of one organisation, access and release date whose name keys differ only
  by words that do not make a different model (``open``, ``instruct``, ``chat``, ``preview``, a ``v0.1``).
* ``absorbed-variant``: a model whose aliases name a context length or size (``128k``, ``4k``, ``8b``)
  that its own id does not, so it may have absorbed a sibling (``phi-3-mini-128k-instruct``).

Candidates are for a human: confirmed ones go to forecasts/data/names.toml (``[[same_model]]`` or
``[[model]]``), which scripts/build_snapshot.py applies.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import json
import re
import sys
from collections import defaultdict
from itertools import combinations
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from forecasts.names import name_key  # noqa: E402

NOISE = {"open", "instruct", "chat", "preview", "latest", "hf", "it", "v0.1", "v1", "v1.0", "base"}
SIZE = re.compile(r"^\d+(?:\.\d+)?[kb]$")


def epoch_same_name(models: list[dict[str, Any]], eci: Path) -> list[tuple[str, ...]]:
    """Groups of canonical ids that hold Epoch versions sharing Model name, organisation and date."""
    owner: dict[str, str] = {}
    for m in models:
        for a in m["aliases"]:
            owner.setdefault(a.lower(), m["id"])
    groups: dict[tuple[str, str, str], set[str]] = defaultdict(set)
    with eci.open(newline="", encoding="utf-8-sig") as fh:
        for r in csv.DictReader(fh):
            version, mname = r["Model version"].strip(), " ".join(r["Model name"].split())
            mid = owner.get(version.lower())
            if version and mname and mid:
                groups[(mname, r["Organization"].strip(), r["Release date"].strip())].add(mid)
    return sorted(tuple(sorted(ids)) for ids in groups.values() if len(ids) > 1)


def same_day_subset(models: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """Pairs of same-day, same-organisation, same-access models whose keys differ only by NOISE words."""
    by_day: dict[tuple[str, str, str], list[dict[str, Any]]] = defaultdict(list)
    for m in models:
        by_day[(m["organization"].split(",")[0].strip().lower(), m["release_date"], m["access"])].append(m)
    out = []
    for group in by_day.values():
        for a, b in combinations(sorted(group, key=lambda m: m["id"]), 2):
            ka, kb = (set(name_key(x["id"]).split("-")) - NOISE for x in (a, b))
            if ka == kb and ka:
                out.append((a["id"], b["id"]))
    return out


def absorbed_variant(models: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """(model id, alias) where the alias names a size / context length the id does not."""
    out = []
    for m in models:
        own = {t for t in name_key(m["id"]).split("-") if SIZE.match(t)}
        for a in m["aliases"]:
            extra = {t for t in name_key(a).split("-") if SIZE.match(t)} - own
            # an alias with a size the id lacks is fine when the id has no size at all and the alias adds
            # only a parameter count (Epoch's "Mistral 7B" for a model named without it)
            if extra and (own or any(t.endswith("k") for t in extra)):
                out.append((m["id"], a))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--snapshot", type=Path, default=REPO / "forecasts" / "data" / "snapshot.json.gz")
    parser.add_argument("--raw", type=Path, default=REPO.parent / "shared" / "data" / "raw")
    args = parser.parse_args(argv)
    models = json.loads(gzip.decompress(args.snapshot.read_bytes()))["models"]
    eci = args.raw / "epoch_benchmarking_hub" / "epoch_capabilities_index.csv"
    checks: list[tuple[str, list[tuple[str, ...]]]] = [
        ("epoch-same-name", epoch_same_name(models, eci) if eci.exists() else []),
        ("same-day-subset", [tuple(p) for p in same_day_subset(models)]),
        ("absorbed-variant", [tuple(p) for p in absorbed_variant(models)]),
    ]
    for name, found in checks:
        print(f"{name}: {len(found)}")
        for row in found:
            print("  " + " | ".join(row))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
