"""The OpenAPI document's response schemas: one per 2xx answer of every endpoint, so a client can be generated.

The views build their answers by hand (`json_response` of plain dicts, stored documents served as bytes), so
flask-smorest cannot derive what they return. This module declares it: `RESPONSES` maps a Flask endpoint
(`<blueprint>.<function>`) to the JSON Schema (OpenAPI 3.0 dialect: `nullable`) of its 2xx body, and
`SchemaFillingSpec` writes them, with the shared `COMPONENTS`, into the spec while flask-smorest registers each
view (`service.views.params.Blueprint` wraps the spec in it). A view that documents its own schema
(`@bp.response(200, SomeSchema)`) keeps it. Every endpoint with a `format` parameter also declares its
`text/csv` answer, and every operation gets an `operationId` (`<blueprint>_<function>`), which client
generators name their functions after. Schemas are open (extra members are allowed) so that a new field is
not a breaking change; `required` names what a client may rely on.
"""

from __future__ import annotations

from typing import Any

REF = "#/components/schemas/"


def _ref(name: str) -> dict[str, Any]:
    return {"$ref": REF + name}


def _obj(props: dict[str, Any], required: tuple[str, ...] = ()) -> dict[str, Any]:
    out: dict[str, Any] = {"type": "object", "properties": props}
    if required:
        out["required"] = list(required)
    return out


def _arr(items: dict[str, Any]) -> dict[str, Any]:
    return {"type": "array", "items": items}


def _n(schema: dict[str, Any]) -> dict[str, Any]:
    """`schema` or null."""
    return {**schema, "nullable": True}


STR = {"type": "string"}
NUM = {"type": "number"}
INT = {"type": "integer"}
BOOL = {"type": "boolean"}
OPEN = {"type": "object", "additionalProperties": True}
DATE = {"type": "string", "description": "YYYY-MM-DD"}
STATUS = {"type": "string", "description": "open_behind, caught_up, open_leads or no_data"}

_SIDE = _obj({"threshold_lag_days": _n(NUM), "lag_days": _n(NUM), "benchmarks": _arr(STR), "crossings": INT},
             ("threshold_lag_days", "lag_days", "benchmarks", "crossings"))

