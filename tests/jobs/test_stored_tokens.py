"""Stored ArcGIS tokens: encryption at rest and key rotation, the connect page (credentials or a
pasted token), expiry banners, disconnecting, and what happens when ArcGIS rejects a token."""

import re
from datetime import timedelta
from io import StringIO

import pytest
from cryptography.fernet import Fernet
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.test import override_settings
from django.urls import reverse
from django.utils import timezone

import arcgis_client
from jobs import stored_tokens
from jobs.crypto import TokenDecryptionError, decrypt_token, encrypt_token
from jobs.models import AuditEvent, Site, StoredToken
from jobs.targets import ServiceTarget
from tests.conftest import store_token
from tests.helpers import jobs_table, jobs_table_html

KEY_A = Fernet.generate_key().decode()
KEY_B = Fernet.generate_key().decode()
KEY_C = Fernet.generate_key().decode()
REFERER = "https://portal.example.org/"

pytestmark = pytest.mark.django_db


def token_url(site) -> str:
    return reverse("jobs:token", args=[site.slug])


def status_text(html: str) -> str:
    """The row's one role="status" element, markup included."""
    found = re.findall(r'<span role="status"[^>]*>(.*?)</span>', html, re.S)
    assert len(found) == 1, html
    return found[0]


def requests_of(simulator, operation: str):
    return [r for r in simulator.requests if r.operation == operation]


def connect_form(username="siteadmin", password="siteadmin", expiration="60", **extra) -> dict:
    return {"intent": "connect", "username": username, "password": password, "expiration": expiration, **extra}


# --- encryption at rest -------------------------------------------------------------------


def test_tokens_are_encrypted_under_the_first_key_and_decrypted_with_any(operator, site):
    with override_settings(TOKEN_ENCRYPTION_KEYS=[KEY_A, KEY_B]):
        stored = store_token(operator, site, "plain-token-value")
        ciphertext = bytes(StoredToken.objects.get(pk=stored.pk).ciphertext)
        assert b"plain-token-value" not in ciphertext
        assert Fernet(KEY_A).decrypt(ciphertext) == b"plain-token-value"
    # The second key alone cannot read it: it was encrypted under the first.
    with override_settings(TOKEN_ENCRYPTION_KEYS=[KEY_B]), pytest.raises(TokenDecryptionError):
        _ = StoredToken.objects.get(pk=stored.pk).token
    # Any configured key decrypts, wherever it is in the list.
    with override_settings(TOKEN_ENCRYPTION_KEYS=[KEY_C, KEY_B, KEY_A]):
        assert StoredToken.objects.get(pk=stored.pk).token == "plain-token-value"


def test_rotate_token_keys_reencrypts_everything_under_the_first_key(operator, second_operator, site):
    with override_settings(TOKEN_ENCRYPTION_KEYS=[KEY_A]):
        store_token(operator, site, "token-of-olivia")
        store_token(second_operator, site, "token-of-oscar")
    out = StringIO()
    with override_settings(TOKEN_ENCRYPTION_KEYS=[KEY_B, KEY_A]):
        call_command("rotate_token_keys", stdout=out)
    assert "Re-encrypted 2 stored token(s)" in out.getvalue()
    # Once rotated, the old key can be dropped...
    with override_settings(TOKEN_ENCRYPTION_KEYS=[KEY_B]):
        tokens = {t.user.username: t.token for t in StoredToken.objects.select_related("user")}
    assert tokens == {"olivia": "token-of-olivia", "oscar": "token-of-oscar"}
    # ...and the old key alone no longer reads anything.
    with override_settings(TOKEN_ENCRYPTION_KEYS=[KEY_A]):
        for stored in StoredToken.objects.all():
            with pytest.raises(TokenDecryptionError):
                _ = stored.token


def test_rotation_reports_tokens_no_key_can_read_and_rotates_the_rest(operator, second_operator, site):
    with override_settings(TOKEN_ENCRYPTION_KEYS=[KEY_C]):
        lost = store_token(second_operator, site, "token-under-a-lost-key")
    with override_settings(TOKEN_ENCRYPTION_KEYS=[KEY_A]):
        store_token(operator, site, "token-of-olivia")
    out = StringIO()
    with override_settings(TOKEN_ENCRYPTION_KEYS=[KEY_B, KEY_A]):
        with pytest.raises(CommandError) as failure:
            call_command("rotate_token_keys", stdout=out)
        assert "Re-encrypted 1 stored token(s)" in out.getvalue()
    assert "1 token(s) could not be decrypted" in str(failure.value)
    assert str(lost.pk) in str(failure.value) and "reconnect" in str(failure.value)
    with override_settings(TOKEN_ENCRYPTION_KEYS=[KEY_B]):
        assert StoredToken.objects.get(user=operator).token == "token-of-olivia"


