"""Screenshots of every main screen of the portal, at desktop and phone size (`make screenshots`).

Starts the demo (`manage.py demo`: the portal and its simulated ArcGIS Server) on free ports with a
throw-away data directory, so the developer's var/ is untouched, drives Debian's Chromium through
each screen and saves one full-page PNG per screen and size:

    screenshots/01-login-desktop.png        1440×900
    screenshots/01-login-phone.png          390×844, a mobile browser
    screenshots/01-login-desktop-dark.png   the same screens in dark mode (prefers-color-scheme: dark)
    screenshots/01-login-phone-dark.png

    python scripts/screenshots.py [--out DIR] [--only NAME ...]

To add a screen, write a function that brings a page to it and add it to SCREENS. Pages are
picked by the documented markup hooks (docs: DESIGN.md): job rows `tr[id="job-<jobId>"]` with
`data-status`, buttons by their names, the row's `role="status"` outcome; never by CSS classes.
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path

import requests
from playwright.sync_api import Browser, BrowserContext, Page, expect, sync_playwright
from playwright.sync_api import Error as PlaywrightError

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run as a script, it still finds the project's modules

from scripts.chromium import CHROMIUM_ARGS, chromium_path  # noqa: E402 (needs ROOT on the path)

SIZES = {
    "desktop": {"viewport": {"width": 1440, "height": 900}},
    "phone": {
        "viewport": {"width": 390, "height": 844},
        "is_mobile": True,
        "has_touch": True,
        "device_scale_factor": 1,
    },
}


# Each screen at each size is pictured in the light scheme and, on the same page, in the dark one.
THEMES = {"": "light", "-dark": "dark"}  # file name suffix → prefers-color-scheme


# The service the jobs screens show, and the demo's logins (password = username).
SERVICE = "Hydrology/FloodModel"
SITE = "demo"
JOBS_PATH = f"/sites/{SITE}/services/{SERVICE}.GPServer/jobs/"
OPERATOR, VIEWER, SITE_ADMIN = "operator", "viewer", "siteadmin"

EXECUTING = "esriJobExecuting"
ROWS = 'tr[id^="job-"]'
EXECUTING_ROWS = f'{ROWS}[data-status="{EXECUTING}"]'

START_TIMEOUT_S = 60
TIMEOUT_MS = 15_000


class ScreenshotError(Exception):
    """Something the person running the script should read; exits non-zero."""


# --- the demo: portal and simulator in a process group of their own -----------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def http() -> requests.Session:
    session = requests.Session()
    session.trust_env = False  # loopback only: never through a proxy from the environment
    return session


@dataclass
class Simulator:
    """The simulated ArcGIS Server's control API (/_simulator/), over its self-signed HTTPS."""

    url: str
    cert_path: str
    session: requests.Session = field(default_factory=http)

    def call(self, method: str, path: str, payload: dict | None = None) -> dict:
        answer = self.session.request(
            method, f"{self.url}/_simulator/{path}", json=payload, verify=self.cert_path, timeout=10
        )
        if answer.status_code >= 400:
            raise ScreenshotError(f"simulator {method} {path} answered {answer.status_code}: {answer.text}")
        return answer.json()

    def add_jobs(self, status: str, count: int, **fields) -> list[str]:
        job = {"service": SERVICE, "status": status, **fields}
        return [self.call("POST", "jobs", job)["jobId"] for _ in range(count)]

    def set_status(self, job_id: str, status: str) -> None:
        self.call("POST", "jobs/status", {"service": SERVICE, "job_id": job_id, "status": status})


@dataclass
class Demo:
    url: str
    simulator: Simulator
    env: dict[str, str]

    def collect(self) -> None:
        """A collector pass now (the worker's beat runs one every 30 s): the fleet view reads the job index while it
        is fresh, so a job just added at ArcGIS is listed there once collected."""
        subprocess.run(
            [sys.executable, "manage.py", "collect_jobs"], cwd=ROOT, env=self.env, check=True, capture_output=True
        )


