"""Alerts: telling people when something needs them, on the channels Site admins configured.

`alert()` records one delivery per channel that wants the event and queues it for the worker once the
transaction commits: a web request never waits for a webhook or a mail server, and a broker that is down
leaves the delivery pending for the next tick (`requeue()`). The worker makes each attempt (`attempt()`),
retrying with backoff; every delivery is recorded: sent, or failed and why.

`watch()` (every tick) turns what the portal noticed into alerts: jobs found running long (once per job), and
sites whose circuit breaker has been open for ALERT_SITE_DOWN_MINUTES (and their coming back).
"""

from __future__ import annotations

import functools
import logging
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import requests
from django.conf import settings
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

import arcgis_client
from jobs import runaway
from jobs.models import Site
from jobs.rows import ServiceTarget
from jobs.upstream import SiteGuard
from policies.models import AlertChannel, AlertedJob, Delivery, SiteOutage

log = logging.getLogger(__name__)

Event = AlertChannel.Event
Status = Delivery.Status

REQUEUE_AFTER = timedelta(seconds=60)  # a pending delivery this long past due lost its queued task
SENDING_STALE = timedelta(minutes=10)  # a delivery "sending" this long lost its worker
ALERTED_JOBS_KEPT = timedelta(days=7)
MAX_RESPONSE_BYTES = 2000  # of a failing receiver's answer, for the record


# --- raising an alert ---------------------------------------------------------------------------------


def alert(event: str, site: Site | None, title: str, text: str, *, link: str = "") -> list[Delivery]:
    """One delivery per enabled channel that wants this event (for this site), queued after the commit."""
    channels = [channel for channel in AlertChannel.objects.filter(enabled=True) if channel.wants(event, site)]
    deliveries = [
        Delivery.objects.create(channel=channel, event=event, site=site, title=title[:300], text=text, link=link)
        for channel in channels
    ]
    for delivery in deliveries:
        transaction.on_commit(functools.partial(queue, delivery.pk))
    return deliveries


def queue(delivery_id: int) -> None:
    """Hand a delivery to the worker; if the broker does not take it, it stays pending for the next tick."""
    from policies.tasks import deliver

    try:
        deliver.apply_async((delivery_id,), retry=False)
    except Exception as exc:  # any broker trouble: never the caller's (a web request's) failure
        log.warning("alert delivery %s stays pending: the task broker did not take it (%s)", delivery_id, exc)


def portal_link(path: str) -> str:
    """An absolute link to a portal page, when PORTAL_URL says where the portal is."""
    return f"{settings.PORTAL_URL}{path}" if settings.PORTAL_URL else ""


# --- delivering -----------------------------------------------------------------------------------------


class DeliveryFailed(Exception):
    """Why an attempt failed, in words for the record."""


def backoff(attempts: int) -> float:
    """Seconds before the next attempt: 30 s, 1, 2, 4 min…, at most 15 min."""
    return min(30.0 * 2 ** max(attempts - 1, 0), 900.0)


def attempt(delivery_id: int) -> float | None:
    """One attempt at a pending delivery, claimed so that no two workers send it. Returns the seconds to wait
    before trying again, or None when there is nothing more to do (sent, failed for good, or not pending)."""
    now = timezone.now()
    claimed = Delivery.objects.filter(pk=delivery_id, status=Status.PENDING).update(
        status=Status.SENDING, attempts=F("attempts") + 1, claimed_at=now
    )
    if not claimed:
        return None
    delivery = Delivery.objects.select_related("channel", "site").get(pk=delivery_id)
    try:
        send(delivery)
    except Exception as exc:  # whatever went wrong is this attempt's failure, recorded
        error = str(exc) if isinstance(exc, DeliveryFailed) else f"{type(exc).__name__}: {exc}"
        done = timezone.now()
        if delivery.attempts >= settings.ALERT_DELIVERY_ATTEMPTS:
            Delivery.objects.filter(pk=delivery_id).update(status=Status.FAILED, last_error=error[:2000])
            log.warning(
                "alert delivery %s failed for good after %s attempts: %s", delivery_id, delivery.attempts, error
            )
            return None
        wait = backoff(delivery.attempts)
        Delivery.objects.filter(pk=delivery_id).update(
            status=Status.PENDING, last_error=error[:2000], due_at=done + timedelta(seconds=wait)
        )
        return wait
    Delivery.objects.filter(pk=delivery_id).update(status=Status.SENT, sent_at=timezone.now())
    return None


def send(delivery: Delivery) -> None:
    channel = delivery.channel
    if channel.kind == AlertChannel.Kind.EMAIL:
        body = delivery.text + (f"\n\n{delivery.link}" if delivery.link else "")
        send_mail(f"[GP Jobs Portal] {delivery.title}", body, None, channel.recipient_list)
        return
    post_webhook(channel.url, webhook_body(channel.kind, delivery))


