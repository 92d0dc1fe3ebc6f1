"""Artificial Analysis (AA) connector: the official Data API v2, LLM list (`GET /api/v2/data/llms/models`).

Contract, beyond `jobs.sources.base`:

* **Off without a key.** `ArtificialAnalysis(None)` constructs fine and reports `enabled = False` (so the
  scheduler can list it as disabled); its `pull` raises `PullFailed("disabled", "disabled: set
  GAPCAST_AA_API_KEY ...")` without touching the network or the request budget.
* **The key** travels only in the `x-api-key` header. It is never put in a URL, an exception message, a log
  line, `Pull.info` or `repr()`.
* **Budget.** AA allows 1,000 requests a day. Every request (including one answered 304 or with an error)
  first takes one unit from a `DailyRequestBudget`: a per-UTC-day count kept by an injectable
  `RequestCounter` (in memory by default; back it with Redis `INCR` + `EXPIRE` to share it between
  processes). A spent budget raises `PullFailed("budget_exhausted", ..., retry_after_s=<seconds to 00:00
  UTC>)` and sends nothing.
* **Failures.** 401 -> `http_401` (the key is wrong: retrying will not help until it changes); 429 ->
  `http_429` with the server's `Retry-After`; 5xx -> `http_5xx`; a body that is not JSON, or JSON without a
  `data` (API) or `models` (web payload) list of model objects -> `bad_format`.
* **Shapes.** Both the official API v2 payload (`{"status", "data": [{id, name, slug, release_date?,
  model_creator{name}, evaluations{...}}]}`) and the leaderboard web payload (`{"meta", "models": [{...,
  creator{name}, open_weights{is_open_weights}, evaluations{...}}]}`) are parsed. Access comes only from
  `open_weights.is_open_weights`; the official API has no such field, so its records have `access=None`
  and the refresh applies them to already-known models only.
* **Values.** Each catalogued AA `key` (see `API_KEY_ALIASES` for the API's spellings) x `value_factor`
  becomes a `SourceRecord`; null means "not evaluated" and is skipped; a non-number or a value outside the
  catalogue's `min`..`max` is rejected (`invalid_score`). Uncatalogued evaluation keys are listed in
  `Pull.info["unknown_keys"]` (the `*_is_estimated` flags are not evaluations and are ignored).
* **Prices and speed.** `parse_offers(body, day)` reads each model's `pricing` (USD per million tokens:
  `price_1m_blended_3_to_1`, `price_1m_input_tokens`, `price_1m_output_tokens`; the blend computed 3:1 when
  null) and output speed (API: `median_output_tokens_per_second`; web payload: `speed.output_tokens_per_second`)
  into `forecasts.records.model.Offer`s keyed by model name, dated by the web payload's `meta.fetched_at` or else
  `day`. A negative, non-finite or non-numeric figure is left out (counted in `invalid_figures`). `pull`
  reports `priced_models` in `Pull.info`; the payload kept with the pull is what `parse_offers` reads.
"""

from __future__ import annotations

import logging
import math
import re
import threading
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any, Protocol

from forecasts.records.canonical import load_json
from forecasts.records.model import Exclusion, Offer, blended_price
from jobs.http import Http, PullFailed
from jobs.sources.base import Pull, SourceRecord
from jobs.sources.catalog import entries

log = logging.getLogger(__name__)

DEFAULT_URL = "https://artificialanalysis.ai/api/v2/data/llms/models"
ENV_KEY = "GAPCAST_AA_API_KEY"
DAILY_LIMIT = 1000
Z95 = 1.959963984540054

# The official API names some evaluations differently from the web payload the catalogue was written
# against (catalogue `key`s are web-payload names). API name -> catalogue key. When an entry carries both
# spellings, the catalogue's own wins.
API_KEY_ALIASES: dict[str, str] = {
    "terminalbench_hard": "terminal_bench_hard",
    "lcr": "aa_lcr",
    "tau2": "tau2_bench",
}

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


# --- the daily request budget -------------------------------------------------------------------


class RequestCounter(Protocol):
    """Where the per-day request count lives."""

    def incr(self, day: str) -> int:
        """Add one request to `day` (YYYY-MM-DD, UTC) and return that day's new total. Must be atomic
        (Redis: `INCR gapcast:aa:requests:<day>` then `EXPIRE` of a couple of days)."""
        ...


class MemoryRequestCounter:
    """A process-local `RequestCounter` (the default; forgets on restart). Keeps only the latest day."""

    def __init__(self) -> None:
        self._counts: dict[str, int] = {}
        self._lock = threading.Lock()

    def incr(self, day: str) -> int:
        with self._lock:
            n = self._counts.get(day, 0) + 1
            self._counts = {day: n}
            return n


