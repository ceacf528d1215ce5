"""The integrations' settings: the API's rate limit, the metrics token and single sign-on, from the environment
(strict, `<NAME>_FILE` for secrets), and `check --deploy` clean with all of them set."""

import os
import secrets
import subprocess
import sys

import pytest
from cryptography.fernet import Fernet
from django.core.exceptions import ImproperlyConfigured

from tests.test_settings import CONFIG_VARIABLES, ROOT, load_settings

OIDC = {
    "OIDC_RP_CLIENT_ID": "gp-jobs-portal",
    "OIDC_RP_CLIENT_SECRET": "s3cret",
    "OIDC_OP_DISCOVERY_URL": "https://login.example.com/.well-known/openid-configuration",
    "OIDC_ROLE_MAP": "gis-ops:Operator,gis-viewers:Viewer,gis-admins:Site admin",
}
NEW_VARIABLES = [*OIDC, "OIDC_PROVIDER_NAME", "OIDC_ROLE_CLAIM", "METRICS_TOKEN", "API_RATE_LIMIT_PER_MINUTE"]


@pytest.fixture
def environ(monkeypatch, tmp_path):
    for name in CONFIG_VARIABLES + NEW_VARIABLES + ["OIDC_OP_TOKEN_ENDPOINT", "OIDC_OP_USER_ENDPOINT"]:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(f"{name}_FILE", raising=False)
    monkeypatch.setenv("PORTAL_VAR_DIR", str(tmp_path / "var"))
    return monkeypatch


def test_defaults(environ):
    settings = load_settings()
    assert settings["API_RATE_LIMIT"] == 120
    assert settings["METRICS_TOKEN"] is None
    assert settings["OIDC_ENABLED"] is False
    assert "jobs.sso.PortalOIDCBackend" not in settings["AUTHENTICATION_BACKENDS"]


def test_single_sign_on_from_the_environment(environ, tmp_path):
    for name, value in OIDC.items():
        environ.setenv(name, value)
    environ.delenv("OIDC_RP_CLIENT_SECRET")
    (tmp_path / "oidc-secret").write_text("from-a-file\n")
    environ.setenv("OIDC_RP_CLIENT_SECRET_FILE", str(tmp_path / "oidc-secret"))
    environ.setenv("OIDC_PROVIDER_NAME", "Contoso")
    settings = load_settings()
    assert settings["OIDC_ENABLED"] and settings["OIDC_RP_CLIENT_SECRET"] == "from-a-file"
    assert settings["OIDC_ROLE_MAP"] == {"gis-ops": "Operator", "gis-viewers": "Viewer", "gis-admins": "Site admin"}
    assert settings["OIDC_PROVIDER_NAME"] == "Contoso" and settings["OIDC_ROLE_CLAIM"] == "groups"
    assert settings["AUTHENTICATION_BACKENDS"][0] == "axes.backends.AxesStandaloneBackend"
    assert settings["AUTHENTICATION_BACKENDS"][-1] == "jobs.sso.PortalOIDCBackend"


@pytest.mark.parametrize(
    ("change", "complaint"),
    [
        ({"OIDC_RP_CLIENT_SECRET": None}, "OIDC_RP_CLIENT_SECRET"),
        ({"OIDC_OP_DISCOVERY_URL": None}, "OIDC_OP_DISCOVERY_URL"),
        (
            {"OIDC_OP_DISCOVERY_URL": None, "OIDC_OP_TOKEN_ENDPOINT": "https://x/token"},
            "OIDC_OP_AUTHORIZATION_ENDPOINT",
        ),
        ({"OIDC_ROLE_MAP": None}, "OIDC_ROLE_MAP"),
        ({"OIDC_ROLE_MAP": "gis-ops:Admin"}, "OIDC_ROLE_MAP"),
        ({"OIDC_ROLE_MAP": "Operator"}, "OIDC_ROLE_MAP"),
        ({"API_RATE_LIMIT_PER_MINUTE": "0"}, "API_RATE_LIMIT_PER_MINUTE"),
        ({"API_RATE_LIMIT_PER_MINUTE": "lots"}, "API_RATE_LIMIT_PER_MINUTE"),
    ],
)
def test_incomplete_or_malformed_values_are_refused_by_name(environ, change, complaint):
    for name, value in {**OIDC, **change}.items():
        if value is not None:
            environ.setenv(name, value)
    with pytest.raises(ImproperlyConfigured, match=complaint):
        load_settings()


def test_the_metrics_token_from_a_file(environ, tmp_path):
    (tmp_path / "metrics").write_text("scrape-token\n")
    environ.setenv("METRICS_TOKEN_FILE", str(tmp_path / "metrics"))
    assert load_settings()["METRICS_TOKEN"] == "scrape-token"


def test_check_deploy_is_clean_with_every_integration_configured(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in CONFIG_VARIABLES + NEW_VARIABLES}
    env |= OIDC | {
        "DJANGO_SETTINGS_MODULE": "dashboard.settings",
        "DJANGO_PRODUCTION": "1",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
        "TOKEN_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
        "DJANGO_ALLOWED_HOSTS": "jobs.example.com",
        "PORTAL_VAR_DIR": str(tmp_path),
        "METRICS_TOKEN": secrets.token_urlsafe(32),
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path),
    }
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout
