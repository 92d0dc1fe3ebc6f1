"""What changed at a refresh, as events in a bounded Redis stream (the alerts deliver them).

Kinds: a new closed or open frontier in a domain, the gap narrowed or widened by at least a threshold,
open caught up, the lead lost, the forecast catch-up p50 moved by at least N days, and a source failing
N times in a row (an operations event). Events of one refresh share its `refresh` id.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum
from typing import Any

from forecasts.storage import keys
from forecasts.storage.store import Store

STREAM_MAXLEN = 10_000
GAP_CHANGE_MIN = 1.0  # % of scale: smaller moves of a domain gap are noise, not news
CATCH_UP_MOVE_MIN_DAYS = 30
_LEVEL = {"open_leads": 0, "caught_up": 1, "open_behind": 2}


class EventKind(StrEnum):
    NEW_CLOSED_FRONTIER = "new_closed_frontier"
    NEW_OPEN_FRONTIER = "new_open_frontier"
    GAP_NARROWED = "gap_narrowed"
    GAP_WIDENED = "gap_widened"
    CAUGHT_UP = "caught_up"
    LEAD_LOST = "lead_lost"
    CATCH_UP_MOVED = "catch_up_moved"
    SOURCE_FAILING = "source_failing"


@dataclass(frozen=True)
class Event:
    """One change. `before`/`after` hold the numbers; `models` the models involved."""

    kind: EventKind
    domain: str
    summary: str
    before: dict[str, Any] = field(default_factory=dict)
    after: dict[str, Any] = field(default_factory=dict)
    models: tuple[str, ...] = ()

    def fields(self, refresh: str, generation: str, at: str) -> dict[Any, Any]:
        """The stream entry (all values are strings)."""
        return {"kind": self.kind.value, "domain": self.domain, "summary": self.summary, "refresh": refresh,
                "generation": generation, "at": at, "before": json.dumps(self.before),
                "after": json.dumps(self.after), "models": json.dumps(list(self.models))}


def summary_events(old_rows: list[dict[str, Any]], new_rows: list[dict[str, Any]],
                   gap_min: float = GAP_CHANGE_MIN) -> list[Event]:
    """Events from the per-domain summary before and after a refresh (domains new to the summary: none)."""
    old = {r["domain"]: r for r in old_rows}
    out: list[Event] = []
    for row in new_rows:
        prev = old.get(row["domain"])
        if prev is not None:
            out.extend(_row_events(prev, row, gap_min))
    return out


def _row_events(prev: dict[str, Any], row: dict[str, Any], gap_min: float) -> list[Event]:
    d, name = row["domain"], row.get("name") or row["domain"]
    out = []
    for side, kind in (("closed", EventKind.NEW_CLOSED_FRONTIER), ("open", EventKind.NEW_OPEN_FRONTIER)):
        a, b = prev.get(f"{side}_leader"), row.get(f"{side}_leader")
        if b and (not a or a["model"] != b["model"]):
            out.append(Event(kind, d, f"{name}: new best {side} model {b['model']} ({b['score']:g} on "
                             f"{b.get('benchmark', '?')})", {"leader": a}, {"leader": b},
                             tuple(m for m in ((a or {}).get("model"), b["model"]) if m)))
    g0, g1 = prev.get("score_gap"), row.get("score_gap")
    if g0 is not None and g1 is not None and abs(g1 - g0) >= gap_min:
        kind = EventKind.GAP_NARROWED if g1 < g0 else EventKind.GAP_WIDENED
        out.append(Event(kind, d, f"{name}: gap {'narrowed' if g1 < g0 else 'widened'} from {g0:.1f} to "
                         f"{g1:.1f} {row.get('unit', '')}".rstrip(), _numbers(prev), _numbers(row), _leaders(row)))
    s0, s1 = _LEVEL.get(prev.get("status", "")), _LEVEL.get(row.get("status", ""))
    if s0 is not None and s1 is not None and s0 != s1:
        if s0 == 2:
            out.append(Event(EventKind.CAUGHT_UP, d, f"{name}: open models caught up ({row['status']})",
                             _numbers(prev), _numbers(row), _leaders(row)))
        elif s1 == 2:
            out.append(Event(EventKind.LEAD_LOST, d, f"{name}: closed models are clearly ahead again",
                             _numbers(prev), _numbers(row), _leaders(row)))
    return out


def catch_up_moved(domain: str, old_fc: dict[str, Any] | None, new_fc: dict[str, Any],
                   min_days: int = CATCH_UP_MOVE_MIN_DAYS) -> Event | None:
    """An event when the forecast catch-up p50 moved by at least `min_days` (or appeared / vanished)."""
    a = (old_fc or {}).get("catch_up", {}).get("p50")
    b = new_fc.get("catch_up", {}).get("p50")
    if old_fc is None or a == b:
        return None
    if a and b and abs((date.fromisoformat(b) - date.fromisoformat(a)).days) < min_days:
        return None
    return Event(EventKind.CATCH_UP_MOVED, domain, f"{domain}: forecast catch-up (median) moved from {a or 'none'} "
                 f"to {b or 'none'}", {"catch_up_p50": a}, {"catch_up_p50": b})


def source_failing(source: str, failures: int, reason: str) -> Event:
    """The operations event for a source that failed `failures` times in a row."""
    return Event(EventKind.SOURCE_FAILING, "", f"source {source} failed {failures} times in a row ({reason})",
                 {}, {"source": source, "consecutive_failures": failures, "reason": reason})


def emit(store: Store, events: list[Event], *, refresh: str, generation: str) -> list[str]:
    """Append `events` to the stream (capped); returns their stream ids."""
    if not events:
        return []
    pipe = store.r.pipeline(transaction=True)
    stage(pipe, events, refresh=refresh, generation=generation, at=store.now().isoformat())
    return [_text(i) for i in pipe.execute()]


def stage(pipe: Any, events: list[Event], *, refresh: str, generation: str, at: str) -> None:
    """Queue the XADDs of `events` in `pipe` (so they commit with whatever else `pipe` holds)."""
    for ev in events:
        pipe.xadd(keys.events(), ev.fields(refresh, generation, at), maxlen=STREAM_MAXLEN, approximate=True)


def recent(store: Store, count: int = 100) -> list[dict[str, Any]]:
    """The newest `count` events, newest first, as plain dicts."""
    entries: list[Any] = store.r.xrevrange(keys.events(), count=count) or []
    return [_entry(ev_id, raw) for ev_id, raw in entries]


def after(store: Store, cursor: str, count: int = 1000) -> list[dict[str, Any]]:
    """Events after stream id `cursor` (exclusive), oldest first."""
    entries: list[Any] = store.r.xrange(keys.events(), f"({cursor}", "+", count=count) or []
    return [_entry(ev_id, raw) for ev_id, raw in entries]


def by_ids(store: Store, ids: list[str]) -> list[dict[str, Any]]:
    """The events with these stream ids, in the given order (ids trimmed from the stream are skipped)."""
    pipe = store.r.pipeline(transaction=False)
    for i in ids:
        pipe.xrange(keys.events(), i, i)
    return [_entry(*found[0]) for found in pipe.execute() if found]


def _entry(ev_id: Any, raw: dict[Any, Any]) -> dict[str, Any]:
    f = {_text(k): _text(v) for k, v in raw.items()}
    return {"id": _text(ev_id), **f, "before": json.loads(f["before"]), "after": json.loads(f["after"]),
            "models": json.loads(f["models"])}


def _numbers(row: dict[str, Any]) -> dict[str, Any]:
    return {k: row.get(k) for k in ("score_gap", "lag_days", "status", "as_of")}


def _leaders(row: dict[str, Any]) -> tuple[str, ...]:
    return tuple(ldr["model"] for ldr in (row.get("closed_leader"), row.get("open_leader")) if ldr)


def _text(v: Any) -> str:
    return v.decode() if isinstance(v, bytes) else str(v)