class RequestBudget(Protocol):
    """Permission to send one more request."""

    def take(self) -> bool:
        """Spend one request; False (and nothing should be sent) when today's budget is spent."""
        ...


class DailyRequestBudget:
    """At most `limit` requests per UTC day, counted in `counter`; `clock` returns an aware datetime."""

    def __init__(self, limit: int = DAILY_LIMIT, counter: RequestCounter | None = None,
                 clock: Callable[[], datetime] | None = None) -> None:
        if limit < 0:
            raise ValueError("the daily request budget cannot be negative")
        self.limit = limit
        self.counter: RequestCounter = counter if counter is not None else MemoryRequestCounter()
        self.clock = clock or (lambda: datetime.now(UTC))
        self.used = 0  # today's count as of the last take()

    def _now(self) -> datetime:
        now = self.clock()
        return now.astimezone(UTC) if now.tzinfo else now.replace(tzinfo=UTC)

    def take(self) -> bool:
        self.used = self.counter.incr(self._now().date().isoformat())
        return self.used <= self.limit

    def seconds_to_reset(self) -> float:
        """Seconds until the next 00:00 UTC, when the count starts again."""
        now = self._now()
        midnight = datetime.combine(now.date() + timedelta(days=1), datetime.min.time(), tzinfo=UTC)
        return (midnight - now).total_seconds()


# --- the connector ------------------------------------------------------------------------------


class ArtificialAnalysis:
    """The Artificial Analysis Data API v2 source (see the module docstring for the contract).

    `state` persists the per-day request count (default: in memory); `clock` is for tests.
    """

    id = "artificial-analysis"

    def __init__(self, api_key: str | None, *, url: str = DEFAULT_URL, daily_request_budget: int = DAILY_LIMIT,
                 state: RequestCounter | None = None, clock: Callable[[], datetime] | None = None) -> None:
        self._api_key = (api_key or "").strip() or None
        self.url = url
        self.budget = DailyRequestBudget(daily_request_budget, state, clock)

    @property
    def enabled(self) -> bool:
        """Whether an API key was given (without one, `pull` refuses)."""
        return self._api_key is not None

    @property
    def disabled_reason(self) -> str | None:
        return None if self.enabled else f"disabled: set {ENV_KEY} to an Artificial Analysis API key"

    def __repr__(self) -> str:
        return f"ArtificialAnalysis(url={self.url!r}, enabled={self.enabled})"

    def pull(self, http: Http, validators: dict[str, str]) -> Pull:
        """Fetch the LLM list (conditional GET with `validators`) and parse it. Raises PullFailed."""
        if self._api_key is None:
            raise PullFailed("disabled", f"disabled: set {ENV_KEY} to an Artificial Analysis API key")
        if not self.budget.take():
            log.warning("artificial-analysis: daily request budget spent (%d of %d)", self.budget.used,
                        self.budget.limit)
            raise PullFailed("budget_exhausted",
                             f"daily request budget spent: {self.budget.limit} requests per UTC day "
                             f"(AA allows {DAILY_LIMIT}); it resets at 00:00 UTC",
                             retry_after_s=self.budget.seconds_to_reset())
        info: dict[str, Any] = {"budget_used": self.budget.used, "budget_limit": self.budget.limit}
        try:
            resp = http.get(self.url, headers={"x-api-key": self._api_key, "Accept": "application/json"},
                            validators=validators)
        except PullFailed as exc:
            raise _explain(exc) from None
        rate = rate_limit_info(resp.headers)
        if rate:
            info["rate_limit"] = rate
        if resp.not_modified:
            return Pull(self.id, not_modified=True, validators=resp.validators() or dict(validators), info=info)
        records, rejected, parse_info = parse(resp.body)
        info.update(parse_info)
        offers, invalid = parse_offers(resp.body, self.budget._now().date().isoformat())
        info.update({"priced_models": len(offers), "invalid_figures": invalid})
        return Pull(self.id, records=records, rejected=rejected, payload=resp.body,
                    validators=resp.validators(), info=info, offers=offers)


def _explain(exc: PullFailed) -> PullFailed:
    """The HTTP client's failure, with AA-specific advice (never the key)."""
    if exc.reason == "http_401":
        return PullFailed("http_401", f"Artificial Analysis refused the API key (HTTP 401): check {ENV_KEY}")
    if exc.reason == "http_429":
        return PullFailed("http_429", "Artificial Analysis rate limit exceeded (HTTP 429)",
                          retry_after_s=exc.retry_after_s)
    return exc


