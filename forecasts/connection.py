"""Connect to the Redis gapcast uses: `GAPCAST_REDIS_URL`, or the embedded private server."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import redis

from forecasts.redis_server import EmbeddedRedis
from forecasts.settings import Settings, redact_url


class RedisUnavailable(RuntimeError):
    """Redis cannot be reached; the message names the (redacted) URL."""


def client_for(url: str, settings: Settings) -> redis.Redis:
    """A redis-py client for `url` with gapcast's timeouts (no command ever hangs)."""
    return redis.Redis.from_url(
        url,
        socket_timeout=settings.redis_socket_timeout_s,
        socket_connect_timeout=settings.redis_socket_timeout_s,
        health_check_interval=30,
    )


@contextlib.contextmanager
def redis_url(settings: Settings) -> Iterator[str]:
    """Yield the Redis URL to use: `redis_url`, or the embedded server's, which runs meanwhile
    (or is attached to, when another gapcast process holds it)."""
    if settings.redis_url:
        yield settings.redis_url
        return
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    with EmbeddedRedis(settings.data_dir) as server:
        yield server.url


@contextlib.contextmanager
def open_redis(settings: Settings) -> Iterator[redis.Redis]:
    """Yield a connected client; with no `redis_url`, run (or attach to) the embedded server meanwhile.

    Raises RedisUnavailable when the server does not answer PING.
    """
    with contextlib.ExitStack() as stack:
        url = stack.enter_context(redis_url(settings))
        client = client_for(url, settings)
        stack.callback(client.close)
        try:
            client.ping()
        except redis.RedisError as exc:
            raise RedisUnavailable(f"Redis at {redact_url(url)} is unavailable: {exc}") from exc
        yield client
