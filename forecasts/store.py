"""The Redis store: generations of data, switched in atomically, plus raw source payloads.

A refresh writes a complete new generation under fresh keys (invisible to readers), then `commit`
switches `gapcast:generation` to it in one MULTI/EXEC that also makes its keys permanent and gives the
superseded generation a TTL. Readers resolve the current generation once per request and read only
that generation's keys, so they never see half a refresh. A refresh that dies before `commit` leaves
only keys with a pending TTL, which expire on their own. Key names live in `forecasts.keys`.
"""

from __future__ import annotations

import base64
import json
import logging
import uuid
import zlib
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import redis

from forecasts import keys
from forecasts.model import Benchmark, Dataset, Model, Score

logger = logging.getLogger(__name__)

# INCR the generation counter, but never to an id at or below the current generation's.
_NEXT_GENERATION = """
local n = redis.call('incr', KEYS[1])
local current = tonumber(redis.call('get', KEYS[2]) or '0')
if n <= current then n = current + 1; redis.call('set', KEYS[1], n) end
return n
"""
PENDING_TTL_S = 6 * 3600  # a refresh that has not committed within this time is abandoned
GENERATIONS_KEPT = 50  # commit history entries kept in the `generations` sorted set


class StoreError(RuntimeError):
    """The store cannot do what was asked (e.g. a concurrent refresh committed first)."""


class ConcurrentRefresh(StoreError):
    """Another refresh switched the generation while this one was being written."""


def utcnow() -> datetime:
    return datetime.now(UTC)


class Store:
    """Reads and writes gapcast data in one Redis database.

    `now` is injected (aware UTC datetimes) so tests control time.
    """

    def __init__(
        self,
        client: redis.Redis,
        *,
        retain_s: int = 3600,
        raw_history: int = 10,
        now: Callable[[], datetime] = utcnow,
    ) -> None:
        self.r = client
        self.retain_s = retain_s
        self.raw_history = raw_history
        self.now = now

    # --- reading --------------------------------------------------------------------------------------

    def current_generation(self) -> str | None:
        """The id of the generation readers should use, or None before the first load."""
        gen = self.r.get(keys.generation())
        return None if gen is None else _text(gen)

    def version(self) -> tuple[str | None, str]:
        """The current generation and a version tag (one round trip; the HTTP ETag). The tag changes with
        every generation and whenever its forecasts are written, and differs between stores (a wiped and
        reloaded Redis gets a new instance id), so a cached answer is never served for other data."""
        inst, gen, fv = self.r.mget(keys.instance(), keys.generation(), keys.forecasts_version())
        gen_s = None if gen is None else _text(gen)
        return gen_s, f"{_text(inst) if inst else 'none'}.{gen_s}.{_text(fv) if fv is not None else 0}"

    def require_generation(self) -> str:
        """The current generation id. Raises StoreError when nothing was ever loaded."""
        gen = self.current_generation()
        if gen is None:
            raise StoreError("no data loaded yet: run `gapcast load` first")
        return gen

    def read_dataset(self, gen: str) -> Dataset:
        """Models, benchmarks and scores of generation `gen`."""
        data = Dataset()
        for raw in self.r.hvals(keys.gen_benchmarks(gen)):
            b = Benchmark.from_dict(json.loads(raw))
            data.benchmarks[b.id] = b
        for raw in self.r.hvals(keys.gen_models(gen)):
            m = Model.from_dict(json.loads(raw))
            data.models[m.id] = m
        pipe = self.r.pipeline(transaction=False)
        bench_ids = sorted(data.benchmarks)
        for b_id in bench_ids:
            pipe.hgetall(keys.gen_scores(gen, b_id))
        for b_id, rows in zip(bench_ids, pipe.execute(), strict=True):
            for model_id, raw in rows.items():
                d = json.loads(raw)
                data.scores[(b_id, model_id.decode())] = Score.from_dict(
                    {**d, "model": model_id.decode(), "benchmark": b_id})
        return data

    def read_json(self, key: str) -> Any:
        """The JSON value stored at `key`, or None when absent."""
        raw = self.r.get(key)
        return None if raw is None else json.loads(raw)

    def read_meta(self, gen: str) -> dict[str, str]:
        """The generation's meta hash as text."""
        return {_text(k): _text(v) for k, v in self.r.hgetall(keys.gen_meta(gen)).items()}

    # --- writing a generation -------------------------------------------------------------------------

    def begin(self) -> GenerationWriter:
        """Start writing a new generation on top of the current one.

        The new id is always above the current generation's, even when Redis lost the counter's last
        increments (a crash under `appendfsync everysec`, a failover): reusing the live id would overwrite it.
        """
        gen = str(self.r.eval(_NEXT_GENERATION, 2, keys.generation_seq(), keys.generation()))
        return GenerationWriter(self, gen, parent=self.current_generation())

    # --- raw payloads ---------------------------------------------------------------------------------

    def push_raw(self, source: str, payload: bytes, meta: dict[str, Any], pipe: Any | None = None) -> None:
        """Keep `payload` (compressed) as the newest raw payload of `source`; older ones beyond the cap go.
        With `pipe`, the commands join that pipeline (e.g. a generation's commit)."""
        envelope = {
            **meta,
            "stored_at": self.now().isoformat(),
            "bytes": len(payload),
            "data": base64.b64encode(zlib.compress(payload, 6)).decode(),
        }
        p = pipe if pipe is not None else self.r.pipeline(transaction=True)
        p.lpush(keys.raw(source), json.dumps(envelope))
        p.ltrim(keys.raw(source), 0, self.raw_history - 1)
        if pipe is None:
            p.execute()

    def raw_payloads(self, source: str) -> list[tuple[dict[str, Any], bytes]]:
        """Stored raw payloads of `source`, newest first, as (meta, original bytes)."""
        out = []
        for raw in self.r.lrange(keys.raw(source), 0, -1):
            env = json.loads(raw)
            data = zlib.decompress(base64.b64decode(env.pop("data")))
            out.append((env, data))
        return out


