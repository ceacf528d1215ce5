"""Bulk actions at scale: each asks first (how many jobs of which services), "all matching" reaches every page of
a list, a streamed bulk reports its progress and each shown row as it goes, and every job is audited before its
call and after it, also when the page that asked went away."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from django.urls import reverse

import arcgis_client
from jobs import operations
from jobs.models import AuditEvent, Site
from jobs.queries import ActionTarget
from jobs.views import bulk
from tests.helpers import jobs_table_html, row_ids, sse_events, text

EXECUTING, SUCCEEDED = arcgis_client.EXECUTING, arcgis_client.SUCCEEDED
T0 = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)


def cancels(simulator) -> list:
    return [r for r in simulator.requests if r.operation == "cancel"]


def hidden_values(html: str, name: str) -> list[str]:
    return re.findall(rf'<input type="hidden" name="{name}" value="([^"]*)">', html)


def add_jobs(simulator, service, count: int, status: str = EXECUTING) -> list[str]:
    return [
        simulator.state.add_job(service.key, status=status, submitted=T0 + timedelta(minutes=i)) for i in range(count)
    ]


def test_a_bulk_asks_first_saying_how_many_jobs_of_which_services(simulator, site, service, olivia):
    simulator.state.add_service("Buffer")
    here = add_jobs(simulator, service, 2)
    there = simulator.state.add_job("Buffer", status=EXECUTING)
    values = [f"main:{service.key}:{job_id}" for job_id in here] + [f"main:Buffer:{there}"]
    simulator.requests.clear()

    html = olivia.action(reverse("jobs:fleet_bulk"), {"action": "cancel", "job_ids": values}).content.decode()

    assert 'role="alertdialog"' in html
    assert text(re.search(r"<h2[^>]*>(.*?)</h2>", html).group(1)) == "Cancel 3 jobs of 2 services on Main site?"
    assert "<strong>Buffer</strong>: 1 job" in html
    assert "<strong>Hydrology/Watershed</strong>: 2 jobs" in html
    assert sorted(hidden_values(html, "job_ids")) == sorted(values)  # exactly these, posted back when confirmed
    assert hidden_values(html, "confirmed") == ["yes"] and ">Cancel 3 jobs</button>" in html
    assert not cancels(simulator) and not AuditEvent.objects.exists()


def test_jobs_of_several_sites_are_named_with_their_site(simulator, site, service, operator, connect, olivia):
    backup = Site.objects.create(slug="backup", name="Backup site", admin_url=simulator.admin_url, insecure=True)
    connect(operator, backup)
    job_id = add_jobs(simulator, service, 1)[0]
    values = [f"main:{service.key}:{job_id}", f"backup:{service.key}:{job_id}"]
    html = olivia.action(reverse("jobs:fleet_bulk"), {"action": "delete", "job_ids": values}).content.decode()
    assert text(re.search(r"<h2[^>]*>(.*?)</h2>", html).group(1)) == "Delete 2 jobs of 2 services?"
    assert "<strong>Hydrology/Watershed</strong> on Backup site: 1 job" in html
    assert "<strong>Hydrology/Watershed</strong> on Main site: 1 job" in html


def test_without_javascript_the_question_is_a_page_of_its_own(simulator, site, service, target, olivia):
    job_id = add_jobs(simulator, service, 1)[0]
    html = olivia.action(target.url("bulk"), {"action": "delete", "job_ids": [job_id]}, htmx=False).content.decode()
    assert "<!doctype html>" in html and "Delete 1 job of Hydrology/Watershed on Main site?" in text(html)
    assert "This cannot be undone." in html and "Keep it" in html


def test_select_all_matching_reads_every_page_of_the_list(simulator, site, service, target, olivia):
    matching = add_jobs(simulator, service, 60)
    add_jobs(simulator, service, 5, status=SUCCEEDED)  # not of the filter
    page = jobs_table_html(olivia, target, {"status": EXECUTING, "per_page": 25})
    assert "Select all 60 matching jobs" in page
    shown = row_ids(page)
    assert len(shown) == 25

    html = olivia.action(
        target.url("bulk"),
        {"action": "cancel", "all_matching": "1", "filters": f"status={EXECUTING}&per_page=25", "job_ids": shown},
    ).content.decode()

    assert "Cancel 60 jobs of Hydrology/Watershed on Main site?" in text(html)
    assert sorted(hidden_values(html, "job_ids")) == sorted(matching)
    assert sorted(hidden_values(html, "shown")) == sorted(shown)  # only these rows are on the page to answer
    assert not cancels(simulator)


def test_all_matching_says_how_many_have_finished_already(simulator, site, service, target, olivia):
    add_jobs(simulator, service, 3)
    add_jobs(simulator, service, 2, status=SUCCEEDED)
    html = olivia.action(
        target.url("bulk"), {"action": "cancel", "all_matching": "1", "filters": "", "job_ids": []}
    ).content.decode()
    assert "Cancel 5 jobs" in text(html)
    assert "2 of them have already finished: the portal does not send them a cancel." in text(html)


def test_more_matching_jobs_than_a_bulk_holds_are_refused_in_words(
    simulator, site, service, target, olivia, monkeypatch
):
    monkeypatch.setattr(bulk, "MAX_BULK", 5)
    add_jobs(simulator, service, 6)
    html = olivia.action(
        target.url("bulk"), {"action": "cancel", "all_matching": "1", "filters": "", "job_ids": []}
    ).content.decode()
    assert "More than 5 jobs match, and a bulk acts on at most 5 at once: narrow the filters" in text(html)
    assert 'role="alertdialog"' not in html and not cancels(simulator)


def test_the_fleet_counts_what_its_filters_match_on_every_page(simulator, site, service, olivia):
    add_jobs(simulator, service, 3)
    html = olivia.htmx_get(reverse("jobs:fleet_matching"), {"status": EXECUTING}).content.decode()
    assert "Select all 3 matching jobs" in html and 'data-count="3"' in html
    fleet_html = olivia.get(reverse("jobs:fleet"), {"status": EXECUTING}).content.decode()
    assert f'hx-get="{reverse("jobs:fleet_matching")}?status={EXECUTING}"' in fleet_html


def test_fleet_select_all_matching_acts_on_the_jobs_it_lists(simulator, site, service, olivia):
    jobs = add_jobs(simulator, service, 3)
    add_jobs(simulator, service, 2, status=SUCCEEDED)
    html = olivia.action(
        reverse("jobs:fleet_bulk"), {"action": "delete", "all_matching": "1", "filters": f"status={EXECUTING}"}
    ).content.decode()
    assert "Delete 3 jobs of Hydrology/Watershed on Main site?" in text(html)
    assert sorted(hidden_values(html, "job_ids")) == sorted(f"main:{service.key}:{job_id}" for job_id in jobs)


def test_a_streamed_bulk_reports_progress_each_shown_row_and_the_summary(simulator, site, service, target, olivia):
    jobs = add_jobs(simulator, service, 4)
    done = add_jobs(simulator, service, 1, status=SUCCEEDED)
    jobs_table_html(olivia, target)  # the page the operator ticked them on (the portal knows one has finished)
    response = olivia.post(
        target.url("bulk"),
        {"action": "cancel", "confirmed": "yes", "job_ids": [*jobs, *done], "shown": jobs[:2]},
        headers={"HX-Request": "true", "X-CSRFToken": olivia.csrf_token, "Accept": "text/event-stream"},
    )
    assert response["Content-Type"] == "text/event-stream"
    events = sse_events(response)
    assert events[-1][0] == "done"
    fragments = [data for name, data in events if name == "fragment"]
    assert 'id="action-result" hx-swap-oob="innerHTML"' in fragments[0] and "0 of 5 done" in text(fragments[0])
    assert "1 of 5 done" in text(fragments[1])  # the finished job, skipped at once
    assert "5 of 5 done" in text(fragments[-1])
    summary = re.search(r'<p id="bulk-summary"[^>]*>(.*?)</p>', fragments[-1]).group(1)
    assert summary == "4 cancellations requested, 1 skipped (already finished)"
    answered = [job_id for fragment in fragments for job_id in row_ids(fragment)]
    assert sorted(answered) == sorted(jobs[:2])  # only the rows the page shows
    outcomes = AuditEvent.objects.filter(action="cancel", via="bulk").values_list("outcome", flat=True)
    assert sorted(outcomes) == ["success"] * 4


def test_a_bulk_whose_page_went_away_is_still_carried_out_and_recorded(simulator, site, service, operator, connect):
    connect(operator, site)
    jobs = add_jobs(simulator, service, 40)
    simulator.faults.set("latency", operation="cancel", ms=100)
    targets = [ActionTarget(service, job_id) for job_id in jobs]
    batches = operations.act_in_batches(
        operator, site, "cancel", targets, via=AuditEvent.Via.BULK, every=0.01, known={}
    )
    first = next(batches)
    assert 0 < len(first) < 40
    assert AuditEvent.objects.filter(outcome="pending").count() == 40 - len(first)  # written before the calls

    batches.close()  # the page stopped listening

    assert not AuditEvent.objects.filter(outcome="pending").exists()
    assert AuditEvent.objects.filter(outcome="success").count() == 40
    assert all(simulator.state.get_job(service.key, job_id)["status"] != EXECUTING for job_id in jobs)


@pytest.mark.parametrize(
    ("action", "outcomes", "skipped", "summary"),
    [
        ("cancel", ["success"], 0, "1 cancellation requested"),
        ("cancel", ["success"] * 21 + ["refused"] * 4, 0, "21 cancellations requested, 4 refused"),
        ("cancel", ["failed"] * 2, 3, "0 cancellations requested, 2 failed, 3 skipped (already finished)"),
        ("delete", ["success"] * 3, 0, "3 deleted"),
    ],
)
def test_the_summary_counts_in_words(action, outcomes, skipped, summary):
    results = [operations.ActionResult(action, outcome, "") for outcome in outcomes]
    assert operations.BulkReport(action, results, ["j1"] * skipped).summary == summary


def test_each_job_of_a_bulk_is_completed_with_its_own_outcome(simulator, site, service, operator, connect):
    connect(operator, site)
    running, finished = add_jobs(simulator, service, 3), add_jobs(simulator, service, 2, status=SUCCEEDED)
    targets = [ActionTarget(service, job_id) for job_id in running + finished]

    report = operations.bulk(operator, site, "cancel", targets)  # nothing known: each is sent

    results = {result.job_id: result for result in report.results}
    rows = {event.job_id: event for event in AuditEvent.objects.filter(via="bulk")}
    assert sorted(rows) == sorted(running + finished)
    for job_id in running:
        assert (rows[job_id].outcome, rows[job_id].message, rows[job_id].upstream_code) == (
            "success",
            "Cancel requested",
            None,
        )
    for job_id in finished:
        refused = results[job_id]
        assert refused.outcome == "refused" and job_id in refused.message
        assert (rows[job_id].outcome, rows[job_id].message, rows[job_id].upstream_code) == (
            "refused",
            refused.message,
            refused.code,
        )
    assert all(row.finished is not None and row.duration_ms is not None for row in rows.values())
    assert len({row.finished for row in rows.values()}) == 1  # completed together
