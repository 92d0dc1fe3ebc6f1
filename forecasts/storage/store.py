"""The Redis store: generations of data, switched in atomically, plus raw source payloads.

A refresh writes a complete new generation under fresh keys (invisible to readers), then `commit`
switches `gapcast:generation` to it in one MULTI/EXEC that also makes its keys permanent and gives the
superseded generation a TTL. Readers resolve the current generation once per request and read only
that generation's keys, so they never see half a refresh. A refresh that dies before `commit` leaves
only keys with a pending TTL, which expire on their own. Key names live in `forecasts.storage.keys`.

Writers are serialized by a Redis lease (`writing`, a redis-py Lock with a bounded wait) and fenced by the
WATCH on `gapcast:generation` in `commit`: a refresh only commits on top of the generation it read, so a
writer whose lease ran out can never overwrite a newer generation (it re-reads and re-applies instead).
Generation ids are `<seq>-<random>`: even after Redis lost its last writes (a crash under `appendfsync
everysec`) a new generation never takes an id a client may already have seen. With a state folder (the
data dir), the highest committed generation is also kept on disk, so such a rollback is detected.
"""

from __future__ import annotations

import base64
import contextlib
import functools
import json
import logging
import math
import os
import re
import secrets
import tempfile
import threading
import uuid
import zlib
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import redis

from forecasts.records.model import EARLIEST_RELEASE, Benchmark, Dataset, Model, Score, insane_score
from forecasts.settings import Settings
from forecasts.storage import keys
from forecasts.storage.redis_server import socket_path

logger = logging.getLogger(__name__)

# INCR the generation counter, but never to a sequence number at or below the current generation's or the
# high-water mark kept outside Redis (ARGV[1]): after lost writes the counter may be behind both.
_NEXT_GENERATION = """
local n = redis.call('incr', KEYS[1])
local current = tonumber(string.match(redis.call('get', KEYS[2]) or '', '^%d+') or '0')
local floor = math.max(current, tonumber(ARGV[1]))
if n <= floor then n = floor + 1; redis.call('set', KEYS[1], n) end
return n
"""
PENDING_TTL_S = 6 * 3600  # a refresh that has not committed within this time is abandoned
GENERATIONS_KEPT = 50  # commit history entries kept in the `generations` sorted set
WRITE_LEASE_S = 10  # the write lease: renewed every third of it while held, gone this long after its holder died
HIGH_WATER_FILE = "generation-high-water.json"  # in the state folder: the highest generation committed
ROLLBACK_NOTICE_S = 7 * 86400  # a detected rollback stays in /readyz this long after it was resolved
_SEQ = re.compile(r"\d+")
#: One decoder for every stored value (a read of the bundled data decodes 12,000 of them): a non-finite
#: number (NaN, Infinity, from a store written before the bounds) reads as None.
_STORED_JSON = json.JSONDecoder(parse_constant=lambda _c: None)


def _loads(raw: bytes | str) -> Any:
    """A stored JSON value (UTF-8 bytes or text). Raises ValueError (UnicodeDecodeError, JSONDecodeError)."""
    return _STORED_JSON.decode(raw.decode() if isinstance(raw, bytes) else raw)


class StoreError(RuntimeError):
    """The store cannot do what was asked (e.g. a concurrent refresh committed first)."""


class ConcurrentRefresh(StoreError):
    """Another refresh switched the generation while this one was being written."""


class StoreBusy(StoreError):
    """Another writer held the write lease for the whole bounded wait; nothing was written (retry later)."""

    def __init__(self, message: str, retry_after_s: int) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


def generation_seq(gen: str) -> int:
    """The sequence number of generation id `gen` (`"12-3fa9c0d1"` -> 12; 0 when it has none)."""
    m = _SEQ.match(gen)
    return int(m.group()) if m else 0


def utcnow() -> datetime:
    return datetime.now(UTC)


def store_for(client: redis.Redis, settings: Settings) -> Store:
    """The Store the settings describe. With the embedded Redis (no `redis_url`, or the URL of the data dir's
    own server, as `gapcast up` hands it to its API workers) the data dir, which holds its AOF, also holds the
    generation high-water mark, so a rollback of that AOF is detected."""
    embedded = settings.redis_url in (None, "unix://" + quote(str(socket_path(settings.data_dir))))
    state_dir = settings.data_dir if embedded and settings.data_dir.is_dir() else None
    return Store(client, retain_s=settings.generation_retain_s, raw_history=settings.raw_history,
                 write_wait_s=settings.write_wait_s, state_dir=state_dir)


