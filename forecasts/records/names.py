"""Model-name normalisation and alias resolution.

Sources spell one model many ways: Epoch ``DeepSeek-R1-0528`` or ``o3-2025-04-16_high``, Artificial
Analysis ``DeepSeek R1 0528 (May '25)`` or ``Claude 4 Opus (Reasoning)``, LMArena ``deepseek-r1-0528`` or
``claude-opus-4-20250514-thinking-16k``. :func:`name_key` maps such spellings to one matching key and
:class:`NameIndex` resolves a key to a canonical model id.

The rules are deliberately conservative: a wrong merge (``gpt-4o`` with ``gpt-4o-mini``, ``o3`` with
``o3-mini``, a 2024 and a 2025 version of one family) is worse than a miss. Keys therefore compare whole
token sequences, never prefixes, and keep version numbers and full date stamps. What is dropped:

* case, punctuation and separators (``-``, ``_``, space and ``/`` all separate tokens);
* a provider or organisation prefix before the last ``/`` (``chutes/``, ``deepseek-ai/``);
* month tags such as ``(May '25)``, ``(Jun 2025)`` (the release date carries that information);
* reasoning-effort and mode markers: Epoch suffixes (``_high``, ``_32K``, ``_unknown``), parenthesised
  tags (``(high)``, ``(Reasoning)``, ``(Non-reasoning, High Effort)``, ``(16K thinking)``), Arena suffixes
  (``-thinking-16k``, ``-no-thinking``, ``-high``) and weight precision (``-fp8``, ``-bf16``);
* a leading ``meta`` before ``llama`` (``Meta-Llama-3-8B`` is ``Llama-3-8B``).

Full date stamps are kept but normalised (``20241022``, ``2024-10-22`` and ``10-22-2024`` all become
``20241022``; ``09-2025`` becomes ``202509``), and ``3-5`` between single digits becomes ``3.5``
(``claude-3-5-sonnet`` is ``Claude 3.5 Sonnet``).

Before anything, a name is normalised (:func:`normalize_name`: NFKC, default-ignorable code points such
as zero-width spaces and bidi controls removed), and letters of every script count: ``深度求索`` and
``通义千问`` are two keys, not one empty key. :func:`skeleton` maps look-alike characters of other
scripts (Cyrillic ``\u0441``, Greek ``\u03bf``, Latin ``\u0261``) to the ASCII letters they imitate (Unicode's
confusables data, from the ``confusable_homoglyphs`` package), so callers can refuse a twin of a stored
name.
"""

from __future__ import annotations

import functools
import hashlib
import re
import unicodedata

import regex
from anyascii import anyascii
from confusable_homoglyphs import confusables

__all__ = [
    "NameIndex",
    "canonical_id",
    "date_stamp",
    "date_suffix",
    "drop_lone_dates",
    "legacy_id",
    "loose_key",
    "name_key",
    "normalize_name",
    "skeleton",
    "strip_effort",
    "styled_id",
]

_IGNORABLE = regex.compile(r"\p{Default_Ignorable_Code_Point}+")

_DASHES = str.maketrans({c: "-" for c in "\u2010\u2011\u2012\u2013\u2014\u2015\u2212"} | {"\u2019": "'"})

_MONTHS = {
    "jan": 1, "feb": 2, "mar": 3, "apr": 4, "may": 5, "jun": 6,
    "jul": 7, "aug": 8, "sep": 9, "oct": 10, "nov": 11, "dec": 12,
}  # fmt: skip