def test_a_token_under_an_unknown_key_is_a_clear_error():
    with override_settings(TOKEN_ENCRYPTION_KEYS=[KEY_A]):
        ciphertext = encrypt_token("some-token")
    with override_settings(TOKEN_ENCRYPTION_KEYS=[KEY_B]), pytest.raises(TokenDecryptionError) as failure:
        decrypt_token(ciphertext)
    assert "TOKEN_ENCRYPTION_KEYS" in str(failure.value)
    assert "reconnect" in str(failure.value)
    assert ciphertext.decode() not in str(failure.value)


def test_an_undecryptable_token_asks_to_reconnect_and_is_never_sent(simulator, site, service, operator, client_as):
    job_id = simulator.state.add_job(service.key)
    with override_settings(TOKEN_ENCRYPTION_KEYS=[KEY_A]):
        stored = store_token(operator, site, simulator.issue_token("siteadmin", referer=site.effective_referer))
    ciphertext = bytes(StoredToken.objects.get(pk=stored.pk).ciphertext).decode()
    target = ServiceTarget(site, service)
    client = client_as(operator)
    simulator.requests.clear()
    with override_settings(TOKEN_ENCRYPTION_KEYS=[KEY_B]):
        page = jobs_table(client, target)
        row = client.action(target.url("cancel", job_id))
    assert page.status_code == 200
    assert "cannot be decrypted" in page.content.decode()
    assert f'href="{token_url(site)}' in page.content.decode()
    status = status_text(row.content.decode())
    assert "must reconnect" in status and f'href="{token_url(site)}"' in status
    assert ciphertext not in page.content.decode() + row.content.decode()
    # Nothing went upstream: in particular never the ciphertext in place of a token.
    assert list(simulator.requests) == []
    assert simulator.state.get_job(service.key, job_id)["status"] == arcgis_client.EXECUTING
    event = AuditEvent.objects.get(action=AuditEvent.Action.CANCEL)
    assert event.outcome == AuditEvent.Outcome.FAILED
    assert "cannot be decrypted" in event.message


def test_no_table_holds_a_token_in_plain_text(simulator, site, service, operator, client_as):
    client = client_as(operator)
    response = client.action(token_url(site), connect_form(), htmx=False)
    assert response.status_code == 302
    token = StoredToken.objects.get(user=operator, site=site).token
    assert len(token) > 20
    # The token really is in use: the portal's own later calls carry it.
    job_id = simulator.state.add_job(service.key)
    assert client.action(ServiceTarget(site, service).url("cancel", job_id)).status_code == 200
    assert requests_of(simulator, "cancel")[0].form["token"] == token

    dump = StringIO()
    call_command("dumpdata", stdout=dump)
    assert token not in dump.getvalue()
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names():
            cursor.execute(f"SELECT * FROM {connection.ops.quote_name(table)}")
            for row in cursor.fetchall():
                for value in row:
                    if isinstance(value, bytes | memoryview):
                        assert token.encode() not in bytes(value), table
                    else:
                        assert token not in str(value), table


# --- connecting with ArcGIS credentials -----------------------------------------------------


def test_connect_generates_a_token_bound_to_the_sites_referer(simulator, site, service, operator, client_as):
    site.referer = REFERER
    site.save()
    client = client_as(operator)
    response = client.action(token_url(site), connect_form(expiration="60"), htmx=False)
    assert response.status_code == 302 and response.url == token_url(site)

    [generate] = requests_of(simulator, "generateToken")
    assert generate.method == "POST"
    assert generate.form == {
        "username": "siteadmin",
        "password": "siteadmin",
        "client": "referer",
        "referer": REFERER,
        "expiration": "60",
        "f": "json",
    }
    stored = StoredToken.objects.get(user=operator, site=site)
    assert stored.source == StoredToken.GENERATED and stored.arcgis_username == "siteadmin"
    assert stored.invalid_since is None
    assert stored.expires == simulator.clock.now() + timedelta(minutes=60)

    # Later calls send that referer, and ArcGIS accepts the token.
    job_id = simulator.state.add_job(service.key)
    page = jobs_table_html(client, ServiceTarget(site, service))
    assert f'id="job-{job_id}"' in page
    [query] = requests_of(simulator, "query")
    assert query.headers["Referer"] == REFERER
    assert query.headers["X-Esri-Authorization"] == f"Bearer {stored.token}"

    event = AuditEvent.objects.get(action=AuditEvent.Action.CONNECT)
    assert (event.outcome, event.username, event.site_slug) == (AuditEvent.Outcome.SUCCESS, "olivia", "main")
    assert "as siteadmin" in event.message


