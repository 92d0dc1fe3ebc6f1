"""Public vs held-out benchmarks: the threshold-crossing lag and the horizontal lag on each side."""

from __future__ import annotations

from typing import Any

from flask import Response

from forecasts.storage import keys
from service.http import csv_response, current, etag_matches, json_response, not_modified, store
from service.views.params import Blueprint, FormatQuery

bp = Blueprint("robustness", __name__, url_prefix="/v1/robustness",
               description="Open models on public vs held-out (private or out-of-distribution) benchmarks.")

COLUMNS = ("date", "public_threshold_lag_days", "public_lag_days", "public_crossings", "held_out_threshold_lag_days",
           "held_out_lag_days", "held_out_crossings", "ratio")


@bp.route("")
@bp.arguments(FormatQuery(), location="query", as_kwargs=True, error_status_code=400)
@bp.response(200, description="The split now and month by month, with every threshold crossing behind it.")
def robustness(format: str) -> Response:
    """How far open models trail on public vs held-out benchmarks: per side, the mean threshold-crossing lag of
    the year before each date (Ihle et al.'s metric) and the median horizontal lag of its current benchmarks,
    and their ratio (held-out / public). `crossings` lists each (benchmark, threshold) behind the figures."""
    gen, tag = current()
    if etag_matches(tag):
        return not_modified(tag)
    doc: dict[str, Any] = store().read_json(keys.gen_robustness(gen)) or {}
    if format == "csv":
        return csv_response([_flat(r) for r in doc.get("series", [])], COLUMNS, tag, "robustness.csv")
    return json_response({"generation": gen, "now": doc.get("now"), "series": doc.get("series", []),
                          "crossings": doc.get("crossings", {}), "method": doc.get("method", {})}, tag)


def _flat(row: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"date": row["date"], "ratio": row["ratio"]}
    for side in ("public", "held_out"):
        for k in ("threshold_lag_days", "lag_days", "crossings"):
            out[f"{side}_{k}"] = row[side][k]
    return out
