"""Secrets stay secret: no ArcGIS token or password in any rendered page, log record, audit row or
database row, and the password field is never filled back in."""

import logging
import re
import traceback
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection
from django.urls import reverse

from arcgis_simulator import ManualClock, Simulator
from arcgis_simulator.token_store import User
from jobs.models import AuditEvent, StoredToken
from jobs.targets import ServiceTarget
from tests.conftest import make_user

PASSWORD = "Correct-Horse-Battery-Staple-42"
PASTED = "PastedTokenTheServerNeverIssued0123456789"

pytestmark = pytest.mark.django_db


@pytest.fixture
def simulator():
    """The site's administrator has a password unlike any other word the portal shows."""
    with Simulator("empty", clock=ManualClock(), users=[User("siteadmin", PASSWORD, admin=True)]) as sim:
        yield sim


@pytest.fixture
def superuser(db):
    return make_user("root", is_superuser=True, is_staff=True)


def token_url(site) -> str:
    return reverse("jobs:token", args=[site.slug])


def connect_through_the_page(client, site, password=PASSWORD):
    data = {"intent": "connect", "username": "siteadmin", "password": password, "expiration": "60"}
    return client.action(token_url(site), data, htmx=False)


def assert_no_secret(text: str, secrets: list[str], where: str) -> None:
    for secret in secrets:
        assert secret not in text, f"a secret appears in {where}"


def body_of(response) -> str:
    content = b"".join(response.streaming_content) if response.streaming else response.content
    cookies = " ".join(morsel.value for morsel in response.cookies.values())
    headers = " ".join(f"{name}: {value}" for name, value in response.items())
    return f"{headers}\n{cookies}\n{content.decode()}"


def input_tags(html: str, name: str) -> list[str]:
    return [tag for tag in re.findall(r"<input[^>]*>", html) if f'name="{name}"' in tag]


# --- pages ------------------------------------------------------------------------------------


def test_no_page_shows_a_token_or_password(
    simulator, site, service, operator, viewer, site_admin, superuser, outsider, client_as
):
    clients = {user.username: client_as(user) for user in (operator, viewer, site_admin, superuser, outsider)}
    for name in ("olivia", "victor", "sam", "root"):
        assert connect_through_the_page(clients[name], site).status_code == 302
    tokens = [t.token for t in StoredToken.objects.all()]
    ciphertexts = [bytes(t.ciphertext).decode() for t in StoredToken.objects.all()]
    secrets = [PASSWORD, *tokens, *ciphertexts]
    assert len(set(tokens)) == 4

    target = ServiceTarget(site, service)
    running = simulator.state.add_job(service.key)
    finished = simulator.state.add_job(service.key, status="esriJobSucceeded")
    pages = [
        reverse("jobs:overview"),
        reverse("jobs:site", args=[site.slug]),
        token_url(site),
        target.url("job_list"),
        target.url("service_counts"),
        target.url("job", running),
        reverse("jobs:audit"),
        reverse("jobs:audit_csv"),
        reverse("jobs:site", args=["no-such-site"]),  # the 404 page
        reverse("admin:index"),
        reverse("admin:jobs_storedtoken_changelist"),
        reverse("admin:jobs_storedtoken_change", args=[StoredToken.objects.first().pk]),
        reverse("admin:jobs_auditevent_changelist"),
    ]
    for name, client in clients.items():
        # Actions first, so the pages below show their outcomes and audit rows.
        answers = [
            client.action(target.url("cancel", finished)),  # refused
            client.action(target.url("delete", running), htmx=False),  # the confirmation page
            client.action(target.url("purge"), {"confirmed": "yes"}),
        ]
        for response in answers:
            assert_no_secret(body_of(response), secrets, f"{name}'s action answer")
        for url in pages:
            for response in (client.get(url), client.htmx_get(url)):
                assert response.status_code in (200, 302, 403, 404), url
                assert_no_secret(body_of(response), secrets, f"{url} as {name}")
    # The pages checked above did show the work: the refusal and the connection, just no secrets.
    html = clients["olivia"].get(reverse("jobs:audit")).content.decode()
    assert f"Unable to cancel job :[{finished}]" in html and "Connected to Main site as siteadmin" in html


def test_a_rejected_token_is_not_shown_either(simulator, site, service, operator, client_as):
    client = client_as(operator)
    connect_through_the_page(client, site)
    token = StoredToken.objects.get().token
    job_id = simulator.state.add_job(service.key)
    simulator.faults.set("expire_tokens")
    target = ServiceTarget(site, service)
    for response in (
        client.action(target.url("cancel", job_id)),
        client.get(target.url("job_list")),
        client.htmx_get(target.url("job", job_id)),
        client.get(token_url(site)),
    ):
        assert_no_secret(body_of(response), [token, PASSWORD], response.request["PATH_INFO"])
    assert "Invalid token." in client.get(reverse("jobs:audit")).content.decode()


# --- the connect form -------------------------------------------------------------------------


def test_the_password_field_is_a_password_input_and_never_filled_back_in(simulator, site, operator, client_as):
    client = client_as(operator)
    [empty] = input_tags(client.get(token_url(site)).content.decode(), "password")
    assert 'type="password"' in empty and "value=" not in empty

    response = connect_through_the_page(client, site, password=PASSWORD + "-typo")
    html = response.content.decode()
    assert response.status_code == 200 and "Invalid username or password." in html
    [again] = input_tags(html, "password")
    assert 'type="password"' in again and "value=" not in again
    assert PASSWORD not in html  # not even the mistyped one, which contains it
    # The username is kept, so only the password has to be typed again.
    [username] = input_tags(html, "username")
    assert 'value="siteadmin"' in username


def test_a_refused_pasted_token_is_not_filled_back_in(simulator, site, operator, client_as):
    client = client_as(operator)
    response = client.action(token_url(site), {"intent": "paste", "token": PASTED}, htmx=False)
    html = response.content.decode()
    assert "Invalid token." in html
    [field] = input_tags(html, "token")
    assert 'type="password"' in field and "value=" not in field
    assert PASTED not in html


# --- logs, audit rows and the database --------------------------------------------------------


def record_text(record: logging.LogRecord) -> str:
    parts = [record.getMessage(), repr(record.args), str(record.msg)]
    if record.exc_info:
        parts.append("".join(traceback.format_exception(*record.exc_info)))
    parts += [str(value) for value in vars(record).values()]
    return "\n".join(parts)


def test_no_log_record_holds_a_token_or_password(simulator, site, service, operator, client_as, caplog):
    # Everything, including the HTTP library's and the database's DEBUG lines.
    for logger in (None, "urllib3", "django", "django.db.backends", "jobs", "axes"):
        caplog.set_level(logging.DEBUG, logger=logger)
    connection.force_debug_cursor = True
    try:
        client = client_as(operator)
        connect_through_the_page(client, site, password="not-" + PASSWORD)  # a failed attempt
        connect_through_the_page(client, site)
        client.action(token_url(site), {"intent": "paste", "token": PASTED}, htmx=False)
        target = ServiceTarget(site, service)
        job_id = simulator.state.add_job(service.key)
        client.get(target.url("job_list"))
        client.action(target.url("cancel", job_id))  # succeeds
        client.action(target.url("cancel", job_id))  # refused: already cancelling
        simulator.faults.set("expire_tokens")
        client.action(target.url("delete", job_id), {"confirmed": "yes"})  # the token is rejected
    finally:
        connection.force_debug_cursor = False
    token = StoredToken.objects.get().token
    texts = [record_text(record) for record in caplog.records]
    # The logs did record the work: the requests, the queries and the audit lines.
    assert any(r.name.startswith("urllib3") and "generateToken" in r.getMessage() for r in caplog.records)
    assert any("jobs_auditevent" in text for text in texts)
    assert any("audit user=olivia action=cancel" in text for text in texts)
    for text in texts:
        assert_no_secret(text, [token, PASSWORD, PASTED], "a log record")


def test_no_audit_row_or_table_holds_a_secret(simulator, site, service, operator, client_as):
    client = client_as(operator)
    connect_through_the_page(client, site, password=PASSWORD + "!")
    connect_through_the_page(client, site)
    client.action(token_url(site), {"intent": "paste", "token": PASTED}, htmx=False)
    job_id = simulator.state.add_job(service.key)
    client.action(ServiceTarget(site, service).url("cancel", job_id))
    token = StoredToken.objects.get().token
    secrets = [token, PASSWORD, PASTED]

    assert AuditEvent.objects.filter(action="connect").count() == 3
    for event in AuditEvent.objects.all():
        assert_no_secret(" ".join(str(value) for value in vars(event).values()), secrets, "an audit row")

    dump = StringIO()
    call_command("dumpdata", stdout=dump)
    assert_no_secret(dump.getvalue(), secrets, "dumpdata")
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names():
            cursor.execute(f"SELECT * FROM {connection.ops.quote_name(table)}")
            for row in cursor.fetchall():
                for value in row:
                    text = bytes(value).decode("latin-1") if isinstance(value, bytes | memoryview) else str(value)
                    assert_no_secret(text, secrets, f"table {table}")


def test_the_password_goes_to_generate_token_only(simulator, site, service, operator, client_as):
    client = client_as(operator)
    connect_through_the_page(client, site)
    job_id = simulator.state.add_job(service.key)
    client.action(ServiceTarget(site, service).url("cancel", job_id))
    carrying = [r.operation for r in simulator.requests if PASSWORD in str(r.to_json())]
    assert carrying == ["generateToken"]
    [generate] = [r for r in simulator.requests if r.operation == "generateToken"]
    assert generate.method == "POST" and PASSWORD not in generate.raw_path and not generate.query
