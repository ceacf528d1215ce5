"""Saved views in Chromium: filter the fleet view, save it under a name, find it in the top bar's Views menu on
any page and open it with its filters; on a service's jobs page the view is what the address says after filtering
in place (htmx changed it); a colleague finds a shared view; the menu works on a phone too."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

import arcgis_client
from tests.conftest import make_user

pytestmark = pytest.mark.e2e


def open_views_menu(page: Page):
    page.locator("details.nav-menu > summary").click()
    menu = page.locator(".nav-menu-items")
    expect(menu).to_be_visible()
    return menu


def test_save_a_filtered_fleet_view_and_open_it_from_the_menu(service, connected_operator, portal, simulator):
    simulator.state.add_job(service.key, arcgis_client.SUBMITTED, username="svc_batch")
    page = portal.open(connected_operator)
    page.goto("/jobs/")
    page.get_by_role("checkbox", name="Submitted").check()
    page.get_by_label("User").fill("svc_batch")
    page.get_by_role("button", name="Filter").click()
    expect(page.get_by_label("User")).to_have_value("svc_batch")
    page.get_by_text("Save these filters as a view…").click()
    page.get_by_label("Name").fill("my services, queued > 10 min")
    page.get_by_role("button", name="Save view").click()
    expect(page.locator("#messages")).to_contain_text("Saved the view “my services, queued > 10 min”")

    page.goto("/audit/")
    open_views_menu(page).get_by_role("link", name="my services, queued > 10 min").click()
    expect(page.get_by_label("User")).to_have_value("svc_batch")
    expect(page.get_by_role("checkbox", name="Submitted")).to_be_checked()
    assert "status=esriJobSubmitted" in page.url and "user=svc_batch" in page.url


def test_a_jobs_page_view_is_the_address_after_filtering_in_place(
    operator_page, simulator, service, jobs_url, connected_operator, portal
):
    page = operator_page
    page.goto(jobs_url)
    page.get_by_label("Status").select_option(arcgis_client.FAILED)  # the table reloads in place; htmx sets the URL
    expect(page).to_have_url(f"{page.url.split('?')[0]}?status={arcgis_client.FAILED}&per_page=50")
    page.get_by_text("Save these filters as a view…").click()
    page.get_by_label("Name").fill("Watershed failures")
    page.get_by_label("Share with the team (who may see Main site)").check()
    page.get_by_role("button", name="Save view").click()
    expect(page.locator("#messages")).to_contain_text("for you and the team")

    colleague = portal.open(make_user("vic", "Viewer"))
    colleague.goto("/")
    open_views_menu(colleague).get_by_role("link", name="Watershed failures").click()
    expect(colleague.get_by_label("Status")).to_have_value(arcgis_client.FAILED)


def test_the_views_menu_on_a_phone(service, connected_operator, portal):
    page = portal.open(connected_operator)
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto("/")
    menu = open_views_menu(page)
    expect(menu).to_contain_text("No saved views yet")
    box = menu.bounding_box()
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 390, box
    menu.get_by_role("link", name="All saved views").click()
    expect(page.get_by_role("heading", name="Saved views")).to_be_visible()
    page.keyboard.press("Escape")
