"""Credit for the data gapcast serves: who published it and under which terms.

The publishers' terms require it (Epoch AI: CC BY 4.0; Artificial Analysis: attribution required; LMArena:
credit LMArena), so every answer that carries source data names them: a `credit` member in JSON, the
`X-Gapcast-Credit` and `Link: <...>; rel="license"` headers on CSV (the body stays plain CSV), a footer on
the dashboard. The facts live in `forecasts/data/benchmark_catalog.toml` (`[credit.*]`, and `credit` on each
`[sources.*]`), read once per process.
"""

from __future__ import annotations

import tomllib
from functools import cache
from html import escape
from importlib import resources
from typing import Any

from flask import Response

CREDIT_FIELDS = ("id", "name", "licence", "licence_url", "url", "attribution")
# A benchmark's evaluator (the catalogue's `evaluator`) -> the publisher to credit, for benchmarks the
# catalogue does not list (pushed or canonical data keeps the evaluator of its benchmark).
EVALUATOR_CREDIT = {"epoch": "epoch-ai", "artificial-analysis": "artificial-analysis", "lmarena": "lmarena"}
CREDIT_PATH = "/v1/credit"


@cache
def _catalog() -> dict[str, Any]:
    text = resources.files("forecasts.data").joinpath("benchmark_catalog.toml").read_text(encoding="utf-8")
    return tomllib.loads(text)


def providers() -> list[dict[str, str]]:
    """Every publisher to credit, in catalogue order: {id, name, licence, licence_url, url, attribution}."""
    return [{"id": pid, **{k: str(v) for k, v in p.items() if k in CREDIT_FIELDS}}
            for pid, p in _catalog().get("credit", {}).items()]


def catalogued_sources() -> list[dict[str, Any]]:
    """The raw captures the catalogue knows: {id, name, licence, url, retrieved_at, credit} (`credit`: the
    publisher id)."""
    return [{"id": sid, **{k: s.get(k) for k in ("name", "licence", "url", "retrieved_at", "credit")}}
            for sid, s in _sources().items()]


def _sources() -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = _catalog().get("sources", {})
    return out


def _entries() -> dict[str, dict[str, Any]]:
    return {str(b["id"]): b for b in _catalog().get("benchmark", [])}


def provider_of_source(source: str) -> str | None:
    """The publisher id of a score's `source` (`epoch-hub:gpqa_diamond.csv#...` -> `epoch-ai`); None when the
    source is not a catalogued one (a canonical file, a pushed release)."""
    prefix = source.split(":", 1)[0]
    src = _sources().get(prefix)
    if src is not None and src.get("credit"):
        return str(src["credit"])
    return EVALUATOR_CREDIT.get(prefix)


def benchmark_credit(benchmark_id: str, evaluator: str | None) -> dict[str, Any]:
    """Where a benchmark's numbers come from: {source, source_name, evaluator, publisher, licence, licence_url,
    url, attribution}. A benchmark the catalogue does not list is credited by its evaluator (nulls when that is
    not a known publisher either)."""
    entry = _entries().get(benchmark_id) or {}
    src_id = entry.get("source")
    src = _sources().get(str(src_id)) if src_id else None
    pid = (src or {}).get("credit") or EVALUATOR_CREDIT.get(evaluator or entry.get("evaluator") or "")
    pub = next((p for p in providers() if p["id"] == pid), None)
    return {"source": src_id, "source_name": (src or {}).get("name"),
            "evaluator": evaluator or entry.get("evaluator"), "publisher": pub["name"] if pub else None,
            "licence": pub["licence"] if pub else None, "licence_url": pub["licence_url"] if pub else None,
            "url": entry.get("source_url") or (src or {}).get("url") or (pub["url"] if pub else None),
            "attribution": pub["attribution"] if pub else None}


def benchmark_publishers(benchmark_id: str, evaluator: str | None) -> list[dict[str, str]]:
    """The publishers an answer about one benchmark credits: its own (``benchmark_credit``), or every
    publisher when it has none that is known."""
    own = benchmark_credit(benchmark_id, evaluator)["publisher"]
    return [p for p in providers() if p["name"] == own] or providers()


def credit_header(publishers: list[dict[str, str]] | None = None) -> str:
    """One header line naming the ``publishers`` (default: every one) and their terms (ASCII: it travels in an
    HTTP header)."""
    return "; ".join(f"{p['name']} ({p['licence']}, {p['url']})" for p in publishers or providers())


def add_csv_credit(resp: Response, publishers: list[dict[str, str]] | None = None) -> None:
    """Credit headers on an answer whose body cannot carry a `credit` member (CSV, SVG): `X-Gapcast-Credit` (the
    ``publishers``, default every one, and their terms) and a `Link` to the credit document (rel="license"),
    so a CSV stays plain CSV."""
    resp.headers["X-Gapcast-Credit"] = credit_header(publishers)
    resp.headers.add("Link", f'<{CREDIT_PATH}>; rel="license"')


def footer_html() -> str:
    """The dashboard's credit footer (static text from the catalogue, escaped)."""
    parts = [f"<a href='{escape(p['url'])}'>{escape(p['name'])}</a> ({escape(p['licence'])})" for p in providers()]
    return ("<footer class='credit'>Data: " + ", ".join(parts) + ". Scores and ratings belong to their "
            f"publishers; see <a href='{CREDIT_PATH}'>{CREDIT_PATH}</a> for the terms.</footer>")
