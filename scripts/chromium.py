"""Debian's Chromium, as the browser tests and the screenshots start it: Playwright cannot download its own
browsers here, and Chromium must not call home (this closed network answers slowly or not at all)."""

from __future__ import annotations

import os
import shutil

CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def chromium_path() -> str | None:
    """Where Debian's chromium is, or None (scripts/ensure-chromium installs it)."""
    found = shutil.which("chromium")
    if found:
        return found
    return "/usr/bin/chromium" if os.access("/usr/bin/chromium", os.X_OK) else None