COMPONENTS: dict[str, dict[str, Any]] = {
    "TrackEntry": _obj({
        "domain": STR, "metric": STR, "made": DATE, "source": {"type": "string", "enum": ["live", "backtest"]},
        "engine": STR, "model": _n(STR), "state": OPEN, "horizons": OPEN, "p_within": OPEN, "basis": _n(STR),
        "catch_up_p50": _n(DATE), "generation": _n(STR), "data_hash": _n(STR), "realised": OPEN},
        ("domain", "metric", "made", "source", "horizons", "p_within")),
    "TrackSummary": _obj({"errors": _arr(_obj({"metric": STR, "horizon_months": INT, "mae": NUM,
                                               "mae_no_change": NUM, "coverage_80": NUM, "n": INT},
                                              ("metric", "horizon_months", "mae", "mae_no_change", "coverage_80",
                                               "n"))),
                          "catch_up": _arr(_obj({"within_months": INT, "brier": NUM, "brier_base_rate": NUM,
                                                 "base_rate": NUM, "n": INT},
                                                ("within_months", "brier", "brier_base_rate", "n")))},
                         ("errors", "catch_up")),
    "SplitRow": _obj({"date": DATE, "public": _SIDE, "held_out": _SIDE, "ratio": _n(NUM)},
                     ("date", "public", "held_out", "ratio")),
    "Credit": _obj({"id": STR, "name": STR, "licence": STR, "licence_url": STR, "url": STR, "attribution": STR},
                   ("id", "name", "licence", "url", "attribution")),
    "Leader": _n(_obj({"model": STR, "score": NUM, "release_date": DATE, "benchmark": STR}, ("model", "score"))),
    "DomainRow": _obj({
        "domain": STR, "name": STR, "as_of": _n(DATE), "score_gap": _n(NUM), "unit": STR, "lag_days": _n(NUM),
        "status": STATUS, "closed_leader": _ref("Leader"), "open_leader": _ref("Leader"),
        "benchmarks": _arr(STR), "configured_benchmarks": _arr(STR)},
        ("domain", "name", "status")),
    "Headline": _obj({
        "forecast_status": STR, "catch_up_p50": _n(DATE), "p_within_6": _n(NUM), "p_within_12": _n(NUM),
        "p_within_24": _n(NUM), "lag_verdict": _n(STR), "forecast_model": _n(STR)}, ("forecast_status",)),
    "BenchmarkRow": _obj({
        "benchmark": STR, "name": STR, "evaluator": STR, "unit": STR, "as_of": _n(DATE), "score_gap": _n(NUM),
        "lag_days": _n(NUM), "status": STATUS, "saturated": _n(BOOL), "closed_leader": _ref("Leader"),
        "open_leader": _ref("Leader"), "points": INT},
        ("benchmark", "name", "unit", "status")),
    "SeriesPoint": _obj({"date": DATE, "value": _n(NUM), "status": STATUS}, ("date", "value", "status")),
    "Series": _obj({"ok": BOOL, "credit": _arr(_ref("Credit")), "generation": STR, "target": STR, "metric": STR,
                    "unit": STR, "points": _arr(_ref("SeriesPoint"))},
                   ("ok", "credit", "generation", "target", "metric", "unit", "points")),
    "ForecastDocument": _obj({
        "credit": _arr(_ref("Credit")),
        "forecast": _obj({"target": STR, "metric": STR, "status": STR, "model": _n(STR), "trajectory": _arr(OPEN),
                          "catch_up": OPEN, "lag_trend": _n(OPEN)}, ("target", "metric", "status")),
        "backtest": _n(OPEN)}, ("credit", "forecast")),
    "Model": _obj({"id": STR, "name": STR, "organization": STR, "country": _n(STR), "release_date": DATE,
                   "access": STR, "licence": _n(STR), "aliases": _arr(STR)}, ("id", "name", "release_date", "access")),
    "Event": _obj({"id": STR, "kind": STR, "domain": STR, "summary": STR, "refresh": STR, "generation": STR,
                   "at": {"type": "string", "description": "ISO 8601 date-time, UTC"}, "before": OPEN,
                   "after": OPEN, "models": _arr(STR)}, ("id", "kind", "domain", "summary", "at")),
    "Score": _obj({
        "benchmark": STR, "model": STR, "model_name": _n(STR), "organization": _n(STR), "access": _n(STR),
        "release_date": _n(DATE), "value": NUM, "stderr": _n(NUM), "unit": _n(STR), "source": _n(STR),
        "publisher": _n(STR), "retrieved_at": _n(STR), "first_seen": _n(STR)},
        ("benchmark", "model", "value", "source", "publisher", "retrieved_at", "first_seen")),
    "BenchmarkSource": _obj({
        "source": _n(STR), "source_name": _n(STR), "evaluator": _n(STR), "publisher": _n(STR), "licence": _n(STR),
        "licence_url": _n(STR), "url": _n(STR), "attribution": _n(STR)},
        ("source", "evaluator", "publisher", "licence", "url")),
}

_CREDIT = _arr(_ref("Credit"))


def _data(props: dict[str, Any], required: tuple[str, ...]) -> dict[str, Any]:
    """An answer tied to a data generation: ok, credit and generation, then `props`."""
    return _obj({"ok": BOOL, "credit": _CREDIT, "generation": STR, **props}, ("ok", "credit", "generation",
                                                                                *required))


def _page(name: str, item: str) -> dict[str, Any]:
    return _data({"total": INT, "offset": INT, "limit": INT, "next_offset": _n(INT), name: _arr(_ref(item))},
                 ("total", "offset", "limit", "next_offset", name))


def _plain(props: dict[str, Any], required: tuple[str, ...]) -> dict[str, Any]:
    return _obj({"ok": BOOL, **props}, ("ok", *required))


_DOMAIN_LIST_ROW = {"allOf": [_ref("DomainRow"), _ref("Headline")]}
_FILTERS = {"type": "object", "additionalProperties": STR,
            "description": "The frontier filters of this view (closed_country, open_country, closed_org, open_org) "
                           "that were set; absent on an unfiltered answer."}
_SHARES = _obj({"moves": INT, "countries": _arr(_obj({"country": STR, "moves": INT, "share": NUM},
                                                     ("country", "moves", "share")))}, ("moves", "countries"))
_SWAP_ROW = _obj({
    "model": STR, "name": STR, "organization": STR, "country": STR, "release_date": DATE, "score": NUM,
    "gap": _n(NUM), "score_date": _n(DATE), "score_source": _n(STR), "price_blended": _n(NUM), "price_input": _n(NUM),
    "price_output": _n(NUM), "output_tokens_per_second": _n(NUM), "offer_as_of": _n(DATE), "offer_source": _n(STR)},
    ("model", "name", "score", "gap", "price_blended", "price_input", "price_output", "output_tokens_per_second",
     "offer_as_of"))

