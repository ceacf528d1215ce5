"""A site admin sets the monitoring account: `addsite --monitor-user` (the password from standard input, never the
command line) or `--monitor-token-stdin`, and the Django admin (a password field, the secret never shown again)."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse

from history import collector
from history.models import MonitoringAccount
from jobs.models import AuditEvent

ADMIN_URL = "https://north.example.com:6443/arcgis/admin"


def addsite(*args, stdin: str = "") -> str:
    out = StringIO()
    call_command("addsite", *args, stdin=StringIO(stdin), stdout=out, stderr=StringIO())
    return out.getvalue()


def test_addsite_reads_the_monitoring_password_from_standard_input(site_admin):
    out = addsite("north", ADMIN_URL, "--user", "sam", "--monitor-user", "reader", stdin="pa ss word\n")
    assert out.splitlines() == [
        f"Registered site north: {ADMIN_URL}",
        "Monitoring account set: reader (its password is kept encrypted).",
    ]
    account = MonitoringAccount.objects.get(site__slug="north")
    assert (account.kind, account.username, account.secret) == ("password", "reader", "pa ss word")
    assert b"pa ss word" not in bytes(account.secret_ciphertext)
    messages = list(AuditEvent.objects.order_by("id").values_list("via", "message"))
    assert messages[-1] == (
        "cli",
        "Set the monitoring account: the ArcGIS account “reader” (its password is kept encrypted).",
    )
    assert not any("pa ss word" in message for _, message in messages)


def test_addsite_takes_a_token_from_standard_input_and_replaces_the_account(site_admin):
    addsite("north", ADMIN_URL, "--user", "sam", "--monitor-user", "reader", stdin="secret\n")
    out = addsite("north", ADMIN_URL, "--user", "sam", "--monitor-token-stdin", stdin="tok-42\n")
    assert out.splitlines()[-1] == "Monitoring account set: a token (kept encrypted)."
    account = MonitoringAccount.objects.get(site__slug="north")
    assert (account.kind, account.username, account.secret) == ("token", "", "tok-42")
    # Without those options, the account stays as it is.
    addsite("north", ADMIN_URL, "--user", "sam", "--name", "North")
    assert MonitoringAccount.objects.get(site__slug="north").secret == "tok-42"


def test_addsite_never_takes_the_password_on_the_command_line(site_admin):
    with pytest.raises(CommandError, match="unrecognized arguments"):
        addsite("north", ADMIN_URL, "--user", "sam", "--monitor-user", "reader", "--monitor-password", "x")
    with pytest.raises(CommandError, match="reader's password is read from standard input, and none came"):
        addsite("north", ADMIN_URL, "--user", "sam", "--monitor-user", "reader", stdin="")
    with pytest.raises(CommandError, match="not allowed with argument"):
        addsite("north", ADMIN_URL, "--monitor-user", "reader", "--monitor-token-stdin", stdin="x\n")
    # Nothing was saved: not the site either.
    assert not MonitoringAccount.objects.exists() and not AuditEvent.objects.exists()


def test_addsite_with_a_monitoring_account_is_collected_at_once(simulator, site_admin, service):
    simulator.state.add_job(service.key, status="esriJobExecuting")
    addsite("sim", simulator.admin_url, "--insecure", "--user", "sam", "--monitor-user", "publisher", stdin="publisher")
    assert collector.collect(collector.monitored_sites())[0].tally.new == 1


# --- the Django admin ----------------------------------------------------------------------------------------


def account_form(client, **fields) -> dict:
    return {"csrfmiddlewaretoken": client.csrf_token, "username": "", "secret": "", **fields}


def test_a_site_admin_sets_and_replaces_it_in_the_admin_never_seeing_it_again(site, site_admin, client_as):
    admin = client_as(site_admin)
    add = reverse("admin:history_monitoringaccount_add")
    page = admin.get(add).content.decode()
    assert 'type="password" name="secret"' in page
    response = admin.post(add, account_form(admin, site=site.pk, username="reader", secret="Sup3r-secret"))
    assert response.status_code == 302, response.content.decode()
    account = MonitoringAccount.objects.get(site=site)
    assert (account.kind, account.username, account.secret) == ("password", "reader", "Sup3r-secret")
    change = reverse("admin:history_monitoringaccount_change", args=[account.pk])
    page = admin.get(change).content.decode()
    assert "Sup3r-secret" not in page and 'type="password" name="secret"' in page and "How it fares" in page
    # Saved again without a secret: kept as it is.
    assert admin.post(change, account_form(admin, username="reader")).status_code == 302
    assert MonitoringAccount.objects.get(site=site).secret == "Sup3r-secret"
    # Another username needs its password.
    page = admin.post(change, account_form(admin, username="other")).content.decode()
    assert "A new username needs its password" in page
    # A token instead.
    assert admin.post(change, account_form(admin, secret="tok-123")).status_code == 302
    account = MonitoringAccount.objects.get(site=site)
    assert (account.kind, account.username, account.secret) == ("token", "", "tok-123")
    messages = list(AuditEvent.objects.filter(action="site_change").order_by("id").values_list("via", "message"))
    assert messages == [
        ("admin", "Set the monitoring account: the ArcGIS account “reader” (its password is kept encrypted)."),
        ("admin", "Replaced the monitoring account: a pasted token."),
    ]
    delete = reverse("admin:history_monitoringaccount_delete", args=[account.pk])
    assert admin.post(delete, {"csrfmiddlewaretoken": admin.csrf_token, "post": "yes"}).status_code == 302
    assert not MonitoringAccount.objects.exists()
    assert AuditEvent.objects.filter(message="Removed the monitoring account.").exists()


def test_a_new_account_needs_its_secret(site, site_admin, client_as):
    admin = client_as(site_admin)
    page = admin.post(reverse("admin:history_monitoringaccount_add"), account_form(admin, site=site.pk)).content
    assert "Enter the account&#x27;s password, or a token." in page.decode()
    assert not MonitoringAccount.objects.exists()


def test_a_site_admin_sees_only_the_accounts_of_sites_they_may_see(site, hidden_site, site_admin, client_as, superuser):
    from history import monitoring

    monitoring.set_account(hidden_site, superuser, token="hidden-token", via=AuditEvent.Via.CLI)
    admin = client_as(site_admin)
    listing = admin.get(reverse("admin:history_monitoringaccount_changelist")).content.decode()
    assert "Secret Site" not in listing
    hidden = MonitoringAccount.objects.get(site=hidden_site)
    assert admin.get(reverse("admin:history_monitoringaccount_change", args=[hidden.pk])).status_code == 302
    add = admin.get(reverse("admin:history_monitoringaccount_add")).content.decode()
    assert "Secret Site" not in add and "Main site" in add