def post_webhook(url: str, body: dict) -> None:
    """POST the JSON body: https only (unless allowed for testing), a short timeout, redirects never followed."""
    scheme = urlsplit(url).scheme
    if scheme != "https" and not (scheme == "http" and settings.ALERT_WEBHOOKS_ALLOW_HTTP):
        raise DeliveryFailed("The webhook URL is not https: nothing was sent.")
    timeout = settings.ALERT_WEBHOOK_TIMEOUT_SECONDS
    try:
        response = requests.post(url, json=body, timeout=(timeout, timeout), allow_redirects=False, stream=True)
    except requests.Timeout:
        raise DeliveryFailed(f"The receiver did not answer within {timeout} s.") from None
    except requests.RequestException as exc:
        raise DeliveryFailed(f"The receiver could not be reached ({type(exc).__name__}).") from None
    with response:
        if 200 <= response.status_code < 300:
            return
        if response.is_redirect:
            target = urlsplit(response.headers.get("Location", "")).hostname or "elsewhere"
            raise DeliveryFailed(f"HTTP {response.status_code}: the receiver redirects to {target}; not followed.")
        answer = response.raw.read(MAX_RESPONSE_BYTES, decode_content=True).decode("utf-8", "replace")
        raise DeliveryFailed(f"HTTP {response.status_code} {response.reason}: {' '.join(answer.split())[:300]}".strip())


def webhook_body(kind: str, delivery: Delivery) -> dict:
    """The generic JSON body, or Slack's or Teams' message format."""
    if kind == AlertChannel.Kind.SLACK:
        text = f"*{_slack(delivery.title)}*\n{_slack(delivery.text)}"
        if delivery.link:
            text += f"\n<{delivery.link}|Open in the GP Jobs Portal>"
        return {"text": text}
    if kind == AlertChannel.Kind.TEAMS:  # an Adaptive Card, as Teams workflows ("When a webhook request…") take it
        card = {
            "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
            "type": "AdaptiveCard",
            "version": "1.4",
            "body": [
                {"type": "TextBlock", "text": delivery.title, "weight": "Bolder", "size": "Medium", "wrap": True},
                {"type": "TextBlock", "text": delivery.text, "wrap": True},
            ],
        }
        if delivery.link:
            card["actions"] = [{"type": "Action.OpenUrl", "title": "Open in the GP Jobs Portal", "url": delivery.link}]
        return {
            "type": "message",
            "attachments": [{"contentType": "application/vnd.microsoft.card.adaptive", "content": card}],
        }
    return {
        "event": delivery.event,
        "title": delivery.title,
        "text": delivery.text,
        "site": delivery.site.slug if delivery.site else None,
        "link": delivery.link or None,
        "created": delivery.created.isoformat(),
        "delivery": delivery.pk,
    }


def _slack(text: str) -> str:
    """Slack's three escapes: its markup must not be injected by a job's or a policy's name."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def requeue(now: datetime | None = None) -> int:
    """Queue again what lost its way: deliveries pending well past due (the broker was down, a retry was lost),
    and those a worker claimed but never finished."""
    now = now or timezone.now()
    stuck = Delivery.objects.filter(status=Status.SENDING, claimed_at__lt=now - SENDING_STALE)
    stuck_ids = list(stuck.values_list("pk", flat=True)[:500])
    Delivery.objects.filter(pk__in=stuck_ids, status=Status.SENDING).update(status=Status.PENDING, due_at=now)
    lost = Delivery.objects.filter(status=Status.PENDING, due_at__lt=now - REQUEUE_AFTER)
    due = sorted(set(stuck_ids) | set(lost.values_list("pk", flat=True)[:500]))
    for delivery_id in due:
        queue(delivery_id)
    return len(due)


# --- watching ------------------------------------------------------------------------------------------


def watch(now: datetime | None = None) -> None:
    now = now or timezone.now()
    running_long(now)
    site_outages(now)


def running_long(now: datetime) -> int:
    """An alert for each job the portal noticed running long that was not alerted before (once per job)."""
    AlertedJob.objects.filter(created__lt=now - ALERTED_JOBS_KEPT).delete()
    noticed = runaway.noticed_running_long()
    if not noticed:
        return 0
    sites = Site.objects.in_bulk({entry["site"] for entry in noticed})
    raised = 0
    for entry in noticed:
        site, service = sites.get(entry["site"]), entry["service"]
        if site is None:
            continue
        known = set(
            AlertedJob.objects.filter(site=site, service=service, job_id__in=list(entry["jobs"])).values_list(
                "job_id", flat=True
            )
        )
        for job_id, why in entry["jobs"].items():
            if job_id in known:
                continue
            try:
                with transaction.atomic():
                    AlertedJob.objects.create(site=site, service=service, job_id=job_id, created=now)
            except IntegrityError:
                continue  # another worker alerted it just now
            target = ServiceTarget(site, arcgis_client.ServiceRef.parse(service))
            alert(
                Event.RUNNING_LONG,
                site,
                f"Job running long: {service} on {site.name}",
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
                f"{site.name} has not answered since {since:%Y-%m-%d %H:%M} UTC ({runaway.minutes_text(now - since)}). "
                "The portal calls it less often until it answers again; its jobs cannot be seen or stopped meanwhile.",
            )
        elif outage is not None and SiteOutage.objects.filter(pk=outage.pk, ended__isnull=True).update(ended=now):
            alert(
                Event.SITE_DOWN,
                site,
                f"{site.name} answers again",
                f"{site.name} answers again after {runaway.minutes_text(now - outage.since)} without answering.",
            )