RESPONSES: dict[str, dict[str, Any]] = {
    "health.healthz": _plain({"status": STR, "redis": {"type": "string", "enum": ["up", "down"]}},
                             ("status", "redis")),
    "health.readyz": _plain({"status": STR, "generation": STR, "as_of": _n(DATE), "data_age_seconds": _n(NUM),
                             "rollback": _n(STR)}, ("status", "generation")),
    "domains.list_domains": _data({"filters": _FILTERS, "domains": _arr(_DOMAIN_LIST_ROW)}, ("domains",)),
    "domains.get_domain": _data({"filters": _FILTERS, "domain": _ref("DomainRow"),
                                 "benchmarks": _arr(_ref("BenchmarkRow")),
                                 "as_of": DATE, "said": {"type": "object", "additionalProperties": _ref("TrackEntry")}},
                                ("domain", "benchmarks")),
    "domains.domain_series": _ref("Series"),
    "domains.domain_forecast": _ref("ForecastDocument"),
    "domains.domain_movers": _data({"domain": STR, "definition": STR, "years": _arr(
        {"allOf": [_obj({"year": INT}, ("year",)), _SHARES]}), "all_years": _SHARES,
        "moves": _arr(_obj({"benchmark": STR, "model": STR, "date": DATE, "country": STR, "organization": STR},
                           ("benchmark", "model", "date", "country")))}, ("domain", "years", "all_years", "moves")),
    "swap.swap_view": _data({
        "domain": STR, "primary_benchmark": _n(STR), "benchmark": _n(STR), "benchmark_name": STR, "unit": STR,
        "scale": NUM, "gap_unit": STR, "max_gap": NUM, "as_of": _n(DATE), "closed_leader": _n(_SWAP_ROW),
        "candidates": _arr(_SWAP_ROW),
        "cheapest": _n(_obj({"model": STR, "name": STR, "price_blended": NUM, "closed_price_blended": _n(NUM),
                             "times_cheaper": _n(NUM), "offer_as_of": _n(DATE), "closed_offer_as_of": _n(DATE),
                             "sentence": STR},
                            ("model", "price_blended", "closed_price_blended", "times_cheaper", "sentence")))},
        ("domain", "benchmark", "gap_unit", "max_gap", "closed_leader", "candidates", "cheapest")),
    "benchmarks.list_benchmarks": _data({"benchmarks": _arr(_ref("BenchmarkRow"))}, ("benchmarks",)),
    "benchmarks.get_benchmark": _data({"benchmark": _ref("BenchmarkRow"), "definition": _n(OPEN),
                                       "source": _ref("BenchmarkSource")}, ("benchmark", "definition", "source")),
    "benchmarks.benchmark_series": _ref("Series"),
    "benchmarks.benchmark_forecast": _ref("ForecastDocument"),
    "models.list_models": _page("models", "Model"),
    "models.get_model": _data({"model": _ref("Model"), "scores": _arr(_obj({
        "benchmark": STR, "value": NUM, "stderr": _n(NUM), "source": STR, "retrieved_at": STR},
        ("benchmark", "value")))}, ("model", "scores")),
    "backtest.backtest": _data({"series": _arr(_obj({
        "series": STR, "kind": STR, "target": STR, "metric": STR, "published_model": _n(STR), "status": STR,
        "models": OPEN}, ("series", "kind", "target", "metric", "status", "models")))}, ("series",)),
    "track_record.track_record_view": _plain({
        "credit": _CREDIT, "generation": STR, "counts": _obj({"backtest": INT, "live": INT}, ("backtest", "live")),
        "pooled": _ref("TrackSummary"), "domains": {"type": "object", "additionalProperties": _ref("TrackSummary")},
        "forecasts": _arr(_ref("TrackEntry"))}, ("credit", "counts", "pooled", "domains", "forecasts")),
    "robustness.robustness": _data({"now": _n(_ref("SplitRow")), "series": _arr(_ref("SplitRow")),
                                    "crossings": OPEN, "method": OPEN}, ("now", "series", "crossings")),
    "sources.list_sources": _plain({"sources": _arr(_obj({"source": STR, "enabled": BOOL}, ("source", "enabled")))},
                                   ("sources",)),
    "sources.list_events": _plain({"credit": _CREDIT, "events": _arr(_ref("Event"))}, ("credit", "events")),
    "sources.credit": _plain({"credit": _CREDIT, "sources": _arr(_obj({
        "id": STR, "name": STR, "licence": STR, "url": STR, "retrieved_at": _n(STR), "credit": _n(STR)},
        ("id", "name", "licence", "url")))}, ("credit", "sources")),
    "scores.list_scores": _page("scores", "Score"),
    "releases.post_releases": _plain({"generation": STR, "accepted": INT, "rejected": INT, "changed": BOOL,
                                      "forecasts": {"type": "string", "enum": ["pending", "unchanged"]}},
                                     ("generation", "accepted", "changed", "forecasts")),
    "alerts.create_subscription": _plain({"subscription": OPEN}, ("subscription",)),
    "alerts.list_subscriptions": _plain({"subscriptions": _arr(OPEN)}, ("subscriptions",)),
    "alerts.delete_subscription": _plain({"deleted": STR}, ("deleted",)),
    "alerts.list_deliveries": _plain({"deliveries": _arr(OPEN)}, ("deliveries",)),
}
# Endpoints whose answer is not JSON (declared with `content_type=` in their view, which flask-smorest only
# writes into the document together with a schema).
CONTENT_TYPES = {"domains.domain_chart": "image/svg+xml", "metrics.metrics": "text/plain",
                 "pages.dashboard": "text/html", "pages.docs": "text/html", "feeds.events_atom": "application/atom+xml"}
