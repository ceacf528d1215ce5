"""The integrations' settings: the API's rate limit, the metrics token and single sign-on, from the environment
(strict, `<NAME>_FILE` for secrets), and `check --deploy` clean with all of them set."""

import secrets

import pytest
from django.core.exceptions import ImproperlyConfigured

from tests.helpers import OIDC_SETTINGS, check_deploy, load_settings


def test_defaults(environ):
    settings = load_settings()
    assert settings["API_RATE_LIMIT"] == 120
    assert settings["METRICS_TOKEN"] is None
    assert settings["OIDC_ENABLED"] is False
    assert "accounts.sso.PortalOIDCBackend" not in settings["AUTHENTICATION_BACKENDS"]


def test_single_sign_on_from_the_environment(environ, tmp_path):
    for name, value in OIDC_SETTINGS.items():
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
    assert settings["AUTHENTICATION_BACKENDS"][-1] == "accounts.sso.PortalOIDCBackend"


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
    for name, value in {**OIDC_SETTINGS, **change}.items():
        if value is not None:
            environ.setenv(name, value)
    with pytest.raises(ImproperlyConfigured, match=complaint):
        load_settings()


def test_the_metrics_token_from_a_file(environ, tmp_path):
    (tmp_path / "metrics").write_text("scrape-token\n")
    environ.setenv("METRICS_TOKEN_FILE", str(tmp_path / "metrics"))
    assert load_settings()["METRICS_TOKEN"] == "scrape-token"


def test_check_deploy_is_clean_with_every_integration_configured(tmp_path):
    metrics = {"METRICS_TOKEN": secrets.token_urlsafe(32), "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    result = check_deploy(tmp_path, **OIDC_SETTINGS, **metrics)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout
