"""gapcast against a Redis that wants a password (`requirepass`, and an ACL user) and against TLS (`rediss://`).

The CLI (`gapcast load`, `gapcast gaps --json`) and the API work over every URL form; a wrong or missing password,
an untrusted certificate or the wrong scheme for the port fails with the one-line "unavailable" error naming the
redacted URL, and no password shows up in any output, API answer or log record.

One redis-server (`tests.test_faults.RedisProcess`) serves both plain TCP and TLS (`tls-port`) on 127.0.0.1, with
a throwaway CA and server certificate made by the `openssl` command. redis-py takes the CA from the URL's query
string: `rediss://:<password>@<host>:<port>/0?ssl_ca_certs=/path/to/ca.crt`; a password with reserved characters
is percent-encoded (the default user's password here has `/`, `@` and `:` in it).
"""

from __future__ import annotations

import json
import logging
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import redis
from click.testing import CliRunner, Result

from forecasts.measure.domains import load_domains
from forecasts.settings import Settings
from forecasts.storage.redis_server import _quote_config
from gapcast.cli import cli
from service import create_app
from tests.test_faults import HOST, RedisProcess, RedisStartError, free_port

PASSWORD = "pw/Default@8c1f:2e"  # the default user's (requirepass): reserved URL characters, percent-encoded
USER, USER_PASSWORD = "gapcast", "pw-User-47d9a0"
WRONG = "pw-Wrong-5b3e77"
SECRETS = [PASSWORD, quote(PASSWORD, safe=""), USER_PASSWORD, WRONG]
# least privilege: gapcast's keys only, no @dangerous commands (FLUSHALL, KEYS, CONFIG, DEBUG, ...)
ACL_USER = f"user {USER} on >{USER_PASSWORD} ~gapcast:* &* +@all -@dangerous"
SOCKET_TIMEOUT_S = 1.0


@dataclass(frozen=True)
class Certs:
    ca: Path  # signed the server's certificate
    other_ca: Path  # did not
    cert: Path
    key: Path


def make_certs(folder: Path) -> Certs:
    """A CA, a server certificate for 127.0.0.1/localhost signed by it, and an unrelated CA (EC P-256, 2 days)."""
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("no `openssl` command to make the test certificates")
    folder.mkdir(parents=True, exist_ok=True)
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    ca_ext = ["-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign"]

    def run(*args: str) -> None:
        subprocess.run([openssl, *args], cwd=folder, check=True, capture_output=True, timeout=30)

    for name in ("ca", "other-ca"):
        run("req", "-x509", *ec, "-keyout", f"{name}.key", "-out", f"{name}.crt", "-days", "2",
            "-subj", f"/CN=gapcast test {name}", *ca_ext)
    run("req", *ec, "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=127.0.0.1")
    (folder / "server.ext").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n"
                                       "keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n")
    run("x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
        "-out", "server.crt", "-days", "2", "-extfile", "server.ext")
    return Certs(folder / "ca.crt", folder / "other-ca.crt", folder / "server.crt", folder / "server.key")


@dataclass(frozen=True)
class Secured:
    port: int  # plain TCP
    tls_port: int
    certs: Certs

    def url(self, user: str = "", password: str | None = PASSWORD, *, tls: bool = False, ca: Path | None = None,
            port: int | None = None) -> str:
        creds = "" if password is None else f"{user}:{quote(password, safe='')}@"
        scheme, default_port = ("rediss", self.tls_port) if tls else ("redis", self.port)
        query = f"?ssl_ca_certs={quote(str(ca))}" if ca is not None else ""
        return f"{scheme}://{creds}{HOST}:{port or default_port}/0{query}"


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Secured]:
    certs = make_certs(tmp_path_factory.mktemp("certs"))
    tls_port = free_port()
    server = RedisProcess(tmp_path_factory.mktemp("secured") / "redis", conf=[
        f"tls-port {tls_port}", f"tls-cert-file {_quote_config(str(certs.cert))}",
        f"tls-key-file {_quote_config(str(certs.key))}", f"tls-ca-cert-file {_quote_config(str(certs.ca))}",
        "tls-auth-clients no", f"requirepass {_quote_config(PASSWORD)}", ACL_USER])
    try:
        server.start()
    except RedisStartError as exc:
        if "tls" in str(exc).lower():
            pytest.skip(f"this redis-server was built without TLS support: {exc}")
        raise
    try:
        yield Secured(server.port, tls_port, certs)
    finally:
        server.stop()


@pytest.fixture()
def clean(secured: Secured) -> Iterator[None]:
    """An empty database for each test (flushed as the default user: the ACL user may not FLUSHDB)."""
    admin = redis.Redis(host=HOST, port=secured.port, password=PASSWORD)
    admin.flushdb()
    yield
    admin.flushdb()
    admin.close()


