"""What the tests read out of the portal's HTML, written once."""

from __future__ import annotations

import html as htmllib
import os
import re
import runpy
import secrets
import signal
import subprocess
import sys
from pathlib import Path

from django.test import Client
from prometheus_client.parser import text_string_to_metric_families

from jobs.targets import ServiceTarget


def text(fragment: str) -> str:
    """Visible text: tags dropped, entities decoded, whitespace collapsed."""
    return " ".join(htmllib.unescape(re.sub(r"<[^>]+>", " ", fragment)).split())


def row_ids(html: str) -> list[str]:
    return re.findall(r'<tr id="job-(\w+)"', html)


def row_html(html: str, job_id: str) -> str:
    """One job's row, as the page or a fragment holds it."""
    start = html.index(f'<tr id="job-{job_id}"')
    return html[start : html.index("</tr>", start) + 5]


def status_html(html: str) -> str:
    """The markup inside the row's one role="status" element (the outcome of the last action)."""
    found = re.findall(r'<span role="status"[^>]*>(.*?)</span>\s*</td>', html, re.S)
    assert len(found) == 1, html
    return found[0]


def status_text(html: str) -> str:
    return text(status_html(html))


def alert_text(html: str) -> str:
    match = re.search(r'role="alert"[^>]*>(.*?)</(?:div|p|span)>', html, re.S)
    assert match, html
    return text(match.group(1))


def messages_text(html: str) -> str:
    match = re.search(r'<div id="messages"[^>]*>(.*?)</div>', html, re.S)
    assert match, html
    return text(match.group(1))


def jobs_table(client, target: ServiceTarget, params: dict | None = None):
    """The jobs table as the page loads it (htmx, HX-Target job-table): the response."""
    return client.htmx_get(target.url("job_list"), params or {}, **{"HX-Target": "job-table"})


def jobs_table_html(client, target: ServiceTarget, params: dict | None = None) -> str:
    response = jobs_table(client, target, params)
    assert response.status_code == 200, response.status_code
    return response.content.decode()


def sse_events(response) -> list[tuple[str, str]]:
    """(event, data) pairs of a server-sent event stream."""
    body = b"".join(response.streaming_content).decode()
    events = []
    for block in body.split("\n\n"):
        if not block.strip():
            continue
        name = "message"
        data = []
        for line in block.split("\n"):
            if line.startswith("event: "):
                name = line[7:]
            elif line.startswith("data: "):
                data.append(line[6:])
        events.append((name, "\n".join(data)))
    return events


def streamed_html(client, url: str) -> str:
    """Every fragment an overview-like stream sends, concatenated; it must end with "done"."""
    response = client.get(url)
    assert response.status_code == 200 and response["Content-Type"] == "text/event-stream"
    events = sse_events(response)
    assert events[-1][0] == "done", events
    return "\n".join(data for name, data in events if name == "fragment")


def site_admin_form(client, **fields) -> dict:
    """What the Django admin's site form posts: the site's fields (a new one by default), the flag
    thresholds at their defaults, and the management form of its (empty) per-service thresholds."""
    return {
        "csrfmiddlewaretoken": client.csrf_token,
        "name": "North",
        "slug": "north",
        "admin_url": "https://north.example.com/arcgis/admin",
        "token_url": "",
        "referer": "",
        "ca_bundle": "",
        "connect_timeout": "3",
        "read_timeout": "10",
        "action_timeout": "30",
        "running_long_factor": "3",
        "running_long_margin": "10",
        "queued_long_minutes": "30",
        "cancel_stuck_minutes": "5",
        "service_thresholds-TOTAL_FORMS": "0",
        "service_thresholds-INITIAL_FORMS": "0",
        "service_thresholds-MIN_NUM_FORMS": "0",
        "service_thresholds-MAX_NUM_FORMS": "1000",
        "_save": "Save",
        **fields,
    }


# --- the settings module, read afresh ---------------------------------------------------------------------

