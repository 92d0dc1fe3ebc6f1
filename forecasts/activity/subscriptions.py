"""Alert subscriptions: where events go (Slack, Discord, Teams, signed webhooks) and which ones.

Stored in Redis (`subscription:<id>`, permanent until deleted) by the admin API or from a config file.
A subscription's URL and signing secret are secrets: `public()` redacts them, and nothing here logs them.
Webhook targets are validated: https only, and no special-purpose address (loopback, link-local, private,
and every other block of the IANA special-purpose registries, IPv4 embedded in IPv6 included) unless
explicitly allowed (so a subscription cannot reach internal services).
"""

from __future__ import annotations

import ipaddress
import json
import os
import socket
import tomllib
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from forecasts.activity.events import EventKind
from forecasts.records.reading import read_file
from forecasts.settings import SECRET_FILE_MAX_BYTES
from forecasts.storage import keys
from forecasts.storage.store import Store

KINDS = ("slack", "discord", "teams", "webhook")
MAX_URL_LENGTH = 2048


class SubscriptionError(ValueError):
    """An invalid subscription; `errors` names each field ([{field, message}])."""

    def __init__(self, errors: list[dict[str, str]]) -> None:
        super().__init__("; ".join(f"{e['field']}: {e['message']}" for e in errors))
        self.errors = errors


@dataclass(frozen=True)
class Subscription:
    """One channel. Empty `domains` / `events` mean all; `min_change` is the smallest move of a domain gap
    (% of scale) worth a gap_narrowed / gap_widened message (other kinds have their own thresholds)."""

    id: str
    kind: str
    url: str = field(repr=False)
    secret: str | None = field(default=None, repr=False)
    domains: tuple[str, ...] = ()
    events: tuple[str, ...] = ()
    min_change: float = 0.0
    paused: bool = False
    paused_reason: str = ""
    created_at: str = ""
    origin: str = "api"

    def public(self) -> dict[str, Any]:
        """The subscription as shown to people: URL reduced to scheme and host, no secret."""
        d = asdict(self)
        d["url"] = redact_url(self.url)
        d["secret"] = "***" if self.secret else None
        d["domains"], d["events"] = list(self.domains), list(self.events)
        return d

    def matches(self, event: dict[str, Any]) -> bool:
        """Whether `event` (a stream entry as `events.recent` returns it) is for this channel."""
        if self.events and event["kind"] not in self.events:
            return False
        if self.domains and event.get("domain") and event["domain"] not in self.domains:
            return False
        if self.created_at and event.get("at", "") < self.created_at:
            return False  # a new channel is not flooded with history
        return _big_enough(event, self.min_change)


def _big_enough(event: dict[str, Any], min_change: float) -> bool:
    if min_change <= 0:
        return True
    before, after = event.get("before") or {}, event.get("after") or {}
    if event["kind"] in (EventKind.GAP_NARROWED, EventKind.GAP_WIDENED):
        return abs((after.get("score_gap") or 0) - (before.get("score_gap") or 0)) >= min_change
    return True


def redact_url(url: str) -> str:
    """`https://hooks.slack.com/***`: enough to recognise a channel, never enough to post to it."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return "***"
    return f"{parts.scheme}://{parts.hostname or '?'}{':' + str(port) if port else ''}/***"


def validate(raw: Any, *, allow_private: bool, known_domains: set[str] | None = None,
             sub_id: str | None = None, now: str = "", origin: str = "api") -> Subscription:
    """A Subscription from a JSON/TOML object. Raises SubscriptionError naming every bad field."""
    if not isinstance(raw, dict):
        raise SubscriptionError([{"field": "body", "message": "expected a JSON object"}])
    errors: list[dict[str, str]] = []
    unknown = set(raw) - {"kind", "url", "secret", "domains", "events", "min_change"}
    if unknown:
        errors.append({"field": ", ".join(sorted(unknown)), "message": "unknown field(s)"})
    kind = raw.get("kind")
    if kind not in KINDS:
        errors.append({"field": "kind", "message": f"must be one of {', '.join(KINDS)}"})
    url = raw.get("url")
    url_error = check_url(url, allow_private=allow_private) if isinstance(url, str) else "must be a URL string"
    if url_error:
        errors.append({"field": "url", "message": url_error})
    secret = raw.get("secret")
    if kind == "webhook" and (not isinstance(secret, str) or len(secret) < 16):
        errors.append({"field": "secret", "message": "a webhook needs a signing secret of at least 16 characters"})
    elif kind != "webhook" and secret is not None:
        errors.append({"field": "secret", "message": "only webhook subscriptions are signed"})
    domains = _str_list(raw.get("domains", []), "domains", errors)
    if known_domains is not None:
        for d in domains:
            if d not in known_domains:
                errors.append({"field": "domains", "message": f"unknown domain {d!r}"})
    kinds = _str_list(raw.get("events", []), "events", errors)
    for k in kinds:
        if k not in {e.value for e in EventKind}:
            errors.append({"field": "events", "message": f"unknown event kind {k!r}"})
    min_change = raw.get("min_change", 0.0)
    if isinstance(min_change, bool) or not isinstance(min_change, int | float) or not 0 <= min_change < 1e6:
        errors.append({"field": "min_change", "message": "must be a number >= 0"})
    if errors:
        raise SubscriptionError(errors)
    return Subscription(sub_id or uuid.uuid4().hex[:12], str(kind), str(url), secret, tuple(domains), tuple(kinds),
                        float(min_change), created_at=now, origin=origin)


def _str_list(v: Any, name: str, errors: list[dict[str, str]]) -> list[str]:
    if not isinstance(v, list) or not all(isinstance(x, str) for x in v) or len(v) > 100:
        errors.append({"field": name, "message": "must be a list of strings"})
        return []
    return list(v)


def check_url(url: str, *, allow_private: bool, resolver: Resolver | None = None) -> str | None:
    """None when `url` is a usable webhook target, else why not (never echoing the URL itself).

    `resolver` (host, port) -> addresses defaults to the system's DNS (`system_resolver`); the sender
    resolves again when it connects and connects to exactly the addresses it checked (no DNS rebinding)."""
    if len(url) > MAX_URL_LENGTH:
        return f"longer than {MAX_URL_LENGTH} characters"
    if any(ord(c) <= 32 or ord(c) == 127 for c in url):
        return "contains spaces or control characters"
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return "is not a valid URL"
    if parts.scheme != "https" and not (allow_private and parts.scheme == "http"):
        return "must be an https:// URL"
    if not parts.hostname:
        return "has no host"
    if parts.username or parts.password:
        return "must not carry credentials"
    if allow_private:
        return None
    try:
        checked_addresses(parts.hostname, port or 443, allow_private=False, resolver=resolver)
    except TargetRefused as exc:
        return str(exc)
    return None


# --- addresses ---------------------------------------------------------------------------------------

Resolver = Callable[[str, int], list[str]]


class TargetRefused(ValueError):
    """A webhook host that does not resolve, or resolves to an address a webhook may not reach."""


def system_resolver(host: str, port: int) -> list[str]:
    """The addresses the system's resolver gives for (host, port), in its order, without duplicates.
    Raises OSError (socket.gaierror) or UnicodeError."""
    infos = socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def checked_addresses(host: str, port: int, *, allow_private: bool, resolver: Resolver | None = None) -> list[str]:
    """Resolve `host` once and return the addresses to connect to, every one checked (unless
    `allow_private`). Raises TargetRefused when it does not resolve or when any address is special-purpose:
    one bad answer is enough, since the connect could pick it."""
    try:
        addresses = (resolver or system_resolver)(host, port)
    except (OSError, UnicodeError):
        raise TargetRefused("host does not resolve") from None
    if not addresses:
        raise TargetRefused("host does not resolve")
    if not allow_private:
        for address in addresses:
            reason = special_purpose(address)
            if reason:
                raise TargetRefused(f"resolves to a non-public address ({reason}; not allowed)")
    return addresses


def _nets(rows: list[tuple[str, str]]) -> list[tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, str]]:
    return [(ipaddress.ip_network(net), f"{name}, {net}") for net, name in rows]


# The IANA IPv4 and IPv6 Special-Purpose Address Registries (every entry, whatever its "globally
# reachable" flag: no real webhook lives at an anycast relay, a benchmark or a translation prefix), plus
# multicast, the deprecated blocks, and for IPv6 everything outside 2000::/3 (the only global unicast
# allocation). The first matching row names the reason, so narrower rows come first.
_IPV4_SPECIAL = _nets([
    ("0.0.0.0/8", "this network"), ("10.0.0.0/8", "private"), ("100.64.0.0/10", "shared address space"),
    ("127.0.0.0/8", "loopback"), ("169.254.0.0/16", "link-local"), ("172.16.0.0/12", "private"),
    ("192.0.0.0/24", "IETF protocol assignments"), ("192.0.2.0/24", "documentation"),
    ("192.31.196.0/24", "AS112"), ("192.52.193.0/24", "AMT"), ("192.88.99.0/24", "6to4 relay anycast"),
    ("192.168.0.0/16", "private"), ("192.175.48.0/24", "AS112 direct delegation"),
    ("198.18.0.0/15", "benchmarking"), ("198.51.100.0/24", "documentation"), ("203.0.113.0/24", "documentation"),
    ("224.0.0.0/4", "multicast"), ("255.255.255.255/32", "limited broadcast"), ("240.0.0.0/4", "reserved"),
])
_IPV6_SPECIAL = _nets([
    ("::1/128", "loopback"), ("::/128", "unspecified"), ("::ffff:0:0/96", "IPv4-mapped"),
    ("::ffff:0:0:0/96", "IPv4-translated"), ("::/96", "IPv4-compatible"),
    ("64:ff9b::/96", "NAT64"), ("64:ff9b:1::/48", "local-use NAT64"), ("100::/64", "discard-only"),
    ("100:0:0:1::/64", "dummy prefix"), ("2001::/32", "Teredo"), ("2001:2::/48", "benchmarking"),
    ("2001::/23", "IETF protocol assignments"), ("2001:db8::/32", "documentation"), ("2002::/16", "6to4"),
    ("2620:4f:8000::/48", "AS112 direct delegation"), ("3fff::/20", "documentation"),
    ("5f00::/16", "segment routing SIDs"), ("fc00::/7", "unique-local"), ("fe80::/10", "link-local"),
    ("fec0::/10", "site-local"), ("ff00::/8", "multicast"),
])
_IPV6_GLOBAL_UNICAST = ipaddress.IPv6Network("2000::/3")


def special_purpose(address: str) -> str | None:
    """Why `address` (an IP literal, IPv6 possibly with a %scope) is not a public unicast address, or
    None when it is. IPv6 forms that carry an IPv4 address (mapped, compatible, translated, NAT64, 6to4,
    Teredo) also name the IPv4 address they lead to. An unparseable address is refused."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return "not an IP address"
    if isinstance(ip, ipaddress.IPv4Address):
        return next((name for net, name in _IPV4_SPECIAL if ip in net), None)
    reason = next((name for net, name in _IPV6_SPECIAL if ip in net), None)
    if reason is None and ip not in _IPV6_GLOBAL_UNICAST:
        reason = "reserved IPv6, outside 2000::/3"
    inner = embedded_ipv4(ip)
    if reason and inner is not None:
        reason += f", carrying {inner}" + (f" ({v4})" if (v4 := special_purpose(str(inner))) else "")
    return reason


def embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address leads to, for the forms that embed one, else None."""
    value = int(ip)
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]  # the client's address
    high = value >> 32
    if high in (0, 0xFFFF0000) or ip in _NAT64:  # compatible (::a.b.c.d), translated, NAT64 /96
        return ipaddress.IPv4Address(value & 0xFFFFFFFF) if value > 1 else None
    return None


_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")


# --- storage ----------------------------------------------------------------------------------------


def save(store: Store, sub: Subscription) -> None:
    """Create or replace a subscription."""
    pipe = store.r.pipeline(transaction=True)
    pipe.set(keys.subscription(sub.id), json.dumps(asdict(sub)))
    pipe.sadd(keys.subscriptions(), sub.id)
    pipe.execute()


def get(store: Store, sub_id: str) -> Subscription | None:
    raw = store.r.get(keys.subscription(sub_id))
    return _from_json(raw) if raw else None


def list_all(store: Store) -> list[Subscription]:
    ids = sorted(i.decode() if isinstance(i, bytes) else i for i in store.r.smembers(keys.subscriptions()))
    raws = store.r.mget([keys.subscription(i) for i in ids]) if ids else []
    return [_from_json(r) for r in raws if r]


def delete(store: Store, sub_id: str) -> bool:
    pipe = store.r.pipeline(transaction=True)
    pipe.delete(keys.subscription(sub_id))
    pipe.srem(keys.subscriptions(), sub_id)
    return bool(pipe.execute()[0])


def set_paused(store: Store, sub_id: str, reason: str) -> None:
    sub = get(store, sub_id)
    if sub is not None:
        save(store, replace(sub, paused=True, paused_reason=reason))


def _from_json(raw: bytes | str) -> Subscription:
    d = json.loads(raw)
    d["domains"], d["events"] = tuple(d["domains"]), tuple(d["events"])
    return Subscription(**d)


# --- config file ------------------------------------------------------------------------------------


def load_file(path: Path, *, allow_private: bool, environ: dict[str, str] | None = None,
              now: str = "") -> list[Subscription]:
    """Subscriptions from a TOML file of `[[subscription]]` tables (`id` required). The URL and secret may
    come from `url_env`/`url_file` and `secret_env`/`secret_file` instead of the file itself.
    Raises SubscriptionError naming the entry and field."""
    env = os.environ if environ is None else environ
    try:
        doc = tomllib.loads(read_file(path).decode("utf-8"))  # bounded: a device or a huge file is refused
    except (OSError, ValueError) as exc:  # ValueError: TOMLDecodeError, UnicodeDecodeError, InputTooLarge
        raise SubscriptionError([{"field": str(path), "message": f"cannot read: {exc}"}]) from None
    out = []
    for i, entry in enumerate(doc.get("subscription", [])):
        where = f"{path}: subscription[{i}]"
        if not isinstance(entry, dict) or not isinstance(entry.get("id"), str):
            raise SubscriptionError([{"field": where, "message": "needs a string id"}])
        body = {k: v for k, v in entry.items() if k != "id" and not k.endswith(("_env", "_file"))}
        for name in ("url", "secret"):
            value = _indirect(entry, name, env, where)
            if value is not None:
                body[name] = value
        try:
            out.append(validate(body, allow_private=allow_private, sub_id=entry["id"], now=now, origin="config"))
        except SubscriptionError as exc:
            raise SubscriptionError([{**e, "field": f"{where}.{e['field']}"} for e in exc.errors]) from None
    return out


def _indirect(entry: dict[str, Any], name: str, env: Any, where: str) -> str | None:
    if f"{name}_env" in entry:
        value = env.get(entry[f"{name}_env"])
        if not value:
            raise SubscriptionError([{"field": f"{where}.{name}_env", "message": "environment variable is not set"}])
        return str(value)
    if f"{name}_file" in entry:
        try:  # like secret files: bounded, BOM dropped
            return read_file(Path(entry[f"{name}_file"]), SECRET_FILE_MAX_BYTES).decode("utf-8-sig").strip()
        except OSError as exc:
            raise SubscriptionError([{"field": f"{where}.{name}_file", "message": f"cannot read ({exc.strerror})"}]) \
                from None
        except ValueError as exc:  # InputTooLarge, UnicodeDecodeError
            raise SubscriptionError([{"field": f"{where}.{name}_file", "message": f"cannot read: {exc}"}]) from None
    return None
