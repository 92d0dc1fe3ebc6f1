"""The HTTP client every source uses: gapcast's User-Agent, a timeout, conditional GETs, classified failures.

Two guards shared with the alert sender live in `GuardedAdapter`:

- a *deadline* for the whole exchange (connect, headers, body): `requests` timeouts are per socket read,
  so a server trickling one byte every few seconds would hold a pull for ever. A watchdog timer shuts the
  sockets of the exchange down when its deadline passes, which ends any blocked read at once;
- optional *pinning*: the adapter connects only to the addresses that a `pick(host, port)` function
  resolved and checked (the webhook SSRF check), never to a second DNS answer. TLS still verifies the
  certificate against the host name (SNI and hostname match use the name, only the TCP connect uses the
  checked address).
"""

from __future__ import annotations

import contextvars
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ConnectTimeoutError, NewConnectionError

from forecasts.records.reading import CHUNK_BYTES, DEFAULT_MAX_INPUT_BYTES, describe_size

DEFAULT_TIMEOUT_S = 30.0


def user_agent() -> str:
    try:
        v = version("gapcast")
    except PackageNotFoundError:  # running from a source tree without an install
        v = "dev"
    return f"gapcast/{v} (+https://github.com/gapcast/gapcast; open vs closed model gap tracker)"


class PullFailed(Exception):
    """A pull that failed. `reason` is a short code recorded in the source status (`timeout`, `connection`,
    `http_401`, `http_429`, `http_5xx`, `bad_format`, ...); `retry_after_s` is the server's hint, if any."""

    def __init__(self, reason: str, message: str, *, retry_after_s: float | None = None) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message
        self.retry_after_s = retry_after_s


@dataclass(frozen=True)
class Response:
    """A successful (2xx) or not-modified (304) response."""

    status: int
    body: bytes
    url: str
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def not_modified(self) -> bool:
        return self.status == 304

    def validators(self) -> dict[str, str]:
        """The ETag / Last-Modified to send next time (conditional GET)."""
        out = {}
        if "etag" in self.headers:
            out["etag"] = self.headers["etag"]
        if "last-modified" in self.headers:
            out["last_modified"] = self.headers["last-modified"]
        return out


class Http:
    """A `requests` session with gapcast's User-Agent, a timeout that bounds each whole request (connect,
    headers and body together) and a cap on the body's size (`max_bytes`, read in chunks: an endless
    answer costs at most that much memory). Raises PullFailed for every failure."""

    def __init__(self, timeout_s: float = DEFAULT_TIMEOUT_S, session: requests.Session | None = None, *,
                 max_bytes: int = DEFAULT_MAX_INPUT_BYTES) -> None:
        self.timeout_s = timeout_s
        self.max_bytes = max_bytes
        self.session = session or requests.Session()
        self.session.headers["User-Agent"] = user_agent()
        mount_guarded(self.session)

    def get(self, url: str, *, headers: dict[str, str] | None = None,
            validators: dict[str, str] | None = None) -> Response:
        """GET `url`; with `validators` (from a previous Response) a 304 comes back as `not_modified`."""
        send = dict(headers or {})
        if validators:
            if "etag" in validators:
                send["If-None-Match"] = validators["etag"]
            if "last_modified" in validators:
                send["If-Modified-Since"] = validators["last_modified"]
        with deadline(self.timeout_s) as limit:
            try:
                with self.session.get(url, headers=send, timeout=self.timeout_s, stream=True) as resp:
                    hdrs = {k.lower(): v for k, v in resp.headers.items()}
                    if not (resp.status_code == 304 or 200 <= resp.status_code < 300):
                        raise _http_failure(resp.status_code, hdrs)
                    body = self._body(resp)
            except requests.RequestException as exc:
                if limit.expired or isinstance(exc, requests.Timeout):
                    raise PullFailed("timeout", f"not complete within {self.timeout_s:g} s") from None
                raise PullFailed("connection", f"cannot connect: {type(exc).__name__}") from None
        return Response(resp.status_code, body, url, hdrs)

    def _body(self, resp: requests.Response) -> bytes:
        declared = resp.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > self.max_bytes:
            raise _too_large(self.max_bytes)
        parts: list[bytes] = []
        total = 0
        for part in resp.iter_content(CHUNK_BYTES):
            total += len(part)
            if total > self.max_bytes:  # a body without (or lying about) its length
                raise _too_large(self.max_bytes)
            parts.append(part)
        return b"".join(parts)


def _too_large(limit: int) -> PullFailed:
    return PullFailed("too_large", f"the answer is larger than {describe_size(limit)} (GAPCAST_MAX_INPUT_BYTES)")


def _http_failure(status: int, headers: dict[str, str]) -> PullFailed:
    retry_after = _retry_after(headers.get("retry-after"))
    if status >= 500:
        return PullFailed("http_5xx", f"server error {status}", retry_after_s=retry_after)
    return PullFailed(f"http_{status}", f"refused with HTTP {status}", retry_after_s=retry_after)


def _retry_after(value: str | None) -> float | None:
    """Retry-After in seconds (the HTTP-date form is rare for APIs and is ignored)."""
    try:
        return max(0.0, float(value)) if value else None
    except ValueError:
        return None


# --- guarded connections: a deadline for the whole exchange, optional address pinning ----------------

