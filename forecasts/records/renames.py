"""The last naming pass over a built snapshot (issue 11): one id style, SPDX licences, countries.

`finish_models` runs after every merge is decided (scripts/build_snapshot.py calls it on the output
document): ids take gapcast's one style (forecasts.records.names.styled_id, a date suffix only where a provider ships
several dated versions), every former id stays an alias so old API URLs keep resolving, licences become SPDX
ids (forecasts.records.licences) and each model gets its organisation's country (forecasts.records.organisations).
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from forecasts.records.licences import spdx_licence
from forecasts.records.names import date_stamp, date_suffix, drop_lone_dates, styled_id
from forecasts.records.organisations import country_of

__all__ = ["finish_models"]


def _alias_order(s: str) -> tuple[str, str]:
    return (s.lower(), s)


def finish_models(doc: dict[str, Any], former_ids: dict[str, str]) -> dict[str, str]:
    """Rename, in place, the models of a snapshot document (``models``, ``scores`` rows whose first field is
    the model id, ``merges``) to the one id style; returns {old id: new id} for the ids that changed.

    ``former_ids`` maps an id of an earlier snapshot to its new id (forecasts/data/names.toml
    [former_ids]); each becomes an alias of that model. Raises ValueError when a former id's target is not
    a model, or when two models would get one id."""
    models = doc["models"]
    styled = {m["id"]: styled_id(m["id"]) for m in models}
    claimed: dict[str, set[str]] = defaultdict(set)
    for m in models:
        for a in [*m["aliases"], m["id"]]:
            claimed[a.lower()].add(styled[m["id"]])
        split = date_suffix(styled[m["id"]])
        if split and date_stamp(m["name"]):
            # the model's own name carries the date ("Command R (08-2024)"): the date is part of its name
            claimed[split[0]].add("(dated name)")
    final = drop_lone_dates(sorted(set(styled.values())), claimed)
    rename = {old: final[new] for old, new in styled.items()}
    if len(set(rename.values())) != len(rename):
        raise ValueError("one id style: two models would share an id")
    targets = set(rename.values())
    extra: dict[str, set[str]] = defaultdict(set)
    for old, new in former_ids.items():
        new = rename.get(new, new)
        if new not in targets:
            raise ValueError(f"names.toml [former_ids]: {old!r} -> {new!r}, which is not a model")
        extra[new].add(old)
    for m in models:
        old = m["id"]
        m["id"] = rename[old]
        aliases = {*m["aliases"], old, m["id"], *extra[m["id"]]}
        m["aliases"] = sorted(aliases, key=_alias_order)
        licence = spdx_licence(m.get("licence"))
        m["licence"] = licence
        m["country"] = country_of(m.get("organization"))
    models.sort(key=lambda m: m["id"])
    for row in doc["scores"]:
        row[0] = rename.get(row[0], row[0])
    doc["scores"].sort(key=lambda r: (r[0], r[1]))
    for merge in doc.get("merges", []):
        merge["id"] = rename.get(merge["id"], merge["id"])
    return {old: new for old, new in rename.items() if old != new}
