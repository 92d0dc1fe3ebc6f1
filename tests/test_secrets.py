"""Secrets: tokens are validated at start-up (one clear line), and what holds secrets on disk is private.

Real parts: settings parsed from real files, the real `gapcast` command, the real embedded redis-server
writing its AOF into a temporary data folder.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from click.testing import CliRunner

from forecasts.settings import Settings, SettingsError
from forecasts.storage.redis_server import EmbeddedRedis
from gapcast.cli import cli

GOOD_TOKEN = "tok-3f9a2b7c1d5e"


# --- token hygiene (issue 12, item 14) -----------------------------------------------------------------


def test_a_token_file_saved_with_a_bom_matches_without_it(tmp_path: Path) -> None:
    path = tmp_path / "token"
    path.write_bytes(b"\xef\xbb\xbf" + GOOD_TOKEN.encode() + b"\r\n")
    s = Settings.from_env({"GAPCAST_ADMIN_TOKEN_FILE": str(path)})
    assert s.admin_token == GOOD_TOKEN


@pytest.mark.parametrize(("value", "needle"), [
    ("x", "at least 12 characters"),
    ("abc", "at least 12 characters"),
    ("tøken-with-ø-inside", "printable ASCII"),
    ("“tok-3f9a2b7c1d5e”", "printable ASCII"),  # smart quotes pasted with it
    ("tok 3f9a 2b7c 1d5e", "printable ASCII"),
    ("\ufeff" + GOOD_TOKEN, "printable ASCII"),  # a BOM in the variable itself
])
def test_a_weak_or_non_ascii_admin_token_is_refused_in_one_line(value: str, needle: str) -> None:
    with pytest.raises(SettingsError) as err:
        Settings.from_env({"GAPCAST_ADMIN_TOKEN": value})
    message = str(err.value)
    assert message.startswith("GAPCAST_ADMIN_TOKEN: invalid value (secret)") and needle in message
    assert "\n" not in message
    assert len(value) < 5 or value.strip() not in message  # never echoed ('x' is in any sentence)


def test_a_non_ascii_api_key_is_refused_and_a_short_one_is_fine() -> None:
    with pytest.raises(SettingsError, match="GAPCAST_AA_API_KEY: invalid value \\(secret\\)"):
        Settings.from_env({"GAPCAST_AA_API_KEY": "kéy"})
    assert Settings.from_env({"GAPCAST_AA_API_KEY": "k3y"}).aa_api_key == "k3y"


def test_a_token_file_that_is_not_text_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "token"
    path.write_bytes(b"\xff\xfe\x00t\x00o\x00k")
    with pytest.raises(SettingsError, match=r"GAPCAST_ADMIN_TOKEN_FILE: .* is not UTF-8 text"):
        Settings.from_env({"GAPCAST_ADMIN_TOKEN_FILE": str(path)})


def test_the_command_does_not_start_with_a_one_character_token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GAPCAST_ADMIN_TOKEN", "x")
    result = CliRunner().invoke(cli, ["api", "--port", "1"])
    assert result.exit_code == 1
    lines = [ln for ln in result.output.splitlines() if ln.strip()]
    assert lines == ["Error: GAPCAST_ADMIN_TOKEN: invalid value (secret): must be at least 12 characters "
                     "(e.g. `openssl rand -hex 24`)"]


# --- secrets on disk (issue 12, item 17) ---------------------------------------------------------------


@pytest.fixture()
def loose_umask() -> Iterator[None]:
    """The usual 022 umask, so the test shows the folder and files are private whatever the caller's umask."""
    old = os.umask(0o022)
    yield
    os.umask(old)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_the_data_folder_and_aof_are_private(tmp_path: Path, loose_umask: None) -> None:
    data = tmp_path / "data"
    with EmbeddedRedis(data) as server:
        client = redis.Redis.from_url(server.url)
        client.set("gapcast:subscription:x", '{"url": "https://hooks.example.com/T000/secret"}')
        client.close()
    assert mode(data) == 0o700
    aof_dir = data / "appendonlydir"
    assert aof_dir.is_dir() and mode(aof_dir) == 0o700
    files = list(aof_dir.iterdir())
    assert files and all(mode(f) & 0o077 == 0 for f in files), {f.name: oct(mode(f)) for f in files}


def test_an_existing_world_readable_data_folder_is_made_private(tmp_path: Path, loose_umask: None) -> None:
    data = tmp_path / "old-data"
    data.mkdir(mode=0o755)
    assert mode(data) == 0o755
    with EmbeddedRedis(data):
        assert mode(data) == 0o700


def test_a_secret_file_that_is_a_device_is_one_line_not_a_memory_error() -> None:
    with pytest.raises(SettingsError, match="GAPCAST_ADMIN_TOKEN_FILE: /dev/zero is larger than 65536 bytes"):
        Settings.from_env({"GAPCAST_ADMIN_TOKEN_FILE": "/dev/zero"})
