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

__all__ = ["OrganisationTableError", "country_of", "organisation_table"]

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
