"""A feed in gapcast's canonical score format (CSV or JSON, see forecasts.records.canonical), from a URL or a file.

Decoding and column checks are `forecasts.records.canonical.parse`'s: a structural fault (empty, binary, not JSON,
missing or unknown columns, a ragged row) fails the pull with `bad_format` and its first problems. Each
record is then converted on its own: one with a bad field is rejected (`invalid_score`, `invalid_date`,
`invalid_access`, `missing_field`, `unknown_benchmark`) with its line/record and field in the detail, and
the others still count. Blank `release_date` / `access` become None (what `SourceRecord.to_canonical`
writes for them), so such a record only counts for a stored model.

Validators: ETag / Last-Modified for a URL; for a file `mtime` (st_mtime_ns): unchanged -> not modified.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit
from urllib.request import url2pathname

from forecasts.records.canonical import InvalidInput, Problem, RawRecord, parse, parse_date, parse_number
from forecasts.records.model import Exclusion
from forecasts.records.reading import InputTooLarge, read_file
from jobs.http import Http, PullFailed
from jobs.sources.base import Pull, SourceRecord
from jobs.sources.catalog import entries

SHOWN_PROBLEMS = 3  # problems of an InvalidInput quoted in the PullFailed message
REASONS = {"score": "invalid_score", "stderr": "invalid_score", "release_date": "invalid_date",
           "access": "invalid_access", "model": "missing_field", "benchmark": "unknown_benchmark"}


class CanonicalFeed:
    """The canonical-format connector (`Source` protocol); `location` is an http(s) URL, a file:// URL or a path."""

    id = "canonical"

    def __init__(self, location: str) -> None:
        self.location = location

    @property
    def is_url(self) -> bool:
        return urlsplit(self.location).scheme.lower() in ("http", "https")

    def pull(self, http: Http, validators: dict[str, str]) -> Pull:
        """Fetch (conditional GET, or mtime check for a file) and convert; raises PullFailed."""
        if self.is_url:
            resp = http.get(self.location, validators=validators)
            if resp.not_modified:
                return Pull(self.id, not_modified=True, validators=dict(validators))
            body, valid = resp.body, resp.validators()
        else:
            path = local_path(self.location)
            mtime = _mtime(path)
            if validators.get("mtime") == mtime:
                return Pull(self.id, not_modified=True, validators=dict(validators))
            body, valid = _read(path), {"mtime": mtime}
        records, rejected = convert(body, self.name)
        return Pull(self.id, records=records, rejected=rejected, payload=body, validators=valid,
                    info={"records": len(records), "rejected": len(rejected)})

    @property
    def name(self) -> str:
        """The feed's file name (used in default `source` strings and messages)."""
        path = urlsplit(self.location).path if self.is_url else str(local_path(self.location))
        return unquote(path.rstrip("/").rsplit("/", 1)[-1]) or self.location


def convert(body: bytes, name: str, today: date | None = None) -> tuple[list[SourceRecord], list[Exclusion]]:
    """Canonical bytes -> (records, rejected). Raises PullFailed("bad_format") for a structural fault."""
    if body.lstrip()[:1] == b"<":
        raise PullFailed("bad_format", f"{name}: an HTML/XML page, not canonical CSV or JSON")
    try:
        raw = parse(body, origin=name)
    except InvalidInput as exc:
        raise PullFailed("bad_format", _problems(exc)) from None
    benches = {str(e["id"]): e for e in entries()}
    today = today or datetime.now(UTC).date()
    records: list[SourceRecord] = []
    rejected: list[Exclusion] = []
    for rec in raw:
        out = to_record(rec, name, benches, today)
        if isinstance(out, SourceRecord):
            records.append(out)
        else:
            rejected.append(out)
    return records, rejected


def to_record(rec: RawRecord, name: str, benches: dict[str, dict[str, Any]],
              today: date) -> SourceRecord | Exclusion:
    """One raw record -> a SourceRecord, or an Exclusion naming the record, the field(s) and the problem."""
    f = rec.fields
    problems: list[Problem] = []

    def bad(fld: str) -> Callable[[str], None]:
        return lambda msg: problems.append(Problem(rec.where, fld, msg))

    model = _str(f.get("model"))
    if not model:
        bad("model")("is empty")
    bench_id = _str(f.get("benchmark"))
    bench = benches.get(bench_id)
    if bench is None:
        bad("benchmark")(f"unknown benchmark {bench_id!r}" if bench_id else "is empty")
    score = parse_number(f.get("score"), bad("score"), required=True)
    if score is not None and bench is not None and not _in_range(score, bench):
        bad("score")(f"{score:g} is outside {bench_id}'s range {_range(bench)}")
    stderr = parse_number(f.get("stderr"), bad("stderr"), required=False)
    if stderr is not None and stderr < 0:
        bad("stderr")(f"{stderr:g} is negative")
    release = parse_date(f.get("release_date"), today, bad("release_date")) if _str(f.get("release_date")) else None
    access = _str(f.get("access")).lower() or None
    if access not in (None, "open", "closed"):
        bad("access")(f"{_str(f.get('access'))!r} is not 'open' or 'closed'")
    if problems or score is None:
        return Exclusion("canonical", rec.where, model, REASONS.get(problems[0].field or "", "invalid_record"),
                         "; ".join(map(str, problems)))
    return SourceRecord(model, bench_id, score, _str(f.get("organization")),
                        release.isoformat() if release else None, access, stderr,
                        _str(f.get("source")) or f"canonical:{name}#{rec.where}")


def local_path(location: str) -> Path:
    """The file a `file://` URL or a plain path names."""
    parts = urlsplit(location)
    if parts.scheme.lower() == "file":
        return Path(url2pathname(unquote(parts.path)))
    return Path(location).expanduser()


def _mtime(path: Path) -> str:
    try:
        return str(path.stat().st_mtime_ns)
    except FileNotFoundError:
        raise PullFailed("not_found", f"no such file: {path}") from None
    except OSError as exc:
        raise PullFailed("unreadable", f"cannot read {path}: {exc.strerror or exc}") from None


def _read(path: Path) -> bytes:
    try:
        return read_file(path)  # in chunks, refused past the size limit (a device or a huge file: no OOM)
    except InputTooLarge as exc:
        raise PullFailed("too_large", str(exc)) from None
    except FileNotFoundError:
        raise PullFailed("not_found", f"no such file: {path}") from None
    except OSError as exc:
        raise PullFailed("unreadable", f"cannot read {path}: {exc.strerror or exc}") from None


def _problems(exc: InvalidInput) -> str:
    shown = "; ".join(str(p) for p in exc.problems[:SHOWN_PROBLEMS])
    more = len(exc.problems) - SHOWN_PROBLEMS
    return f"{exc.origin}: {shown}" + (f" (and {more} more)" if more > 0 else "")


def _in_range(score: float, bench: dict[str, Any]) -> bool:
    lo, hi = bench.get("min"), bench.get("max")
    return (lo is None or score >= lo) and (hi is None or score <= hi)


def _range(bench: dict[str, Any]) -> str:
    lo, hi = bench.get("min"), bench.get("max")
    return f"[{'-inf' if lo is None else f'{lo:g}'}, {'inf' if hi is None else f'{hi:g}'}]"


def _str(v: Any) -> str:
    return "" if v is None else str(v).strip()
