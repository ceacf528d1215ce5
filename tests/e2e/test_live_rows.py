"""Rows stay true while a page is open: a row an action answered on the fleet view keeps what it showed and
turns Cancelled by itself, even once its job has left the list; durations keep counting; a job that crosses
the running-long threshold while the page is open is flagged without a reload."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from playwright.sync_api import Page, expect

import arcgis_client
from jobs.views import fleet_view

pytestmark = pytest.mark.e2e

SERVICE_KEY = "Hydrology/Watershed"  # the GP service of the `service` fixture
SHOWN = ("Submitted", "Duration", "User", "Machine")


def cells(row) -> dict[str, str]:
    return {label: row.locator(f'td[data-label="{label}"]').inner_text() for label in SHOWN}


def mark_table(page: Page) -> None:
    """Mark the fleet's table body, so a test sees when the page's refresh has replaced it."""
    page.locator("#fleet-rows").evaluate("tbody => { tbody.dataset.stale = '1'; }")


def test_a_cancel_on_the_fleet_view_keeps_the_row_and_it_turns_cancelled_by_itself(
    service, operator_page: Page, simulator, monkeypatch
):
    monkeypatch.setattr(fleet_view, "REFRESH_SECONDS", 2)
    now = datetime.now(UTC)
    job_id = simulator.state.add_job(
        SERVICE_KEY, arcgis_client.EXECUTING, username="svc_batch", submitted=now - timedelta(minutes=3)
    )
    other = simulator.state.add_job(SERVICE_KEY, arcgis_client.EXECUTING, submitted=now - timedelta(minutes=4))
    page = operator_page
    page.goto("/jobs/")
    row = page.locator(f"#job-{job_id}")
    expect(page.locator("#fleet-progress")).to_contain_text("2 jobs shown")
    before = cells(row)
    assert before["User"] == "svc_batch" and before["Machine"] == "GIS01"

    row.get_by_role("button", name="Cancel", exact=True).click()

    cancelling = page.locator(f'#job-{job_id}[data-status="{arcgis_client.CANCELLING}"]')
    expect(cancelling.get_by_role("status")).to_have_text("Cancel requested")
    shown = cells(cancelling)
    assert {k: v for k, v in shown.items() if k != "Duration"} == {k: v for k, v in before.items() if k != "Duration"}
    assert shown["Duration"] != "—"
    # The simulator ends the cancel 1.5 s later; the row learns it by itself.
    cancelled = page.locator(f'#job-{job_id}[data-status="{arcgis_client.CANCELLED}"]')
    expect(cancelled.locator(".badge").first).to_have_text("Cancelled")
    expect(cancelled.get_by_role("status")).to_have_text("Cancel requested")
    assert cells(cancelled)["User"] == "svc_batch"

    # The table is read again (active jobs only): the cancelled job is no longer in the list, its row stays.
    mark_table(page)
    expect(page.locator("#fleet-rows:not([data-stale])")).to_be_attached()
    expect(page.locator(f"#job-{other}")).to_be_attached()
    expect(cancelled.get_by_role("status")).to_have_text("Cancel requested")
    assert cells(cancelled)["Submitted"] == before["Submitted"]


def test_durations_count_and_a_job_crossing_the_running_long_threshold_is_flagged_without_a_reload(
    service, operator_page: Page, simulator, jobs_url
):
    now = datetime.now(UTC)
    for i in range(8):  # Watershed usually takes five minutes: running long past fifteen
        start = now - timedelta(hours=2, minutes=i)
        simulator.state.add_job(
            SERVICE_KEY, arcgis_client.SUCCEEDED, submitted=start, end_time=start + timedelta(minutes=5)
        )
    job_id = simulator.state.add_job(
        SERVICE_KEY, arcgis_client.EXECUTING, submitted=now - timedelta(minutes=14, seconds=48)
    )
    page = operator_page
    page.goto(jobs_url)
    row = page.locator(f"#job-{job_id}")
    duration = row.locator('td[data-label="Duration"]')
    expect(duration).to_contain_text("14 min")
    expect(row).not_to_have_attribute("data-running-long", "true")
    page.evaluate("window.__marker = 1")
    first = duration.inner_text()

    expect(duration).not_to_have_text(first)  # it counts, though nothing about the job changed on the server
    expect(row).to_have_attribute("data-running-long", "true", timeout=25_000)
    expect(row.locator(".badge.flag")).to_contain_text("Running long")
    assert page.evaluate("window.__marker") == 1, "the page was reloaded"
