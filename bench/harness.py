"""What every benchmark needs: a throwaway portal (SQLite in a temp dir, served by gunicorn),
simulated ArcGIS sites with injected latency, logged-in browsers, direct upstream clients,
and the figures' arithmetic and formatting.

This module is imported by the simulator's own process too (multiprocessing "spawn"), so it
imports nothing from Django at module level.
"""

from __future__ import annotations

import contextlib
import math
import multiprocessing
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

PROJECT_DIR = Path(__file__).resolve().parent.parent
# Fixed, throwaway secrets: the bench's database lives in a temp dir and is deleted afterwards.
SECRET_KEY = "bench-only-secret-key-not-for-any-real-deployment-0123456789"
TOKEN_KEY = "DhxfQaP-0vDVTUvhQtj11ysL7NPQ0WZ0waWrl7L_pBI="
# Operators' browsers pick their own time zone (static/js/portal.js); most are not on UTC.
BROWSER_TIMEZONE = "Europe/Berlin"

WORKERS = 2
THREADS = 8


# --- figures -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Result:
    """One measure's figures: the portal's and the comparison's, and the target they are held to."""

    name: str
    title: str  # what was measured, for the summary table
    portal: float
    comparison: float | None
    target: str
    met: bool | None  # None: a figure shown for information, held to no target
    unit: str = "s"  # "s", "MB", "B" (bytes), "/s" (a rate), or what is counted (e.g. "calls")
    note: str = ""

    @property
    def ratio(self) -> float | None:
        if self.comparison is None or self.comparison <= 0:
            return None
        return self.portal / self.comparison

    @property
    def verdict(self) -> str:
        return {True: "MET", False: "MISSED", None: "—"}[self.met]

    def line(self) -> str:
        verdict = self.verdict
        return (
            f"{self.name:<18} portal {self.value(self.portal):>9}   comparison {self.value(self.comparison):>9}   "
            f"ratio {self.ratio_text():>16}   target {self.target:<26} {verdict}"
            + (f"   ({self.note})" if self.note else "")
        )

    def value(self, amount: float | None) -> str:
        if amount is None:
            return "—"
        if self.unit == "MB":
            return f"{amount:.1f} MB"
        if self.unit == "/s":
            return f"{amount:.2f}/s"
        if self.unit == "B":
            return f"{amount:,.0f} B"
        if self.unit != "s":  # a count, e.g. "calls"
            return f"{amount:,.0f} {self.unit.removesuffix('s') if amount == 1 else self.unit}"
        return seconds(amount)

    def ratio_text(self) -> str:
        ratio = self.ratio
        if ratio is None:
            return "—"
        if ratio < 1 and self.unit == "s":
            return f"{ratio:.3f}× ({1 / ratio:.1f}× faster)"
        if ratio < 1:
            return f"{ratio:.3f}×"
        return f"{ratio:.2f}×"


def seconds(amount: float) -> str:
    return f"{amount * 1000:.1f} ms" if amount < 1 else f"{amount:.2f} s"


def median(values: list[float]) -> float:
    return statistics.median(values)


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(p / 100 * len(ordered)) - 1))]


