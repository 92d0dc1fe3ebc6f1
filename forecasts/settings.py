"""Every gapcast setting, declared once: name, type, default and help.

Settings are read from `GAPCAST_*` environment variables. `Settings.from_env` validates all of them at
start-up and raises `SettingsError` with one line naming the variable, so entry points can print it
and exit instead of showing a traceback. Secrets have no default: a feature whose secret is missing
is off.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import Field, dataclass, field, fields
from pathlib import Path
from typing import Any

import platformdirs

from forecasts.records.reading import DEFAULT_MAX_INPUT_BYTES, InputTooLarge, read_file
from forecasts.storage.redis_urls import check_url

PREFIX = "GAPCAST_"
# Variables under these prefixes belong to the test suite, not to the service.
_IGNORED_PREFIXES = ("GAPCAST_TEST_",)


class SettingsError(ValueError):
    """A setting with a bad value, or an unknown GAPCAST_* variable (message is one line)."""


def _positive_int(raw: str) -> int:
    if not raw.isdigit() or int(raw) < 1:
        raise ValueError("expected a whole number of at least 1")
    return int(raw)


def _positive_float(raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not value > 0 or not math.isfinite(value):
        raise ValueError("expected a number greater than 0")
    return value


def _optional_str(raw: str) -> str | None:
    return raw or None


def _non_negative_int(raw: str) -> int:
    if not raw.isdigit():
        raise ValueError("expected a whole number of at least 0")
    return int(raw)


def _optional_non_negative_int(raw: str) -> int | None:
    return _non_negative_int(raw) if raw else None


def _redis_url(raw: str) -> str | None:
    return check_url(raw) if raw else None


def _appendfsync(raw: str) -> str:
    if raw not in {"always", "everysec"}:
        raise ValueError("must be always or everysec")
    return raw


def _optional_path(raw: str) -> Path | None:
    return Path(raw).expanduser() if raw else None


def _bool(raw: str) -> bool:
    if raw.lower() in {"1", "true", "yes", "on"}:
        return True
    if raw.lower() in {"0", "false", "no", "off", ""}:
        return False
    raise ValueError("expected true or false")


def _cors_origins(raw: str) -> tuple[str, ...]:
    """`*`, `off` (or empty: no CORS headers), or a comma-separated list of `scheme://host[:port]` origins."""
    if raw.lower() in {"", "off", "none"}:
        return ()
    if raw == "*":
        return ("*",)
    origins = tuple(o.strip().rstrip("/") for o in raw.split(",") if o.strip())
    for origin in origins:
        scheme, sep, host = origin.partition("://")
        if scheme not in {"http", "https"} or not sep or not host or any(c in host for c in "/?#* "):
            raise ValueError(f"{origin!r} is not an origin (scheme://host[:port]); use * or off")
    return origins


MIN_ADMIN_TOKEN_LENGTH = 12


def _ascii_secret(raw: str) -> str | None:
    """A secret sent in an HTTP header: printable ASCII without spaces (a BOM or a typographic quote copied
    with it would otherwise make it never match, or fail only at the first request)."""
    if not raw:
        return None
    if not all("!" <= c <= "~" for c in raw):
        raise ValueError("must be printable ASCII without spaces (check the file for a BOM or smart quotes)")
    return raw


def _admin_token(raw: str) -> str | None:
    token = _ascii_secret(raw)
    if token is not None and len(token) < MIN_ADMIN_TOKEN_LENGTH:
        raise ValueError(f"must be at least {MIN_ADMIN_TOKEN_LENGTH} characters (e.g. `openssl rand -hex 24`)")
    return token


def _log_level(raw: str) -> str:
    level = raw.upper()
    if level not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
        raise ValueError("must be one of DEBUG, INFO, WARNING, ERROR")
    return level


def setting(default: Any = None, *, parse: Callable[[str], Any], help: str, secret: bool = False,
            factory: Callable[[], Any] | None = None) -> Any:
    """Declare one setting: its default, how its environment text is parsed, and its help line.

    `secret` settings are never printed and may also come from a file named by `<ENV>_FILE`.
    """
    meta = {"parse": parse, "help": help, "secret": secret}
    if factory is not None:
        return field(default_factory=factory, metadata=meta, repr=not secret)
    return field(default=default, metadata=meta, repr=not secret)


def _default_data_dir() -> Path:
    return Path(platformdirs.user_data_dir("gapcast", appauthor=False))


@dataclass(frozen=True, repr=False)
class Settings:
    """Every setting, declared once (env var `GAPCAST_<NAME>`); build with `Settings.from_env()`."""

    redis_url: str | None = setting(
        parse=_redis_url,
        help="Redis URL (redis://, rediss://, unix://, redis+sentinel://, rediss+sentinel://). "
             "Unset: gapcast runs a private Redis in the data dir.")
    data_dir: Path = setting(
        factory=_default_data_dir, parse=lambda raw: Path(raw).expanduser(),
        help="Folder for the embedded Redis (AOF files, socket, log). Default: the per-user data folder.")
    domains_file: Path | None = setting(
        parse=_optional_path,
        help="A TOML file of domains that replaces the shipped one (same format as forecasts/data/domains.toml).")
    redis_socket_timeout_s: float = setting(
        5.0, parse=_positive_float, help="Seconds before a Redis command or connection attempt gives up.")
    redis_retry_s: float = setting(
        2.0, parse=_positive_float,
        help="Seconds a Redis command keeps reconnecting (a server restart, a failover) before it fails; "
             "API requests use at most 0.3 s.")
    redis_sentinel_password: str | None = setting(
        parse=_optional_str, secret=True, help="Password of the Redis Sentinels themselves (Sentinel URLs only).")
    redis_min_replicas: int | None = setting(
        parse=_optional_non_negative_int,
        help="Replicas that must acknowledge each data commit (WAIT). Unset: 1 with a Sentinel URL, else 0.")
    redis_replica_timeout_ms: int = setting(
        500, parse=_positive_int,
        help="Milliseconds a commit waits for its replicas before failing (kept below the socket timeout).")
    redis_appendfsync: str = setting(
        "always", parse=_appendfsync,
        help="AOF fsync policy of the embedded Redis: always (no acknowledged write lost) or everysec.")
    generation_retain_s: int = setting(
        3600, parse=_positive_int, help="Seconds a superseded data generation stays readable.")
    raw_history: int = setting(
        10, parse=_positive_int, help="Raw source payloads kept per source (the newest N).")
    write_wait_s: float = setting(
        20.0, parse=_positive_float,
        help="Seconds a write (POST /v1/releases, a pull, gapcast load) waits for the store's write lease.")
    stale_after_days: int = setting(
        30, parse=_positive_int,
        help="Days after its newest data point (a model's release date) that the data counts as stale: the "
             "dashboard shows a banner and API answers say stale: true.")
    log_level: str = setting("INFO", parse=_log_level, help="Log level: DEBUG, INFO, WARNING or ERROR.")
    admin_token: str | None = setting(
        parse=_admin_token, secret=True,
        help="Bearer token for the admin API (POST /v1/releases). Unset: the admin API is off.")
    source_timeout_s: float = setting(
        30.0, parse=_positive_float, help="Seconds a source request may take in all (connect, headers, body).")
    max_input_bytes: int = setting(
        DEFAULT_MAX_INPUT_BYTES, parse=_positive_int,
        help="Largest input read, in bytes: a canonical file (gapcast load, the canonical feed) or a source's "
             "answer; a larger one is refused with one line.")
    epoch_url: str | None = setting(
        "https://epoch.ai/data/benchmark_data.zip", parse=_optional_str,
        help="Epoch AI Benchmarking Hub zip. Empty: the Epoch source is off.")
    epoch_every_s: int = setting(21600, parse=_positive_int, help="Seconds between Epoch pulls.")
    aa_api_key: str | None = setting(
        parse=_ascii_secret, secret=True, help="Artificial Analysis API key (x-api-key). Unset: the AA source is off.")
    aa_url: str | None = setting(
        "https://artificialanalysis.ai/api/v2/data/llms/models", parse=_optional_str,
        help="Artificial Analysis LLM endpoint.")
    aa_every_s: int = setting(21600, parse=_positive_int, help="Seconds between AA pulls (1,000 requests a day).")
    lmarena_url: str | None = setting(
        "https://raw.githubusercontent.com/lmarena/arena-catalog/main/data/leaderboard-text.json",
        parse=_optional_str,
        help="LMArena leaderboard (arena-catalog JSON, arena.ai daily JSON or CSV). Empty: the source is off.")
    lmarena_licences_url: str | None = setting(
        "https://raw.githubusercontent.com/lmarena/arena-catalog/main/data/scatterplot-data.json",
        parse=_optional_str, help="LMArena model licences (scatterplot-data.json), for the access class.")
    lmarena_every_s: int = setting(21600, parse=_positive_int, help="Seconds between LMArena pulls.")
    canonical_url: str | None = setting(
        parse=_optional_str, help="A canonical CSV/JSON feed (URL or file path) pulled on a schedule. Unset: off.")
    canonical_every_s: int = setting(3600, parse=_positive_int, help="Seconds between canonical feed pulls.")
    job_lease_s: int = setting(
        60, parse=_positive_int, help="Seconds a scheduler job's Redis lease lasts without renewal.")
    retry_max_s: int = setting(3600, parse=_positive_int, help="Longest wait between retries of a failing source.")
    subscriptions_file: Path | None = setting(
        parse=_optional_path, help="A TOML file of alert subscriptions, loaded by the scheduler at start.")
    dashboard_url: str = setting(
        "http://127.0.0.1:8000/", parse=lambda raw: raw or "http://127.0.0.1:8000/",
        help="The dashboard's public URL, linked from alert messages.")
    allow_private_webhooks: bool = setting(
        False, parse=_bool, help="Allow alert targets on loopback, link-local or private addresses (and http).")
    alert_deadline_s: int = setting(
        86400, parse=_positive_int, help="Seconds an alert is retried before it is dead-lettered.")
    cors_origins: tuple[str, ...] = setting(
        ("*",), parse=_cors_origins,
        help="Origins whose pages may read the API's GET answers (CORS): * (any), a comma-separated list of "
             "origins (https://a.example,http://localhost:3000), or off. Never for POST/DELETE or admin paths.")

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> Settings:
        """Parse every GAPCAST_* variable of `environ`. Raises SettingsError naming the variable."""
        specs = fields(cls)
        known = {_env(f) for f in specs} | {_env(f) + "_FILE" for f in specs if f.metadata["secret"]}
        for key in sorted(environ):
            if key.startswith(PREFIX) and key not in known and not key.startswith(_IGNORED_PREFIXES):
                raise SettingsError(f"{key}: unknown setting (known: {', '.join(sorted(known))})")
        values: dict[str, Any] = {}
        for f in specs:
            secret = f.metadata["secret"]
            raw = _read_secret_file(_env(f), environ) if secret else None
            raw = environ.get(_env(f)) if raw is None else raw
            if raw is None:
                continue
            try:
                values[f.name] = f.metadata["parse"](raw.strip())
            except ValueError as exc:
                shown = "(secret)" if secret else repr(redact_url(raw) if f.name == "redis_url" else raw)
                raise SettingsError(f"{_env(f)}: invalid value {shown}: {exc}") from None
        return cls(**values)

    def __repr__(self) -> str:
        return f"Settings({self.redacted()})"

    def redacted(self) -> dict[str, Any]:
        """The settings as a dict safe to print: the Redis URL's password is hidden."""
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        for f in fields(self):
            if f.metadata["secret"] and out.get(f.name):
                out[f.name] = "***"
        if self.redis_url:
            out["redis_url"] = redact_url(self.redis_url)
        return {k: str(v) if isinstance(v, Path) else v for k, v in out.items()}


