"""`GET /v1/events.atom`: the change events (forecasts/activity/events.py) as an Atom feed (RFC 4287) for feed
readers."""

from __future__ import annotations

import json
import uuid
from typing import Any
from urllib.parse import urljoin
from xml.etree import ElementTree as ET

from flask import Response, current_app, request
from marshmallow import Schema, fields, validate

from forecasts.activity import events
from forecasts.storage import keys
from service.credit import providers
from service.http import CACHE_CONTROL, current, etag_matches, store
from service.views.domains import domain_row
from service.views.params import Blueprint

bp = Blueprint("feeds", __name__, url_prefix="/v1", description="Feeds for feed readers.")

ATOM_NS = "http://www.w3.org/2005/Atom"
ATOM_MIMETYPE = "application/atom+xml"
SCAN_LIMIT = 1000  # a filter looks at the newest 1,000 events, like GET /v1/events?kind=


class FeedQuery(Schema):
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=500),
                           metadata={"description": "Newest N events, 1-500."})
    kind = fields.String(load_default=None, validate=validate.OneOf([k.value for k in events.EventKind]),
                         metadata={"description": "Only events of this kind."})
    domain = fields.String(load_default=None, validate=validate.Length(min=1, max=100),
                           metadata={"description": "Only events of this domain id."})


@bp.route("/events.atom")
@bp.arguments(FeedQuery(), location="query", as_kwargs=True, error_status_code=400)
@bp.response(200, description="An Atom 1.0 feed of the newest change events, newest first.",
             content_type=ATOM_MIMETYPE)
@bp.alt_response(404, description="Unknown domain.")
def events_atom(limit: int, kind: str | None, domain: str | None) -> Response:
    """What changed at recent refreshes (frontiers, gaps, catch-ups, forecast moves, failing sources), as Atom."""
    s = store()
    if domain is not None:
        domain_row(current()[0], domain)  # 404 for an unknown domain: a typo must not read as a quiet feed
    instance = _text(s.r.get(keys.instance()) or b"none")
    rows = events.recent(s, SCAN_LIMIT if (kind or domain) else limit)
    rows = [e for e in rows if (not kind or e["kind"] == kind) and (domain is None or e["domain"] == domain)][:limit]
    tag = f"atom.{instance}.{rows[0]['id'] if rows else 'empty'}"
    if etag_matches(tag):
        resp = Response(status=304)
    else:
        resp = Response(atom_feed(rows, instance=instance, now=s.now().isoformat()), mimetype=ATOM_MIMETYPE)
    resp.set_etag(tag)
    resp.headers["Cache-Control"] = CACHE_CONTROL
    return resp


def atom_feed(rows: list[dict[str, Any]], *, instance: str, now: str) -> bytes:
    """The feed document (UTF-8 XML) of `rows` (events as `events.recent` gives them, newest first).

    Ids are stable IRIs: the feed's is a name-based UUID of the dashboard URL (one per deployment), an entry's
    one of the store instance and the event's stream id (a wiped and reloaded store gets new ids, so a reader
    never confuses two events that happen to share a stream id). `updated` is the newest event's time, or
    `now` for an empty feed."""
    base = current_app.extensions["gapcast.settings"].dashboard_url
    ET.register_namespace("", ATOM_NS)
    feed = ET.Element(_q("feed"))
    _sub(feed, "id", uuid.uuid5(uuid.NAMESPACE_URL, urljoin(base, "v1/events.atom")).urn)
    _sub(feed, "title", "gapcast: open vs closed model gaps, what changed")
    _sub(feed, "subtitle", "New frontiers, gaps narrowing or widening, catch-ups and forecast moves, per domain.")
    _sub(feed, "updated", rows[0]["at"] if rows else now)
    author = _sub(feed, "author")
    _sub(author, "name", "gapcast")
    _sub(author, "uri", base)
    _link(feed, request.url, "self", ATOM_MIMETYPE)
    _link(feed, base, "alternate", "text/html")
    _sub(feed, "generator", "gapcast")
    _sub(feed, "rights", "Derived from data by " + "; ".join(p["attribution"] for p in providers()))
    for ev in rows:
        _entry(feed, ev, instance, base)
    return b'<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(feed, encoding="utf-8", xml_declaration=False)


def _entry(feed: ET.Element, ev: dict[str, Any], instance: str, base: str) -> None:
    entry = _sub(feed, "entry")
    _sub(entry, "id", uuid.uuid5(uuid.NAMESPACE_URL, f"gapcast:{instance}:event:{ev['id']}").urn)
    _sub(entry, "title", ev.get("summary") or ev["kind"])
    _sub(entry, "updated", ev["at"])
    _sub(entry, "published", ev["at"])
    _link(entry, urljoin(base, f"#domain-{ev['domain']}") if ev.get("domain") else base, "alternate", "text/html")
    cat = _sub(entry, "category")
    cat.set("term", ev["kind"])
    if ev.get("domain"):
        dom = _sub(entry, "category")
        dom.set("term", ev["domain"])
        dom.set("scheme", urljoin(base, "v1/domains"))
    lines = [ev.get("summary") or ev["kind"]]
    if ev.get("before") or ev.get("after"):
        lines += [f"before: {json.dumps(ev.get('before'), sort_keys=True)}",
                  f"after: {json.dumps(ev.get('after'), sort_keys=True)}"]
    if ev.get("models"):
        lines.append("models: " + ", ".join(ev["models"]))
    content = _sub(entry, "content", "\n".join(lines))
    content.set("type", "text")


def _q(name: str) -> str:
    return f"{{{ATOM_NS}}}{name}"


def _sub(parent: ET.Element, name: str, text: str | None = None) -> ET.Element:
    el = ET.SubElement(parent, _q(name))
    if text is not None:
        el.text = _xml_safe(text)
    return el


def _link(parent: ET.Element, href: str, rel: str, mimetype: str) -> None:
    el = _sub(parent, "link")
    el.set("rel", rel)
    el.set("type", mimetype)
    el.set("href", href)


def _xml_safe(text: str) -> str:
    """XML 1.0 cannot carry most control characters at all (not even escaped): drop them."""
    return "".join(c for c in text if c in "\t\n\r" or c >= " ")


def _text(v: bytes | str) -> str:
    return v.decode() if isinstance(v, bytes) else v
