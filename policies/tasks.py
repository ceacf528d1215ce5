"""The worker's tasks (`celery -A dashboard worker`): the tick beat sends every POLICY_TICK_SECONDS, and each
alert delivery (policies.alerts.delivery.deliver). Both are plain functions underneath (policies.runs,
policies.alerts), so tests call them."""

from __future__ import annotations

import logging

from celery import shared_task
from django.contrib.auth import get_user_model
from django.core.mail import send_mail
from django.utils import timezone

from policies import runs
from policies.alerts import delivery, watch
from policies.alerts.delivery import deliver  # noqa: F401  (the worker finds the delivery task through here)

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
    for step in (watch.watch, delivery.requeue):
        try:
            step(now)
        except Exception:
            log.exception("the tick's %s failed", step.__name__)
    return done


@shared_task(ignore_result=True)
def tell_user(user_id: int, subject: str, body: str) -> None:
    """An e-mail to one portal user about something of theirs (e.g. a policy that became someone else's), when their
    account has an address."""
    user = get_user_model().objects.filter(pk=user_id).first()
    if user is None or not user.email:
        log.info("not told (no e-mail address): user %s, %s", user_id, subject)
        return
    send_mail(f"[GP Jobs Portal] {subject}", body, None, [user.email])