# "(May '25)", "(May' 25)", "(Jun 2025)", "(October 2024)", "(Sept. 24)"
_MONTH_TAG = re.compile(
    r"\(\s*(jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\.?\s*'?\s*'?(\d{4}|\d{2})\s*\)"
)
_PAREN = re.compile(r"\(([^()]*)\)")
_EFFORT_WORD = r"(?:x?high|medium|low|minimal|max|none|default|auto)"
# One comma-separated part of a parenthesised tag that only describes reasoning mode / effort / precision.
_EFFORT_PART = re.compile(
    r"^(?:"
    r"(?:adaptive |extended |hybrid )?reasoning|non-?reasoning|"
    r"(?:no |non-?)?thinking|thinking[- ](?:\d+k|" + _EFFORT_WORD + r")|"
    r"(?:\d+k|unknown|default|" + _EFFORT_WORD + r") thinking(?: length)?|"
    + _EFFORT_WORD + r"(?: effort| reasoning)?|"
    r"codex-harness|fp8|fp16|bf16|fp4|int8|int4|"
    # a serving configuration, not a model: "Opus 4.8 Fallback" (requests another model answers)
    r"[\w .-]+ fallback"
    r")$"
)
# Epoch effort / thinking-budget suffixes: "_high", "_32K", "_unknown", "_thinking".
_EPOCH_SUFFIX = re.compile(r"_(?:x?high|medium|low|minimal|max|none|unknown|thinking|\d+k)\s*$", re.IGNORECASE)
_STAMP_YMD = re.compile(r"(?<!\d)(20\d\d)[-_ .]?(0[1-9]|1[0-2])[-_ .]?(0[1-9]|[12]\d|3[01])(?!\d)")
_STAMP_MDY = re.compile(r"(?<!\d)(0[1-9]|1[0-2])[-_](0[1-9]|[12]\d|3[01])[-_](20\d\d)(?!\d)")
_STAMP_MY = re.compile(r"(?<!\d)(?<!\d[-_])(0[1-9]|1[0-2])[-_](20\d\d)(?!\d)")
_DIGIT_DOT = re.compile(r"(?<![\d.])(\d)[-_](\d)(?![\d.])(?!b\b|b[-_ ])")
_TRAILING_LEVEL = {"high", "xhigh", "medium", "low", "minimal"}
_MODE_TAIL = re.compile(r"thinking-(?:\d+k|minimal|low|medium|high)|(?:no|non)-thinking")
_PRECISION = {"fp8", "fp16", "bf16", "fp4", "int8", "int4"}
_SLUG_SUFFIX = re.compile(r"-(?:thinking-(?:\d+k|minimal|low|medium|high)|no-thinking|non-thinking|fp8|fp16|bf16|fp4)$")
_STAMP_TOKEN = re.compile(r"20\d\d(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])?")
_SYNONYMS = {"experimental": "exp"}


def normalize_name(name: str) -> str:
    """``name`` in NFKC without default-ignorable code points (zero-width spaces and joiners, soft hyphens,
    bidi controls, variation selectors), whitespace collapsed: ``"clau\u200bde"`` -> ``"claude"``."""
    return " ".join(_IGNORABLE.sub("", unicodedata.normalize("NFKC", name)).split())


@functools.lru_cache(maxsize=4096)
def _prototype(ch: str) -> str:
    """The ASCII text `ch` is confusable with (Unicode confusables data), or `ch` itself."""
    found = confusables.is_confusable(ch, greedy=True, preferred_aliases=[])
    for hit in found or ():
        for glyph in hit["homoglyphs"]:
            if glyph["c"].isascii() and glyph["c"].strip():
                return str(glyph["c"])
    return ch


def skeleton(name: str) -> str:
    """``name`` normalised, with every non-ASCII character that imitates ASCII replaced by what it imitates
    (in the spirit of UTS #39 skeletons, towards ASCII only): ``skeleton("\u0441laude")`` (Cyrillic ``\u0441``) is
    ``"claude"``. Equal to ``normalize_name(name)`` for ASCII names."""
    text = normalize_name(name)
    return text if text.isascii() else "".join(c if c.isascii() else _prototype(c) for c in text)


def _clean(name: str) -> str:
    return normalize_name(name).translate(_DASHES).lower()


def _drop_provider(text: str) -> str:
    text = text.strip().rstrip("/")
    if "/" in text:
        # Keep parenthesised tails ("chutes/glm (fp8)") but drop everything before the last slash.
        head, sep, tail = text.partition("(")
        head = head.rsplit("/", 1)[-1]
        text = head + sep + tail
    return text


