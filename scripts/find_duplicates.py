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

With ``--compare OLD.json.gz`` (an earlier snapshot, e.g. ``git show <rev>:forecasts/data/snapshot.json.gz``)
it also prints the naming figures of issue 11: merges by rule, configuration variants folded, ids renamed,
licences normalised, and the closed / open leader of every Artificial Analysis benchmark before and after.

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

from forecasts.records.names import name_key  # noqa: E402

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


def leaders(doc: dict[str, Any]) -> dict[str, tuple[str, str]]:
    """Per ``aa-*`` benchmark, (closed leader, open leader): the best score of each class (any date)."""
    access = {m["id"]: m["access"] for m in doc["models"]}
    higher = {b["id"]: b["higher_is_better"] for b in doc["benchmarks"]}
    best: dict[tuple[str, str], tuple[float, str]] = {}
    for row in doc["scores"]:
        model, bench, value = row[0], row[1], row[2]
        if not bench.startswith("aa-") or value is None or model not in access:
            continue
        key, v = (bench, access[model]), value if higher[bench] else -value
        if key not in best or (v, model) > best[key]:
            best[key] = (v, model)
    benches = sorted({b for b, _ in best})
    return {b: (best.get((b, "closed"), (0, "-"))[1], best.get((b, "open"), (0, "-"))[1]) for b in benches}


def compare(old: dict[str, Any], new: dict[str, Any]) -> None:
    """Print the naming figures: merges, variants folded, ids renamed, licences normalised, AA leaders."""
    merges = new.get("merges", [])
    rules: dict[str, int] = defaultdict(int)
    for m in merges:
        rules[m["rule"]] += 1
    print(f"merges: {len(merges)} source names merged into a canonical model")
    for rule, n in sorted(rules.items(), key=lambda kv: -kv[1]):
        print(f"  {n:5d}  {rule}")
    print(f"variants folded: {sum(1 for m in merges if m['variant'])} merged names carried configuration tags")
    new_ids = {m["id"] for m in new["models"]}
    owner = {a.lower(): m["id"] for m in new["models"] for a in m["aliases"]}
    gone = [m["id"] for m in old["models"] if m["id"] not in new_ids]
    renamed = [(i, owner.get(i.lower(), "?")) for i in gone]
    print(f"ids renamed or merged: {len(renamed)} of {len(old['models'])} earlier ids "
          f"({sum(1 for _, n in renamed if n == '?')} no longer resolve)")
    old_lic = {m["id"]: m.get("licence") for m in old["models"]}
    former = {n: i for i, n in renamed}
    changed = [m for m in new["models"]
               if (o := old_lic.get(m["id"], old_lic.get(former.get(m["id"], "")))) is not None
               and o != m.get("licence")]
    print(f"licences normalised: {len(changed)} models' licence text became an SPDX id "
          f"({len({m.get('licence') for m in old['models']} - {None})} distinct spellings before, "
          f"{len({m.get('licence') for m in new['models']} - {None})} ids after)")
    before, after = leaders(old), leaders(new)
    print("AA leaders (closed | open), before -> after:")
    for b in sorted(set(before) | set(after)):
        was, now = before.get(b, ("-", "-")), after.get(b, ("-", "-"))
        mark = "" if tuple(owner.get(x.lower(), x) for x in was) == now else "   (changed)"
        print(f"  {b:<36} {was[0]} | {was[1]}  ->  {now[0]} | {now[1]}{mark}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--snapshot", type=Path, default=REPO / "forecasts" / "data" / "snapshot.json.gz")
    parser.add_argument("--raw", type=Path, default=REPO.parent / "shared" / "data" / "raw")
    parser.add_argument("--compare", type=Path, help="an earlier snapshot: print the naming figures against it")
    args = parser.parse_args(argv)
    doc = json.loads(gzip.decompress(args.snapshot.read_bytes()))
    models = doc["models"]
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
    if args.compare:
        compare(json.loads(gzip.decompress(args.compare.read_bytes())), doc)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
