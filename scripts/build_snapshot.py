#!/usr/bin/env python3
"""Build the bundled snapshot ``forecasts/data/snapshot.json.gz`` from the raw public data files.

    python scripts/build_snapshot.py --raw ../shared/data/raw --out forecasts/data/snapshot.json.gz
    python scripts/build_snapshot.py --forecasts-only   # only the shipped forecasts, from the bundled snapshot

Then it fits every forecast of that snapshot and writes them, with the engine calibration, to
``forecasts/data/forecasts.json.gz`` (content-addressed like the store: a first start installs them instead
of fitting; tests/test_shipped_forecasts.py fails when the file no longer matches the snapshot or engine).

What it does, in order (precedence for release dates and access: Epoch > Artificial Analysis > others):

1. Epoch Capabilities Index file -> canonical models. Effort variants (``o3-2025-04-16_high``) and
   provider-hosted copies (``chutes/DeepSeek-R1-0528``) share a name key and become one model; versions
   Epoch itself pools (same ``Model name`` and ECI score, released within 45 days, e.g. ``deepseek-chat`` /
   ``deepseek-reasoner`` = DeepSeek-V3.2) are one model too. Access comes from ``Model accessibility``.
2. Artificial Analysis 2026-07-10 payload: each record is matched to an existing model by its name, then
   its Hugging Face repo / OpenRouter id (only when they agree with the name: AA sometimes points at a
   sibling), then a word-order-insensitive key; always within 45 days of the model's release date and
   inside any month tag in the name (``(May '25)``). A record whose only matches are Epoch models
   released more than 45 days apart is excluded (``conflicting_release_date``); unmatched records become
   new models.
3. AA 2025-08-14 scrape, LMArena arena-catalog and arena.ai daily files have no release dates: their names
   must resolve to exactly one known model (a date stamp in the name narrows the choice), else the record
   is excluded ``unmatched``.
4. Epoch benchmark CSVs: each row's ``Model version`` joins to its model (via the ECI file).
5. Models still without access try Epoch's notable / large-scale / frontier models datasets, then LMArena
   licences. (raw/epoch_open_model_trends is not used: its PROVENANCE section is withdrawn.)
6. Every score is checked (numeric, inside the benchmark's range); per model and benchmark the best is kept
   and the others are recorded as ``duplicate``. Nothing is dropped without an exclusion record, except
   null / blank cells in the wide AA files, which mean "not evaluated".

Hand-checked knowledge lives in forecasts/data/benchmark_catalog.toml (shipped: the source connectors read
it too), not here: the benchmarks and their metadata (each with its public launch month ``launched`` and
its ``launch_source``), [aliases] for spellings no rule can reach, [release_date_overrides] for wrong
source dates.

Every score's ``first_seen`` is its source file's capture date (``retrieved_at`` of its [sources] entry,
00:00 UTC): the earliest moment the value is known to have been public, not when it was measured.

The output is deterministic: everything is sorted and the gzip header carries mtime 0.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import io
import json
import math
import re
import sys
import time
import tomllib
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from forecasts.records.model import blended_price, launch_month  # noqa: E402
from forecasts.records.names import (  # noqa: E402
    DATED,
    EXACT,
    LOOSE,
    WEAK,
    NameIndex,
    canonical_id,
    date_stamp,
    name_key,
    strip_effort,
)
from forecasts.records.renames import finish_models  # noqa: E402

# How a source name was merged into a canonical model (the `rule` of a snapshot `merges` entry; README
# "Sources and models"): the match strength that decided, or the Epoch / hand-checked rule.
TIER_RULES = {EXACT: "name-key", WEAK: "family-name", DATED: "dated-form", LOOSE: "word-order+date"}

DATE_WINDOW_DAYS = 45
SCHEMA = 1
SCORE_FIELDS = ["model", "benchmark", "value", "stderr", "source", "retrieved_at", "first_seen", "history"]
# Which rating-history source wins when several hold a snapshot of one date (LMArena's own repo first).
HISTORY_PRIORITY = ("oolong-arena", "fboulnois", "nakasyou", "arena-catalog")
BENCH_FIELDS = ["id", "name", "evaluator", "unit", "min", "max", "higher_is_better", "tie_margin",
                "saturation", "scale", "description", "source_url", "launched", "launch_source",
                "margin_source", "scale_source", "held_out", "held_out_reason", "in_split", "retrospective"]
EVALUATORS = {"epoch", "artificial-analysis", "lmarena"}
REASONS = {"unreleased", "unknown_access", "unmatched", "conflicting_release_date", "no_release_date",
           "invalid_score", "duplicate"}
Z95 = 1.959963984540054


# --- small helpers -------------------------------------------------------------------------------


def read_csv(path: Path) -> list[dict[str, str]]:
    """All rows of a CSV (a real parser: fields may span lines)."""
    with path.open(newline="", encoding="utf-8-sig") as fh:
        return [{(k or "").strip(): (v or "") for k, v in row.items()} for row in csv.DictReader(fh)]


def parse_date(text: str | None) -> date | None:
    text = (text or "").strip()
    try:
        return date.fromisoformat(text[:10]) if len(text) >= 10 else None
    except ValueError:
        return None


def hint_date(name: str) -> tuple[date | None, int]:
    """A date written in a name and how far (days) a release date may be from it to fit.

    A day stamp (``-20250514``) is usually the API snapshot date, a little before or after the public
    release: 14 days. A month tag (``(May '25)``) means that month: the 15th +- 23 days.
    """
    stamp = date_stamp(name)
    if stamp is None:
        return None, 0
    if len(stamp) == 10:
        return parse_date(stamp), 14
    return date(int(stamp[:4]), int(stamp[5:7]), 15), 23


def days_apart(a: date | None, b: date | None) -> int | None:
    return None if a is None or b is None else abs((a - b).days)


def history_stderr(ci: str) -> float | None:
    """A rating-history ``ci`` cell as a standard error: ``+a/-b`` (fboulnois) -> (a + b) / (2 z95),
    ``lo..hi`` (arena-catalog q025..q975) -> (hi - lo) / (2 z95), ``±x`` (arena.ai) -> x / z95; else None."""
    text = (ci or "").strip()
    m = re.fullmatch(r"\+?(\d+(?:\.\d+)?)\s*/\s*-(\d+(?:\.\d+)?)", text)
    if m:
        return (float(m.group(1)) + float(m.group(2))) / (2 * Z95)
    m = re.fullmatch(r"(\d+(?:\.\d+)?)\.\.(\d+(?:\.\d+)?)", text)
    if m and float(m.group(2)) >= float(m.group(1)):
        return (float(m.group(2)) - float(m.group(1))) / (2 * Z95)
    m = re.fullmatch(r"±\s*(\d+(?:\.\d+)?)", text)
    return float(m.group(1)) / Z95 if m else None


def to_float(text: Any) -> float | None:
    """A finite float from a number or a string like ``87%`` / ``1,234``; None when blank or invalid."""
    if text is None or isinstance(text, bool):
        return None
    if isinstance(text, int | float):
        return float(text) if math.isfinite(text) else None
    s = str(text).strip().replace(",", "").rstrip("%").strip()
    if not s:
        return None
    try:
        v = float(s)
    except ValueError:
        return None
    return v if math.isfinite(v) else None


def opt(v: Any) -> float | None:
    """Catalogue numbers: nan means null."""
    if v is None:
        return None
    f = float(v)
    return None if math.isnan(f) else f


QUALIFIERS = {"preview", "exp", "beta", "mini", "nano", "lite", "flash", "pro", "max", "plus", "turbo", "air",
              "fast", "vision", "vl", "omni", "coder", "code", "codex", "ultra", "super", "small", "medium",
              "large"}
REASONING_WORDS = {"reasoning", "thinking", "think", "thinker"}


def _mode(text: str) -> str | None:
    """reasoning / instruct when a name says which variant it is (``(Reasoning)``, ``-Thinking``,
    ``Instruct``, ``(Non-reasoning)``), else None."""
    words = set(re.split(r"[^a-z0-9]+", text.lower()))
    if "non" in words and "reasoning" in words:
        return "instruct"
    if words & REASONING_WORDS:
        return "reasoning"
    return "instruct" if "instruct" in words else None


def trusted_id(name: str, ident: str) -> bool:
    """Whether an AA record's Hugging Face repo / OpenRouter id plausibly names the same model as its
    display name. AA sometimes points a record at a sibling (the 8B repo for a 70B model, the Instruct
    repo for a Reasoning variant, ``qwen3-max`` for ``Qwen3 Max (Preview)``): those ids are not used."""
    if "latest" in name_key(ident).split("-"):
        return False                              # a moving alias (chatgpt-4o-latest), not one model
    size_n, size_i = sizes(name), sizes(ident)
    if size_n and size_i and not size_n & size_i:
        return False
    if contexts(ident) - contexts(name):
        return False                              # Phi-3-mini-128k-instruct for "Phi-3 Mini Instruct 3.8B"
    mode_i, mode_n = _mode(ident), _mode(name)
    if (mode_i == "reasoning" and mode_n != "reasoning") or (mode_i == "instruct" and mode_n == "reasoning"):
        return False
    qual_n = set(name_key(name).split("-")) & QUALIFIERS
    qual_i = set(name_key(ident).split("-")) & QUALIFIERS
    return qual_n == qual_i


def repo_key(repo: str) -> str:
    """Order- and tuning-suffix-insensitive key of a weights repo: ``gemma-4-31B`` = ``gemma-4-31B-it``,
    but ``...-Instruct-2507`` != ``...-Thinking-2507``."""
    return "-".join(sorted(t for t in name_key(repo).split("-") if t not in {"instruct", "it", "chat", "hf", "base"}))


def sizes(text: str) -> set[str]:
    """Parameter-count tokens in a name key (``70b``, ``0.6b``)."""
    return set(re.findall(r"(?:^|-)(\d+(?:\.\d+)?b)(?=-|$)", name_key(text)))


def contexts(text: str) -> set[str]:
    """Context-length tokens in a name key (``128k``, ``4k``): a different context is different weights."""
    return set(re.findall(r"(?:^|-)(\d+k)(?=-|$)", name_key(text)))


def tags_of(name: str) -> str:
    """The configuration tags a name carries and the canonical name drops (``"Adaptive Reasoning, Max
    Effort, Opus 4.8 Fallback"``, ``"_high"``), or "" when none: what a merged variant is recorded as."""
    base = strip_effort(name)
    if " ".join(base.split()) == " ".join(name.split()):
        return ""
    inner = re.findall(r"\(([^()]*)\)", name)
    kept = re.findall(r"\(([^()]*)\)", base)
    dropped = [t for t in inner if t not in kept]
    return ", ".join(dropped) if dropped else name[len(base):].strip(" _-") or name


def aa_offer(m: dict[str, Any], day: str, source: str) -> dict[str, Any] | None:
    """A `forecasts.records.model.Offer` dict from an AA web-payload record's `pricing` and `speed` (USD per million
    tokens; output tokens/s, the median), None when it has neither a price nor a speed. The payload leaves
    `price_1m_blended_3_to_1` null: it is then AA's 3:1 blend of the input and output prices."""
    pricing, speed = m.get("pricing") or {}, m.get("speed") or {}
    p_in, p_out = opt(pricing.get("price_1m_input_tokens")), opt(pricing.get("price_1m_output_tokens"))
    p_in, p_out = (p if p is not None and p >= 0 else None for p in (p_in, p_out))
    blended = opt(pricing.get("price_1m_blended_3_to_1"))
    if blended is None or blended < 0:
        blended = blended_price(p_in, p_out)
    tps = opt(speed.get("output_tokens_per_second"))
    tps = round(tps, 1) if tps is not None and tps > 0 else None
    if p_in is None and p_out is None and tps is None:
        return None
    return {"price_blended": blended, "price_input": p_in, "price_output": p_out, "output_tokens_per_second": tps,
            "as_of": day, "source": source}


def dig(obj: Any, dotted: str) -> Any:
    for part in dotted.split("."):
        if not isinstance(obj, dict):
            return None
        obj = obj.get(part)
    return obj


MONTH_TAG = re.compile(r"\(\s*(?:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\.?\s*'?\s*'?\d{2,4}\s*\)",
                       re.IGNORECASE)

EPOCH_ACCESS = {
    "open weights (unrestricted)": "open",
    "open weights (restricted use)": "open",
    "open weights (non-commercial)": "open",
    "api access": "closed",
    "hosted access (no api)": "closed",
    "unreleased": "unreleased",
}


def epoch_access(text: str) -> str | None:
    return EPOCH_ACCESS.get(" ".join(text.split()).lower())


def licence_access(text: str | None) -> str | None:
    """LMArena-style licence string -> open/closed (``Propretary`` is a real misspelling in the data)."""
    t = (text or "").strip().lower()
    if not t or t in {"other", "-", "unknown", "n/a", "none"}:
        return None
    return "closed" if t.startswith("propr") else "open"


# --- records -------------------------------------------------------------------------------------


@dataclass
class Canon:
    """A canonical model being assembled."""

    id: str
    name: str
    organization: str
    release_date: date | None
    access: str | None          # open | closed | unreleased | None (unknown)
    licence: str | None
    origin: str                 # epoch | aa
    aliases: set[str] = field(default_factory=set)
    hf: set[str] = field(default_factory=set)
    access_from: str = ""
    lookup_names: set[str] = field(default_factory=set)   # names to try in the fallback datasets
    alt_names: list[str] = field(default_factory=list)     # other display names (AA)
    family_name: bool = False                               # name is Epoch's Model name, unique to it


@dataclass
class Pending:
    """A score waiting for the final checks."""

    model: str
    bench: str
    value: float | None
    stderr: float | None
    source: str                 # e.g. epoch-hub:hle_external.csv#o3-2025-04-16_high
    retrieved: str
    src_id: str                 # exclusion `source`
    record: str                 # exclusion `record`
    name: str                   # the name the source used
    raw: str = ""               # the raw cell, for invalid_score details
    history: list[tuple[str, float, float | None]] | None = None   # rating snapshots (Arena)


@dataclass
class Bench:
    meta: dict[str, Any]
    spec: dict[str, Any]

    @property
    def id(self) -> str:
        return str(self.meta["id"])

    def in_range(self, v: float) -> bool:
        lo, hi = self.meta["min"], self.meta["max"]
        return math.isfinite(v) and (lo is None or v >= lo) and (hi is None or v <= hi)


# --- the builder ---------------------------------------------------------------------------------


class Builder:
    def __init__(self, raw: Path, catalog: dict[str, Any]) -> None:
        self.raw = raw
        self.catalog = catalog
        self.held_out = tomllib.loads(
            (REPO / "forecasts" / "data" / "held_out.toml").read_text("utf-8"))
        self.sources: dict[str, dict[str, Any]] = catalog["sources"]
        self.benches = self._load_benches()
        self.models: dict[str, Canon] = {}
        self.index = NameIndex()
        self.pending: list[Pending] = []
        self.exclusions: list[dict[str, str]] = []
        self.version_to_model: dict[str, str] = {}
        self.arena_licence: dict[str, str] = {}
        self.used_sources: set[str] = set()
        self.manual_done: set[str] = set()
        self.short_index = NameIndex()
        self.arena_org: dict[str, str] = {}
        self.names = tomllib.loads((REPO / "forecasts" / "data" / "names.toml").read_text("utf-8"))
        self.merges: list[dict[str, str]] = []
        self.last_rule = ""
        self.offers: dict[str, list[tuple[tuple[int, int, int, str], dict[str, Any]]]] = defaultdict(list)

    def merged(self, source: str, name: str, mid: str, rule: str) -> None:
        """Record that the source name `name` was merged into model `mid` by `rule` (skipped when the
        name is the id itself, in any case)."""
        if name.strip().lower() != mid:
            self.merges.append({"source": source, "name": name, "id": mid, "rule": rule,
                                "variant": tags_of(name)})
        self._history_why: dict[str, str] = {}   # Arena keys left unmatched by load_arena_history, and why

    # -- catalogue

    def _load_benches(self) -> list[Bench]:
        templates = self.catalog.get("templates", {})
        out: list[Bench] = []
        seen: set[str] = set()
        for spec in self.catalog["benchmark"]:
            merged = dict(templates.get(spec.get("template", ""), {}))
            merged.update(spec)
            meta = {
                "id": merged["id"],
                "name": merged["name"],
                "evaluator": merged["evaluator"],
                "unit": merged["unit"],
                "min": opt(merged.get("min")),
                "max": opt(merged.get("max")),
                "higher_is_better": bool(merged["higher_is_better"]),
                "tie_margin": float(merged["tie_margin"]),
                "saturation": opt(merged.get("saturation")),
                "scale": float(merged["scale"]),
                "description": merged.get("description", ""),
                "source_url": merged.get("source_url", ""),
                "launched": self._launched(merged),
                "launch_source": str(merged.get("launch_source", "")).strip(),
                "margin_source": str(merged.get("margin_source", "")).strip(),
                "scale_source": str(merged.get("scale_source", "")).strip(),
                "retrospective": bool(merged.get("retrospective", False)),
                **self._test_set(merged),
            }
            for why in ("margin_source", "scale_source"):
                if not meta[why]:
                    raise SystemExit(f"catalogue: {meta['id']}: {why} is missing (where "
                                     f"{why.split('_')[0]} comes from)")
            if not meta["launch_source"]:
                raise SystemExit(f"catalogue: {meta['id']}: launch_source is missing (a citation, or "
                                 f"'unverified: ...')")
            if meta["evaluator"] not in EVALUATORS:
                raise SystemExit(f"catalogue: {meta['id']}: unknown evaluator {meta['evaluator']!r}")
            if meta["id"] in seen or not re.fullmatch(r"[a-z0-9][a-z0-9-]*", meta["id"]):
                raise SystemExit(f"catalogue: bad or duplicate benchmark id {meta['id']!r}")
            if merged.get("source") not in self.sources:
                raise SystemExit(f"catalogue: {meta['id']}: unknown source {merged.get('source')!r}")
            seen.add(meta["id"])
            out.append(Bench(meta, merged))
        return out

    def _test_set(self, spec: dict[str, Any]) -> dict[str, Any]:
        """`held_out`, its reason and `in_split` (False: on neither side of the split) from
        forecasts/data/held_out.toml: a per-benchmark entry, else the evaluator's default (LMArena)."""
        entry = self.held_out.get("benchmark", {}).get(spec["id"]) or (
            self.held_out.get("arena") if spec["evaluator"] == "lmarena" else None)
        if entry is None:
            raise SystemExit(f"held_out.toml: {spec['id']}: no entry (held_out = true|false, reason)")
        if not isinstance(entry.get("held_out"), bool) or not str(entry.get("reason", "")).strip():
            raise SystemExit(f"held_out.toml: {spec['id']}: needs held_out = true|false and a reason")
        return {"held_out": entry["held_out"], "held_out_reason": str(entry["reason"]).strip(),
                "in_split": bool(entry.get("split", True))}

    @staticmethod
    def _launched(spec: dict[str, Any]) -> str:
        """The benchmark's launch month as an ISO date (first of the month); every benchmark has one."""
        try:
            when = launch_month(spec.get("launched"))
        except ValueError as exc:
            raise SystemExit(f"catalogue: {spec['id']}: launched: {exc}") from None
        if when is None:
            raise SystemExit(f"catalogue: {spec['id']}: launched (YYYY-MM) is missing")
        return when.isoformat()

    def benches_of(self, source: str) -> list[Bench]:
        return [b for b in self.benches if b.spec["source"] == source]

    def src_dir(self, source: str) -> Path:
        return self.raw / self.sources[source]["dir"]

    # -- models and the name index

    def new_id(self, base: str, when: date | None) -> str:
        mid = base
        if mid in self.models and when is not None:
            mid = f"{base}-{when.isoformat()}"
        n = 2
        while mid in self.models:
            mid = f"{base}-{n}"
            n += 1
        return mid

    def add_aliases(self, canon: Canon, *names: str, weak: bool = False) -> None:
        """Record names as aliases. A name carrying a month tag (``GPT-4o (Nov '24)``) is indexed as weak:
        without its tag it would claim the bare family name (``GPT-4o``) for one version."""
        clean = [" ".join(n.split()) for n in names if n and n.strip()]
        canon.aliases.update(clean)
        tagged = [n for n in clean if MONTH_TAG.search(n)]
        self.index.add(canon.id, *(n for n in clean if n not in tagged), weak=weak)
        self.index.add(canon.id, *tagged, weak=True)

    def exclude(self, src_id: str, record: str, name: str, reason: str, detail: str) -> None:
        assert reason in REASONS, reason
        self.exclusions.append({"source": src_id, "record": record, "name": name, "reason": reason,
                                "detail": detail})

    def choose(self, tiers: list[set[str]], when: date | None, window: int, veto_hf: str | None = None,
               tag: tuple[date | None, int] = (None, 0)) -> tuple[str | None, list[str]]:
        """Pick one candidate, trying match strengths in turn (exact, weak, dated form, loose). Within
        a strength the candidate must be released within ``window`` days of ``when`` (the nearest wins),
        or be the only, undated, candidate; a tie defers to the next strength (when there is no date at
        all, the first strength that knows the name decides). ``veto_hf`` drops
        candidates known under another weights repo; ``tag`` (a date written in the name, with its
        tolerance) drops candidates released outside it.
        Returns (model id or None, candidates rejected for their release date)."""
        def keep(c: str) -> bool:
            m = self.models[c]
            if veto_hf and m.hf and veto_hf not in m.hf:
                return False
            gap = days_apart(m.release_date, tag[0])
            return gap is None or gap <= tag[1]

        far: list[str] = []
        tied = False
        for strength in (EXACT, WEAK, DATED, LOOSE):
            pool = sorted(c for c in tiers[strength] if keep(c))
            if not pool:
                continue
            if when is None:                       # nothing to break a tie with: ambiguous
                self.last_rule = TIER_RULES[strength]
                return (pool[0] if len(pool) == 1 else None), []
            near: list[tuple[int, str]] = []
            undated: list[str] = []
            for c in pool:
                gap = days_apart(self.models[c].release_date, when)
                if gap is None:
                    undated.append(c)
                elif gap <= window:
                    near.append((gap, c))
                else:
                    far.append(c)
            near.sort()
            self.last_rule = TIER_RULES[strength] + ("" if strength == EXACT and when is None else
                                                     f" (released within {window} days)")
            if near and (len(near) == 1 or near[0][0] < near[1][0]):
                return near[0][1], []
            if not near and len(undated) == 1 and len(pool) == 1:
                return undated[0], []
            tied = tied or bool(near)
        return None, [] if tied else far        # ambiguous is not a date conflict

    def match_dated(self, idents: list[tuple[str, bool]], when: date | None, names: list[str],
                    veto_hf: str | None = None) -> tuple[str | None, list[str]]:
        """Match a dated record. ``idents``: (identifier, may-signal-a-conflict) in priority order;
        ``names``: identifiers also tried with the loose key. Returns (id, conflicting Epoch ids)."""
        conflicts: list[str] = []
        tag = hint_date(names[0]) if names else (None, 0)
        for ident, conflict_ok in idents:
            pick, far = self.choose(self.index.tiers(ident), when, DATE_WINDOW_DAYS, veto_hf, tag)
            if pick:
                return pick, []
            if conflict_ok:
                conflicts.extend(c for c in far if self.models[c].origin == "epoch")
        if when is not None:
            for ident in names:
                loose = self.index.tiers(ident, loose=True)
                loose[LOOSE] = {c for c in loose[LOOSE] if self.models[c].release_date is not None}
                pick, _ = self.choose(loose, when, DATE_WINDOW_DAYS, veto_hf, tag)
                if pick:
                    return pick, []
        return None, sorted(set(conflicts))

    def match_undated(self, name: str) -> tuple[str | None, str]:
        """Match a record without a release date: the one model that has this exact name, else one model
        for the key, narrowed by any date written in the name. Returns (id or None, why not)."""
        exact = self.index.exact(name)
        if len(exact) == 1:
            self.last_rule = TIER_RULES[EXACT]
            return next(iter(exact)), ""
        cands = self.index.candidates(name)
        if not cands:
            return None, "no model with this name in Epoch or Artificial Analysis"
        when, window = hint_date(name)
        pick, far = self.choose(self.index.tiers(name), when, window)
        if pick:
            return pick, ""
        listed = ", ".join(sorted(cands)[:4])
        if when is not None and far and len(far) == len(cands):
            return None, f"the date in the name ({date_stamp(name)}) fits none of {listed}"
        return None, f"ambiguous: could be {listed}"

    # -- 1. Epoch capabilities index -> canonical models

    def load_epoch_models(self) -> None:
        path = self.src_dir("epoch-hub") / "epoch_capabilities_index.csv"
        rows = [r for r in read_csv(path) if r["Model version"].strip()]
        parent: dict[str, str] = {}

        def find(x: str) -> str:
            while parent[x] != x:
                parent[x] = parent[parent[x]]
                x = parent[x]
            return x

        why: dict[str, str] = {}

        def union(a: str, b: str, rule: str = "epoch-version-key") -> None:
            ra, rb = find(a), find(b)
            why.setdefault(b, rule)
            if ra != rb:
                parent[max(ra, rb)] = min(ra, rb)

        by_version: dict[str, dict[str, str]] = {}
        for r in rows:
            v = r["Model version"].strip()
            by_version.setdefault(v, r)
            parent.setdefault(v, v)
        by_key: dict[str, str] = {}
        pooled: dict[tuple[str, str], list[str]] = defaultdict(list)
        for v in sorted(by_version):
            k = name_key(v)
            if k in by_key:
                union(by_key[k], v)
            else:
                by_key[k] = v
        for k, v in sorted(by_key.items()):
            # "gemini-2.5-flash-lite-preview-06-17-thinking": the thinking mode of a version, same day
            base = by_key.get(k.removesuffix("-thinking")) if k.endswith("-thinking") else None
            if base and by_version[base]["Release date"] == by_version[v]["Release date"] and (
                    by_version[base]["Model name"].strip() == by_version[v]["Model name"].strip()):
                union(base, v, "epoch-thinking-mode")
        for v, r in sorted(by_version.items()):
            mname, eci = " ".join(r["Model name"].split()), r["ECI Score"].strip()
            when = parse_date(r["Release date"])
            if mname and eci and when:
                # Epoch pools these versions into one ECI estimate: same model, hosted or dated differently
                for other in pooled[(mname, eci)]:
                    gap = days_apart(parse_date(by_version[other]["Release date"]), when)
                    if gap is not None and gap <= DATE_WINDOW_DAYS:
                        union(other, v, "epoch-pooled")
                pooled[(mname, eci)].append(v)
        for same in self.names.get("same_model", []):   # hand-checked: forecasts/data/names.toml
            missing = [v for v in same["versions"] if v not in by_version]
            if missing:
                raise SystemExit(f"names.toml [[same_model]]: {missing} not in the ECI file")
            for v in same["versions"][1:]:
                union(same["versions"][0], v, "names.toml same_model")
        groups: dict[str, list[str]] = defaultdict(list)
        for v in by_version:
            groups[find(v)].append(v)

        preferred = {same["versions"][0] for same in self.names.get("same_model", [])}  # names.toml: its id
        mname_groups = Counter(n for members in groups.values()
                               for n in {" ".join(by_version[v]["Model name"].split()) for v in members} if n)
        for members in sorted(groups.values(), key=lambda m: sorted(m)[0]):
            members.sort()
            rows_m = [by_version[v] for v in members]
            mnames = sorted({" ".join(r["Model name"].split()) for r in rows_m if r["Model name"].strip()})
            mkeys = {name_key(n) for n in mnames}

            # representative version: named like Epoch's model name, no provider prefix, shortest id
            rep = min((v not in preferred, name_key(v) not in mkeys, "/" in v, len(canonical_id(v)),
                       canonical_id(v), v) for v in members)[-1]
            rep_row = by_version[rep]
            dates = [d for d in (parse_date(r["Release date"]) for r in rows_m) if d]
            when = parse_date(rep_row["Release date"]) or (min(dates) if dates else None)
            spread = (max(dates) - min(dates)).days if dates else 0
            if spread > DATE_WINDOW_DAYS:
                print(f"note: Epoch versions {members} span {spread} days; kept {when}", file=sys.stderr)
            accesses = [epoch_access(r["Model accessibility"]) for r in [rep_row, *rows_m]]
            access = next((a for a in accesses if a), None)
            org = next((r["Organization"].strip() for r in [rep_row, *rows_m] if r["Organization"].strip()), "")
            display = strip_effort(rep_row["Display name"]) if rep_row["Display name"].strip() else ""
            family = mnames[0] if len(mnames) == 1 and mname_groups[mnames[0]] == 1 else ""
            name = family or display or strip_effort(rep)
            cid = self.new_id(canonical_id(rep), when)
            canon = Canon(cid, " ".join(name.split()), org, when, access, None, "epoch",
                          access_from="epoch-eci" if access else "", family_name=bool(family))
            self.models[cid] = canon
            self.add_aliases(canon, cid, *members)
            weak = mnames + [" ".join(r["Display name"].split()) for r in rows_m if r["Display name"].strip()]
            self.add_aliases(canon, *weak, weak=True)
            canon.lookup_names.update(mnames + [strip_effort(v) for v in members])
            for v in members:
                self.version_to_model[v] = cid
                self.merged("epoch-hub", v, cid, why.get(v, "epoch-version-key"))
        self.used_sources.add("epoch-hub")
        self.add_split_models()

    def add_split_models(self) -> None:
        """names.toml [[model]]: models no source dates, kept apart from a sibling that would absorb them."""
        for spec in self.names.get("model", []):
            mid = spec["id"]
            if mid in self.models:
                raise SystemExit(f"names.toml [[model]]: {mid!r} is already a model")
            canon = Canon(mid, spec["name"], spec["organization"], date.fromisoformat(spec["release_date"]),
                          spec["access"], spec.get("licence"), "epoch", access_from="names.toml")
            self.models[mid] = canon
            self.add_aliases(canon, mid, spec["name"])

    # -- 2. Artificial Analysis 2026-07-10 payload

    def load_aa(self) -> None:
        src = self.sources["aa"]
        path = self.src_dir("aa") / "llms.json"
        doc = json.loads(path.read_text(encoding="utf-8"))
        rel = f"{path.parent.name}/{path.name}"
        benches = self.benches_of("aa")
        records = sorted(doc["models"], key=lambda m: (m.get("release_date") or "9999", m["name"], m["id"]))
        offer_day = str((doc.get("meta") or {}).get("fetched_at") or src["retrieved_at"])[:10]
        for m in records:
            name = " ".join(m["name"].split())
            when = parse_date(m.get("release_date"))
            ow = m.get("open_weights") or {}
            is_open = ow.get("is_open_weights")
            access = "open" if is_open is True else "closed" if is_open is False else None
            ids_extra: list[str] = []
            for url_or_id in (ow.get("huggingface_url"), ow.get("openrouter_api_id")):
                ident = self._aa_repo(url_or_id)
                if ident and trusted_id(name, ident):
                    ids_extra.append(ident)
            hf = self._aa_repo(ow.get("huggingface_url"))
            hf_key = repo_key(hf) if hf and hf in ids_extra else None
            idents = [(name, True)] + [(i, True) for i in ids_extra] + [(m.get("slug") or "", False)]
            idents = [(i, c) for i, c in idents if i]
            record = f"{rel}#{m.get('slug') or m['id']}"
            mid, conflicts = self.match_dated(idents, when, [name], veto_hf=hf_key)
            if mid is None and conflicts:
                other = self.models[conflicts[0]]
                gap = days_apart(other.release_date, when)
                n = sum(1 for b in benches if to_float(m["evaluations"].get(b.spec["key"])) is not None)
                self.exclude("aa", record, name, "conflicting_release_date",
                             f"matches {other.id} (Epoch, released {other.release_date}) but AA gives "
                             f"{when}, {gap} days apart: likely a different model or a wrong AA date; "
                             f"{n} scores not used")
                continue
            rule = self.last_rule
            if mid is None:
                # "Qwen3 VL 8B (Reasoning)" is its own weights, Qwen3-VL-8B-Thinking: the id is the repo's
                # name, not the display name minus the tag (which would read as the family)
                own = next((i.split("/")[-1] for i in ids_extra if "/" in i and _mode(i) == "reasoning"
                            and _mode(name) == "reasoning" and tags_of(name)), name)
                mid = self.new_id(canonical_id(own), when)
                if tags_of(name):  # a configuration of a model first seen here: still a merge to review
                    self.merged("aa", name, mid, "new model, configuration tags folded")
                self.models[mid] = Canon(mid, strip_effort(name), (m.get("creator") or {}).get("name") or "",
                                         when, access, None, "aa", access_from="aa" if access else "")
                self.add_aliases(self.models[mid], mid)
            else:
                self.merged("aa", name, mid, rule)
            canon = self.models[mid]
            self.add_aliases(canon, name)
            canon.alt_names.append(strip_effort(name))
            # a repo / OpenRouter id is an alias only when it does not already name another model
            self.add_aliases(canon, *(i for i in ids_extra if set(self.index.candidates(i)) <= {mid}))
            short = " ".join((m.get("short_name") or "").split())
            if short:
                # AA's short label ("Qwen3 235B") is what the AA scrape uses; it is too coarse to be an
                # alias (the Instruct and Reasoning 2507 models share one), so it only serves that match
                self.short_index.add(mid, short)
            if hf_key:
                canon.hf.add(hf_key)
            if canon.access is None and access:
                canon.access, canon.access_from = access, "aa"
            if canon.release_date is None and when:
                canon.release_date = when
            if not canon.organization:
                canon.organization = (m.get("creator") or {}).get("name") or ""
            if canon.licence is None and access == "open" and ow.get("license_name"):
                canon.licence = str(ow["license_name"]).strip()
            offer = aa_offer(m, offer_day, f"aa:{record}")
            if offer is not None:
                # configurations folded into one model (reasoning / non-reasoning) each carry AA's figures:
                # a current record first, then one with both prices, then one with a speed, then by name
                rank = (bool(m.get("deprecated")), offer["price_input"] is None,
                        offer["output_tokens_per_second"] is None, name)
                self.offers[mid].append((rank, offer))
            for b in benches:
                raw = m["evaluations"].get(b.spec["key"])
                if raw is None:
                    continue                       # not evaluated
                value = to_float(raw)
                value = None if value is None else value * float(b.spec.get("value_factor", 1.0))
                stderr = None
                ci = b.spec.get("stderr_ci")
                if ci:
                    lo, hi = to_float(dig(m, ci[0])), to_float(dig(m, ci[1]))
                    if lo is not None and hi is not None and hi >= lo:
                        stderr = (hi - lo) / (2 * Z95) * float(b.spec.get("stderr_factor", 1.0))
                self.pending.append(Pending(mid, b.id, value, stderr, f"aa:{record}", src["retrieved_at"],
                                            "aa", record, name, repr(raw)))
        self.used_sources.add("aa")

    @staticmethod
    def _aa_repo(value: Any) -> str | None:
        """``https://huggingface.co/org/Repo/tree/main`` or ``org/repo`` -> ``org/Repo``."""
        if not value or not isinstance(value, str):
            return None
        text = re.sub(r"^https?://(www\.)?huggingface\.co/", "", value.strip())
        parts = [p for p in text.split("/") if p]
        if not parts:
            return None
        if "tree" in parts:
            parts = parts[: parts.index("tree")]
        return "/".join(parts[-2:])

    # -- manual aliases from the catalogue

    def apply_date_overrides(self) -> None:
        """The catalogue's [release_date_overrides]: hand-checked corrections of wrong source dates."""
        for target, when in sorted(self.catalog.get("release_date_overrides", {}).items()):
            mid = self.index.resolve(target)
            if mid is None:
                raise SystemExit(f"catalogue [release_date_overrides]: {target!r} does not resolve to one model")
            self.models[mid].release_date = date.fromisoformat(str(when))

    def load_manual_aliases(self, final: bool) -> None:
        """Apply the catalogue's [aliases] whose target resolves now (the rest wait for a later call)."""
        for alias, target in sorted(self.catalog.get("aliases", {}).items()):
            if alias in self.manual_done:
                continue
            mid = self.index.resolve(target)
            if mid is None:
                if final:
                    raise SystemExit(f"catalogue [aliases]: {target!r} (for {alias!r}) does not resolve to one model")
                continue
            self.add_aliases(self.models[mid], alias)
            self.merged("catalogue", alias, mid, "catalogue [aliases]")
            self.manual_done.add(alias)

    # -- 3a. AA provider-leaderboard scrape (2025-08-14)

    def load_aa_scrape(self) -> None:
        src = self.sources["aa-scrape"]
        path = self.src_dir("aa-scrape") / "leaderboard.csv"
        benches = self.benches_of("aa-scrape")
        groups: dict[str, dict[str, str]] = {}
        for r in read_csv(path):
            clean = self._scrape_name(r["Model"], r["API Provider"])
            groups.setdefault(clean, r)
        for clean, r in sorted(groups.items()):
            record = f"{src['retrieved_at']}/{path.name}#{clean}"
            values = {b.id: r.get(b.spec["column"], "").strip() for b in benches}
            if not any(values.values()):
                continue
            mid, why = self.match_undated(clean)
            rule = self.last_rule
            if mid is None and not self.index.candidates(clean):
                mid = self.short_index.resolve(clean)
                rule = "aa-short-name"
            if mid is None:
                self.exclude("aa-scrape", record, clean, "unmatched", f"no release date: {why}")
                continue
            self.merged("aa-scrape", clean, mid, rule)
            if self.models[mid].access is None:
                acc = licence_access(r.get("License"))
                if acc:
                    self.models[mid].access, self.models[mid].access_from = acc, "aa-scrape"
            if set(self.index.candidates(clean)) <= {mid}:
                self.add_aliases(self.models[mid], clean)
            for b in benches:
                cell = values[b.id]
                if not cell:
                    continue                      # not evaluated
                value = to_float(cell)
                value = None if value is None else value * float(b.spec.get("value_factor", 1.0))
                self.pending.append(Pending(mid, b.id, value, None, f"aa-scrape:{record}", src["retrieved_at"],
                                            "aa-scrape", record, clean, cell))
        self.used_sources.add("aa-scrape")

    @staticmethod
    def _scrape_name(model: str, provider: str) -> str:
        """Drop the provider-specific tail (``Vertex``, ``(FP8)``, ``Base``, ``Latency Optimized``)."""
        name = " ".join(model.split())
        words = " ".join(provider.split()).split(" ")
        for i in range(1, len(words)):
            tail = " ".join(words[i:])
            if name.endswith(" " + tail) and len(name) > len(tail) + 1:
                name = name[: -len(tail) - 1].strip()
                break
        name = re.sub(r"\s*\((?:[^()]*\b(?:FP8|FP4|FP16|BF16|Base|Fast|Turbo|AI[_ ]Studio|Vertex|Throughput|"
                      r"Reference)\b[^()]*)\)\s*$", "", name, flags=re.IGNORECASE)
        if name.startswith("Claude") and name.endswith(" Thinking"):
            name = name[: -len(" Thinking")] + " (Reasoning)"
        return name.strip()

    # -- 3b. LMArena

    def load_arena_licences(self) -> None:
        """Arena key / display name -> licence, newest source first (used for access fallback)."""
        lic: dict[str, str] = {}
        org: dict[str, str] = {}  # the Arena's organisation of a key, for models no other source names one

        def put(name: str, licence: str, organization: str = "") -> None:
            k = name_key(name)
            if k and licence.strip() and k not in lic:
                lic[k] = licence.strip()
            if k and organization.strip() and k not in org:
                org[k] = " ".join(organization.split())

        daily = self.raw / self.sources["arena-daily"]["dir"]
        for day in sorted((p for p in daily.iterdir() if p.is_dir()), reverse=True):
            for board in ("text", "code"):
                f = day / f"{board}.json"
                if f.exists():
                    for m in json.loads(f.read_text(encoding="utf-8"))["models"]:
                        if m.get("license"):
                            put(m["model"], "Proprietary" if m["license"] == "proprietary" else "Open")
        cat = self.src_dir("lmarena") / "scatterplot-data.json"
        for item in json.loads(cat.read_text(encoding="utf-8")):
            put(item["model_api_name"], item.get("license") or "", item.get("organization") or "")
        hf_dir = self.src_dir("lmarena-licences")
        for f in sorted(hf_dir.glob("leaderboard_table_*.csv"), reverse=True):
            for r in read_csv(f):
                put(r.get("key") or r.get("Model") or "", r.get("License") or "")
        fb = self.raw / "lmarena_fboulnois_csv"
        for f in sorted(fb.glob("*/*.csv"), reverse=True):
            for r in read_csv(f):
                put(r.get("model") or "", r.get("license") or "", r.get("organization") or "")
        self.arena_licence = lic
        self.arena_org = org
        self.used_sources.add("lmarena-licences")

    def _arena_model(self, src_id: str, record: str, key: str, n_scores: int) -> str | None:
        mid, why = self.match_undated(key)
        if mid is None:
            self.exclude(src_id, record, key, "unmatched",
                         f"no release date from any source ({why}); {n_scores} ratings not used")
            return None
        self.merged(src_id, key, mid, self.last_rule)
        self.add_aliases(self.models[mid], key)
        return mid

    def load_arena_catalog(self) -> None:
        src = self.sources["lmarena"]
        path = self.src_dir("lmarena") / "leaderboard-text.json"
        doc = json.loads(path.read_text(encoding="utf-8"))
        benches = [b for b in self.benches_of("lmarena") if not b.spec.get("history")]  # history: 3c
        keys = sorted({k for b in benches for k in doc.get(b.spec["category"], {})})
        for key in keys:
            cats = [b for b in benches if key in doc.get(b.spec["category"], {})]
            mid = self._arena_model("lmarena", f"arena-catalog/{path.name}#{key}", key, len(cats))
            if mid is None:
                continue
            for b in cats:
                entry = doc[b.spec["category"]][key]
                value = to_float(entry.get("rating"))
                lo, hi = to_float(entry.get("rating_q025")), to_float(entry.get("rating_q975"))
                stderr = (hi - lo) / (2 * Z95) if lo is not None and hi is not None and hi >= lo else None
                record = f"arena-catalog/{path.name}#{b.spec['category']}/{key}"
                self.pending.append(Pending(mid, b.id, value, stderr, f"lmarena:{record}", src["retrieved_at"],
                                            "lmarena", record, key, repr(entry.get("rating"))))
        self.used_sources.add("lmarena")

    def load_arena_daily(self) -> None:
        for b in self.benches_of("arena-daily"):
            path = self.src_dir("arena-daily") / b.spec["snapshot"] / f"{b.spec['leaderboard']}.json"
            doc = json.loads(path.read_text(encoding="utf-8"))
            for m in doc["models"]:
                key = str(m["model"])
                record = f"{b.spec['snapshot']}/{path.name}#{key}"
                mid = self._arena_model("arena-daily", record, key, 1)
                if mid is None:
                    continue
                ci = to_float(m.get("ci"))
                self.pending.append(Pending(mid, b.id, to_float(m.get("score")), ci / Z95 if ci else None,
                                            f"arena-daily:{record}", b.spec["snapshot"], "arena-daily", record,
                                            key, repr(m.get("score"))))
        self.used_sources.add("arena-daily")

    # -- 3c. LMArena rating history: one continuous series per category (forecasts/measure/ratings.py)

    def load_arena_history(self) -> None:
        """Every snapshot of the rating history, one score per (model, benchmark) carrying its ratings per
        snapshot date (``history``); the newest rating is the score's value.

        Per benchmark and date one snapshot is used (``HISTORY_PRIORITY``; of several arena-catalog commits
        on one day the largest, the five of 2025-05-27 are successively larger). fboulnois tables count only
        after the last nakasyou date: before it they repeat nakasyou's ratings under display names. Keys of
        one model in one snapshot (``claude-opus-4-6`` and its ``-thinking`` mode) keep the better rating.
        A model key no other source knows becomes an Arena-only model released on the date it first
        appears on the board (an upper bound: Arena lists a model days to weeks after its release) with the
        access its licence gives; display names (fboulnois) never create models."""
        src = self.sources["lmarena-history"]
        rows = read_csv(self.src_dir("lmarena-history") / src["file"])
        benches = {str(b.spec["history"]): b for b in self.benches if b.spec.get("history")}
        by_id = {b.id: b for b in benches.values()}
        last_nakasyou = max(r["snapshot_date"] for r in rows if r["source"] == "nakasyou")
        snaps: dict[tuple[str, str, str], list[dict[str, str]]] = defaultdict(list)
        for r in rows:
            b = benches.get(f"{r['leaderboard']}/{r['category']}")
            family = r["source"].split(":")[0].split("@")[0]
            if b is None or (family == "fboulnois" and r["snapshot_date"] <= last_nakasyou):
                continue
            snaps[(b.id, r["snapshot_date"], r["source"])].append(r)
        def rank(source: str, found: list[dict[str, str]]) -> tuple[int, int]:
            return HISTORY_PRIORITY.index(source.split(":")[0].split("@")[0]), len(found)

        chosen: dict[tuple[str, str], tuple[str, list[dict[str, str]]]] = {}
        for (bid, day, source), found in sorted(snaps.items()):
            cur = chosen.get((bid, day))
            if cur is None or rank(source, found) > rank(*cur):
                chosen[(bid, day)] = (source, found)
        first_day: dict[str, str] = {}
        for (_, day), (_source, found) in sorted(chosen.items(), key=lambda kv: kv[0][1]):
            for r in found:
                first_day.setdefault(r["model"], day)
        # model keys first (they may create Arena-only models), then fboulnois display names (match only)
        keyed = {r["model"] for _, (source, found) in chosen.items() if not source.startswith("fboulnois")
                 for r in found}
        mids = {key: self._history_model(key, first_day[key], chosen) for key in sorted(keyed)}
        for name in sorted(set(first_day) - keyed):
            mids[name] = self._display_model(name)
        ratings: dict[tuple[str, str], dict[str, tuple[float, float | None, str]]] = defaultdict(dict)
        unmatched: Counter[tuple[str, str]] = Counter()
        for (bid, day), (_source, found) in sorted(chosen.items()):
            for r in found:
                mid, value = mids[r["model"]], to_float(r["rating"])
                if mid is None or value is None or not by_id[bid].in_range(value):
                    unmatched[(bid, r["model"])] += 1
                    continue
                prev = ratings[(mid, bid)].get(day)
                if prev is None or value > prev[0]:
                    se = history_stderr(r["ci"])
                    # a CI wider than the store's stderr bound (10 % of scale: a few dozen votes) is no test
                    se = se if se is None or se <= 0.1 * by_id[bid].meta["scale"] else None
                    ratings[(mid, bid)][day] = (value, se, r["model"])
        for (bid, key), n in sorted(unmatched.items()):
            why = "invalid_score" if mids[key] is not None else \
                "unreleased" if key in self.catalog.get("arena_unreleased", {}) else "unmatched"
            self.exclude("lmarena-history", f"{bid}#{key}", key, why,
                         f"{n} snapshot ratings not used ({self._history_why.get(key, 'rating out of range')})")
        for (mid, bid), by_day in sorted(ratings.items()):
            days = sorted(by_day)
            value, stderr, key = by_day[days[-1]]
            hist = [(d, round(by_day[d][0], 4), None if by_day[d][1] is None else round(by_day[d][1], 4))
                    for d in days]
            record = f"{bid}#{key}"
            self.pending.append(Pending(mid, bid, value, stderr, f"lmarena-history:{record} ({len(days)} snapshots "
                                        f"{days[0]} .. {days[-1]})", src["retrieved_at"], "lmarena-history",
                                        record, key, repr(value), history=hist))
        self.used_sources.add("lmarena-history")

    def _display_model(self, name: str) -> str | None:
        """The model of an fboulnois display name (``ChatGPT-4o-latest (2025-01-29)`` is also tried as the
        key spelling ``ChatGPT-4o-latest-20250129``), or None."""
        for cand in dict.fromkeys([name, re.sub(r"\s*\((\d{4})-(\d{2})-(\d{2})\)$", r"-\1\2\3", name)]):
            mid, why = self.match_undated(cand)
            if mid is not None:
                self.merged("lmarena-history", name, mid, self.last_rule)
                self.add_aliases(self.models[mid], name)
                return mid
            self._history_why[name] = why
        return None

    def _history_model(self, key: str, first: str, chosen: dict[tuple[str, str], tuple[str, list[dict[str, str]]]]
                       ) -> str | None:
        """The canonical model of an Arena key, or a new Arena-only model (see load_arena_history)."""
        if key in self.catalog.get("arena_unreleased", {}):
            self._history_why[key] = "never released: " + self.catalog["arena_unreleased"][key]
            return None
        mid, why = self.match_undated(key)
        if mid is not None:
            self.merged("lmarena-history", key, mid, self.last_rule)
            self.add_aliases(self.models[mid], key)
            return mid
        rows = [r for (_, _), (source, found) in chosen.items() if not source.startswith("fboulnois")
                for r in found if r["model"] == key]
        flags = {r["open_weights"] for r in rows if r["open_weights"] in ("true", "false")}
        if self.index.candidates(key) or len(flags) != 1:
            self._history_why[key] = why if self.index.candidates(key) or not rows else \
                "no release date from any source, and the Arena licences do not say open or closed"
            return None
        when = date.fromisoformat(first)
        org = next((r["organization"] for r in reversed(rows) if r["organization"]), "")
        mid = self.new_id(canonical_id(key), when)
        access = "open" if flags == {"true"} else "closed"
        self.models[mid] = Canon(mid, key, org, when, access, None, "arena", access_from="lmarena-history")
        self.add_aliases(self.models[mid], mid, key)
        return mid

    # -- 4. Epoch benchmark CSVs

    def load_epoch_scores(self) -> None:
        src = self.sources["epoch-hub"]
        folder = self.src_dir("epoch-hub")
        listed = {b.spec["file"] for b in self.benches_of("epoch-hub")}
        missing = sorted(p.name for p in folder.glob("*.csv") if p.name not in listed)
        if missing:
            raise SystemExit(f"catalogue: Epoch files without a benchmark entry: {missing}")
        for b in self.benches_of("epoch-hub"):
            rows = read_csv(folder / b.spec["file"])
            col = b.spec["column"]
            if rows and col not in rows[0]:
                raise SystemExit(f"catalogue: {b.id}: column {col!r} not in {b.spec['file']}")
            counts = Counter(r["Model version"].strip() for r in rows)
            for i, r in enumerate(rows, start=2):
                version = r["Model version"].strip()
                rid = (r.get("id") or r.get("ID") or r.get("UUID") or "").strip() or f"row{i}"
                if not version:
                    label = next((r[c].strip() for c in ("Name", "Agent", "Notes", "Environment model")
                                  if r.get(c, "").strip()), "")
                    self.exclude("epoch-hub", f"{b.spec['file']}#{rid}", label, "unmatched",
                                 "blank Model version: Epoch did not map this row to a model")
                    continue
                record = f"{b.spec['file']}#{version}" + (f"@{rid}" if counts[version] > 1 else "")
                mid = self.version_to_model.get(version)
                if mid is None:
                    self.exclude("epoch-hub", record, version, "unmatched",
                                 "Model version not in the ECI file (the join table for access and dates)")
                    continue
                cell = r.get(col, "")
                value = to_float(cell)
                value = None if value is None else value * float(b.spec.get("value_factor", 1.0))
                stderr = None
                if b.spec.get("stderr_column"):
                    se = to_float(r.get(b.spec["stderr_column"]))
                    stderr = None if se is None else se * float(b.spec.get("stderr_factor", 1.0))
                elif b.spec.get("stderr_ci"):
                    lo, hi = (to_float(r.get(c)) for c in b.spec["stderr_ci"])
                    if lo is not None and hi is not None and hi >= lo:
                        stderr = (hi - lo) / (2 * Z95)
                self.pending.append(Pending(mid, b.id, value, stderr, f"epoch-hub:{record}",
                                            src["retrieved_at"], "epoch-hub", record, version, repr(cell)))

    # -- 5. access / date fallbacks

    def apply_fallbacks(self) -> None:
        table: dict[str, list[tuple[date | None, str | None, str]]] = defaultdict(list)
        orgs: dict[str, str] = {}  # name key -> Epoch's Organization, for models no other source gives one
        for f in ("notable_ai_models.csv", "large_scale_ai_models.csv", "frontier_ai_models.csv"):
            for r in read_csv(self.src_dir("epoch-models") / f):
                acc = epoch_access(r.get("Model accessibility", ""))
                table[name_key(r["Model"])].append((parse_date(r.get("Publication date")), acc, "epoch-models"))
                orgs.setdefault(name_key(r["Model"]), " ".join((r.get("Organization") or "").split()))
        used: set[str] = set()
        for canon in self.models.values():
            if not canon.organization:
                keys_ = sorted(name_key(n) for n in canon.lookup_names | canon.aliases)
                canon.organization = next((orgs[k] for k in keys_ if orgs.get(k)), "") or \
                    next((self.arena_org[k] for k in keys_ if self.arena_org.get(k)), "")
            if canon.access is not None and canon.release_date is not None:
                continue
            for n in sorted(canon.lookup_names | canon.aliases):
                for when, acc, src in table.get(name_key(n), []):
                    gap = days_apart(when, canon.release_date)
                    if gap is not None and gap > DATE_WINDOW_DAYS:
                        continue
                    if canon.access is None and acc:
                        canon.access, canon.access_from = acc, src
                        used.add(src)
                    if canon.release_date is None and when:
                        canon.release_date = when
                        used.add(src)
            if canon.access is None:
                for n in sorted(canon.aliases):
                    acc = licence_access(self.arena_licence.get(name_key(n)))
                    if acc:
                        canon.access, canon.access_from = acc, "lmarena-licences"
                        break
        for canon in self.models.values():
            if canon.licence is None:
                for n in sorted(canon.aliases):
                    lic = self.arena_licence.get(name_key(n))
                    if lic and licence_access(lic) == canon.access:
                        canon.licence = "Proprietary" if canon.access == "closed" else lic
                        break
        self.used_sources.update(used)

    # -- 6. final checks and output

    def finalise(self) -> dict[str, Any]:
        bench_by_id = {b.id: b for b in self.benches}
        model_fail: dict[tuple[str, str, str], tuple[str, str, str, int]] = {}
        valid: list[Pending] = []
        for p in self.pending:
            canon = self.models[p.model]
            reason = detail = ""
            if canon.access == "unreleased":
                reason, detail = "unreleased", f"{canon.id} is marked Unreleased by Epoch"
            elif canon.access is None:
                reason, detail = "unknown_access", f"no source says whether {canon.id} has open weights"
            elif canon.release_date is None:
                reason, detail = "no_release_date", f"no source gives a release date for {canon.id}"
            if reason:
                key = (p.src_id, p.record, reason)
                prev = model_fail.get(key)
                model_fail[key] = (p.name, detail, reason, (prev[3] if prev else 0) + 1)
                continue
            b = bench_by_id[p.bench]
            if p.value is None:
                self.exclude(p.src_id, p.record, p.name, "invalid_score",
                             f"{p.bench}: score {p.raw} is blank or not a number")
                continue
            if not b.in_range(p.value):
                self.exclude(p.src_id, p.record, p.name, "invalid_score",
                             f"{p.bench}: score {p.value:g} is outside [{b.meta['min']}, {b.meta['max']}]")
                continue
            if p.stderr is not None and (not math.isfinite(p.stderr) or p.stderr < 0):
                p.stderr = None
            valid.append(p)
        for (src_id, record, _), (name, detail, reason, n) in sorted(model_fail.items()):
            self.exclude(src_id, record, name, reason, detail + (f" ({n} scores)" if n > 1 else ""))

        best: dict[tuple[str, str], Pending] = {}
        for p in sorted(valid, key=lambda p: (p.model, p.bench, p.source)):
            k = (p.model, p.bench)
            hib = bench_by_id[p.bench].meta["higher_is_better"]
            cur = best.get(k)
            if cur is None:
                best[k] = p
                continue
            assert p.value is not None and cur.value is not None
            better = p.value > cur.value if hib else p.value < cur.value
            loser, winner = (cur, p) if better else (p, cur)
            best[k] = winner
            self.exclude(loser.src_id, loser.record, loser.name, "duplicate",
                         f"second score for {p.model} on {p.bench} ({loser.value:g}); kept "
                         f"{winner.value:g} from {winner.source}")

        scored = {m for m, _ in best}
        # an alias several models share verbatim (Epoch family names: "GPT-4o", "Mistral 7B") cannot
        # identify one model: it is left out rather than made ambiguous
        owners: dict[str, set[str]] = defaultdict(set)
        for mid in scored:
            for a in self.models[mid].aliases:
                owners[" ".join(a.lower().split())].add(mid)
        for mid in scored:
            self.models[mid].aliases = {a for a in self.models[mid].aliases
                                        if len(owners[" ".join(a.lower().split())]) == 1}
        names = self._display_names(sorted(scored))
        models_out = []
        for mid in sorted(scored):
            c = self.models[mid]
            assert c.release_date is not None and c.access in {"open", "closed"}
            name = names[mid]
            models_out.append({
                "id": c.id, "name": name, "organization": c.organization,
                "release_date": c.release_date.isoformat(), "access": c.access, "licence": c.licence,
                "aliases": sorted(c.aliases | {c.id}, key=lambda s: (s.lower(), s)),
            })
            if self.offers.get(mid):
                models_out[-1]["offer"] = min(self.offers[mid], key=lambda ro: ro[0])[1]
        scores_out = [[p.model, p.bench, round(p.value, 4) if p.value is not None else None,
                       None if p.stderr is None else round(p.stderr, 4), p.source, p.retrieved,
                       f"{p.retrieved}T00:00:00+00:00",   # first seen: the source file's capture date
                       p.history]
                      for (_, _), p in sorted(best.items())]
        benches_out = [{f: b.meta[f] for f in BENCH_FIELDS} for b in sorted(self.benches, key=lambda b: b.id)]
        built_from = [{"id": sid, "name": s["name"], "licence": s["licence"], "url": s["url"],
                       "retrieved_at": s["retrieved_at"]}
                      for sid, s in sorted(self.sources.items()) if sid in self.used_sources]
        exclusions = sorted(self.exclusions, key=lambda e: (e["source"], e["record"], e["reason"], e["detail"]))
        return {
            "schema": SCHEMA,
            "built_from": built_from,
            "benchmarks": benches_out,
            "models": models_out,
            "score_fields": SCORE_FIELDS,
            "scores": scores_out,
            "exclusions": exclusions,
        }

    def _display_names(self, ids: list[str]) -> dict[str, str]:
        """One display name per model, unique and not another model's alias. Preference: Epoch's model
        name when only this model has it, else the AA name, else Epoch's display name or version; a name
        still shared gets ``(release date)`` or, when the dates coincide, ``(id)`` appended."""
        claimed: dict[str, set[str]] = defaultdict(set)
        for mid in ids:
            for a in self.models[mid].aliases | {mid}:
                claimed[a.lower()].add(mid)

        def free(name: str, mid: str) -> bool:
            return claimed.get(name.lower(), {mid}) <= {mid}

        names: dict[str, str] = {}
        for mid in ids:
            c = self.models[mid]
            options = ([c.name] if c.family_name else []) + sorted(set(c.alt_names)) + [c.name]
            names[mid] = next((o for o in options if free(o, mid)), f"{c.name} ({mid})")
        groups: dict[str, list[str]] = defaultdict(list)
        for mid in ids:
            groups[names[mid].lower()].append(mid)
        for members in groups.values():
            if len(members) == 1:
                continue
            dates = [self.models[m].release_date for m in members]
            for mid in members:
                base = names[mid]
                dated = f"{base} ({self.models[mid].release_date})"
                names[mid] = dated if len(set(dates)) == len(dates) and free(dated, mid) else f"{base} ({mid})"
        return names

    def build(self) -> dict[str, Any]:
        self.load_epoch_models()
        self.load_manual_aliases(final=False)
        self.load_aa()
        self.load_manual_aliases(final=True)
        self.apply_date_overrides()
        self.load_arena_licences()
        self.load_aa_scrape()
        self.load_arena_catalog()
        self.load_arena_daily()
        self.load_arena_history()
        self.load_epoch_scores()
        self.apply_fallbacks()
        doc = self.finalise()
        scored = {m["id"] for m in doc["models"]}
        # one entry per (source, name, model): a name seen on several boards is one merge
        doc["merges"] = [dict(t) for t in sorted({tuple(m.items()) for m in self.merges if m["id"] in scored})]
        renamed = finish_models(doc, dict(self.names.get("former_ids", {})))
        print(f"ids: {len(renamed)} renamed to the one id style", file=sys.stderr)
        return doc


# --- output --------------------------------------------------------------------------------------


def encode(doc: dict[str, Any]) -> bytes:
    """gzip'd UTF-8 JSON with a fixed header (mtime 0, no file name): same input, same bytes."""
    payload = json.dumps(doc, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode("utf-8")
    buf = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buf, compresslevel=9, mtime=0) as gz:
        gz.write(payload)
    return buf.getvalue()


def summary(doc: dict[str, Any], size: int, seconds: float) -> str:
    models = doc["models"]
    by_access = Counter(m["access"] for m in models)
    dates = sorted(m["release_date"] for m in models)
    by_eval = Counter(b["evaluator"] for b in doc["benchmarks"])
    by_reason = Counter(e["reason"] for e in doc["exclusions"])
    by_source = Counter(s[4].split(":", 1)[0] for s in doc["scores"])
    per_year = Counter(d[:4] for d in dates)
    lines = [
        f"snapshot: {size / 1024:.0f} KiB gzip'd, built in {seconds:.1f} s",
        f"models:     {len(models)} ({by_access['open']} open, {by_access['closed']} closed)",
        "            by release year: " + ", ".join(f"{y} {n}" for y, n in sorted(per_year.items())),
        f"benchmarks: {len(doc['benchmarks'])} ("
        + ", ".join(f"{e} {n}" for e, n in sorted(by_eval.items())) + ")",
        f"scores:     {len(doc['scores'])} ("
        + ", ".join(f"{s} {n}" for s, n in sorted(by_source.items())) + ")",
        f"dates:      {dates[0]} .. {dates[-1]}" if dates else "dates: none",
        f"exclusions: {len(doc['exclusions'])} ("
        + ", ".join(f"{r} {n}" for r, n in sorted(by_reason.items())) + ")",
    ]
    return "\n".join(lines)


# --- shipped forecasts (forecasts/data/forecasts.json.gz) ---------------------------------------------


def build_forecasts(snapshot: bytes, out: Path) -> str:
    """Load `snapshot` into a throwaway embedded Redis exactly as `gapcast load` does, fit every forecast
    with the engine, and write the documents and the engine calibration, content-addressed as the store
    keeps them, to `out`. Returns a one-line summary."""
    import tempfile

    import redis

    from forecasts.measure.domains import load_domains
    from forecasts.publishing import outlook
    from forecasts.records.snapshot import encode_forecasts
    from forecasts.storage.ingest import load_snapshot
    from forecasts.storage.redis_server import EmbeddedRedis
    from forecasts.storage.store import Store

    start = time.monotonic()
    domains = load_domains()
    with tempfile.TemporaryDirectory(prefix="gapcast-build-") as tmp, \
            EmbeddedRedis(Path(tmp), appendfsync="everysec") as server:
        client = redis.Redis.from_url(server.url)
        store = Store(client)
        gen = load_snapshot(store, domains, snapshot, "bundled snapshot").generation
        fitted = outlook.compute(store, gen, outlook.pending(store, gen), domains=domains)
        shipped = outlook.export_shipped(store, gen, domains)
        client.close()
    blob = encode_forecasts(shipped)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(blob)
    return (f"forecasts: {fitted} series fitted, {len(shipped.documents)} documents and "
            f"{len(shipped.calibrations)} calibration(s) of engine {shipped.engine_version}, "
            f"{len(blob) / 1024:.0f} KiB, {time.monotonic() - start:.1f} s; wrote {out}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--raw", type=Path, default=REPO.parent / "shared" / "data" / "raw",
                        help="folder of raw source files (default: ../shared/data/raw from the repo root)")
    parser.add_argument("--out", type=Path, default=REPO / "forecasts" / "data" / "snapshot.json.gz",
                        help="output file (default: forecasts/data/snapshot.json.gz)")
    parser.add_argument("--catalog", type=Path, default=REPO / "forecasts" / "data" / "benchmark_catalog.toml",
                        help="benchmark catalogue (default: forecasts/data/benchmark_catalog.toml)")
    parser.add_argument("--forecasts-out", type=Path, default=None,
                        help="shipped forecasts file, rebuilt after the snapshot (default: forecasts.json.gz "
                             "beside --out, so a snapshot built elsewhere never rewrites the shipped one)")
    parser.add_argument("--forecasts-only", action="store_true",
                        help="only rebuild the shipped forecasts from the existing --out snapshot (no raw data)")
    parser.add_argument("--no-forecasts", action="store_true", help="do not rebuild the shipped forecasts")
    args = parser.parse_args(argv)
    args.forecasts_out = args.forecasts_out or args.out.parent / "forecasts.json.gz"
    if args.forecasts_only:
        print(build_forecasts(args.out.read_bytes(), args.forecasts_out))
        return 0
    if not args.raw.is_dir():
        parser.error(f"--raw {args.raw} is not a folder")
    start = time.monotonic()
    catalog = tomllib.loads(args.catalog.read_text(encoding="utf-8"))
    doc = Builder(args.raw, catalog).build()
    blob = encode(doc)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_bytes(blob)
    print(summary(doc, len(blob), time.monotonic() - start))
    print(f"wrote {args.out}")
    if not args.no_forecasts:  # the shipped forecasts are made from exactly this snapshot
        print(build_forecasts(blob, args.forecasts_out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