def demo_environment(var_dir: Path, static_root: Path) -> dict[str, str]:
    """The caller's environment without anything that would point the demo at real data."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DJANGO_", "DATABASE_", "REDIS_", "TOKEN_ENCRYPTION_KEYS"))
    }
    return env | {
        "DJANGO_SETTINGS_MODULE": "dashboard.settings",
        "PORTAL_VAR_DIR": str(var_dir),
        "DJANGO_STATIC_ROOT": str(static_root),
        "PYTHONUNBUFFERED": "1",
    }


@contextmanager
def running_demo() -> Iterator[Demo]:
    """`manage.py demo` on free ports in a temporary directory; stopped (whole process group) on exit."""
    with tempfile.TemporaryDirectory(prefix="portal-screenshots-") as tmp:
        env = demo_environment(Path(tmp) / "var", Path(tmp) / "static")  # the demo migrates and collects static files
        port, simulator_port = free_port(), free_port()
        command = ["demo", "--addr", f"127.0.0.1:{port}", "--simulator-port", str(simulator_port)]
        log_path = Path(tmp) / "demo.log"
        with log_path.open("w") as log:
            process = subprocess.Popen(  # noqa: S603 - this project's own manage.py
                [sys.executable, "manage.py", *command],
                cwd=ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,  # its own process group: stopped as a whole, spared the terminal's Ctrl-C
                preexec_fn=listen_to_ctrl_c,
            )
        try:
            url = f"http://127.0.0.1:{port}"
            wait_until_answering(url, process, log_path)
            banner = log_path.read_text()
            cert = re.search(r"its certificate: (\S+)", banner)
            if cert is None:
                raise ScreenshotError(f"the demo's banner names no certificate:\n{banner}")
            yield Demo(url, Simulator(f"https://127.0.0.1:{simulator_port}", cert.group(1)), env)
        finally:
            stop(process)


def listen_to_ctrl_c() -> None:
    """A shell runs background commands with SIGINT ignored, which the demo would inherit; it must not."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def wait_until_answering(url: str, process: subprocess.Popen, log_path: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    session = http()
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise ScreenshotError(f"the demo stopped (exit {process.returncode}):\n{log_path.read_text()}")
        try:
            if session.get(f"{url}/healthz", timeout=2).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.3)
    raise ScreenshotError(
        f"the portal did not answer at {url}/healthz within {START_TIMEOUT_S} s; the demo said:\n{log_path.read_text()}"
    )


def stop(process: subprocess.Popen) -> None:
    """Ctrl-C to the demo's process group (it stops the simulator too), then harder if need be."""
    for sig, wait_s in ((signal.SIGINT, 15), (signal.SIGTERM, 5), (signal.SIGKILL, 5)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            break
        try:
            process.wait(timeout=wait_s)
            break
        except subprocess.TimeoutExpired:
            continue
    # Whatever the demo started in its group and left behind.
    with suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)


# --- the screens -----------------------------------------------------------------------------------


@dataclass
class Screen:
    """One main screen: `show` brings a fresh page (signed in as `user`, if any) to it."""

    name: str
    show: Callable[[Page, Demo], None]
    user: str | None = OPERATOR
    javascript: bool = True
    jobs_table: bool = False  # a jobs table is expected: wait for its rows
    cleanup: Callable[[Demo], None] | None = None
    quiet: bool = True  # wait for the network to be quiet first (not while a bulk streams its progress)


def open_jobs(page: Page) -> None:
    page.goto(JOBS_PATH)
    page.locator(ROWS).first.wait_for()


def executing_rows(page: Page, demo: Demo, count: int):
    """`count` executing rows on the jobs page; adds executing jobs first so there are always enough."""
    demo.simulator.add_jobs(EXECUTING, count)
    open_jobs(page)
    rows = page.locator(EXECUTING_ROWS)
    expect(rows.nth(count - 1)).to_be_visible()
    return [rows.nth(i) for i in range(count)]


def job_id(row) -> str:
    return row.get_attribute("id").removeprefix("job-")


def login(page: Page, demo: Demo) -> None:
    page.goto("/accounts/login/")
    page.get_by_label("Username").wait_for()


def overview(page: Page, demo: Demo) -> None:
    page.goto("/")


def site(page: Page, demo: Demo) -> None:
    page.goto(f"/sites/{SITE}/")


