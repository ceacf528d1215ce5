"""The settings of background work and alerts: a broker that needs nothing without Redis, the deployment's Redis
when there is one, the tick's schedule, mail, and what production refuses."""

import pytest
from cryptography.fernet import Fernet
from django.core.exceptions import ImproperlyConfigured

from tests.helpers import load_settings


def test_without_redis_the_broker_is_a_directory_under_var(environ, tmp_path):
    settings = load_settings()
    assert settings["CELERY_BROKER_URL"] == "filesystem://localhost/"
    assert settings["CELERY_BROKER_TRANSPORT"] == "dashboard.broker:Transport"  # kombu's, messages written whole
    queue = tmp_path / "var" / "celery-queue"
    assert settings["CELERY_BROKER_TRANSPORT_OPTIONS"] == {
        "data_folder_in": str(queue),
        "data_folder_out": str(queue),
        "control_folder": str(queue / "control"),  # not ./control in whatever directory the worker started
    }
    assert queue.is_dir()
    assert settings["CELERY_BEAT_SCHEDULE"] == {
        "policies-tick": {"task": "policies.tasks.tick", "schedule": 60, "options": {"expires": 60}},
        "history-collect": {"task": "history.tasks.collect", "schedule": 30, "options": {"expires": 30}},
    }
    assert settings["CELERY_BEAT_SCHEDULE_FILENAME"] == str(tmp_path / "var" / "celerybeat-schedule")
    assert settings["EMAIL_BACKEND"] == "django.core.mail.backends.console.EmailBackend"
    assert (settings["ALERT_SITE_DOWN_MINUTES"], settings["ALERT_WEBHOOKS_ALLOW_HTTP"], settings["PORTAL_URL"]) == (
        5,
        False,
        "",
    )


def test_the_broker_is_the_deployments_redis_unless_one_is_named(environ):
    environ.setenv("REDIS_URL", "redis://cache.example.com:6379/0")
    assert load_settings()["CELERY_BROKER_URL"] == "redis://cache.example.com:6379/0"
    # kombu's Redis transport, closing quietly after an outage (dashboard/broker.py)
    assert load_settings()["CELERY_BROKER_TRANSPORT"] == "dashboard.broker:RedisTransport"
    environ.setenv("CELERY_BROKER_URL", "redis://queue.example.com:6379/3")
    assert load_settings()["CELERY_BROKER_URL"] == "redis://queue.example.com:6379/3"
    environ.setenv("CELERY_BROKER_URL", "amqp://queue.example.com//")
    assert "CELERY_BROKER_TRANSPORT" not in load_settings()  # another broker: the URL's own transport


def test_the_tick_and_mail_come_from_the_environment(environ, tmp_path):
    environ.setenv("POLICY_TICK_SECONDS", "20")
    environ.setenv("EMAIL_HOST", "smtp.example.com")
    environ.setenv("EMAIL_PORT", "587")
    (tmp_path / "mail").write_text("mail-secret\n")
    environ.setenv("EMAIL_HOST_PASSWORD_FILE", str(tmp_path / "mail"))
    settings = load_settings()
    assert settings["CELERY_BEAT_SCHEDULE"]["policies-tick"]["schedule"] == 20
    assert settings["EMAIL_BACKEND"] == "django.core.mail.backends.smtp.EmailBackend"
    assert (settings["EMAIL_HOST"], settings["EMAIL_PORT"], settings["EMAIL_HOST_PASSWORD"]) == (
        "smtp.example.com",
        587,
        "mail-secret",
    )


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("POLICY_TICK_SECONDS", "0", "POLICY_TICK_SECONDS must be at least 1"),
        ("EMAIL_PORT", "smtp", "EMAIL_PORT must be a whole number"),
        ("PORTAL_URL", "jobs.example.com", "PORTAL_URL must start with https:// or http://"),
    ],
)
def test_malformed_values_are_refused_by_name(environ, name, value, message):
    environ.setenv("EMAIL_HOST", "smtp.example.com")
    environ.setenv(name, value)
    with pytest.raises(ImproperlyConfigured, match=message):
        load_settings()


def test_plain_http_webhooks_are_refused_in_production(environ):
    environ.setenv("DJANGO_PRODUCTION", "1")
    environ.setenv("DJANGO_SECRET_KEY", "x" * 60)
    environ.setenv("TOKEN_ENCRYPTION_KEYS", Fernet.generate_key().decode())
    environ.setenv("ALERT_WEBHOOKS_ALLOW_HTTP", "1")
    with pytest.raises(ImproperlyConfigured, match="ALERT_WEBHOOKS_ALLOW_HTTP is for testing"):
        load_settings()
