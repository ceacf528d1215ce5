"""Template tags of the job history for pages outside it: a site's failing monitoring account (the overview)."""

from __future__ import annotations

from django import template

from history.models import MonitoringAccount

register = template.Library()


@register.simple_tag(takes_context=True)
def failing_monitoring(context, site) -> MonitoringAccount | None:
    """The site's monitoring account if it fails, else None: every failing account is read once per request (a
    page of several sites costs one query), never through the site object, which a process may keep for long."""
    request = context.get("request")
    failing = getattr(request, "_failing_monitoring", None)
    if failing is None:
        accounts = MonitoringAccount.objects.filter(failing_since__isnull=False)
        failing = {
            account.site_id: account
            for account in accounts.only("pk", "site", "failing_since", "problem", "problem_kind")
        }
        if request is not None:
            request._failing_monitoring = failing
    return failing.get(site.pk)