def test_the_token_page_shows_who_is_connected_and_until_when(simulator, site, operator, client_as):
    client = client_as(operator)
    client.action(token_url(site), connect_form(expiration="1440"), htmx=False)
    stored = StoredToken.objects.get(user=operator, site=site)
    assert stored.expires == simulator.clock.now() + timedelta(minutes=1440)
    html = client.get(token_url(site)).content.decode()
    facts = html[html.index('<dl class="facts">') : html.index("</dl>")]
    assert "<dt>Connected as</dt><dd>siteadmin</dd>" in facts
    assert f'datetime="{stored.expires.strftime("%Y-%m-%dT%H:%M:%SZ")}"' in facts
    assert "usable" in facts
    assert ">Disconnect</button>" in html


def test_a_site_token_url_is_used_instead_of_the_admin_endpoint(simulator, site, operator, client_as):
    site.token_url = simulator.token_url
    site.save()
    response = client_as(operator).action(token_url(site), connect_form(), htmx=False)
    assert response.status_code == 302
    [generate] = requests_of(simulator, "generateToken")
    assert generate.path == "/arcgis/tokens/generateToken"
    assert generate.form["client"] == "referer" and generate.form["referer"] == site.effective_referer
    assert StoredToken.objects.filter(user=operator, site=site).exists()


def test_wrong_credentials_show_the_servers_message_and_store_nothing(simulator, site, operator, client_as):
    response = client_as(operator).action(token_url(site), connect_form(password="not-the-password"), htmx=False)
    assert response.status_code == 200
    html = response.content.decode()
    assert "Unable to generate token." in html and "Invalid username or password." in html
    assert not StoredToken.objects.exists()
    event = AuditEvent.objects.get(action=AuditEvent.Action.CONNECT)
    assert (event.outcome, event.upstream_code) == (AuditEvent.Outcome.REFUSED, 400)
    assert "Invalid username or password." in event.message
    assert event.finished is not None


def test_a_failed_reconnect_keeps_the_token_that_works(simulator, site, operator, client_as, connect):
    connect(operator, site)
    before = StoredToken.objects.get(user=operator, site=site).token
    client_as(operator).action(token_url(site), connect_form(password="wrong"), htmx=False)
    assert StoredToken.objects.get(user=operator, site=site).token == before


def test_a_token_bound_to_another_referer_is_rejected(simulator, site, service, operator, client_as):
    store_token(operator, site, simulator.issue_token("siteadmin", referer="https://elsewhere.example/"))
    simulator.state.add_job(service.key)
    html = jobs_table_html(client_as(operator), ServiceTarget(site, service))
    assert "Invalid token, ClientID does not match." in html
    assert f'href="{token_url(site)}' in html
    assert StoredToken.objects.get(user=operator, site=site).invalid_since is not None


# --- pasting a token ------------------------------------------------------------------------


def test_a_pasted_token_is_checked_against_arcgis_then_stored(simulator, site, operator, client_as):
    token = simulator.issue_token("siteadmin", referer=site.effective_referer)
    response = client_as(operator).action(token_url(site), {"intent": "paste", "token": token}, htmx=False)
    assert response.status_code == 302
    [check] = requests_of(simulator, "services")
    assert check.headers["X-Esri-Authorization"] == f"Bearer {token}"
    stored = StoredToken.objects.get(user=operator, site=site)
    assert stored.token == token and stored.source == StoredToken.PASTED
    event = AuditEvent.objects.get(action=AuditEvent.Action.CONNECT)
    assert event.outcome == AuditEvent.Outcome.SUCCESS


@pytest.mark.parametrize("token", ["NotATokenThisServerIssued", "has spaces and <markup>"])
def test_a_bad_pasted_token_is_refused(simulator, site, operator, client_as, token):
    response = client_as(operator).action(token_url(site), {"intent": "paste", "token": token}, htmx=False)
    assert response.status_code == 200
    html = response.content.decode()
    assert "Invalid token." in html or "does not look like an ArcGIS token" in html
    assert not StoredToken.objects.exists()
    assert token not in html


