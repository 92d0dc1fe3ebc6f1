"""LMArena (Chatbot Arena) ratings: the arena-catalog category file, the arena.ai daily JSON, the fboulnois CSV.

The format is told from the content, not the URL:

* arena-catalog `leaderboard-text.json`, `{category: {model_key: {rating, rating_q975, rating_q025}}}`: one
  record per catalogued category (`source = "lmarena"`, field `category`); stderr = (q975 - q025) / (2 z95).
  Access comes from the optional licences URL (arena-catalog `scatterplot-data.json`, matched on
  `model_api_name`): `Proprietary` (also the real misspelling `Propretary`) -> closed, another licence -> open.
* arena.ai daily, `{"meta": {"leaderboard", ...}, "models": [{rank, model, vendor, license, score, ci, votes}]}`:
  the catalogued benchmark whose `daily` is `meta.leaderboard` (`text` -> `arena-text-overall`, `code` ->
  `arena-webdev`, ...); stderr = ci / z95; access from `license`. Every record carries `as_of`, the day of
  `meta.fetched_at` (else `meta.last_updated`): the merge adds it to the score's rating history, so each
  day's file extends the one continuous series of its board (forecasts/measure/ratings.py), never a new benchmark.
* fboulnois CSV, `rank,model,arena_elo|arena_score,95_pct_ci,votes,organization,license,...`: the overall text
  benchmark (catalogued category `full`); stderr from `+a/-b` as (a + b) / (2 z95).

Arena publishes no release dates: every record has `release_date=None` and only counts for a stored model.
The arena-catalog file and the fboulnois CSV carry no snapshot date either (`as_of=None`): on a benchmark
whose scores hold a rating history they change nothing (forecasts/measure/ratings.py `extend_history`), since an
undated file cannot say which board it is; only dated files (arena.ai daily) extend an Arena series.

Validators: the main URL's as `etag` / `last_modified`, the licences URL's as `licences_etag` /
`licences_last_modified`. With a licences URL, `Pull.payload` is a JSON bundle (see `bundle` / `unbundle`).
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, urlsplit

from forecasts.records.canonical import load_json
from forecasts.records.model import Exclusion
from jobs.http import Http, PullFailed, Response
from jobs.sources.base import Pull, SourceRecord
from jobs.sources.catalog import entries

Z95 = 1.959963984540054  # the two-sided 95 % normal quantile (the same constant as the bundled snapshot)
BUNDLE_FORMAT = "gapcast-lmarena-bundle/1"
LICENCES_PREFIX = "licences_"
UNKNOWN_LICENCES = {"other", "-", "unknown", "n/a", "none"}
CSV_SCORE_COLUMNS = ("arena_score", "arena_elo")
_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")
_CI = re.compile(r"^\s*\+?\s*(\d+(?:\.\d+)?)\s*/\s*-\s*(\d+(?:\.\d+)?)\s*$")


@dataclass
class Parsed:
    """What one payload yielded."""

    format: str
    records: list[SourceRecord] = field(default_factory=list)
    rejected: list[Exclusion] = field(default_factory=list)
    info: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Licence:
    """A model's licence entry from scatterplot-data.json."""

    licence: str | None
    organization: str


