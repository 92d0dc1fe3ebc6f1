"""Epoch AI Benchmarking Hub connector: `benchmark_data.zip` (default `DEFAULT_URL`).

Contract, beyond `jobs.sources.base`:

* **Fetch.** One conditional GET (`If-None-Match` / `If-Modified-Since` from the previous validators); a 304
  returns `Pull(not_modified=True)`. `Pull.payload` is the zip's bytes, `Pull.validators` the response's.
* **Layouts.** The zip is read in memory; members are found by file name whatever folder they sit in
  (`__MACOSX/` and dot-files are skipped; the shallowest copy of a name wins).
  - *current* (2025-H2 onwards, the only one seen for real): one CSV per benchmark (`gpqa_diamond.csv`,
    `*_external.csv`, ...) keyed by `Model version`, plus `epoch_capabilities_index.csv`, whose
    `Model accessibility` gives open/closed.
  - *metadata* (unverified: tools expect it, no real copy was found): the same per-benchmark CSVs plus
    `model_metadata.csv` (`model_version, ..., date, organization, accessibility`), which then takes
    precedence over the ECI file for access, dates and organisations, and `benchmark_metadata.csv`
    (`benchmark, source_file, score_column, scale`), used only to cross-check the catalogue (disagreements
    go to `Pull.info["warnings"]`; the catalogue stays authoritative).
  - *legacy* (the ~2025-05 export, `benchmarks_runs.csv` + `model_versions.csv`): tasks listed in
    `LEGACY_TASKS` only (FrontierMath runs there are split public/private and match no catalogued file:
    counted in `Pull.info["unmapped_tasks"]`). It marks no access, so every record has `access=None`.
* **Records.** For each catalogue entry with `source = "epoch-hub"`: score = `column` x `value_factor`,
  stderr = `stderr_column` x `stderr_factor` or the `stderr_ci` 95 % interval / (2 x 1.96); release date and
  organisation from the row, else from the model table. `model` is the `Model version` with Epoch's effort
  suffix stripped (`forecasts.records.names.strip_effort`: `o3-2025-04-16_high` -> `o3-2025-04-16`); `source` is
  `epoch-hub:<file>#<Model version>`. Per (model, benchmark) the best score is kept.
* **Rejections** (`Pull.rejected`, source `epoch-hub`, record `<file>#<version>[@<row id>]`): blank
  `Model version` -> `unmatched`; accessibility `Unreleased` -> `unreleased`; a blank, non-numeric or
  out-of-range score -> `invalid_score`; the lower score of a pair -> `duplicate`.
* **Faults** -> `PullFailed("bad_format", ...)` naming the file: a body that is not a zip (an HTML page), a
  truncated or corrupt zip, a zip without any known file, a catalogued file missing its key or score
  column (or the ECI / model metadata missing its accessibility column), a member that is not CSV.
  A catalogued file absent from the zip is not a fault: it is listed in `Pull.info["missing_files"]`.
  CSVs the catalogue does not know are listed in `Pull.info["unknown_files"]`.
"""

from __future__ import annotations

import csv
import io
import logging
import math
import zipfile
import zlib
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from pathlib import PurePosixPath
from typing import Any

from forecasts.records.model import Exclusion
from forecasts.records.names import strip_effort
from jobs.http import Http, PullFailed
from jobs.sources.base import Pull, SourceRecord
from jobs.sources.catalog import entries

log = logging.getLogger(__name__)

SOURCE_ID = "epoch-hub"
DEFAULT_URL = "https://epoch.ai/data/benchmark_data.zip"
KEY = "Model version"
ECI_FILE = "epoch_capabilities_index.csv"
ECI_ACCESS = "Model accessibility"
MODEL_META = "model_metadata.csv"
BENCH_META = "benchmark_metadata.csv"
LEGACY_RUNS = "benchmarks_runs.csv"
LEGACY_VERSIONS = "model_versions.csv"
LEGACY_SCORE = "Best score (across scorers)"
# Shipped in the real zip (additional_eci_data/) but not scores: neither used nor "unknown".
AUXILIARY = frozenset({"eci_benchmark_difficulties_and_slopes.csv", "eci_scaling.csv"})
# Legacy `task` -> the current file holding the same benchmark.
LEGACY_TASKS = {
    "GPQA diamond": "gpqa_diamond.csv",
    "MATH level 5": "math_level_5.csv",
    "OTIS Mock AIME 2024-2025": "otis_mock_aime_2024_2025.csv",
    "SWE-Bench verified": "swe_bench_verified.csv",
}
MAX_MEMBER_BYTES = 8 << 20  # the largest real member is ~90 kB; anything near this is not Epoch's CSV
MAX_ROWS = 100_000  # per CSV: the largest real one has ~600 rows
_READ_CHUNK = 1 << 16
Z95 = 1.959963984540054


