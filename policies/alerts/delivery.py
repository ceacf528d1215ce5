"""Delivering an alert: the one loop every channel kind shares (claim, send through the kind's transport, record,
retry with backoff), the worker's task, and queueing again what lost its way."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from celery import shared_task
from django.conf import settings
from django.db.models import F
from django.utils import timezone

from policies.alerts import queue
from policies.alerts.transports import DeliveryFailed, transport_for
from policies.models import Delivery

log = logging.getLogger(__name__)

Status = Delivery.Status

REQUEUE_AFTER = timedelta(seconds=60)  # a pending delivery this long past due lost its queued task
SENDING_STALE = timedelta(minutes=10)  # a delivery "sending" this long lost its worker


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
        if isinstance(exc, DeliveryFailed):
            error = str(exc)
        else:  # its details may be the receiver's or the network's: they go to the log, never to the record
            log.exception("alert delivery %s failed unexpectedly", delivery_id)
            error = "failed unexpectedly (the details are in the worker's log)"
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
    transport_for(delivery.channel).send(delivery.channel, delivery)


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


# Named as it always was, so that deliveries queued by an older portal still reach it.
@shared_task(name="policies.tasks.deliver", bind=True, ignore_result=True, max_retries=None)
def deliver(self, delivery_id: int) -> None:
    """One attempt at an alert delivery; a failed one is retried with backoff, as many times as
    ALERT_DELIVERY_ATTEMPTS allows (counted on the delivery's row, so a re-queued one counts too)."""
    wait = attempt(delivery_id)
    if wait is not None:
        raise self.retry(countdown=wait)