class LMArena:
    """The LMArena connector (`Source` protocol)."""

    id = "lmarena"

    def __init__(self, url: str, *, licences_url: str | None = None) -> None:
        self.url = url
        self.licences_url = licences_url

    def pull(self, http: Http, validators: dict[str, str]) -> Pull:
        """Conditional GET of the leaderboard (and of the licences, when they were used), then parse.

        Not modified only when every file used last time is unchanged; a changed licences file re-reads the
        leaderboard. Licences that cannot be had do not fail the pull: the records come without access,
        `info["licences"]` says why, and no validators are returned, so the next pull re-reads everything.
        Raises PullFailed.
        """
        main_v, lic_v = _split_validators(validators)
        resp = http.get(self.url, validators=main_v)
        lic_resp: Response | None = None
        if resp.not_modified:
            if self.licences_url is None or not lic_v:
                return Pull(self.id, not_modified=True, validators=dict(validators))
            try:
                lic_resp = http.get(self.licences_url, validators=lic_v)
            except PullFailed as exc:
                return Pull(self.id, not_modified=True, validators=dict(validators),
                            info={"licences": f"not checked ({exc.reason}: {exc.message})"})
            if lic_resp.not_modified:
                return Pull(self.id, not_modified=True, validators=dict(validators))
            resp = http.get(self.url)  # the licences changed: the ratings need re-reading
        return self._parse_response(http, resp, lic_resp)

    def _parse_response(self, http: Http, resp: Response, lic_resp: Response | None) -> Pull:
        fmt, doc = detect(resp.body)
        valid, payload, info = resp.validators(), resp.body, {}
        licences: dict[str, Licence] | None = None
        if fmt == "arena-catalog" and self.licences_url is not None:
            try:
                lic_resp = lic_resp or http.get(self.licences_url)
                licences = parse_licences(lic_resp.body)
            except PullFailed as exc:
                valid, info["licences"] = {}, f"not used ({exc.reason}: {exc.message})"
            else:
                valid.update({LICENCES_PREFIX + k: v for k, v in lic_resp.validators().items()})
                payload = bundle([(self.url, resp.body), (self.licences_url, lic_resp.body)])
                info["licences"] = f"{len(licences)} licences"
        parsed = parse_document(fmt, doc, _basename(self.url), licences)
        return Pull(self.id, records=parsed.records, rejected=parsed.rejected, payload=payload,
                    validators=valid, info={**parsed.info, **info})


# --- format detection --------------------------------------------------------------------------------


def detect(body: bytes) -> tuple[str, Any]:
    """(format, decoded document) of a payload; raises PullFailed("bad_format") when it is none of the three."""
    text = _text(body)
    head = text.lstrip()[:1]
    if head == "<":
        raise _bad("an HTML/XML page, not an LMArena leaderboard")
    if head in ("{", "["):
        doc = _json(text)
        return _json_format(doc), doc
    return "fboulnois-csv", _csv_rows(text)


def _text(body: bytes) -> str:
    if not body.strip():
        raise _bad("the payload is empty")
    if b"\x00" in body[:4096]:
        raise _bad("a binary payload, not JSON or CSV")
    try:
        return body.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise _bad(f"not UTF-8 text (byte {exc.start})") from None


def _json(text: str) -> Any:
    try:
        return load_json(text)
    except json.JSONDecodeError as exc:
        raise _bad(f"invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}") from None
    except ValueError as exc:
        raise _bad(f"invalid JSON: {exc}") from None


def _json_format(doc: Any) -> str:
    if isinstance(doc, dict) and isinstance(doc.get("meta"), dict) and isinstance(doc.get("models"), list):
        return "arena-daily"
    if isinstance(doc, dict) and doc and all(_is_category(v) for v in doc.values()):
        return "arena-catalog"
    raise _bad(f"JSON of an unknown shape ({_shape(doc)}); expected an arena-catalog leaderboard "
               "{category: {model: {rating, ...}}} or an arena.ai daily {meta, models}")


def _is_category(value: Any) -> bool:
    return isinstance(value, dict) and all(isinstance(e, dict) and "rating" in e for e in value.values())


def _shape(doc: Any) -> str:
    if isinstance(doc, dict):
        keys = ", ".join(sorted(map(str, doc))[:5])
        return f"an object with keys {keys}" if keys else "an empty object"
    return f"a JSON {type(doc).__name__}"


def _csv_rows(text: str) -> list[dict[str, str]]:
    try:
        rows = list(csv.DictReader(io.StringIO(text, newline="")))
    except csv.Error as exc:
        raise _bad(f"malformed CSV: {exc}") from None
    header = [h.strip() for h in next(csv.reader(io.StringIO(text, newline="")), [])]
    missing = [c for c in ("model",) if c not in header]
    if not any(c in header for c in CSV_SCORE_COLUMNS):
        missing.append(" or ".join(CSV_SCORE_COLUMNS))
    if missing:
        raise _bad(f"CSV without column(s) {', '.join(missing)} (header: {', '.join(header[:12])})")
    if not rows:
        raise _bad("CSV with a header and no rows")
    return [{(k or "").strip(): (v or "") for k, v in row.items() if isinstance(v, str)} for row in rows]


# --- parsing -------------------------------------------------------------------------------------------


def parse(body: bytes, name: str = "leaderboard-text.json", licences: bytes | None = None) -> Parsed:
    """Parse one payload (and optional scatterplot-data.json bytes) without any HTTP; raises PullFailed."""
    fmt, doc = detect(body)
    return parse_document(fmt, doc, name, parse_licences(licences) if licences is not None else None)