def rollback_notice(store: Store, *, log: bool = True) -> str | None:
    """`store.rollback()` for a start-up line (logged as a warning with `log`); None also when Redis does not
    answer (the caller's own checks report that)."""
    try:
        note = store.rollback()
    except redis.RedisError:
        return None
    if note and log:
        logger.warning("%s", note)
    return note


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
        write_wait_s: float = 20.0,
        state_dir: Path | None = None,
    ) -> None:
        """`write_wait_s`: longest wait for the write lease (then StoreBusy); `state_dir`: a folder on this
        machine (the data dir) for the generation high-water mark; None: rollbacks are not detected."""
        self.r = client
        self.retain_s = retain_s
        self.raw_history = raw_history
        self.now = now
        self.write_wait_s = write_wait_s
        self.state_dir = state_dir
        self._high_water_warned = False

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
        """Models, benchmarks and scores of generation `gen`.

        Defensive: a stored record that does not parse, or a score outside its benchmark's sane bounds (a
        store written before the bounds existed), is left out with a warning instead of failing every read;
        the next generation written on top of it no longer carries it. Models, benchmarks and scores come
        back in sorted key order: Redis hands a hash's fields back in an order that differs between server
        runs, and the engine's paths depend on the order it meets equal steps in, so sorted, equal data gives
        equal forecasts and backtests in every process (what content addressing and the shipped forecasts
        rely on)."""
        data = Dataset()
        skipped: list[str] = []
        for raw in self.r.hvals(keys.gen_benchmarks(gen)):
            b = _parsed(Benchmark.from_dict, raw, skipped)
            if b is not None:
                data.benchmarks[b.id] = b
        for raw in self.r.hvals(keys.gen_models(gen)):
            m = _parsed(Model.from_dict, raw, skipped)
            if m is not None:
                data.models[m.id] = m
        pipe = self.r.pipeline(transaction=False)
        bench_ids = sorted(data.benchmarks)
        for b_id in bench_ids:
            pipe.hgetall(keys.gen_scores(gen, b_id))
        for b_id, rows in zip(bench_ids, pipe.execute(), strict=True):
            for model_id, raw in rows.items():
                mid = _text(model_id)
                s = _parsed(functools.partial(_score_of, mid, b_id), raw, skipped)
                problem = s and insane_score(s, data.benchmarks[b_id])
                model = data.models.get(mid)
                if s is not None and model is not None and model.release_date < EARLIEST_RELEASE:
                    problem = f"model released {model.release_date}, before {EARLIEST_RELEASE}"
                if problem:
                    skipped.append(f"score of {mid!r} on {b_id}: {problem}")
                elif s is not None:
                    data.scores[(b_id, mid)] = s
        if skipped:
            logger.warning("generation %s: left out %d stored record(s) that cannot be used, e.g. %s",
                           gen, len(skipped), skipped[0])
        return Dataset(dict(sorted(data.models.items())), dict(sorted(data.benchmarks.items())),
                       dict(sorted(data.scores.items())))

    def read_json(self, key: str) -> Any:
        """The JSON value stored at `key`, or None when absent. Defensive: a value that is not JSON is None
        (logged), and a non-finite number (NaN, Infinity: a store written before the bounds) reads as None,
        so no stored value can make an answer fail to serialize."""
        raw = self.r.get(key)
        if raw is None:
            return None
        try:
            return _loads(raw)
        except (ValueError, RecursionError):
            logger.warning("the value at %s is not JSON; read as absent", key)
            return None

    def read_meta(self, gen: str) -> dict[str, str]:
        """The generation's meta hash as text."""
        return {_text(k): _text(v) for k, v in self.r.hgetall(keys.gen_meta(gen)).items()}

    # --- writing a generation -------------------------------------------------------------------------

    @contextlib.contextmanager
    def writing(self) -> Iterator[None]:
        """Hold the store's write lease meanwhile: writers (API workers, replicas, the scheduler, the CLI)
        apply their changes one at a time. Waits at most `write_wait_s`, then raises StoreBusy.

        A thread renews the lease every third of WRITE_LEASE_S while the write runs, so a writer that died
        holding it blocks others at most WRITE_LEASE_S. A writer that loses it anyway (a long pause, Redis
        lost the key) is still safe: `commit` refuses to switch when another generation was committed since
        its data was read."""
        lock = self.r.lock(keys.lock("write"), timeout=WRITE_LEASE_S, sleep=0.05,
                           blocking_timeout=self.write_wait_s, thread_local=False)
        if not lock.acquire():
            raise StoreBusy(f"the store is busy: another write held it for {self.write_wait_s:g} s; "
                            "nothing was stored, retry shortly", retry_after_s=max(1, math.ceil(self.write_wait_s)))
        done = threading.Event()

        def renew() -> None:
            while not done.wait(WRITE_LEASE_S / 3):
                try:
                    lock.reacquire()
                except (redis.exceptions.LockError, redis.RedisError):
                    return  # lost: the commit's WATCH fence still guards the write

        renewer = threading.Thread(target=renew, name="gapcast-write-lease", daemon=True)
        renewer.start()
        try:
            yield
        finally:
            done.set()
            renewer.join()
            try:
                lock.release()
            except redis.exceptions.LockError:
                logger.warning("the write lease was lost before the write ended")
            except redis.RedisError as exc:  # the write's own error (if any) is the one to report
                logger.warning("could not release the write lease: %s", exc)

    def begin(self, parent: str | None) -> GenerationWriter:
        """Start writing a new generation on top of generation `parent`: the one the new data was derived
        from (None: the first). `commit` refuses when the current generation is no longer `parent`.

        The new id's sequence number is above the current generation's and the on-disk high-water mark,
        even when Redis lost the counter's last increments (a crash under `appendfsync everysec`, a
        failover), and its random part makes it differ from any id handed out before."""
        floor = self._high_water().get("seq", 0)
        seq = int(self.r.eval(_NEXT_GENERATION, 2, keys.generation_seq(), keys.generation(), floor))
        return GenerationWriter(self, f"{seq}-{secrets.token_hex(4)}", parent=parent)

    # --- rollback detection ---------------------------------------------------------------------------

    def rollback(self) -> str | None:
        """One line when Redis serves an older generation than one committed earlier on this store (writes
        lost: an AOF cut short, a failover to a lagging replica), else None. Needs `state_dir`; the notice
        stays ROLLBACK_NOTICE_S after the next commit. On first detection the store gets a new instance id, so
        no ETag (instance, generation, forecasts counter) served before the loss is served again for other
        content. Raises redis.RedisError."""
        mark = self._high_water()
        if not mark.get("generation"):
            return None
        inst, gen = self.r.mget(keys.instance(), keys.generation())
        inst_s, gen_s = (_text(inst) if inst else None), (_text(gen) if gen else None)
        if inst_s is not None and inst_s != mark.get("instance"):
            return None  # another store (e.g. GAPCAST_REDIS_URL changed): the mark is not about it
        if gen_s is None or generation_seq(gen_s) < int(mark.get("seq", 0)):
            note = (f"data rolled back: Redis serves generation {gen_s or 'none'} but generation "
                    f"{mark['generation']} was committed before (writes lost); new generation ids continue "
                    f"above {mark['seq']}")
            if mark.get("rollback") != note:  # first seen: a new instance id, so no ETag served before recurs
                fresh = uuid.uuid4().hex[:12]  # (the forecasts counter in it may have been rolled back too)
                self.r.set(keys.instance(), fresh)
                self._write_high_water({**mark, "instance": fresh, "rollback": note,
                                        "rollback_at": self.now().isoformat()})
            return note
        old, at = mark.get("rollback"), mark.get("rollback_at")
        if old and at and (self.now() - datetime.fromisoformat(at)).total_seconds() < ROLLBACK_NOTICE_S:
            return f"{old} (detected {at})"
        return None

    def _high_water(self) -> dict[str, Any]:
        """The on-disk mark {seq, generation, instance[, rollback, rollback_at]}; {} without one."""
        if self.state_dir is None:
            return {}
        try:
            mark = json.loads((self.state_dir / HIGH_WATER_FILE).read_text())
            return mark if isinstance(mark, dict) and isinstance(mark.get("seq"), int) else {}
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            self._warn_high_water(f"cannot read {HIGH_WATER_FILE}: {exc}")
            return {}

    def _record_committed(self, gen: str) -> None:
        """Raise the on-disk mark to `gen` (called inside the write lease, after the switch)."""
        if self.state_dir is None:
            return
        inst = self.r.get(keys.instance())
        inst_s = _text(inst) if inst else ""
        mark = self._high_water()
        if mark.get("instance") == inst_s and generation_seq(gen) <= int(mark.get("seq", 0)):
            return
        keep: dict[str, Any] = {k: mark[k] for k in ("rollback", "rollback_at")
                                if k in mark and mark.get("instance") == inst_s}
        self._write_high_water({"seq": generation_seq(gen), "generation": gen, "instance": inst_s, **keep})

    def _write_high_water(self, mark: dict[str, Any]) -> None:
        assert self.state_dir is not None
        try:
            fd, tmp = tempfile.mkstemp(dir=self.state_dir, prefix=".hwm-")  # 0600
            with os.fdopen(fd, "w") as f:
                json.dump(mark, f)
            os.replace(tmp, self.state_dir / HIGH_WATER_FILE)  # atomic: readers see the old or the new mark
        except OSError as exc:
            self._warn_high_water(f"cannot write {HIGH_WATER_FILE}: {exc}")

    def _warn_high_water(self, message: str) -> None:
        if not self._high_water_warned:  # once per process: the mark only serves rollback detection
            self._high_water_warned = True
            logger.warning("%s (rollbacks of the store will not be detected)", message)

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
        # MULTI/EXEC: a writer killed while its (large) batch is on the wire leaves nothing, never a key
        # without its pending TTL (a partial batch never reaches EXEC, so Redis discards it)
        self._pipe = store.r.pipeline(transaction=True)
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
        """Write `value` as a JSON string. Raises StoreError (nothing is committed) for a non-finite number:
        it would make every read of the key fail."""
        try:
            text = json.dumps(value, separators=(",", ":"), allow_nan=False)
        except ValueError as exc:
            raise StoreError(f"refusing to store a non-finite number at {key}") from exc
        self._pipe.set(key, text)
        self._track(key)

    def put_models_and_benchmarks(self, data: Dataset) -> None:
        """Write the generation's models and benchmarks hashes."""
        self.put_hash(keys.gen_models(self.gen), {m.id: json.dumps(m.to_dict()) for m in data.models.values()})
        self.put_hash(keys.gen_benchmarks(self.gen),
                      {b.id: json.dumps(b.to_dict()) for b in data.benchmarks.values()})

    def put_scores(self, benchmark: str, scores: list[Score]) -> None:
        """Write one benchmark's scores hash."""
        mapping = {s.model: json.dumps({"value": s.value, "stderr": s.stderr, "source": s.source,
                                        "retrieved_at": s.retrieved_at, "first_seen": s.first_seen,
                                        **({"history": s.history} if s.history else {})})  # Arena snapshots
                   for s in scores}
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
        store._record_committed(g)  # before the replica check: the id is live (and may be seen) either way
        _confirm_replicated(store.r, g)
        return g



def _confirm_replicated(client: redis.Redis, gen: str) -> None:
    """Commit hook: a client that must see commits on replicas (forecasts.storage.replication.ReplicatedRedis, made by
    forecasts.storage.connection when GAPCAST_REDIS_MIN_REPLICAS > 0) WAITs for them; raises its NotReplicated."""
    confirm = getattr(client, "confirm_replicated", None)
    if confirm is not None:
        confirm(gen)


def _text(v: bytes | str) -> str:
    return v.decode() if isinstance(v, bytes) else v


def _score_of(model: str, benchmark: str, d: dict[str, Any]) -> Score:
    return Score.from_dict({**d, "model": model, "benchmark": benchmark})


def _parsed(build: Callable[[dict[str, Any]], Any], raw: bytes | str, skipped: list[str]) -> Any:
    """`build(json)` of a stored record, or None (noted in `skipped`) when it does not parse."""
    try:
        d = _loads(raw)
        return build(d) if isinstance(d, dict) else None
    except (ValueError, KeyError, TypeError, RecursionError) as exc:
        skipped.append(f"{raw[:60]!r}: {type(exc).__name__}")
        return None