SETTINGS_FILE = Path(__file__).resolve().parent.parent / "dashboard" / "settings.py"
ROOT = SETTINGS_FILE.parent.parent
OIDC_SETTINGS = {
    "OIDC_RP_CLIENT_ID": "gp-jobs-portal",
    "OIDC_RP_CLIENT_SECRET": "s3cret",
    "OIDC_OP_DISCOVERY_URL": "https://login.example.com/.well-known/openid-configuration",
    "OIDC_ROLE_MAP": "gis-ops:Operator,gis-viewers:Viewer,gis-admins:Site admin",
}
# Every variable the settings read that a developer's shell might hold (each also as <NAME>_FILE).
SETTINGS_VARIABLES = [
    "DJANGO_ALLOW_ASYNC_UNSAFE",  # set by the browser tests for their own process only
    "DJANGO_SECRET_KEY",
    "DJANGO_DEBUG",
    "DJANGO_PRODUCTION",
    "DJANGO_ALLOWED_HOSTS",
    "DATABASE_URL",
    "DATABASE_CONNECT_TIMEOUT",
    "REDIS_URL",
    "REDIS_TIMEOUT_MS",
    "TOKEN_ENCRYPTION_KEYS",
    "DJANGO_BEHIND_TLS_PROXY",
    *OIDC_SETTINGS,
    "OIDC_PROVIDER_NAME",
    "OIDC_ROLE_CLAIM",
    "OIDC_OP_TOKEN_ENDPOINT",
    "OIDC_OP_USER_ENDPOINT",
    "METRICS_TOKEN",
    "API_RATE_LIMIT_PER_MINUTE",
    "API_DOCS_PUBLIC",
    "METRICS_MAX_SERVICES",
    "METRICS_INCLUDE_RESTRICTED_SITES",
    "OIDC_RENEW_SECONDS",
    "OIDC_LINK_KEEPS_PASSWORD",
    "CELERY_BROKER_URL",
    "POLICY_TICK_SECONDS",
    "HISTORY_COLLECT_SECONDS",
    "HISTORY_RETENTION_DAYS",
    "ALERT_WEBHOOKS_ALLOW_HTTP",
    "ALERT_WEBHOOK_ALLOWED_NETWORKS",
    "ALERT_WEBHOOK_CA_BUNDLE",
    "ALERT_SITE_DOWN_MINUTES",
    "PORTAL_URL",
    "EMAIL_HOST",
    "EMAIL_PORT",
    "EMAIL_HOST_PASSWORD",
]


def load_settings() -> dict:
    return runpy.run_path(str(SETTINGS_FILE))


def check_deploy(tmp_path, **variables: str) -> subprocess.CompletedProcess:
    """`manage.py check --deploy` in a production environment of its own, plus the variables given."""
    from cryptography.fernet import Fernet

    env = {k: v for k, v in os.environ.items() if k not in SETTINGS_VARIABLES}
    env |= {
        "DJANGO_SETTINGS_MODULE": "dashboard.settings",
        "DJANGO_PRODUCTION": "1",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
        "TOKEN_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
        "DJANGO_ALLOWED_HOSTS": "jobs.example.com",
        "PORTAL_VAR_DIR": str(tmp_path),
        **variables,
    }
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def listen_to_ctrl_c() -> None:
    """For Popen(preexec_fn=…) of a program the test stops with Ctrl-C (SIGINT): a shell starts background
    commands with SIGINT ignored, and a suite run that way would pass it on; the program must not inherit it."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


METRICS_TOKEN = "scrape-me-0123456789"  # what the metrics_token fixture configures


def scrape(token: str = METRICS_TOKEN):
    return Client().get("/metrics", headers={"Authorization": f"Bearer {token}"})


def samples(body: str) -> dict[tuple[str, tuple], float]:
    """{(sample name, sorted labels): value} of an exposition, read by prometheus-client's parser."""
    found = {}
    for family in text_string_to_metric_families(body):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def value(found, name, **labels) -> float | None:
    return found.get((name, tuple(sorted(labels.items()))))
