"""Commits that must survive a failover wait for replicas (`WAIT numreplicas timeout`).

`forecasts.storage.connection.client_for` returns a `ReplicatedRedis` when `GAPCAST_REDIS_MIN_REPLICAS` is above 0
(by default with a Sentinel URL). After a generation's MULTI/EXEC, the store calls `confirm_replicated`:

1. a small script writes `gapcast:replicated` (the generation id) on the server that holds the commit,
   and refuses (writes nothing) when that server does not know the generation (the commit went to a
   primary that failed over before replicating it);
2. `WAIT n timeout`, pipelined on the same connection: WAIT counts the replicas that acknowledged this
   connection's last write, and that write comes after the commit in the server's replication stream,
   so every replica counted holds the commit. (A WAIT on another pooled connection could count replicas
   that have not got the commit at all.)

Fewer than `n` replicas within the timeout raises NotReplicated: the generation may be live on the
primary, but the writer is told it is not safe (POST /v1/releases answers 503, a pull fails and is
retried). Nothing else gapcast writes (source status, alert outbox, subscriptions, leases) waits.
"""

from __future__ import annotations

from dataclasses import dataclass

import redis

from forecasts.storage import keys
from forecasts.storage.store import StoreError

# Mark the commit as replicated, only on a server that has it (the `generations` sorted set lists it).
_MARK = """
if not redis.call('zscore', KEYS[1], ARGV[1]) then return 0 end
redis.call('set', KEYS[2], ARGV[1])
return 1
"""


class NotReplicated(StoreError):
    """A commit was not confirmed by enough replicas (or is not on the server any more); may be lost."""


@dataclass(frozen=True)
class ReplicaWait:
    """How many replicas must acknowledge a commit, and how long to wait for them (milliseconds)."""

    replicas: int
    timeout_ms: int


class ReplicatedRedis(redis.Redis):
    """A redis-py client whose generation commits wait for `replica_wait.replicas` replicas."""

    replica_wait: ReplicaWait | None = None

    def confirm_replicated(self, generation: str) -> None:
        """WAIT for the replicas after `generation` was committed. Raises NotReplicated (a StoreError)
        when fewer acknowledged in time; Redis errors propagate."""
        policy = self.replica_wait
        if policy is None or policy.replicas <= 0:
            return
        pipe = self.pipeline(transaction=False)  # one connection: WAIT must follow the marking write
        pipe.eval(_MARK, 2, keys.generations(), keys.replicated(), generation)
        pipe.wait(policy.replicas, policy.timeout_ms)
        marked, acked = pipe.execute()
        if not marked:
            raise NotReplicated(f"generation {generation} is not on the current primary (it failed over before "
                                "the commit was replicated): nothing was stored; try again")
        if int(acked) < policy.replicas:
            raise NotReplicated(
                f"generation {generation} was confirmed by {acked} of {policy.replicas} replica(s) within "
                f"{policy.timeout_ms} ms: it may be lost if the primary fails now; try again once replicas are back")
