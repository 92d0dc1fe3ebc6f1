"""The canonical score format (CSV or JSON) that users load: parsing, validation and merging.

CSV columns: `model`, `organization`, `release_date` (YYYY-MM-DD), `access` (`open`|`closed`),
`benchmark` (a benchmark id), `score`, and optional `stderr`, `source` and `as_of` (YYYY-MM-DD: the rating
snapshot a score comes from, on rating-history benchmarks such as Arena; see forecasts/measure/ratings.py). JSON: a
list of objects with the same keys. A file is accepted whole or not at all: `validate` collects every
problem, each naming its line (CSV) or record (JSON) and field, and raises `InvalidInput`.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import date
from typing import Any

from forecasts.measure.ratings import extend_history
from forecasts.records.model import EARLIEST_RELEASE, Access, Dataset, Exclusion, Model, Offer, Score
from forecasts.records.names import NameIndex, canonical_id, name_key, normalize_name, skeleton, strip_effort
from forecasts.records.organisations import country_of

REQUIRED = ("model", "organization", "release_date", "access", "benchmark", "score")
OPTIONAL = ("stderr", "source", "as_of")
MAX_PROBLEMS = 100  # problems reported per file; the rest are counted
TEXT_LIMITS = {"model": 200, "organization": 200, "release_date": 10, "access": 10, "benchmark": 100,
               "source": 500, "as_of": 10}  # longest accepted text per field
_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?", re.ASCII)
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}", re.ASCII)
_CODES = {"model": "invalid_model", "release_date": "invalid_date", "access": "unknown_access",
          "benchmark": "unknown_benchmark", "score": "invalid_score", "stderr": "invalid_score",
          "organization": "conflicting_organization", "as_of": "invalid_date"}
# Words that do not tell organisations apart ("Mistral" is "Mistral AI", "Google" is "Google DeepMind").
_ORG_NOISE = {"ai", "inc", "labs", "lab", "research", "technologies", "technology", "corp", "corporation", "llc",
              "ltd", "co", "the", "group", "cloud", "for", "of", "and", "institute", "foundation", "models"}


@dataclass(frozen=True)
class Problem:
    """One thing wrong with an input: where (e.g. `line 4`), which field, what, and a reason code
    (`invalid_score`, `unmatched`, ...) used when a source's bad record becomes an exclusion."""

    where: str
    field: str | None
    message: str
    code: str = ""

    def __str__(self) -> str:
        return f"{self.where}, field '{self.field}': {self.message}" if self.field else \
            f"{self.where}: {self.message}"


class InvalidInput(ValueError):
    """An input rejected as a whole; `problems` lists what is wrong, record by record."""

    def __init__(self, problems: list[Problem], origin: str = "input") -> None:
        self.problems = problems
        self.origin = origin
        super().__init__(f"{origin}: {len(problems)} problem(s); first: {problems[0]}")


@dataclass(frozen=True)
class RawRecord:
    """An unvalidated record with its location in the input."""

    where: str
    fields: dict[str, Any]


@dataclass(frozen=True)
class Row:
    """A validated canonical record, with its model resolved to a canonical id."""

    where: str
    model_id: str
    model_name: str
    organization: str
    release_date: date
    access: Access
    benchmark: str
    score: float
    stderr: float | None
    source: str
    as_of: date | None = None  # the rating snapshot the score comes from (rating-history benchmarks)


@dataclass
class MergeStats:
    """What a merge changed: scores new/changed/unchanged, models added."""

    new_scores: int = 0
    changed_scores: int = 0
    unchanged_scores: int = 0
    new_models: list[str] = field(default_factory=list)
    touched: set[str] = field(default_factory=set)  # benchmarks with a new or changed score

    def count(self, old: Score | None, new: Score) -> bool:
        """Count `new` against `old`; True when it is new or changed (its benchmark is then touched)."""
        if old is not None and _same(old.value, new.value) and _same(old.stderr, new.stderr) \
                and old.history == new.history:  # a new snapshot with the same rating still extends a series
            self.unchanged_scores += 1
            return False
        if old is None:
            self.new_scores += 1
        else:
            self.changed_scores += 1
        self.touched.add(new.benchmark)
        return True

    @property
    def accepted(self) -> int:
        return self.new_scores + self.changed_scores + self.unchanged_scores


# --- parsing ---------------------------------------------------------------------------------------


def parse(data: bytes, fmt: str | None = None, origin: str = "input") -> list[RawRecord]:
    """Decode `data` as canonical CSV or JSON (`fmt` None: sniffed). Raises InvalidInput."""
    def fail(msg: str) -> InvalidInput:
        return InvalidInput([Problem("file", None, msg)], origin)

    if not data.strip():
        raise fail("the file is empty")
    if b"\x00" in data:
        raise fail("this is a binary file, not CSV or JSON text (it contains NUL bytes)")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise fail(f"not UTF-8 text (byte {exc.start})") from None
    if fmt is None:
        fmt = "json" if text.lstrip()[:1] in "[{" else "csv"
    if fmt == "json":
        return _parse_json(text, origin)
    if fmt == "csv":
        return _parse_csv(text, origin)
    raise fail(f"unknown format {fmt!r} (expected csv or json)")


def _parse_csv(text: str, origin: str) -> list[RawRecord]:
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = [h.strip() for h in next(reader)]
    except StopIteration:
        header = []
    _check_columns(header, "header", origin)
    records = []
    try:
        for row in reader:
            where = f"line {reader.line_num}"
            if not any(cell.strip() for cell in row):
                continue
            if len(row) != len(header):
                raise InvalidInput([Problem(where, None,
                                            f"has {len(row)} fields, the header has {len(header)}")], origin)
            records.append(RawRecord(where, dict(zip(header, row, strict=True))))
    except csv.Error as exc:
        raise InvalidInput([Problem(f"line {reader.line_num}", None, f"malformed CSV: {exc}")], origin) from None
    if not records:
        raise InvalidInput([Problem("file", None, "no data rows after the header")], origin)
    return records


class DuplicateKeys(ValueError):
    """A JSON object names a key twice (which value was meant is unknowable); `keys` lists them."""

    def __init__(self, keys: list[str]) -> None:
        super().__init__(f"a key appears twice in one object: {', '.join(repr(k[:40]) for k in keys[:5])}")
        self.keys = keys


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    names = [k for k, _ in pairs]
    if len(set(names)) != len(names):
        raise DuplicateKeys(sorted({k for k in names if names.count(k) > 1}))
    return dict(pairs)


def load_json(text: str | bytes) -> Any:
    """`json.loads` that refuses duplicate keys (DuplicateKeys), and turns every other way hostile JSON can
    fail (too deep, a number too long to convert) into ValueError. JSONDecodeError is raised as it is."""
    try:
        return json.loads(text, object_pairs_hook=_unique_keys)
    except (json.JSONDecodeError, DuplicateKeys):
        raise
    except (RecursionError, ValueError, OverflowError) as exc:
        message = "nested too deeply" if isinstance(exc, RecursionError) else str(exc)[:200]
        raise ValueError(message) from None


def _parse_json(text: str, origin: str) -> list[RawRecord]:
    try:
        doc = load_json(text)
    except DuplicateKeys as exc:
        raise InvalidInput([Problem(_record_of(text, exc.keys[0]), None, str(exc))], origin) from None
    except json.JSONDecodeError as exc:
        raise InvalidInput([Problem(f"line {exc.lineno}", None, f"invalid JSON: {exc.msg}")], origin) from None
    except ValueError as exc:
        raise InvalidInput([Problem("file", None, f"invalid JSON: {exc}")], origin) from None
    if not isinstance(doc, list):
        raise InvalidInput([Problem("file", None, "expected a JSON list of score records")], origin)
    if not doc:
        raise InvalidInput([Problem("file", None, "the list of records is empty")], origin)
    records = []
    for i, item in enumerate(doc, start=1):
        where = f"record {i}"
        if not isinstance(item, dict):
            raise InvalidInput([Problem(where, None, "expected an object")], origin)
        _check_columns(list(item), where, origin)
        records.append(RawRecord(where, item))
    return records


def _record_of(text: str, key: str) -> str:
    """Which record of a JSON list repeats `key` (for the message); "file" when it cannot be told."""
    try:
        items = json.loads(text, object_pairs_hook=lambda pairs: pairs)
    except (ValueError, RecursionError):
        return "file"
    for i, item in enumerate(items if isinstance(items, list) else [], start=1):
        names = [k for k, _ in item] if isinstance(item, list) else []
        if names.count(key) > 1:
            return f"record {i}"
    return "file"


