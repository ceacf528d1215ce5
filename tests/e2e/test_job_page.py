"""Why did this job fail? In Chromium: a failed job's page lists its messages with the error marked, a
running job's page takes in new messages and its end by itself, the jobs page shows a failed row's last
error in its details, and the page fits a phone."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

import arcgis_client
from jobs.targets import ServiceTarget

pytestmark = pytest.mark.e2e

SERVICE_KEY = "Hydrology/Watershed"  # the GP service of the `service` fixture
ERROR = "esriJobMessageTypeError"
INFO = "esriJobMessageTypeInformative"
LOG = [
    {"type": INFO, "description": "Running script Watershed..."},
    {"type": ERROR, "description": "ERROR 000735: Input Features: Value is required"},
    {"type": ERROR, "description": "Failed to execute (Watershed)."},
    {"type": INFO, "description": "Failed at Monday, April 2, 2018 4:57:06 PM (Elapsed Time: 2.03 seconds)"},
]


# What sticks out on the right, for the failure message.
WIDER_THAN_THE_PAGE = """() => Array.from(document.querySelectorAll("body *"))
  .filter((e) => e.getBoundingClientRect().right > document.documentElement.clientWidth + 1)
  .map((e) => e.tagName + "." + e.className + "#" + e.id).slice(0, 10)"""


def job_url(site, service, job_id: str) -> str:
    return ServiceTarget(site, service).job_url(job_id)


def test_a_failed_jobs_page_shows_its_error(operator_page, simulator, site, service):
    job_id = simulator.state.add_job(SERVICE_KEY, arcgis_client.FAILED, messages=LOG)
    page = operator_page
    page.goto(job_url(site, service, job_id))

    messages = page.locator("ol.job-messages > li")
    expect(messages).to_have_count(4)
    error = page.locator(f'ol.job-messages > li[data-type="{ERROR}"]').first
    expect(error).to_have_text("Error ERROR 000735: Input Features: Value is required")
    expect(error).to_have_class("msg-error")
    expect(page.get_by_role("link", name="Open in the Services Directory")).to_have_attribute(
        "href", f"{simulator.base_url}/rest/services/Hydrology/Watershed/GPServer/Watershed/jobs/{job_id}"
    )
    distance = page.locator("dl.job-parameters dd").nth(1)
    expect(distance).to_contain_text("esriMeters")
    distance.get_by_text("show").click()
    expect(distance.locator("pre")).to_be_visible()
    expect(distance.locator("pre")).to_contain_text('"units": "esriMeters"')


def test_a_failed_rows_details_show_its_last_error(operator_page, simulator, jobs_url):
    job_id = simulator.state.add_job(SERVICE_KEY, arcgis_client.FAILED, messages=LOG)
    page = operator_page
    page.goto(jobs_url)
    row = page.locator(f"#job-{job_id}")
    row.locator("summary").click()
    expect(row.locator(".job-facts .last-error")).to_have_text("Error ERROR 000735: Input Features: Value is required")


def test_a_running_jobs_messages_and_end_arrive_by_themselves(operator_page, simulator, site, service):
    job_id = simulator.state.add_job(SERVICE_KEY, arcgis_client.EXECUTING)
    page = operator_page
    page.goto(job_url(site, service, job_id))
    expect(page.locator(f"#job-{job_id}")).to_have_attribute("data-status", arcgis_client.EXECUTING)
    shown = page.locator("ol.job-messages > li").count()
    assert shown >= 1
    expect(page.locator("#message-poller")).to_have_count(1)

    simulator.state.set_status(SERVICE_KEY, job_id, arcgis_client.FAILED)

    expect(page.locator(f'#job-messages > li[data-type="{ERROR}"]').last).to_contain_text("Failed to execute")
    expect(page.locator(f"#job-{job_id}")).to_have_attribute("data-status", arcgis_client.FAILED)
    expect(page.locator("#job-progress")).to_contain_text("The job has ended: Failed.")
    expect(page.locator("#message-poller[hx-get]")).to_have_count(0)  # polling stopped
    texts = page.locator("ol.job-messages > li").all_inner_texts()
    assert len(texts) == len(set(texts))  # nothing came twice


def test_the_jobs_page_fits_a_phone(connected_operator, portal, simulator, site, service):
    long_word = "C:\\arcgisserver\\directories\\arcgisjobs\\" + "x" * 600
    log = [*LOG, {"type": ERROR, "description": f"ERROR 999999: {long_word}"}]
    inputs = {"Long_Path": {"dataType": "GPString", "value": long_word * 2}}
    job_id = simulator.state.add_job(SERVICE_KEY, arcgis_client.FAILED, messages=log, inputs=inputs)
    page = portal.open(connected_operator)
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(job_url(site, service, job_id))
    page.locator("dl.job-parameters summary").first.click()
    expect(page.locator("dl.job-parameters pre").first).to_be_visible()
    wide = page.evaluate(WIDER_THAN_THE_PAGE)
    assert page.evaluate("document.documentElement.scrollWidth <= document.documentElement.clientWidth"), wide
