"""The failure-rate alert: a service whose jobs that ended in the last hour failed more often than a channel's
threshold (counted from the channel's minimum number of jobs) is alerted on that channel once per breach, from the
job index, on the worker's tick."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth.models import Group
from django.urls import reverse
from django.utils import timezone

import arcgis_client
from jobs.models import AuditEvent
from policies import tasks
from policies.alerts import watch
from policies.models import AlertChannel, FailureRateBreach
from tests.conftest import make_user
from tests.history.factory import indexed

pytestmark = pytest.mark.django_db

FAILURE_RATE = "failure_rate"
FAILED, SUCCEEDED, TIMED_OUT = arcgis_client.FAILED, arcgis_client.SUCCEEDED, arcgis_client.TIMED_OUT


def channel(name: str = "ops mail", events=(FAILURE_RATE,), **fields) -> AlertChannel:
    made = AlertChannel(name=name, kind="email", recipients=f"{name.replace(' ', '.')}@example.com", **fields)
    made.events = list(events)
    made.full_clean()
    made.save()
    return made


def ended(site, key: str, failed: int, succeeded: int, minutes_ago: float = 20, status: str = FAILED) -> None:
    """Jobs of the service that ended `minutes_ago`: `failed` of them with `status`, the rest succeeded."""
    submitted = timezone.now() - timedelta(minutes=minutes_ago + 5)
    for i in range(failed + succeeded):
        indexed(site, key, status if i < failed else SUCCEEDED, submitted=submitted, seconds=300)


def tick(capture) -> None:
    with capture(execute=True):
        tasks.tick()


def test_a_service_over_the_threshold_is_alerted_once(site, mailoutbox, django_capture_on_commit_callbacks, settings):
    settings.PORTAL_URL = "https://jobs.example.com"
    channel()  # 20 %, from 10 jobs
    ended(site, "FloodModel", failed=6, succeeded=14)
    ended(site, "Buffer", failed=1, succeeded=19)  # 5 %: within
    tick(django_capture_on_commit_callbacks)
    [mail] = mailoutbox
    assert mail.subject == "[GP Jobs Portal] Failure rate: FloodModel on Main site"
    assert mail.body.startswith("FloodModel on Main site failed 6 of 20 jobs in the last hour (30 %, threshold 20 %).")
    assert "https://jobs.example.com/sites/main/services/FloodModel.GPServer/jobs/?status=esriJobFailed" in mail.body
    tick(django_capture_on_commit_callbacks)  # still over: not again
    ended(site, "FloodModel", failed=4, succeeded=0)  # worse, the same breach
    tick(django_capture_on_commit_callbacks)
    assert len(mailoutbox) == 1


@pytest.mark.parametrize(
    ("failed", "succeeded", "alerted"),
    [
        (6, 14, True),  # 30 % of 20
        (4, 16, False),  # 20 %: not above the threshold
        (3, 7, True),  # 30 % of 10: the minimum
        (3, 6, False),  # 33 % of 9: below the minimum
        (0, 30, False),
    ],
)
def test_the_threshold_and_the_minimum(
    site, mailoutbox, django_capture_on_commit_callbacks, failed, succeeded, alerted
):
    channel()
    ended(site, "FloodModel", failed=failed, succeeded=succeeded)
    tick(django_capture_on_commit_callbacks)
    assert len(mailoutbox) == (1 if alerted else 0)


def test_only_the_last_hour_counts_and_timeouts_are_failures(site, mailoutbox, django_capture_on_commit_callbacks):
    channel()
    ended(site, "FloodModel", failed=10, succeeded=0, minutes_ago=70)  # over an hour ago
    ended(site, "FloodModel", failed=0, succeeded=15)
    tick(django_capture_on_commit_callbacks)
    assert not mailoutbox
    ended(site, "FloodModel", failed=5, succeeded=0, status=TIMED_OUT)
    tick(django_capture_on_commit_callbacks)
    [mail] = mailoutbox
    assert "failed 5 of 20 jobs in the last hour (25 %, threshold 20 %)" in mail.body


def test_a_new_breach_after_the_rate_came_back_is_alerted_again(site, mailoutbox, django_capture_on_commit_callbacks):
    made = channel()
    ended(site, "FloodModel", failed=6, succeeded=14)
    now = timezone.now()
    assert watch.failing_services(now) == 1
    assert watch.failing_services(now) == 0  # the same breach
    assert watch.failing_services(now + timedelta(hours=2)) == 0  # those jobs are out of the hour: it ended
    [breach] = FailureRateBreach.objects.all()
    assert (breach.channel, breach.service_key, breach.ended) == (made, "floodmodel", now + timedelta(hours=2))
    assert watch.failing_services(now) == 1  # over again: a new breach


def test_each_channel_by_its_own_threshold_and_minimum(site, mailoutbox, django_capture_on_commit_callbacks):
    channel("strict")  # 20 %
    channel("lenient", failure_rate_percent=50)
    channel("busy only", failure_rate_min_jobs=50)
    channel("other events", events=["site_down"])
    ended(site, "FloodModel", failed=6, succeeded=14)
    tick(django_capture_on_commit_callbacks)
    assert [mail.to for mail in mailoutbox] == [["strict@example.com"]]
    ended(site, "FloodModel", failed=20, succeeded=0)  # 26 of 40: 65 %
    tick(django_capture_on_commit_callbacks)
    assert [mail.to for mail in mailoutbox[1:]] == [["lenient@example.com"]]
    assert "failed 26 of 40 jobs in the last hour (65 %, threshold 50 %)" in mailoutbox[1].body


def test_service_names_are_one_service_whatever_their_case(site, mailoutbox, django_capture_on_commit_callbacks):
    channel()
    ended(site, "Hydrology/FloodModel", failed=3, succeeded=7, minutes_ago=30)
    ended(site, "HYDROLOGY/floodmodel", failed=3, succeeded=7)  # the same service, as ArcGIS spelled it later
    tick(django_capture_on_commit_callbacks)
    [mail] = mailoutbox
    assert "HYDROLOGY/floodmodel on Main site failed 6 of 20 jobs" in mail.body
    assert FailureRateBreach.objects.get().service_key == "hydrology/floodmodel"


def test_a_site_the_channel_is_not_for_is_not_told(
    site, hidden_site, mailoutbox, django_capture_on_commit_callbacks, site_admin
):
    channel("this site only", site=site)
    mine = channel("admin's", owner=site_admin)  # sam may not see the hidden site
    ended(hidden_site, "FloodModel", failed=6, succeeded=14)
    tick(django_capture_on_commit_callbacks)
    assert not mailoutbox
    site_admin.groups.add(Group.objects.get(name="Hidden team"))
    tick(django_capture_on_commit_callbacks)
    assert [mail.to for mail in mailoutbox] == [[mine.recipient_list[0]]]


def test_a_channels_threshold_is_set_in_the_admin_and_audited(site, client_as):
    admin = make_user("root", is_superuser=True, is_staff=True)
    client = client_as(admin)
    data = {
        "csrfmiddlewaretoken": client.csrf_token,
        "name": "ops mail",
        "kind": "email",
        "url": "",
        "recipients": "ops@example.com",
        "events": [FAILURE_RATE],
        "failure_rate_percent": "",
        "failure_rate_min_jobs": "",
        "site": "",
        "enabled": "on",
        "_save": "Save",
    }
    assert client.post(reverse("admin:policies_alertchannel_add"), data).status_code == 302
    made = AlertChannel.objects.get()
    assert (made.failure_rate_percent, made.failure_rate_min_jobs) == (20, 10)
    added = AuditEvent.objects.get(action="alerts_changed")
    assert "failure rate alert: above 20 % of at least 10 jobs an hour" in added.message
    change = reverse("admin:policies_alertchannel_change", args=[made.pk])
    assert client.post(change, {**data, "failure_rate_percent": "35"}).status_code == 302
    changed = AuditEvent.objects.filter(action="alerts_changed").first()
    assert changed.message == (
        "Changed alert channel “ops mail”: failure rate alert: above 20 % of at least 10 jobs an hour → "
        "above 35 % of at least 10 jobs an hour."
    )