def fleet(page: Page, demo: Demo) -> None:
    """The fleet view: every active job of every service, filled in once every service has answered."""
    page.goto("/jobs/")
    expect(page.locator("#fleet-progress")).to_contain_text("shown, from", timeout=15_000)


def jobs(page: Page, demo: Demo) -> None:
    open_jobs(page)


def job_details(page: Page, demo: Demo) -> None:
    open_jobs(page)
    finished = page.locator(f'{ROWS}[data-status="esriJobSucceeded"], {ROWS}[data-status="esriJobFailed"]')
    row = finished.first if finished.count() else page.locator(ROWS).first
    page.goto(f"{JOBS_PATH}{job_id(row)}/")
    page.locator(ROWS).first.wait_for()
    # The row's own disclosure (admin URL, last portal action), where there is one.
    for summary in page.locator(f"{ROWS} details > summary").all():
        summary.click()


def show_outcome(row) -> None:
    """Scroll the row's outcome into sight: a table wider than the screen scrolls sideways in its box."""
    row.get_by_role("status").evaluate("element => element.scrollIntoView({block: 'nearest', inline: 'end'})")


def cancel_requested(page: Page, demo: Demo) -> None:
    (row,) = executing_rows(page, demo, 1)
    target = page.locator(f"#job-{job_id(row)}")
    row.get_by_role("button", name="Cancel", exact=True).click()
    expect(target.get_by_role("status")).to_contain_text("Cancel requested")
    show_outcome(target)


def cancel_refused(page: Page, demo: Demo) -> None:
    """ArcGIS refuses to cancel a job that has finished meanwhile, which the page does not know yet.

    Rows refresh themselves, so the finished job may show up disabled before the click; then try another.
    """
    for _attempt in range(5):
        (row,) = executing_rows(page, demo, 1)
        job = job_id(row)
        target = page.locator(f"#job-{job}")
        button = target.get_by_role("button", name="Cancel", exact=True)
        demo.simulator.set_status(job, "esriJobSucceeded")
        try:
            button.click(timeout=2_000)  # waits while the button is disabled: the row has refreshed meanwhile
            expect(target.get_by_role("status")).to_contain_text("Unable to cancel job", timeout=5_000)
        except (PlaywrightError, AssertionError):
            continue
        show_outcome(target)
        return
    raise ScreenshotError("could not make ArcGIS refuse a cancel: the finished job never kept its Cancel button")


def confirm_bulk(page: Page) -> None:
    """A bulk asks first; its button says what it does ("Cancel 3 jobs")."""
    question = page.get_by_role("alertdialog")
    question.get_by_role("button", name=re.compile(r"^(Cancel|Delete) \d+ jobs?$")).click()


def select_page(page: Page) -> None:
    """The box that ticks every job of the page: the table's header on a desktop, above the cards on a phone."""
    page.locator("[data-select-all]:visible").first.check()


def bulk_cancel(page: Page, demo: Demo) -> None:
    rows = [page.locator(f"#job-{job_id(row)}") for row in executing_rows(page, demo, 3)]
    for row in rows:
        row.get_by_role("checkbox").check()
    page.get_by_role("button", name="Cancel selected").click()
    confirm_bulk(page)
    expect(page.locator("#bulk-summary")).to_contain_text("cancellations requested")
    for row in rows:
        expect(row.get_by_role("status")).not_to_be_empty()
    show_outcome(rows[0])


def delete_confirmation(page: Page, demo: Demo) -> None:
    open_jobs(page)
    page.get_by_role("button", name="Delete", exact=True).first.click()
    page.get_by_role("heading", name=re.compile("^Delete")).wait_for()


def purge_confirmation(page: Page, demo: Demo) -> None:
    open_jobs(page)
    page.get_by_role("button", name="Purge queue").click()
    page.get_by_role("heading", name=re.compile("^Purge")).wait_for()


def audit(page: Page, demo: Demo) -> None:
    page.goto("/audit/")


def connect(page: Page, demo: Demo) -> None:
    page.goto(f"/sites/{SITE}/token/")