def timed(call: Callable[[], Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    answer = call()
    return time.perf_counter() - started, answer


def interleaved(sides: dict[str, Callable[[], float]], rounds: int, per_round: int = 1) -> dict[str, list[float]]:
    """Each side's timings, measured side by side: every round runs each side `per_round` times,
    starting with a different side each round so that none always goes first."""
    names = list(sides)
    times: dict[str, list[float]] = {name: [] for name in names}
    for round_number in range(rounds):
        shift = round_number % len(names)
        for _ in range(per_round):
            for name in names[shift:] + names[:shift]:
                times[name].append(sides[name]())
    return times


class Spacing:
    """Wraps calls so that each starts at least `gap` seconds after the previous one (of any of them)
    ended. The portal shares identical upstream reads between operators for about a second
    (SHARED_READ_SECONDS): a measure of what waiting for ArcGIS costs must not be answered from
    that cache by its own previous round."""

    def __init__(self, gap: float = 1.2):
        self.gap = gap
        self._last = -math.inf

    def __call__(self, call: Callable[[], float]) -> Callable[[], float]:
        def spaced() -> float:
            wait = self._last + self.gap - time.perf_counter()
            if wait > 0:
                time.sleep(wait)
            try:
                return call()
            finally:
                self._last = time.perf_counter()

        return spaced


def say(text: str) -> None:
    print(text, flush=True)


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    memory = ""
    with contextlib.suppress(OSError, ValueError, IndexError):
        kib = int(Path("/proc/meminfo").read_text().split("\n", 1)[0].split()[1])
        memory = f", {kib / 1024 / 1024:.0f} GiB RAM"
    return (
        f"{os.cpu_count()} CPU cores ({cpu}){memory}, {platform.system()} {platform.release()}, "
        f"Python {platform.python_version()}"
    )


# --- the simulator, in its own process ----------------------------------------------------


def _simulator_commands() -> dict[str, Callable]:
    def add_jobs(sim, service: str, count: int, statuses: list[str] | None = None, spread_s: float = 0) -> list[str]:
        """`count` jobs, newest first, submitted `spread_s` seconds apart, cycling through `statuses`."""
        statuses = statuses or ["esriJobExecuting"]
        now_ms = int(time.time() * 1000)
        return [
            sim.state.add_job(
                service,
                status=statuses[i % len(statuses)],
                username=f"analyst{i % 7 + 1}",
                machinename=f"GIS0{i % 3 + 1}.EXAMPLE.COM",
                submitted=now_ms - int(i * spread_s * 1000),
            )
            for i in range(count)
        ]

    def statuses(sim, service: str, job_ids: list[str]) -> dict[str, str | None]:
        return {job_id: (sim.state.get_job(service, job_id) or {}).get("status") for job_id in job_ids}

    def lifecycles(sim) -> list[tuple[str, int, int | None, int | None, str]]:
        """Every job the site holds: (job ID, submitted, began executing, ended (epoch ms; None: not yet), status)."""
        found = []
        for service in sim.state.summary():
            for answer in sim.state.jobs(service):
                record = sim.state.job_record(service, answer["jobId"])
                if record is not None:
                    job = record[0]
                    found.append((job.job_id, job.submitted, job.started, job.end, job.status))
        return found

    def request_counts(sim) -> dict[tuple[str | None, str | None], int]:
        """ArcGIS requests received since the log was last cleared, by (service, operation)."""
        counts: dict[tuple[str | None, str | None], int] = {}
        for record in sim.requests:
            counts[record.service, record.operation] = counts.get((record.service, record.operation), 0) + 1
        return counts

    return {
        "add_service": lambda sim, name, folder="": sim.state.add_service(name, folder=folder).key,
        "add_jobs": add_jobs,
        "set_status": lambda sim, service, job_id, status: sim.state.set_status(service, job_id, status),
        "statuses": statuses,
        "jobs": lambda sim, service: sim.state.jobs(service),  # every job of it, as ArcGIS answers them
        "issue_token": lambda sim, user, referer: sim.issue_token(user, referer=referer, expiration_minutes=120),
        "fault": lambda sim, kind, **params: sim.faults.set(kind, **params).to_json(),
        "clear_faults": lambda sim: sim.faults.clear(),
        "request_counts": request_counts,
        "clear_requests": lambda sim: sim.requests.clear(),
        "follow_clock": _follow_clock,
        "lifecycles": lifecycles,
    }


_following = threading.Event()


def _follow_clock(sim, on: bool) -> None:
    """Move the site's manual clock along with real time (on: every 50 ms, from a thread of the simulator's
    process), or hold it still (off): while it is held nothing happens at the site (no job is submitted, none
    moves on)."""
    if on and not _following.is_set():
        _following.set()

        def follow() -> None:
            while _following.is_set():
                behind = time.time() - sim.clock.now().timestamp()
                if behind > 0:
                    sim.clock.advance(behind)
                time.sleep(0.05)

        threading.Thread(target=follow, name="follow-clock", daemon=True).start()
    elif not on:
        _following.clear()
        time.sleep(0.1)  # the follower's last advance is done


def _serve_simulator(conn, latency_ms: float, scenario: str, scenario_options: dict | None, manual_clock: bool) -> None:
    """The simulator process: start a site, then answer commands until told to stop."""
    from arcgis_simulator import ManualClock, Simulator

    commands = _simulator_commands()
    clock = ManualClock() if manual_clock else None
    with Simulator(scenario, scenario_options=scenario_options, latency_ms=latency_ms, clock=clock) as sim:
        conn.send(sim.admin_url)
        while True:
            message = conn.recv()
            if message is None:
                break
            name, args, kwargs = message
            try:
                conn.send((True, commands[name](sim, *args, **kwargs)))
            except Exception as exc:  # report it to the bench instead of dying silently
                conn.send((False, f"{type(exc).__name__}: {exc}"))


class SimulatorProcess:
    """An ArcGIS simulator (plain HTTP, fixed latency) in a process of its own, so its threads never compete
    with the bench's load generator for one interpreter's lock. Its site is `scenario` (with its options); its
    clock is real, or with `manual_clock` one that stands still until the "follow_clock" command moves it."""

    def __init__(
        self,
        latency_ms: float,
        scenario: str = "empty",
        scenario_options: dict | None = None,
        manual_clock: bool = False,
    ):
        self.latency_ms = latency_ms
        context = multiprocessing.get_context("spawn")
        self._conn, child = context.Pipe()
        self._process = context.Process(
            target=_serve_simulator, args=(child, latency_ms, scenario, scenario_options, manual_clock), daemon=True
        )
        self._lock = threading.Lock()
        self.admin_url = ""

    def start(self) -> SimulatorProcess:
        self._process.start()
        if not self._conn.poll(30):
            raise RuntimeError("the simulator process did not start")
        self.admin_url = self._conn.recv()
        return self

    def call(self, name: str, *args, **kwargs) -> Any:
        with self._lock:
            self._conn.send((name, args, kwargs))
            ok, answer = self._conn.recv()
        if not ok:
            raise RuntimeError(f"simulator: {answer}")
        return answer

    def stop(self) -> None:
        with contextlib.suppress(OSError, BrokenPipeError):
            self._conn.send(None)
        self._process.join(10)
        if self._process.is_alive():
            self._process.terminate()
            self._process.join(5)


# --- the portal, served by gunicorn ---------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Portal:
    """The portal served by gunicorn (gthread workers) on a loopback port."""

    def __init__(
        self,
        env: dict[str, str],
        log_path: Path,
        workers: int = WORKERS,
        threads: int = THREADS,
        project_dir: Path = PROJECT_DIR,  # another checkout (bench/side_by_side.py), or this one
    ):
        self.env = env
        self.log_path = log_path
        self.project_dir = project_dir
        self.workers = workers
        self.threads = threads
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._process: subprocess.Popen | None = None
        self._log = None

    @property
    def description(self) -> str:
        return f"gunicorn -w {self.workers} --worker-class gthread --threads {self.threads} --keep-alive 75"

    def start(self) -> Portal:
        command = [
            sys.executable,
            "-m",
            "gunicorn",
            "dashboard.wsgi",
            "-w",
            str(self.workers),
            "--worker-class",
            "gthread",
            "--threads",
            str(self.threads),
            "--keep-alive",  # as the README deploys it: longer than the slowest poll
            "75",
            "-b",
            f"127.0.0.1:{self.port}",
        ]
        self._log = self.log_path.open("ab")
        self._process = subprocess.Popen(
            command, cwd=self.project_dir, env=self.env, stdout=self._log, stderr=subprocess.STDOUT
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                self.stop()
                raise RuntimeError(f"gunicorn exited at start-up; see {self.log_path}")
            with contextlib.suppress(requests.RequestException):
                if requests.get(f"{self.url}/healthz", timeout=1).status_code == 200 and self._all_workers_up():
                    return self
            time.sleep(0.1)
        self.stop()  # (a server that never answers is not left running after the bench)
        raise RuntimeError(f"gunicorn did not become ready; see {self.log_path}")

    def _all_workers_up(self) -> bool:
        return len(self.worker_pids()) == self.workers

    def worker_pids(self) -> list[int]:
        """The worker processes: children of gunicorn's master."""
        assert self._process is not None
        master = self._process.pid
        pids = []
        for stat in Path("/proc").glob("[0-9]*/stat"):
            with contextlib.suppress(OSError, IndexError, ValueError):
                # The command name (2nd field) may hold spaces; the parent PID follows its ')'.
                if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == master:
                    pids.append(int(stat.parent.name))
        return sorted(pids)

    def cpu_seconds(self) -> float:
        """CPU time (user + system) used so far by the workers: what the portal itself costs,
        whatever else the machine is doing."""
        total = 0
        for pid in self.worker_pids():
            with contextlib.suppress(OSError, IndexError, ValueError):
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
                total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of the line)
        return total / os.sysconf("SC_CLK_TCK")

    def metered(self, call: Callable[[], float], spent: list[float]) -> Callable[[], float]:
        """`call`, noting in `spent` the workers' CPU time each call cost: for a portal nothing else is using."""

        def measured() -> float:
            before = self.cpu_seconds()
            try:
                return call()
            finally:
                spent.append(self.cpu_seconds() - before)

        return measured

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(15)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait(5)
        if self._log is not None:
            self._log.close()


def peak_rss_mb(pid: int) -> float:
    """The process's peak resident set size (VmHWM), in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmHWM for process {pid}")


# --- clients: the operator's browser and a direct script ------------------------------------


def _session() -> requests.Session:
    session = requests.Session()
    session.trust_env = False  # loopback only: no proxies from the environment
    return session


class Browser:
    """One operator's browser: a keep-alive connection carrying the session and CSRF cookies,
    sending what htmx sends (HX-Request, HX-Target, and X-CSRFToken from the page's hx-headers)."""

    def __init__(self, base_url: str, session: requests.Session | None = None):
        self.base_url = base_url
        self.session = session or _session()
        self.resent = 0

    @property
    def csrf_token(self) -> str:
        return self.session.cookies.get("csrftoken", "")

    def _headers(self, htmx: bool, target: str | None = None) -> dict[str, str]:
        # Over plain http Django checks no Referer; a browser sends one over https.
        headers = {"HX-Request": "true", "X-CSRFToken": self.csrf_token} if htmx else {}
        if target:
            headers["HX-Target"] = target
        return headers

    def get(
        self, path: str, *, htmx: bool = False, target: str | None = None, timeout: float = 30
    ) -> requests.Response:
        """A page (htmx=False), or what htmx asks for; `target` is the id of the element it swaps (HX-Target).

        Like a browser, a GET that finds its idle keep-alive connection just closed by the server
        (gunicorn closes them after 2 s) is sent again once, on a new connection; `resent` counts them."""
        headers = self._headers(htmx or target is not None, target)
        try:
            return self.session.get(self.base_url + path, headers=headers, timeout=timeout)
        except requests.ConnectionError:
            self.resent += 1
            return self.session.get(self.base_url + path, headers=headers, timeout=timeout)

    def post(self, path: str, data: Any, *, htmx: bool = True, timeout: float = 60) -> requests.Response:
        return self.session.post(
            self.base_url + path, data=data, headers=self._headers(htmx), allow_redirects=False, timeout=timeout
        )

    def events(self, path: str, timeout: float = 60) -> Iterator[tuple[str, str]]:
        """A server-sent event stream as htmx's sse extension reads it, over this browser's connection:
        (event, data) as each event arrives, until the server ends the stream."""
        with self.session.get(
            self.base_url + path, headers={"Accept": "text/event-stream"}, stream=True, timeout=timeout
        ) as answer:
            if answer.status_code != 200:
                raise RuntimeError(f"{path}: HTTP {answer.status_code}")
            pending = b""
            for chunk in answer.iter_content(chunk_size=None):  # each chunk as the portal sends it
                pending += chunk
                while b"\n\n" in pending:
                    block, pending = pending.split(b"\n\n", 1)
                    event, data = "message", []
                    for line in block.decode().split("\n"):
                        if line.startswith("event:"):
                            event = line[6:].strip()
                        elif line.startswith("data:"):
                            data.append(line[5:].removeprefix(" "))
                    yield event, "\n".join(data)


class Upstream:
    """The comparison: a script calling the site's Administrator API directly with requests,
    over one keep-alive connection, with the same token (in the POST body, or the header on GETs)."""

    def __init__(self, admin_url: str, token: str, referer: str):
        self.admin_url = admin_url
        self.token = token
        self.referer = referer
        self.session = _session()

    def connection(self) -> Upstream:
        return Upstream(self.admin_url, self.token, self.referer)

    def get(self, path: str, **params) -> dict:
        headers = {"Referer": self.referer, "X-Esri-Authorization": f"Bearer {self.token}"}
        answer = self.session.get(f"{self.admin_url}/{path}", params={**params, "f": "json"}, headers=headers)
        return self._json(answer)

    def post(self, path: str, **params) -> dict:
        data = {**params, "f": "json", "token": self.token}
        return self._json(self.session.post(f"{self.admin_url}/{path}", data=data, headers={"Referer": self.referer}))

    @staticmethod
    def _json(answer: requests.Response) -> dict:
        answer.raise_for_status()
        body = answer.json()
        if body.get("status") == "error" or "error" in body:
            raise RuntimeError(f"ArcGIS answered an error: {body}")
        return body


# --- the bench: environment, users, sites ------------------------------------------------------

# Settings the bench decides itself: DEBUG off, plain http, its own database and Redis prefix.
_UNSET = ("REDIS_URL", "REDIS_KEY_PREFIX", "DJANGO_DEBUG", "DJANGO_PRODUCTION", "DJANGO_ALLOWED_HOSTS", "DATABASE_URL")


def _reachable_redis() -> str | None:
    """REDIS_URL, or the local Redis when one answers; None runs the bench without Redis."""
    url = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
    try:
        import redis

        redis.Redis.from_url(url, socket_connect_timeout=1).ping()
    except Exception:
        return None
    return url


@dataclass
class BenchSite:
    """A Site row of the portal, pointing at its own simulator process."""

    site: Any  # jobs.models.Site
    simulator: SimulatorProcess

    @property
    def slug(self) -> str:
        return self.site.slug

    def upstream(self, token: str) -> Upstream:
        return Upstream(self.simulator.admin_url, token, self.site.effective_referer)


class Bench:
    """A throwaway portal: SQLite and static files in a temp dir, migrated, with operators,
    served by gunicorn. Django is set up in this process too, to create users, sites and tokens."""

    def __init__(self):
        self._temp = tempfile.TemporaryDirectory(prefix="gp-jobs-bench-")
        self.dir = Path(self._temp.name)
        self.env = self._environment()
        self._portal: Portal | None = None
        self._users: dict[str, Any] = {}
        self._setup_django()

    def _environment(self) -> dict[str, str]:
        env = {key: value for key, value in os.environ.items() if key not in _UNSET}
        if redis_url := _reachable_redis():
            # Several gunicorn workers share the row cache through Redis and read sessions through it, as in production.
            env |= {"REDIS_URL": redis_url, "REDIS_KEY_PREFIX": f"gpjobs-bench-{os.getpid()}"}
        env |= {
            "DJANGO_SETTINGS_MODULE": "dashboard.settings",
            "DATABASE_URL": f"sqlite:///{self.dir / 'portal.sqlite3'}",
            "PORTAL_VAR_DIR": str(self.dir / "var"),
            "DJANGO_STATIC_ROOT": str(self.dir / "static"),
            "DJANGO_SECRET_KEY": SECRET_KEY,
            "TOKEN_ENCRYPTION_KEYS": TOKEN_KEY,
            "PYTHONUNBUFFERED": "1",
        }
        return env

    def _setup_django(self) -> None:
        for key in _UNSET:
            os.environ.pop(key, None)
        os.environ.update(self.env)
        import django
        from django.core.management import call_command

        django.setup()
        call_command("migrate", interactive=False, verbosity=0)
        call_command("collectstatic", interactive=False, verbosity=0)

    @property
    def description(self) -> str:
        return (
            f"dashboard.settings (DEBUG off), SQLite (WAL) in a temp dir, {self._caches}; portal served by "
            f"gunicorn -w {WORKERS} --worker-class gthread --threads {THREADS} on 127.0.0.1; "
            "each ArcGIS site a simulator in its own process (plain HTTP, real clock)"
        )

    @property
    def _caches(self) -> str:
        if "REDIS_URL" in self.env:
            return "sessions in the database read through Redis, cache in Redis"
        return "sessions in the database, local-memory cache"

    def portal(self) -> Portal:
        """The shared portal, started on first use."""
        if self._portal is None:
            self._portal = Portal(self.env, self.dir / "gunicorn.log").start()
        return self._portal

    @contextlib.contextmanager
    def extra_portal(self, workers: int, threads: int) -> Iterator[Portal]:
        portal = Portal(self.env, self.dir / "gunicorn-extra.log", workers=workers, threads=threads).start()
        try:
            yield portal
        finally:
            portal.stop()

    def operator(self, username: str):
        """A user with the Operator role (created once)."""
        if username not in self._users:
            from django.contrib.auth import get_user_model
            from django.contrib.auth.models import Group

            from accounts import roles

            user = get_user_model().objects.create_user(username)  # no password: signed in by session
            user.groups.add(Group.objects.get(name=roles.OPERATOR))
            self._users[username] = user
        return self._users[username]

    @contextlib.contextmanager
    def site(self, slug: str, latency_ms: float, **fields: Any) -> Iterator[BenchSite]:
        """A site on a fresh simulator with `latency_ms` added to every ArcGIS request (`fields`: more of the
        Site's fields, e.g. read_timeout); removed afterwards, so later measures see only their own sites."""
        from django.db import connection

        from jobs.models import Site

        simulator = SimulatorProcess(latency_ms).start()
        site = Site.objects.create(
            slug=slug, name=f"Bench {slug}", admin_url=simulator.admin_url, insecure=True, **fields
        )
        try:
            yield BenchSite(site, simulator)
        finally:
            site.delete()
            connection.close()
            simulator.stop()

    def connect(self, username: str, bench_site: BenchSite) -> str:
        """Store the operator's own ArcGIS token for the site, as the connect page would; returns it."""
        from jobs.models import StoredToken

        site = bench_site.site
        token = bench_site.simulator.call("issue_token", "siteadmin", site.effective_referer)
        stored = StoredToken(user=self.operator(username), site=site, source=StoredToken.PASTED)
        stored.token = token
        stored.arcgis_username = "siteadmin"
        stored.save()
        return token

    def browser(self, username: str, portal: Portal | None = None) -> Browser:
        """The operator's browser, signed in (a session made here, as a sign-in would make it: the bench
        measures pages, not password hashing) with the CSRF cookie the login page sets."""
        from django.conf import settings
        from django.test import Client

        browser = Browser((portal or self.portal()).url)
        browser.session.cookies.set("tz", BROWSER_TIMEZONE)
        if browser.get("/accounts/login/").status_code != 200 or not browser.csrf_token:
            raise RuntimeError("the login page set no CSRF cookie")
        client = Client()
        client.force_login(self.operator(username), backend="accounts.permission_cache.CachedPermissionsBackend")
        name = settings.SESSION_COOKIE_NAME
        browser.session.cookies.set(name, client.cookies[name].value)
        return browser

    def server_errors(self) -> list[str]:
        """Errors the portal logged (tracebacks, 500s, worker timeouts): a figure that hides one is wrong."""
        lines = []
        for log in sorted(self.dir.glob("gunicorn*.log")):
            lines += [
                line
                for line in log.read_text(errors="replace").splitlines()
                if "Traceback" in line or " ERROR " in line or "[ERROR]" in line or "CRITICAL" in line
            ]
        return lines

    def close(self) -> None:
        if self._portal is not None:
            self._portal.stop()
        from django.db import connections

        connections.close_all()
        self._temp.cleanup()
