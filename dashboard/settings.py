"""Settings for the GP jobs portal, read from the environment only.

Local use needs no configuration at all (SQLite, local-memory cache, generated
development keys kept in ``var/``). Production sets ``DJANGO_PRODUCTION=1``, which
makes the secret key and the token encryption keys mandatory and turns on the
HTTPS-only protections. See the README for the full table.
"""

import ipaddress
import os
import secrets
from datetime import timedelta
from pathlib import Path

import dj_database_url
from cryptography.fernet import Fernet
from csp.constants import NONE, SELF
from django.core.exceptions import ImproperlyConfigured

from accounts.roles import ROLE_NAMES
from dashboard import env

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env.string("PORTAL_VAR_DIR", str(BASE_DIR / "var")))

PRODUCTION = env.boolean("DJANGO_PRODUCTION", False)
DEBUG = env.boolean("DJANGO_DEBUG", False)
if PRODUCTION and DEBUG:
    raise ImproperlyConfigured("DJANGO_DEBUG must be off when DJANGO_PRODUCTION is on.")


def _private_directory(path: Path) -> None:
    """var/ holds the SQLite database (sessions, password hashes, webhook URLs), keys and the task queue: only the
    portal's own account may enter it (0700), made so, or made so again when it is ours and was not."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    status = path.stat()
    if status.st_uid == os.geteuid() and status.st_mode & 0o077:
        path.chmod(0o700)


def _private_file(path: Path) -> None:
    """A file only the portal's own account may read (0600): created so before anything is written to it, or made
    so when it is ours and was not."""
    try:
        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
    except FileExistsError:
        status = path.stat()
        if status.st_uid == os.geteuid() and status.st_mode & 0o077:
            path.chmod(0o600)


def _development_secret(name: str, make) -> str:
    """A key generated once and kept in var/, so restarts keep sessions and tokens."""
    if PRODUCTION:
        raise ImproperlyConfigured(f"{name} (or {name}_FILE) is required when DJANGO_PRODUCTION is on.")
    path = VAR_DIR / f"dev-{name.lower().replace('_', '-')}"
    if not path.exists():
        _private_directory(VAR_DIR)
        _private_file(path)
        path.write_text(make())
    return path.read_text().strip()


# Names of settings that fell back to a development value; jobs/checks.py warns about them.
DEVELOPMENT_FALLBACKS = []

SECRET_KEY = env.string("DJANGO_SECRET_KEY")
if SECRET_KEY is None:
    SECRET_KEY = _development_secret("DJANGO_SECRET_KEY", lambda: secrets.token_urlsafe(50))
    DEVELOPMENT_FALLBACKS.append("DJANGO_SECRET_KEY")

# Fernet keys for stored ArcGIS tokens: the first encrypts, every one decrypts.
TOKEN_ENCRYPTION_KEYS = env.csv("TOKEN_ENCRYPTION_KEYS", [])
if not TOKEN_ENCRYPTION_KEYS:
    TOKEN_ENCRYPTION_KEYS = [_development_secret("TOKEN_ENCRYPTION_KEYS", lambda: Fernet.generate_key().decode())]
    DEVELOPMENT_FALLBACKS.append("TOKEN_ENCRYPTION_KEYS")
for _key in TOKEN_ENCRYPTION_KEYS:
    try:
        Fernet(_key)
    except ValueError:
        raise ImproperlyConfigured(
            "TOKEN_ENCRYPTION_KEYS holds a value that is not a Fernet key "
            "(32 url-safe base64-encoded bytes; make one with `python manage.py rotate_token_keys --new-key`)."
        ) from None

ALLOWED_HOSTS = env.csv("DJANGO_ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.csv("DJANGO_CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "dashboard.admin_site.PortalAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django_htmx",
    "csp",
    "axes",
    "ninja",  # the API docs (Swagger UI) from static files, never a CDN
    "accounts",
    "jobs",
    "api",
    "policies",
    "history",
    "dashboard",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "jobs.after_response.AfterResponseMiddleware",  # bookkeeping nobody waits for, once the answer is sent
    "csp.middleware.CSPMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "accounts.middleware.LoginRequiredMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "accounts.middleware.SingleSignOnRenewal",  # an SSO account's roles, confirmed with its provider as they age
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "jobs.middleware.OperatorTimezoneMiddleware",
    # Last, as django-axes asks, so it sees the outcome of every login.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "dashboard.urls"
WSGI_APPLICATION = "dashboard.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "accounts.context_processors.portal",
                "dashboard.context_processors.shared_cache",
            ],
        },
    },
    {
        # The job table, its rows and its poll's answer (jinja2/): the portal's hottest renders (dashboard.templating).
        "BACKEND": "django.template.backends.jinja2.Jinja2",
        "DIRS": [BASE_DIR / "jinja2"],
        "APP_DIRS": False,
        # Block tags on lines of their own leave no blank lines behind, so a template can put one element a line.
        "OPTIONS": {"environment": "dashboard.templating.environment", "trim_blocks": True, "lstrip_blocks": True},
    },
]

# Database: SQLite in var/ unless DATABASE_URL says otherwise.
try:
    DATABASES = {
        "default": dj_database_url.parse(
            env.string("DATABASE_URL", f"sqlite:///{VAR_DIR / 'portal.sqlite3'}"),
            conn_max_age=env.integer("DATABASE_CONN_MAX_AGE", 60),
            conn_health_checks=True,
        )
    }
except ValueError as exc:
    raise ImproperlyConfigured(f"DATABASE_URL: {exc}") from None
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # A database server that does not answer at all (rather than refusing) must not hold a request for minutes.
    DATABASES["default"].setdefault("OPTIONS", {}).setdefault(
        "connect_timeout", env.integer("DATABASE_CONNECT_TIMEOUT", 5, minimum=1)
    )
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    _private_directory(VAR_DIR)
    _database_file = str(DATABASES["default"]["NAME"])
    if _database_file not in ("", ":memory:") and not _database_file.startswith("file:"):
        Path(_database_file).parent.mkdir(parents=True, exist_ok=True)
        _private_file(Path(_database_file))  # SQLite makes its -wal and -shm files with the database's mode
    # WAL lets readers and the one writer work at once; IMMEDIATE avoids lock upgrades.
    DATABASES["default"]["OPTIONS"] = {
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=5000;",
        "transaction_mode": "IMMEDIATE",
    }
    DATABASES["default"]["CONN_MAX_AGE"] = 0 if DATABASES["default"]["NAME"] == ":memory:" else 600
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Cache and sessions: Redis shared by every worker and host when REDIS_URL is set.
REDIS_URL = env.string("REDIS_URL")
if REDIS_URL:
    if not REDIS_URL.startswith(("redis://", "rediss://", "unix://")):
        raise ImproperlyConfigured(f"REDIS_URL must start with redis://, rediss:// or unix://; got {REDIS_URL!r}.")
    # A Redis that hangs must cost milliseconds: no cache call waits longer than this (dashboard/cache.py).
    _redis_timeout = env.integer("REDIS_TIMEOUT_MS", 250, minimum=10) / 1000
    _redis = {
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": env.string("REDIS_KEY_PREFIX", "gpjobs"),
        "OPTIONS": {"socket_connect_timeout": _redis_timeout, "socket_timeout": _redis_timeout},
    }
    CACHES = {
        # While Redis does not answer: each process's own memory (breakers, shared reads, rate counts).
        "default": {"BACKEND": "dashboard.cache.PortalRedisCache", **_redis},
        # While Redis does not answer: nothing (sessions and permission sets come from the database).
        "shared_only": {"BACKEND": "dashboard.cache.SharedOnlyRedisCache", **_redis},
    }
    # Sessions live in the database and are read through Redis: losing Redis signs nobody out.
    SESSION_ENGINE = "django.contrib.sessions.backends.cached_db"
    SESSION_CACHE_ALIAS = "shared_only"
else:
    # One process: both names are the same local memory (one LOCATION).
    CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
        "shared_only": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
    }
    SESSION_ENGINE = "django.contrib.sessions.backends.db"

AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "accounts.permission_cache.CachedPermissionsBackend",  # Django's ModelBackend, its permission checks cached
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "jobs:overview"
LOGOUT_REDIRECT_URL = "login"

# Single sign-on with OpenID Connect (accounts/sso.py), beside local accounts, when a client ID is set.
OIDC_RP_CLIENT_ID = env.string("OIDC_RP_CLIENT_ID")
OIDC_ENABLED = OIDC_RP_CLIENT_ID is not None
OIDC_RP_CLIENT_SECRET = env.string("OIDC_RP_CLIENT_SECRET")
OIDC_OP_DISCOVERY_URL = env.string("OIDC_OP_DISCOVERY_URL")  # …/.well-known/openid-configuration
OIDC_OP_AUTHORIZATION_ENDPOINT = env.string("OIDC_OP_AUTHORIZATION_ENDPOINT")  # or each endpoint, overriding it
OIDC_OP_TOKEN_ENDPOINT = env.string("OIDC_OP_TOKEN_ENDPOINT")
OIDC_OP_USER_ENDPOINT = env.string("OIDC_OP_USER_ENDPOINT")
OIDC_OP_JWKS_ENDPOINT = env.string("OIDC_OP_JWKS_ENDPOINT")
OIDC_PROVIDER_NAME = env.string("OIDC_PROVIDER_NAME", "your company account")
OIDC_RP_SIGN_ALGO = env.string("OIDC_RP_SIGN_ALGO", "RS256")
OIDC_RP_SCOPES = env.string("OIDC_RP_SCOPES", "openid email profile")
OIDC_USERNAME_CLAIM = env.string("OIDC_USERNAME_CLAIM", "preferred_username")
OIDC_ROLE_CLAIM = env.string("OIDC_ROLE_CLAIM", "groups")
OIDC_ROLE_MAP = {}  # the provider's group → the portal's role
for _item in env.csv("OIDC_ROLE_MAP", []):
    _group, _, _role = _item.rpartition(":")
    if not _group or _role not in ROLE_NAMES:
        raise ImproperlyConfigured(
            f"OIDC_ROLE_MAP is group:role,… with the roles Viewer, Operator and Site admin; got {_item!r}."
        )
    OIDC_ROLE_MAP[_group] = _role
OIDC_USE_PKCE = True
# How old the provider's last confirmation of an account's roles may be before it is asked again (accounts/sso.py).
OIDC_RENEW_SECONDS = env.integer("OIDC_RENEW_SECONDS", 900, minimum=60)
# A linked account signs in through the provider only (its MFA included), unless this keeps its local password too.
OIDC_LINK_KEEPS_PASSWORD = env.boolean("OIDC_LINK_KEEPS_PASSWORD", False)
OIDC_STORE_ID_TOKEN = True  # in the session (server side), for the provider's sign-out (id_token_hint)
OIDC_TIMEOUT = env.integer("OIDC_TIMEOUT_SECONDS", 10, minimum=1)
OIDC_AUTHENTICATE_CLASS = "accounts.sso.SignIn"
OIDC_CALLBACK_CLASS = "accounts.sso.Callback"
if OIDC_ENABLED:
    if not OIDC_RP_CLIENT_SECRET:
        raise ImproperlyConfigured(
            "OIDC_RP_CLIENT_SECRET (or OIDC_RP_CLIENT_SECRET_FILE) is required with OIDC_RP_CLIENT_ID."
        )
    _endpoints = [OIDC_OP_AUTHORIZATION_ENDPOINT, OIDC_OP_TOKEN_ENDPOINT, OIDC_OP_USER_ENDPOINT, OIDC_OP_JWKS_ENDPOINT]
    if not OIDC_OP_DISCOVERY_URL and not all(_endpoints):
        raise ImproperlyConfigured(
            "Single sign-on needs OIDC_OP_DISCOVERY_URL, or OIDC_OP_AUTHORIZATION_ENDPOINT, OIDC_OP_TOKEN_ENDPOINT, "
            "OIDC_OP_USER_ENDPOINT and OIDC_OP_JWKS_ENDPOINT."
        )
    if not OIDC_ROLE_MAP:
        raise ImproperlyConfigured("OIDC_ROLE_MAP is required with OIDC_RP_CLIENT_ID: nobody could be given a role.")
    AUTHENTICATION_BACKENDS.append("accounts.sso.PortalOIDCBackend")

# Failed-login throttling: five failures for one username from one address lock
# that pair out for fifteen minutes.
AXES_FAILURE_LIMIT = env.integer("AXES_FAILURE_LIMIT", 5, minimum=1)
AXES_COOLOFF_TIME = timedelta(minutes=env.integer("AXES_COOLOFF_MINUTES", 15, minimum=1))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_RESET_ON_SUCCESS = True
AXES_VERBOSE = False

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = Path(env.string("DJANGO_STATIC_ROOT", str(BASE_DIR / "staticfiles")))
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}

# Security headers. The HTTPS-only ones apply in production, where TLS ends in front.
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_AGE = env.integer("SESSION_COOKIE_AGE", 12 * 3600, minimum=60)
CSRF_COOKIE_HTTPONLY = True
if PRODUCTION:
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_SSL_REDIRECT = env.boolean("DJANGO_SECURE_SSL_REDIRECT", True)
    SECURE_HSTS_SECONDS = env.integer("DJANGO_HSTS_SECONDS", 31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = env.boolean("DJANGO_HSTS_PRELOAD", True)
# X-Forwarded-Proto: https makes a request count as secure (cookies, the HTTPS redirect, CSRF's origin
# check). Anyone can send the header, so it is trusted only when DJANGO_BEHIND_TLS_PROXY says that a proxy
# in front terminates TLS and sets it, overwriting what clients sent.
if env.boolean("DJANGO_BEHIND_TLS_PROXY", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# No inline scripts or styles: htmx's own indicator style is turned off in base.html
# and the portal's behaviour lives in static/js.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],
        "connect-src": [SELF],
        "font-src": [SELF],
        "object-src": [NONE],
        "base-uri": [NONE],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    }
}

# Referer that stored tokens are bound to (client=referer), unless a site names its own.
ARCGIS_DEFAULT_REFERER = env.string("ARCGIS_REFERER", "gp-jobs-portal")

# Upstream fan-out: how many ArcGIS calls one request may have in flight at once.
ARCGIS_MAX_CONCURRENCY = env.integer("ARCGIS_MAX_CONCURRENCY", 16, minimum=1)
# The fleet view asks every GP service of every site at once: this many calls in flight in all.
ARCGIS_FLEET_CONCURRENCY = env.integer("ARCGIS_FLEET_CONCURRENCY", 64, minimum=1)

# A slow or stalled site must not hold the portal: each worker lets at most this many of its
# requests wait for one site (keep it below the worker's threads); others are told at once.
ARCGIS_REQUESTS_PER_SITE = env.integer("ARCGIS_REQUESTS_PER_SITE", 4, minimum=1)
ARCGIS_SLOT_WAIT = 0.1  # seconds a request waits for one of those slots
# The circuit breaker, shared by every worker through the cache: after this many consecutive
# timeouts or connection failures a site is not called for the cool-down, then one trial decides.
ARCGIS_BREAKER_FAILURES = env.integer("ARCGIS_BREAKER_FAILURES", 3, minimum=1)
ARCGIS_BREAKER_COOLDOWN = env.integer("ARCGIS_BREAKER_COOLDOWN_SECONDS", 30, minimum=1)

# Identical reads (same site, service and query) are shared between the operators who may see
# them for about a second; a site's list of services for a minute.
SHARED_READ_SECONDS = 1.0
SERVICES_CACHE_SECONDS = 60.0

# The JSON API (/api/v1/): requests per personal API token and minute, counted in the shared cache.
API_RATE_LIMIT = env.integer("API_RATE_LIMIT_PER_MINUTE", 120, minimum=1)
# The API's schema and interactive docs (/api/v1/openapi.json, /api/v1/docs): for people signed in, unless opened.
API_DOCS_PUBLIC = env.boolean("API_DOCS_PUBLIC", False)

# /metrics (Prometheus) answers only with this bearer token; unset, it answers 404. With several gunicorn
# workers, also set PROMETHEUS_MULTIPROC_DIR (read by prometheus-client itself; see the README).
METRICS_TOKEN = env.string("METRICS_TOKEN")
# Services a scrape names per gauge (jobs by status, jobs running long); beyond them, one "other" series per site.
METRICS_MAX_SERVICES = env.integer("METRICS_MAX_SERVICES", 1000, minimum=1)
# Whoever holds METRICS_TOKEN sees every site's slug and numbers; off, sites restricted to groups are left out.
METRICS_INCLUDE_RESTRICTED_SITES = env.boolean("METRICS_INCLUDE_RESTRICTED_SITES", True)

# Background work (policies/tasks.py) on Celery: a worker runs the tasks, one beat sends the tick.
# The broker is the deployment's Redis; without one (the demo, one host), a directory under var/.
CELERY_BROKER_URL = env.string("CELERY_BROKER_URL", REDIS_URL or "filesystem://localhost/")
if CELERY_BROKER_URL.startswith("filesystem://"):
    _private_directory(VAR_DIR)
    _queue = VAR_DIR / "celery-queue"
    _queue.mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT = "dashboard.broker:Transport"  # kombu's, each message written whole before it is seen
    CELERY_BROKER_TRANSPORT_OPTIONS: dict[str, str | int] = {
        "data_folder_in": str(_queue),
        "data_folder_out": str(_queue),
        "control_folder": str(_queue / "control"),  # kombu's default is ./control, wherever the worker runs
    }
else:
    if CELERY_BROKER_URL.startswith("redis://"):
        CELERY_BROKER_TRANSPORT = "dashboard.broker:RedisTransport"  # kombu's, closing quietly after an outage
    # A web request queues an alert without waiting long for a broker that is down (the tick queues it later):
    # one connection attempt, not attempts until the connection timeout.
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "socket_connect_timeout": 2,
        "socket_timeout": 10,
        "max_retries": 1,
        "interval_start": 0,
    }
CELERY_BROKER_CONNECTION_TIMEOUT = 2
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_IGNORE_RESULT = True  # outcomes are rows in the database, not task results
CELERY_WORKER_HIJACK_ROOT_LOGGER = False  # the portal's logging (below) holds for the worker too
CELERY_TIMEZONE = "UTC"
# How often beat sends the tick that runs due policies, watches for alerts and re-queues stuck deliveries.
POLICY_TICK_SECONDS = env.integer("POLICY_TICK_SECONDS", 60, minimum=1)
# The job history's collector (history/collector.py): beat sends a pass over every site with a monitoring account
# this often (one task per site), and the index keeps a job this many days after it was submitted. The fleet view
# reads its rows from the index while every site it covers was collected within two intervals.
HISTORY_COLLECT_SECONDS = env.integer("HISTORY_COLLECT_SECONDS", 30, minimum=1)
HISTORY_RETENTION_DAYS = env.integer("HISTORY_RETENTION_DAYS", 90, minimum=1)
CELERY_BEAT_SCHEDULE = {
    "policies-tick": {
        "task": "policies.tasks.tick",
        "schedule": POLICY_TICK_SECONDS,
        "options": {"expires": POLICY_TICK_SECONDS},  # a tick nobody took in time is dropped, not piled up
    },
    "history-collect": {
        "task": "history.tasks.collect",
        "schedule": HISTORY_COLLECT_SECONDS,
        "options": {"expires": HISTORY_COLLECT_SECONDS},
    },
}
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")

# Alerts (policies/alerts.py): webhooks and e-mail.
ALERT_SITE_DOWN_MINUTES = env.integer("ALERT_SITE_DOWN_MINUTES", 5, minimum=1)
ALERT_WEBHOOK_TIMEOUT_SECONDS = env.integer("ALERT_WEBHOOK_TIMEOUT_SECONDS", 5, minimum=1)  # all of one call
ALERT_DELIVERY_ATTEMPTS = env.integer("ALERT_DELIVERY_ATTEMPTS", 5, minimum=1)
# Plain-http webhooks are for test receivers only: never in production.
ALERT_WEBHOOKS_ALLOW_HTTP = env.boolean("ALERT_WEBHOOKS_ALLOW_HTTP", False)
if PRODUCTION and ALERT_WEBHOOKS_ALLOW_HTTP:
    raise ImproperlyConfigured("ALERT_WEBHOOKS_ALLOW_HTTP is for testing and must be off when DJANGO_PRODUCTION is on.")
# Webhooks reach public addresses only (policies/webhooks.py), unless an address is in one of these networks.
ALERT_WEBHOOK_ALLOWED_NETWORKS = env.csv("ALERT_WEBHOOK_ALLOWED_NETWORKS", [])
for _network in ALERT_WEBHOOK_ALLOWED_NETWORKS:
    try:
        ipaddress.ip_network(_network, strict=False)
    except ValueError:
        raise ImproperlyConfigured(
            "ALERT_WEBHOOK_ALLOWED_NETWORKS is a comma-separated list of networks (e.g. 10.20.0.0/16); "
            f"got {_network!r}."
        ) from None
# The CA certificates webhooks' TLS is verified against (a PEM file); none: the usual public CAs (certifi's).
ALERT_WEBHOOK_CA_BUNDLE = env.string("ALERT_WEBHOOK_CA_BUNDLE")
# The portal's own address, for links in alerts (e.g. https://jobs.example.com); none: alerts carry no links.
PORTAL_URL = env.string("PORTAL_URL", "").rstrip("/")
if PORTAL_URL and not PORTAL_URL.startswith(("https://", "http://")):
    raise ImproperlyConfigured(f"PORTAL_URL must start with https:// or http://; got {PORTAL_URL!r}.")
EMAIL_HOST = env.string("EMAIL_HOST")
if EMAIL_HOST:
    EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    EMAIL_PORT = env.integer("EMAIL_PORT", 25, minimum=1)
    EMAIL_HOST_USER = env.string("EMAIL_HOST_USER", "")
    EMAIL_HOST_PASSWORD = env.string("EMAIL_HOST_PASSWORD", "")
    EMAIL_USE_TLS = env.boolean("EMAIL_USE_TLS", False)
    EMAIL_USE_SSL = env.boolean("EMAIL_USE_SSL", False)
    EMAIL_TIMEOUT = 10
else:  # no mail server: e-mail alerts are written to the worker's log
    EMAIL_BACKEND = "django.core.mail.backends.console.EmailBackend"
DEFAULT_FROM_EMAIL = env.string("DEFAULT_FROM_EMAIL", "gp-jobs-portal@localhost")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "filters": {"refusals_without_traceback": {"()": "dashboard.log_filters.RefusalsWithoutTraceback"}},
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "plain", "filters": ["refusals_without_traceback"]}
    },
    "root": {"handlers": ["console"], "level": env.string("LOG_LEVEL", "INFO")},
    "loggers": {
        # urllib3 logs full request lines at DEBUG; keep it quiet so nothing upstream leaks.
        "urllib3": {"level": "WARNING"},
        "axes": {"level": "WARNING"},
    },
}
