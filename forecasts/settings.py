"""Every gapcast setting, declared once: name, type, default and help.

Settings are read from `GAPCAST_*` environment variables. `Settings.from_env` validates all of them at
start-up and raises `SettingsError` with one line naming the variable, so entry points can print it
and exit instead of showing a traceback. Secrets have no default: a feature whose secret is missing
is off.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import platformdirs

PREFIX = "GAPCAST_"
# Variables under these prefixes belong to the test suite, not to the service.
_IGNORED_PREFIXES = ("GAPCAST_TEST_",)


class SettingsError(ValueError):
    """A setting with a bad value, or an unknown GAPCAST_* variable (message is one line)."""


@dataclass(frozen=True)
class Spec:
    """How one setting is parsed and documented."""

    name: str
    parse: Callable[[str], Any]
    default: Callable[[], Any]
    help: str

    @property
    def env(self) -> str:
        return PREFIX + self.name.upper()


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


def _optional_path(raw: str) -> Path | None:
    return Path(raw).expanduser() if raw else None


def _log_level(raw: str) -> str:
    level = raw.upper()
    if level not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
        raise ValueError("must be one of DEBUG, INFO, WARNING, ERROR")
    return level


SPECS: tuple[Spec, ...] = (
    Spec("redis_url", _optional_str, lambda: None,
         "Redis URL (redis://, rediss://, unix://). Unset: gapcast runs a private Redis in the data dir."),
    Spec("data_dir", lambda raw: Path(raw).expanduser(),
         lambda: Path(platformdirs.user_data_dir("gapcast", appauthor=False)),
         "Folder for the embedded Redis (AOF files, socket, log). Default: the per-user data folder."),
    Spec("domains_file", _optional_path, lambda: None,
         "A TOML file of domains that replaces the shipped one (same format as forecasts/data/domains.toml)."),
    Spec("redis_socket_timeout_s", _positive_float, lambda: 5.0,
         "Seconds before a Redis command or connection attempt gives up."),
    Spec("generation_retain_s", _positive_int, lambda: 3600,
         "Seconds a superseded data generation stays readable for requests that started on it."),
    Spec("raw_history", _positive_int, lambda: 10,
         "Raw source payloads kept per source (the newest N), so derived data can be rebuilt."),
    Spec("log_level", _log_level, lambda: "INFO", "Log level: DEBUG, INFO, WARNING or ERROR."),
)


@dataclass(frozen=True)
class Settings:
    """Validated settings; build with `Settings.from_env()` (or directly in tests)."""

    redis_url: str | None = None
    data_dir: Path = Path(".")
    domains_file: Path | None = None
    redis_socket_timeout_s: float = 5.0
    generation_retain_s: int = 3600
    raw_history: int = 10
    log_level: str = "INFO"

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> Settings:
        """Parse every GAPCAST_* variable of `environ`. Raises SettingsError naming the variable."""
        known = {spec.env for spec in SPECS}
        for key in sorted(environ):
            if key.startswith(PREFIX) and key not in known and not key.startswith(_IGNORED_PREFIXES):
                raise SettingsError(f"{key}: unknown setting (known: {', '.join(sorted(known))})")
        values: dict[str, Any] = {}
        for spec in SPECS:
            raw = environ.get(spec.env)
            if raw is None:
                values[spec.name] = spec.default()
                continue
            try:
                values[spec.name] = spec.parse(raw.strip())
            except ValueError as exc:
                raise SettingsError(f"{spec.env}: invalid value {raw!r}: {exc}") from None
        return cls(**values)

    def redacted(self) -> dict[str, Any]:
        """The settings as a dict safe to print: the Redis URL's password is hidden."""
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        if self.redis_url:
            out["redis_url"] = redact_url(self.redis_url)
        return {k: str(v) if isinstance(v, Path) else v for k, v in out.items()}


def redact_url(url: str) -> str:
    """`url` with any password replaced by `***` (for logs and error messages)."""
    scheme, sep, rest = url.partition("://")
    if not sep or "@" not in rest:
        return url
    creds, _, host = rest.rpartition("@")
    user = creds.split(":", 1)[0]
    return f"{scheme}://{user + ':' if user else ''}***@{host}"