class GenerationWriter:
    """Writes one new generation; nothing is visible to readers until `commit`."""

    def __init__(self, store: Store, gen: str, parent: str | None) -> None:
        self.store = store
        self.gen = gen
        self.parent = parent
        self._pipe = store.r.pipeline(transaction=False)
        self._keys: list[str] = []

    def _track(self, key: str) -> None:
        self._keys.append(key)
        self._pipe.expire(key, PENDING_TTL_S)

    def touch(self, key: str, ttl_s: int) -> None:
        """Renew the TTL of a key shared across generations (no-op when it does not exist)."""
        self._pipe.expire(key, ttl_s)

    def put_hash(self, key: str, mapping: dict[Any, Any]) -> None:
        """Write a whole hash (skipped when empty: Redis has no empty hashes)."""
        if mapping:
            self._pipe.hset(key, mapping=mapping)
            self._track(key)

    def put_json(self, key: str, value: Any) -> None:
        """Write `value` as a JSON string."""
        self._pipe.set(key, json.dumps(value, separators=(",", ":")))
        self._track(key)

    def put_models_and_benchmarks(self, data: Dataset) -> None:
        """Write the generation's models and benchmarks hashes."""
        self.put_hash(keys.gen_models(self.gen), {m.id: json.dumps(m.to_dict()) for m in data.models.values()})
        self.put_hash(keys.gen_benchmarks(self.gen),
                      {b.id: json.dumps(b.to_dict()) for b in data.benchmarks.values()})

    def put_scores(self, benchmark: str, scores: list[Score]) -> None:
        """Write one benchmark's scores hash."""
        mapping = {s.model: json.dumps({"value": s.value, "stderr": s.stderr, "source": s.source,
                                        "retrieved_at": s.retrieved_at}) for s in scores}
        self.put_hash(keys.gen_scores(self.gen, benchmark), mapping)

    def copy(self, src: str, dst: str) -> None:
        """Copy a key of an earlier generation server-side (no-op when `src` does not exist)."""
        self._pipe.copy(src, dst, replace=True)
        self._track(dst)

    def commit(self, meta: dict[str, Any], also: Callable[[Any], None] | None = None) -> str:
        """Switch readers to this generation atomically; returns its id.

        Raises ConcurrentRefresh (and leaves the pending keys to expire) when another refresh switched
        the generation since this one began.
        """
        store, g = self.store, self.gen
        now = store.now()
        self._pipe.hset(keys.gen_meta(g), mapping={
            **{k: str(v) for k, v in meta.items()},
            "generation": g, "parent": self.parent or "", "created_at": now.isoformat(),
        })
        self._track(keys.gen_meta(g))
        self._pipe.sadd(keys.gen_keys(g), *self._keys, keys.gen_keys(g))
        self._pipe.expire(keys.gen_keys(g), PENDING_TTL_S)
        self._pipe.execute()
        with store.r.pipeline(transaction=True) as pipe:
            try:
                pipe.watch(keys.generation())
                current = pipe.get(keys.generation())
                current_id = current.decode() if isinstance(current, bytes) else current
                if current_id != self.parent:
                    raise ConcurrentRefresh(
                        f"generation {current_id} was committed while {g} was being written")
                old_keys = list(pipe.smembers(keys.gen_keys(current_id))) if current_id else []
                pipe.multi()
                pipe.set(keys.instance(), uuid.uuid4().hex[:12], nx=True)
                pipe.set(keys.generation(), g)
                for new_key in [*set(self._keys), keys.gen_keys(g)]:
                    pipe.persist(new_key)
                for old_key in old_keys:
                    pipe.expire(old_key, store.retain_s)
                pipe.zadd(keys.generations(), {g: now.timestamp()})
                if also is not None:  # e.g. the refresh's events and raw payload: switched in with the data
                    also(pipe)
                pipe.zremrangebyrank(keys.generations(), 0, -GENERATIONS_KEPT - 1)
                pipe.execute()
            except redis.WatchError as exc:
                raise ConcurrentRefresh(f"the generation changed while {g} was being committed") from exc
        logger.debug("switched to generation %s (parent %s, %d keys)", g, self.parent, len(self._keys))
        _confirm_replicated(store.r, g)
        return g



def _confirm_replicated(client: redis.Redis, gen: str) -> None:
    """Commit hook: a client that must see commits on replicas (forecasts.replication.ReplicatedRedis, made by
    forecasts.connection when GAPCAST_REDIS_MIN_REPLICAS > 0) WAITs for them; raises its NotReplicated."""
    confirm = getattr(client, "confirm_replicated", None)
    if confirm is not None:
        confirm(gen)


def _text(v: bytes | str) -> str:
    return v.decode() if isinstance(v, bytes) else v
