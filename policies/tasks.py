"""The worker's tasks (`celery -A dashboard worker`): the tick beat sends every POLICY_TICK_SECONDS, and each
alert delivery. Both are plain functions underneath (policies.runs, policies.alerts), so tests call them."""

from __future__ import annotations

import logging

from celery import shared_task
from django.utils import timezone

from policies import alerts, runs

log = logging.getLogger(__name__)


@shared_task(ignore_result=True)
def tick() -> dict:
    """Run the scheduled policies that are due (each claimed once, whichever worker ticks), turn what the portal
    noticed into alerts, and queue again the deliveries that lost their way. Each step stands on its own."""
    now = timezone.now()
    done = {"runs": 0}
    try:
        runs.tidy_runs(now)
        for run in runs.claim_due(now):
            try:
                runs.run_scheduled(run)
            except Exception:  # one policy's surprise is that run's failure, not the tick's
                log.exception("scheduled run %s of policy %s failed", run.pk, run.policy_id)
                runs.fail_run(run, "The run failed unexpectedly; the details are in the worker's log.")
            done["runs"] += 1
    except Exception:
        log.exception("the tick could not run the due policies")
    for step in (alerts.watch, alerts.requeue):
        try:
            step(now)
        except Exception:
            log.exception("the tick's %s failed", step.__name__)
    return done


@shared_task(bind=True, ignore_result=True, max_retries=None)
def deliver(self, delivery_id: int) -> None:
    """One attempt at an alert delivery; a failed one is retried with backoff, as many times as
    ALERT_DELIVERY_ATTEMPTS allows (counted on the delivery's row, so a re-queued one counts too)."""
    wait = alerts.attempt(delivery_id)
    if wait is not None:
        raise self.retry(countdown=wait)