def _effort_parens(text: str) -> str:
    """Remove parenthesised parts that only name an effort level, reasoning mode or precision."""

    def repl(match: re.Match[str]) -> str:
        parts = [p.strip() for p in match.group(1).split(",")]
        kept = [p for p in parts if p and not _EFFORT_PART.match(p)]
        return f" ({', '.join(kept)}) " if kept else " "

    return _PAREN.sub(repl, text)


def _strip_suffixes(text: str) -> str:
    text = text.strip()
    while True:
        new = _EPOCH_SUFFIX.sub("", text).strip()
        if new == text:
            return text
        text = new


def _stamps(text: str) -> str:
    text = _STAMP_MDY.sub(lambda m: f" {m.group(3)}{m.group(1)}{m.group(2)} ", text)
    text = _STAMP_YMD.sub(lambda m: f" {m.group(1)}{m.group(2)}{m.group(3)} ", text)
    return _STAMP_MY.sub(lambda m: f" {m.group(2)}{m.group(1)} ", text)


def _tokens(name: str) -> list[str]:
    text = _strip_suffixes(_drop_provider(_clean(name)))
    text = _MONTH_TAG.sub(" ", text)
    text = _effort_parens(text)
    text = _strip_suffixes(text)
    text = _stamps(text)
    text = _DIGIT_DOT.sub(r"\1.\2", text).replace("+", " plus ")
    tokens = [t.strip(".") for t in re.split(r"[^\w.]+|_+", text)]  # letters of any script count
    tokens = [_SYNONYMS.get(t, t) for t in tokens if t]
    if len(tokens) > 1 and tokens[0] == "meta" and tokens[1].startswith("llama"):
        tokens = tokens[1:]
    # Trailing mode / effort / precision markers, e.g. "-thinking-32k", "-no-thinking", "-high", "-fp8".
    while len(tokens) > 1:
        last = tokens[-1]
        if last in _PRECISION:
            tokens.pop()
        elif last in _TRAILING_LEVEL and any(c.isdigit() for t in tokens[:-1] for c in t):
            # "gpt-5-high", "o3-mini-high"; but "mistral-medium" is a model name, not an effort level
            tokens.pop()
        elif len(tokens) > 2 and _MODE_TAIL.fullmatch(f"{tokens[-2]}-{last}"):
            del tokens[-2:]  # "-thinking-32k", "-thinking-minimal", "-no-thinking", "-non-thinking"
        else:
            break
    return tokens


def name_key(name: str) -> str:
    """Return the matching key of ``name``: lower-case tokens joined by ``-``, or ``""`` if none.

    ``name_key("DeepSeek R1 0528 (May '25)") == name_key("DeepSeek-R1-0528") == "deepseek-r1-0528"``;
    ``name_key("o3-2025-04-16_high") == "o3-20250416"``. See the module docstring for the rules.
    """
    return "-".join(_tokens(name))


def loose_key(name: str) -> str:
    """Return a weaker key: the tokens of :func:`name_key`, sorted, with ``it`` read as ``instruct``.

    It equates word-order variants (``Claude 4 Opus`` / ``Claude Opus 4``, ``Llama 3.1 Instruct 405B`` /
    ``Llama-3.1-405B-Instruct``). Callers must confirm a loose match by another signal (the release
    date); :class:`NameIndex` never resolves on it alone.
    """
    tokens = ["instruct" if t == "it" else t for t in _tokens(name) if t != "hf"]
    return "-".join(sorted(tokens))


