"""Connect to the Redis gapcast uses: `GAPCAST_REDIS_URL` (plain or Sentinel), or the embedded private server.

Every client reconnects by itself: a command that meets a dropped connection (a restarted server, a
Sentinel failover, a primary demoted to replica) is retried with exponential backoff and jitter for at
most `GAPCAST_REDIS_RETRY_S` seconds, then raises `redis.ConnectionError` / `redis.TimeoutError`.
A Sentinel client asks the sentinels for the current primary on every new connection. A WATCHed
MULTI/EXEC (a generation commit) is never retried by redis-py: it fails and its writer starts over.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any, TypeVar

import redis
from redis.backoff import EqualJitterBackoff, NoBackoff
from redis.retry import Retry
from redis.sentinel import Sentinel

from forecasts.settings import Settings, redact_url
from forecasts.storage.redis_server import EmbeddedRedis
from forecasts.storage.redis_urls import is_sentinel_url, parse_sentinel_url
from forecasts.storage.replication import ReplicatedRedis, ReplicaWait

RETRY_BASE_S = 0.05  # first backoff; doubles per attempt (EqualJitter: between half and all of it)
RETRY_CAP_S = 1.0  # longest single backoff
_WAIT_MARGIN_MS = 200  # a WAIT must end before the socket timeout, or redis-py would call it a dead connection
STARTUP_RETRY_S = 1.0  # a command's first PING: an unreachable Redis is reported at once, not after the budget
# ConnectionError subclasses that another attempt cannot fix
_FINAL_ERRORS = (redis.AuthenticationError, redis.exceptions.AuthorizationError)
T = TypeVar("T")


class RedisUnavailable(RuntimeError):
    """Redis cannot be reached; the message names the (redacted) URL."""


class Reconnect(Retry):
    """redis-py's Retry, bounded in time as well as in attempts: no new attempt starts once `budget_s` seconds
    went by (attempts that time out would otherwise add a socket timeout each), and bad credentials fail at
    once (retrying them only delays the error)."""

    def __init__(self, budget_s: float, retries: int) -> None:
        super().__init__(EqualJitterBackoff(cap=RETRY_CAP_S, base=RETRY_BASE_S), retries,
                         supported_errors=(redis.ConnectionError, redis.TimeoutError))
        self.budget_s = budget_s

    def call_with_retry(self, do: Callable[[], T], fail: Callable[..., Any],
                        is_retryable: Callable[[Exception], bool] | None = None,
                        with_failure_count: bool = False) -> T:
        started = time.monotonic()

        def retryable(error: Exception) -> bool:
            return (not isinstance(error, _FINAL_ERRORS) and time.monotonic() - started < self.budget_s
                    and (is_retryable is None or is_retryable(error)))
        return super().call_with_retry(do, fail, retryable, with_failure_count)


def retry_policy(budget_s: float) -> Retry:
    """A redis-py Retry on connection and timeout errors for about `budget_s` seconds: as many attempts as
    backoffs fit in it, and none started after it (the last attempt may add one socket timeout)."""
    retries, total, step = 0, 0.0, RETRY_BASE_S
    while total < budget_s:
        total += min(step, RETRY_CAP_S)
        step *= 2
        retries += 1
    return Reconnect(budget_s, retries)


def min_replicas(url: str, settings: Settings) -> int:
    """Replicas each commit waits for: the setting, else 1 for a Sentinel URL and 0 otherwise."""
    if settings.redis_min_replicas is not None:
        return settings.redis_min_replicas
    return 1 if is_sentinel_url(url) else 0


def client_for(url: str, settings: Settings) -> redis.Redis:
    """A redis-py client for `url` (any form of `GAPCAST_REDIS_URL`) with gapcast's timeouts (no command
    ever hangs), reconnection retries and, when replicas must confirm commits, a `ReplicatedRedis`."""
    replicas = min_replicas(url, settings)
    cls = ReplicatedRedis if replicas > 0 else redis.Redis
    options: dict[str, Any] = {
        "socket_timeout": settings.redis_socket_timeout_s,
        "socket_connect_timeout": settings.redis_socket_timeout_s,
        "health_check_interval": 30,
        "retry": retry_policy(settings.redis_retry_s),
    }
    client = _sentinel_client(url, settings, cls, options) if is_sentinel_url(url) else cls.from_url(url, **options)
    if isinstance(client, ReplicatedRedis):
        timeout_ms = min(settings.redis_replica_timeout_ms,
                         max(1, int(settings.redis_socket_timeout_s * 1000) - _WAIT_MARGIN_MS))
        client.replica_wait = ReplicaWait(replicas, timeout_ms)
    return client


def _sentinel_client(url: str, settings: Settings, cls: type[redis.Redis], options: dict[str, Any]) -> redis.Redis:
    """The primary of a Sentinel URL's service, re-discovered from the sentinels after a failover."""
    spec = parse_sentinel_url(url)
    tls: dict[str, Any] = {"ssl": True, "ssl_ca_certs": spec.ssl_ca_certs} if spec.tls else {}
    sentinel_options = {
        "socket_timeout": options["socket_timeout"], "socket_connect_timeout": options["socket_connect_timeout"],
        # discover_master already tries each sentinel in turn: a retry per sentinel would only add delay
        "retry": Retry(NoBackoff(), 0), "password": settings.redis_sentinel_password, **tls,
    }
    sentinel = Sentinel(list(spec.sentinels), sentinel_kwargs=sentinel_options)
    return sentinel.master_for(spec.service, redis_class=cls, db=spec.db, username=spec.username,
                               password=spec.password, **tls, **options)


@contextlib.contextmanager
def redis_url(settings: Settings) -> Iterator[str]:
    """Yield the Redis URL to use: `redis_url`, or the embedded server's, which runs meanwhile
    (or is attached to, when another gapcast process holds it; the process that started it restarts
    it if it dies)."""
    if settings.redis_url:
        yield settings.redis_url
        return
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    with EmbeddedRedis(settings.data_dir, appendfsync=settings.redis_appendfsync) as server:
        yield server.url


@contextlib.contextmanager
def open_redis(settings: Settings) -> Iterator[redis.Redis]:
    """Yield a connected client; with no `redis_url`, run (or attach to) the embedded server meanwhile.

    Raises RedisUnavailable when the server does not answer PING.
    """
    with contextlib.ExitStack() as stack:
        url = stack.enter_context(redis_url(settings))
        probe = client_for(url, replace(settings, redis_retry_s=min(settings.redis_retry_s, STARTUP_RETRY_S)))
        try:
            probe.ping()
        except redis.RedisError as exc:
            raise RedisUnavailable(f"Redis at {redact_url(url)} is unavailable: {exc}") from exc
        finally:
            probe.close()
        client = client_for(url, settings)
        stack.callback(client.close)
        yield client