def _bad(message: str) -> PullFailed:
    return PullFailed("bad_format", message)


# --- the zip and its CSVs --------------------------------------------------------------------------


@dataclass(frozen=True)
class Table:
    """One parsed CSV member: `path` inside the zip, `name` its file name, header names stripped."""

    path: str
    name: str
    header: list[str]
    rows: list[dict[str, str]]


def _describe(body: bytes) -> str:
    """What a non-zip body looks like, for the error message."""
    head = body[:512].lstrip().lower()
    if not head:
        return "an empty body"
    if head.startswith((b"<!doctype html", b"<html")) or b"<html" in head:
        return "an HTML page"
    if head[:1] in (b"{", b"["):
        return "JSON"
    return f"{len(body)} bytes starting {body[:8]!r}"


def _open_zip(body: bytes) -> zipfile.ZipFile:
    if not body.startswith(b"PK"):
        raise _bad(f"benchmark_data.zip: the body is {_describe(body)}, not a zip")
    try:
        return zipfile.ZipFile(io.BytesIO(body))
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, OSError) as exc:
        raise _bad(f"benchmark_data.zip: truncated or corrupt zip of {len(body)} bytes ({exc})") from None


def parse_csv(path: str, text: str) -> Table:
    """A CSV's header and rows (a real parser: fields may span lines). Rows with no value at all are skipped.
    Raises bad_format when `text` is not a rectangular CSV."""
    first = text.lstrip()[:1]
    if not first:
        raise _bad(f"{path}: empty, no CSV header")
    if first in "<{[":
        raise _bad(f"{path}: looks like {'HTML' if first == '<' else 'JSON'}, not CSV")
    if "\x00" in text:
        raise _bad(f"{path}: contains NUL bytes, not CSV")
    table = []
    try:
        for cells in csv.reader(io.StringIO(text, newline=""), strict=True):
            table.append(cells)
            if len(table) > MAX_ROWS:
                raise _bad(f"{path}: more than {MAX_ROWS} rows, not an Epoch benchmark CSV")
    except csv.Error as exc:
        raise _bad(f"{path}: not valid CSV ({exc})") from None
    header = [h.strip() for h in table[0]]
    rows = []
    for n, cells in enumerate(table[1:], start=1):
        if not any(c.strip() for c in cells):
            continue
        if len(cells) != len(header):
            raise _bad(f"{path}: record {n} has {len(cells)} fields, the header has {len(header)}")
        rows.append(dict(zip(header, cells, strict=True)))
    return Table(path, PurePosixPath(path).name, header, rows)