def upstream_failure(page: Page, demo: Demo) -> None:
    demo.simulator.call("POST", "faults", {"kind": "html_502", "operation": "query"})
    page.goto(JOBS_PATH)
    page.get_by_role("alert").first.wait_for()


def clear_faults(demo: Demo) -> None:
    demo.simulator.call("DELETE", "faults")


def viewer_jobs(page: Page, demo: Demo) -> None:
    open_jobs(page)


def policies(page: Page, demo: Demo) -> None:
    page.goto("/policies/")
    page.get_by_role("heading", name="Cancel policies").wait_for()


def policy_preview(page: Page, demo: Demo) -> None:
    """The demo's example policy, previewed with the operator's own token: the jobs it would cancel."""
    policies(page, demo)
    page.get_by_role("link", name=re.compile("^Night cleanup")).first.click()
    page.get_by_role("button", name="Preview", exact=True).click()
    page.get_by_role("heading", name=re.compile("^Preview of")).wait_for()


def fleet_bulk_confirmation(page: Page, demo: Demo) -> None:
    """Before a bulk acts: how many jobs, of which services."""
    fleet(page, demo)
    select_page(page)
    page.get_by_role("button", name="Cancel selected").click()
    page.get_by_role("alertdialog").wait_for()


BULK_USER = "svc_nightly"  # the jobs of the large bulk, and only they, match its filters
MIDWAY = """() => {
  const bar = document.getElementById("bulk-progress-bar");
  return bar && bar.value > 0 && bar.value < bar.max;
}"""


def bulk_progress(page: Page, demo: Demo) -> None:
    """A large bulk under way: "48 of 150 done" as it goes, each row's outcome as it comes."""
    demo.simulator.add_jobs(EXECUTING, 150, username=BULK_USER)
    demo.simulator.call("POST", "faults", {"kind": "latency", "operation": "cancel", "ms": 400})
    page.goto(f"{JOBS_PATH}?user={BULK_USER}&status={EXECUTING}&per_page=25")
    page.locator(ROWS).first.wait_for()
    select_page(page)
    page.get_by_role("button", name=re.compile(r"^Select all \d+ matching jobs$")).click()
    page.get_by_role("button", name="Cancel selected").click()
    confirm_bulk(page)
    page.wait_for_function(MIDWAY, timeout=TIMEOUT_MS)
    page.locator("#action-result").scroll_into_view_if_needed()


def fleet_row_details(page: Page, demo: Demo) -> None:
    """A row's details open and a long refusal beside them: the row grows taller, the columns stay put."""
    (job,) = demo.simulator.add_jobs(EXECUTING, 1, username="svc_batch")
    demo.collect()
    fleet(page, demo)
    row = page.locator(f"#job-{job}")
    row.locator("summary").click()
    row.locator(".job-fields").wait_for()
    demo.simulator.set_status(job, "esriJobSucceeded")  # it ends; the fleet view's row does not know yet
    row.get_by_role("button", name="Cancel", exact=True).click()
    expect(row.get_by_role("status")).to_contain_text("Unable to cancel job")


def policy_form(page: Page, demo: Demo) -> None:
    page.goto("/policies/new/")
    page.get_by_role("heading", name="New policy").wait_for()


# A failed job's log as ArcGIS writes one: its telling error is the 22nd of 25 messages.
FAILED_LOG = [
    {"type": "esriJobMessageTypeInformative", "description": "Submitted."},
    {"type": "esriJobMessageTypeInformative", "description": "Executing..."},
    *({"type": "esriJobMessageTypeInformative", "description": f"Processing part {n} of 19..."} for n in range(1, 20)),
    {"type": "esriJobMessageTypeError", "description": "ERROR 010092: Invalid output extent: the flood grid is empty."},
    {"type": "esriJobMessageTypeError", "description": "Failed to execute (RunFloodModel)."},
    {
        "type": "esriJobMessageTypeInformative",
        "description": "Failed at Sunday, December 6, 2026 (Elapsed Time: 4 minutes 12 seconds)",
    },
]


