"""Every Redis key gapcast uses, built in one place: `gapcast:<entity>:<id>[:<facet>]`.

Nothing outside this module spells a key. Lifetimes:

- permanent: `instance`, `generation`, `generation_seq`, `forecasts_version`, `replicated`, `generations`
  (capped by trimming),
  `raw:<source>` (list capped at `GAPCAST_RAW_HISTORY`).
- per generation (`gen:<g>:...`): written with a TTL while a refresh is in progress (so a crashed
  refresh leaves nothing that lives on), made permanent when the generation is switched in, and given a
  TTL again (`GAPCAST_GENERATION_RETAIN_S`) when a newer generation replaces it.
- forecast documents `forecast:<hash>`: content-addressed, TTL 90 days renewed by each generation that
  uses them (1 hour for results of a failed fit, so they are retried).
- `freshness:<g>` (a generation's newest data points): TTL 7 days, recomputed from the generation when gone.
- `events` (stream, capped), `source:<id>` and `job:<name>` (hashes, one per source or job),
  `budget:<source>:<day>` (TTL 2 days).
- alerts: `subscriptions`, `subscription:<id>` and `alerts:cursor` (permanent), `outbox` and `deliveries`
  (sorted sets; delivered ids leave the outbox, `deliveries` is trimmed), `delivery:<id>` (TTL 30 days),
  `channel:<id>:next` (TTL 1 hour).
- locks: `lock:<name>`, always with an expiry.
"""

from __future__ import annotations

APP = "gapcast"


def instance() -> str:
    """String: a random id written with the first generation; tells stores apart in HTTP ETags (permanent)."""
    return f"{APP}:instance"


def generation() -> str:
    """String: the id of the current generation (absent before the first load)."""
    return f"{APP}:generation"


def generation_seq() -> str:
    """String (integer counter): the last generation id handed out, via INCR."""
    return f"{APP}:generation_seq"


def forecasts_version() -> str:
    """String (integer counter): bumped whenever forecast documents are written, so that HTTP ETags
    (generation + this) change when forecasts of the current generation appear."""
    return f"{APP}:forecasts_version"


def generations() -> str:
    """Sorted set: committed generation ids, scored by commit time (Unix seconds); trimmed to the last 50."""
    return f"{APP}:generations"


def replicated() -> str:
    """String: the last generation id confirmed on replicas (`WAIT`, forecasts/storage/replication.py; permanent)."""
    return f"{APP}:replicated"


def gen_keys(gen: str) -> str:
    """Set: every key that belongs to generation `gen` (used to switch its TTLs as one)."""
    return f"{APP}:gen:{gen}:keys"


def gen_meta(gen: str) -> str:
    """Hash: facts about generation `gen` (created_at, as_of, parent, reason, counts)."""
    return f"{APP}:gen:{gen}:meta"


def gen_models(gen: str) -> str:
    """Hash: model id -> canonical model JSON, in generation `gen`."""
    return f"{APP}:gen:{gen}:models"


def gen_benchmarks(gen: str) -> str:
    """Hash: benchmark id -> benchmark JSON, in generation `gen`."""
    return f"{APP}:gen:{gen}:benchmarks"


def gen_scores(gen: str, benchmark: str) -> str:
    """Hash: model id -> score JSON (value, stderr, source, retrieved_at) on `benchmark`, in `gen`."""
    return f"{APP}:gen:{gen}:scores:{benchmark}"


def gen_benchmark_series(gen: str, benchmark: str) -> str:
    """String: JSON list of the benchmark's monthly gap points, in generation `gen`."""
    return f"{APP}:gen:{gen}:benchmark:{benchmark}:series"


def gen_domain_series(gen: str, domain: str) -> str:
    """String: JSON list of the domain's monthly aggregate points, in generation `gen`."""
    return f"{APP}:gen:{gen}:domain:{domain}:series"


def gen_summary(gen: str) -> str:
    """String: JSON list, one row per domain as of the latest data (what `gapcast gaps` prints)."""
    return f"{APP}:gen:{gen}:summary"


def gen_benchmark_summary(gen: str) -> str:
    """String: JSON list, one row per benchmark as of its latest data."""
    return f"{APP}:gen:{gen}:benchmark_summary"


def track_record(domain: str, metric: str) -> str:
    """Hash: data hash -> JSON track-record entry of every forecast published for the domain and metric
    (forecasts.publishing.track_record). Permanent: not part of any generation, no TTL, capped in size."""
    return f"{APP}:track:{domain}:{metric}"


def track_record_backtest() -> str:
    """String: JSON list of the newest engine backtest's domain forecasts as track-record entries (source
    "backtest"); replaced only by a backtest whose newest cut-off is at least as new. No TTL."""
    return f"{APP}:track:backtest"


def gen_robustness(gen: str) -> str:
    """String: JSON public vs held-out split of generation `gen` (forecasts.measure.compute.robustness_of)."""
    return f"{APP}:gen:{gen}:robustness"


def gen_exclusions(gen: str) -> str:
    """String: JSON list of the records excluded from the data of generation `gen`, with reasons."""
    return f"{APP}:gen:{gen}:exclusions"


def gen_forecast_index(gen: str) -> str:
    """Hash: `<kind>:<target>:<metric>` -> JSON {spec, as_of, hash} of every forecastable series in `gen`."""
    return f"{APP}:gen:{gen}:forecast_index"


def forecast(data_hash: str) -> str:
    """String: JSON forecast document for the series whose data hashes to `data_hash` (content-addressed;
    TTL 90 days, renewed by every generation that references it)."""
    return f"{APP}:forecast:{data_hash}"


def engine_calibration(digest: str) -> str:
    """String: JSON calibration of the forecast engine (conformal corrections, probability questions and
    per-series backtest scores) for the history that hashes to `digest`; TTL 90 days."""
    return f"{APP}:engine:calibration:{digest}"


def freshness(gen: str) -> str:
    """String: JSON {as_of, sources: {source: date}} of generation `gen`'s newest data points (derived from
    its scores, so a process need not read the whole dataset to say how old the data is); TTL 7 days,
    recomputed from the generation when missing."""
    return f"{APP}:freshness:{gen}"


def events() -> str:
    """Stream: what changed at each refresh (new frontier, gap change, caught up, lead lost, forecast moved,
    source failing); capped at about 10,000 entries (XADD MAXLEN ~)."""
    return f"{APP}:events"


def source_status(source: str) -> str:
    """Hash: a source's pull status (last_success_at, last_error_at, last_error, consecutive_failures,
    rows_accepted, rows_rejected, next_retry_at, validators). Permanent, one per configured source."""
    return f"{APP}:source:{source}"


def request_budget(source: str, day: str) -> str:
    """String (integer counter): requests made to `source` on UTC `day` (YYYY-MM-DD); TTL 2 days."""
    return f"{APP}:budget:{source}:{day}"


def job_runs(job: str) -> str:
    """Hash: a scheduled job's last_started_at / last_finished_at / last_outcome, shared by every scheduler
    replica so that a job runs once per interval. Permanent, one per job."""
    return f"{APP}:job:{job}"


def subscriptions() -> str:
    """Set: ids of every alert subscription (permanent)."""
    return f"{APP}:subscriptions"


def subscription(sub_id: str) -> str:
    """String: JSON of one subscription, URL and secret included (permanent until deleted; never served)."""
    return f"{APP}:subscription:{sub_id}"


def alerts_cursor() -> str:
    """String: the id of the last event the alert planner has turned into deliveries (permanent)."""
    return f"{APP}:alerts:cursor"


def outbox() -> str:
    """Sorted set: delivery ids waiting to be sent, scored by when they are due (Unix seconds)."""
    return f"{APP}:outbox"


def delivery(delivery_id: str) -> str:
    """String: JSON of one delivery (subscription, events, status, attempts, errors); TTL 30 days. Its id is
    the idempotency key of (subscription, refresh, events)."""
    return f"{APP}:delivery:{delivery_id}"


def deliveries() -> str:
    """Sorted set: delivery ids by creation time (Unix seconds), trimmed to the newest 10,000."""
    return f"{APP}:deliveries"


def channel_next(sub_id: str) -> str:
    """String: Unix time before which nothing more is sent to this subscription (rate limit); TTL 1 hour."""
    return f"{APP}:channel:{sub_id}:next"


def channel_queue(sub_id: str) -> str:
    """Sorted set: a subscription's undelivered delivery ids by stream order (sent head first); TTL 30 days."""
    return f"{APP}:channel:{sub_id}:queue"


def channel_gone(sub_id: str) -> str:
    """String (counter): consecutive 404/410 answers from a subscription's target; TTL 30 days."""
    return f"{APP}:channel:{sub_id}:gone"


def alert_stats() -> str:
    """Hash: delivery outcome -> count since the store was made (delivered, retry, dead); permanent."""
    return f"{APP}:alerts:stats"


def raw(source: str) -> str:
    """List: newest-first raw payloads of `source`, each a JSON envelope with zlib+base64 bytes; capped."""
    return f"{APP}:raw:{source}"


def lock(name: str) -> str:
    """String with expiry: a lease lock (value = owner token)."""
    return f"{APP}:lock:{name}"