class HubZip:
    """The members of a benchmark_data.zip by file name, parsed on demand (each CSV once)."""

    def __init__(self, body: bytes) -> None:
        self._zip = _open_zip(body)
        self.members: dict[str, zipfile.ZipInfo] = {}
        for info in sorted(self._zip.infolist(), key=lambda i: (i.filename.count("/"), i.filename)):
            p = PurePosixPath(info.filename)
            if p.is_absolute() or ".." in p.parts or "\\" in info.filename:
                raise _bad(f"member {info.filename[:100]!r} has an unsafe path (absolute or '..'): refused")
            if not info.is_dir() and "__MACOSX" not in p.parts and not p.name.startswith("."):
                self.members.setdefault(p.name, info)
        self._tables: dict[str, Table] = {}

    def csv_names(self) -> set[str]:
        return {n for n in self.members if n.lower().endswith(".csv")}

    def table(self, name: str) -> Table:
        """The parsed CSV called `name` (which must be a member)."""
        if name not in self._tables:
            info = self.members[name]
            self._tables[name] = parse_csv(info.filename, self._text(info))
        return self._tables[name]

    def _text(self, info: zipfile.ZipInfo) -> str:
        if info.file_size > MAX_MEMBER_BYTES:
            raise _bad(f"{info.filename}: {info.file_size} bytes uncompressed, too large for an Epoch CSV")
        try:
            data = self._read_capped(info)
        except (zipfile.BadZipFile, zlib.error, EOFError, OSError, RuntimeError, NotImplementedError) as exc:
            raise _bad(f"{info.filename}: cannot be read from the zip ({exc})") from None
        try:
            return data.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise _bad(f"{info.filename}: not UTF-8 text, so not a CSV") from None


    def _read_capped(self, info: zipfile.ZipInfo) -> bytes:
        """The member's bytes, read in chunks and refused past its declared size or MAX_MEMBER_BYTES: a zip
        bomb (a small declared size, a huge real one) is never inflated in memory."""
        limit = min(info.file_size, MAX_MEMBER_BYTES)
        parts, total = [], 0
        with self._zip.open(info) as member:
            while chunk := member.read(_READ_CHUNK):
                total += len(chunk)
                if total > limit:
                    raise _bad(f"{info.filename}: inflates past its declared {info.file_size} bytes: refused")
                parts.append(chunk)
        return b"".join(parts)


def _require(table: Table, columns: Iterable[str], why: str, hint: str = "") -> None:
    for col in columns:
        if col not in table.header:
            shown = ", ".join(repr(h) for h in table.header[:15]) + (", ..." if len(table.header) > 15 else "")
            raise _bad(f"{table.path}: column {col!r} ({why}) is missing{hint}; its columns are: {shown}")


# --- models: access, release date, organisation -----------------------------------------------------


@dataclass(frozen=True)
class ModelInfo:
    """What the hub says about one model version. `access`: open | closed | unreleased | None."""

    access: str | None = None
    release_date: str | None = None
    organization: str = ""


def epoch_access(text: str) -> str | None:
    """Epoch `Model accessibility` -> open | closed | unreleased; None when blank or not in the vocabulary."""
    t = " ".join(text.split()).lower()
    if t.startswith("open weights"):
        return "open"
    if t in {"api access", "hosted access (no api)"}:
        return "closed"
    return "unreleased" if t == "unreleased" else None


def iso_date(text: str | None) -> str | None:
    """YYYY-MM-DD from a cell that starts with one, else None."""
    t = (text or "").strip()[:10]
    try:
        return date.fromisoformat(t).isoformat() if len(t) == 10 else None
    except ValueError:
        return None


@dataclass
class Models:
    """Model versions by exact `Model version`, with a fallback on the effort-stripped name (an
    `o3-2025-04-16_medium` row takes the access of `o3-2025-04-16_high` when only that one is listed)."""

    exact: dict[str, ModelInfo] = field(default_factory=dict)
    unknown_access: set[str] = field(default_factory=set)
    _loose: dict[str, list[str]] = field(default_factory=dict, repr=False)
    _indexed: int = field(default=0, repr=False)

    def add(self, version: str, access_text: str, when: str, org: str) -> None:
        access = epoch_access(access_text)
        if access is None and access_text.strip():
            self.unknown_access.add(" ".join(access_text.split()))
        old = self.exact.get(version, ModelInfo())  # a later file fills in, never blanks out
        self.exact[version] = ModelInfo(access or old.access, iso_date(when) or old.release_date,
                                        org.strip() or old.organization)

    def get(self, version: str) -> ModelInfo | None:
        """The exact version's info, else one merged from the versions sharing its stripped name."""
        if version in self.exact:
            return self.exact[version]
        if self._indexed != len(self.exact):  # (re)build the stripped-name index after additions
            self._loose = {}
            for v in sorted(self.exact):
                self._loose.setdefault(strip_effort(v), []).append(v)
            self._indexed = len(self.exact)
        kin = [self.exact[v] for v in self._loose.get(strip_effort(version), [])]
        if not kin:
            return None
        return ModelInfo(next((k.access for k in kin if k.access), None),
                         next((k.release_date for k in kin if k.release_date), None),
                         next((k.organization for k in kin if k.organization), ""))


def load_models(hub: HubZip) -> Models:
    """The model table: ECI rows, overridden by `model_metadata.csv` rows when the zip has that file."""
    models = Models()
    if ECI_FILE in hub.members:
        eci = hub.table(ECI_FILE)
        _require(eci, [KEY], "model key")
        if MODEL_META not in hub.members:
            _require(eci, [ECI_ACCESS], "the only open/closed flag in the zip")
        for r in eci.rows:
            if r[KEY].strip():
                models.add(r[KEY].strip(), r.get(ECI_ACCESS, ""), r.get("Release date", ""),
                           r.get("Organization", ""))
    if MODEL_META in hub.members:
        meta = hub.table(MODEL_META)
        _require(meta, ["model_version", "accessibility"], "open/closed flag")
        for r in meta.rows:
            if r["model_version"].strip():
                models.add(r["model_version"].strip(), r["accessibility"], r.get("date", ""),
                           r.get("organization", ""))
    return models


# --- scores ----------------------------------------------------------------------------------------


def _number(cell: str | None) -> float | None:
    try:
        v = float((cell or "").strip())
    except ValueError:
        return None
    return v if math.isfinite(v) else None


def _factor(entry: dict[str, Any], key: str) -> float:
    v = entry.get(key)
    return 1.0 if v is None else float(v)


def _stderr(entry: dict[str, Any], row: dict[str, str]) -> float | None:
    """The catalogue's stderr for a row (None when blank, negative or not given)."""
    se: float | None = None
    if entry.get("stderr_column"):
        se = _number(row.get(entry["stderr_column"]))
    elif entry.get("stderr_ci"):
        lo, hi = (_number(row.get(c)) for c in entry["stderr_ci"])
        se = (hi - lo) / (2 * Z95) if lo is not None and hi is not None and hi >= lo else None
    if se is None or se < 0:
        return None
    return se * _factor(entry, "stderr_factor")


def _in_range(entry: dict[str, Any], value: float) -> bool:
    lo, hi = entry.get("min"), entry.get("max")
    return (lo is None or value >= lo) and (hi is None or value <= hi)


@dataclass(frozen=True)
class Candidate:
    """A valid score before duplicates are resolved; `ref` is its exclusion record."""

    record: SourceRecord
    ref: str
    version: str


def _row_label(row: dict[str, str]) -> str:
    return next((row[c].strip() for c in ("Name", "Agent", "Notes") if row.get(c, "").strip()), "")


def entry_scores(entry: dict[str, Any], table: Table, models: Models) -> tuple[list[Candidate], list[Exclusion]]:
    """The candidates and rejections of one catalogue entry in one table (columns already checked)."""
    col, factor = entry["column"], _factor(entry, "value_factor")
    counts = Counter(r.get(KEY, "").strip() for r in table.rows)
    found: list[Candidate] = []
    rejected: list[Exclusion] = []
    for n, row in enumerate(table.rows, start=1):
        version = row.get(KEY, "").strip()
        rid = (row.get("id") or "").strip() or f"row{n}"
        if not version:
            rejected.append(Exclusion(SOURCE_ID, f"{table.name}#{rid}", _row_label(row), "unmatched",
                                      "blank Model version: Epoch did not map this row to a model"))
            continue
        ref = f"{table.name}#{version}" + (f"@{rid}" if counts[version] > 1 else "")
        info = models.get(version) or ModelInfo()
        if info.access == "unreleased":
            rejected.append(Exclusion(SOURCE_ID, ref, version, "unreleased",
                                      f"{version} is marked Unreleased by Epoch"))
            continue
        raw = _number(row.get(col))
        value = None if raw is None else raw * factor
        if value is None or not _in_range(entry, value):
            what = repr(row.get(col, "")) if value is None else f"{value:g}"
            rejected.append(Exclusion(SOURCE_ID, ref, version, "invalid_score",
                                      f"{entry['id']}: score {what} is blank, not a number or outside "
                                      f"[{entry.get('min')}, {entry.get('max')}]"))
            continue
        record = SourceRecord(
            model=strip_effort(version), benchmark=entry["id"], score=value,
            organization=row.get("Organization", "").strip() or info.organization,
            release_date=iso_date(row.get("Release date")) or info.release_date,
            access=info.access, stderr=_stderr(entry, row), source=f"{SOURCE_ID}:{table.name}#{version}")
        found.append(Candidate(record, ref, version))
    return found, rejected