def failed_job(page: Page, demo: Demo) -> None:
    """A failed job's page: why it failed at the top, how long it took (its queue included)."""
    submitted = int((time.time() - 11 * 60) * 1000)
    (job,) = demo.simulator.add_jobs(
        "esriJobFailed", 1, submitted=submitted, end_time=submitted + 6 * 60_000, messages=FAILED_LOG
    )
    page.goto(f"{JOBS_PATH}{job}/")
    page.locator("#job-last-error").wait_for()


def new_job(page: Page, demo: Demo) -> None:
    """A new job, which ArcGIS will not cancel: its row says what works instead."""
    demo.simulator.add_jobs("esriJobNew", 2)
    page.goto(f"{JOBS_PATH}?status=esriJobNew")
    page.locator(f'{ROWS}[data-status="esriJobNew"]').first.wait_for()


def no_match(page: Page, demo: Demo) -> None:
    """A search for part of an ID: nothing matches, and the page says why."""
    page.goto(f"{JOBS_PATH}?job=j1")
    page.locator("#whole-values").wait_for()


def purge_count(page: Page, demo: Demo) -> None:
    """Purge queue, with JavaScript: the question in the page, with how many jobs it would cancel."""
    demo.simulator.add_jobs("esriJobSubmitted", 3)
    open_jobs(page)
    page.get_by_role("button", name="Purge queue…").click()
    page.locator("#purge-count").wait_for()


def api_tokens(page: Page, demo: Demo) -> None:
    """The API tokens page, a new token shown once with its Copy button, and the list with Revoke."""
    page.goto("/account/api-tokens/")
    page.get_by_label("Name").fill(f"nightly-report-{page.viewport_size['width']}")
    page.get_by_role("button", name="Create token").click()
    page.get_by_role("button", name="Copy").wait_for()


def open_filters(page: Page) -> None:
    """A phone folds a page's filters away: open them."""
    panel = page.locator("details.filter-panel")
    if panel.get_attribute("open") is None:
        panel.locator("> summary").click()


def save_view(page: Page, demo: Demo) -> None:
    """The fleet view filtered, its filters open with "Save these filters as a view"."""
    page.goto("/jobs/?status=esriJobSubmitted&status=esriJobWaiting&within=24h")
    expect(page.locator("#fleet-progress")).to_contain_text("shown, from", timeout=15_000)
    open_filters(page)
    page.get_by_text("Save these filters as a view…").click()
    page.get_by_label("Name").fill("Queued today")


def views_menu(page: Page, demo: Demo) -> None:
    """The top bar's Views menu, open, with a view saved (once) and shared with the team."""
    page.goto("/views/")
    if not page.get_by_role("link", name="Queued on FloodModel").count():
        page.goto(f"{JOBS_PATH}?status=esriJobSubmitted")
        open_filters(page)
        page.get_by_text("Save these filters as a view…").click()
        page.get_by_label("Name").fill("Queued on FloodModel")
        page.get_by_role("checkbox", name=re.compile("^Share with the team")).check()
        page.get_by_role("button", name="Save view").click()
        page.locator('#messages [class*="message"]').first.wait_for()
    page.goto("/views/")
    page.locator("details.nav-menu > summary").click()
    page.locator(".nav-menu-items").wait_for()


def admin_sites(page: Page, demo: Demo) -> None:
    page.goto("/admin/jobs/site/")
    page.get_by_role("columnheader", name="TLS certificate").wait_for()


def admin_site(page: Page, demo: Demo) -> None:
    page.goto("/admin/jobs/site/")
    page.get_by_role("link", name=re.compile("^Demo ArcGIS Server")).click()
    page.get_by_label("Name").wait_for()


def admin_alert_channel(page: Page, demo: Demo) -> None:
    """An alert channel's own page, after "Send a test alert" (the channel is made once, through the admin)."""
    page.goto("/admin/policies/alertchannel/")
    if not page.get_by_role("link", name="Ops e-mail").count():
        page.goto("/admin/policies/alertchannel/add/")
        page.get_by_label("Name").fill("Ops e-mail")
        page.get_by_label("Kind").select_option("email")
        page.get_by_label("Recipients").fill("gis-ops@example.com")
        for event in ("A job starts running long", "A job waits in the queue too long", "A job is stuck cancelling"):
            page.get_by_label(event).check()
        page.get_by_role("button", name="Save", exact=True).click()
    page.goto("/admin/policies/alertchannel/")
    page.get_by_role("link", name="Ops e-mail").click()
    page.get_by_role("button", name="Send a test alert").click()
    page.locator(".messagelist").wait_for()


