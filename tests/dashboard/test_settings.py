"""Settings come from the environment only; a malformed value stops start-up with a clear message."""

import os
import secrets
import subprocess
import sys

import pytest
from cryptography.fernet import Fernet
from django.core.exceptions import ImproperlyConfigured

from tests.helpers import ROOT, SETTINGS_VARIABLES, check_deploy, load_settings


def production(environ, **extra):
    environ.setenv("DJANGO_PRODUCTION", "1")
    environ.setenv("DJANGO_SECRET_KEY", "x" * 60)
    environ.setenv("TOKEN_ENCRYPTION_KEYS", Fernet.generate_key().decode())
    environ.setenv("DJANGO_ALLOWED_HOSTS", "jobs.example.com")
    for name, value in extra.items():
        environ.setenv(name, value)


def test_defaults_are_safe_for_local_use(environ):
    settings = load_settings()
    assert settings["DEBUG"] is False
    assert settings["DATABASES"]["default"]["ENGINE"] == "django.db.backends.sqlite3"
    assert settings["CACHES"]["default"]["BACKEND"].endswith("LocMemCache")
    assert set(settings["DEVELOPMENT_FALLBACKS"]) == {"DJANGO_SECRET_KEY", "TOKEN_ENCRYPTION_KEYS"}
    # The generated development keys are kept, so a restart keeps sessions and stored tokens readable.
    assert load_settings()["SECRET_KEY"] == settings["SECRET_KEY"]
    assert load_settings()["TOKEN_ENCRYPTION_KEYS"] == settings["TOKEN_ENCRYPTION_KEYS"]


@pytest.mark.parametrize(
    ("name", "value", "complaint"),
    [
        ("DJANGO_DEBUG", "maybe", "DJANGO_DEBUG"),
        ("DJANGO_PRODUCTION", "2", "DJANGO_PRODUCTION"),
        ("DATABASE_URL", "nosuchdb://host/name", "DATABASE_URL"),
        ("REDIS_URL", "http://127.0.0.1:6379", "REDIS_URL"),
        ("TOKEN_ENCRYPTION_KEYS", "not-a-fernet-key", "TOKEN_ENCRYPTION_KEYS"),
        ("TOKEN_ENCRYPTION_KEYS", f"{Fernet.generate_key().decode()},", "TOKEN_ENCRYPTION_KEYS"),
        ("DJANGO_ALLOWED_HOSTS", "a.example.com,,b.example.com", "DJANGO_ALLOWED_HOSTS"),
        ("SESSION_COOKIE_AGE", "an hour", "SESSION_COOKIE_AGE"),
        ("AXES_FAILURE_LIMIT", "0", "AXES_FAILURE_LIMIT"),
    ],
)
def test_malformed_values_are_refused_by_name(environ, name, value, complaint):
    environ.setenv(name, value)
    with pytest.raises(ImproperlyConfigured, match=complaint):
        load_settings()


def test_debug_cannot_be_on_in_production(environ):
    production(environ, DJANGO_DEBUG="1")
    with pytest.raises(ImproperlyConfigured, match="DJANGO_DEBUG"):
        load_settings()


@pytest.mark.parametrize("missing", ["DJANGO_SECRET_KEY", "TOKEN_ENCRYPTION_KEYS"])
def test_production_requires_its_secrets(environ, missing):
    production(environ)
    environ.delenv(missing)
    with pytest.raises(ImproperlyConfigured, match=missing):
        load_settings()


def test_secrets_are_read_from_files(environ, tmp_path):
    key = Fernet.generate_key().decode()
    (tmp_path / "secret").write_text("s" * 60 + "\n")
    (tmp_path / "keys").write_text(key)
    production(
        environ, DJANGO_SECRET_KEY_FILE=str(tmp_path / "secret"), TOKEN_ENCRYPTION_KEYS_FILE=str(tmp_path / "keys")
    )
    environ.delenv("DJANGO_SECRET_KEY")
    environ.delenv("TOKEN_ENCRYPTION_KEYS")
    settings = load_settings()
    assert settings["SECRET_KEY"] == "s" * 60
    assert settings["TOKEN_ENCRYPTION_KEYS"] == [key]


def test_a_value_and_its_file_together_are_refused(environ, tmp_path):
    (tmp_path / "secret").write_text("s" * 60)
    environ.setenv("DJANGO_SECRET_KEY", "t" * 60)
    environ.setenv("DJANGO_SECRET_KEY_FILE", str(tmp_path / "secret"))
    with pytest.raises(ImproperlyConfigured, match="not both"):
        load_settings()


def test_an_unreadable_secret_file_is_refused(environ, tmp_path):
    environ.setenv("DJANGO_SECRET_KEY_FILE", str(tmp_path / "missing"))
    with pytest.raises(ImproperlyConfigured, match="DJANGO_SECRET_KEY_FILE"):
        load_settings()


def test_production_turns_on_https_protections(environ):
    production(environ)
    settings = load_settings()
    assert settings["SESSION_COOKIE_SECURE"] and settings["CSRF_COOKIE_SECURE"]
    assert settings["SECURE_SSL_REDIRECT"]
    assert settings["SECURE_HSTS_SECONDS"] >= 31536000
    assert "SECURE_PROXY_SSL_HEADER" not in settings  # X-Forwarded-Proto is trusted only when asked for
    assert settings["X_FRAME_OPTIONS"] == "DENY"
    assert settings["SECURE_REFERRER_POLICY"] == "same-origin"


