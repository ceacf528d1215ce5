"""The browser tests' own watch: it must see what it is there to see, or a clean run proves nothing."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.e2e


def test_the_watch_reports_csp_violations_console_errors_and_page_errors(portal):
    page = portal.anonymous()
    page.goto("/accounts/login/")  # served with the portal's CSP, like every page
    assert portal.watch.collect() == []

    with page.expect_console_message(lambda message: message.type == "error"):
        page.evaluate("console.error('broken on purpose')")
    with page.expect_event("pageerror"):
        page.evaluate("setTimeout(function () { throw new Error('thrown on purpose'); })")
    # An inline style attribute: the CSP (style-src 'self') refuses it.
    page.evaluate("document.body.setAttribute('style', 'color: red')")
    page.wait_for_function("() => window.__csp.length > 0")

    problems = portal.watch.collect()
    assert any("broken on purpose" in p for p in problems), problems
    assert any("thrown on purpose" in p for p in problems), problems
    assert any(p.startswith("CSP (window.__csp): style-src") for p in problems), problems
    portal.watch.problems.clear()
    page.goto("/accounts/login/")  # a fresh document, whose window.__csp is empty again
