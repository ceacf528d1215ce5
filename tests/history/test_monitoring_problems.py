"""A monitoring account that fails shows on its site's overview and is alerted on the channels that want it: once
when it starts failing, once when it works again; a site that cannot be reached only after ALERT_SITE_DOWN_MINUTES
and unless the site-down alert tells it already."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from history import collector, monitoring
from history.models import MonitoringAccount
from jobs.shared_cache import cache
from policies import tasks
from policies.models import AlertChannel, SiteOutage
from tests.helpers import text

MONITORING = "monitoring"


@pytest.fixture
def channel(db) -> AlertChannel:
    made = AlertChannel(name="ops", kind="email", recipients="ops@example.com", events=[MONITORING])
    made.full_clean()
    made.save()
    return made


def tick(capture) -> None:
    with capture(execute=True):
        tasks.tick()


def test_a_failing_account_shows_on_the_site_s_overview(
    simulator, site, service, monitored, olivia, site_admin, client_as
):
    page = olivia.get(reverse("jobs:overview"), {"inline": "1"}).content.decode()
    assert "data-monitoring-problem" not in page
    simulator.faults.set("expire_tokens")
    collector.collect_site(site)
    for url in (reverse("jobs:overview"), reverse("jobs:site", args=["main"])):
        page = olivia.get(url, {"inline": "1"}).content.decode()
        assert 'id="monitoring-main" data-monitoring-problem="rejected"' in page
        line = text(page[page.index('id="monitoring-main"') : page.index("</p>", page.index('id="monitoring-main"'))])
        assert line.endswith("ArcGIS rejected the monitoring account's token: Invalid token.")
        assert "Job history: the monitoring account fails since" in line
        assert "Set it" not in line  # an operator cannot
    admin_page = client_as(site_admin).get(reverse("jobs:overview"), {"inline": "1"}).content.decode()
    change = reverse("admin:history_monitoringaccount_change", args=[monitored.pk])
    assert f'<a href="{change}">Set it</a>' in admin_page
    simulator.faults.clear()
    collector.collect_site(site)
    assert "data-monitoring-problem" not in olivia.get(reverse("jobs:overview"), {"inline": "1"}).content.decode()


def test_a_rejected_account_is_alerted_once_and_its_return_too(
    simulator, site, service, superuser, channel, mailoutbox, django_capture_on_commit_callbacks, settings
):
    settings.PORTAL_URL = "https://jobs.example.com"
    monitoring.set_account(site, superuser, username="publisher", password="wrong", via="cli")
    collector.collect_site(site)
    tick(django_capture_on_commit_callbacks)
    collector.collect_site(site)  # still failing: no second alert
    tick(django_capture_on_commit_callbacks)
    [mail] = mailoutbox
    assert mail.subject == "[GP Jobs Portal] The monitoring account of Main site fails"
    assert mail.body.startswith(
        "ArcGIS refused the monitoring account publisher: Unable to generate token. Invalid username or password. "
        "The job history of Main site is not collected until"
    )
    assert "https://jobs.example.com/sites/main/" in mail.body and "wrong" not in mail.body
    monitoring.set_account(site, superuser, username="publisher", password="publisher", via="cli")
    collector.collect_site(site)
    tick(django_capture_on_commit_callbacks)
    tick(django_capture_on_commit_callbacks)
    assert [m.subject for m in mailoutbox][1:] == ["[GP Jobs Portal] The monitoring account of Main site works again"]
    assert MonitoringAccount.objects.get(site=site).alerted_failure is None


def test_an_unreachable_site_is_alerted_late_and_not_twice(
    site, monitored, channel, mailoutbox, django_capture_on_commit_callbacks, settings
):
    settings.ALERT_SITE_DOWN_MINUTES = 5
    problem = monitoring.AccountProblem(MonitoringAccount.UNREACHABLE, "Main site did not answer within 10 s.")
    monitoring.record(monitored, problem, timezone.now() - timedelta(minutes=3))
    tick(django_capture_on_commit_callbacks)
    assert mailoutbox == []  # a moment's outage is no news
    six_minutes_ago = timezone.now() - timedelta(minutes=6)
    MonitoringAccount.objects.filter(pk=monitored.pk).update(failing_since=six_minutes_ago)
    # The site's breaker is open as long: the site-down alert tells it (this channel does not want that one).
    breaker = {"failures": 3, "since": six_minutes_ago.timestamp(), "opened": six_minutes_ago.timestamp()}
    cache.set(f"breaker:{site.pk}", breaker)
    tick(django_capture_on_commit_callbacks)
    assert SiteOutage.objects.filter(site=site, ended=None).exists()
    assert mailoutbox == []
    # The site answers others again, not the account: now it is the account's news.
    cache.delete(f"breaker:{site.pk}")
    tick(django_capture_on_commit_callbacks)
    assert [m.subject for m in mailoutbox] == ["[GP Jobs Portal] The monitoring account of Main site fails"]
    assert mailoutbox[0].body.startswith("Main site did not answer within 10 s.")
