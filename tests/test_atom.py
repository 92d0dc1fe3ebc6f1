"""`GET /v1/events.atom`: a valid Atom 1.0 feed (RFC 4287) of the change events, from a real refresh."""

from __future__ import annotations

from datetime import datetime
from xml.etree import ElementTree as ET

import pytest
import redis
from flask.testing import FlaskClient

from forecasts.activity import events
from forecasts.measure.domains import Domain
from forecasts.settings import Settings
from forecasts.storage.ingest import load_records, load_snapshot
from forecasts.storage.store import Store
from service import create_app

A = "{http://www.w3.org/2005/Atom}"
DASHBOARD = "https://gapcast.example/"


def client_for(r: redis.Redis) -> FlaskClient:
    settings = Settings(redis_url="unused://", dashboard_url=DASHBOARD)
    return create_app(settings, client=r, config={"TESTING": True}).test_client()


@pytest.fixture()
def api(r: redis.Redis, store: Store, small_snapshot: bytes, small_domains: dict[str, Domain]) -> FlaskClient:
    """The small data, then a real refresh: an open model that takes the lead on coding (events emitted by the
    store's own refresh), plus an operations event with characters XML cannot carry."""
    gen = load_snapshot(store, small_domains, small_snapshot, "test").generation
    raw = (b'[{"model": "open-3", "organization": "OpenCo", "release_date": "2025-02-01", "access": "open", '
           b'"benchmark": "code-a", "score": 90.0}]')
    result = load_records(store, small_domains, raw, "json", "test push", source="releases")
    assert result.events > 0
    events.emit(store, [events.source_failing("lmarena", 3, "bad \x00byte \x1b[31m & <tag>")], refresh="r2",
                generation=gen)
    return client_for(r)


def parse(resp: object) -> ET.Element:
    root = ET.fromstring(resp.data)  # type: ignore[attr-defined]
    assert root.tag == f"{A}feed"
    return root


def rfc3339(text: str | None) -> datetime:
    assert text and ("T" in text) and (text.endswith("Z") or text[-6] in "+-"), text
    return datetime.fromisoformat(text)


def test_the_feed_is_valid_atom(api: FlaskClient, store: Store) -> None:
    resp = api.get("/v1/events.atom")
    assert resp.status_code == 200 and resp.mimetype == "application/atom+xml"
    assert resp.data.startswith(b'<?xml version="1.0" encoding="utf-8"?>')
    feed = parse(resp)
    # RFC 4287 4.1.1: exactly one id, title, updated; an author (or one in every entry); a self link advised
    for name in ("id", "title", "updated"):
        assert len(feed.findall(f"{A}{name}")) == 1, name
    assert feed.findtext(f"{A}id", "").startswith("urn:uuid:")
    assert feed.find(f"{A}author/{A}name") is not None
    links = {link.get("rel"): link.get("href") for link in feed.findall(f"{A}link")}
    assert (links["self"] or "").endswith("/v1/events.atom") and links["alternate"] == DASHBOARD
    assert "Epoch AI" in feed.findtext(f"{A}rights", "")
    entries = feed.findall(f"{A}entry")
    stream = events.recent(store, 100)
    assert len(entries) == len(stream) >= 2
    ids = [e.findtext(f"{A}id") for e in entries]
    assert len(set(ids)) == len(ids) and all(i and i.startswith("urn:uuid:") for i in ids)
    updated = [rfc3339(e.findtext(f"{A}updated")) for e in entries]
    assert updated == sorted(updated, reverse=True)
    assert rfc3339(feed.findtext(f"{A}updated")) == updated[0]  # the feed is as new as its newest entry
    for entry, ev in zip(entries, stream, strict=True):  # newest first, one entry per event
        for name in ("id", "title", "updated"):
            assert len(entry.findall(f"{A}{name}")) == 1, name
        assert entry.findtext(f"{A}title") == "".join(c for c in ev["summary"] if c >= " ")
        assert ev["kind"] in {c.get("term") for c in entry.findall(f"{A}category")}
        assert entry.find(f"{A}content").get("type") == "text"  # type: ignore[union-attr]


def test_entries_link_to_their_domain_and_say_what_changed(api: FlaskClient) -> None:
    feed = parse(api.get("/v1/events.atom"))
    coding = [e for e in feed.findall(f"{A}entry")
              if "coding" in {c.get("term") for c in e.findall(f"{A}category")}]
    assert coding, "the refresh made coding events"
    kinds = {c.get("term") for e in coding for c in e.findall(f"{A}category")}
    assert "new_open_frontier" in kinds
    entry = next(e for e in coding if "new_open_frontier" in {c.get("term") for c in e.findall(f"{A}category")})
    assert entry.find(f"{A}link").get("href") == DASHBOARD + "#domain-coding"  # type: ignore[union-attr]
    content = entry.findtext(f"{A}content", "")
    assert "open-3" in content and "before:" in content and "after:" in content


def test_text_xml_cannot_carry_is_dropped_and_markup_escaped(api: FlaskClient) -> None:
    resp = api.get("/v1/events.atom?kind=source_failing")
    feed = parse(resp)
    (entry,) = feed.findall(f"{A}entry")
    title = entry.findtext(f"{A}title", "")
    assert "\x00" not in title and "\x1b" not in title and "& <tag>" in title
    assert b"&amp; &lt;tag&gt;" in resp.data


def test_ids_are_stable_and_filters_work(api: FlaskClient) -> None:
    first = [e.findtext(f"{A}id") for e in parse(api.get("/v1/events.atom")).findall(f"{A}entry")]
    again = [e.findtext(f"{A}id") for e in parse(api.get("/v1/events.atom")).findall(f"{A}entry")]
    assert first == again
    one = parse(api.get("/v1/events.atom?limit=1")).findall(f"{A}entry")
    assert [e.findtext(f"{A}id") for e in one] == first[:1]
    coding = parse(api.get("/v1/events.atom?domain=coding")).findall(f"{A}entry")
    assert coding and all(e.find(f"{A}category[@term='coding']") is not None for e in coding)
    nope = api.get("/v1/events.atom?domain=nope")  # a typo is an error, not a feed that stays empty forever
    assert nope.status_code == 404 and nope.get_json()["errors"][0]["field"] == "domain"
    assert api.get("/v1/events.atom?kind=bogus").status_code == 400
    assert api.get("/v1/events.atom?limit=0").status_code == 400


def test_an_empty_feed_is_still_valid(r: redis.Redis, store: Store, small_snapshot: bytes,
                                      small_domains: dict[str, Domain]) -> None:
    load_snapshot(store, small_domains, small_snapshot, "test")
    feed = parse(client_for(r).get("/v1/events.atom"))
    assert feed.findall(f"{A}entry") == []
    rfc3339(feed.findtext(f"{A}updated"))
    assert feed.findtext(f"{A}id", "").startswith("urn:uuid:")
