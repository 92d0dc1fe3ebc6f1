"""Organisation -> country (ISO 3166-1 alpha-2), from the sourced table forecasts/data/organisations.toml.

The table is read once, lazily (no import-time side effects). Names match case-insensitively, with the
table's `aliases`; a model naming several organisations (``"DeepSeek,Peking University"``) takes the
first one's country. An organisation not in the table has no country ("" ), never a guess.
"""

from __future__ import annotations

import functools
import re
import tomllib
from importlib import resources
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # forecasts.records.model imports this module (country_of): the types only, at check time
    from forecasts.records.model import Dataset, Model

__all__ = ["OrganisationTableError", "by_organisation", "country_of", "organisation_table"]

_ISO2 = re.compile(r"[A-Z]{2}")


class OrganisationTableError(ValueError):
    """organisations.toml is malformed (names the row and field)."""


def _norm(name: str) -> str:
    return " ".join(name.split()).casefold()


def parse_table(text: str, origin: str = "organisations.toml") -> dict[str, str]:
    """Normalised organisation name (and alias) -> ISO 3166-1 alpha-2 code. Raises OrganisationTableError
    when a row lacks `name`, `country` (two capital letters) or `source`, or when two rows claim one name."""
    rows = tomllib.loads(text).get("organisation", [])
    table: dict[str, str] = {}
    for i, row in enumerate(rows, start=1):
        where = f"{origin}: organisation {i} ({row.get('name', '?')!r})"
        for fld in ("name", "country", "source"):
            if not isinstance(row.get(fld), str) or not row[fld].strip():
                raise OrganisationTableError(f"{where}, field '{fld}': missing or empty")
        if not _ISO2.fullmatch(row["country"]):
            raise OrganisationTableError(f"{where}, field 'country': {row['country']!r} is not ISO 3166 alpha-2")
        for name in [row["name"], *row.get("aliases", [])]:
            key = _norm(name)
            if key in table and table[key] != row["country"]:
                raise OrganisationTableError(f"{where}, field 'name': {name!r} is listed twice")
            table[key] = row["country"]
    return table


@functools.cache
def organisation_table() -> dict[str, str]:
    """The shipped table (read on first use)."""
    text = resources.files("forecasts.data").joinpath("organisations.toml").read_text(encoding="utf-8")
    return parse_table(text)


def country_of(organization: str | None) -> str:
    """ISO 3166-1 alpha-2 country of `organization` (its first listed organisation), or "" when unknown."""
    first = (organization or "").split(",")[0]
    return organisation_table().get(_norm(first), "") if first.strip() else ""


def _org_matches(organization: str, wanted: str) -> bool:
    """Whether `wanted` names one of the organisations listed in `organization` (case-insensitive), directly
    or through the table (a query "Meta" matches "Meta AI": both are one row)."""
    listed = [_norm(o) for o in organization.split(",") if o.strip()]
    want = _norm(wanted)
    if want in listed:
        return True
    rows = _rows_by_name()
    return want in rows and any(rows.get(o) == rows[want] for o in listed)


@functools.cache
def _rows_by_name() -> dict[str, int]:
    """Normalised organisation name or alias -> its row number in the shipped table (one row, one lab)."""
    text = resources.files("forecasts.data").joinpath("organisations.toml").read_text(encoding="utf-8")
    out: dict[str, int] = {}
    for i, row in enumerate(tomllib.loads(text).get("organisation", [])):
        for name in [row["name"], *row.get("aliases", [])]:
            out[_norm(name)] = i
    return out


def by_organisation(data: Dataset, *, closed_country: str | None = None, open_country: str | None = None,
                    closed_org: str | None = None, open_org: str | None = None) -> Dataset:
    """`data` with only the closed models of `closed_country` / `closed_org` and the open models of
    `open_country` / `open_org` (a filter left None keeps its whole class), and their scores: the frontiers of
    "US closed vs Chinese open" or "OpenAI vs Meta". Countries are ISO 3166-1 alpha-2 (case-insensitive)."""
    from forecasts.records.model import (  # here, not at the top: forecasts.records.model imports this module
        Access,
        Dataset,
    )

    def keep(m: Model) -> bool:
        country, org = (closed_country, closed_org) if m.access is Access.CLOSED else (open_country, open_org)
        return (not country or m.country == country.upper()) and (not org or _org_matches(m.organization, org))

    models = {mid: m for mid, m in data.models.items() if keep(m)}
    scores = {k: s for k, s in data.scores.items() if k[1] in models}
    return Dataset(models, dict(data.benchmarks), scores)
