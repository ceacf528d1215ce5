import logging
import os
import signal
import subprocess
import sys

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

import arcgis_client
from accounts import roles
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
ARCGIS_ACCOUNTS = ["operator:operator:admin", "siteadmin:siteadmin:admin", "viewer:viewer"]


class Command(BaseCommand):
    help = "Run the demo: the built-in ArcGIS simulator (HTTPS) and the portal, with a connected demo operator."

    def add_arguments(self, parser):
        parser.add_argument("--addr", default="127.0.0.1:8000", help="where the portal listens")
        parser.add_argument("--simulator-port", type=int, default=0, help="default: any free port")
        parser.add_argument("--latency-ms", type=int, default=40, help="simulated ArcGIS latency")

    def handle(self, *args, addr, simulator_port, latency_ms, **options):
        from arcgis_simulator import Simulator

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
            worker = self._start_worker()
            try:
                self.stdout.write(self.style.SUCCESS(self._banner(addr, simulator, worker)))
                # The simulated server says who cancelled, deleted or purged what, as ArcGIS's own log would.
                logging.getLogger("arcgis_simulator").setLevel(logging.INFO)
                call_command("runserver", addr, use_reloader=False, skip_checks=True)
            finally:
                self._stop_worker(worker)
        finally:
            simulator.stop()

    def _start_worker(self) -> subprocess.Popen:
        """The background worker, with beat for the schedule: scheduled policies and alerts. Without Redis its
        broker is a directory under var/ (dashboard/settings.py), so it needs nothing else."""
        command = [sys.executable, "-m", "celery", "-A", "dashboard", "worker", "--beat", "--concurrency", "2"]
        # A fixed command with this interpreter: nothing in it comes from input.
        return subprocess.Popen([*command, "--loglevel", "WARNING"], cwd=settings.BASE_DIR, env=os.environ.copy())  # noqa: S603

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
            f"  Portal:    http://{addr}/  (Ctrl-C stops the portal and the simulator)\n"
            f"  Log in as:\n{logins}\n"
            f"  Simulated ArcGIS Server: {simulator.admin_url}\n"
            f"    its certificate: {simulator.cert_path}\n"
            f"  Background worker (scheduled policies, alerts): celery -A dashboard worker --beat, pid {worker.pid}\n"
            f"  Example policy (disabled): {EXAMPLE_POLICY!r} under Policies\n"
        )
