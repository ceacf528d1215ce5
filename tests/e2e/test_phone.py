"""On a phone (390×844), as a person sees it: the API tokens page fits the screen with each token's Revoke in sight
and a Copy button for the token shown once; the jobs page and the fleet view fold their filters away under a line
that says which are set, so the first job is on the first screen, and open them again at a touch. On a wide screen
the filters stay open."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

import arcgis_client
from api import personal_tokens
from tests.history.factory import indexed

pytestmark = pytest.mark.e2e

PHONE = {"width": 390, "height": 844}
FITS = "document.documentElement.scrollWidth <= document.documentElement.clientWidth"


def on_phone(page: Page) -> Page:
    page.set_viewport_size(PHONE)
    return page


def test_the_api_tokens_page_fits_a_phone_and_copies_the_new_token(connected_operator, portal):
    for name in ("deploy-script-for-the-nightly-batch", "grafana"):
        personal_tokens.issue(connected_operator, name, 30)
    page = on_phone(portal.open(connected_operator))
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    page.goto("/account/api-tokens/")
    assert page.evaluate(FITS), "the page scrolls sideways"
    for button in page.get_by_role("button", name="Revoke").all():
        box = button.bounding_box()
        assert box is not None and box["x"] + box["width"] <= PHONE["width"], "a Revoke button is off the screen"

    page.get_by_label("Name").fill("ci")
    page.get_by_role("button", name="Create token").click()
    token = page.locator("#new-token-value").inner_text().strip()
    assert token.startswith("gpj_")
    page.get_by_role("button", name="Copy").click()
    expect(page.get_by_role("status").filter(has_text="Copied.")).to_be_visible()
    assert page.evaluate("navigator.clipboard.readText()") == token
    assert page.evaluate(FITS)


def test_the_jobs_page_folds_its_filters_on_a_phone(operator_page, simulator, service, jobs_url):
    for _ in range(3):
        simulator.state.add_job(service.key, arcgis_client.EXECUTING)
    page = on_phone(operator_page)
    page.goto(jobs_url)
    first = page.locator('tr[id^="job-"]').first
    expect(first).to_be_visible()
    box = first.bounding_box()
    assert box is not None and box["y"] < PHONE["height"] - 100, f"the first job starts at y={box and box['y']}"
    panel = page.locator("details.filter-panel")
    expect(panel.locator("> summary")).to_have_text("Filters (none set)")
    expect(page.get_by_label("Machine")).to_be_hidden()

    panel.locator("> summary").click()
    page.get_by_label("Status").select_option(arcgis_client.EXECUTING)
    expect(panel.locator("> summary")).to_have_text("Filters (Status: Executing)")
    page.get_by_label("Machine").fill("GIS01")
    page.get_by_role("button", name="Filter").click()
    expect(panel.locator("> summary")).to_have_text("Filters (Status: Executing · Machine: GIS01)")


def test_the_fleet_view_folds_its_filters_on_a_phone(operator_page, simulator, service):
    simulator.state.add_job(service.key, arcgis_client.EXECUTING)
    page = on_phone(operator_page)
    page.goto("/jobs/?status=esriJobExecuting&user=analyst1")
    panel = page.locator("details.filter-panel")
    expect(panel.locator("> summary")).to_have_text("Filters (Status: Executing · User: analyst1)")
    first = page.locator('tr[id^="job-"]').first
    expect(first).to_be_visible()
    box = first.bounding_box()
    assert box is not None and box["y"] < PHONE["height"] - 100, f"the first job starts at y={box and box['y']}"


def test_on_a_wide_screen_the_filters_stay_open(operator_page, jobs_url):
    page = operator_page
    page.set_viewport_size({"width": 1440, "height": 900})
    page.goto(jobs_url)
    expect(page.get_by_label("Machine")).to_be_visible()
    expect(page.locator("details.filter-panel > summary")).to_be_hidden()


def test_a_delete_confirmation_on_a_phone_keeps_the_job_id_whole(
    connected_operator, portal, simulator, service, jobs_url
):
    job_id = simulator.state.add_job(service.key, arcgis_client.EXECUTING)
    page = on_phone(portal.open(connected_operator, javascript=False))
    page.goto(f"{jobs_url}?inline=1")
    page.locator(f"#job-{job_id}").get_by_role("button", name="Delete").click()
    heading = page.get_by_role("heading", name=f"Delete job {job_id} of Hydrology/Watershed on Main site?")
    expect(heading).to_be_visible()
    code = heading.locator("code")
    assert code.evaluate("(element) => element.getClientRects().length") == 1, "the job ID breaks"
    box = code.bounding_box()
    assert box is not None and box["x"] + box["width"] <= PHONE["width"]
    assert page.evaluate(FITS)


def test_a_services_history_keeps_its_line_and_leaves_its_charts_to_a_wide_screen(
    operator_page, simulator, site, service, jobs_url
):
    """The jobs come first on a phone: the week's line and its link stay above them, the small charts do not."""
    simulator.state.add_job(service.key, arcgis_client.EXECUTING)
    for _ in range(3):
        indexed(site, service.key)
    page = on_phone(operator_page)
    page.goto(jobs_url)
    expect(page.locator("#service-summary")).to_contain_text("Last 7 days: 3 jobs")
    expect(page.locator('#service-activity figure[data-chart="jobs-per-period"]')).to_be_hidden()
    first = page.locator('tr[id^="job-"]').first
    expect(first).to_be_visible()
    box = first.bounding_box()
    assert box is not None and box["y"] < PHONE["height"] - 100, f"the first job starts at y={box and box['y']}"
    page.set_viewport_size({"width": 1280, "height": 800})
    expect(page.locator('#service-activity figure[data-chart="jobs-per-period"]')).to_be_visible()