def history(page: Page, demo: Demo) -> None:
    """Every indexed job of the last 7 days, with the activity charts drawn under the list."""
    page.goto("/history/")
    page.locator('figure[data-chart="jobs-per-period"] svg').wait_for(timeout=15_000)


def history_month(page: Page, demo: Demo) -> None:
    """One service's last 30 days: its failures by machine and user, its durations."""
    page.goto("/history/?within=30d&service=FloodModel")
    page.locator('figure[data-chart="duration-percentiles"] svg').wait_for(timeout=15_000)


def admin_monitoring_account(page: Page, demo: Demo) -> None:
    """The demo site's monitoring account in the admin: its password is never shown again."""
    page.goto("/admin/history/monitoringaccount/")
    page.get_by_role("link", name=re.compile("Demo ArcGIS Server")).first.click()


SCREENS = [
    Screen("01-login", login, user=None),
    Screen("02-overview", overview),
    Screen("03-site", site),
    Screen("04-jobs", jobs, jobs_table=True),
    Screen("05-job-details", job_details),
    Screen("06-cancel-requested", cancel_requested, jobs_table=True),
    Screen("07-cancel-refused", cancel_refused, jobs_table=True),
    Screen("08-bulk-cancel", bulk_cancel, jobs_table=True),
    Screen("09-delete-confirmation", delete_confirmation, javascript=False),
    Screen("10-purge-confirmation", purge_confirmation, javascript=False),
    Screen("11-audit", audit),
    Screen("12-connect", connect),
    Screen("13-upstream-failure", upstream_failure, cleanup=clear_faults),
    Screen("14-viewer-jobs", viewer_jobs, user=VIEWER, jobs_table=True),
    Screen("15-fleet", fleet),
    Screen("16-policies", policies),
    Screen("17-policy-preview", policy_preview),
    Screen("18-policy-form", policy_form),
    Screen("19-fleet-bulk-confirmation", fleet_bulk_confirmation),
    Screen("20-bulk-progress", bulk_progress, cleanup=clear_faults, quiet=False),
    Screen("21-fleet-row-details", fleet_row_details),
    Screen("22-failed-job", failed_job),
    Screen("23-new-job", new_job, jobs_table=True),
    Screen("24-no-match", no_match),
    Screen("25-purge-count", purge_count),
    Screen("26-api-tokens", api_tokens),
    Screen("27-save-view", save_view),
    Screen("28-views-menu", views_menu),
    Screen("29-admin-sites", admin_sites, user=SITE_ADMIN),
    Screen("30-admin-site", admin_site, user=SITE_ADMIN),
    Screen("31-admin-alert-channel", admin_alert_channel, user=SITE_ADMIN),
    Screen("32-history", history),
    Screen("33-history-service-month", history_month),
    Screen("34-admin-monitoring-account", admin_monitoring_account, user=SITE_ADMIN),
]


def expected_files(screens: list[Screen] = SCREENS) -> list[str]:
    return [f"{screen.name}-{size}{theme}.png" for screen in screens for size in SIZES for theme in THEMES]


# --- the browser ---------------------------------------------------------------------------------


class Network:
    """The page's requests in flight, to wait for a quiet moment after clicks as well as after loading."""

    def __init__(self, page: Page) -> None:
        self.page, self.pending, self.last_change = page, set(), time.monotonic()
        page.on("request", self._started)
        page.on("requestfinished", self._ended)
        page.on("requestfailed", self._ended)

    def _started(self, request) -> None:
        self.pending.add(request)
        self.last_change = time.monotonic()

    def _ended(self, request) -> None:
        self.pending.discard(request)
        self.last_change = time.monotonic()

    def wait_quiet(self, quiet_s: float = 0.3, patience_s: float = 1.5) -> None:
        """Until nothing has been in flight for `quiet_s`; on a page whose rows keep refreshing themselves
        that may never happen, so after `patience_s` a moment with nothing in flight will do."""
        began = time.monotonic()
        while True:
            now = time.monotonic()
            if not self.pending and (now - self.last_change >= quiet_s or now - began >= patience_s):
                return
            if now - began > TIMEOUT_MS / 1000:
                raise ScreenshotError(f"requests never ended: {', '.join(r.url for r in self.pending)}")
            self.page.wait_for_timeout(20)