def test_a_pasted_token_arcgis_rejects_is_audited_as_failed(simulator, site, operator, client_as):
    client_as(operator).action(token_url(site), {"intent": "paste", "token": "ForgedToken123"}, htmx=False)
    event = AuditEvent.objects.get(action=AuditEvent.Action.CONNECT)
    assert event.outcome == AuditEvent.Outcome.FAILED and event.upstream_code == 498
    assert "ForgedToken123" not in event.message


# --- expiry, disconnecting, rejection ---------------------------------------------------------


def test_a_banner_warns_when_the_token_expires_within_the_hour(simulator, site, service, operator, client_as, connect):
    connect(operator, site, expires=timezone.now() + timedelta(minutes=20))
    client = client_as(operator)
    for url in (token_url(site), ServiceTarget(site, service).url("job_list")):
        html = client.get(url).content.decode()
        assert 'class="banner banner-warning"' in html, url
        assert "expires at" in html and "Renew it" in html


def test_no_banner_while_the_token_has_hours_left(simulator, site, service, operator, client_as, connect):
    connect(operator, site, expires=timezone.now() + timedelta(hours=3))
    html = jobs_table_html(client_as(operator), ServiceTarget(site, service))
    assert "banner" not in html


def test_an_expired_token_is_reported_and_not_used(simulator, site, service, operator, client_as, connect):
    connect(operator, site, expires=timezone.now() - timedelta(minutes=1))
    job_id = simulator.state.add_job(service.key)
    client = client_as(operator)
    simulator.requests.clear()
    page = client.get(ServiceTarget(site, service).url("job_list")).content.decode()
    assert 'class="banner banner-error"' in page and "has expired" in page
    assert "Your ArcGIS token has expired." in jobs_table_html(client, ServiceTarget(site, service))
    row = client.action(ServiceTarget(site, service).url("cancel", job_id)).content.decode()
    assert "expired" in status_text(row) and f'href="{token_url(site)}"' in status_text(row)
    assert list(simulator.requests) == []
    token_page = client.get(token_url(site)).content.decode()
    assert "<dt>State</dt><dd>expired</dd>" in token_page


def test_disconnect_deletes_the_token(simulator, site, operator, client_as, connect):
    connect(operator, site)
    client = client_as(operator)
    response = client.action(token_url(site), {"intent": "disconnect"}, htmx=False)
    assert response.status_code == 302
    assert not StoredToken.objects.filter(user=operator).exists()
    assert "You are not connected" in client.get(token_url(site)).content.decode()
    event = AuditEvent.objects.get(action=AuditEvent.Action.DISCONNECT)
    assert event.outcome == AuditEvent.Outcome.SUCCESS and "token was deleted" in event.message


def test_disconnect_only_removes_the_users_own_token(simulator, site, operator, second_operator, client_as, connect):
    connect(operator, site)
    connect(second_operator, site)
    client_as(operator).action(token_url(site), {"intent": "disconnect"}, htmx=False)
    assert list(StoredToken.objects.values_list("user__username", flat=True)) == ["oscar"]


def test_a_rejected_token_is_marked_invalid_and_not_used_again(simulator, site, service, operator, client_as, connect):
    connect(operator, site)
    job_id = simulator.state.add_job(service.key)
    target = ServiceTarget(site, service)
    client = client_as(operator)
    simulator.faults.set("expire_tokens")

    first = status_text(client.action(target.url("cancel", job_id)).content.decode())
    assert "Invalid token." in first
    assert f'href="{token_url(site)}"' in first and "Reconnect" in first
    assert StoredToken.objects.get(user=operator).invalid_since is not None
    rejected = AuditEvent.objects.get()
    assert (rejected.outcome, rejected.upstream_code) == (AuditEvent.Outcome.FAILED, 498)

    # The server would accept the token again, but the portal does not try: the operator must reconnect.
    simulator.faults.clear()
    simulator.requests.clear()
    second = status_text(client.action(target.url("cancel", job_id)).content.decode())
    assert "reconnect" in second.lower() and f'href="{token_url(site)}"' in second
    assert list(simulator.requests) == []
    assert simulator.state.get_job(service.key, job_id)["status"] == arcgis_client.EXECUTING
    latest = AuditEvent.objects.first()
    assert latest.pk != rejected.pk and latest.outcome == AuditEvent.Outcome.FAILED
    assert "rejected your token" in latest.message
    assert "ArcGIS rejected your token" in jobs_table_html(client, target)


