"""The collector's schedule (beat, one task per site), its settings, and `manage.py collect_jobs`."""

from __future__ import annotations

import io
import re

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.core.management import CommandError, call_command

from history import tasks
from history.models import IndexedJob
from jobs.models import Site
from tests.helpers import load_settings

EXECUTING = "esriJobExecuting"


def collect_jobs(*args) -> str:
    out = io.StringIO()
    call_command("collect_jobs", *args, stdout=out)
    return out.getvalue()


def test_collect_jobs_runs_one_pass_and_says_what_it_did(simulator, site, service, monitored):
    simulator.state.add_job(service.key, status=EXECUTING)
    simulator.state.add_job(service.key, status="esriJobSucceeded")
    out = collect_jobs()
    assert re.fullmatch(
        r"main: 2 new, 0 changed, 0 vanished jobs in 1 services; 4 upstream calls; \d+\.\d\d s\n", out
    ), out
    assert IndexedJob.objects.count() == 2
    assert collect_jobs("--site", "main").startswith("main: 0 new, 0 changed, 0 vanished jobs in 1 services;")


def test_collect_jobs_fails_for_a_site_it_cannot_collect(simulator, site, hidden_site, service, monitored):
    with pytest.raises(CommandError, match="No site 'nowhere'"):
        collect_jobs("--site", "nowhere")
    out = io.StringIO()
    with pytest.raises(CommandError, match=r"Not collected: hidden\.") as failure:
        call_command("collect_jobs", "--site", "hidden", stdout=out)
    assert failure.value.returncode == 1
    assert out.getvalue() == "hidden: no monitoring account, not collected\n"
    simulator.faults.set("expire_tokens")
    out = io.StringIO()
    with pytest.raises(CommandError, match=r"Not collected: main\."):
        call_command("collect_jobs", stdout=out)
    assert "ArcGIS rejected the monitoring account's token" in out.getvalue()


def test_collect_jobs_without_monitored_sites_says_so(site):
    assert collect_jobs() == "No site has a monitoring account: nothing to collect.\n"


def test_beat_s_pass_queues_one_task_per_monitored_site(simulator, site, hidden_site, service, monitored):
    simulator.state.add_job(service.key, status=EXECUTING)
    assert tasks.collect() == 1  # the hidden site has no monitoring account
    assert list(IndexedJob.objects.values_list("site__slug", flat=True)) == ["main"]
    assert tasks.collect_site(Site.objects.get(slug="main").pk).startswith("main: 0 new")
    assert tasks.collect_site(10_000) == ""


def test_the_interval_and_the_retention_come_from_the_environment(environ):
    defaults = load_settings()
    assert (defaults["HISTORY_COLLECT_SECONDS"], defaults["HISTORY_RETENTION_DAYS"]) == (30, 90)
    assert defaults["CELERY_BEAT_SCHEDULE"]["history-collect"] == {
        "task": "history.tasks.collect",
        "schedule": 30,
        "options": {"expires": 30},
    }
    environ.setenv("HISTORY_COLLECT_SECONDS", "15")
    environ.setenv("HISTORY_RETENTION_DAYS", "400")
    settings = load_settings()
    assert settings["CELERY_BEAT_SCHEDULE"]["history-collect"]["schedule"] == 15
    assert settings["HISTORY_RETENTION_DAYS"] == 400
    environ.setenv("HISTORY_RETENTION_DAYS", "0")
    with pytest.raises(ImproperlyConfigured, match="HISTORY_RETENTION_DAYS must be at least 1"):
        load_settings()