def _env(f: Field[Any]) -> str:
    return PREFIX + f.name.upper()


def env_names() -> list[str]:
    """Every environment variable gapcast reads (for docs and tests)."""
    return [_env(f) for f in fields(Settings)]


def _read_secret_file(env: str, environ: Mapping[str, str]) -> str | None:
    """The secret from the file named by `<ENV>_FILE`, if set. Raises SettingsError when unreadable, or when
    `<ENV>` is set too."""
    path = environ.get(env + "_FILE")
    if not path:
        return None
    if environ.get(env):  # two sources for one secret: which one is meant cannot be guessed
        raise SettingsError(f"{env} and {env}_FILE are both set: set one of them")
    try:
        # utf-8-sig: editors on Windows save a BOM, which strip() keeps and which then never matches
        return read_file(Path(path), SECRET_FILE_MAX_BYTES).decode("utf-8-sig").strip()
    except InputTooLarge:  # e.g. /dev/zero named by mistake: one line, not a MemoryError
        raise SettingsError(f"{env}_FILE: {path} is larger than {SECRET_FILE_MAX_BYTES} bytes, not a secret") from None
    except OSError as exc:
        raise SettingsError(f"{env}_FILE: cannot read {path} ({exc.strerror})") from None
    except UnicodeDecodeError:
        raise SettingsError(f"{env}_FILE: {path} is not UTF-8 text") from None


SECRET_FILE_MAX_BYTES = 64 * 1024


def redact_url(url: str) -> str:
    """`url` with any password replaced by `***` (for logs and error messages)."""
    scheme, sep, rest = url.partition("://")
    if not sep or "@" not in rest:
        return url
    creds, _, host = rest.rpartition("@")
    user = creds.split(":", 1)[0]
    return f"{scheme}://{user + ':' if user else ''}***@{host}"
