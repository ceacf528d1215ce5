"""Bulk actions at scale, as an operator does them: a bulk says how many jobs of which services before it acts,
"select all N matching" reaches every page, a large bulk shows its progress and each row's outcome as they come,
and the selection is gone afterwards (the next "Delete selected" cannot act on it by mistake)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from playwright.sync_api import Page, expect

import arcgis_client
from jobs.models import AuditEvent

pytestmark = pytest.mark.e2e

SERVICE_KEY = "Hydrology/Watershed"  # the GP service of the `service` fixture
MIDWAY = """() => {
  const bar = document.getElementById("bulk-progress-bar");
  return bar && bar.value > 0 && bar.value < bar.max;
}"""


def ticked(page: Page) -> int:
    return page.locator('input[name="job_ids"]:checked').count()


def test_select_all_matching_asks_first_then_streams_its_progress_and_clears_the_selection(
    operator_page: Page, simulator, jobs_url
):
    now = datetime.now(UTC)
    jobs = [
        simulator.state.add_job(SERVICE_KEY, arcgis_client.EXECUTING, submitted=now - timedelta(seconds=i))
        for i in range(160)
    ]
    simulator.faults.set("latency", operation="cancel", ms=120)  # a large bulk takes a while: it shows its progress
    page = operator_page
    page.goto(f"{jobs_url}?per_page=25")
    expect(page.locator(f"#job-{jobs[0]}")).to_be_attached()

    page.get_by_label("Select all jobs on this page").check()
    assert ticked(page) == 25
    page.get_by_role("button", name="Select all 160 matching jobs").click()
    expect(page.get_by_text("All 160 matching selected")).to_be_visible()
    page.get_by_role("button", name="Cancel selected").click()

    question = page.get_by_role("alertdialog")
    expect(question.get_by_role("heading")).to_have_text("Cancel 160 jobs of Hydrology/Watershed on Main site?")
    assert not [r for r in simulator.requests if r.operation == "cancel"]  # nothing is sent before the answer
    expect(question.get_by_role("button", name="Cancel 160 jobs")).to_be_focused()
    question.get_by_role("button", name="Cancel 160 jobs").click()

    page.wait_for_function(MIDWAY, timeout=15_000)  # "… 48 of 160 done", while the rest is under way
    expect(page.locator("#bulk-progress-text")).to_contain_text(" of 160 done")
    expect(page.locator("#bulk-summary")).to_have_text("160 cancellations requested", timeout=30_000)
    expect(page.locator("#bulk-progress-text")).to_have_text("160 of 160 done")
    # The rows of the page say so; the selection is spent.
    expect(page.locator(f"#job-{jobs[0]}").get_by_role("status")).to_have_text("Cancel requested")
    assert ticked(page) == 0
    expect(page.get_by_label("Select all jobs on this page")).not_to_be_checked()
    assert AuditEvent.objects.filter(action="cancel", via="bulk", outcome="success").count() == 160
    assert not AuditEvent.objects.filter(outcome="pending").exists()


def test_a_fleet_bulk_names_its_services_and_its_rows_stay_whole(service, operator_page: Page, simulator):
    simulator.state.add_service("Buffer")
    first = simulator.state.add_job(SERVICE_KEY, arcgis_client.EXECUTING, username="svc_batch")
    second = simulator.state.add_job("Buffer", arcgis_client.EXECUTING, username="analyst1")
    page = operator_page
    page.goto("/jobs/")
    expect(page.locator("#fleet-progress")).to_contain_text("2 jobs shown")
    page.get_by_label("Select all jobs on this page").check()
    expect(page.get_by_text("2 selected")).to_be_visible()
    page.get_by_role("button", name="Cancel selected").click()

    question = page.get_by_role("alertdialog")
    expect(question.get_by_role("heading")).to_have_text("Cancel 2 jobs of 2 services on Main site?")
    expect(question.get_by_role("listitem")).to_have_text(["Buffer: 1 job", "Hydrology/Watershed: 1 job"])
    question.get_by_role("link", name="Keep them").click()  # not now: nothing happens, the selection stays
    expect(question).to_have_count(0)
    assert ticked(page) == 2 and not [r for r in simulator.requests if r.operation == "cancel"]
    page.get_by_role("button", name="Cancel selected").click()
    expect(question.get_by_role("button", name="Cancel 2 jobs")).to_be_focused()
    page.keyboard.press("Escape")  # from the keyboard too
    expect(question).to_have_count(0)
    expect(page.get_by_role("button", name="Cancel selected")).to_be_focused()

    page.get_by_role("button", name="Cancel selected").click()
    page.get_by_role("alertdialog").get_by_role("button", name="Cancel 2 jobs").click()
    expect(page.locator("#bulk-summary")).to_have_text("2 cancellations requested")
    assert ticked(page) == 0
    for job_id, user in ((first, "svc_batch"), (second, "analyst1")):
        row = page.locator(f'#job-{job_id}[data-status="{arcgis_client.CANCELLED}"]')
        expect(row.get_by_role("status")).to_have_text("Cancel requested")  # turned Cancelled by itself
        expect(row.locator('td[data-label="User"]')).to_have_text(user)
