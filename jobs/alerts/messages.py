"""Alert messages: the events of one refresh as ONE message to one channel, and signed webhook bodies.

`render(kind, events, dashboard_url=...)` turns the events of one refresh (dicts as returned by
`forecasts.activity.events.recent()`) into the JSON body of one message: a Slack incoming webhook (Block Kit
`blocks` plus a plain `text` fallback), a Discord webhook (`embeds`, mentions disabled), a Microsoft Teams
Workflows webhook (an Adaptive Card 1.4 in a `message` envelope) or a generic webhook (the event dicts
themselves). Pure functions, no I/O.

Limits: texts are clipped to the platform's documented limits after escaping (an escape sequence is never
cut in half); events that do not fit (Slack: 50 blocks; Discord: 10 embeds and 6000 characters; Teams: a
byte budget under its ~28 KB message limit) are summarised as "… and N more changes" with a dashboard link.

Signing (generic webhooks): the sender POSTs exactly `body_bytes(payload)` with the headers
`X-Gapcast-Timestamp: <unix seconds>` and `X-Gapcast-Signature: sha256=<hex>`, where <hex> is the hex
HMAC-SHA256, keyed with the shared secret, of `f"{timestamp}.".encode() + body`. The receiver recomputes it
over the raw request body, compares in constant time and rejects a timestamp more than 5 minutes away from
its own clock (replays). A receiver, in Python (standard library only):

```python
import hashlib
import hmac
import time


def verify_gapcast(secret: str, headers, body: bytes, tolerance_s: int = 300) -> bool:
    # headers: the request headers (e.g. Flask's request.headers); body: the raw bytes (request.get_data())
    ts = headers.get("X-Gapcast-Timestamp", "")
    sig = headers.get("X-Gapcast-Signature", "")
    if not (ts.isascii() and ts.isdigit()) or abs(time.time() - int(ts)) > tolerance_s:
        return False
    mac = hmac.new(secret.encode(), ts.encode() + b"." + body, hashlib.sha256)
    return hmac.compare_digest(("sha256=" + mac.hexdigest()).encode(), sig.encode())
```
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import quote

from forecasts.measure.domains import DOMAIN_UNIT

# The receiver snippet of the module docstring, verbatim (tests execute it; the README copies it).
VERIFY_RECIPE = '''\
import hashlib
import hmac
import time


def verify_gapcast(secret: str, headers, body: bytes, tolerance_s: int = 300) -> bool:
    # headers: the request headers (e.g. Flask's request.headers); body: the raw bytes (request.get_data())
    ts = headers.get("X-Gapcast-Timestamp", "")
    sig = headers.get("X-Gapcast-Signature", "")
    if not (ts.isascii() and ts.isdigit()) or abs(time.time() - int(ts)) > tolerance_s:
        return False
    mac = hmac.new(secret.encode(), ts.encode() + b"." + body, hashlib.sha256)
    return hmac.compare_digest(("sha256=" + mac.hexdigest()).encode(), sig.encode())
'''

KINDS = ("slack", "discord", "teams", "webhook")
TIMESTAMP_HEADER = "X-Gapcast-Timestamp"
SIGNATURE_HEADER = "X-Gapcast-Signature"

# Slack Block Kit: 50 blocks a message; section text 3000, section field 2000, header (plain_text) 150.
SLACK_MAX_BLOCKS = 50
SLACK_SECTION_TEXT = 3000
SLACK_FIELD_TEXT = 2000
SLACK_HEADER_TEXT = 150
# Discord: 10 embeds; title 256, description 4096, 25 fields of name 256 / value 1024, footer 2048,
# author 256, and 6000 characters over all of those in all embeds; message content 2000.
DISCORD_MAX_EMBEDS = 10
DISCORD_TOTAL_CHARS = 6000
DISCORD_TITLE = 256
DISCORD_DESCRIPTION = 4096
DISCORD_FIELD_NAME = 256
DISCORD_FIELD_VALUE = 1024
DISCORD_CONTENT = 2000
# Teams posts at most ~28 KB per message (card and envelope); stay well below it.
TEAMS_MAX_BYTES = 20_000

# Our own caps per event (raw text), well inside every platform's limits.
_SUMMARY_MAX = 600
_VALUE_MAX = 200
_MODEL_MAX = 100
_MODELS_SHOWN = 8
_URL_MAX = 1000  # longer links are left out rather than cut
_DAYS_PER_MONTH = 365.25 / 12

_LABELS = {
    "new_closed_frontier": "New closed frontier",
    "new_open_frontier": "New open frontier",
    "gap_narrowed": "Gap narrowed",
    "gap_widened": "Gap widened",
    "caught_up": "Open models caught up",
    "lead_lost": "Closed models ahead again",
    "catch_up_moved": "Catch-up forecast moved",
    "source_failing": "Source failing",
}
_SLACK_EMOJI = {
    "new_closed_frontier": ":lock:",
    "new_open_frontier": ":unlock:",
    "gap_narrowed": ":chart_with_downwards_trend:",
    "gap_widened": ":chart_with_upwards_trend:",
    "caught_up": ":white_check_mark:",
    "lead_lost": ":red_circle:",
    "catch_up_moved": ":calendar:",
    "source_failing": ":warning:",
}
_DISCORD_COLOURS = {
    "new_closed_frontier": 0x8250DF,  # purple
    "new_open_frontier": 0x0969DA,  # blue
    "gap_narrowed": 0x57AB5A,  # light green
    "gap_widened": 0xCF222E,  # red
    "caught_up": 0x1A7F37,  # green
    "lead_lost": 0xCF222E,  # red
    "catch_up_moved": 0xBF8700,  # amber
    "source_failing": 0xE16F24,  # orange
}
_DISCORD_NEUTRAL = 0x6E7781
_TEAMS_COLOURS = {"gap_narrowed": "Good", "caught_up": "Good", "gap_widened": "Attention",
                  "lead_lost": "Attention", "source_failing": "Warning"}
_STATUS_LABELS = {"open_behind": "open behind", "caught_up": "caught up", "open_leads": "open leads",
                  "no_data": "no data"}


@dataclass(frozen=True)
class _Item:
    """One event, platform-neutral: raw (unescaped) texts and (label, before, after) rows."""

    kind: str
    title: str
    summary: str
    rows: tuple[tuple[str, str, str], ...]
    models: str
    url: str
    at: str | None


# ---------------------------------------------------------------------------------------------- render


def render(kind: str, events: list[dict[str, Any]], *, dashboard_url: str) -> dict[str, Any]:
    """The JSON body of ONE message to one channel of `kind` for `events` (all of one refresh, in order)."""
    if kind not in KINDS:
        raise ValueError(f"unknown channel kind {kind!r} (expected one of {', '.join(KINDS)})")
    if not events:
        raise ValueError("no events to render")
    refreshes = {str(ev.get("refresh", "")) for ev in events}
    if len(refreshes) > 1:
        raise ValueError(f"events of several refreshes in one message: {sorted(refreshes)}")
    refresh, generation = str(events[0].get("refresh", "")), str(events[0].get("generation", ""))
    if kind == "webhook":
        return {"type": "gapcast.events", "refresh": refresh, "generation": generation,
                "events": [_finite(ev) for ev in events], "dashboard_url": dashboard_url}
    header = _header(refresh, generation)
    items = [_item(ev, dashboard_url) for ev in events]
    renderers = {"slack": _slack, "discord": _discord, "teams": _teams}
    return renderers[kind](header, items, dashboard_url)


def _header(refresh: str, generation: str) -> str:
    gen = f" · generation {generation}" if generation and generation != refresh else ""
    return f"gapcast · refresh {refresh or '?'}{gen}"


def _count(n: int) -> str:
    return f"{n} change{'' if n == 1 else 's'}"


def _more(n: int) -> str:
    return f"… and {n} more change{'' if n == 1 else 's'}"


# ----------------------------------------------------------------------------------------------- items


def _item(ev: Mapping[str, Any], dashboard_url: str) -> _Item:
    kind = str(ev.get("kind", ""))
    before, after = _mapping(ev.get("before")), _mapping(ev.get("after"))
    at = _iso(ev.get("at"))
    if kind == "source_failing":
        source = str(after.get("source") or "?")
        return _Item(kind, _clip(f"Operations: source {source} failing", _VALUE_MAX),
                     _clip(_failing_text(after) or str(ev.get("summary", "")), _SUMMARY_MAX), (), "",
                     dashboard_url, at)
    domain = str(ev.get("domain") or "")
    label = _LABELS.get(kind) or kind.replace("_", " ").capitalize() or "Change"
    title = f"{label} · {domain}" if domain else label
    url = f"{dashboard_url.split('#')[0]}#domain-{quote(domain, safe='')}" if domain else dashboard_url
    return _Item(kind, _clip(title, _VALUE_MAX), _clip(str(ev.get("summary", "")), _SUMMARY_MAX),
                 _rows(before, after, at), _models(ev.get("models")), url, at)


def _failing_text(after: Mapping[str, Any]) -> str:
    if "source" not in after:
        return ""
    n, reason = after.get("consecutive_failures"), after.get("reason") or "unknown reason"
    times = f"failed {n} times in a row" if n is not None else "is failing"
    return f"Source {after['source']} {times}: {reason}"


def _rows(before: Mapping[str, Any], after: Mapping[str, Any], at: str | None = None
          ) -> tuple[tuple[str, str, str], ...]:
    unit = str(after.get("unit") or before.get("unit") or DOMAIN_UNIT)
    formats: list[tuple[str, str, Callable[[Any], str]]] = [
        ("leader", "Leader", _leader),
        ("score_gap", "Gap", lambda v: _gap(v, unit)),
        ("lag_days", "Lag", _lag),
        ("status", "Status", _status),
        ("catch_up_p50", "Catch-up (median)", lambda v: _catch_up(v, at)),
        ("as_of", "Data as of", _plain),
    ]
    return tuple((label, _clip(fmt(before.get(key)), _VALUE_MAX), _clip(fmt(after.get(key)), _VALUE_MAX))
                 for key, label, fmt in formats if key in before or key in after)


def _models(models: Any) -> str:
    names = [_clip(str(m), _MODEL_MAX) for m in models] if isinstance(models, list | tuple) else []
    extra = len(names) - _MODELS_SHOWN
    shown = ", ".join(names[:_MODELS_SHOWN])
    return f"{shown} and {extra} more" if extra > 0 else shown


def _num(v: Any) -> str:
    if isinstance(v, int | float) and not isinstance(v, bool):
        return f"{v:.1f}" if math.isfinite(v) else "n/a"
    return "n/a" if v is None else str(v)


def _gap(v: Any, unit: str) -> str:
    return "n/a" if v is None else f"{_num(v)} {unit}"


def _lag(v: Any) -> str:
    if isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v):
        return f"{v / _DAYS_PER_MONTH:.1f} months"
    return _num(v)


def _status(v: Any) -> str:
    return "n/a" if v is None else _STATUS_LABELS.get(str(v), str(v))


def _catch_up(v: Any, at: str | None) -> str:
    """A median catch-up date, marked "(overdue)" when it is before the event's own date (`at`, ISO): the
    date passed without the catch-up; never shown as a negative number of days."""
    text = _plain(v)
    if isinstance(v, str) and at and v[:10] < at[:10]:
        text += " (overdue)"
    return text


def _plain(v: Any) -> str:
    return "none" if v is None or v == "" else str(v)


def _leader(v: Any) -> str:
    if not isinstance(v, Mapping) or not v.get("model"):
        return "none"
    score = v.get("score")
    shown = (f"{score:g}" if isinstance(score, int | float) and not isinstance(score, bool) else
             None if score is None else str(score))
    on = f" on {v['benchmark']}" if v.get("benchmark") else ""
    return f"{v['model']} ({shown}{on})" if shown is not None else str(v["model"])


def _mapping(v: Any) -> Mapping[str, Any]:
    return v if isinstance(v, Mapping) else {}


def _iso(v: Any) -> str | None:
    try:
        return datetime.fromisoformat(str(v)).isoformat() if v else None
    except ValueError:
        return None


def _finite(v: Any) -> Any:
    """`v` with NaN and infinities replaced by None (they are not JSON)."""
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if isinstance(v, Mapping):
        return {str(k): _finite(x) for k, x in v.items()}
    if isinstance(v, list | tuple):
        return [_finite(x) for x in v]
    return v


# ------------------------------------------------------------------------------------- text and escaping


def _length(s: str) -> int:
    """Length in UTF-16 code units: what the chat platforms count (at least the code points)."""
    return len(s.encode("utf-16-le")) // 2


def _identity(s: str) -> str:
    return s


def _fit(text: str, limit: int, esc: Callable[[str], str] = _identity) -> str:
    """`esc(text)`, cut with an ellipsis to at most `limit` characters without splitting an escape."""
    out = esc(text)
    if _length(out) <= limit:
        return out
    lo, hi = 0, len(text)  # the longest prefix whose escaped form plus "…" fits
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if _length(esc(text[:mid])) + 1 <= limit:
            lo = mid
        else:
            hi = mid - 1
    return esc(text[:lo]) + "…"


def _clip(text: str, limit: int) -> str:
    return _fit(text, limit)


def _slack_escape(s: str) -> str:
    """Slack mrkdwn: the three control characters (so no `<!everyone>`, `<@U…>` or link can be injected)."""
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


_DISCORD_SPECIAL = re.compile(r"([\\*_~`|<>\[\]@])")
_DISCORD_LINE_START = re.compile(r"(?m)^([#\-+])")
_DISCORD_NUMBERED = re.compile(r"(?m)^(\d+)\.")


def _discord_escape(s: str) -> str:
    """Discord markdown: backslash before emphasis, code, spoiler, link brackets, mentions and line-start
    markers (heading, list, quote); `allowed_mentions` is what guarantees that nobody is pinged."""
    s = _DISCORD_SPECIAL.sub(r"\\\1", s)
    return _DISCORD_NUMBERED.sub(r"\1\\.", _DISCORD_LINE_START.sub(r"\\\1", s))


_TEAMS_SPECIAL = re.compile(r"([\\*_\[\]])")


def _teams_escape(s: str) -> str:
    """Adaptive Card markdown (FactSet): backslash before emphasis and link brackets (no HTML is rendered)."""
    return _TEAMS_SPECIAL.sub(r"\\\1", s)


_QUANTITY = re.compile(r"(-?\d+(?:\.\d+)?) (\D.*)")


def _arrow(before: str, after: str) -> str:
    """`before → after`, the unit said once when both sides are numbers in the same unit."""
    b, a = _QUANTITY.fullmatch(before), _QUANTITY.fullmatch(after)
    if b and a and b[2] == a[2]:
        return f"{b[1]} → {a[1]} {a[2]}"
    return f"{before} → {after}"


def _side(rows: tuple[tuple[str, str, str], ...], index: int) -> str:
    return "\n".join(f"{row[0]}: {row[index]}" for row in rows)


# ---------------------------------------------------------------------------------------------- Slack


def _slack(header: str, items: list[_Item], dashboard_url: str) -> dict[str, Any]:
    """Block Kit: a header, a context line with the dashboard link, one section per event, then the rest."""
    room = SLACK_MAX_BLOCKS - 2
    shown = items if len(items) <= room else items[: room - 1]
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": _fit(header, SLACK_HEADER_TEXT), "emoji": True}},
        {"type": "context", "elements": [{"type": "mrkdwn", "text": f"{_count(len(items))} · "
                                          f"{_slack_link(dashboard_url, 'Open the dashboard')}"}]},
    ]
    blocks += [_slack_section(item) for item in shown]
    if len(shown) < len(items):
        more = f"{_more(len(items) - len(shown))} · {_slack_link(dashboard_url, 'see the dashboard')}"
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": more}})
    fallback = f"{header}: {_count(len(items))} — " + "; ".join(i.summary or i.title for i in items[:3])
    return {"text": _fit(fallback, SLACK_SECTION_TEXT, _slack_escape), "blocks": blocks}


def _slack_link(url: str, label: str) -> str:
    """`<url|label>` (label escaped); just the label for an unreasonably long url."""
    safe = _slack_escape(url).replace("|", "%7C")
    return f"<{safe}|{_slack_escape(label)}>" if len(safe) <= _URL_MAX else _slack_escape(label)


def _slack_section(item: _Item) -> dict[str, Any]:
    # at most 30 + (1000 + 300) + 1000 + 400 characters: always under the 3000 of a section text
    lines = [f"{_SLACK_EMOJI.get(item.kind, ':small_blue_diamond:')} *{_slack_link(item.url, item.title)}*"]
    if item.summary:
        lines.append(_fit(item.summary, 1000, _slack_escape))
    if item.models:
        lines.append("_Models:_ " + _fit(item.models, 400, _slack_escape))
    block: dict[str, Any] = {"type": "section", "text": {"type": "mrkdwn", "text": "\n".join(lines)}}
    if item.rows:
        block["fields"] = [{"type": "mrkdwn", "text": f"*{name}*\n" + _fit(_side(item.rows, i), 1900, _slack_escape)}
                           for i, name in ((1, "Before"), (2, "After"))]
    return block


# -------------------------------------------------------------------------------------------- Discord

_DISCORD_DESCRIPTION_MAX = 1500  # per event, so that a few events share the 6000 characters
_DISCORD_MORE_RESERVE = 300


def _discord(header: str, items: list[_Item], dashboard_url: str) -> dict[str, Any]:
    """Embeds, one per event while the 10 embeds / 6000 characters last, then a summary embed."""
    embeds: list[dict[str, Any]] = []
    total = 0
    for i, item in enumerate(items):
        more_after = i < len(items) - 1
        embed = _discord_embed(item)
        size = _embed_chars(embed)
        slots = DISCORD_MAX_EMBEDS - (1 if more_after else 0)
        reserve = _DISCORD_MORE_RESERVE if more_after else 0
        if len(embeds) >= slots or total + size + reserve > DISCORD_TOTAL_CHARS:
            break
        embeds.append(embed)
        total += size
    if len(embeds) < len(items):
        embeds.append({"title": _more(len(items) - len(embeds)), "url": dashboard_url, "color": _DISCORD_NEUTRAL,
                       "description": "Open the dashboard for every change."})
    content = _fit(f"{header} — {_count(len(items))}", DISCORD_CONTENT // 2, _discord_escape)
    if _length(content) + _length(dashboard_url) + 3 <= DISCORD_CONTENT:
        content += f"\n<{dashboard_url}>"  # angle brackets: a link without a preview
    return {"content": content, "embeds": embeds, "allowed_mentions": {"parse": []}}


def _discord_embed(item: _Item) -> dict[str, Any]:
    embed: dict[str, Any] = {"title": _fit(item.title, DISCORD_TITLE, _discord_escape),
                             "color": _DISCORD_COLOURS.get(item.kind, _DISCORD_NEUTRAL)}
    if len(item.url) <= _URL_MAX:
        embed["url"] = item.url
    if item.summary:
        embed["description"] = _fit(item.summary, _DISCORD_DESCRIPTION_MAX, _discord_escape)
    fields = [{"name": name, "value": _fit(_side(item.rows, i), DISCORD_FIELD_VALUE, _discord_escape),
               "inline": True} for i, name in ((1, "Before"), (2, "After")) if item.rows]
    if item.models:
        fields.append({"name": "Models", "value": _fit(item.models, DISCORD_FIELD_VALUE, _discord_escape),
                       "inline": False})
    if fields:
        embed["fields"] = fields
    if item.at:
        embed["timestamp"] = item.at
    return embed


def _embed_chars(embed: Mapping[str, Any]) -> int:
    """Characters of an embed as Discord counts them toward the 6000 (title, description, fields, footer, author)."""
    parts = [embed.get("title", ""), embed.get("description", ""), embed.get("footer", {}).get("text", ""),
             embed.get("author", {}).get("name", "")]
    parts += [s for f in embed.get("fields", []) for s in (f["name"], f["value"])]
    return sum(_length(p) for p in parts)


# ---------------------------------------------------------------------------------------------- Teams

_ADAPTIVE_SCHEMA = "http://adaptivecards.io/schemas/adaptive-card.json"
_TEAMS_MORE_RESERVE = 600


def _teams(header: str, items: list[_Item], dashboard_url: str) -> dict[str, Any]:
    """An Adaptive Card 1.4 in the Workflows `message` envelope; one container per event within the byte budget.

    Free text (summaries, models, titles) goes into RichTextBlock TextRuns, which render no markdown; only the
    FactSet values (markdown in Teams) are escaped.
    """
    body: list[dict[str, Any]] = [
        _rich([_run(header, size="Large", weight="Bolder")]),
        _rich([_run(_count(len(items)), isSubtle=True)], spacing="None"),
    ]
    open_dashboard = {"type": "Action.OpenUrl", "title": "Open the dashboard", "url": dashboard_url}
    card: dict[str, Any] = {"type": "AdaptiveCard", "$schema": _ADAPTIVE_SCHEMA, "version": "1.4",
                            "msteams": {"width": "Full"}, "body": body, "actions": [open_dashboard]}
    message = {"type": "message", "attachments": [{"contentType": "application/vnd.microsoft.card.adaptive",
                                                   "content": card}]}
    size = len(body_bytes(message))
    shown = 0
    for i, item in enumerate(items):
        container = _teams_container(item)
        extra = len(body_bytes(container)) + 1
        reserve = _TEAMS_MORE_RESERVE if i < len(items) - 1 else 0
        if size + extra + reserve > TEAMS_MAX_BYTES:
            break
        body.append(container)
        size += extra
        shown += 1
    if shown < len(items):
        body.append(_rich([_run(_more(len(items) - shown) + " — open the dashboard for every change.",
                                weight="Bolder")], separator=True))
    return message


def _run(text: str, **style: Any) -> dict[str, Any]:
    return {"type": "TextRun", "text": text, **style}


def _rich(runs: list[dict[str, Any]], **props: Any) -> dict[str, Any]:
    return {"type": "RichTextBlock", "inlines": runs, **props}


def _teams_container(item: _Item) -> dict[str, Any]:
    title = _run(item.title, weight="Bolder", size="Medium")
    if item.kind in _TEAMS_COLOURS:
        title["color"] = _TEAMS_COLOURS[item.kind]
    parts: list[dict[str, Any]] = [_rich([title])]
    if item.summary:
        parts.append(_rich([_run(item.summary)], spacing="Small"))
    if item.rows:
        parts.append({"type": "FactSet", "facts": [
            {"title": label, "value": _teams_escape(_arrow(b, a))} for label, b, a in item.rows]})
    if item.models:
        parts.append(_rich([_run("Models: ", weight="Bolder", isSubtle=True), _run(item.models, isSubtle=True)],
                           spacing="Small"))
    if "#domain-" in item.url and len(item.url) <= _URL_MAX:
        parts.append({"type": "ActionSet", "actions": [
            {"type": "Action.OpenUrl", "title": "Open this domain on the dashboard", "url": item.url}]})
    return {"type": "Container", "separator": True, "spacing": "Medium", "items": parts}


# -------------------------------------------------------------------------------------------- signing


def body_bytes(payload: Mapping[str, Any]) -> bytes:
    """The exact bytes sent: compact JSON, sorted keys, UTF-8 (signatures are over these)."""
    return json.dumps(payload, separators=(",", ":"), sort_keys=True, ensure_ascii=False,
                      allow_nan=False).encode("utf-8")


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """Hex HMAC-SHA256 keyed with `secret` over `f"{timestamp}.".encode() + body`."""
    return _mac(secret, str(int(timestamp)), body)


def _mac(secret: str, timestamp: str, body: bytes) -> str:
    return hmac.new(secret.encode("utf-8"), timestamp.encode("ascii") + b"." + body, hashlib.sha256).hexdigest()


def signature_headers(secret: str, timestamp: int, body: bytes) -> dict[str, str]:
    """The headers of a signed request.

    `X-Gapcast-Timestamp` is the unix time in seconds at sending; `X-Gapcast-Signature` is
    `sha256=` + `sign(secret, timestamp, body)`. Binding the timestamp into the MAC lets a receiver reject
    replays: it accepts only a matching signature with a timestamp within a few minutes of its clock.
    """
    return {TIMESTAMP_HEADER: str(int(timestamp)), SIGNATURE_HEADER: "sha256=" + sign(secret, timestamp, body)}


def verify(secret: str, headers: Mapping[str, str], body: bytes, *, now: int, tolerance_s: int = 300) -> bool:
    """Whether `body` carries a valid signature from `secret` made within `tolerance_s` of `now` (constant time)."""
    ts, sig = _header_value(headers, TIMESTAMP_HEADER), _header_value(headers, SIGNATURE_HEADER)
    if ts is None or sig is None or not (ts.isascii() and ts.isdigit()):
        return False
    if abs(now - int(ts)) > tolerance_s:
        return False
    expected = "sha256=" + _mac(secret, ts, body)  # over the header's text, exactly as a receiver would
    return hmac.compare_digest(expected.encode(), sig.encode("utf-8", "surrogateescape"))


def _header_value(headers: Mapping[str, str], name: str) -> str | None:
    """A header by name, case-insensitively even for a plain dict."""
    value = headers.get(name)
    if value is None:
        value = next((v for k, v in headers.items() if k.lower() == name.lower()), None)
    return None if value is None else str(value)
