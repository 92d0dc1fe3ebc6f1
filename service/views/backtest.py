"""The rolling-origin backtest of every published forecast."""

from __future__ import annotations

import json
from typing import Any

from flask import Response

from forecasts.storage import keys
from service.forecast_docs import forecast_bytes
from service.http import csv_response, current, etag_matches, json_response, not_modified, store
from service.views.params import Blueprint, FormatQuery

bp = Blueprint("backtest", __name__, url_prefix="/v1/backtest", description="Forecast accuracy by backtest.")

COLUMNS = ("series", "kind", "target", "metric", "published_model", "model", "mae_3", "mae_6", "mae_12",
           "coverage_80", "n")


@bp.route("")
@bp.arguments(FormatQuery(), location="query", as_kwargs=True, error_status_code=400)
@bp.response(200, description="Per series and model: MAE at 3/6/12 months, 80% coverage, pairs.")
def backtest(format: str) -> Response:
    """How the published forecast and the random walk (`last_value`) did in the backtest, per series."""
    gen, tag = current()
    if etag_matches(tag):
        return not_modified(tag)
    series = []
    for field in sorted(_text(f) for f in store().r.hkeys(keys.gen_forecast_index(gen))):
        kind, target, metric = field.split(":")
        raw = forecast_bytes(kind, target, metric)
        doc = json.loads(raw) if raw else {}
        series.append({"series": field, "kind": kind, "target": target, "metric": metric,
                       "published_model": (doc.get("forecast") or {}).get("model"),
                       "status": "computed" if raw else "pending",
                       "models": (doc.get("backtest") or {}).get("models") or {}})
    if format == "csv":
        return csv_response(_flat(series), COLUMNS, tag, "backtest.csv")
    return json_response({"generation": gen, "series": series}, tag)


def _flat(series: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{**{k: s[k] for k in ("series", "kind", "target", "metric", "published_model")}, "model": model,
             **(sc or {})} for s in series for model, sc in s["models"].items()]


def _text(v: bytes | str) -> str:
    return v.decode() if isinstance(v, bytes) else v