def best_scores(found: list[Candidate], higher_is_better: dict[str, bool]) -> tuple[list[SourceRecord],
                                                                                      list[Exclusion]]:
    """The best candidate per (model, benchmark); every other one becomes a `duplicate` rejection."""
    best: dict[tuple[str, str], Candidate] = {}
    rejected: list[Exclusion] = []
    for c in sorted(found, key=lambda c: (c.record.model, c.record.benchmark, c.ref)):
        k = (c.record.model, c.record.benchmark)
        cur = best.get(k)
        if cur is None:
            best[k] = c
            continue
        hib = higher_is_better.get(c.record.benchmark, True)
        better = c.record.score > cur.record.score if hib else c.record.score < cur.record.score
        loser, winner = (cur, c) if better else (c, cur)
        best[k] = winner
        rejected.append(Exclusion(SOURCE_ID, loser.ref, loser.version, "duplicate",
                                  f"second score for {k[0]} on {k[1]} ({loser.record.score:g}); kept "
                                  f"{winner.record.score:g} from {winner.record.source}"))
    return [best[k].record for k in sorted(best)], rejected


# --- layouts ---------------------------------------------------------------------------------------


def _bench_meta(hub: HubZip) -> dict[str, dict[str, str]]:
    """`benchmark_metadata.csv` rows by the file name of their `source_file` ({} without that file)."""
    if BENCH_META not in hub.members:
        return {}
    meta = hub.table(BENCH_META)
    _require(meta, ["source_file", "score_column"], "benchmark metadata")
    return {PurePosixPath(r["source_file"].strip()).name: r for r in meta.rows if r["source_file"].strip()}


def _check_entry(entry: dict[str, Any], table: Table, meta: dict[str, str] | None, warnings: list[str]) -> None:
    """Fail on a missing key or score column; warn on a missing stderr column or a metadata disagreement."""
    named = (meta or {}).get("score_column", "").strip()
    hint = f" (benchmark_metadata.csv now names {named!r})" if named and named != entry["column"] else ""
    _require(table, [KEY], "model key")
    _require(table, [entry["column"]], f"score of {entry['id']}", hint)
    se_cols = [entry["stderr_column"]] if entry.get("stderr_column") else list(entry.get("stderr_ci") or [])
    for c in se_cols:
        if c not in table.header:
            warnings.append(f"{table.path}: stderr column {c!r} is missing; {entry['id']} has no stderr")
    if not meta:
        return
    if named and named != entry["column"]:
        warnings.append(f"{table.path}: benchmark_metadata.csv names score column {named!r}, the catalogue "
                        f"reads {entry['column']!r}")
    scale = _number(meta.get("scale"))
    factor = _factor(entry, "value_factor")
    if entry.get("unit") == "%" and scale is not None and not math.isclose(scale * 100, factor):
        warnings.append(f"{table.path}: benchmark_metadata.csv scale {scale:g} implies value_factor "
                        f"{scale * 100:g}, the catalogue uses {factor:g}")


def _parse_current(hub: HubZip, catalogue: list[dict[str, Any]]) -> Pull:
    models = load_models(hub)
    meta = _bench_meta(hub)
    found: list[Candidate] = []
    rejected: list[Exclusion] = []
    missing: list[str] = []
    warnings: list[str] = []
    for entry in catalogue:
        if entry["file"] not in hub.members:
            missing.append(entry["file"])
            continue
        table = hub.table(entry["file"])
        _check_entry(entry, table, meta.get(entry["file"]), warnings)
        f, r = entry_scores(entry, table, models)
        found += f
        rejected += r
    records, dups = best_scores(found, {e["id"]: bool(e.get("higher_is_better", True)) for e in catalogue})
    known = {e["file"] for e in catalogue} | {MODEL_META, BENCH_META, LEGACY_RUNS, LEGACY_VERSIONS} | AUXILIARY
    unknown = sorted(hub.members[n].filename for n in hub.csv_names() - known)
    if models.unknown_access:
        warnings.append(f"accessibility values outside Epoch's vocabulary (access left unknown): "
                        f"{sorted(models.unknown_access)}")
    if missing:
        log.info("epoch-hub: %d catalogued file(s) not in the zip: %s", len(missing), ", ".join(missing))
    if unknown:
        log.info("epoch-hub: CSVs the catalogue does not know: %s", ", ".join(unknown))
    for w in warnings:
        log.warning("epoch-hub: %s", w)
    layout = "metadata" if MODEL_META in hub.members or BENCH_META in hub.members else "current"
    info = {"layout": layout, "missing_files": sorted(missing), "unknown_files": unknown, "warnings": warnings}
    return Pull(SOURCE_ID, records=records, rejected=rejected + dups, info=info)