def _check_columns(names: list[str], where: str, origin: str) -> None:
    missing = [c for c in REQUIRED if c not in names]
    unknown = [c for c in names if c not in REQUIRED + OPTIONAL]
    problems = []
    if missing:
        problems.append(Problem(where, None, f"missing column(s) {', '.join(missing)}"))
    if unknown:
        shown = ", ".join(repr(c[:40]) for c in unknown[:10]) + (f" and {len(unknown) - 10} more" if
                                                                   len(unknown) > 10 else "")
        problems.append(Problem(where, None, f"unknown column(s) {shown} "
                                f"(expected {', '.join(REQUIRED + OPTIONAL)})"))
    if len(set(names)) != len(names):
        problems.append(Problem(where, None, "a column appears twice"))
    if problems:
        raise InvalidInput(problems, origin)


# --- validation -----------------------------------------------------------------------------------


def validate(records: list[RawRecord], data: Dataset, today: date, origin: str = "input") -> list[Row]:
    """Check every record against the stored `data`; returns rows or raises InvalidInput with all problems.

    Models are resolved by id or any alias; a model new to the store gets a canonical id. A record
    whose release date or access conflicts with the stored model, or with an earlier record of the
    same model, is a problem; so is a second score for the same model and benchmark.
    """
    rows: list[Row] = []
    problems: list[Problem] = []
    for row, found in _check(records, data, today, lenient=False):
        problems.extend(found)
        if row is not None and not found:
            rows.append(row)
    if problems:
        extra = len(problems) - MAX_PROBLEMS
        shown = problems[:MAX_PROBLEMS]
        if extra > 0:
            shown.append(Problem("file", None, f"... and {extra} more problem(s)"))
        raise InvalidInput(shown, origin)
    return rows


def triage(records: list[RawRecord], data: Dataset, today: date, origin: str) -> tuple[list[Row], list[Exclusion]]:
    """Like `validate`, for source pulls: good records become rows, bad ones exclusions (with a reason code),
    and a record may omit `release_date`/`access` when its model is already stored (Arena has no dates)."""
    rows: list[Row] = []
    excluded: list[Exclusion] = []
    for (row, found), rec in zip(_check(records, data, today, lenient=True), records, strict=True):
        if found:
            first = found[0]
            excluded.append(Exclusion(origin, rec.where, _str(rec.fields.get("model")), first.code or "invalid",
                                      "; ".join(str(p) for p in found)))
        elif row is not None:
            rows.append(row)
    return rows, excluded


def _check(records: list[RawRecord], data: Dataset, today: date, *,
           lenient: bool) -> Iterator[tuple[Row | None, list[Problem]]]:
    """Per record: its row (None when unusable) and its problems, including conflicts with earlier records."""
    index = NameIndex()
    for m in data.models.values():
        index.add(m.id, m.id, m.name, *m.aliases)
    seen_model: dict[str, Row] = {}
    seen_pair: dict[tuple[str, str], str] = {}
    seen_skeleton: dict[str, Row] = {}  # new models of this input by the key of their skeleton
    for rec in records:
        found: list[Problem] = []
        row = _validate_record(rec, data, today, index, found, lenient)
        if row is not None:
            first = seen_model.setdefault(row.model_id, row)
            for fld in ("release_date", "access"):
                if getattr(first, fld) != getattr(row, fld):
                    found.append(Problem(rec.where, fld, f"{_text(getattr(row, fld))} conflicts with "
                                         f"{_text(getattr(first, fld))} given for {row.model_name!r} on "
                                         f"{first.where}", f"conflicting_{fld}"))
            new = row.model_id not in data.models
            # A new model's organisation is stored: two different ones in one input cannot both be right.
            if (new or not lenient) and not same_organization(first.organization, row.organization):
                found.append(Problem(rec.where, "organization", f"{row.organization!r} conflicts with "
                                     f"{first.organization!r} given for {row.model_name!r} on {first.where}",
                                     "conflicting_organization"))
            twin = seen_skeleton.setdefault(name_key(skeleton(row.model_name)), row) if new else row
            if twin.model_id != row.model_id:
                found.append(Problem(rec.where, "model", f"{row.model_name!r} looks like {twin.model_name!r} "
                                     f"on {twin.where} but is spelled with other characters", "confusable"))
            pair = (row.benchmark, row.model_id)
            if pair in seen_pair:
                found.append(Problem(rec.where, None, f"duplicate score for {row.model_name!r} on "
                                     f"{row.benchmark} (already on {seen_pair[pair]})", "duplicate"))
            seen_pair.setdefault(pair, rec.where)
        yield row, found