def date_stamp(name: str) -> str | None:
    """Return the most precise date written in ``name`` as ``YYYY-MM-DD`` / ``YYYY-MM``, or None.

    Full stamps (``20241022``, ``2024-10-22``, ``10-22-2024``) give a day; ``09-2025`` and month tags
    (``(May '25)``, ``(Jun 2025)``) give a month. Four-digit ``0528``-style stamps are ambiguous
    (MMDD or YYMM) and give nothing.
    """
    text = _clean(name)
    m = _STAMP_MDY.search(text)
    if m:
        return f"{m.group(3)}-{m.group(1)}-{m.group(2)}"
    m = _STAMP_YMD.search(text)
    if m:
        return f"{m.group(1)}-{m.group(2)}-{m.group(3)}"
    m = _STAMP_MY.search(text)
    if m:
        return f"{m.group(2)}-{m.group(1)}"
    m = _MONTH_TAG.search(text)
    if m:
        year = m.group(2)
        year = year if len(year) == 4 else f"20{year}"
        return f"{year}-{_MONTHS[m.group(1)]:02d}"
    return None


def strip_effort(name: str) -> str:
    """Return ``name`` without effort / reasoning-mode markers, keeping its spelling otherwise.

    For display names: ``"GPT-5 (high)"`` → ``"GPT-5"``, ``"o3-2025-04-16_high"`` → ``"o3-2025-04-16"``.
    """
    text = normalize_name(name).translate(_DASHES)
    text = _strip_suffixes(text)

    def repl(match: re.Match[str]) -> str:
        parts = [p.strip() for p in match.group(1).split(",")]
        kept = [p for p in parts if p and not _EFFORT_PART.match(p.lower())]
        return f"({', '.join(kept)})" if kept else ""

    text = _PAREN.sub(repl, text)
    return _strip_suffixes(" ".join(text.split()))


def legacy_id(name: str) -> str:
    """The id :func:`canonical_id` gave before ids had one style (issue 11): the source's own spelling
    minus the provider prefix and effort markers (``claude-3-5-sonnet-20241022`` stayed as is). Kept so
    that the builder can record each model's former id as an alias (old API URLs keep resolving)."""
    text = _drop_provider(_clean(name))
    digest = hashlib.sha256(text.encode()).hexdigest()[:6]
    suffix = "" if text.isascii() else f"-{digest}"

    def month(m: re.Match[str]) -> str:
        year = m.group(2)
        return f" {m.group(1)} {year if len(year) == 4 else '20' + year} "

    text = _MONTH_TAG.sub(month, text)
    text = _strip_suffixes(_effort_parens(_strip_suffixes(text))).replace("+", " plus ")
    slug = re.sub(r"[^a-z0-9.]+", "-", anyascii(text).lower())
    slug = re.sub(r"-{2,}", "-", slug).strip("-.")
    while True:
        new = _SLUG_SUFFIX.sub("", slug)
        if new == slug or not new:
            break
        slug = new
    slug = re.sub(r"^[^a-z0-9]+", "", slug)
    return f"{slug}{suffix}" if slug else f"model-{digest}"


_ID_YMD = re.compile(r"(?<![\d.])(20\d\d)-?(0[1-9]|1[0-2])-?(0[1-9]|[12]\d|3[01])(?![\d.])")
_ID_MDY = re.compile(r"(?<![\d.])(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])-(20\d\d)(?![\d.])")
_ID_MY = re.compile(r"(?<![\d.])(?<!\d-)(0[1-9]|1[0-2])-(20\d\d)(?![\d.])")
# stricter than the key's rule: "wizardlm-2-8x22b" and "qwen-2-7b" keep their dash (a size follows)
_ID_DIGIT_DOT = re.compile(r"(?<![\d.])(\d)-(\d)(?![\w.])")
_ID_DATE_TAIL = re.compile(r"-(20\d\d-(?:0[1-9]|1[0-2])(?:-(?:0[1-9]|[12]\d|3[01]))?)$")


