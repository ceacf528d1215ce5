"""A channel's own page in the Django admin, as a site admin uses it in Chromium: "Send a test alert" is on it, and
checks the channel there and then."""

from __future__ import annotations

import pytest
from django.urls import reverse
from playwright.sync_api import expect

from policies.models import AlertChannel, Delivery

pytestmark = pytest.mark.e2e


def test_a_channels_page_sends_a_test_alert(site, site_admin, portal, mailoutbox):
    made = AlertChannel.objects.create(
        name="Ops mail", kind="email", recipients="ops@example.com", events=["queued_long"], site=site
    )
    page = portal.open(site_admin)
    page.goto(reverse("admin:policies_alertchannel_change", args=[made.pk]))
    page.get_by_role("button", name="Send a test alert").click()
    expect(page.locator(".messagelist")).to_contain_text("Test alert queued: its delivery says whether it was sent.")
    expect(page).to_have_url(f"{portal.live_server.url}{reverse('admin:policies_alertchannel_change', args=[made.pk])}")
    portal.wait_until_idle()
    assert [mail.subject for mail in mailoutbox] == ["[GP Jobs Portal] Test alert from the GP Jobs Portal"]
    assert Delivery.objects.get().channel == made