def _validate_record(rec: RawRecord, data: Dataset, today: date, index: NameIndex,
                     problems: list[Problem], lenient: bool = False) -> Row | None:
    f, where = rec.fields, rec.where
    start = len(problems)

    def bad(fld: str, msg: str, code: str = "") -> None:
        problems.append(Problem(where, fld, msg, code or _CODES.get(fld, "invalid")))

    for fld, limit in TEXT_LIMITS.items():
        problem = _text_problem(f.get(fld), limit)
        if problem:
            bad(fld, problem)
    if len(problems) > start:
        return None
    name = normalize_name(_str(f.get("model")))
    if not name:
        bad("model", "is empty")
    model_id, why = _match(name, f, today, index, data) if name else (None, None)
    stored = data.models.get(model_id) if model_id else None
    fill = lenient and stored is not None  # a source that gives no date/access for a model we know
    org = normalize_name(_str(f.get("organization")))
    release = stored.release_date if stored and fill and not _str(f.get("release_date")) else \
        parse_date(f.get("release_date"), today, lambda m: bad("release_date", m))
    access_raw = _str(f.get("access")).lower()
    access = stored.access if stored and fill and not access_raw else \
        (Access(access_raw) if access_raw in {a.value for a in Access} else None)
    if access is None:
        bad("access", f"{_str(f.get('access'))!r} is not 'open' or 'closed'")
    if lenient and stored is None and name and (release is None or access is None):
        problems[start:] = [Problem(where, "model", f"{name!r} is not a stored model and the source gives no "
                                    "release date or access", "unmatched")]
    if why is not None:
        bad("model", why[0], why[1])
    if stored and org and not lenient and not same_organization(org, stored.organization):
        bad("organization", f"{org!r} conflicts with the stored organization {stored.organization!r} of "
                            f"{stored.id!r}", "conflicting_organization")
    bench_id = _str(f.get("benchmark"))
    bench = data.benchmarks.get(bench_id)
    if bench is None:
        bad("benchmark", f"unknown benchmark {bench_id!r} (see `gapcast benchmarks` for the ids)")
    score = parse_number(f.get("score"), lambda m: bad("score", m), required=True)
    if score is not None and bench is not None and not bench.in_range(score):
        bad("score", f"{score:g} is outside {bench.id}'s range {_range(*bench.sane_range())}")
    stderr = parse_number(f.get("stderr"), lambda m: bad("stderr", m), required=False)
    if stderr is not None and stderr < 0:
        bad("stderr", f"{stderr:g} is negative")
    elif stderr is not None and bench is not None and stderr > bench.max_stderr():
        bad("stderr", f"{stderr:g} is larger than {bench.max_stderr():g}, 10% of {bench.id}'s scale "
                      f"{bench.scale:g} (a standard error that large would make any gap a tie)")
    if stored and release and stored.release_date != release:
        bad("release_date", f"{release} conflicts with the stored release date {stored.release_date} "
                            f"of {stored.id!r}", "conflicting_release_date")
    if stored and access and stored.access is not access:
        bad("access", f"{access.value!r} conflicts with the stored access {stored.access.value!r} "
                      f"of {stored.id!r}", "conflicting_access")
    as_of = parse_date(f.get("as_of"), today, lambda m: bad("as_of", m)) if _str(f.get("as_of")) else None
    if len(problems) > start or release is None or access is None or score is None:
        return None
    return Row(where, model_id or canonical_id(name), name, org or (stored.organization if stored else ""),
               release, access, bench_id, score, stderr, _str(f.get("source")), as_of)


