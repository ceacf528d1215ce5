"""Watching (every tick): what the portal noticed becomes alerts: jobs found running long, queued long or stuck
cancelling (once per job and kind), sites whose circuit breaker has been open for ALERT_SITE_DOWN_MINUTES (and
their coming back), services whose failure rate over the last hour went above a channel's threshold (from the job
index; once per service and breach, on each channel by its own threshold), and sites' monitoring accounts that fail
(and work again)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone

import arcgis_client
from history import failure_rates
from history.models import MonitoringAccount
from jobs.models import Site
from jobs.running_long import minutes_text, noticed
from jobs.targets import ServiceTarget
from jobs.upstream import SiteGuard
from policies.alerts import alert, portal_link
from policies.models import AlertChannel, AlertedJob, FailureRateBreach, SiteOutage

Event = AlertChannel.Event

ALERTED_JOBS_KEPT = timedelta(days=7)


# Each kind of flag the portal notices, as the alert that tells it: its event and its title.
FLAG_ALERTS = {
    "running-long": (Event.RUNNING_LONG, "Job running long"),
    "queued-long": (Event.QUEUED_LONG, "Job queued long"),
    "cancel-stuck": (Event.CANCEL_STUCK, "Job stuck cancelling"),
}


def watch(now: datetime | None = None) -> None:
    now = now or timezone.now()
    jobs_flagged(now)
    site_outages(now)
    failing_services(now)
    monitoring_accounts(now)


def jobs_flagged(now: datetime) -> int:
    """An alert for each job the portal noticed running long, queued long or stuck cancelling that was not alerted
    for that before (once per job and kind)."""
    AlertedJob.objects.filter(created__lt=now - ALERTED_JOBS_KEPT).delete()
    found = [entry for entry in noticed() if entry.get("kind") in FLAG_ALERTS]
    if not found:
        return 0
    sites = Site.objects.in_bulk({entry["site"] for entry in found})
    raised = 0
    for entry in found:
        site, service, kind = sites.get(entry["site"]), entry["service"], entry["kind"]
        if site is None:
            continue
        event, title = FLAG_ALERTS[kind]
        known = set(
            AlertedJob.objects.filter(
                site=site, service=service, kind=event, job_id__in=list(entry["jobs"])
            ).values_list("job_id", flat=True)
        )
        for job_id, why in entry["jobs"].items():
            if job_id in known:
                continue
            try:
                with transaction.atomic():
                    AlertedJob.objects.create(site=site, service=service, job_id=job_id, kind=event, created=now)
            except IntegrityError:
                continue  # another worker alerted it just now
            target = ServiceTarget(site, arcgis_client.ServiceRef.parse(service))
            alert(
                event,
                site,
                f"{title}: {service} on {site.name}",
                f"Job {job_id} of {service} on {site.name}: {why}.",
                link=portal_link(target.job_url(job_id)),
            )
            raised += 1
    return raised


def site_outages(now: datetime) -> None:
    """A site whose circuit breaker has been open past ALERT_SITE_DOWN_MINUTES since its first failure is down,
    alerted once; its breaker closing again (a call answered) ends the outage, alerted once too."""
    threshold = timedelta(minutes=settings.ALERT_SITE_DOWN_MINUTES)
    ongoing = {outage.site_id: outage for outage in SiteOutage.objects.filter(ended__isnull=True)}
    for site in Site.objects.all():
        state = SiteGuard(site.pk, site.name).state()
        outage = ongoing.get(site.pk)
        if state.get("opened") is not None:
            since = datetime.fromtimestamp(state["since"], tz=UTC)
            if outage is not None or now - since <= threshold:
                continue
            try:
                with transaction.atomic():
                    SiteOutage.objects.create(site=site, since=since, alerted=now)
            except IntegrityError:
                continue
            alert(
                Event.SITE_DOWN,
                site,
                f"{site.name} is not answering",
                f"{site.name} has not answered since {since:%Y-%m-%d %H:%M} UTC ({minutes_text(now - since)}). "
                "The portal calls it less often until it answers again; its jobs cannot be seen or stopped meanwhile.",
            )
        elif outage is not None and SiteOutage.objects.filter(pk=outage.pk, ended__isnull=True).update(ended=now):
            alert(
                Event.SITE_DOWN,
                site,
                f"{site.name} answers again",
                f"{site.name} answers again after {minutes_text(now - outage.since)} without answering.",
            )


def failing_services(now: datetime) -> int:
    """An alert on each channel that wants the failure-rate event for each service whose jobs that ended in the last
    hour failed more often than the channel's threshold, counted from its minimum number of jobs: once when it goes
    over (a breach, kept per channel and service), again only after it was back within the threshold."""
    channels = [
        channel
        for channel in AlertChannel.objects.filter(enabled=True).select_related("owner")
        if Event.FAILURE_RATE in channel.events
    ]
    ongoing = {
        (b.channel_id, b.site_id, b.service_key): b for b in FailureRateBreach.objects.filter(ended__isnull=True)
    }
    if not channels and not ongoing:
        return 0
    rates = failure_rates.failing_services(now)
    over = {
        (channel.pk, *key): (channel, rate)
        for channel in channels
        for key, rate in rates.items()
        if rate.over(channel.failure_rate_percent, channel.failure_rate_min_jobs)
    }
    ended = [breach.pk for key, breach in ongoing.items() if key not in over]
    FailureRateBreach.objects.filter(pk__in=ended, ended__isnull=True).update(ended=now)
    sites = Site.objects.in_bulk({rate.site_pk for _, rate in over.values()})
    raised = 0
    for key, (channel, rate) in over.items():
        site = sites.get(rate.site_pk)
        if key in ongoing or site is None or not channel.may_carry(site) or not channel.wants(Event.FAILURE_RATE, site):
            continue
        try:
            with transaction.atomic():
                FailureRateBreach.objects.create(channel=channel, site=site, service_key=rate.service_key, started=now)
        except IntegrityError:
            continue  # another worker alerted it just now
        _alert_failure_rate(channel, site, rate)
        raised += 1
    return raised


def _alert_failure_rate(channel: AlertChannel, site: Site, rate: failure_rates.ServiceRate) -> None:
    service = failure_rates.spelled(site.pk, rate.service_key)
    target = ServiceTarget(site, service)
    alert(
        Event.FAILURE_RATE,
        site,
        f"Failure rate: {service.key} on {site.name}",
        f"{service.key} on {site.name} failed {rate.failed} of {rate.ended} jobs in the last hour "
        f"({rate.percent} %, threshold {channel.failure_rate_percent} %).",
        link=portal_link(target.url("job_list", status=arcgis_client.FAILED)),
        on=[channel],
    )


def monitoring_accounts(now: datetime) -> None:
    """A site's monitoring account that fails is alerted once per failure (ArcGIS rejected it or its token expired:
    at once; the site cannot be reached: past ALERT_SITE_DOWN_MINUTES, unless the site-down alert already tells it),
    and once when it works again. The history of that site is not collected meanwhile."""
    threshold = timedelta(minutes=settings.ALERT_SITE_DOWN_MINUTES)
    down = set(SiteOutage.objects.filter(ended__isnull=True).values_list("site_id", flat=True))
    watched = MonitoringAccount.objects.select_related("site").exclude(failing_since=None, alerted_failure=None)
    for account in watched:
        site, since, alerted = account.site, account.failing_since, account.alerted_failure
        accounts = MonitoringAccount.objects.filter(pk=account.pk)
        link = portal_link(reverse("jobs:site", args=[site.slug]))
        if since is None:
            assert alerted is not None
            if accounts.filter(failing_since=None, alerted_failure=alerted).update(alerted_failure=None):
                alert(
                    Event.MONITORING,
                    site,
                    f"The monitoring account of {site.name} works again",
                    f"The job history of {site.name} is collected again, after {minutes_text(now - alerted)} without.",
                    link=link,
                )
            continue
        if alerted == since:
            continue
        if account.problem_kind == MonitoringAccount.UNREACHABLE and (now - since <= threshold or site.pk in down):
            continue
        if accounts.filter(failing_since=since).exclude(alerted_failure=since).update(alerted_failure=since):
            alert(
                Event.MONITORING,
                site,
                f"The monitoring account of {site.name} fails",
                f"{account.problem} The job history of {site.name} is not collected until a site admin sets the "
                f"account again or the site answers (failing since {since:%Y-%m-%d %H:%M} UTC).",
                link=link,
            )
