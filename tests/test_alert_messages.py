"""Alert messages (jobs.alerts.messages): per-platform structure and documented limits, grouping, escaping,
and the webhook signature scheme with its README verification recipe."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import time
from typing import Any

import pytest

from forecasts.activity import events as fe
from jobs.alerts import messages as m
from jobs.alerts.messages import body_bytes, render, sign, signature_headers, verify

DASH = "https://gapcast.example/dash"
EVIL = "<@everyone> & *bold*"
AT = "2026-11-28T12:00:00+00:00"


def as_recent(ev: fe.Event, refresh: str = "g42", generation: str = "g42", i: int = 0) -> dict[str, Any]:
    """An event as `forecasts.activity.events.recent()` returns it (through its stream fields)."""
    f = ev.fields(refresh, generation, AT)
    return {"id": f"{1000 + i}-0", **f, "before": json.loads(f["before"]), "after": json.loads(f["after"]),
            "models": json.loads(f["models"])}


def domain_row(domain: str, gap: float, lag: int, status: str, closed: str, open_: str) -> dict[str, Any]:
    return {"domain": domain, "name": domain.title(), "score_gap": gap, "unit": "% of scale", "lag_days": lag,
            "status": status, "as_of": "2026-10-31", "closed_leader": {"model": closed, "score": 80.0},
            "open_leader": {"model": open_, "score": 70.0}}


def narrowed(i: int = 0, open_model: str = "Open-1", domain: str = "coding") -> dict[str, Any]:
    old = domain_row(domain, 12.3, 250, "open_behind", "Closed-1", open_model)
    new = domain_row(domain, 9.8, 180, "open_behind", "Closed-1", open_model)
    [ev] = fe.summary_events([old], [new])
    return as_recent(ev, i=i)


def mixed() -> list[dict[str, Any]]:
    """One refresh: a new open frontier, the gap narrowed and open caught up, a forecast move, a failing source."""
    old = domain_row("math", 6.0, 120, "open_behind", "Closed-A", "Open-A")
    new = domain_row("math", 0.5, 10, "caught_up", "Closed-A", EVIL)
    evs = fe.summary_events([old], [new])
    moved = fe.catch_up_moved("math", {"catch_up": {"p50": "2027-06-30"}}, {"catch_up": {"p50": "2027-01-31"}})
    assert moved is not None
    evs += [moved, fe.source_failing("epoch-hub", 3, "http_5xx")]
    return [as_recent(ev, i=i) for i, ev in enumerate(evs)]


def many(n: int, big: bool = False) -> list[dict[str, Any]]:
    """`n` events; `big` gives them huge, markup-laden model names and summaries."""
    out = []
    for i in range(n):
        ev = narrowed(i, open_model=(EVIL * 300 if big else f"Open-{i}"), domain=f"d{i}")
        if big:
            ev["summary"] = ("& <b>" + "x" * 50) * 200
        out.append(ev)
    return out


def slack_texts(payload: dict[str, Any]) -> list[str]:
    texts = []
    for block in payload["blocks"]:
        if "text" in block:
            texts.append(block["text"]["text"])
        texts += [f["text"] for f in block.get("fields", [])]
        texts += [e["text"] for e in block.get("elements", [])]
    return texts


def discord_chars(payload: dict[str, Any]) -> int:
    """Discord's embed total: title, description, field names and values, footer text, author name."""
    total = 0
    for e in payload["embeds"]:
        total += len(e.get("title", "")) + len(e.get("description", ""))
        total += len(e.get("footer", {}).get("text", "")) + len(e.get("author", {}).get("name", ""))
        total += sum(len(f["name"]) + len(f["value"]) for f in e.get("fields", []))
    return total


def teams_card(payload: dict[str, Any]) -> dict[str, Any]:
    assert payload["type"] == "message"
    [att] = payload["attachments"]
    assert att["contentType"] == "application/vnd.microsoft.card.adaptive"
    return att["content"]


def walk(node: Any) -> list[dict[str, Any]]:
    """Every dict in a JSON tree."""
    if isinstance(node, dict):
        return [node] + [d for v in node.values() for d in walk(v)]
    if isinstance(node, list):
        return [d for v in node for d in walk(v)]
    return []


def event_containers(card: dict[str, Any]) -> list[dict[str, Any]]:
    return [b for b in card["body"] if b["type"] == "Container"]


# ---------------------------------------------------------------------------------------------- Slack


