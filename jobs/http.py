"""The HTTP client every source uses: gapcast's User-Agent, a timeout, conditional GETs, classified failures."""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version

import requests

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
    """A `requests` session with gapcast's User-Agent and timeout. Raises PullFailed for every failure."""

    def __init__(self, timeout_s: float = DEFAULT_TIMEOUT_S, session: requests.Session | None = None) -> None:
        self.timeout_s = timeout_s
        self.session = session or requests.Session()
        self.session.headers["User-Agent"] = user_agent()

    def get(self, url: str, *, headers: dict[str, str] | None = None,
            validators: dict[str, str] | None = None) -> Response:
        """GET `url`; with `validators` (from a previous Response) a 304 comes back as `not_modified`."""
        send = dict(headers or {})
        if validators:
            if "etag" in validators:
                send["If-None-Match"] = validators["etag"]
            if "last_modified" in validators:
                send["If-Modified-Since"] = validators["last_modified"]
        try:
            resp = self.session.get(url, headers=send, timeout=self.timeout_s)
        except requests.Timeout:
            raise PullFailed("timeout", f"no answer within {self.timeout_s:g} s") from None
        except requests.RequestException as exc:
            raise PullFailed("connection", f"cannot connect: {type(exc).__name__}") from None
        hdrs = {k.lower(): v for k, v in resp.headers.items()}
        if resp.status_code == 304 or 200 <= resp.status_code < 300:
            return Response(resp.status_code, resp.content, url, hdrs)
        raise _http_failure(resp.status_code, hdrs)


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
