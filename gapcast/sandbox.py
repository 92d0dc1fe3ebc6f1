"""A throwaway gapcast for scripts and benchmarks: a private redis-server in a temporary folder, a snapshot
loaded into it, and Flask test clients of the API on top (in-process, no network, one worker)."""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import redis
from flask.testing import FlaskClient

from forecasts.measure.domains import load_domains
from forecasts.records.snapshot import bundled_bytes
from forecasts.settings import Settings
from forecasts.storage.ingest import load_snapshot
from forecasts.storage.redis_server import EmbeddedRedis
from forecasts.storage.store import Store
from service import create_app


@contextmanager
def loaded_api(snapshot: bytes | None = None, origin: str = "sandbox") -> Iterator[Callable[[], FlaskClient]]:
    """Yield a factory of test clients, each of a fresh app (empty per-worker caches), over a Redis holding
    `snapshot` (default: the bundled one). The server and its folder are gone on exit."""
    with tempfile.TemporaryDirectory() as tmp:
        server = EmbeddedRedis(Path(tmp), appendfsync="everysec")
        server.start()
        try:
            client = redis.Redis.from_url(server.url)
            load_snapshot(Store(client), load_domains(None), snapshot or bundled_bytes(), origin)
            yield lambda: create_app(Settings(redis_url="unused://"), client=client).test_client()
        finally:
            server.stop()