def gapcast(url: str, tmp_path: Path, *args: str) -> Result:
    env = {"GAPCAST_REDIS_URL": url, "GAPCAST_DATA_DIR": str(tmp_path / "data"),
           "GAPCAST_REDIS_SOCKET_TIMEOUT_S": str(SOCKET_TIMEOUT_S)}
    return CliRunner().invoke(cli, list(args), env=env)


def assert_no_secret(where: str, text: str) -> None:
    leaked = [s for s in SECRETS if s in text]
    assert not leaked, f"{where} shows a password: {text!r}"


URL_FORMS: dict[str, dict[str, Any]] = {
    "password": {},
    "acl-user": {"user": USER, "password": USER_PASSWORD},
    "tls-password": {"tls": True, "ca": "ca"},
    "tls-acl-user": {"user": USER, "password": USER_PASSWORD, "tls": True, "ca": "ca"},
}


def form_url(secured: Secured, form: dict[str, Any]) -> str:
    kw = dict(form)
    if kw.get("ca") is not None:
        kw["ca"] = {"ca": secured.certs.ca, "other-ca": secured.certs.other_ca}[kw["ca"]]
    return secured.url(**kw)


@pytest.mark.parametrize("form", list(URL_FORMS))
def test_load_gaps_and_the_api_work_over_every_url_form(secured: Secured, clean: None, form: str, tmp_path: Path,
                                                        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    url = form_url(secured, URL_FORMS[form])
    loaded = gapcast(url, tmp_path, "load")
    assert loaded.exit_code == 0, loaded.output
    gaps = gapcast(url, tmp_path, "gaps", "--json")
    assert gaps.exit_code == 0, gaps.output
    rows = json.loads(gaps.stdout)
    assert {row["domain"] for row in rows} == set(load_domains()) and all(row["status"] for row in rows)

    api = create_app(Settings.from_env({"GAPCAST_REDIS_URL": url})).test_client()
    ready = api.get("/readyz")
    assert ready.status_code == 200 and ready.get_json()["status"] == "ready", ready.data
    listed = api.get("/v1/domains").get_json()["domains"]
    assert [d["domain"] for d in listed] == [row["domain"] for row in rows]
    assert api.get("/v1/benchmarks").status_code == 200
    for where, text in (("load", loaded.output), ("gaps", gaps.output), ("the log", caplog.text)):
        assert_no_secret(where, text)


BAD_CREDENTIALS: dict[str, dict[str, Any]] = {
    "wrong password": {"password": WRONG},
    "wrong ACL user password": {"user": USER, "password": WRONG},
    "unknown ACL user": {"user": "nobody", "password": USER_PASSWORD},
    "no password": {"password": None},
    "wrong password over TLS": {"password": WRONG, "tls": True, "ca": "ca"},
}
BAD_TLS: dict[str, dict[str, Any]] = {
    "untrusted certificate (system CAs)": {"tls": True},
    "certificate of another CA": {"tls": True, "ca": "other-ca"},
    "redis:// to the TLS port": {"port": "tls"},
    "rediss:// to the plain port": {"tls": True, "ca": "ca", "port": "plain"},
}


@pytest.mark.parametrize("case", [*BAD_CREDENTIALS, *BAD_TLS])
def test_bad_credentials_or_tls_give_the_one_line_unavailable_error_without_any_password(
        secured: Secured, case: str, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    form = dict({**BAD_CREDENTIALS, **BAD_TLS}[case])
    if "port" in form:
        form["port"] = secured.tls_port if form["port"] == "tls" else secured.port
    url = form_url(secured, form)
    started = time.monotonic()
    result = gapcast(url, tmp_path, "gaps", "--json")
    elapsed = time.monotonic() - started
    lines = result.output.strip().splitlines()
    assert result.exit_code == 1 and len(lines) == 1, result.output
    assert lines[0].startswith("Error: Redis at ") and "is unavailable" in lines[0], lines[0]
    assert "Traceback" not in result.output and elapsed < 2 * SOCKET_TIMEOUT_S + 2, elapsed

    settings = Settings.from_env({"GAPCAST_REDIS_URL": url, "GAPCAST_REDIS_SOCKET_TIMEOUT_S": str(SOCKET_TIMEOUT_S)})
    api = create_app(settings).test_client()
    answers = [api.get(path) for path in ("/v1/domains", "/readyz")]
    assert [a.status_code for a in answers] == [503, 503] and api.get("/healthz").status_code == 200
    assert all(a.get_json()["ok"] is False for a in answers)
    for where, text in (("the CLI", result.output), ("the API", b"".join(a.data for a in answers).decode()),
                        ("the log", caplog.text)):
        assert_no_secret(where, text)
