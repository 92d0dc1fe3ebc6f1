"""Raw scores: every per-model score of the current generation, with its source and retrieval date."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

from flask import Response
from marshmallow import fields, validate

from forecasts.storage import keys
from service.credit import provider_of_source
from service.errors import BadRequest
from service.http import current, etag_matches, not_modified, page_response, store
from service.views.params import NO_CONTROL_CHARS, Blueprint, FormatQuery, IsoDate

bp = Blueprint("scores", __name__, url_prefix="/v1/scores", description="Raw per-model scores.")

COLUMNS = ("benchmark", "model", "model_name", "organization", "access", "release_date", "value", "stderr",
           "unit", "source", "publisher", "retrieved_at", "first_seen")
MAX_LIMIT = 5000


class ScoresQuery(FormatQuery):
    """Filters and pagination for the raw scores."""

    benchmark = fields.String(load_default=None, validate=[validate.Length(min=1, max=200), NO_CONTROL_CHARS],
                              metadata={"description": "Only this benchmark id (`GET /v1/benchmarks`)."})
    model = fields.String(load_default=None, validate=[validate.Length(min=1, max=300), NO_CONTROL_CHARS],
                          metadata={"description": "Only this model: its id, or any of its aliases "
                                                   "(case-insensitive)."})
    since = IsoDate(load_default=None, metadata={"description": "Only scores gapcast first saw on or after this "
                                                                "date (UTC), YYYY-MM-DD: what is new since a sync."})
    limit = fields.Integer(load_default=500, validate=validate.Range(min=1, max=MAX_LIMIT),
                           metadata={"description": f"Page size, 1-{MAX_LIMIT}."})
    offset = fields.Integer(load_default=0, validate=validate.Range(min=0, max=10_000_000),
                            metadata={"description": "Rows to skip (follow the `Link: rel=\"next\"` header)."})


@bp.route("")
@bp.arguments(ScoresQuery(), location="query", as_kwargs=True, error_status_code=400)
@bp.response(200, description="Scores sorted by benchmark then model id; `Link` names the next page.")
def list_scores(format: str, benchmark: str | None, model: str | None, since: date | None, limit: int,
                offset: int) -> Response:
    """Raw per-model scores with their value, stderr, source, publisher, retrieval date and first-seen time."""
    gen, tag = current()
    if etag_matches(tag):
        return not_modified(tag)
    return page_response(_rows(gen, benchmark, model, since), offset, limit, (gen, tag), format, name="scores",
                         columns=COLUMNS)


def _rows(gen: str, benchmark: str | None, model: str | None, since: date | None) -> list[dict[str, Any]]:
    """The filtered score rows of `gen`, sorted. Raises BadRequest naming an unknown benchmark or model."""
    r = store().r
    benches = {_text(k): json.loads(v) for k, v in r.hgetall(keys.gen_benchmarks(gen)).items()}
    models = {_text(k): json.loads(v) for k, v in r.hgetall(keys.gen_models(gen)).items()}
    if benchmark is not None and benchmark not in benches:
        raise BadRequest(f"no benchmark {benchmark!r}", [{"field": "benchmark", "message": "unknown benchmark id"}])
    model_id = _model_id(models, model) if model is not None else None
    ids = [benchmark] if benchmark is not None else sorted(benches)
    pipe = r.pipeline(transaction=False)
    for b in ids:
        if model_id is None:
            pipe.hgetall(keys.gen_scores(gen, b))
        else:
            pipe.hmget(keys.gen_scores(gen, b), [model_id])
    out = []
    for b, found in zip(ids, pipe.execute(), strict=True):
        pairs = found.items() if model_id is None else [(model_id, found[0])]
        for mid, raw in sorted(((_text(k), v) for k, v in pairs if v is not None), key=lambda kv: kv[0]):
            row = _row(b, mid, json.loads(raw), benches[b], models.get(mid) or {})
            if since is None or (row["first_seen"] or "") >= since.isoformat():
                out.append(row)
    return out


def _model_id(models: dict[str, dict[str, Any]], name: str) -> str:
    """The id of the model called `name` (its id, else a case-insensitive id or alias). Raises BadRequest."""
    if name in models:
        return name
    folded = name.casefold()
    hits = sorted(mid for mid, m in models.items()
                  if mid.casefold() == folded or any(a.casefold() == folded for a in m.get("aliases") or ()))
    if len(hits) == 1:
        return hits[0]
    message = "unknown model id or alias" if not hits else f"several models answer to it: {', '.join(hits[:5])}"
    raise BadRequest(f"model {name!r}: {message}", [{"field": "model", "message": message}])


def _row(benchmark: str, model_id: str, score: dict[str, Any], bench: dict[str, Any],
         model: dict[str, Any]) -> dict[str, Any]:
    source = score.get("source") or ""
    seen = score.get("first_seen") or (f"{score['retrieved_at']}T00:00:00+00:00" if score.get("retrieved_at")
                                       else "")
    return {"benchmark": benchmark, "model": model_id, "model_name": model.get("name"),
            "organization": model.get("organization") or None, "access": model.get("access"),
            "release_date": model.get("release_date"), "value": score["value"], "stderr": score.get("stderr"),
            "unit": bench.get("unit"), "source": source or None, "publisher": provider_of_source(source),
            "retrieved_at": score.get("retrieved_at") or None, "first_seen": seen or None}


def _text(v: bytes | str) -> str:
    return v.decode() if isinstance(v, bytes) else v