# Scrolls through the page so that whatever loads once scrolled into sight loads now (a full-page picture shows it).
SCROLL_THROUGH = """async () => {
  const frame = () => new Promise((resolve) => requestAnimationFrame(() => requestAnimationFrame(resolve)));
  window.scrollTo(0, document.documentElement.scrollHeight);
  await frame();
  window.scrollTo(0, 0);
  await frame();
}"""


def settle(page: Page, screen: Screen, network: Network) -> None:
    """Wait until what loads after the page shell (htmx fragments: counts, tables) has arrived and the
    network has been idle for a moment (not only after loading, as Playwright's "networkidle" is)."""
    if screen.jobs_table:
        page.locator(ROWS).first.wait_for()
    page.mouse.move(0, 0)  # no hover effect where the last click was
    if screen.javascript and screen.quiet:
        page.evaluate(SCROLL_THROUGH)
        page.wait_for_function("() => !document.querySelector('.htmx-request')")
    if screen.quiet:
        network.wait_quiet()


# What a reviewer should hear about before opening the pictures: [problem, detail] pairs.
LOOK_OVER = r"""(width) => {
  const found = [];
  const page = document.documentElement.scrollWidth;
  if (page > width) found.push(["the page is wider than the screen (cut at its width)", `${page} px`]);
  for (const element of document.querySelectorAll("body *")) {
    const overflow = getComputedStyle(element).overflowX;
    if ((overflow === "auto" || overflow === "scroll") && element.scrollWidth > element.clientWidth + 1) {
      const what = element.id ? `#${element.id}` : `<${element.localName} class="${element.className}">`;
      const shown = `${element.clientWidth} of ${element.scrollWidth} px shown`;
      found.push([`${what} is cut off at the side (it scrolls sideways)`, shown]);
    }
  }
  const text = document.body.innerText;
  const source = text.match(/\{[#%{]|[#%}]\}/);
  if (source) found.push([`template source shows: "${text.substr(source.index, 50)}…"`, ""]);
  return found;
}"""


@dataclass
class Notes:
    """Problems seen on the pages, each listed once with the screenshots it was seen on."""

    seen: dict[str, list[str]] = field(default_factory=dict)

    def add(self, problem: str, label: str, detail: str = "") -> None:
        self.seen.setdefault(problem, []).append(f"{label} ({detail})" if detail else label)

    def look_over(self, page: Page, label: str, width: int) -> None:
        """Sideways scrolling and template source on the page (works with the page's JavaScript off, too)."""
        for problem, detail in page.evaluate(LOOK_OVER, width):
            self.add(problem, label, detail)

    def watch(self, page: Page, label: str) -> None:
        page.on("console", lambda message: message.type == "error" and self.add("console error", label, message.text))
        page.on("pageerror", lambda error: self.add("uncaught error in the page", label, str(error)))

    def report(self, total: int) -> None:
        for problem, labels in self.seen.items():
            where = f"all {total} screenshots" if len(labels) == total else ", ".join(labels)
            print(f"note: {problem}: {where}", file=sys.stderr)


