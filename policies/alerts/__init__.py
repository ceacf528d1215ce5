"""Alerts: telling people when something needs them, on the channels Site admins configured.

`alert()` records one delivery per channel that wants the event and queues it for the worker once the
transaction commits: a web request never waits for a webhook or a mail server, and a broker that is down
leaves the delivery pending for the next tick (`delivery.requeue()`). The worker makes each attempt
(`delivery.attempt()`) through the channel kind's transport (`transports`), retrying with backoff; every
delivery is recorded: sent, or failed and why. `watch` turns what the portal noticed into alerts.
"""

from __future__ import annotations

import functools
import logging
import time

from django.conf import settings
from django.db import transaction

from jobs.audit import quoted
from jobs.models import Site
from jobs.shared_cache import cache
from policies.models import AlertChannel, Delivery

log = logging.getLogger(__name__)

# A test alert makes the worker call the channel's address at once: at most one a minute per channel, and ten an hour
# per person, so that "send a test" is no way to knock on an address again and again.
TEST_ALERT_EVERY_SECONDS = 60
TEST_ALERTS_PER_HOUR = 10


def alert(
    event: str, site: Site | None, title: str, text: str, *, link: str = "", on: list[AlertChannel] | None = None
) -> list[Delivery]:
    """One delivery per enabled channel that wants this event (for this site) and whose owner may see the site,
    queued after the commit; `on`: only among these channels (an event whose threshold is each channel's own)."""
    enabled = on if on is not None else AlertChannel.objects.filter(enabled=True).select_related("owner")
    channels = [channel for channel in enabled if channel.wants(event, site) and channel.may_carry(site)]
    deliveries = [
        Delivery.objects.create(channel=channel, event=event, site=site, title=title[:300], text=text, link=link)
        for channel in channels
    ]
    for delivery in deliveries:
        transaction.on_commit(functools.partial(queue, delivery.pk))
    return deliveries


def queue(delivery_id: int) -> None:
    """Hand a delivery to the worker; if the broker does not take it, it stays pending for the next tick."""
    from policies.alerts.delivery import deliver  # the worker's side; imported when first needed

    try:
        deliver.apply_async((delivery_id,), retry=False)
    except Exception as exc:  # any broker trouble: never the caller's (a web request's) failure
        log.warning("alert delivery %s stays pending: the task broker did not take it (%s)", delivery_id, exc)


def portal_link(path: str) -> str:
    """An absolute link to a portal page, when PORTAL_URL says where the portal is."""
    return f"{settings.PORTAL_URL}{path}" if settings.PORTAL_URL else ""


def send_test_alert(channel: AlertChannel, user) -> str | None:
    """Queue a test alert on the channel, on behalf of the user; returns why it was not, when it was asked for too
    often (the limits are counted in the shared cache, so they hold across workers)."""
    hour = int(time.time() // 3600)
    per_user = f"alerts:test:user:{user.pk}:{hour}"
    cache.add(per_user, 0, timeout=3700)
    try:
        sent = cache.incr(per_user)
    except ValueError:  # expired between add and incr
        cache.set(per_user, 1, timeout=3700)
        sent = 1
    if sent > TEST_ALERTS_PER_HOUR:
        return f"You sent {TEST_ALERTS_PER_HOUR} test alerts this hour: try again later."
    if not cache.add(f"alerts:test:channel:{channel.pk}", 1, timeout=TEST_ALERT_EVERY_SECONDS):
        return f"{channel.name}: a test alert was sent less than a minute ago; its delivery says how it went."
    delivery = Delivery.objects.create(
        channel=channel,
        event=channel.events[0] if channel.events else AlertChannel.Event.POLICY_ACTED,
        site=channel.site,
        title="Test alert from the GP Jobs Portal",
        text=f"{user.get_username()} sent this to check the channel {quoted(channel.name)}.",
        link=portal_link("/policies/"),
    )
    queue(delivery.pk)
    return None
