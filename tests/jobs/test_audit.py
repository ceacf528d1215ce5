"""The audit trail: every state-changing action is recorded before ArcGIS is called and completed
after; rows are append-only; /audit/ lists, filters and pages them; /audit.csv exports them."""

import csv
import re
import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.urls import reverse

from jobs import audit, operations
from jobs.models import AuditEvent, Site
from jobs.targets import ServiceTarget
from tests.conftest import make_user

T0 = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
# The export's header, as a spreadsheet's first line shows it: everything an audit row holds.
HEADER = (
    "created,finished,username,site_slug,site_name,service,job_id,action,via,via_detail,outcome,message,"
    "upstream_code,duration_ms"
)
COLUMNS = HEADER.split(",")


def token_url(site) -> str:
    return reverse("jobs:token", args=[site.slug])


def add_event(minute: int, message: str, **fields) -> AuditEvent:
    """A row as the portal writes it: about the site that has its slug today (rows follow the site)."""
    values = {
        "created": T0 + timedelta(minutes=minute),
        "finished": T0 + timedelta(minutes=minute, seconds=1),
        "username": "olivia",
        "site_slug": "main",
        "service": "Hydrology/Watershed",
        "job_id": "",
        "action": AuditEvent.Action.CANCEL,
        "outcome": AuditEvent.Outcome.SUCCESS,
        "message": message,
        **fields,
    }
    values.setdefault("site", Site.objects.filter(slug=values["site_slug"]).first())
    return AuditEvent.objects.create(**values)


def messages_on_page(html: str) -> list[str]:
    return re.findall(r"<td[^>]*>(msg-[\w-]+)</td>", html)


def csv_rows(response) -> list[list[str]]:
    assert response.streaming
    return list(csv.reader(b"".join(response.streaming_content).decode().splitlines()))


# --- written before ArcGIS is called, completed after -----------------------------------------

# (action, the simulator operation it calls) for every action that goes upstream.
UPSTREAM = [
    ("cancel", "cancel"),
    ("delete", "delete"),
    ("purge", "purgeQueue"),
    ("bulk", "cancel"),
    ("connect", "generateToken"),
]


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
@pytest.mark.parametrize(("action", "operation"), UPSTREAM)
def test_the_audit_row_is_pending_while_arcgis_is_called(
    simulator, site, service, operator, connect, client_as, action, operation
):
    connect(operator, site)
    job_ids = [simulator.state.add_job(service.key) for _ in range(3)]
    target = ServiceTarget(site, service)
    posts = {
        "cancel": (target.url("cancel", job_ids[0]), {}),
        "delete": (target.url("delete", job_ids[0]), {"confirmed": "yes"}),
        "purge": (target.url("purge"), {"confirmed": "yes"}),
        "bulk": (target.url("bulk"), {"action": "cancel", "confirmed": "yes", "job_ids": job_ids}),
        "connect": (token_url(site), {"intent": "connect", "username": "siteadmin", "password": "siteadmin"}),
    }
    # The first upstream call of the action hangs until the simulator stops.
    simulator.faults.set("stall", operation=operation, count=1, seconds=60)
    seen: dict[str, list] = {}

    def look_while_arcgis_is_called():
        try:
            deadline = time.monotonic() + 20
            while not any(r.operation == operation for r in simulator.requests):
                if time.monotonic() > deadline:
                    return
                time.sleep(0.01)
            seen["events"] = list(AuditEvent.objects.values_list("action", "outcome", "finished"))
        finally:
            connection.close()  # this thread's own connection
            simulator.stop()  # the stalled call ends with a dropped connection

    watcher = threading.Thread(target=look_while_arcgis_is_called)
    watcher.start()
    url, data = posts[action]
    started = time.monotonic()
    response = client_as(operator).action(url, {"expiration": "60", **data})
    watcher.join(timeout=30)
    assert response.status_code in (200, 302)
    assert time.monotonic() - started < 30, "the stalled call was not cut short"

    audited = "cancel" if action == "bulk" else action
    expected_rows = 3 if action == "bulk" else 1
    assert seen["events"] == [(audited, "pending", None)] * expected_rows
    # Completed afterwards, the call that never got an answer as failed. (A bulk's other cancels may or
    # may not have been answered before the simulator stopped; either way none stays pending.)
    for event in AuditEvent.objects.all():
        assert event.outcome != AuditEvent.Outcome.PENDING
        assert event.finished is not None and event.message
        assert event.duration_ms is not None
    assert AuditEvent.objects.filter(outcome=AuditEvent.Outcome.FAILED).exists()