def styled_id(slug: str) -> str:
    """``slug`` in gapcast's one id style: lower-case, a dot between single-digit version parts
    (``claude-opus-4-6`` -> ``claude-opus-4.6``, ``claude-3-5-sonnet`` -> ``claude-3.5-sonnet``; never
    before a size, ``qwen-2-7b`` and ``wizardlm-2-8x22b`` stay), date stamps written ``YYYY-MM-DD`` (``20241022``,
    ``10-22-2024`` -> ``2024-10-22``) or ``YYYY-MM`` (``09-2025`` -> ``2025-09``). Idempotent."""
    text = slug.lower()
    text = _ID_MDY.sub(lambda m: f"{m.group(3)}-{m.group(1)}-{m.group(2)}", text)
    text = _ID_YMD.sub(lambda m: f"{m.group(1)}-{m.group(2)}-{m.group(3)}", text)
    text = _ID_MY.sub(lambda m: f"{m.group(2)}-{m.group(1)}", text)
    # mask the dates so their dashes never become version dots
    dates: list[str] = []

    def hide(m: re.Match[str]) -> str:
        dates.append(m.group(0))
        return f"\x00{len(dates) - 1}\x00"

    text = re.sub(r"20\d\d-(?:0[1-9]|1[0-2])(?:-(?:0[1-9]|[12]\d|3[01]))?(?![\d.])", hide, text)
    while True:  # "llama-3-1-8b": one pass dots "3-1", the loop reaches overlapping pairs
        new = _ID_DIGIT_DOT.sub(r"\1.\2", text)
        if new == text:
            break
        text = new
    return re.sub("\x00(\\d+)\x00", lambda m: dates[int(m.group(1))], text)


def date_suffix(model_id: str) -> tuple[str, str] | None:
    """``(base, date)`` when a styled id ends in a date (``gpt-4o-2024-05-13`` -> ``("gpt-4o",
    "2024-05-13")``), else None. A date suffix is kept only where a provider ships several dated versions
    of one model; :func:`drop_lone_dates` removes the others."""
    m = _ID_DATE_TAIL.search(model_id)
    return (model_id[: m.start()], m.group(1)) if m and m.start() > 0 else None


def drop_lone_dates(ids: list[str], claimed: dict[str, set[str]]) -> dict[str, str]:
    """For styled ``ids``, the new id of each: its date suffix dropped when no other id shares its base
    (``claude-opus-4.5-2025-11-01`` -> ``claude-opus-4.5``), kept when the provider ships several dated
    versions (``gpt-4o-2024-05-13`` and ``gpt-4o-2024-11-20``; also ``gemini-2.5-flash-preview-2025-09``
    beside ``gemini-2.5-flash-preview-04-17``, a version written another way) or when the undated base
    names another model (``claimed``: lower-cased alias -> the ids that have it; ``gpt-4-turbo`` is the
    November 2023 model's, so the April 2024 one stays ``gpt-4-turbo-2024-04-09``)."""
    bases: dict[str, int] = {}
    for mid in ids:
        split = date_suffix(mid)
        base = split[0] if split else mid
        bases[base] = bases.get(base, 0) + 1
    taken = set(ids)
    out: dict[str, str] = {}
    for mid in ids:
        split = date_suffix(mid)
        if split is None:
            out[mid] = mid
            continue
        base = split[0]
        versioned = any(o != mid and o.startswith(f"{base}-") and o[len(base) + 1 : len(base) + 2].isdigit()
                        for o in ids)
        if not versioned and bases[base] == 1 and base not in taken and not claimed.get(base, set()) - {mid}:
            out[mid] = base
            taken.add(base)
        else:
            out[mid] = mid
    return out


def canonical_id(name: str) -> str:
    """Return a slug (``[a-z0-9][a-z0-9.-]*``) for a new canonical model named ``name``, in gapcast's one id
    style (:func:`styled_id`): the source's own name minus the provider prefix and configuration tags
    (effort, reasoning mode, fallback), lower-case, dots for versions, dates as ``YYYY-MM-DD``
    (``claude-3-5-sonnet-20241022`` -> ``claude-3.5-sonnet-2024-10-22``); a month tag becomes
    ``-<mon>-<yyyy>`` (``"GPT-4o (May '24)"`` → ``gpt-4o-may-2024``). A name with non-ASCII letters is
    transliterated and gets a hash of its normalised spelling, so distinct names never share an id and the
    same name always gets the same one (``"深度求索"`` → ``shenduqiusuo-<6 hex>``); a name with no letters
    or digits at all gets ``model-<6 hex>``. Uniqueness across models is the caller's job.
    """
    return styled_id(legacy_id(name))


