"""Every setting of the service, read once from ``NORA_*`` environment variables.

The object is built in the composition root (``nora.app``) and handed down; nothing reads
``os.environ`` elsewhere, so a test can build the app with any settings it likes.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

PLACEHOLDER_SECRETS = frozenset({"", "changeme", "change-me", "secret", "dev", "development", "placeholder"})
DEV_SECRET = "nora-development-only-secret-not-for-production"


class SettingsError(ValueError):
    """A configuration value is missing or malformed; the message names the variable."""


def normalise_database_url(url: str) -> str:
    """Accept the plain ``postgres://`` URLs hosting platforms hand out and pick async drivers."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    if url.startswith("postgresql://"):
        url = "postgresql+asyncpg://" + url[len("postgresql://") :]
    elif url.startswith("postgresql+psycopg2://"):
        url = "postgresql+asyncpg://" + url[len("postgresql+psycopg2://") :]
    if url.startswith("sqlite://") and not url.startswith("sqlite+aiosqlite://"):
        url = "sqlite+aiosqlite://" + url[len("sqlite://") :]
    return url


def _int(env: Mapping[str, str], name: str, default: int, *, minimum: int = 0) -> int:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise SettingsError(f"{name} must be a whole number, got {raw!r}") from exc
    if value < minimum:
        raise SettingsError(f"{name} must be at least {minimum}, got {value}")
    return value


def _list(env: Mapping[str, str], name: str) -> tuple[str, ...]:
    raw = env.get(name, "")
    return tuple(part.strip() for part in raw.split(",") if part.strip())


@dataclass(frozen=True)
class Settings:
    env: str = "production"
    database_url: str = "sqlite+aiosqlite:///./var/nora.db"
    redis_url: str | None = None
    redis_prefix: str = "nora"
    allowed_origins: tuple[str, ...] = ()
    opening_hours: str | None = None
    closed_dates: tuple[str, ...] = ()
    transcript_retention_hours: int = 72
    # Registrations are kept this many whole calendar years, the audit log this many years (chat/retention.py).
    registration_retention_years: int = 10
    audit_retention_years: int = 5
    # Named in the visitor's privacy notice as responsible for the chat (chat/locale, privacy_responsible).
    privacy_controller: str = "IMDi (Integrerings- og mangfoldsdirektoratet)"
    stats_min_count: int = 5
    secret_key: str = DEV_SECRET
    # Limits of the wire contract (docs/protocol.md §1.7).
    max_frame_bytes: int = 16 * 1024
    max_text_chars: int = 4000
    rate_per_s: float = 5.0
    rate_burst: int = 10
    # Several instances: a sender's bucket is leased to the instance it uses (core.bucket_leases).
    rate_leases: bool = True
    typing_per_s: float = 2.0
    # Routing and lifecycle.
    tier_delays_s: tuple[int, ...] = (60, 120, 180)
    adviser_grace_s: int = 60
    visitor_grace_s: int = 600
    # An instance that stops heartbeating for this long is taken for dead: its advisers' grace period
    # starts and its visitors are marked away (chat/instances.py).
    instance_lease_s: int = 30
    # How long a browser session whose chat an adviser ended as abusive cannot start another (chat/abuse.py).
    abuse_block_s: int = 3600
    tick_s: float = 1.0
    # Staff sessions (OWASP session cheat sheet: idle 15-30 min, absolute 4-8 h).
    session_idle_s: int = 30 * 60
    session_absolute_s: int = 8 * 3600
    # Login throttling (docs/protocol.md, Staff authentication): failed attempts per account from
    # browsers without a device cookie, per device cookie, and the waiting list of password hashes.
    login_max_failures: int = 5
    login_window_s: int = 15 * 60
    login_device_max_failures: int = 10
    login_hash_queue: int = 8
    fast_password_hashing: bool = False  # NORA_PASSWORD_HASHING=fast: development only (the test suite)
    trust_proxy_headers: bool = False
    # Connection caps per instance (chat/admission.py).
    max_connections: int = 10_000
    max_sockets_per_address: int = 50
    starts_per_address: int = 30  # per minute, bursts of as many
    staff_sockets_per_session: int = 5
    visitor_hello_s: float = 30.0  # a visitor socket must start or resume within this
    # Rolling restart (chat/drain.py): after SIGTERM, /readyz answers 503 this long before the sockets
    # are told to reconnect (the load balancer's check interval times its failures), and the sockets
    # get this long to close before the instance exits anyway.
    drain_notice_s: float = 5.0
    # Connections to PostgreSQL per pool (the engine's and the message path's; 2 more for batches).
    db_pool_size: int = 20
    drain_close_s: float = 10.0
    # Bearer token for GET /metrics; unset = /metrics answers 404 (docs/protocol.md §9).
    metrics_token: str | None = None
    # Return codes (chat/threads.py): valid this many days after they are taken; attempts to use one
    # per client address (in memory) and in all (shared through Redis when configured), per hour.
    return_code_days: int = 30
    return_attempts_per_address: int = 10
    return_attempts_per_hour: int = 600

    @property
    def development(self) -> bool:
        return self.env == "development"

    @property
    def secure_cookies(self) -> bool:
        return not self.development

    @property
    def session_cookie_name(self) -> str:
        # The __Host- prefix needs Secure; plain HTTP development cannot set it.
        return "__Host-nora_session" if self.secure_cookies else "nora_session"

    @property
    def device_cookie_name(self) -> str:
        return "__Host-nora_device" if self.secure_cookies else "nora_device"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, *, require_secret: bool = True) -> Settings:
        env = os.environ if env is None else env
        mode = env.get("NORA_ENV", "production").strip() or "production"
        if mode not in {"production", "development"}:
            raise SettingsError(f"NORA_ENV must be production or development, got {mode!r}")
        secret = env.get("NORA_SECRET_KEY", "")
        if (
            require_secret
            and mode == "production"
            and (secret.strip().lower() in PLACEHOLDER_SECRETS or len(secret) < 16)
        ):
            raise SettingsError(
                "NORA_SECRET_KEY must be set to a random value of at least 16 characters in production "
                "(or set NORA_ENV=development for local use)"
            )
        delays = _list(env, "NORA_TIER_DELAYS")
        try:
            tier_delays = tuple(int(d) for d in delays) if delays else (60, 120, 180)
        except ValueError as exc:
            raise SettingsError("NORA_TIER_DELAYS must be three whole numbers, e.g. 60,120,180") from exc
        if len(tier_delays) != 3 or list(tier_delays) != sorted(tier_delays) or min(tier_delays) < 0:
            raise SettingsError("NORA_TIER_DELAYS must be three increasing whole numbers, e.g. 60,120,180")
        default_db = f"sqlite+aiosqlite:///{Path('var') / 'nora.db'}"
        metrics_token = env.get("NORA_METRICS_TOKEN", "").strip() or None
        if _int(env, "NORA_RETURN_CODE_DAYS", 30, minimum=1) > 365:
            # A thread must go before its conversations can (registrations are kept at least a whole year).
            raise SettingsError("NORA_RETURN_CODE_DAYS must be at most 365")
        hashing = env.get("NORA_PASSWORD_HASHING", "standard").strip().lower() or "standard"
        if hashing not in {"standard", "fast"}:
            raise SettingsError(f"NORA_PASSWORD_HASHING must be standard or fast, got {hashing!r}")
        if hashing == "fast" and mode != "development":
            raise SettingsError("NORA_PASSWORD_HASHING=fast is for the test suite: only with NORA_ENV=development")
        if metrics_token is not None and len(metrics_token) < 16:
            raise SettingsError(
                "NORA_METRICS_TOKEN must be at least 16 random characters (or unset to turn /metrics off)"
            )
        return cls(
            env=mode,
            database_url=normalise_database_url(env.get("NORA_DATABASE_URL", "").strip() or default_db),
            redis_url=env.get("NORA_REDIS_URL", "").strip() or None,
            redis_prefix=env.get("NORA_REDIS_PREFIX", "").strip() or "nora",
            allowed_origins=tuple(o.rstrip("/") for o in _list(env, "NORA_ALLOWED_ORIGINS")),
            opening_hours=env.get("NORA_OPENING_HOURS", "").strip() or None,
            closed_dates=_list(env, "NORA_CLOSED_DATES"),
            transcript_retention_hours=_int(env, "NORA_TRANSCRIPT_RETENTION_HOURS", 72),
            registration_retention_years=_int(env, "NORA_REGISTRATION_RETENTION_YEARS", 10, minimum=1),
            audit_retention_years=_int(env, "NORA_AUDIT_RETENTION_YEARS", 5, minimum=1),
            privacy_controller=env.get("NORA_PRIVACY_CONTROLLER", "").strip()
            or "IMDi (Integrerings- og mangfoldsdirektoratet)",
            stats_min_count=_int(env, "NORA_STATS_MIN_COUNT", 5, minimum=1),
            secret_key=secret or DEV_SECRET,
            max_frame_bytes=_int(env, "NORA_MAX_FRAME_BYTES", 16 * 1024, minimum=1024),
            max_text_chars=_int(env, "NORA_MAX_TEXT_CHARS", 4000, minimum=1),
            rate_per_s=float(_int(env, "NORA_RATE_PER_S", 5, minimum=1)),
            rate_burst=_int(env, "NORA_RATE_BURST", 10, minimum=1),
            rate_leases=env.get("NORA_RATE_LEASES", "1").strip().lower() not in {"0", "false", "no"},
            tier_delays_s=tier_delays,
            adviser_grace_s=_int(env, "NORA_ADVISER_GRACE_S", 60),
            visitor_grace_s=_int(env, "NORA_VISITOR_GRACE_S", 600),
            instance_lease_s=_int(env, "NORA_INSTANCE_LEASE_S", 30, minimum=3),
            abuse_block_s=_int(env, "NORA_ABUSE_BLOCK_MINUTES", 60, minimum=1) * 60,
            session_idle_s=_int(env, "NORA_SESSION_IDLE_S", 30 * 60, minimum=60),
            session_absolute_s=_int(env, "NORA_SESSION_ABSOLUTE_S", 8 * 3600, minimum=60),
            login_max_failures=_int(env, "NORA_LOGIN_MAX_FAILURES", 5, minimum=1),
            login_window_s=_int(env, "NORA_LOGIN_WINDOW_S", 15 * 60, minimum=1),
            login_device_max_failures=_int(env, "NORA_LOGIN_DEVICE_MAX_FAILURES", 10, minimum=1),
            login_hash_queue=_int(env, "NORA_LOGIN_HASH_QUEUE", 8),
            fast_password_hashing=hashing == "fast",
            trust_proxy_headers=env.get("NORA_TRUST_PROXY_HEADERS", "") in {"1", "true", "yes"},
            max_connections=_int(env, "NORA_MAX_CONNECTIONS", 10_000, minimum=1),
            max_sockets_per_address=_int(env, "NORA_MAX_SOCKETS_PER_ADDRESS", 50, minimum=1),
            starts_per_address=_int(env, "NORA_STARTS_PER_ADDRESS", 30, minimum=1),
            staff_sockets_per_session=_int(env, "NORA_STAFF_SOCKETS_PER_SESSION", 5, minimum=1),
            visitor_hello_s=float(_int(env, "NORA_VISITOR_HELLO_S", 30, minimum=1)),
            drain_notice_s=_int(env, "NORA_DRAIN_NOTICE_MS", 5000) / 1000,
            drain_close_s=float(_int(env, "NORA_DRAIN_CLOSE_S", 10, minimum=1)),
            db_pool_size=_int(env, "NORA_DB_POOL_SIZE", 20, minimum=2),
            metrics_token=metrics_token,
            return_code_days=_int(env, "NORA_RETURN_CODE_DAYS", 30, minimum=1),
            return_attempts_per_address=_int(env, "NORA_RETURN_ATTEMPTS_PER_ADDRESS", 10, minimum=1),
            return_attempts_per_hour=_int(env, "NORA_RETURN_ATTEMPTS_PER_HOUR", 600, minimum=1),
        )
