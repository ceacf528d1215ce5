"""A failed job's page on a phone, as a person sees it: why it failed is on the first screen (not at message 22),
its ID reads whole on one line, and its time says that the queue is included."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

import arcgis_client
from jobs.targets import ServiceTarget

pytestmark = pytest.mark.e2e

INFO, ERROR = "esriJobMessageTypeInformative", "esriJobMessageTypeError"
LOG = [
    *({"type": INFO, "description": f"Processing part {n} of 21..."} for n in range(21)),
    {"type": ERROR, "description": "ERROR 000735: Input Features: Value is required"},
    {"type": ERROR, "description": "Failed to execute (Watershed)."},
    {"type": INFO, "description": "Failed at Monday, April 2, 2018 4:57:06 PM (Elapsed Time: 2.03 seconds)"},
]


def test_a_failed_job_on_a_phone_says_why_first_and_keeps_its_id_whole(
    connected_operator, portal, simulator, site, service
):
    job_id = simulator.state.add_job(service.key, arcgis_client.FAILED, messages=LOG)
    page = portal.open(connected_operator)
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(ServiceTarget(site, service).job_url(job_id))

    why = page.locator("#job-last-error")
    expect(why).to_contain_text("Why: ERROR 000735: Input Features: Value is required")
    assert why.bounding_box()["y"] + why.bounding_box()["height"] <= 844, "the reason is below the first screen"
    why.get_by_role("link", name="message 22").click()
    expect(page.locator("#message-22")).to_be_in_viewport()
    expect(page.locator("#job-timing")).to_contain_text("time in the queue included")

    job_id_in_title = page.locator("h1 code")
    expect(job_id_in_title).to_have_text(job_id)
    assert job_id_in_title.evaluate("(element) => element.getClientRects().length") == 1, "the ID breaks"
    box = job_id_in_title.bounding_box()
    assert box["x"] + box["width"] <= 390
    assert page.evaluate("document.documentElement.scrollWidth <= document.documentElement.clientWidth")