def _parse_legacy(hub: HubZip, catalogue: list[dict[str, Any]]) -> Pull:
    runs = hub.table(LEGACY_RUNS)
    _require(runs, ["task", "model", LEGACY_SCORE], "legacy run")
    dates: dict[str, str] = {}
    if LEGACY_VERSIONS in hub.members:
        versions = hub.table(LEGACY_VERSIONS)
        _require(versions, ["id", "Version release date"], "legacy model version")
        dates = {r["id"].strip(): r["Version release date"] for r in versions.rows}
    by_file = {e["file"]: e for e in catalogue}
    by_task: dict[str, list[dict[str, str]]] = {}
    for r in runs.rows:
        by_task.setdefault(r["task"].strip(), []).append(r)
    found: list[Candidate] = []
    rejected: list[Exclusion] = []
    unmapped: dict[str, int] = {}
    for task, rows in sorted(by_task.items()):
        entry = by_file.get(LEGACY_TASKS.get(task, ""))
        if entry is None:
            unmapped[task] = len(rows)
            continue
        # the run rows in the current layout's vocabulary (the legacy export has no organisation or access)
        col = entry["column"]
        table = Table(runs.path, runs.name, [KEY, col, "Release date", "id"],
                      [{KEY: r["model"], col: r[LEGACY_SCORE], "Release date": dates.get(r["model"].strip(), ""),
                        "id": r.get("id", "")} for r in rows])
        f, rej = entry_scores(_without_stderr(entry), table, Models())
        found += f
        rejected += rej
    records, dups = best_scores(found, {e["id"]: bool(e.get("higher_is_better", True)) for e in catalogue})
    if unmapped:
        log.info("epoch-hub legacy export: tasks without a catalogued benchmark: %s", unmapped)
    info = {"layout": "legacy", "missing_files": [], "unknown_files": [], "warnings": [],
            "unmapped_tasks": unmapped}
    return Pull(SOURCE_ID, records=records, rejected=rejected + dups, info=info)


def _without_stderr(entry: dict[str, Any]) -> dict[str, Any]:
    """`entry` without stderr fields (the legacy export has only a `choice:0.35±0.03` summary string)."""
    return {k: v for k, v in entry.items() if k not in {"stderr_column", "stderr_ci"}}


def parse_hub_zip(body: bytes, catalogue: list[dict[str, Any]] | None = None) -> Pull:
    """Parse a benchmark_data.zip (any of the three layouts) into a Pull without payload or validators.
    `catalogue` defaults to the shipped entries with `source = "epoch-hub"`. Raises PullFailed("bad_format")."""
    cat = catalogue if catalogue is not None else entries(SOURCE_ID)
    hub = HubZip(body)
    names = hub.csv_names()
    if names & {e["file"] for e in cat}:
        return _parse_current(hub, cat)
    if LEGACY_RUNS in names:
        return _parse_legacy(hub, cat)
    found = ", ".join(sorted(i.filename for i in hub.members.values())[:10]) or "nothing"
    raise _bad(f"benchmark_data.zip: none of the catalogued Epoch files is in the zip (found: {found})")


class EpochHub:
    """The Epoch AI Benchmarking Hub source (see the module docstring for the contract)."""

    id = SOURCE_ID

    def __init__(self, url: str = DEFAULT_URL) -> None:
        self.url = url

    def pull(self, http: Http, validators: dict[str, str]) -> Pull:
        """Conditional GET of the zip, then `parse_hub_zip`. Raises PullFailed."""
        resp = http.get(self.url, validators=validators)
        if resp.not_modified:
            return Pull(self.id, not_modified=True, validators=resp.validators() or dict(validators))
        pull = parse_hub_zip(resp.body)
        pull.payload = resp.body
        pull.validators = resp.validators()
        log.info("epoch-hub: %d records, %d rejected (%s layout)", len(pull.records), len(pull.rejected),
                 pull.info["layout"])
        return pull