@pytest.mark.parametrize("big", [False, True])
def test_slack_block_kit_within_limits_with_80_events(big: bool) -> None:
    payload = render("slack", many(80, big), dashboard_url=DASH)
    blocks = payload["blocks"]
    assert len(blocks) <= 50
    assert blocks[0]["type"] == "header" and blocks[0]["text"]["type"] == "plain_text"
    assert 0 < len(blocks[0]["text"]["text"]) <= 150 and "g42" in blocks[0]["text"]["text"]
    for block in blocks:
        assert block["type"] in {"header", "context", "section"}
        if block["type"] == "section":
            assert len(block["text"]["text"]) <= 3000
            assert len(block.get("fields", [])) <= 10
            assert all(0 < len(f["text"]) <= 2000 for f in block.get("fields", []))
    events_shown = sum(1 for b in blocks if b["type"] == "section" and "#domain-" in b["text"]["text"])
    assert blocks[-1]["text"]["text"].startswith(f"… and {80 - events_shown} more changes")
    assert events_shown == 47
    assert 0 < len(payload["text"]) <= 3000 and "80 changes" in payload["text"]


def test_slack_fits_48_events_without_a_summary() -> None:
    blocks = render("slack", many(48), dashboard_url=DASH)["blocks"]
    assert len(blocks) == 50 and "more change" not in json.dumps(blocks)


# -------------------------------------------------------------------------------------------- Discord


@pytest.mark.parametrize(("n", "big"), [(3, True), (80, False), (80, True)])
def test_discord_embeds_within_limits(n: int, big: bool) -> None:
    payload = render("discord", many(n, big), dashboard_url=DASH)
    embeds = payload["embeds"]
    assert payload["allowed_mentions"] == {"parse": []}
    assert 1 <= len(embeds) <= 10
    assert discord_chars(payload) <= 6000
    assert len(payload["content"]) <= 2000 and "g42" in payload["content"]
    for e in embeds:
        assert len(e["title"]) <= 256 and len(e.get("description", "")) <= 4096
        assert len(e.get("fields", [])) <= 25
        assert all(0 < len(f["name"]) <= 256 and 0 < len(f["value"]) <= 1024 for f in e.get("fields", []))
        assert isinstance(e["color"], int) and 0 <= e["color"] <= 0xFFFFFF
    shown = sum(1 for e in embeds if "#domain-" in e.get("url", ""))
    if shown < n:
        assert embeds[-1]["title"] == f"… and {n - shown} more changes"
    assert shown >= 1


def test_discord_colours_by_kind() -> None:
    payload = render("discord", mixed(), dashboard_url=DASH)
    colours = {e["title"].split(" · ")[0]: e["color"] for e in payload["embeds"]}
    assert colours["Open models caught up"] == 0x1A7F37  # green
    assert colours["Gap narrowed"] != colours["Operations: source epoch-hub failing"]
    widened = as_recent(fe.summary_events([domain_row("x", 1, 1, "caught_up", "A", "B")],
                                          [domain_row("x", 9, 90, "open_behind", "A", "B")])[1])
    assert widened["kind"] == "lead_lost"
    assert render("discord", [widened], dashboard_url=DASH)["embeds"][0]["color"] == 0xCF222E  # red


# ---------------------------------------------------------------------------------------------- Teams


@pytest.mark.parametrize("big", [False, True])
def test_teams_adaptive_card_in_workflows_envelope_within_size(big: bool) -> None:
    payload = render("teams", many(80, big), dashboard_url=DASH)
    card = teams_card(payload)
    assert card["type"] == "AdaptiveCard" and card["version"] in {"1.4", "1.5"}
    assert "@type" not in json.dumps(payload) and "MessageCard" not in json.dumps(payload)  # not the retired format
    assert len(body_bytes(payload)) <= 28 * 1024
    assert {"type": "Action.OpenUrl", "title": "Open the dashboard", "url": DASH} in card["actions"]
    shown = len(event_containers(card))
    assert 1 <= shown < 80
    assert json.dumps(card["body"][-1], ensure_ascii=False).count(f"… and {80 - shown} more changes") == 1
    types = {d["type"] for d in walk(card) if "type" in d}
    assert types <= {"AdaptiveCard", "RichTextBlock", "TextRun", "Container", "FactSet", "ActionSet",
                     "Action.OpenUrl", "TextBlock"}


def test_teams_card_has_facts_and_domain_links() -> None:
    card = teams_card(render("teams", [narrowed()], dashboard_url=DASH))
    [container] = event_containers(card)
    [facts] = [d for d in walk(container) if d.get("type") == "FactSet"]
    values = {f["title"]: f["value"] for f in facts["facts"]}
    assert values["Gap"] == "12.3 → 9.8 % of scale"
    assert values["Lag"] == "8.2 → 5.9 months"
    assert values["Status"] == "open behind → open behind"
    links = [d["url"] for d in walk(container) if d.get("type") == "Action.OpenUrl"]
    assert links == [f"{DASH}#domain-coding"]


# -------------------------------------------------------------------------------------------- webhook