def _match(name: str, f: dict[str, Any], today: date, index: NameIndex,
           data: Dataset) -> tuple[str | None, tuple[str, str] | None]:
    """The stored model `name` denotes (None: a new model), or why the record cannot be matched safely:
    (message, reason code). A name several stored models answer to is settled by the record's own release
    date and access, else refused; a new name that imitates a stored one with look-alike characters, or whose
    id a stored model already has, is refused (it would become a twin, or silently merge into that model)."""
    found = index.resolve(name)
    if found is not None:
        return found, None
    cands = [data.models[c] for c in index.candidates(name) if c in data.models]
    if cands:
        release = parse_date(f.get("release_date"), today, lambda _m: None) if _str(f.get("release_date")) else None
        access = _str(f.get("access")).lower()
        fits = [m for m in cands if (release is None or m.release_date == release)
                and (not access or m.access.value == access)]
        if len(fits) == 1 and (release is not None or access):
            return fits[0].id, None
        listing = "; ".join(f"{m.id!r} ({m.release_date}, {m.access.value}, {m.organization or '?'})"
                            for m in cands[:5])
        return None, (f"{name!r} is ambiguous: it may be {listing}, and the record's release_date and access "
                      "single out none of them; use the model id", "ambiguous")
    twin = skeleton(name)
    if twin != name:
        look_alike = index.resolve(twin) or next(iter(index.candidates(twin)), None)
        if look_alike is not None:
            odd = sorted({c for c in name if not c.isascii() and c not in twin})
            return None, (f"{name!r} looks like the stored model {look_alike!r} but is spelled with look-alike "
                          f"characters ({', '.join(f'U+{ord(c):04X}' for c in odd) or 'non-ASCII'}); write it "
                          "as stored, or choose a distinct name", "confusable")
    new_id = canonical_id(name)
    if new_id in data.models:
        return None, (f"{name!r} would get the id {new_id!r} of the stored model {data.models[new_id].name!r}, "
                      "which it does not match; use that model's id or a distinct name", "id_taken")
    return None, None


def same_organization(a: str, b: str) -> bool:
    """Whether organisation names `a` and `b` may denote the same organisation: either is empty, or they
    share a significant word (ignoring case, punctuation and words like "AI", "Labs", "Research"). A stored
    name may list several organisations separated by commas ("DeepSeek,Peking University")."""
    if not a.strip() or not b.strip():
        return True
    words_a, words_b = _org_words(a), _org_words(b)
    if not words_a or not words_b:
        return normalize_name(a).casefold() == normalize_name(b).casefold()
    return bool(words_a & words_b)


def _org_words(org: str) -> set[str]:
    words = re.split(r"[^\w]+|_+", normalize_name(org).casefold())
    return {w for w in words if w and w not in _ORG_NOISE}


def merge(data: Dataset, rows: list[Row], origin: str, retrieved_at: str,
          *, seen_at: str) -> tuple[Dataset, MergeStats]:
    """A new dataset: `data` plus `rows` (new models added, aliases extended, scores upserted).

    `seen_at` (ISO date-time, UTC) becomes the `first_seen` of every new or changed score: a changed
    value is a new observation. An unchanged score is kept whole, its `first_seen` included."""
    out = Dataset(dict(data.models), dict(data.benchmarks), dict(data.scores))
    stats = MergeStats()
    for row in rows:
        model = out.models.get(row.model_id)
        if model is None:
            model = Model(row.model_id, row.model_name, row.organization, row.release_date, row.access,
                          None, tuple(sorted({row.model_id, row.model_name})), country_of(row.organization))
            stats.new_models.append(row.model_id)
        elif row.model_name not in model.aliases:
            model = replace(model, aliases=tuple(sorted({*model.aliases, row.model_name})))
        out.models[row.model_id] = model
        score = Score(row.model_id, row.benchmark, row.score, row.stderr,
                      row.source or f"{origin}#{row.where}", retrieved_at, seen_at)
        old = out.scores.get((row.benchmark, row.model_id))
        score = extend_history(old, score, row.as_of)  # rating snapshots (Arena)
        if stats.count(old, score):
            out.scores[(row.benchmark, row.model_id)] = score  # an unchanged score keeps its provenance
    return out, stats


def merge_offers(data: Dataset, rows: list[Row], offers: Mapping[str, Offer]) -> Dataset:
    """`data` with the prices and speeds of `offers` (source model name -> Offer) put on the models `rows`
    matched those names to. Of several names folded into one model (configuration variants) the offer with
    the most figures wins (then the first name in sorted order); a stored offer is replaced only by one
    published on the same day or later, so an older capture never overwrites a newer price."""
    best: dict[str, tuple[int, Offer]] = {}
    for row in sorted(rows, key=lambda r: r.model_name):  # sorted: on equal figures the first name wins
        offer = offers.get(row.model_name)
        if offer is None or row.model_id not in data.models:
            continue
        figures = sum(v is not None for v in (offer.price_blended, offer.price_input, offer.price_output,
                                               offer.output_tokens_per_second))
        if row.model_id not in best or figures > best[row.model_id][0]:
            best[row.model_id] = (figures, offer)
    if not best:
        return data
    models = dict(data.models)
    for model_id, (_, offer) in best.items():
        stored = models[model_id].offer
        if stored is None or offer.as_of >= stored.as_of:
            models[model_id] = replace(models[model_id], offer=offer)
    return Dataset(models, data.benchmarks, data.scores)