def parse_document(fmt: str, doc: Any, name: str, licences: dict[str, Licence] | None) -> Parsed:
    """Records from a detected document (see `detect`)."""
    if fmt == "arena-catalog":
        return _parse_catalog(doc, name, licences or {})
    if fmt == "arena-daily":
        return _parse_daily(doc, name)
    return _parse_csv(doc, name)


def _parse_catalog(doc: dict[str, dict[str, Any]], name: str, licences: dict[str, Licence]) -> Parsed:
    out = Parsed("arena-catalog")
    cats = {e["category"]: e["id"] for e in entries("lmarena") if e.get("category")}
    present = [c for c in cats if c in doc]
    if not present:
        raise _bad(f"no catalogued category in the leaderboard (has {', '.join(sorted(doc)[:8])}; "
                   f"expected some of {', '.join(sorted(cats))})")
    out.info["format"] = out.format
    out.info["missing_categories"] = sorted(c for c in cats if c not in doc)
    for cat in present:
        for key, entry in doc[cat].items():
            lic = licences.get(key.lower())
            record = f"{name}#{cat}/{key}"
            rating = _number(entry.get("rating"))
            if rating is None:
                out.rejected.append(_invalid(record, key, f"rating {entry.get('rating')!r} is not a number"))
                continue
            lo, hi = _number(entry.get("rating_q025")), _number(entry.get("rating_q975"))
            stderr = (hi - lo) / (2 * Z95) if lo is not None and hi is not None and hi >= lo else None
            out.records.append(SourceRecord(key, cats[cat], rating, lic.organization if lic else "", None,
                                            licence_access(lic.licence) if lic else None, stderr,
                                            f"lmarena:{record}"))
    return out


def _parse_daily(doc: dict[str, Any], name: str) -> Parsed:
    out = Parsed("arena-daily")
    board = str(doc["meta"].get("leaderboard") or "")
    day = snapshot_day(doc["meta"])
    bench = daily_benchmark(board)
    out.info.update(format=out.format, leaderboard=board, fetched_at=doc["meta"].get("fetched_at"))
    prefix = f"{day}/{name}" if day else name
    for i, m in enumerate(doc["models"], start=1):
        if not isinstance(m, dict):
            out.rejected.append(_invalid(f"{prefix}#{i}", "", f"models[{i - 1}] is not an object"))
            continue
        key = str(m.get("model") or "").strip()
        record = f"{prefix}#{key or i}"
        score = _number(m.get("score"))
        if not key or score is None:
            why = "no model name" if not key else f"score {m.get('score')!r} is not a number"
            out.rejected.append(_invalid(record, key, why))
            continue
        ci = _number(m.get("ci"))
        stderr = ci / Z95 if ci is not None and ci >= 0 else None
        out.records.append(SourceRecord(key, bench, score, str(m.get("vendor") or ""), None,
                                        licence_access(m.get("license")), stderr, f"lmarena:{record}",
                                        day or None))
    return out


def snapshot_day(meta: dict[str, Any]) -> str:
    """The YYYY-MM-DD an arena.ai daily file was current: `fetched_at`'s day, else `last_updated`'s; "" when
    neither starts with a date (the merge then dates the ratings by the pull)."""
    for fld in ("fetched_at", "last_updated"):
        day = str(meta.get(fld) or "")[:10]
        if _DAY.fullmatch(day):
            return day
    return ""


def daily_benchmark(board: str) -> str:
    """The catalogued benchmark an arena.ai daily leaderboard `board` extends (the entry whose `daily` is
    `board`). Raises PullFailed("bad_format") for a leaderboard the catalogue does not hold."""
    cands = [e for e in entries() if e.get("daily") == board]
    if not cands:
        known = sorted({str(e["daily"]) for e in entries() if e.get("daily")})
        raise _bad(f"arena.ai leaderboard {board!r} is not catalogued (catalogued: {', '.join(known)})")
    return str(cands[0]["id"])


