"""A Redis lease lock: SET NX with an expiry, renewed while held, released only by its holder.

Two scheduler replicas never run one job at the same time. If the holder dies, the lease expires after
`ttl_s` and another replica may take over; if the holder stalls past its lease (renewal failed), `lost`
becomes true so the job can stop before committing anything.
"""

from __future__ import annotations

import logging
import threading
import uuid
from types import TracebackType

import redis

from forecasts.storage import keys

logger = logging.getLogger(__name__)

# Renew or release only while the key still holds our token (an expired lease may belong to someone else).
_RENEW = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) end return 0"
_RELEASE = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end return 0"


class Lease:
    """`with Lease(r, "job:pull:epoch-hub", 60) as held:` -- `held` is False when another holder has it."""

    def __init__(self, client: redis.Redis, name: str, ttl_s: float) -> None:
        self.r = client
        self.key = keys.lock(name)
        self.ttl_ms = int(ttl_s * 1000)
        self.token = uuid.uuid4().hex
        self.held = False
        self.lost = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def acquire(self) -> bool:
        """Take the lease if it is free; starts renewing it every third of its TTL."""
        self.held = bool(self.r.set(self.key, self.token, nx=True, px=self.ttl_ms))
        if self.held:
            self._thread = threading.Thread(target=self._renew, name=f"lease {self.key}", daemon=True)
            self._thread.start()
        return self.held

    def release(self) -> None:
        """Stop renewing and delete the lease if it is still ours (errors are logged, not raised)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self.held:
            try:
                self.r.eval(_RELEASE, 1, self.key, self.token)
            except redis.RedisError as exc:
                logger.warning("could not release %s (it expires by itself): %s", self.key, exc)
            self.held = False

    def _renew(self) -> None:
        while not self._stop.wait(self.ttl_ms / 3000):
            try:
                if not self.r.eval(_RENEW, 1, self.key, self.token, self.ttl_ms):
                    self.lost.set()
                    logger.error("lease %s was lost (expired and taken over)", self.key)
                    return
            except redis.RedisError as exc:
                logger.warning("could not renew %s: %s", self.key, exc)

    def __enter__(self) -> bool:
        return self.acquire()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.release()
