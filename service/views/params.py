"""Query-parameter schemas shared by the views (validated by webargs; errors are 400s naming the field)."""

from __future__ import annotations

import re
from datetime import date
from typing import Any

import flask_smorest
from marshmallow import RAISE, Schema, ValidationError, fields, validate, validates_schema
from webargs.flaskparser import FlaskParser

from service.openapi import SchemaFillingSpec

METRICS = ("score_gap", "lag_days")


class Blueprint(flask_smorest.Blueprint):
    """flask-smorest's Blueprint, rejecting unknown query parameters (a typo is a 400, not ignored), and
    documenting every 2xx answer's schema in the OpenAPI document (service/openapi.py)."""

    ARGUMENTS_PARSER = FlaskParser(unknown=RAISE)

    def register_views_in_doc(self, api: Any, app: Any, spec: Any, *, name: str, parameters: Any) -> None:
        super().register_views_in_doc(api, app, SchemaFillingSpec(spec), name=name, parameters=parameters)


class IsoDate(fields.Date):
    """A date written exactly YYYY-MM-DD (no week dates, no compact forms)."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        if not isinstance(value, str) or not _ISO_DATE.fullmatch(value):
            raise ValidationError("Not a valid date: expected YYYY-MM-DD.")
        return super()._deserialize(value, attr, data, **kwargs)


_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}", re.ASCII)
NO_CONTROL_CHARS = validate.Regexp(r"^[^\x00-\x1f\x7f]*$", error="must not contain control characters")


class ErrorSchema(Schema):
    """The one error body of every 4xx and 5xx."""

    ok = fields.Boolean(metadata={"description": "Always false."})
    error = fields.String(metadata={"description": "What went wrong, for people."})
    errors = fields.List(fields.Dict(), metadata={"description": "Details: [{field?, message, ...}]."})
    status = fields.Integer(metadata={"description": "The HTTP status."})


class NoQuery(Schema):
    """Endpoints that take no query parameters (unknown ones are rejected)."""


class FormatQuery(Schema):
    """`format`: json (default) or csv."""

    format = fields.String(load_default="json", validate=validate.OneOf(["json", "csv"]),
                           metadata={"description": "Response format: json or csv."})




class MetricQuery(Schema):
    """Which metric: score_gap (default) or lag_days."""

    metric = fields.String(load_default="score_gap", validate=validate.OneOf(METRICS),
                           metadata={"description": "score_gap or lag_days."})


class SeriesQuery(FormatQuery):
    """A monthly series, optionally cut to [from, to]."""

    metric = fields.String(load_default="score_gap", validate=validate.OneOf(METRICS),
                           metadata={"description": "score_gap or lag_days."})
    from_ = IsoDate(data_key="from", load_default=None, metadata={"description": "First date, YYYY-MM-DD."})
    to = IsoDate(load_default=None, metadata={"description": "Last date, YYYY-MM-DD."})

    @validates_schema
    def _ordered(self, data: dict[str, Any], **_: Any) -> None:
        lo, hi = data.get("from_"), data.get("to")
        if isinstance(lo, date) and isinstance(hi, date) and hi < lo:
            raise ValidationError("must not be before 'from'", field_name="to")


class ModelsQuery(FormatQuery):
    """Filters and pagination for the model list."""

    access = fields.String(load_default=None, validate=validate.OneOf(["open", "closed"]),
                           metadata={"description": "open or closed."})
    organization = fields.String(load_default=None, validate=[validate.Length(min=1, max=200), NO_CONTROL_CHARS],
                                 metadata={"description": "Organization name (case-insensitive)."})
    since = IsoDate(load_default=None, metadata={"description": "Released on or after, YYYY-MM-DD."})
    limit = fields.Integer(load_default=100, validate=validate.Range(min=1, max=1000),
                           metadata={"description": "Page size, 1-1000."})
    offset = fields.Integer(load_default=0, validate=validate.Range(min=0, max=1_000_000),
                            metadata={"description": "Rows to skip."})
