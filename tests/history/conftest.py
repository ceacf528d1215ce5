"""Fixtures of the job history's tests: a site's monitoring account on the simulator."""

from __future__ import annotations

import pytest

from history import monitoring
from history.models import MonitoringAccount
from jobs.models import AuditEvent


@pytest.fixture
def superuser(django_user_model):
    return django_user_model.objects.create_superuser("root", "root@example.com", "root-password")


@pytest.fixture
def monitored(site, superuser) -> MonitoringAccount:
    """The site with a monitoring account: the simulator's reader publisher/publisher (reading needs no more)."""
    monitoring.set_account(site, superuser, username="publisher", password="publisher", via=AuditEvent.Via.CLI)
    return MonitoringAccount.objects.get(site=site)
