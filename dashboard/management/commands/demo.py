"""`make run`: the whole demo in one command. It migrates and collects static files itself (so the console shows
the settings' warnings once), starts the simulated ArcGIS Server, the demo users, site and example policy, the
background worker, and Django's development server, and prints the logins last, where they stay in sight: the
worker starts without its banner and the server without its start-up lines, and requests are not logged one per
line (errors still are). Ctrl-C (or SIGTERM) stops the portal, the worker and the simulator."""

import hashlib
import logging
import os
import signal
import subprocess
import sys
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.contrib.staticfiles.finders import get_finders
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.core.management.commands import runserver

import arcgis_client
from accounts import roles
from history import collector, monitoring
from history.models import MonitoringAccount
from jobs import operations
from jobs.models import AuditEvent, Site
from policies import editing
from policies.models import Policy

# The demo's portal logins: one per role, password = username.
DEMO_USERS = {"operator": roles.OPERATOR, "viewer": roles.VIEWER, "siteadmin": roles.SITE_ADMIN}
# The example cancel policy, created disabled: preview it, or enable it to run every 15 minutes.
EXAMPLE_POLICY = "Night cleanup: FloodModel running long"
# Each has an ArcGIS account of the same name on the simulated server, as a team has on a real one:
# the operator and the site admin are ArcGIS administrators, the viewer may only read.
# The monitoring account is the collector's: it reads every job into the portal's history, and may only read.
ARCGIS_ACCOUNTS = ["operator:operator:admin", "siteadmin:siteadmin:admin", "viewer:viewer", "monitor:monitor"]