# --- rate-limit headers -------------------------------------------------------------------------


def rate_limit_info(headers: dict[str, str]) -> dict[str, Any]:
    """`limit` / `remaining` / `reset` from `x-ratelimit-*`, the draft `ratelimit-*` headers, or the
    structured draft `ratelimit: limit=…, remaining=…, reset=…` (also `"name";r=…;t=…`). Headers are
    lower-case; numbers become int/float, anything else stays a string. {} when none is present."""
    out: dict[str, Any] = {}
    for prefix in ("x-ratelimit-", "ratelimit-"):
        for field in ("limit", "remaining", "reset"):
            value = headers.get(prefix + field)
            if value is not None and field not in out:
                out[field] = _number(value)
    structured = headers.get("ratelimit")
    if structured:
        names = {"limit": "limit", "remaining": "remaining", "reset": "reset", "r": "remaining", "t": "reset"}
        for part in re.split(r"[;,]", structured):
            k, sep, v = part.partition("=")
            name = names.get(k.strip().lower())
            if sep and name and name not in out:
                out[name] = _number(v.strip().strip('"'))
    return out


def _number(text: str) -> int | float | str:
    text = text.strip()
    try:
        return int(text)
    except ValueError:
        pass
    try:
        v = float(text)
    except ValueError:
        return text
    return v if math.isfinite(v) else text


# --- parsing ------------------------------------------------------------------------------------


def parse(body: bytes) -> tuple[list[SourceRecord], list[Exclusion], dict[str, Any]]:
    """Records, rejections and info (`shape`, `models`, `unknown_keys`, `malformed_entries`) from an API v2
    or web-payload body. Raises PullFailed("bad_format") when the body is not such a payload."""
    try:
        doc = load_json(body)
    except (UnicodeDecodeError, ValueError):
        head = body[:200].lstrip().lower()
        what = "an HTML page" if head.startswith((b"<!doctype", b"<html")) else "not JSON"
        raise PullFailed("bad_format", f"the response is {what}, not the Artificial Analysis model list") from None
    if isinstance(doc, dict) and isinstance(doc.get("data"), list):
        shape, models = "api_v2", doc["data"]
    elif isinstance(doc, dict) and isinstance(doc.get("models"), list):
        shape, models = "web_payload", doc["models"]
    else:
        keys = sorted(doc)[:8] if isinstance(doc, dict) else type(doc).__name__
        raise PullFailed("bad_format", f"expected a JSON object with a `data` list; got {keys}")
    wellformed = [m for m in models if _wellformed(m)]
    if models and not wellformed:
        raise PullFailed("bad_format", f"none of the {len(models)} entries has a `name` and an `evaluations` object")

    benches = entries("aa")
    known = {b["key"] for b in benches}
    unknown: set[str] = set()
    records: list[SourceRecord] = []
    rejected: list[Exclusion] = []
    for m in wellformed:
        evals = _canonical_evaluations(m["evaluations"])
        unknown.update(k for k in evals if k not in known and not k.endswith("_is_estimated"))
        name = " ".join(m["name"].split())
        ref = f"aa:{m.get('slug') or m.get('id') or name}"
        creator = m.get("model_creator") if isinstance(m.get("model_creator"), dict) else m.get("creator")
        org = str(creator.get("name") or "") if isinstance(creator, dict) else ""
        when = _release_date(m.get("release_date"))
        ow = m.get("open_weights")
        is_open = ow.get("is_open_weights") if isinstance(ow, dict) else None
        access = "open" if is_open is True else "closed" if is_open is False else None
        for b in benches:
            raw = evals.get(b["key"])
            if raw is None:
                continue  # not evaluated
            score = _score(raw, b)
            if score is None:
                rejected.append(Exclusion("artificial-analysis", ref, name, "invalid_score",
                                          f"{b['key']} = {raw!r} is not a number within the range of {b['id']}"))
                continue
            records.append(SourceRecord(model=name, benchmark=b["id"], score=score, organization=org,
                                        release_date=when, access=access, stderr=_stderr(m, b), source=ref))
    info = {"shape": shape, "models": len(models), "unknown_keys": sorted(unknown),
            "malformed_entries": len(models) - len(wellformed)}
    return records, rejected, info