def test_database_and_redis_urls(environ):
    environ.setenv("DATABASE_URL", "postgres://portal:pw@db.example.com:5432/portal")
    environ.setenv("REDIS_URL", "redis://cache.example.com:6379/1")
    settings = load_settings()
    database = settings["DATABASES"]["default"]
    assert (database["ENGINE"], database["HOST"], database["NAME"]) == (
        "django.db.backends.postgresql",
        "db.example.com",
        "portal",
    )
    assert database["OPTIONS"]["connect_timeout"] == 5  # a server that does not answer holds nobody for long
    caches = settings["CACHES"]
    # Django's, one client per pool: while Redis is down, per-process memory, or nothing at all
    assert caches["default"]["BACKEND"] == "dashboard.cache.PortalRedisCache"
    assert caches["shared_only"]["BACKEND"] == "dashboard.cache.SharedOnlyRedisCache"
    for cache in caches.values():
        assert cache["LOCATION"] == "redis://cache.example.com:6379/1"
        # a Redis that hangs costs a quarter of a second, once per retry interval
        assert cache["OPTIONS"] == {"socket_connect_timeout": 0.25, "socket_timeout": 0.25}
    # sessions live in the database and are read through Redis, never from a per-process copy
    assert settings["SESSION_ENGINE"] == "django.contrib.sessions.backends.cached_db"
    assert settings["SESSION_CACHE_ALIAS"] == "shared_only"
    # a web request queueing an alert tries a broker that is down once, not until the connection timeout
    assert settings["CELERY_BROKER_TRANSPORT_OPTIONS"] == {
        "socket_connect_timeout": 2,
        "socket_timeout": 10,
        "max_retries": 1,
        "interval_start": 0,
    }


def test_check_deploy_is_clean_with_production_variables(tmp_path):
    result = check_deploy(tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_check_warns_about_development_keys(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in SETTINGS_VARIABLES}
    env |= {"DJANGO_SETTINGS_MODULE": "dashboard.settings", "PORTAL_VAR_DIR": str(tmp_path)}
    result = subprocess.run(
        [sys.executable, "manage.py", "check"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert "portal.W001" in result.stderr + result.stdout
    assert "TOKEN_ENCRYPTION_KEYS is not set" in result.stderr + result.stdout


# A request that says it came over https, from a client in front of a portal with or without a TLS proxy.
PROXY_PROBE = """
from django.test import Client
from django.test.client import RequestFactory
forged = {"headers": {"host": "jobs.example.com", "x-forwarded-proto": "https"}}
print(RequestFactory().get("/healthz", **forged).is_secure(), Client().get("/healthz", **forged).status_code)
"""


@pytest.mark.parametrize(
    ("production", "behind_proxy", "expected"),
    [
        (False, None, "False 200"),
        (True, None, "False 301"),  # not trusted: the forged header does not skip the HTTPS redirect
        (True, "0", "False 301"),
        (True, "1", "True 200"),
        (False, "1", "True 200"),
    ],
)
def test_x_forwarded_proto_is_trusted_only_behind_a_declared_tls_proxy(tmp_path, production, behind_proxy, expected):
    env = {k: v for k, v in os.environ.items() if k not in SETTINGS_VARIABLES}
    env |= {
        "DJANGO_SETTINGS_MODULE": "dashboard.settings",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
        "TOKEN_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
        "DJANGO_ALLOWED_HOSTS": "jobs.example.com",
        "PORTAL_VAR_DIR": str(tmp_path),
    }
    if production:
        env["DJANGO_PRODUCTION"] = "1"
    if behind_proxy is not None:
        env["DJANGO_BEHIND_TLS_PROXY"] = behind_proxy
    result = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", PROXY_PROBE],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == expected


# --- round 2's security review, finding 8: var/ and the SQLite database were readable by other local users -------


def test_round2_finding_8_var_and_the_database_are_the_portals_own(environ, tmp_path):
    import os
    import stat

    var = tmp_path / "var"
    load_settings()
    mode = {path.name: stat.S_IMODE(path.stat().st_mode) for path in [var, *var.iterdir()]}
    assert mode["var"] == 0o700
    assert mode["portal.sqlite3"] == 0o600
    assert mode["dev-django-secret-key"] == 0o600 and mode["dev-token-encryption-keys"] == 0o600
    # An older portal left them open to every local user: the next start closes them.
    var.chmod(0o755)
    (var / "portal.sqlite3").chmod(0o644)
    load_settings()
    assert stat.S_IMODE(var.stat().st_mode) == 0o700
    assert stat.S_IMODE((var / "portal.sqlite3").stat().st_mode) == 0o600
    # A database elsewhere (DATABASE_URL) is created 0600 too.
    elsewhere = tmp_path / "data" / "portal.sqlite3"
    environ.setenv("DATABASE_URL", f"sqlite:///{elsewhere}")
    load_settings()
    assert stat.S_IMODE(os.stat(elsewhere).st_mode) == 0o600