def test_webhook_body_carries_the_event_dicts() -> None:
    evs = mixed()
    payload = render("webhook", evs, dashboard_url=DASH)
    assert payload == {"type": "gapcast.events", "refresh": "g42", "generation": "g42", "events": evs,
                       "dashboard_url": DASH}
    evs[0]["after"]["score_gap"] = float("nan")  # not JSON: sent as null
    assert json.loads(body_bytes(render("webhook", evs, dashboard_url=DASH)))["events"][0]["after"]["score_gap"] is None


# ------------------------------------------------------------------------------------ content, grouping


@pytest.mark.parametrize("kind", ["slack", "discord", "teams"])
def test_numbers_models_and_links_appear(kind: str) -> None:
    text = json.dumps(render(kind, [narrowed(open_model="Qwen3-235B")], dashboard_url=DASH), ensure_ascii=False)
    for needle in ("12.3", "9.8", "% of scale", "8.2", "5.9", "months", "open behind", "Closed-1", "Qwen3",
                   f"{DASH}#domain-coding", DASH, "g42", "Gap narrowed"):
        assert needle in text, needle


@pytest.mark.parametrize("kind", ["slack", "discord", "teams"])
def test_frontier_forecast_and_status_changes_read_well(kind: str) -> None:
    text = json.dumps(render(kind, mixed(), dashboard_url=DASH), ensure_ascii=False)
    for needle in ("New open frontier", "Open models caught up", "caught up", "Catch-up (median)", "2027-06-30",
                   "2027-01-31", "Open-A", "Closed-A", "0.5", "6.0"):
        assert needle in text, needle


@pytest.mark.parametrize("kind", ["slack", "discord", "teams"])
def test_source_failing_reads_as_operations(kind: str) -> None:
    [ev] = [e for e in mixed() if e["kind"] == "source_failing"]
    text = json.dumps(render(kind, [ev], dashboard_url=DASH), ensure_ascii=False)
    want = "Source epoch-hub failed 3 times in a row: http_5xx"
    if kind == "discord":
        want = "Source epoch-hub failed 3 times in a row: http\\\\_5xx"  # markdown-escaped, JSON-quoted
    assert want in text and "Operations" in text


def test_one_message_per_refresh_in_event_order() -> None:
    evs = mixed()
    slack = render("slack", evs, dashboard_url=DASH)
    assert sum(1 for b in slack["blocks"] if b["type"] == "section") == len(evs)
    assert "5 changes" in slack["text"]
    titles = [e["title"] for e in render("discord", evs, dashboard_url=DASH)["embeds"]]
    assert [t.split(" · ")[0] for t in titles] == ["New open frontier", "Gap narrowed", "Open models caught up",
                                                   "Catch-up forecast moved", "Operations: source epoch-hub failing"]
    assert len(event_containers(teams_card(render("teams", evs, dashboard_url=DASH)))) == len(evs)


def test_render_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="unknown channel kind"):
        render("email", [narrowed()], dashboard_url=DASH)
    with pytest.raises(ValueError, match="no events"):
        render("slack", [], dashboard_url=DASH)
    other = narrowed()
    other["refresh"] = "g43"
    with pytest.raises(ValueError, match="several refreshes"):
        render("discord", [narrowed(), other], dashboard_url=DASH)


# -------------------------------------------------------------------------------------------- escaping


def test_slack_escapes_control_characters() -> None:
    payload = render("slack", [narrowed(open_model=EVIL)], dashboard_url=DASH)
    text = json.dumps(payload)
    assert "&lt;@everyone&gt; &amp; *bold*" in text
    assert "<@everyone>" not in text and "<!" not in text
    for t in [*slack_texts(payload), payload["text"]]:
        assert re.search(r"&(?!amp;|lt;|gt;)", t) is None  # every & is an entity
        assert all(part.startswith("http") for part in re.findall(r"<([^>]*)>", t))  # only our own links


def test_slack_never_cuts_an_entity_in_half() -> None:
    ev = narrowed()
    ev["summary"] = "&" * 5000
    [section] = [b for b in render("slack", [ev], dashboard_url=DASH)["blocks"] if "#domain-" in json.dumps(b)]
    summary = section["text"]["text"].split("\n")[1]
    assert summary.endswith("&amp;…") and re.fullmatch(r"(&amp;)+…", summary)


def test_discord_escapes_markdown_and_mentions() -> None:
    payload = render("discord", [narrowed(open_model=EVIL)], dashboard_url=DASH)
    models = payload["embeds"][0]["fields"][-1]
    assert models["name"] == "Models"
    assert "\\<\\@everyone\\> & \\*bold\\*" in models["value"]
    assert payload["allowed_mentions"] == {"parse": []}
    ev = narrowed()
    ev["summary"] = "# heading\n- item\n1. one [link](https://evil.example) ||spoiler|| `code` ~~s~~ _i_ \\"
    desc = render("discord", [ev], dashboard_url=DASH)["embeds"][0]["description"]
    assert desc == ("\\# heading\n\\- item\n1\\. one \\[link\\](https://evil.example) \\|\\|spoiler\\|\\| "
                    "\\`code\\` \\~\\~s\\~\\~ \\_i\\_ \\\\")