def merges_of(rows: list[Row], data: Dataset, origin: str) -> list[dict[str, str]]:
    """Every distinct source name in `rows` that the matcher merged into a model already in `data` (a name
    other than the model's id), with the rule that merged it (see `merge_rule`)."""
    out: dict[tuple[str, str], dict[str, str]] = {}
    for row in rows:
        model = data.models.get(row.model_id)
        if model is not None and row.model_name.lower() != model.id.lower():
            rule, variant = merge_rule(row.model_name, model)
            out.setdefault((row.model_name, model.id), {"source": origin, "name": row.model_name,
                                                       "id": model.id, "rule": rule, "variant": variant})
    return [out[k] for k in sorted(out)]


def merge_rule(name: str, model: Model) -> tuple[str, str]:
    """How `name` matched `model`, and the configuration tags it carried ("" when none): `alias` (written
    as one of its aliases), `name-key` (same key after case, separators, provider prefix, date format and
    configuration tags), else `release-date` (a key several models share, settled by the record's release
    date and access)."""
    variant = "" if strip_effort(name) == normalize_name(name) else normalize_name(name)
    spelled = {a.casefold() for a in (model.id, model.name, *model.aliases)}
    if name.casefold() in spelled:
        return "alias", variant
    keys = {name_key(a) for a in (model.id, model.name, *model.aliases)}
    return ("name-key" if name_key(name) in keys else "release-date"), variant


# --- field helpers ---------------------------------------------------------------------------------


def _str(v: Any) -> str:
    return "" if v is None else str(v).strip()


def _text_problem(v: Any, limit: int) -> str | None:
    """Why `v` is not acceptable text for a field (None when it is, or absent)."""
    if v is None or (isinstance(v, int | float) and not isinstance(v, bool)):
        return None  # numbers are checked as numbers; absence by the field's own rule
    if not isinstance(v, str):
        return f"must be text, got {type(v).__name__}"
    if len(v) > limit:
        return f"is longer than {limit} characters"
    if any(ord(c) < 32 or ord(c) == 127 or 0xD800 <= ord(c) <= 0xDFFF for c in v):
        return "contains control characters or invalid Unicode"
    return None


def parse_date(v: Any, today: date, bad: Any) -> date | None:
    """A YYYY-MM-DD date from EARLIEST_RELEASE to `today`, or None after calling `bad(message)`."""
    raw = _str(v)
    try:
        if not _ISO_DATE.fullmatch(raw):
            raise ValueError(raw)
        d = date.fromisoformat(raw)
    except ValueError:
        bad(f"{raw[:40]!r} is not a date YYYY-MM-DD" if raw else "is empty")
        return None
    if d > today:
        bad(f"{raw} is in the future")
        return None
    if d < EARLIEST_RELEASE:
        bad(f"{raw} is before {EARLIEST_RELEASE} (no model released before compares)")
        return None
    return d


def parse_number(v: Any, bad: Any, *, required: bool) -> float | None:
    """A finite number, or None (after calling `bad(message)` unless it is optional and blank)."""
    if isinstance(v, bool):
        bad(f"{v!r} is not a number")
        return None
    if isinstance(v, float) and not math.isfinite(v):
        bad(f"{v!r} is not a finite number")
        return None
    raw = _str(v)
    if not raw:
        if required:
            bad("is empty")
        return None
    if raw.lower() in {"nan", "inf", "+inf", "-inf", "infinity", "-infinity"}:
        bad(f"{raw!r} is not a finite number")
        return None
    if not _NUMBER.fullmatch(raw):
        bad(f"{raw[:40]!r} is not a number")
        return None
    x = float(raw)
    if not math.isfinite(x):
        bad(f"{raw[:40]!r} is not a finite number")
        return None
    return x + 0.0  # -0.0 becomes 0.0


def _range(lo: float | None, hi: float | None) -> str:
    return f"[{'-inf' if lo is None else f'{lo:g}'}, {'inf' if hi is None else f'{hi:g}'}]"


def _text(v: Any) -> str:
    return v.value if isinstance(v, Access) else str(v)


SAME_TOLERANCE = 1e-3  # the snapshot stores rounded values; a source's full-precision copy is not a change


def _same(a: float | None, b: float | None) -> bool:
    if a is None or b is None:
        return a is b
    return abs(a - b) <= SAME_TOLERANCE
