"""Configuration from NORA_* variables: defaults, normalisation, and refusing what is unsafe."""

from __future__ import annotations

import pytest

from core.settings import Settings, SettingsError


def test_defaults_are_the_embedded_single_instance() -> None:
    s = Settings.from_env({"NORA_ENV": "development"})
    assert s.database_url == "sqlite+aiosqlite:///var/nora.db" and s.redis_url is None
    assert (s.transcript_retention_hours, s.stats_min_count, s.max_frame_bytes) == (72, 5, 16384)
    assert s.session_cookie_name == "nora_session" and not s.secure_cookies


@pytest.mark.parametrize("secret", [None, "", "changeme", "secret", "short"])
def test_production_refuses_missing_or_placeholder_secret(secret: str | None) -> None:
    env = {} if secret is None else {"NORA_SECRET_KEY": secret}
    with pytest.raises(SettingsError, match="NORA_SECRET_KEY"):
        Settings.from_env(env)


def test_production_with_a_real_secret_uses_secure_host_cookies() -> None:
    s = Settings.from_env({"NORA_SECRET_KEY": "x" * 32})
    assert s.secure_cookies and s.session_cookie_name == "__Host-nora_session"


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("postgres://u:p@db:5432/nora", "postgresql+asyncpg://u:p@db:5432/nora"),
        ("postgresql://u@db/nora", "postgresql+asyncpg://u@db/nora"),
        ("postgresql+asyncpg://u@db/nora", "postgresql+asyncpg://u@db/nora"),
        ("sqlite:///./x.db", "sqlite+aiosqlite:///./x.db"),
    ],
)
def test_database_urls_from_hosting_platforms(given: str, expected: str) -> None:
    assert Settings.from_env({"NORA_ENV": "development", "NORA_DATABASE_URL": given}).database_url == expected


@pytest.mark.parametrize(
    "env",
    [
        {"NORA_TIER_DELAYS": "60,30,180"},
        {"NORA_TIER_DELAYS": "a,b,c"},
        {"NORA_STATS_MIN_COUNT": "0"},
        {"NORA_TRANSCRIPT_RETENTION_HOURS": "soon"},
        {"NORA_ENV": "staging"},
    ],
)
def test_malformed_values_name_the_variable(env: dict[str, str]) -> None:
    with pytest.raises(SettingsError) as caught:
        Settings.from_env({"NORA_ENV": "development", **env})
    assert next(iter(env)) in str(caught.value)


def test_allowed_origins_are_exact_and_trimmed() -> None:
    s = Settings.from_env({"NORA_ENV": "development", "NORA_ALLOWED_ORIGINS": "https://nora.no/, https://www.nora.no"})
    assert s.allowed_origins == ("https://nora.no", "https://www.nora.no")


def test_fast_password_hashing_is_for_the_test_suite_only() -> None:
    assert not Settings.from_env({"NORA_ENV": "development"}).fast_password_hashing
    assert Settings.from_env({"NORA_ENV": "development", "NORA_PASSWORD_HASHING": "fast"}).fast_password_hashing
    production = {"NORA_SECRET_KEY": "a-real-secret-of-enough-length", "NORA_PASSWORD_HASHING": "fast"}
    with pytest.raises(SettingsError, match="NORA_PASSWORD_HASHING=fast .* only with NORA_ENV=development"):
        Settings.from_env(production)
    with pytest.raises(SettingsError, match="NORA_PASSWORD_HASHING must be standard or fast"):
        Settings.from_env({"NORA_ENV": "development", "NORA_PASSWORD_HASHING": "md5"})
