"""Fuzz the HTTP API from its own OpenAPI document (schemathesis), in process over WSGI.

Every operation of `/openapi.json` gets generated requests (schema-valid and schema-violating: wrong types,
missing or unknown parameters, odd strings), each sent without and with the admin token. Checked: never a 5xx
(`not_a_server_error`), and every 4xx is the one JSON error shape. Reads run against loaded small data with
computed forecasts; writes (POST/DELETE) against a database of their own, so a request that happens to be valid
cannot make the read side's forecasts pending (a legitimate 503). Bounded: 25 examples per operation.
No network: webhook targets are only resolved when they are IP literals (other names do not resolve here).
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
import schemathesis
from flask import Flask
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error

from forecasts.measure.domains import parse_domains
from forecasts.publishing import outlook
from forecasts.settings import Settings
from forecasts.storage.ingest import load_snapshot
from forecasts.storage.store import Store
from service import create_app
from tests.conftest import FIXED_NOW, SMALL_DOMAINS, small_snapshot_bytes

ADMIN = "fuzz-admin-token-0123456789abcdef"
AUTH = {"Authorization": f"Bearer {ADMIN}"}
READ_DB, WRITE_DB = 13, 14
EXAMPLES = 25
KNOWN_IDS = {"domain_id": "coding", "benchmark_id": "code-a"}
FUZZ = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), database=None)


def literal_only(host: Any, port: Any, family: int = 0, type: int = 0, proto: int = 0, flags: int = 0) -> Any:
    """socket.getaddrinfo for IP literals only (resolved locally); any other name does not resolve."""
    try:
        return socket.getaddrinfo(host, port, family, type, proto, flags | socket.AI_NUMERICHOST)
    except (socket.gaierror, UnicodeError, ValueError, TypeError):
        raise socket.gaierror(socket.EAI_NONAME, "not resolved in tests") from None


class NoDnsSocket:
    """The `socket` module as forecasts.activity.subscriptions sees it, without DNS."""

    getaddrinfo = staticmethod(literal_only)
    gaierror = socket.gaierror
    IPPROTO_TCP = socket.IPPROTO_TCP


def loaded_app(client: redis.Redis, domains_file: Path, *, forecasts: bool) -> Flask:
    client.flushdb()
    store = Store(client, now=lambda: FIXED_NOW)
    gen = load_snapshot(store, parse_domains(SMALL_DOMAINS, "test"), small_snapshot_bytes(), "test").generation
    if forecasts:
        outlook.compute(store, gen, outlook.pending(store, gen), domains=parse_domains(SMALL_DOMAINS, "test"))
    settings_ = Settings(redis_url="unused://", admin_token=ADMIN, domains_file=domains_file)
    return create_app(settings_, client=client, config={"TESTING": True})


@pytest.fixture(scope="module")
def fuzz_apps(redis_server: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Flask, Flask]]:
    domains_file = tmp_path_factory.mktemp("fuzz") / "domains.toml"
    domains_file.write_text(SMALL_DOMAINS, encoding="utf-8")
    clients = [redis.Redis.from_url(f"{redis_server.url}?db={db}") for db in (READ_DB, WRITE_DB)]
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr("forecasts.activity.subscriptions.socket", NoDnsSocket)
        yield (loaded_app(clients[0], domains_file, forecasts=True),
               loaded_app(clients[1], domains_file, forecasts=False))
    for c in clients:
        c.flushdb()
        c.close()


@pytest.fixture(scope="module")
def schemas(fuzz_apps: tuple[Flask, Flask]) -> tuple[Any, Any]:
    """The OpenAPI document as each app serves it, loaded by schemathesis (reads, writes)."""
    return (schemathesis.openapi.from_wsgi("/openapi.json", fuzz_apps[0]),
            schemathesis.openapi.from_wsgi("/openapi.json", fuzz_apps[1]))


def documented_operations() -> list[tuple[str, GenerationMode]]:
    """(`METHOD /path`, mode) for every operation in /openapi.json (read from an app that never connects: no Redis
    needed at collection): every operation gets valid requests; those with query parameters or a body also get
    schema-violating ones (a path-only operation has nothing a request could violate)."""
    app = create_app(Settings(redis_url="unused://"), client=redis.Redis(host="127.0.0.1", port=1))
    paths = app.extensions["gapcast.api"].spec.to_dict()["paths"]
    out = []
    for path, ops in paths.items():
        for method, op in ops.items():
            if method == "parameters":
                continue
            label = f"{method.upper()} {path}"
            out.append((label, GenerationMode.POSITIVE))
            if "requestBody" in op or any(p.get("in") == "query" for p in op.get("parameters", [])):
                out.append((label, GenerationMode.NEGATIVE))
    return out


OPERATIONS = documented_operations()


def check(case: schemathesis.Case) -> None:
    """Send `case` without and with the admin token: no 5xx, and any 4xx in the one error shape."""
    for headers in ({}, AUTH):
        response = case.call(headers=headers)
        case.validate_response(response, checks=[not_a_server_error], headers=headers)
        if 400 <= response.status_code < 500:
            content_type = (response.headers.get("content-type") or [""])[0]
            assert content_type.startswith("application/json"), (response.status_code, content_type)
            body = json.loads(response.content)
            assert set(body) == {"ok", "error", "errors", "status"}, body
            assert body["ok"] is False and body["status"] == response.status_code, body
            assert isinstance(body["error"], str) and isinstance(body["errors"], list), body
            assert ADMIN not in response.content.decode("utf-8", "replace")


@pytest.mark.parametrize(("label", "mode"), OPERATIONS, ids=[
    f"{'valid' if m is GenerationMode.POSITIVE else 'invalid'} {label}" for label, m in OPERATIONS])
def test_fuzz_operation(schemas: tuple[Any, Any], label: str, mode: GenerationMode) -> None:
    """Schema-valid requests (`valid`) and schema-violating ones (`invalid`) for one documented operation."""
    schema = schemas[0] if label.startswith("GET ") else schemas[1]
    operation = schema.find_operation_by_label(label)
    assert operation is not None, label

    strategy = operation.as_strategy(generation_mode=mode)
    known = {k: v for k, v in KNOWN_IDS.items() if "{" + k + "}" in label}
    if known:  # half the time a real id, so the handlers behind the 404 get the generated parameters too
        strategy = st.one_of(strategy, operation.as_strategy(generation_mode=mode, path_parameters=known))

    @FUZZ
    @given(case=strategy)
    def run(case: schemathesis.Case) -> None:
        check(case)

    run()


def test_the_documented_error_schema_is_the_one_served(fuzz_apps: tuple[Flask, Flask]) -> None:
    """Clients generated from /openapi.json must be able to read errors: the document's error schema must
    describe `{"ok": false, "error", "errors": [...], "status": <int>}`, and every security scheme an operation
    names must be declared."""
    spec = fuzz_apps[0].test_client().get("/openapi.json").get_json()
    error = spec["components"]["schemas"]["Error"]
    assert set(error.get("properties", {})) == {"ok", "error", "errors", "status"}, error
    assert error["properties"]["status"]["type"] == "integer" and error["properties"]["errors"]["type"] == "array"
    declared = set(spec["components"].get("securitySchemes") or {})
    named = {name for ops in spec["paths"].values() for op in ops.values() if isinstance(op, dict)
             for req in op.get("security", []) for name in req}
    assert named <= declared, f"security schemes named but not declared: {sorted(named - declared)}"
