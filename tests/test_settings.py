"""Settings: declared once, validated at start-up, secrets never shown, every one documented."""

from __future__ import annotations

from pathlib import Path

import pytest

from forecasts.settings import Settings, SettingsError, env_names, redact_url

README = Path(__file__).resolve().parent.parent / "README.md"


def test_defaults_need_no_environment() -> None:
    s = Settings.from_env({})
    assert s.redis_url is None and s.admin_token is None and s.aa_api_key is None
    assert s.data_dir.name == "gapcast"


@pytest.mark.parametrize(("env", "fragment"), [
    ({"GAPCAST_RAW_HISTORY": "0"}, "GAPCAST_RAW_HISTORY: invalid value '0'"),
    ({"GAPCAST_SOURCE_TIMEOUT_S": "soon"}, "GAPCAST_SOURCE_TIMEOUT_S: invalid value 'soon'"),
    ({"GAPCAST_LOG_LEVEL": "loud"}, "GAPCAST_LOG_LEVEL"),
    ({"GAPCAST_EPOCH_EVERY": "60"}, "GAPCAST_EPOCH_EVERY: unknown setting"),
    ({"GAPCAST_ADMIN_TOKEN_FILE": "/nonexistent/token"}, "GAPCAST_ADMIN_TOKEN_FILE: cannot read"),
    ({"GAPCAST_ADMIN_TOKEN_FILE": "/run/secrets/token", "GAPCAST_ADMIN_TOKEN": "another-token-1"},
     "GAPCAST_ADMIN_TOKEN and GAPCAST_ADMIN_TOKEN_FILE are both set: set one of them"),
])
def test_bad_settings_are_one_clear_line(env: dict[str, str], fragment: str) -> None:
    with pytest.raises(SettingsError) as info:
        Settings.from_env(env)
    assert fragment in str(info.value) and "\n" not in str(info.value)


def test_secrets_come_from_files_and_are_never_shown(tmp_path: Path) -> None:
    secret = tmp_path / "token"
    secret.write_text("s3cret-token\n")
    s = Settings.from_env({"GAPCAST_ADMIN_TOKEN_FILE": str(secret), "GAPCAST_AA_API_KEY": "k3y",
                           "GAPCAST_REDIS_URL": "redis://user:pw@host:6379/0"})
    assert s.admin_token == "s3cret-token" and s.aa_api_key == "k3y"
    shown = repr(s) + str(s.redacted())
    assert "s3cret" not in shown and "k3y" not in shown and ":pw@" not in shown
    assert redact_url("redis://:pw@h:1/0") == "redis://***@h:1/0"


def test_every_setting_is_documented_in_the_readme() -> None:
    text = README.read_text()
    missing = [name for name in env_names() if f"`{name}`" not in text]
    assert not missing, f"README lacks {missing}"
