"""The history in a browser: jobs the simulator has forgotten are still listed from the job index, a forgotten job
opens its own page from it, and the activity charts are drawn at 1280 px and on a phone (390 px), where the page
does not scroll sideways."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from playwright.sync_api import Page, expect

import arcgis_client
from tests.history.factory import indexed

pytestmark = pytest.mark.e2e

SERVICE_KEY = "Hydrology/Watershed"  # the GP service of the `service` fixture
FITS = "document.documentElement.scrollWidth <= document.documentElement.clientWidth"
CHARTS = ("jobs-per-period", "duration-percentiles", "top-failing-services", "by-machine")


@pytest.fixture
def forgotten(site, service, simulator) -> list[str]:
    """Twelve finished jobs of the last three days, indexed as the collector saw them, then forgotten by ArcGIS."""
    now = datetime.now(UTC)
    job_ids = []
    for n in range(12):
        submitted = now - timedelta(hours=6 * n + 1)
        status = arcgis_client.FAILED if n % 4 == 0 else arcgis_client.SUCCEEDED
        seconds = 60 + 45 * n
        job_id = simulator.state.add_job(
            SERVICE_KEY, status, submitted=submitted, end_time=submitted + timedelta(seconds=seconds)
        )
        machine = "GIS02" if status == arcgis_client.FAILED else "GIS01"
        indexed(site, SERVICE_KEY, status, submitted=submitted, seconds=seconds, job_id=job_id, machine=machine)
        job_ids.append(job_id)
    simulator.state.forget_finished(0)  # the jobs directory cleaned (the oldest were already, by their age)
    assert all(simulator.state.get_job(SERVICE_KEY, job_id) is None for job_id in job_ids)
    return job_ids


def charts_drawn(page: Page) -> None:
    for name in CHARTS:
        figure = page.locator(f'figure[data-chart="{name}"]')
        figure.scroll_into_view_if_needed()
        expect(figure).to_be_visible()
        expect(figure.locator("svg")).to_be_visible()
        box = figure.locator("svg").bounding_box()
        assert box is not None and box["width"] > 200 and box["height"] > 40, f"{name} is drawn {box}"
    bars = page.locator('figure[data-chart="jobs-per-period"] svg rect.bar')
    assert bars.count() >= 4
    expect(page.locator('figure[data-chart="duration-percentiles"] svg polyline.line').first).to_be_visible()


def test_the_history_lists_jobs_arcgis_forgot_and_draws_their_charts(operator_page: Page, forgotten):
    page = operator_page
    page.set_viewport_size({"width": 1280, "height": 900})
    page.goto("/")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="History").click()
    expect(page.get_by_role("heading", name="Job history")).to_be_visible()
    for job_id in forgotten[:5]:
        row = page.locator(f"#job-{job_id}")
        expect(row).to_be_visible()
        expect(row).to_have_attribute("data-site", "main")
        expect(row).to_have_attribute("data-service", SERVICE_KEY)
    expect(page.locator(f"#job-{forgotten[0]}")).to_have_attribute("data-status", arcgis_client.FAILED)
    expect(page.locator("#history-summary")).to_contain_text("12 jobs shown")
    charts_drawn(page)

    # dark mode: the bars and the type take the dark palette (portal.css), the type stays readable on the card
    colours = """() => { const bar = document.querySelector('figure[data-chart="jobs-per-period"] rect.s-succeeded');
      const text = document.querySelector('figure[data-chart="jobs-per-period"] svg text.axis-title');
      const card = document.querySelector('figure[data-chart="jobs-per-period"]');
      return [getComputedStyle(bar).fill, getComputedStyle(text).fill, getComputedStyle(card).backgroundColor]; }"""
    light = page.evaluate(colours)
    page.emulate_media(color_scheme="dark")
    dark = page.evaluate(colours)
    assert dark[0] != light[0] and dark[1] != light[1] and dark[2] != light[2], (light, dark)
    assert dark[2] == "rgb(28, 32, 41)" and dark[1] == "rgb(154, 163, 178)"  # --card and --muted, dark
    page.emulate_media(color_scheme="light")

    page.set_viewport_size({"width": 390, "height": 844})
    page.reload()
    charts_drawn(page)
    assert page.evaluate(FITS), "the history scrolls sideways on a phone"

    page.locator(f"#job-{forgotten[1]}").get_by_role("link").first.click()
    expect(page.locator("#job-remembered")).to_contain_text(
        "ArcGIS no longer holds this job; its messages are gone with it"
    )
    expect(page.locator(f"#job-{forgotten[1]}")).to_have_attribute("data-status", arcgis_client.SUCCEEDED)