Pick = Callable[[str, int], list[str]]
_CURRENT: contextvars.ContextVar[Deadline | None] = contextvars.ContextVar("gapcast_http_deadline", default=None)


class Deadline:
    """A watchdog for one exchange: when `seconds` have passed, every connection it watches has its socket
    shut down (a blocked read returns at once) and `expired` is True."""

    def __init__(self, seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.seconds, self._clock = seconds, clock
        self._ends = clock() + seconds
        self.expired = False
        self._conns: list[HTTPConnection] = []
        self._lock = threading.Lock()
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True

    def remaining(self) -> float:
        return max(0.0, self._ends - self._clock())

    def watch(self, conn: HTTPConnection) -> None:
        with self._lock:
            if conn not in self._conns:
                self._conns.append(conn)
            expired = self.expired
        if expired:
            _cut(conn)

    def _expire(self) -> None:
        with self._lock:
            self.expired = True
            conns = list(self._conns)
        for conn in conns:
            _cut(conn)

    def start(self) -> None:
        self._timer.start()

    def cancel(self) -> None:
        self._timer.cancel()


@contextmanager
def deadline(seconds: float) -> Iterator[Deadline]:
    """Bound every request made through a guarded session in this block (same thread) to `seconds` in
    total. Check `expired` on an error: a cut-off exchange fails as a connection or read error."""
    limit = Deadline(seconds)
    token = _CURRENT.set(limit)
    limit.start()
    try:
        yield limit
    finally:
        limit.cancel()
        _CURRENT.reset(token)


def _cut(conn: HTTPConnection) -> None:
    sock = getattr(conn, "sock", None)
    if sock is not None:
        with suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)


class _GuardedMixin:
    """Connection behaviour shared by the HTTP and HTTPS classes (mixed into urllib3's)."""

    pick: Pick | None = None
    _dns_host: str
    port: int
    timeout: Any

    def connect(self) -> None:
        limit = _CURRENT.get()
        if limit is not None:
            limit.watch(self)  # type: ignore[arg-type]
            if isinstance(self.timeout, int | float):  # the connect attempt, too, ends by the deadline
                self.timeout = max(0.001, min(float(self.timeout), limit.remaining()))
        super().connect()  # type: ignore[misc]
        if limit is not None:
            limit.watch(self)  # type: ignore[arg-type]  # cut now if it expired during the connect

    def request(self, *args: Any, **kwargs: Any) -> None:
        limit = _CURRENT.get()
        if limit is not None:  # a kept-alive connection, connected before this exchange
            limit.watch(self)  # type: ignore[arg-type]
        super().request(*args, **kwargs)  # type: ignore[misc]

    def _new_conn(self) -> socket.socket:
        if self.pick is None:
            return super()._new_conn()  # type: ignore[misc]
        try:
            addresses = self.pick(self._dns_host.rstrip("."), self.port)
        except ValueError as exc:
            raise _Refused(str(exc)) from None
        original, last = self._dns_host, None
        for address in addresses:  # only checked addresses; `host` (SNI, Host, certificate) stays the name
            self._dns_host = address
            try:
                return super()._new_conn()  # type: ignore[misc]
            except (NewConnectionError, ConnectTimeoutError) as exc:
                last = exc
            finally:
                self._dns_host = original
        assert last is not None  # pick returns at least one address or raises
        raise last


class _Refused(Exception):
    """Raised inside urllib3 (not an OSError, so it is neither retried nor wrapped) when pick refuses."""


class TargetRefusedError(requests.exceptions.InvalidURL):
    """The guarded adapter's pick refused the host: nothing was connected."""


class GuardedAdapter(HTTPAdapter):
    """An HTTPAdapter whose connections honour `deadline()` blocks and, with `pick`, connect only to the
    addresses pick returns for (host, port) (pick raises ValueError to refuse: TargetRefusedError)."""

    def __init__(self, pick: Pick | None = None, **kwargs: Any) -> None:
        self._pools = _pool_classes(pick)
        self._pinned = pick is not None
        super().__init__(**kwargs)

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = self._pools

    def proxy_manager_for(self, proxy: str, **kwargs: Any) -> Any:
        if self._pinned:  # a proxy would connect to addresses nobody checked
            raise TargetRefusedError("a pinned session does not use proxies")
        manager = super().proxy_manager_for(proxy, **kwargs)
        manager.pool_classes_by_scheme = self._pools
        return manager

    def send(self, *args: Any, **kwargs: Any) -> requests.Response:
        try:
            return super().send(*args, **kwargs)
        except _Refused as exc:
            raise TargetRefusedError(str(exc)) from None


def _pool_classes(pick: Pick | None) -> dict[str, type[HTTPConnectionPool]]:
    attrs = {"pick": staticmethod(pick) if pick else None}
    http_conn = type("GuardedHTTPConnection", (_GuardedMixin, HTTPConnection), attrs)
    https_conn = type("GuardedHTTPSConnection", (_GuardedMixin, HTTPSConnection), attrs)
    return {"http": type("GuardedHTTPPool", (HTTPConnectionPool,), {"ConnectionCls": http_conn}),
            "https": type("GuardedHTTPSPool", (HTTPSConnectionPool,), {"ConnectionCls": https_conn})}


def mount_guarded(session: requests.Session, pick: Pick | None = None) -> None:
    """Route http:// and https:// of `session` through a GuardedAdapter (see the module doc)."""
    adapter = GuardedAdapter(pick)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
