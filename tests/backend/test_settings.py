"""Unit tests of settings parsing."""

from __future__ import annotations

from pathlib import Path

import pytest

from backend.settings import SPECS, Settings, SettingsError


def test_defaults_are_documented_and_used() -> None:
    """Assert an empty environment gives every documented default."""
    settings = Settings.from_env({})
    for spec in SPECS:
        expected = Path(spec.default).resolve() if spec.field == "data_dir" else spec.default
        if spec.field == "instance_dir":  # empty: the data directory's
            expected = settings.data_dir
        assert getattr(settings, spec.field) == expected, spec.env
        assert spec.doc.endswith("."), f"{spec.env} needs a one-line doc"
    assert settings.port == 8080 and settings.host == "127.0.0.1"


def test_environment_overrides_and_round_trips() -> None:
    """Assert values parse with their types and to_env reproduces them."""
    settings = Settings.from_env({"BACKEND_PORT": "9001", "BACKEND_WS_IDLE_TIMEOUT": "2.5"})
    assert settings.port == 9001 and settings.ws_idle_timeout == 2.5
    assert Settings.from_env(settings.to_env()) == settings


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"BACKEND_PORT": "http"}, "BACKEND_PORT='http': expected an integer (port)"),
        ({"BACKEND_PORT": "70000"}, "BACKEND_PORT=70000: must be at most 65535"),
        ({"BACKEND_WS_MAX_CONNECTIONS": "0"}, "BACKEND_WS_MAX_CONNECTIONS='0': must be at least 1"),
        ({"BACKEND_DB_BUSY_TIMEOUT": "nan"}, "BACKEND_DB_BUSY_TIMEOUT='nan': expected a number"),
        ({"BACKEND_MAX_BODY_BYTES": "1.5"}, "BACKEND_MAX_BODY_BYTES='1.5': expected an integer"),
    ],
)
def test_bad_values_are_rejected_with_the_variable_named(env: dict[str, str], message: str) -> None:
    """Assert a bad variable fails at load with its name, value and what was expected."""
    with pytest.raises(SettingsError) as info:
        Settings.from_env(env)
    assert str(info.value).startswith(message)


def test_backend_settings_prints_what_this_environment_would_run_with(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Assert `backend settings` shows the environment's value with the default beside it when they
    differ (what the on-call confirms before a restart), hides the drill token, and refuses a bad
    value with exit 2 and one line naming it."""
    from backend.cli import main

    monkeypatch.setenv("BACKEND_WS_MAX_CONNECTIONS", "2000")
    monkeypatch.setenv("BACKEND_FAULTS_TOKEN", "s3cret")
    assert main(["settings"]) == 0
    out = capsys.readouterr().out
    assert "BACKEND_WS_MAX_CONNECTIONS=2000  # connections: " in out and out.count("(default 1000)") == 1
    assert "BACKEND_FAULTS_TOKEN=(set)" in out and "s3cret" not in out
    assert "BACKEND_PORT=8080  # port: " in out and "(default 8080)" not in out
    monkeypatch.setenv("BACKEND_WS_MAX_CONNECTIONS", "many")
    assert main(["settings"]) == 2
    assert capsys.readouterr().err == "backend: BACKEND_WS_MAX_CONNECTIONS='many': expected an integer (connections)\n"