def parse_offers(body: bytes, day: str) -> tuple[dict[str, Offer], int]:
    """({model name: Offer}, number of figures left out) from an API v2 or web-payload body (see the module
    docstring); a model with neither a price nor a speed has no offer. `day` (YYYY-MM-DD) dates the figures
    unless the payload says when it was fetched. Raises PullFailed("bad_format") like `parse`."""
    try:
        doc = load_json(body)
    except (UnicodeDecodeError, ValueError):
        raise PullFailed("bad_format", "the response is not JSON, not the Artificial Analysis model list") from None
    models = doc.get("data") if isinstance(doc, dict) else None
    models = models if isinstance(models, list) else doc.get("models") if isinstance(doc, dict) else None
    if not isinstance(models, list):
        raise PullFailed("bad_format", "expected a JSON object with a `data` (API) or `models` (web) list")
    meta = doc.get("meta") if isinstance(doc.get("meta"), dict) else {}
    fetched = _release_date(str(meta.get("fetched_at") or "")[:10]) or day
    offers: dict[str, Offer] = {}
    invalid = 0
    for m in models:
        if not _wellformed(m):
            continue
        pricing = m.get("pricing") if isinstance(m.get("pricing"), dict) else {}
        speed = m.get("speed") if isinstance(m.get("speed"), dict) else {}
        raw = {"price_blended": pricing.get("price_1m_blended_3_to_1"),
               "price_input": pricing.get("price_1m_input_tokens"),
               "price_output": pricing.get("price_1m_output_tokens"),
               "output_tokens_per_second": m.get("median_output_tokens_per_second",
                                                 speed.get("output_tokens_per_second"))}
        figures: dict[str, float | None] = {}
        for name, value in raw.items():
            x = _finite(value)
            if value is not None and (x is None or x < 0):
                invalid += 1
                x = None
            figures[name] = x
        tps = figures["output_tokens_per_second"]
        figures["output_tokens_per_second"] = round(tps, 1) if tps else None  # 0 tokens/s: "not measured"
        if figures["price_blended"] is None:
            figures["price_blended"] = blended_price(figures["price_input"], figures["price_output"])
        if all(v is None for v in figures.values()):
            continue
        name = " ".join(m["name"].split())
        offers[name] = Offer(**figures, as_of=fetched, source=f"aa:{m.get('slug') or m.get('id') or name}")
    return offers, invalid


def _wellformed(m: Any) -> bool:
    return (isinstance(m, dict) and isinstance(m.get("name"), str) and bool(m["name"].strip())
            and isinstance(m.get("evaluations"), dict))


def _canonical_evaluations(evals: dict[str, Any]) -> dict[str, Any]:
    """Evaluations under the catalogue's names (API aliases applied; a canonical spelling wins)."""
    out = {k: v for k, v in evals.items() if k not in API_KEY_ALIASES}
    for k, v in evals.items():
        if k in API_KEY_ALIASES and out.get(API_KEY_ALIASES[k]) is None:
            out[API_KEY_ALIASES[k]] = v
    return out


def _release_date(value: Any) -> str | None:
    """A YYYY-MM-DD date that exists, else None."""
    if not isinstance(value, str) or not _DATE.match(value):
        return None
    try:
        date.fromisoformat(value)
    except ValueError:
        return None
    return value


def _score(raw: Any, bench: dict[str, Any]) -> float | None:
    """raw x value_factor, or None when raw is not a finite number or falls outside min..max."""
    value = _finite(raw)
    if value is None:
        return None
    value *= float(bench.get("value_factor") or 1.0)
    lo, hi = bench.get("min"), bench.get("max")
    if (lo is not None and value < lo - 1e-9) or (hi is not None and value > hi + 1e-9):
        return None
    return value


def _stderr(m: dict[str, Any], bench: dict[str, Any]) -> float | None:
    """From a 95 % CI at the catalogue's dotted `stderr_ci` paths (web payload only), in score units."""
    ci = bench.get("stderr_ci")
    if not ci:
        return None
    lo, hi = (_finite(_dig(m, path)) for path in ci)
    if lo is None or hi is None or hi < lo:
        return None
    return (hi - lo) / (2 * Z95) * float(bench.get("stderr_factor") or 1.0)


def _finite(v: Any) -> float | None:
    """A finite number as a float (bools and strings are not numbers here)."""
    if isinstance(v, bool) or not isinstance(v, int | float):
        return None
    try:
        x = float(v)
    except OverflowError:  # an integer too long for a float
        return None
    return x if math.isfinite(x) else None


def _dig(obj: Any, dotted: str) -> Any:
    for part in dotted.split("."):
        if not isinstance(obj, dict):
            return None
        obj = obj.get(part)
    return obj
