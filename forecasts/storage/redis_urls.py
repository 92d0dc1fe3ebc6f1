"""The forms `GAPCAST_REDIS_URL` takes, checked at start-up (no connection is made here).

Plain forms go to redis-py as they are: `redis://`, `rediss://` (TLS), `unix://`. Sentinel forms name the
sentinels and the monitored service; gapcast asks the sentinels for the current primary and follows it
through a failover (redis-py's `redis.sentinel.Sentinel`):

    redis+sentinel://[[USER]:PASSWORD@]HOST[:PORT][,HOST[:PORT]...]/SERVICE[/DB]
    rediss+sentinel://...?ssl_ca_certs=/path/ca.crt      (TLS to the sentinels and to the data nodes)

The port defaults to 26379, the database to 0. `USER`/`PASSWORD` (percent-encoded) authenticate to the
primary and replicas; a password of the sentinels themselves is `GAPCAST_REDIS_SENTINEL_PASSWORD`.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qs, unquote, urlsplit

PLAIN_SCHEMES = ("redis", "rediss", "unix")
SENTINEL_SCHEMES = ("redis+sentinel", "rediss+sentinel")
SENTINEL_PORT = 26379
_SENTINEL_QUERY = ("ssl_ca_certs",)  # the only query parameter of a Sentinel URL (TLS forms only)


@dataclass(frozen=True)
class SentinelUrl:
    """A parsed Sentinel URL: where the sentinels are, which service they monitor, how to reach its nodes."""

    sentinels: tuple[tuple[str, int], ...]
    service: str
    db: int = 0
    username: str | None = None
    password: str | None = None
    tls: bool = False
    ssl_ca_certs: str | None = None


def scheme(url: str) -> str:
    """The URL's scheme, lower case ('' when there is none)."""
    head, sep, _ = url.partition("://")
    return head.lower() if sep else ""


def is_sentinel_url(url: str) -> bool:
    """True for the `redis+sentinel://` and `rediss+sentinel://` forms."""
    return scheme(url) in SENTINEL_SCHEMES


def check_url(url: str) -> str:
    """`url` unchanged when gapcast can use it. Raises ValueError saying what is wrong (never the password)."""
    if is_sentinel_url(url):
        parse_sentinel_url(url)
    elif scheme(url) not in PLAIN_SCHEMES:
        raise ValueError(f"the scheme must be one of {', '.join(s + '://' for s in PLAIN_SCHEMES + SENTINEL_SCHEMES)}")
    return url


def parse_sentinel_url(url: str) -> SentinelUrl:
    """Parse a Sentinel URL (see the module doc). Raises ValueError naming the bad part."""
    tls = scheme(url) == "rediss+sentinel"
    rest = url.partition("://")[2]
    authority, _, path_query = rest.partition("/")
    userinfo, at, hosts = authority.rpartition("@")
    if not at:
        userinfo, hosts = "", authority
    username, password = None, None
    if at:
        user, colon, pw = userinfo.partition(":")
        username = unquote(user) or None
        password = unquote(pw) if colon else None
    sentinels = tuple(_host_port(h) for h in hosts.split(","))
    path, _, query = path_query.partition("?")
    parts = [unquote(p) for p in path.split("/") if p]
    if not parts or len(parts) > 2:
        raise ValueError("a Sentinel URL names the service after the hosts: redis+sentinel://HOST:PORT/SERVICE[/DB]")
    db = 0
    if len(parts) == 2:
        if not parts[1].isdigit():
            raise ValueError(f"the database must be a whole number, not {parts[1]!r}")
        db = int(parts[1])
    params = parse_qs(query, keep_blank_values=True)
    unknown = sorted(set(params) - set(_SENTINEL_QUERY))
    if unknown:
        raise ValueError(f"unknown query parameter(s) {', '.join(unknown)} (a Sentinel URL takes only "
                         f"{', '.join(_SENTINEL_QUERY)})")
    if params and not tls:
        raise ValueError("ssl_ca_certs needs the TLS form, rediss+sentinel://")
    ca = params.get("ssl_ca_certs", [None])[-1] or None
    return SentinelUrl(sentinels, parts[0], db, username, password, tls, ca)


def _host_port(text: str) -> tuple[str, int]:
    """`host`, `host:port` or `[v6]:port` of one sentinel. Raises ValueError."""
    if not text:
        raise ValueError("a Sentinel URL needs at least one HOST[:PORT] (comma-separated, no spaces)")
    try:
        split = urlsplit(f"//{text}")
        host, port = split.hostname, split.port
    except ValueError as exc:
        raise ValueError(f"bad sentinel address {text!r}: {exc}") from None
    if not host:
        raise ValueError(f"bad sentinel address {text!r}")
    return host, port or SENTINEL_PORT
