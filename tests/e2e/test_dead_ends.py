"""No dead ends, as a person meets them in Chromium: a new job's row says what works instead of Cancel (on a phone
too), the Purge button first says how many jobs it would cancel and can be kept, Delete names the service and the
site, and a search for part of an ID says why it found nothing."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

import arcgis_client

pytestmark = pytest.mark.e2e


def test_a_new_jobs_row_says_what_works_instead_of_cancel(operator_page, simulator, service, jobs_url):
    new = simulator.state.add_job(service.key, arcgis_client.NEW)
    page = operator_page
    for width, height in ((1440, 900), (390, 844)):
        page.set_viewport_size({"width": width, "height": height})
        page.goto(jobs_url)
        row = page.locator(f"#job-{new}")
        expect(row.get_by_role("button", name="Cancel", exact=True)).to_be_disabled()
        hint = row.locator(f"#cancel-hint-{new}")
        expect(hint).to_be_visible()
        expect(hint).to_have_text("ArcGIS cancels only submitted or executing jobs: delete it, or purge the queue.")


def test_purge_says_how_many_first_and_can_be_kept(operator_page, simulator, service, jobs_url):
    queued = [simulator.state.add_job(service.key, arcgis_client.SUBMITTED) for _ in range(2)]
    page = operator_page
    page.goto(jobs_url)
    page.get_by_role("button", name="Purge queue…").click()
    question = page.locator("#purge-confirm")
    expect(question).to_contain_text("Purge the queue of Hydrology/Watershed on Main site?")
    expect(question.locator("#purge-count")).to_have_text("2 jobs are queued now: 0 new, 2 submitted, 0 waiting.")
    question.get_by_role("link", name="Keep the queue").click()
    expect(question).to_have_count(0)
    assert not [r for r in simulator.requests if r.operation == "purgeQueue"]

    page.get_by_role("button", name="Purge queue…").click()
    page.locator("#purge-confirm").get_by_role("button", name="Purge queue").click()
    expect(page.locator("#action-result")).to_contain_text("Queue purged")
    assert [r.operation for r in simulator.requests if r.operation == "purgeQueue"] == ["purgeQueue"]
    for job_id in queued:
        assert simulator.state.get_job(service.key, job_id)["status"] != arcgis_client.SUBMITTED


def test_delete_names_the_service_and_the_site(operator_page, simulator, service, jobs_url):
    job_id = simulator.state.add_job(service.key, arcgis_client.EXECUTING)
    page = operator_page
    page.goto(jobs_url)
    asked = []
    page.once("dialog", lambda dialog: (asked.append(dialog.message), dialog.dismiss()))
    page.locator(f"#job-{job_id}").get_by_role("button", name="Delete").click()
    expect(page.locator(f"#job-{job_id}")).to_be_visible()  # dismissed: nothing deleted
    assert asked and asked[0].startswith(f"Delete job {job_id} of Hydrology/Watershed on Main site?"), asked


def test_a_search_for_part_of_an_id_says_it_must_be_whole(operator_page, simulator, service, jobs_url):
    simulator.state.add_job(service.key, arcgis_client.EXECUTING)
    page = operator_page
    page.goto(jobs_url)
    page.get_by_label("Job ID").fill("j1")
    page.get_by_role("button", name="Filter").click()
    expect(page.locator("#table-summary")).to_contain_text(
        "No jobs match. Job ID “j1” must be whole, exactly as ArcGIS names it: part of a name finds nothing."
    )
    page.get_by_role("link", name="Clear the filters").click()
    expect(page.locator('tr[id^="job-"]')).to_have_count(1)
