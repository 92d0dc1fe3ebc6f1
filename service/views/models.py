"""Models: the canonical models of the current generation, filtered and paginated."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

from flask import Response

from forecasts import keys
from service.http import csv_response, current, etag_matches, json_response, not_modified, store
from service.views.params import Blueprint, ModelsQuery

bp = Blueprint("models", __name__, url_prefix="/v1/models", description="Canonical models.")

COLUMNS = ("id", "name", "organization", "release_date", "access", "licence", "aliases")


@bp.route("")
@bp.arguments(ModelsQuery(), location="query", as_kwargs=True, error_status_code=400)
@bp.response(200, description="Models sorted by release date (newest first), then id.")
def list_models(format: str, access: str | None, organization: str | None, since: date | None, limit: int,
                offset: int) -> Response:
    """Canonical models with their access class, release date and aliases."""
    gen, tag = current()
    if etag_matches(tag):
        return not_modified(tag)
    models = [json.loads(raw) for raw in store().r.hvals(keys.gen_models(gen))]
    rows = [m for m in models if _keep(m, access, organization, since)]
    rows.sort(key=lambda m: (m["release_date"], m["id"]), reverse=True)
    page = rows[offset : offset + limit]
    if format == "csv":
        return csv_response(page, COLUMNS, tag, "models.csv")
    nxt = offset + limit if offset + limit < len(rows) else None
    return json_response({"generation": gen, "total": len(rows), "offset": offset, "limit": limit,
                          "next_offset": nxt, "models": page}, tag)


def _keep(m: dict[str, Any], access: str | None, organization: str | None, since: date | None) -> bool:
    if access and m["access"] != access:
        return False
    if organization and (m.get("organization") or "").casefold() != organization.casefold():
        return False
    return not (since and m["release_date"] < since.isoformat())