EXACT, WEAK, DATED, LOOSE = 0, 1, 2, 3
"""Match strengths reported by :meth:`NameIndex.candidates`, strongest first."""


class NameIndex:
    """Map names (through :func:`name_key`) to canonical model ids.

    Each name is registered as *strong* (the source's own identifier for exactly that model: an Epoch
    model version, an Arena key, an AA model name) or *weak* (a family or display name that several
    versions may share, e.g. Epoch's ``GPT-4o``). A strong name ending in a full date stamp also answers
    its undated form, most weakly (``gpt-4o-2024-11-20`` answers ``gpt-4o`` while it is the only dated
    GPT-4o known). A key that maps to several models is ambiguous.
    """

    def __init__(self) -> None:
        self._verbatim: dict[str, set[str]] = {}
        self._tables: tuple[dict[str, set[str]], ...] = ({}, {}, {}, {})  # by strength: EXACT .. LOOSE

    def add(self, model_id: str, *names: str, weak: bool = False) -> None:
        """Register ``names`` as aliases of ``model_id`` (strong unless ``weak``)."""
        exact, weak_t, dated, loose = self._tables
        for name in names:
            tokens = _tokens(name)
            if not tokens:
                continue
            (weak_t if weak else exact).setdefault("-".join(tokens), set()).add(model_id)
            if not weak:
                self._verbatim.setdefault(_clean(name), set()).add(model_id)
                if len(tokens) > 1 and _STAMP_TOKEN.fullmatch(tokens[-1]):
                    dated.setdefault("-".join(tokens[:-1]), set()).add(model_id)
            loose.setdefault(loose_key(name), set()).add(model_id)

    def tiers(self, name: str, *, loose: bool = False) -> list[set[str]]:
        """Return the ids ``name`` matches at each strength, indexed by :data:`EXACT`, :data:`WEAK`,
        :data:`DATED` (and :data:`LOOSE`, filled only with ``loose=True``, the others then empty)."""
        out: list[set[str]] = [set(), set(), set(), set()]
        if loose:
            key = loose_key(name)
            if key:
                out[LOOSE] = set(self._tables[LOOSE].get(key, set()))
            return out
        key = name_key(name)
        if key:
            for strength in (EXACT, WEAK, DATED):
                out[strength] = set(self._tables[strength].get(key, set()))
        return out

    def candidates(self, name: str, *, loose: bool = False) -> dict[str, int]:
        """Return every model id ``name`` may denote, mapped to its best (lowest) match strength."""
        found: dict[str, int] = {}
        for strength, ids in enumerate(self.tiers(name, loose=loose)):
            for mid in sorted(ids):
                found.setdefault(mid, strength)
        return dict(sorted(found.items()))

    def exact(self, name: str) -> set[str]:
        """Return the ids for which ``name`` is a strong name itself (no undated or weak forms)."""
        key = name_key(name)
        return set(self._tables[EXACT].get(key, set())) if key else set()

    def resolve(self, name: str) -> str | None:
        """Return the canonical id ``name`` denotes, or None when it is unknown or ambiguous.

        A strong name written exactly as registered (ignoring case and spacing) wins, e.g.
        ``GPT-4o (Nov '24)`` although its key ``gpt-4o`` is shared by several versions. Otherwise the
        key is looked up in strong names, then weak names, then undated forms of dated names: the first
        table that knows the key decides, and it must know exactly one model.
        """
        verbatim = self._verbatim.get(_clean(name), set())
        if len(verbatim) == 1:
            return next(iter(verbatim))
        key = name_key(name)
        if not key:
            return None
        for strength in (EXACT, WEAK, DATED):
            ids = self._tables[strength].get(key)
            if ids:
                return next(iter(ids)) if len(ids) == 1 else None
        return None

    def ids(self) -> list[str]:
        """Return every model id that has at least one alias, sorted."""
        return sorted(set().union(*self._tables[EXACT].values(), *self._tables[WEAK].values()))