def test_discord_clipping_keeps_escapes_whole() -> None:
    ev = narrowed()
    ev["summary"] = "*" * 5000
    desc = render("discord", [ev], dashboard_url=DASH)["embeds"][0]["description"]
    assert desc.endswith("…") and re.fullmatch(r"(\\\*)+…", desc)


def test_teams_keeps_free_text_literal_and_renders_no_html() -> None:
    ev = narrowed(open_model=EVIL)
    ev["summary"] = "<b>not bold</b> & *stars*"
    card = teams_card(render("teams", [ev], dashboard_url=DASH))
    runs = [d["text"] for d in walk(card) if d.get("type") == "TextRun"]
    assert "<b>not bold</b> & *stars*" in runs  # TextRuns render no markdown: shown as written
    assert any(EVIL in r for r in runs)
    assert not [d for d in walk(card) if d.get("type") == "TextBlock" and "<" in d.get("text", "")]
    leader = as_recent(fe.summary_events([domain_row("x", 5, 50, "open_behind", "A", "B")],
                                         [domain_row("x", 5, 50, "open_behind", "A", "my_*model*")])[0])
    facts = [f for d in walk(teams_card(render("teams", [leader], dashboard_url=DASH)))
             if d.get("type") == "FactSet" for f in d["facts"]]
    assert facts[0]["value"] == "B (70) → my\\_\\*model\\* (70)"  # FactSet is markdown: escaped


# -------------------------------------------------------------------------------------------- signing


def test_body_bytes_are_compact_sorted_utf8() -> None:
    assert body_bytes({"b": 1, "a": ["é", None]}) == '{"a":["é",null],"b":1}'.encode()
    with pytest.raises(ValueError):
        body_bytes({"x": float("nan")})


def test_sign_and_verify_round_trip() -> None:
    body = body_bytes(render("webhook", mixed(), dashboard_url=DASH))
    ts = 1_800_000_000
    headers = signature_headers("s3cret", ts, body)
    expected = hmac.new(b"s3cret", f"{ts}.".encode() + body, hashlib.sha256).hexdigest()
    assert sign("s3cret", ts, body) == expected
    assert headers == {"X-Gapcast-Timestamp": str(ts), "X-Gapcast-Signature": f"sha256={expected}"}
    assert verify("s3cret", headers, body, now=ts + 10)
    assert verify("s3cret", {k.lower(): v for k, v in headers.items()}, body, now=ts)  # header names: any case
    assert not verify("s3cret", headers, body + b" ", now=ts)  # tampered body
    assert not verify("s3cret", headers, body.replace(b"g42", b"g43"), now=ts)
    assert not verify("other", headers, body, now=ts)  # wrong secret
    assert not verify("s3cret", headers, body, now=ts + 301)  # stale
    assert not verify("s3cret", headers, body, now=ts - 301)  # from the future
    assert verify("s3cret", headers, body, now=ts + 3600, tolerance_s=3600)
    moved = {**headers, "X-Gapcast-Timestamp": str(ts + 1)}  # a fresh timestamp on an old signature
    assert not verify("s3cret", moved, body, now=ts + 1)
    for bad in ({}, {"X-Gapcast-Timestamp": str(ts)}, {**headers, "X-Gapcast-Timestamp": "-1"},
                {**headers, "X-Gapcast-Timestamp": "\uff11\uff12"}, {**headers, "X-Gapcast-Signature": "sha256=é"},
                {**headers, "X-Gapcast-Signature": expected}):
        assert not verify("s3cret", bad, body, now=ts)


def test_verify_recipe_is_in_the_docstring_and_works() -> None:
    assert m.__doc__ is not None and f"```python\n{m.VERIFY_RECIPE}```" in m.__doc__
    namespace: dict[str, Any] = {}
    exec(m.VERIFY_RECIPE, namespace)  # the exact README snippet
    verify_gapcast = namespace["verify_gapcast"]
    body = body_bytes(render("webhook", mixed(), dashboard_url=DASH))
    now = int(time.time())
    headers = signature_headers("s3cret", now, body)
    assert verify_gapcast("s3cret", headers, body)
    assert not verify_gapcast("s3cret", headers, body + b"x")
    assert not verify_gapcast("wrong", headers, body)
    stale = signature_headers("s3cret", now - 600, body)
    assert not verify_gapcast("s3cret", stale, body)
    assert not verify_gapcast("s3cret", {}, body)