def test_reconnecting_clears_the_rejection(simulator, site, service, operator, client_as, connect):
    connect(operator, site, invalid_since=timezone.now())
    client = client_as(operator)
    client.action(token_url(site), connect_form(), htmx=False)
    stored = StoredToken.objects.get(user=operator, site=site)
    assert stored.invalid_since is None and stored.is_usable
    job_id = simulator.state.add_job(service.key)
    row = client.action(ServiceTarget(site, service).url("cancel", job_id)).content.decode()
    assert "Cancel requested" in status_text(row)


# --- TLS ------------------------------------------------------------------------------------------


def test_connecting_verifies_the_certificate_with_the_sites_ca_bundle(tls_simulator, operator, client_as):
    admin_url = tls_simulator.admin_url
    trusted = Site.objects.create(
        slug="trusted", name="Trusted", admin_url=admin_url, ca_bundle=tls_simulator.cert_path.read_text()
    )
    unverified = Site.objects.create(slug="unverified", name="Unverified", admin_url=admin_url)
    insecure = Site.objects.create(slug="insecure", name="Test server", admin_url=admin_url, insecure=True)
    client = client_as(operator)
    assert client.action(token_url(trusted), connect_form(), htmx=False).status_code == 302
    assert client.action(token_url(insecure), connect_form(), htmx=False).status_code == 302

    response = client.action(token_url(unverified), connect_form(), htmx=False)
    assert response.status_code == 200
    assert "certificate could not be verified" in response.content.decode()
    assert sorted(StoredToken.objects.values_list("site__slug", flat=True)) == ["insecure", "trusted"]
    # The password never reached a server whose certificate was not trusted.
    assert len([r for r in tls_simulator.requests if r.operation == "generateToken"]) == 2
    failed = AuditEvent.objects.get(site_slug="unverified")
    assert failed.outcome == AuditEvent.Outcome.FAILED and "certificate" in failed.message


def test_a_token_connected_while_a_rejected_call_ran_is_not_marked(site, operator, connect):

    call_started = timezone.now() - timedelta(seconds=5)
    fresh = connect(operator, site)  # reconnected after the call that ArcGIS rejected had begun
    stored_tokens.mark_rejected(operator, site, call_started)
    fresh.refresh_from_db()
    assert fresh.invalid_since is None
    stored_tokens.mark_rejected(operator, site, timezone.now())
    fresh.refresh_from_db()
    assert fresh.invalid_since is not None


def test_an_administrator_removing_a_token_is_an_audited_disconnect(site, operator, connect, client_as):
    from tests.conftest import make_user

    stored = connect(operator, site)
    root = make_user("root", is_superuser=True, is_staff=True)
    admin = client_as(root)
    url = reverse("admin:jobs_storedtoken_delete", args=[stored.pk])
    response = admin.post(url, {"post": "yes"}, headers={"X-CSRFToken": admin.csrf_token})
    assert response.status_code == 302
    assert not StoredToken.objects.filter(pk=stored.pk).exists()
    event = AuditEvent.objects.get(action="disconnect")
    assert (event.user, event.via, event.outcome) == (root, "admin", "success")
    assert event.message == "Removed the token of olivia for Main site."


def test_a_token_is_read_once_per_process_and_every_change_to_it_counts_at_the_next_request(
    simulator, site, service, operator, client_as, connect, django_assert_num_queries
):
    """Each process keeps the token rows it read (jobs.stored_tokens), under a generation any change replaces."""
    connect(operator, site)
    user = type(operator).objects.get(pk=operator.pk)
    kept = stored_tokens.stored_token(user, site)
    with django_assert_num_queries(0):
        again = stored_tokens.stored_token(user, site)
    assert again == kept and again is not kept  # the same row, each request's own copy
    client, target = client_as(operator), ServiceTarget(site, service)
    job_id = simulator.state.add_job(service.key)
    assert "Jobs 1–1 of 1" in jobs_table_html(client, target)
    StoredToken.objects.filter(user=operator).delete()  # as an address change revokes every token of a site
    simulator.requests.clear()
    assert "You have no ArcGIS token" in status_text(client.action(target.url("cancel", job_id)).content.decode())
    assert list(simulator.requests) == []
    connect(operator, site)
    assert "Jobs 1–1 of 1" in jobs_table_html(client, target)