def _parse_csv(rows: list[dict[str, str]], name: str) -> Parsed:
    out = Parsed("fboulnois-csv")
    bench = overall_benchmark()
    col = next(c for c in CSV_SCORE_COLUMNS if c in rows[0])
    out.info.update(format=out.format, score_column=col)
    for line, row in enumerate(rows, start=2):
        model = row.get("model", "").strip()
        record = f"{name}#{model or f'line {line}'}"
        score = _number(row.get(col))
        if not model or score is None:
            why = "no model name" if not model else f"{col} {row.get(col)!r} is not a number"
            out.rejected.append(_invalid(record, model, f"line {line}: {why}"))
            continue
        out.records.append(SourceRecord(model, bench, score, row.get("organization", "").strip(), None,
                                        licence_access(row.get("license")), ci_stderr(row.get("95_pct_ci")),
                                        f"lmarena:{record}"))
    return out


def overall_benchmark() -> str:
    """The catalogued overall text benchmark (the `lmarena` entry of category `full`)."""
    return next(str(e["id"]) for e in entries("lmarena") if e.get("category") == "full")


def parse_licences(body: bytes) -> dict[str, Licence]:
    """scatterplot-data.json -> {lower-case model_api_name: Licence} (first entry wins); raises PullFailed."""
    text = _text(body)
    if text.lstrip()[:1] == "<":
        raise _bad("the licences URL gave an HTML/XML page, not scatterplot-data.json")
    doc = _json(text)
    if not isinstance(doc, list) or not all(isinstance(i, dict) and "model_api_name" in i for i in doc):
        raise _bad(f"licences of an unknown shape ({_shape(doc)}); expected a list of {{model_api_name, license}}")
    out: dict[str, Licence] = {}
    for item in doc:
        key = str(item["model_api_name"]).strip()
        lic = Licence(str(item["license"]).strip() if item.get("license") else None,
                      str(item.get("organization") or "").strip())
        out.setdefault(key.lower(), lic)
    return out


# --- field helpers --------------------------------------------------------------------------------------


def licence_access(text: Any) -> str | None:
    """A licence string -> `closed` (Proprietary, also misspelt `Propretary`) | `open` | None (blank/unknown)."""
    t = str(text or "").strip().lower()
    if not t or t in UNKNOWN_LICENCES:
        return None
    return "closed" if t.startswith("propr") else "open"


def ci_stderr(text: str | None) -> float | None:
    """`+a/-b` (a 95 % interval around the score) -> (a + b) / (2 z95); None when absent or unreadable."""
    m = _CI.match(text or "")
    return (float(m.group(1)) + float(m.group(2))) / (2 * Z95) if m else None


def _number(v: Any) -> float | None:
    """A finite float from a JSON number or a numeric string; None otherwise (booleans included)."""
    if v is None or isinstance(v, bool):
        return None
    try:
        x = float(v) if isinstance(v, int | float) else float(str(v).strip())
    except (ValueError, OverflowError):
        return None
    return x if math.isfinite(x) else None


def _invalid(record: str, name: str, detail: str) -> Exclusion:
    return Exclusion("lmarena", record, name, "invalid_score", detail)


def _bad(message: str) -> PullFailed:
    return PullFailed("bad_format", message)


def _basename(url: str) -> str:
    return unquote(urlsplit(url).path.rstrip("/").rsplit("/", 1)[-1]) or "leaderboard"


def _split_validators(validators: dict[str, str]) -> tuple[dict[str, str], dict[str, str]]:
    main = {k: v for k, v in validators.items() if not k.startswith(LICENCES_PREFIX)}
    lic = {k[len(LICENCES_PREFIX):]: v for k, v in validators.items() if k.startswith(LICENCES_PREFIX)}
    return main, lic


# --- payload bundle ---------------------------------------------------------------------------------------


def bundle(parts: list[tuple[str, bytes]]) -> bytes:
    """Several payloads as one: `{"format": BUNDLE_FORMAT, "parts": [{"url", "body"}]}`, each body the exact
    text received (JSON-escaped; both files are UTF-8 JSON, checked before bundling). `unbundle` reverses it."""
    doc = {"format": BUNDLE_FORMAT, "parts": [{"url": u, "body": b.decode("utf-8")} for u, b in parts]}
    return json.dumps(doc, ensure_ascii=False).encode("utf-8")


def unbundle(payload: bytes) -> list[tuple[str, bytes]]:
    """The (url, bytes) parts of a `bundle`; a plain payload comes back as one part with an empty url."""
    try:
        doc = json.loads(payload)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return [("", payload)]
    if isinstance(doc, dict) and doc.get("format") == BUNDLE_FORMAT:
        return [(str(p["url"]), str(p["body"]).encode("utf-8")) for p in doc["parts"]]
    return [("", payload)]

