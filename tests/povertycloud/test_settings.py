"""One settings module read from the environment: typed helpers; production refuses to start unsafe."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from povertycloud.env import env_bool, env_int, env_list, env_str

NAME = "POVERTYCLOUD_TEST_SETTING"
STRONG_KEY = "k3J9-vQ2_xR8pL5mN1sT7wY4zA6bC0dE-fG2hI8jK4lM6nO9pQ3rS5tU7vW1xY_zZ"


# --- Typed helpers -----------------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["1", "true", "TRUE", "yes", "on", " On "])
def test_env_bool_reads_true_words(monkeypatch, value):
    monkeypatch.setenv(NAME, value)
    assert env_bool(NAME, False) is True


@pytest.mark.parametrize("value", ["0", "false", "False", "no", "off"])
def test_env_bool_reads_false_words(monkeypatch, value):
    monkeypatch.setenv(NAME, value)
    assert env_bool(NAME, True) is False


@pytest.mark.parametrize("default", [True, False])
def test_env_bool_unset_or_blank_gives_the_default(monkeypatch, default):
    monkeypatch.delenv(NAME, raising=False)
    assert env_bool(NAME, default) is default
    monkeypatch.setenv(NAME, "  ")
    assert env_bool(NAME, default) is default


@pytest.mark.parametrize("junk", ["maybe", "2", "y", "ture", "是"])
def test_env_bool_rejects_junk_with_a_clear_message(monkeypatch, junk):
    monkeypatch.setenv(NAME, junk)
    with pytest.raises(ImproperlyConfigured) as exc_info:
        env_bool(NAME)
    message = str(exc_info.value)
    assert NAME in message
    assert repr(junk) in message
    assert "true" in message and "false" in message


@pytest.mark.parametrize(("value", "expected"), [("42", 42), (" 7 ", 7), ("-3", -3), ("0", 0)])
def test_env_int_reads_whole_numbers(monkeypatch, value, expected):
    monkeypatch.setenv(NAME, value)
    assert env_int(NAME, 1) == expected


def test_env_int_unset_or_blank_gives_the_default(monkeypatch):
    monkeypatch.delenv(NAME, raising=False)
    assert env_int(NAME, 1800) == 1800
    monkeypatch.setenv(NAME, "")
    assert env_int(NAME, 1800) == 1800


@pytest.mark.parametrize("junk", ["abc", "4.5", "30m", "1e3"])
def test_env_int_rejects_junk_with_a_clear_message(monkeypatch, junk):
    monkeypatch.setenv(NAME, junk)
    with pytest.raises(ImproperlyConfigured) as exc_info:
        env_int(NAME, 1)
    assert NAME in str(exc_info.value)
    assert "whole number" in str(exc_info.value)
    assert repr(junk) in str(exc_info.value)


def test_env_list_splits_on_commas_and_drops_blanks(monkeypatch):
    monkeypatch.setenv(NAME, " fupin.example.cn, ,127.0.0.1,")
    assert env_list(NAME, []) == ["fupin.example.cn", "127.0.0.1"]
    monkeypatch.delenv(NAME)
    assert env_list(NAME, ["localhost"]) == ["localhost"]


def test_env_str_gives_the_value_or_the_default(monkeypatch):
    monkeypatch.delenv(NAME, raising=False)
    assert env_str(NAME) is None
    assert env_str(NAME, "x") == "x"
    monkeypatch.setenv(NAME, "")
    assert env_str(NAME, "x") == ""


# --- The settings module in this test run ------------------------------------------------------------


def test_test_settings_are_not_production():
    assert settings.ENVIRONMENT == "test"
    assert settings.PRODUCTION is False
    assert settings.LANGUAGE_CODE == "zh-hans"
    assert settings.TIME_ZONE == "Asia/Shanghai"


# --- Production, in a fresh interpreter --------------------------------------------------------------


def _run(args: list[str], tmp_path: Path, **environment: str) -> subprocess.CompletedProcess:
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DATABASE_URL", "SQLITE_PATH"))
    }
    env.update(
        DJANGO_SETTINGS_MODULE="povertycloud.settings",
        POVERTYCLOUD_VAR_DIR=str(tmp_path / "var"),
        PYTHONDONTWRITEBYTECODE="1",
        **environment,
    )
    return subprocess.run(
        [sys.executable, *args],
        cwd=settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )


def test_production_without_a_secret_key_refuses_to_start(tmp_path):
    result = _run(["-c", "import povertycloud.settings"], tmp_path, DJANGO_ENV="production")
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert "DJANGO_SECRET_KEY" in result.stderr


def test_production_with_a_blank_secret_key_refuses_to_start(tmp_path):
    result = _run(
        ["-c", "import povertycloud.settings"], tmp_path, DJANGO_ENV="production", DJANGO_SECRET_KEY=""
    )
    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY" in result.stderr


def test_an_unknown_environment_name_refuses_to_start(tmp_path):
    result = _run(["-c", "import povertycloud.settings"], tmp_path, DJANGO_ENV="staging")
    assert result.returncode != 0
    assert "DJANGO_ENV" in result.stderr


def test_junk_in_a_boolean_setting_refuses_to_start(tmp_path):
    result = _run(
        ["-c", "import povertycloud.settings"], tmp_path, DJANGO_ENV="development", DJANGO_DEBUG="maybe"
    )
    assert result.returncode != 0
    assert "DJANGO_DEBUG" in result.stderr


def test_production_settings_are_safe(tmp_path):
    code = (
        "import json; from povertycloud import settings as s; "
        "print(json.dumps([s.DEBUG, s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, s.SECURE_SSL_REDIRECT, "
        "s.SECURE_HSTS_SECONDS, s.ALLOWED_HOSTS]))"
    )
    result = _run(
        ["-c", code],
        tmp_path,
        DJANGO_ENV="production",
        DJANGO_SECRET_KEY=STRONG_KEY,
        DJANGO_ALLOWED_HOSTS="fupin.example.cn",
        DJANGO_SECURE_SSL_REDIRECT="",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == '[false, true, true, true, 31536000, ["fupin.example.cn"]]'


def test_check_deploy_is_clean_with_production_settings(tmp_path):
    result = _run(
        ["manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        tmp_path,
        DJANGO_ENV="production",
        DJANGO_SECRET_KEY=STRONG_KEY,
        DJANGO_ALLOWED_HOSTS="fupin.example.cn",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_check_deploy_notices_a_missing_allowed_hosts(tmp_path):
    """The check above is not vacuous: production without DJANGO_ALLOWED_HOSTS fails it."""
    result = _run(
        ["manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        tmp_path,
        DJANGO_ENV="production",
        DJANGO_SECRET_KEY=STRONG_KEY,
    )
    assert result.returncode != 0
    assert "security.W020" in result.stdout + result.stderr