TEXT = {"type": "string"}  # the schema of a non-JSON body (HTML, SVG, Atom, CSV, Prometheus text)
CSV_DESCRIPTION = ("With `format=csv`: the same rows as CSV (a header row, nested values as JSON). Credit travels "
                   "in the `X-Gapcast-Credit` and `Link: </v1/credit>; rel=\"license\"` headers.")


def fill_operations(endpoint: str, operations: dict[str, Any]) -> None:
    """Complete the operations of one endpoint in place: operationId, the 2xx JSON schema from `RESPONSES`
    (unless the view gave one), `text/csv` where a `format` parameter exists, a string schema for other
    content types, and the error body (`Error`, flask-smorest's component of `ErrorSchema`) on declared 4xx/5xx
    answers."""
    for method, op in operations.items():
        op.setdefault("operationId", endpoint.replace(".", "_") + (f"_{method}" if len(operations) > 1 else ""))
        has_format = any(_is_format(p) for p in op.get("parameters", []))
        for status, resp in (op.get("responses") or {}).items():
            if not isinstance(resp, dict):
                continue
            if str(status)[:1] in ("4", "5"):  # a declared error is the one error body (service/errors.py)
                resp.setdefault("content", {"application/json": {"schema": _ref("Error")}})
                continue
            if not str(status).startswith("2"):
                continue
            content = resp.setdefault("content", {})
            if not content:  # flask-smorest writes no content for a response declared without a schema
                content[CONTENT_TYPES.get(endpoint, "application/json")] = {}
            for ctype, media in content.items():
                if "schema" in media:
                    continue
                if ctype == "application/json" and endpoint in RESPONSES:
                    media["schema"] = RESPONSES[endpoint]
                elif ctype != "application/json":
                    media["schema"] = TEXT
            if has_format:
                content.setdefault("text/csv", {"schema": TEXT})
                resp["description"] = f"{resp.get('description', '').rstrip()} {CSV_DESCRIPTION}".strip()


def _is_format(param: Any) -> bool:
    """A `format` query parameter, as a parameter object or as flask-smorest's query schema (expanded later)."""
    if not isinstance(param, dict):
        return False
    schema = param.get("schema")
    return param.get("name") == "format" or (param.get("in") == "query" and "format" in getattr(schema, "fields", {}))


class SchemaFillingSpec:
    """A stand-in for apispec's APISpec handed to flask-smorest while a blueprint registers its views: each
    `path()` gets its response schemas first (`fill_operations`), and the shared components are registered once.
    Every other attribute is the real spec's."""

    def __init__(self, spec: Any) -> None:
        self._spec = spec
        schemas = spec.components.schemas
        for name, schema in COMPONENTS.items():
            if name not in schemas:
                spec.components.schema(name, component=schema)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._spec, name)

    def path(self, *args: Any, rule: Any = None, operations: dict[str, Any] | None = None, **kwargs: Any) -> Any:
        if rule is not None and operations:
            fill_operations(rule.endpoint, operations)
        return self._spec.path(*args, rule=rule, operations=operations, **kwargs)
