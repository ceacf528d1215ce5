"""The top of a job's page says what a person came for: why a failed job failed (its telling error, even when it is
the 22nd message of many, with a link to it) and how long it took, saying that the time since its submission
includes the queue, and how long ArcGIS itself ran it."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest

import arcgis_client
from jobs.job_page import elapsed_time, timing_text
from tests.helpers import text

INFO, ERROR = "esriJobMessageTypeInformative", "esriJobMessageTypeError"
T0 = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)


def message(description: str, index: int = 0, kind: str = INFO) -> arcgis_client.JobMessage:
    return arcgis_client.JobMessage(index, kind, description)


@pytest.mark.parametrize(
    ("line", "seconds"),
    [
        ("Succeeded at Sunday, December 6, 2026 7:02:34 AM (Elapsed Time: 46.46 seconds)", 46.46),
        ("Failed at Monday, April 2, 2018 4:57:06 PM (Elapsed Time: 1 minutes 15 seconds)", 75),
        ("Succeeded at … (Elapsed Time: 2 hours 1 minutes 3.5 seconds)", 7263.5),
        ("Succeeded at Monday, April 2, 2018 4:57:06 PM", None),
    ],
)
def test_the_time_arcgis_ran_a_job_is_read_from_its_closing_message(line, seconds):
    found = elapsed_time([message("Executing..."), message(line, 1)])
    if seconds is None:
        assert found is None
    else:
        assert found is not None and found.total_seconds() == pytest.approx(seconds)


def test_the_timing_says_the_queue_is_included_and_how_long_arcgis_ran_it():
    job = arcgis_client.Job("j1", arcgis_client.SUCCEEDED, submitted=T0, ended=T0 + timedelta(minutes=10))
    assert timing_text(job, timedelta(minutes=4)) == (
        "Took 10 min 00 s from its submission to its end, time in the queue included. "
        "ArcGIS ran it for 4 min 00 s, so it waited about 6 min 00 s to start."
    )
    assert timing_text(job, None) == "Took 10 min 00 s from its submission to its end, time in the queue included."
    queued = arcgis_client.Job("j2", arcgis_client.SUBMITTED, submitted=datetime.now(UTC) - timedelta(minutes=3))
    assert timing_text(queued, None).startswith("Waiting in the queue: submitted 3 min")


def test_a_failed_jobs_page_says_why_at_the_top(simulator, service, target, olivia):
    log = [{"type": INFO, "description": f"Processing part {n}..."} for n in range(21)]
    log += [
        {"type": ERROR, "description": "ERROR 999999: Something unexpected caused the tool to fail."},
        {"type": ERROR, "description": "Failed to execute (Watershed)."},
        {"type": INFO, "description": "Failed at Monday, April 2, 2018 4:57:06 PM (Elapsed Time: 2.03 seconds)"},
    ]
    submitted = simulator.clock.now() - timedelta(minutes=5)
    job_id = simulator.state.add_job(
        service.key, arcgis_client.FAILED, submitted=submitted, end_time=submitted + timedelta(seconds=30), messages=log
    )
    html = olivia.get(target.job_url(job_id)).content.decode()
    summary = re.search(r'<p id="job-last-error".*?</p>', html, re.S)
    assert summary and html.index(summary.group()) < html.index("<table")  # above the row, not at message 22
    assert text(summary.group()) == (
        "Failed Why: ERROR 999999: Something unexpected caused the tool to fail. message 22"
    )
    assert 'href="#message-22"' in summary.group() and 'id="message-22"' in html
    timing = text(re.search(r'<p id="job-timing".*?</p>', html, re.S).group())
    assert timing == (
        "Took 30 s from its submission to its end, time in the queue included. "
        "ArcGIS ran it for 2 s, so it waited about 27 s to start."
    )
    assert "Since submitted" in html  # the row's duration, named for what it counts


def test_a_succeeded_job_says_no_why(simulator, service, target, olivia):
    job_id = simulator.state.add_job(service.key, arcgis_client.SUCCEEDED)
    html = olivia.get(target.job_url(job_id)).content.decode()
    assert 'id="job-last-error"' not in html and 'id="job-timing"' in html
