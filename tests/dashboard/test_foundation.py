"""The portal's foundation: login everywhere, roles, health check, security headers, static files."""

import re
import subprocess
import sys

import pytest
from django.contrib.auth.models import Group
from django.test import Client
from django.urls import reverse

from tests.conftest import make_user
from tests.helpers import ROOT

SERVICE = {"slug": "main", "folder": "Hydrology", "name": "Watershed"}
JOB = {**SERVICE, "job_id": "j0123456789abcdef0123456789abcdef"}

PAGES = [
    reverse("jobs:overview"),
    reverse("jobs:site", kwargs={"slug": "main"}),
    reverse("jobs:token", kwargs={"slug": "main"}),
    reverse("jobs:job_list", kwargs=SERVICE),
    reverse("jobs:service_counts", kwargs=SERVICE),
    reverse("jobs:job", kwargs=JOB),
    reverse("jobs:audit"),
    reverse("jobs:audit_csv"),
    reverse("jobs:timezone"),
    reverse("password_change"),
]
ACTIONS = [
    reverse("jobs:cancel", kwargs=JOB),
    reverse("jobs:delete", kwargs=JOB),
    reverse("jobs:purge", kwargs=SERVICE),
    reverse("jobs:bulk", kwargs=SERVICE),
]


@pytest.mark.django_db
@pytest.mark.parametrize("url", PAGES)
def test_every_page_requires_login(url):
    response = Client().get(url)
    assert response.status_code == 302
    assert response.url.startswith(reverse("login") + "?next=")


@pytest.mark.django_db
@pytest.mark.parametrize("url", ACTIONS)
def test_every_action_requires_login(url):
    response = Client().post(url, {"confirmed": "yes", "action": "cancel", "job_ids": "j1"})
    assert response.status_code == 302
    assert response.url.startswith(reverse("login"))


@pytest.mark.django_db
def test_login_page_and_sign_in():
    make_user("olivia", "Operator")
    client = Client()
    page = client.get(reverse("login"))
    assert page.status_code == 200
    html = page.content.decode()
    assert 'name="username"' in html and 'name="password"' in html and 'type="password"' in html
    response = client.post(reverse("login"), {"username": "olivia", "password": "olivia-password"})
    assert response.status_code == 302 and response.url == reverse("jobs:overview")
    assert client.get(reverse("jobs:overview")).status_code == 200


@pytest.mark.django_db
def test_repeated_failed_logins_lock_the_account_out():
    make_user("olivia", "Operator")
    client = Client()
    for _ in range(5):
        client.post(reverse("login"), {"username": "olivia", "password": "wrong"})
    # Even the right password is refused while locked out.
    response = client.post(reverse("login"), {"username": "olivia", "password": "olivia-password"})
    assert response.status_code == 429
    assert "Too many failed sign-ins" in response.content.decode()
    assert "_auth_user_id" not in client.session


@pytest.mark.django_db
def test_roles_are_groups_with_cumulative_permissions():
    def perms(name):
        return {f"{p.content_type.app_label}.{p.codename}" for p in Group.objects.get(name=name).permissions.all()}

    viewer, operator, site_admin = perms("Viewer"), perms("Operator"), perms("Site admin")
    assert viewer == {"jobs.view_jobs", "jobs.view_site", "jobs.view_auditevent"}
    own_policies = {f"policies.{verb}_policy" for verb in ("view", "add", "change", "delete")}
    assert operator == viewer | {"jobs.operate_jobs"} | own_policies
    assert site_admin >= operator | {"jobs.add_site", "jobs.change_site", "jobs.delete_site"}
    assert site_admin >= {"policies.manage_all_policies", "policies.change_alertchannel", "policies.view_delivery"}
    # Nobody but superusers may change the audit trail.
    assert not any(p.endswith(("change_auditevent", "delete_auditevent", "add_auditevent")) for p in site_admin)


@pytest.mark.django_db
def test_outsider_without_role_sees_nothing(client_as, outsider):
    assert client_as(outsider).get(reverse("jobs:overview")).status_code == 403


@pytest.mark.django_db
def test_admin_is_open_to_site_admins_not_to_operators(client_as, site_admin, operator):
    assert client_as(site_admin).get(reverse("admin:jobs_site_changelist")).status_code == 200
    response = client_as(operator).get(reverse("admin:index"))
    assert response.status_code == 302 and reverse("admin:login") in response.url


@pytest.mark.django_db
def test_audit_events_cannot_be_changed_in_the_admin(client_as):
    root = make_user("root", is_superuser=True, is_staff=True)
    client = client_as(root)
    assert client.get(reverse("admin:jobs_auditevent_changelist")).status_code == 200
    assert client.get(reverse("admin:jobs_auditevent_add")).status_code == 403


@pytest.mark.django_db
def test_security_headers_and_csp(client_as, viewer):
    response = client_as(viewer).get(reverse("jobs:overview"))
    csp = response["Content-Security-Policy"]
    directives = dict(d.strip().split(" ", 1) for d in csp.split(";") if d.strip())
    assert directives["script-src"] == "'self'"
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert directives["frame-ancestors"] == "'none'"
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"


@pytest.mark.django_db
def test_pages_use_no_inline_script_and_no_cdn(client_as, viewer):
    html = client_as(viewer).get(reverse("jobs:overview")).content.decode()
    scripts = re.findall(r"<script([^>]*)>(.*?)</script>", html, re.S)
    assert scripts, "the page loads htmx and the portal's script"
    for attributes, body in scripts:
        assert 'src="/static/' in attributes, attributes
        assert body.strip() == ""
    assert not re.search(r"""(src|href)=["']https?://""", html)
    assert " style=" not in html
    assert '"includeIndicatorStyles": false' in html
    assert 'hx-headers=\'{"x-csrftoken": "' in html


@pytest.mark.django_db
@pytest.mark.parametrize(
    "path", ["/static/css/portal.css", "/static/js/portal.js", "/static/django_htmx/htmx-2.min.js"]
)
def test_static_files_are_served(path):
    response = Client().get(path)
    assert response.status_code == 200
    assert b"".join(response.streaming_content)


def test_collectstatic_writes_hashed_compressed_files_for_production(tmp_path):
    result = subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput", "-v0"],
        cwd=ROOT,
        env={
            "PATH": "/usr/bin:/bin",
            "DJANGO_SETTINGS_MODULE": "dashboard.settings",
            "DJANGO_STATIC_ROOT": str(tmp_path),
            "PORTAL_VAR_DIR": str(tmp_path / "var"),
        },
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    css = [p.name for p in (tmp_path / "css").iterdir()]
    assert any(re.fullmatch(r"portal\.[0-9a-f]{12}\.css", name) for name in css), css
    assert any(name.endswith(".css.gz") for name in css), css
    assert (tmp_path / "staticfiles.json").exists()
