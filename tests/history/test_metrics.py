"""/metrics gains the collector's lag and pass duration per site, whether its monitoring account fails, and the
index's size (a count kept a minute, or PostgreSQL's estimate): read from the database, never from ArcGIS."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from history import collector
from history.models import IndexedJob, MonitoringAccount
from tests.helpers import samples, scrape, value

EXECUTING = "esriJobExecuting"


def test_a_scrape_tells_each_site_s_lag_and_pass_and_the_index_size(simulator, site, service, monitored, metrics_token):
    for _ in range(3):
        simulator.state.add_job(service.key, status=EXECUTING)
    collector.collect_site(site)
    MonitoringAccount.objects.filter(pk=monitored.pk).update(
        last_pass=timezone.now() - timedelta(seconds=42), last_pass_seconds=1.5
    )
    simulator.requests.clear()
    found = samples(scrape().content.decode())
    assert list(simulator.requests) == []
    assert 42 <= value(found, "gpjobs_history_lag_seconds", site="main") < 50
    assert value(found, "gpjobs_history_pass_seconds", site="main") == 1.5
    assert value(found, "gpjobs_history_account_failing", site="main") == 0
    assert value(found, "gpjobs_history_indexed_jobs") == 3
    # The count is kept a minute: a scrape costs no count of a large table.
    IndexedJob.objects.all().delete()
    assert value(samples(scrape().content.decode()), "gpjobs_history_indexed_jobs") == 3


def test_a_site_never_collected_lags_since_its_account_was_set(simulator, site, monitored, metrics_token):
    MonitoringAccount.objects.filter(pk=monitored.pk).update(
        changed=timezone.now() - timedelta(minutes=10), failing_since=timezone.now()
    )
    found = samples(scrape().content.decode())
    assert 600 <= value(found, "gpjobs_history_lag_seconds", site="main") < 610
    assert value(found, "gpjobs_history_pass_seconds", site="main") is None
    assert value(found, "gpjobs_history_account_failing", site="main") == 1


def test_restricted_sites_are_left_out_when_asked(simulator, hidden_site, superuser, metrics_token, settings):
    from history import monitoring

    settings.METRICS_INCLUDE_RESTRICTED_SITES = False
    monitoring.set_account(hidden_site, superuser, token="t", via="cli")
    found = samples(scrape().content.decode())
    assert value(found, "gpjobs_history_lag_seconds", site="hidden") is None
    assert value(found, "gpjobs_history_indexed_jobs") == 0