@dataclass
class Shooter:
    browser: Browser
    demo: Demo
    out: Path
    notes: Notes = field(default_factory=Notes)
    sessions: dict[str, dict] = field(default_factory=dict)  # user → cookies after signing in

    def context(self, size: str, user: str | None, javascript: bool) -> BrowserContext:
        state = self.signed_in(user) if user else None
        context = self.browser.new_context(
            base_url=self.demo.url, java_script_enabled=javascript, storage_state=state, **SIZES[size]
        )
        context.set_default_timeout(TIMEOUT_MS)
        return context

    def signed_in(self, user: str) -> dict:
        """Signs in once per user, through the login page; later contexts reuse the cookies."""
        if user not in self.sessions:
            context = self.context("desktop", None, True)
            page = context.new_page()
            page.goto("/accounts/login/")
            page.get_by_label("Username").fill(user)
            page.get_by_label("Password").fill(user)
            page.get_by_role("button", name="Sign in").click()
            page.get_by_role("button", name="Sign out").wait_for()
            self.sessions[user] = context.storage_state()
            context.close()
        return self.sessions[user]

    def shoot(self, screen: Screen, size: str) -> list[Path]:
        """The screen at one size, light and dark: brought there once, pictured in each scheme."""
        label = f"{screen.name}-{size}"
        context = self.context(size, screen.user, screen.javascript)
        try:
            page = context.new_page()
            network = Network(page)
            self.notes.watch(page, label)
            screen.show(page, self.demo)
            settle(page, screen, network)
            width = SIZES[size]["viewport"]["width"]
            self.notes.look_over(page, label, width)
            paths = []
            for suffix, scheme in THEMES.items():
                page.emulate_media(color_scheme=scheme)  # the page restyles before the picture is taken
                path = self.out / f"{label}{suffix}.png"
                # The whole height, and the screen's width: what overflows sideways is cut as a phone cuts it
                # (and noted above), so every picture of one size has the same width.
                height = page.evaluate("() => document.documentElement.scrollHeight")
                clip = {"x": 0, "y": 0, "width": width, "height": height}
                page.screenshot(path=str(path), full_page=True, clip=clip)
                paths.append(path)
            return paths
        finally:
            context.close()
            if screen.cleanup:
                screen.cleanup(self.demo)


def chromium() -> str:
    path = chromium_path()
    if path is None:
        raise ScreenshotError("Chromium is not installed: run scripts/ensure-chromium (or apt-get install chromium)")
    return path


def remove_stale(out: Path) -> None:
    """Pictures of screens that are no longer in the list (renamed or removed) would mislead a reviewer."""
    for path in out.glob("[0-9][0-9]-*.png"):
        if path.name not in expected_files() and path.stem.removesuffix("-dark").rsplit("-", 1)[-1] in SIZES:
            path.unlink()


def take(screens: list[Screen], out: Path) -> list[Path]:
    """Every screen at every size, in order (later screens show what earlier ones did, e.g. the audit trail)."""
    out.mkdir(parents=True, exist_ok=True)
    remove_stale(out)
    written = []
    with running_demo() as demo, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium(), headless=True, args=CHROMIUM_ARGS)
        shooter = Shooter(browser, demo, out)
        try:
            for screen in screens:
                for size in SIZES:
                    began = time.monotonic()
                    try:
                        paths = shooter.shoot(screen, size)
                    except (PlaywrightError, AssertionError) as error:
                        raise ScreenshotError(f"{screen.name}-{size}: {error}") from error
                    for path in paths:
                        print(f"wrote {path} ({time.monotonic() - began:.1f} s)", flush=True)
                    written.extend(paths)
        finally:
            browser.close()
    shooter.notes.report(len(written))
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "screenshots", help="default: screenshots/")
    parser.add_argument("--only", nargs="+", metavar="NAME", help="only these screens (e.g. 04-jobs or jobs)")
    args = parser.parse_args(argv)
    screens = SCREENS
    if args.only:
        screens = [s for s in SCREENS if any(s.name == n or s.name.split("-", 1)[1] == n for n in args.only)]
        if not screens:
            parser.error(f"no such screen; the screens are: {', '.join(s.name for s in SCREENS)}")
    # Ctrl-C (even if the shell started us with it ignored) and SIGTERM (e.g. from a CI runner) stop the demo.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    started = time.monotonic()
    try:
        written = take(screens, args.out)
    except ScreenshotError as error:
        print(f"make screenshots: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("make screenshots: interrupted; the demo is stopped.", file=sys.stderr)
        return 130
    except SystemExit:
        print("make screenshots: terminated; the demo is stopped.", file=sys.stderr)
        raise
    print(f"{len(written)} screenshots in {args.out} ({time.monotonic() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