@pytest.mark.django_db
def test_a_bulks_rows_are_written_as_one_row_is(site, operator):
    """A bulk's pending rows (written many at once, their shared values prepared once) hold what a single row does,
    each with its own service, job ID and key; completed, they read back as completed."""
    [single] = audit.begin(operator, site, "cancel", "bulk", [("Hydrology/Watershed", "j1")], via_detail="x" * 300)
    targets = [(f"Folder/Service{i % 3}", f"j{i:04d}") for i in range(1200)]  # more than one INSERT's worth
    events = audit.begin(operator, site, "cancel", "bulk", targets, via_detail="x" * 300)
    stored = {(e.service, e.job_id): e for e in AuditEvent.objects.exclude(pk=single.pk)}
    assert sorted(stored) == sorted(targets) and {(e.service, e.job_id) for e in events} == set(targets)
    assert all(stored[(e.service, e.job_id)].pk == e.pk for e in events)
    same = ("user_id", "username", "site_id", "site_slug", "site_name", "action", "via", "via_detail", "outcome")
    fresh = AuditEvent.objects.get(pk=single.pk)
    for event in stored.values():
        assert [getattr(event, name) for name in same] == [getattr(fresh, name) for name in same]
        assert event.outcome == AuditEvent.Outcome.PENDING and event.finished is None and event.message == ""
        assert abs(event.created - fresh.created) < timedelta(seconds=5)
    audit.complete(events, [audit.Completion(AuditEvent.Outcome.SUCCESS, "Cancel requested", None, 0.02)] * 1200)
    assert set(AuditEvent.objects.exclude(pk=single.pk).values_list("outcome", "message", "duration_ms")) == {
        (AuditEvent.Outcome.SUCCESS, "Cancel requested", 20)
    }


def test_a_successful_action_completes_its_row(simulator, site, service, operator, connect, client_as):
    connect(operator, site)
    job_id = simulator.state.add_job(service.key)
    simulator.faults.set("latency", operation="cancel", ms=200)
    client_as(operator).action(ServiceTarget(site, service).url("cancel", job_id))
    event = AuditEvent.objects.get()
    assert (event.user, event.username, event.site, event.site_slug) == (operator, "olivia", site, "main")
    assert (event.service, event.job_id, event.action, event.via) == ("Hydrology/Watershed", job_id, "cancel", "web")
    assert (event.outcome, event.message, event.upstream_code) == ("success", "Cancel requested", None)
    assert event.finished >= event.created
    assert event.duration_ms >= 200  # it measured the upstream call


@pytest.mark.django_db
def test_a_refusal_is_recorded_with_the_servers_words_and_code(simulator, site, service, operator, connect, client_as):
    connect(operator, site)
    job_id = simulator.state.add_job(service.key, status="esriJobSucceeded")
    client_as(operator).action(ServiceTarget(site, service).url("cancel", job_id))
    event = AuditEvent.objects.get()
    assert event.outcome == AuditEvent.Outcome.REFUSED
    assert event.message == f"Unable to cancel job :[{job_id}]"
    assert event.upstream_code == 500
    assert event.finished is not None and event.duration_ms is not None


@pytest.mark.django_db
def test_a_failure_is_recorded_with_what_went_wrong(simulator, site, service, operator, connect, client_as):
    connect(operator, site)
    job_id = simulator.state.add_job(service.key)
    simulator.faults.set("html_502", operation="cancel")
    client_as(operator).action(ServiceTarget(site, service).url("cancel", job_id))
    event = AuditEvent.objects.get()
    assert event.outcome == AuditEvent.Outcome.FAILED
    assert "502" in event.message and event.upstream_code == 502


@pytest.mark.django_db
def test_every_state_changing_action_is_recorded(simulator, site, service, operator, connect, client_as):
    client = client_as(operator)
    target = ServiceTarget(site, service)
    credentials = {"intent": "connect", "username": "siteadmin", "password": "siteadmin", "expiration": "60"}
    client.action(token_url(site), credentials, htmx=False)
    jobs = [simulator.state.add_job(service.key) for _ in range(4)]
    client.action(target.url("cancel", jobs[0]))
    client.action(target.url("delete", jobs[1]), {"confirmed": "yes"})
    client.action(target.url("bulk"), {"action": "delete", "job_ids": jobs[2:], "confirmed": "yes"})
    client.action(target.url("purge"), {"confirmed": "yes"})
    client.action(token_url(site), {"intent": "disconnect"}, htmx=False)
    recorded = list(
        AuditEvent.objects.order_by("id").values_list("action", "via", "job_id", "outcome", "username", "site_slug")
    )
    assert recorded == [
        ("connect", "web", "", "success", "olivia", "main"),
        ("cancel", "web", jobs[0], "success", "olivia", "main"),
        ("delete", "web", jobs[1], "success", "olivia", "main"),
        ("delete", "bulk", jobs[2], "success", "olivia", "main"),
        ("delete", "bulk", jobs[3], "success", "olivia", "main"),
        ("purge", "web", "", "success", "olivia", "main"),
        ("disconnect", "web", "", "success", "olivia", "main"),
    ]
    assert not AuditEvent.objects.filter(finished__isnull=True).exists()


@pytest.mark.django_db
def test_a_confirmation_page_is_not_an_action(simulator, site, service, operator, connect, client_as):
    connect(operator, site)
    job_id = simulator.state.add_job(service.key)
    response = client_as(operator).action(ServiceTarget(site, service).url("delete", job_id), htmx=False)
    assert response.status_code == 200 and "Delete" in response.content.decode()
    assert not AuditEvent.objects.exists()


# --- append-only ----------------------------------------------------------------------------


@pytest.fixture
def recorded(db):
    return add_event(0, "msg-original")


@pytest.mark.django_db
def test_not_even_a_superuser_can_add_change_or_delete_events_in_the_admin(recorded, client_as):
    root = make_user("root", is_superuser=True, is_staff=True)
    client = client_as(root)
    token = {"csrfmiddlewaretoken": client.csrf_token}
    change_url = reverse("admin:jobs_auditevent_change", args=[recorded.pk])
    delete_url = reverse("admin:jobs_auditevent_delete", args=[recorded.pk])
    changelist = client.get(reverse("admin:jobs_auditevent_changelist"))
    assert changelist.status_code == 200 and "delete_selected" not in changelist.content.decode()
    assert client.get(reverse("admin:jobs_auditevent_add")).status_code == 403
    detail = client.get(change_url)
    assert detail.status_code == 200 and 'name="_save"' not in detail.content.decode()  # read-only
    assert client.post(change_url, {**token, "message": "msg-forged", "outcome": "success"}).status_code == 403
    assert client.get(delete_url).status_code == 403
    assert client.post(delete_url, {**token, "post": "yes"}).status_code == 403
    bulk_delete = {**token, "action": "delete_selected", "_selected_action": [recorded.pk], "post": "yes"}
    client.post(reverse("admin:jobs_auditevent_changelist"), bulk_delete)
    assert list(AuditEvent.objects.values_list("message", flat=True)) == ["msg-original"]


@pytest.mark.django_db
def test_the_audit_page_offers_no_way_to_edit(recorded, site_admin, client_as):
    client = client_as(site_admin)
    html = client.get(reverse("jobs:audit")).content.decode()
    forms = re.findall(r"<form[^>]*>", html)
    assert all('method="get"' in form or reverse("logout") in form for form in forms), forms
    assert client.action(reverse("jobs:audit"), {"message": "msg-forged"}, htmx=False).status_code == 405
    assert client.action(reverse("jobs:audit_csv"), {}, htmx=False).status_code == 405
    assert AuditEvent.objects.get().message == "msg-original"


# --- the audit page ---------------------------------------------------------------------------


@pytest.fixture
def trail(db):
    """Ten events a minute apart, from various people, sites, services and outcomes."""
    spec = [
        ("olivia", "main", "Hydrology/Watershed", "j1", "cancel", "success"),
        ("oscar", "main", "Hydrology/Watershed", "j2", "cancel", "refused"),
        ("olivia", "other", "Buffer", "j3", "delete", "success"),
        ("oscar", "other", "Buffer", "", "purge", "failed"),
        ("olivia", "main", "Hydrology/Rivers_GP", "j5", "delete", "refused"),
        ("sam", "main", "", "", "site_change", "success"),
        ("olivia", "main", "", "", "connect", "refused"),
        ("oscar", "main", "Hydrology/Watershed", "j1", "cancel", "failed"),
        ("olivia", "other", "Buffer", "j9", "cancel", "success"),
        ("oscar", "main", "", "", "disconnect", "success"),
    ]
    for slug in ("main", "other"):
        Site.objects.create(slug=slug, name=slug, admin_url=f"https://{slug}.example.com/arcgis/admin")
    for minute, (user, slug, service, job, action, outcome) in enumerate(spec):
        add_event(
            minute,
            f"msg-{minute}",
            username=user,
            site_slug=slug,
            service=service,
            job_id=job,
            action=action,
            outcome=outcome,
        )
    return spec


def test_the_audit_page_lists_events_newest_first(trail, viewer, client_as):
    html = client_as(viewer).get(reverse("jobs:audit")).content.decode()
    assert messages_on_page(html) == [f"msg-{i}" for i in range(9, -1, -1)]


FILTERS = [
    ({"user": "oscar"}, [1, 3, 7, 9]),
    ({"site": "other"}, [2, 3, 8]),
    ({"service": "watershed"}, [0, 1, 7]),
    ({"job": "j1"}, [0, 7]),
    ({"action": "delete"}, [2, 4]),
    ({"outcome": "refused"}, [1, 4, 6]),
    ({"since": "2026-03-01T08:03", "until": "2026-03-01T08:05"}, [3, 4, 5]),
    ({"since": "2026-03-01T08:08"}, [8, 9]),
    ({"user": "olivia", "action": "cancel", "site": "main"}, [0]),
]


@pytest.mark.parametrize(("filters", "expected"), FILTERS)
def test_audit_filters(trail, viewer, client_as, filters, expected):
    client = client_as(viewer)
    html = client.get(reverse("jobs:audit"), filters).content.decode()
    assert messages_on_page(html) == [f"msg-{i}" for i in reversed(expected)]
    rows = csv_rows(client.get(reverse("jobs:audit_csv"), filters))
    assert [row[COLUMNS.index("message")] for row in rows[1:]] == [f"msg-{i}" for i in reversed(expected)]


def test_a_malformed_filter_shows_nothing_and_says_so(trail, viewer, client_as):
    html = client_as(viewer).get(reverse("jobs:audit"), {"outcome": "exploded"}).content.decode()
    assert messages_on_page(html) == []
    assert "The filters need a correction." in html


def test_the_audit_page_shows_fifty_events_a_page(db, viewer, client_as):
    Site.objects.create(slug="main", name="Main", admin_url="https://gis.example.com/arcgis/admin")
    for minute in range(120):
        add_event(minute, f"msg-{minute:03d}", username="olivia" if minute % 2 else "oscar")
        add_event(minute, f"msg-other-{minute:03d}", username="nina")
    client = client_as(viewer)
    pages = [client.get(reverse("jobs:audit"), {"user": "olivia", "page": n}).content.decode() for n in (1, 2)]
    assert messages_on_page(pages[0]) == [f"msg-{m:03d}" for m in range(119, 19, -2)]
    assert messages_on_page(pages[1]) == [f"msg-{m:03d}" for m in range(19, 0, -2)]
    assert "Page 1 of 2" in pages[0] and "Page 2 of 2" in pages[1]
    # The page links keep the filters.
    assert 'href="?user=olivia&amp;page=2" rel="next"' in pages[0]
    assert 'href="?user=olivia&amp;page=1" rel="prev"' in pages[1]
    everything = client.get(reverse("jobs:audit"), {"page": 5}).content.decode()
    assert len(messages_on_page(everything)) == 40 and "Page 5 of 5" in everything


# --- the CSV export -------------------------------------------------------------------------


def test_the_csv_export_streams_every_matching_event_with_a_header(trail, viewer, client_as):
    response = client_as(viewer).get(reverse("jobs:audit_csv"))
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == 'attachment; filename="gp-jobs-audit.csv"'
    rows = csv_rows(response)
    assert rows[0] == COLUMNS
    assert len(rows) == 11
    newest = dict(zip(COLUMNS, rows[1], strict=True))
    assert newest == {
        "created": "2026-03-01T08:09:00+00:00",
        "finished": "2026-03-01T08:09:01+00:00",
        "username": "oscar",
        "site_slug": "main",
        "site_name": "",
        "service": "",
        "job_id": "",
        "action": "disconnect",
        "via": "web",
        "via_detail": "",
        "outcome": "success",
        "message": "msg-9",
        "upstream_code": "",
        "duration_ms": "",
    }


def test_the_audit_page_links_to_the_csv_of_the_same_filters(trail, viewer, client_as):
    html = client_as(viewer).get(reverse("jobs:audit"), {"user": "oscar", "page": 1}).content.decode()
    assert f'href="{reverse("jobs:audit_csv")}?user=oscar"' in html


@pytest.mark.parametrize("formula", ['=HYPERLINK("http://evil.example")', "+1+1", "-2+3", "@SUM(A1:A2)"])
def test_csv_cells_that_look_like_formulas_are_neutralised(db, site, operator, viewer, client_as, formula):
    operations.record_site_change(operator, site, formula)
    rows = csv_rows(client_as(viewer).get(reverse("jobs:audit_csv")))
    assert rows[1][COLUMNS.index("message")] == "'" + formula
