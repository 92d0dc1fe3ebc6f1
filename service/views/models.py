"""Models: the canonical models of the current generation, filtered and paginated, and one model by id.

Every model carries its organisation and that organisation's country (ISO 3166-1 alpha-2, from
forecasts/data/organisations.toml; "" when unknown). A model id that was renamed or merged (an alias of
another model, e.g. `claude-opus-4-6` -> `claude-opus-4.6`) answers `GET /v1/models/<old id>` with a 308
redirect to the model's current URL, so links made before the rename keep working.
"""

from __future__ import annotations

import json
from datetime import date
from typing import Any

from flask import Response, request

from forecasts.records.organisations import country_of
from forecasts.storage import keys
from service.errors import NotFound
from service.http import current, etag_matches, json_response, not_modified, page_response, store
from service.views.params import Blueprint, ModelsQuery, NoQuery

bp = Blueprint("models", __name__, url_prefix="/v1/models", description="Canonical models.")

COLUMNS = ("id", "name", "organization", "country", "release_date", "access", "licence", "aliases")


def _with_country(m: dict[str, Any]) -> dict[str, Any]:
    """A stored model dict with `country` (records stored before the field get it from their organisation)."""
    return {**m, "country": m.get("country") or country_of(m.get("organization"))}


@bp.route("")
@bp.arguments(ModelsQuery(), location="query", as_kwargs=True, error_status_code=400)
@bp.response(200, description="Models sorted by release date (newest first), then id; `Link` names the next "
                              "page.")
def list_models(format: str, access: str | None, organization: str | None, since: date | None, limit: int,
                offset: int) -> Response:
    """Canonical models with their access class, release date, organisation, country and aliases."""
    gen, tag = current()
    if etag_matches(tag):
        return not_modified(tag)
    models = [_with_country(json.loads(raw)) for raw in store().r.hvals(keys.gen_models(gen))]
    rows = [m for m in models if _keep(m, access, organization, since)]
    rows.sort(key=lambda m: (m["release_date"], m["id"]), reverse=True)
    return page_response(rows, offset, limit, (gen, tag), format, name="models", columns=COLUMNS)


@bp.route("/<model_id>")
@bp.arguments(NoQuery(), location="query", error_status_code=400)
@bp.response(200, description="The model (organisation, country, licence as an SPDX id, aliases) and its "
                              "score on every benchmark that has one.")
@bp.alt_response(308, description="A former id or alias of a model: redirects to the model's current URL.")
@bp.alt_response(404, description="No model has this id or alias.")
def get_model(_query: dict[str, Any], model_id: str) -> Response:
    """One canonical model with its scores; a former id (renamed or merged model) redirects (308)."""
    gen, tag = current()
    r = store().r
    raw = r.hget(keys.gen_models(gen), model_id)
    if raw is None:
        target = _alias_owner(gen, model_id)
        if target is None:
            raise NotFound(f"no model {model_id!r}", [{"field": "model_id", "message": "unknown model id or alias"}])
        query = request.query_string.decode()
        url = f"{bp.url_prefix}/{target}" + (f"?{query}" if query else "")
        moved = Response(json.dumps({"ok": True, "moved_to": url, "model": target}), status=308,
                         mimetype="application/json")
        moved.headers["Location"] = url
        return moved
    if etag_matches(tag):
        return not_modified(tag)
    model = _with_country(json.loads(raw))
    bench_ids = sorted(b.decode() if isinstance(b, bytes) else b for b in r.hkeys(keys.gen_benchmarks(gen)))
    pipe = r.pipeline(transaction=False)
    for b_id in bench_ids:
        pipe.hget(keys.gen_scores(gen, b_id), model_id)
    scores = []
    for b_id, found in zip(bench_ids, pipe.execute(), strict=True):
        if found is not None:
            s = json.loads(found)
            scores.append({"benchmark": b_id, "value": s["value"], "stderr": s.get("stderr"),
                           "source": s.get("source", ""), "retrieved_at": s.get("retrieved_at", "")})
    return json_response({"generation": gen, "model": model, "scores": scores}, tag)


def _alias_owner(gen: str, name: str) -> str | None:
    """The id of the one model that has `name` (case-insensitive) as an alias, or None (unknown or shared)."""
    wanted = name.casefold()
    owners = {m["id"] for m in (json.loads(v) for v in store().r.hvals(keys.gen_models(gen)))
              if any(a.casefold() == wanted for a in m.get("aliases") or ())}
    return owners.pop() if len(owners) == 1 else None


def _keep(m: dict[str, Any], access: str | None, organization: str | None, since: date | None) -> bool:
    if access and m["access"] != access:
        return False
    if organization and (m.get("organization") or "").casefold() != organization.casefold():
        return False
    return not (since and m["release_date"] < since.isoformat())