class Command(BaseCommand):
    help = "Run the demo: the built-in ArcGIS simulator (HTTPS) and the portal, with a connected demo operator."

    def add_arguments(self, parser):
        parser.add_argument("--addr", default="127.0.0.1:8000", help="where the portal listens")
        parser.add_argument("--simulator-port", type=int, default=0, help="default: any free port")
        parser.add_argument("--latency-ms", type=int, default=40, help="simulated ArcGIS latency")

    def handle(self, *args, addr, simulator_port, latency_ms, **options):
        from arcgis_simulator import Simulator

        # SIGTERM stops it like Ctrl-C, and so does Ctrl-C even when a shell started it with SIGINT ignored: the
        # worker and the simulator stop with it.
        signal.signal(signal.SIGTERM, _interrupt)
        signal.signal(signal.SIGINT, _interrupt)
        call_command("migrate", interactive=False, verbosity=0)
        collect_static()

        simulator = Simulator(
            scenario="demo",
            tls=True,
            cert_dir=str(settings.VAR_DIR / "simulator"),
            port=simulator_port,
            latency_ms=latency_ms,
            users=ARCGIS_ACCOUNTS,
        )
        simulator.start()
        try:
            users = self._create_users()
            site = self._register_site(simulator, actor=next(u for u in users if u.username == "siteadmin"))
            for user in users:
                # Each demo user connects with their own ArcGIS account: ArcGIS's log and the audit trail name them.
                outcome = operations.connect(
                    user,
                    site,
                    username=user.username,
                    password=user.username,
                    expiration_minutes=1440,
                    via=AuditEvent.Via.CLI,
                )
                if not outcome.ok:
                    raise CommandError(f"Could not connect the demo users to the simulator: {outcome.message}")
            self._example_policy(site, owner=next(u for u in users if u.username == "operator"))
            self._monitoring_account(site, actor=next(u for u in users if u.username == "siteadmin"))
            # The first collector pass here, so that the history and its charts are full at the first login; the
            # worker's beat collects from then on.
            collector.collect([site])
            worker = self._start_worker()
            try:
                server = QuietServer(self.style.SUCCESS(self._banner(addr, simulator, worker)))
                call_command(server, addr, use_reloader=False, skip_checks=True)
            finally:
                self._stop_worker(worker)
        finally:
            simulator.stop()

    def _start_worker(self) -> subprocess.Popen:
        """The background worker, with beat for the schedule: scheduled policies and alerts. Without Redis its
        broker is a directory under var/ (dashboard/settings.py), so it needs nothing else. It writes to a log of its
        own (WORKER_LOG), so that the console keeps the logins in sight."""
        command = [sys.executable, "-m", "celery", "-A", "dashboard", "worker", "--beat", "--concurrency", "2"]
        with self.worker_log.open("w") as log:
            # A fixed command with this interpreter: nothing in it comes from input.
            return subprocess.Popen(  # noqa: S603
                [*command, "--loglevel", "WARNING"],
                cwd=settings.BASE_DIR,
                env=os.environ.copy(),
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    @property
    def worker_log(self) -> Path:
        return Path(settings.VAR_DIR) / "worker.log"

    def _stop_worker(self, worker: subprocess.Popen) -> None:
        if worker.poll() is None:
            worker.send_signal(signal.SIGTERM)  # a warm shutdown: the task at hand finishes
            try:
                worker.wait(timeout=20)
            except subprocess.TimeoutExpired:
                worker.kill()
                worker.wait()

    def _example_policy(self, site: Site, owner) -> None:
        if Policy.objects.filter(name=EXAMPLE_POLICY).exists():
            return
        policy = Policy(
            name=EXAMPLE_POLICY,
            site=site,
            services="*/FloodModel",
            statuses=[arcgis_client.EXECUTING],
            running_long=True,
            action=Policy.Action.CANCEL,
            mode=Policy.Mode.SCHEDULED,
            every_minutes=15,
            owner=owner,
            enabled=False,
        )
        editing.save(owner, policy, None, via=AuditEvent.Via.CLI)

    def _monitoring_account(self, site: Site, actor) -> None:
        """The collector's read-only account, set once (audited) and again only after the site moved."""
        account = MonitoringAccount.objects.filter(site=site).first()
        if account is None or not account.secret_ciphertext:
            monitoring.set_account(site, actor, username="monitor", password="monitor", via=AuditEvent.Via.CLI)

    def _register_site(self, simulator, actor) -> Site:
        """The demo site on this run's simulator, changed like any site (audited; a new port revokes tokens)."""
        site = Site.objects.filter(slug="demo").first() or Site(slug="demo")
        site.name = "Demo ArcGIS Server (simulated)"
        site.admin_url = simulator.admin_url
        site.token_url = ""
        site.ca_bundle = simulator.cert_path.read_text()
        site.insecure = False
        if changes := operations.site_changes(site):
            operations.change_site(actor, site, changes, via=AuditEvent.Via.CLI)
        return site

    def _create_users(self):
        users = []
        for username, role in DEMO_USERS.items():
            user, _ = get_user_model().objects.get_or_create(username=username)
            user.set_password(username)
            user.save()
            user.groups.set([Group.objects.get(name=role)])
            users.append(user)
        return users

    def _banner(self, addr: str, simulator, worker: subprocess.Popen) -> str:
        logins = "\n".join(f"    {name:<10} / {name:<10} ({role})" for name, role in DEMO_USERS.items())
        return (
            f"\nGP Jobs Portal demo\n"
            f"  Simulated ArcGIS Server: {simulator.admin_url}\n"
            f"    its certificate: {simulator.cert_path}\n"
            f"  Background worker (scheduled policies, alerts): celery -A dashboard worker --beat, pid {worker.pid}\n"
            f"    its log: {self.worker_log}\n"
            f"  Example policy (disabled): “{EXAMPLE_POLICY}” under Policies\n"
            f"  Portal:    http://{addr}/\n"
            f"  Log in as:\n{logins}\n"
            f"  Ctrl-C stops the portal, the background worker and the simulator.\n"
        )


def collect_static() -> None:
    """collectstatic, unless no static file changed since the demo last ran it: it compresses every file again each
    time, which is most of the demo's start-up."""
    sources = []
    for finder in get_finders():
        for path, storage in finder.list(["CVS", ".*", "*~"]):
            found = os.stat(storage.path(path))
            sources.append(f"{path} {found.st_size} {found.st_mtime_ns}")
    fingerprint = hashlib.sha256("\n".join(sorted(sources)).encode()).hexdigest()
    root = Path(settings.STATIC_ROOT)
    marker = root / ".collected-from"
    if (root / "staticfiles.json").exists() and marker.exists() and marker.read_text() == fingerprint:
        return
    call_command("collectstatic", interactive=False, verbosity=0)
    marker.write_text(fingerprint)


class QuietServer(runserver.Command):
    """Django's development server, which says where it listens with the demo's banner instead of its own lines."""

    def __init__(self, banner: str) -> None:
        super().__init__()
        self.banner = banner

    def get_handler(self, *args, **options):
        handler = super().get_handler(*args, **options)  # loading the WSGI application configures logging again
        # The simulated server says who cancelled, deleted or purged what, as ArcGIS's own log would; the
        # development server logs a request only when it failed (the portal's own log has the details).
        logging.getLogger("arcgis_simulator").setLevel(logging.INFO)
        logging.getLogger("django.server").setLevel(logging.ERROR)
        return handler

    def on_bind(self, server_port: int) -> None:
        self.stdout.write(self.banner)
        self.stdout.flush()


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt
