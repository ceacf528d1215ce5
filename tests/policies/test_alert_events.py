"""Alerts for jobs queued too long and jobs stuck cancelling, noticed as the portal reads them (the fleet view, a
service's jobs page), like jobs running long: each job alerted once per kind, on the channels that want that event;
and "Send a test alert" on a channel's own page in the Django admin."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

import arcgis_client
from jobs.models import AuditEvent
from policies import tasks
from policies.models import AlertChannel, AlertedJob, Delivery
from tests.conftest import make_user
from tests.helpers import jobs_table

pytestmark = pytest.mark.django_db

QUEUED_LONG, CANCEL_STUCK, RUNNING_LONG = "queued_long", "cancel_stuck", "running_long"


def channel(events, name: str = "ops mail", **fields) -> AlertChannel:
    made = AlertChannel(name=name, kind="email", recipients="ops@example.com", events=list(events), **fields)
    made.full_clean()
    made.save()
    return made


def tick(capture) -> None:
    with capture(execute=True):
        tasks.tick()


def test_a_job_queued_too_long_is_alerted_once(
    simulator, site, service, target, olivia, mailoutbox, django_capture_on_commit_callbacks, settings
):
    settings.PORTAL_URL = "https://jobs.example.com"
    channel([QUEUED_LONG])
    waiting = simulator.state.add_job(
        service.key, arcgis_client.SUBMITTED, submitted=simulator.clock.now() - timedelta(minutes=42)
    )
    simulator.state.add_job(
        service.key, arcgis_client.SUBMITTED, submitted=simulator.clock.now() - timedelta(minutes=3)
    )
    jobs_table(olivia, target)  # the service's jobs page notices it as it reads
    tick(django_capture_on_commit_callbacks)
    [mail] = mailoutbox
    assert mail.subject == "[GP Jobs Portal] Job queued long: Hydrology/Watershed on Main site"
    assert mail.body.startswith(f"Job {waiting} of Hydrology/Watershed on Main site: Queued long: waiting 4")
    assert f"https://jobs.example.com{target.job_url(waiting)}" in mail.body
    olivia.get(reverse("jobs:fleet"), {"inline": "1"})  # read again, by the fleet view: still once
    tick(django_capture_on_commit_callbacks)
    assert len(mailoutbox) == 1
    assert list(AlertedJob.objects.values_list("job_id", "kind")) == [(waiting, QUEUED_LONG)]


def test_a_job_stuck_cancelling_is_alerted_once(
    simulator, site, service, olivia, operator, mailoutbox, django_capture_on_commit_callbacks
):
    channel([CANCEL_STUCK])
    stuck = simulator.state.add_job(service.key, arcgis_client.CANCELLING)
    # The portal asked ArcGIS to cancel it twelve minutes ago (its audit trail knows when).
    AuditEvent.objects.create(
        created=timezone.now() - timedelta(minutes=12),
        user=operator,
        username=operator.username,
        site=site,
        site_slug=site.slug,
        service=service.key,
        job_id=stuck,
        action=AuditEvent.Action.CANCEL,
        outcome=AuditEvent.Outcome.SUCCESS,
    )
    olivia.get(reverse("jobs:fleet"), {"inline": "1"})
    tick(django_capture_on_commit_callbacks)
    [mail] = mailoutbox
    assert mail.subject == "[GP Jobs Portal] Job stuck cancelling: Hydrology/Watershed on Main site"
    assert f"Job {stuck} of Hydrology/Watershed on Main site: Cancel stuck" in mail.body
    olivia.get(reverse("jobs:fleet"), {"inline": "1"})
    tick(django_capture_on_commit_callbacks)
    assert len(mailoutbox) == 1


def test_each_kind_goes_to_the_channels_that_want_it_and_is_alerted_once_per_kind(
    simulator, site, service, target, olivia, mailoutbox, django_capture_on_commit_callbacks
):
    channel([RUNNING_LONG], name="runaways only")
    queued_only = channel([QUEUED_LONG], name="queue watchers")
    job_id = simulator.state.add_job(
        service.key, arcgis_client.WAITING, submitted=simulator.clock.now() - timedelta(hours=2)
    )
    jobs_table(olivia, target)
    tick(django_capture_on_commit_callbacks)
    assert [d.channel for d in Delivery.objects.all()] == [queued_only]
    assert len(mailoutbox) == 1
    # The same job may be alerted for another kind later (running long once it runs), never twice for one kind.
    assert AlertedJob.objects.filter(job_id=job_id).count() == 1


def test_a_channels_own_page_sends_a_test_alert(site, site_admin, client_as, mailoutbox):
    made = channel([QUEUED_LONG], site=site)
    client = client_as(site_admin)
    page = client.get(reverse("admin:policies_alertchannel_change", args=[made.pk])).content.decode()
    send = reverse("admin:policies_alertchannel_send_test", args=[made.pk])
    assert f'<form method="post" action="{send}"' in page and 'value="Send a test alert"' in page
    assert client.get(send).status_code == 405  # a GET (a prefetch, a crawler) sends nothing
    answer = client.post(send, {"csrfmiddlewaretoken": client.csrf_token})
    assert answer.status_code == 302
    assert answer["Location"] == reverse("admin:policies_alertchannel_change", args=[made.pk])
    [sent] = mailoutbox
    assert sent.subject == "[GP Jobs Portal] Test alert from the GP Jobs Portal"
    assert Delivery.objects.get().status == "sent"


def test_a_channel_of_a_site_one_may_not_see_cannot_be_tested(hidden_site, site_admin, client_as, mailoutbox):
    made = channel([QUEUED_LONG], site=hidden_site)
    client = client_as(site_admin)
    send = reverse("admin:policies_alertchannel_send_test", args=[made.pk])
    assert client.post(send, {"csrfmiddlewaretoken": client.csrf_token}).status_code == 404
    assert not mailoutbox and not Delivery.objects.exists()
    viewer = client_as(make_user("vera", "Viewer"))
    assert viewer.post(send, {"csrfmiddlewaretoken": viewer.csrf_token}).status_code == 302  # to the admin's login
    assert not Delivery.objects.exists()
