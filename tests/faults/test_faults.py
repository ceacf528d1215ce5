"""What the portal stands on comes and goes under a running portal, with operators signed in and polling.

Four operators poll their jobs page (the page's one poll, as htmx sends it), load the overview now and then, and
cancel a fresh job every few seconds, each from their own cookie jar, like browsers. Meanwhile the test stops, hangs
(SIGSTOP) and restarts the private Redis, stops and restarts the private PostgreSQL, and stops the broker, one at a
time, and counts for each fault: the requests made from its start until 3 s after the portal had recovered (a
restart's effects come after it), the 5xx answers (a 503 that says the database is not answering is what
PostgreSQL's faults are meant to give; any other 5xx is a failure), the sessions lost, the actions sent to ArcGIS
without an audit row written before them, and how long the portal took to recover once the dependency was back.
The table is printed; the zeros are asserted.

Also, while Redis is down an operator signs out: her session stays ended when Redis comes back with it; while the
database is down an operator clicks Cancel on a page loaded before: nothing reaches ArcGIS; while the broker is
down an administrator sends a test alert and a scheduled policy falls due: both happen, once, when it is back.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest
import requests

from tests.faults.conftest import ADMIN, CLICKING, POLICY, POLLING, SIGNING_OUT, Stack
from tests.scaleout.conftest import SERVICE_KEY
from tests.scaleout.test_scaleout import Browser, job_row, outcome_of, signed_in_as, text_of

pytestmark = pytest.mark.faults

DOWN_SECONDS = 5.0  # how long a dependency stays stopped or hung
RECOVERY_LIMIT = 60.0  # seconds: a portal not recovered by then fails the test
AFTERWARDS = 3.0  # seconds after recovery still counted as the fault's: a restart's effects come after it
SLOW_RECOVERY = 5.0  # seconds: a recovery slower than this says what it waited for
POLL_PAUSE = 0.25  # seconds between an operator's requests
NOT_ANSWERING = "The portal's database is not answering; nothing was sent to ArcGIS. Try again in a moment."
EXECUTING = "esriJobExecuting"


@dataclass(frozen=True)
class Answer:
    who: str
    kind: str  # poll, page, cancel
    started: float
    ended: float
    status: int  # 0: no answer at all
    session_lost: bool
    says_not_answering: bool
    job_id: str = ""
    outcome: str = ""


@dataclass
class Fault:
    name: str
    started: float = 0.0
    back: float = 0.0
    recovered: float = 0.0
    answers: list[Answer] = field(default_factory=list)
    unaudited: int = 0
    waited_for: str = ""  # the last thing recovery waited for (see wait_recovered)

    def count(self, test: Callable[[Answer], bool]) -> int:
        return sum(1 for answer in self.answers if test(answer))

    @property
    def database_503s(self) -> int:
        return self.count(lambda a: a.status == 503 and a.says_not_answering)

    @property
    def other_5xx(self) -> int:
        return self.count(lambda a: a.status >= 500 and not (a.status == 503 and a.says_not_answering))

    @property
    def no_answer(self) -> int:
        return self.count(lambda a: a.status == 0)

    @property
    def sessions_lost(self) -> int:
        return len({a.who for a in self.answers if a.session_lost})

    @property
    def slowest(self) -> float:
        return max((a.ended - a.started for a in self.answers), default=0.0)

    def row(self) -> str:
        cells = [
            self.name,
            f"{self.back - self.started:.1f}",
            str(len(self.answers)),
            str(self.database_503s),
            str(self.other_5xx + self.no_answer),
            str(self.sessions_lost),
            str(self.unaudited),
            f"{self.recovered - self.back:.1f}",
            f"{self.slowest:.2f}",
        ]
        return "| " + " | ".join(cells) + " |"


HEADER = [
    '| fault | down (s) | requests | 503 "database not answering" | other 5xx or no answer | sessions lost '
    "| actions sent without an audit row | recovered in (s) | slowest answer (s) |",
    "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
]


def session_lost(response: requests.Response) -> bool:
    """A login page instead of the portal: a redirect, or htmx told to go there."""
    to = response.headers.get("HX-Redirect") or (response.headers.get("Location") if response.is_redirect else "")
    return bool(to) and to.startswith("/accounts/login/")


class Operator:
    """One operator's browser tab: polls the page's active row, loads the overview, cancels a fresh job."""

    def __init__(self, stack: Stack, name: str):
        self.stack, self.name = stack, name
        self.browser = Browser(stack.portal)
        self.browser.log_in(stack.people[name])
        self.watched = stack.simulator.state.add_job(SERVICE_KEY, status=EXECUTING, username=f"{name}_analyst")
        page = self.browser.get(stack.jobs_path() + "?inline=1")  # the page it polls from (and its CSRF token)
        assert page.status_code == 200 and signed_in_as(page.text) == name, page.text[:2000]
        self.answers: list[Answer] = []

    def step(self, n: int) -> None:
        job_id, kind = "", "poll"
        started = time.monotonic()
        try:
            if n % 12 == 11:
                kind = "cancel"
                job_id = self.stack.simulator.state.add_job(SERVICE_KEY, status=EXECUTING, username=f"{self.name}_x")
                response = self.browser.action(self.stack.jobs_path(job_id, "cancel"))
            elif n % 6 == 5:
                kind = "page"
                response = self.browser.get("/")
            else:
                poll = f"{self.stack.jobs_path()}updates/?sort=submitted&rows={self.watched}:{EXECUTING}&failures=0"
                response = self.browser.get(poll, htmx=True)
        except requests.RequestException:
            self.answers.append(Answer(self.name, kind, started, time.monotonic(), 0, False, False, job_id))
            return
        said = text_of(response.text)
        outcome = outcome_of(job_row(response.text, job_id)) if kind == "cancel" and response.status_code == 200 else ""
        self.answers.append(
            Answer(
                self.name,
                kind,
                started,
                time.monotonic(),
                response.status_code,
                session_lost(response),
                NOT_ANSWERING in said,
                job_id,
                outcome,
            )
        )

    def run(self, stop: threading.Event) -> None:
        n = 0
        while not stop.is_set():
            self.step(n)
            n += 1
            stop.wait(POLL_PAUSE)


class Load:
    """The operators, polling on their own threads until stopped."""

    def __init__(self, stack: Stack):
        self.operators = [Operator(stack, name) for name in POLLING]
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=op.run, args=(self.stop,), daemon=True) for op in self.operators]

    def __enter__(self) -> Load:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=60)

    def answers(self) -> list[Answer]:
        return [answer for op in self.operators for answer in list(op.answers)]

    def between(self, start: float, end: float) -> list[Answer]:
        return [answer for answer in self.answers() if start <= answer.started <= end]


def not_ready(stack: Stack) -> str:
    """Why /readyz does not say ok, in words; "" when it does."""
    try:
        answer = requests.get(stack.portal.url + "/readyz", timeout=5)
    except requests.RequestException as exc:
        return f"/readyz did not answer ({type(exc).__name__})"
    if answer.status_code == 200 and answer.json()["status"] == "ok":
        return ""
    return f"/readyz answered {answer.status_code} {answer.text[:200]}"


def wait_recovered(stack: Stack, load: Load, fault: Fault) -> float:
    """The moment from which /readyz says ok (several times in a row, so both workers were asked) and every
    operator's next request was answered as usual. What was last waited for goes to `fault.waited_for`."""
    deadline = fault.back + RECOVERY_LIMIT
    streak_since: float | None = None
    streak = 0
    while time.monotonic() < deadline:
        probed = time.monotonic()
        if not (why := not_ready(stack)):
            streak_since, streak = (streak_since or probed), streak + 1
        else:
            streak_since, streak = None, 0
            fault.waited_for = f"{why}, {probed - fault.back:.1f} s after the return"
        if streak >= 6 and streak_since is not None:
            since = streak_since
            served = {
                a.who for a in load.between(since, time.monotonic()) if 200 <= a.status < 400 and not a.session_lost
            }
            if served >= set(POLLING):
                return since
            unserved = ", ".join(sorted(set(POLLING) - served))
            fault.waited_for = f"no usual answer yet for {unserved}, {probed - fault.back:.1f} s after the return"
        time.sleep(0.1)
    pytest.fail(
        f"the portal did not recover within {RECOVERY_LIMIT} s of the dependency's return: {fault.waited_for}",
        pytrace=False,
    )


def unaudited(stack: Stack, job_ids: list[str]) -> int:
    """Cancels ArcGIS received for these jobs with no audit row written before them."""
    if not job_ids:
        return 0
    received = [r for r in stack.simulator.requests.snapshot() if r.operation == "cancel"]
    rows = stack.sql(
        "SELECT job_id, created FROM jobs_auditevent WHERE action = 'cancel' AND job_id = ANY(%s)", (job_ids,)
    )
    written: dict[str, list] = {}
    for job_id, created in rows:
        written.setdefault(job_id, []).append(created)
    missing = 0
    for request in received:
        job_id = request.path.rstrip("/").rsplit("/", 2)[-2]
        if job_id in job_ids and not any(created <= request.time for created in written.get(job_id, [])):
            missing += 1
    return missing


def run_fault(
    stack: Stack,
    load: Load,
    name: str,
    stop: Callable[[], None],
    start: Callable[[], None],
    *,
    down_for: float = DOWN_SECONDS,
    meanwhile: Callable[[], None] | None = None,
) -> Fault:
    """Takes the dependency away (`stop`), does `meanwhile`, gives it back after `down_for` seconds (`start`), waits
    for the portal to recover, and counts what the operators got from the fault's start to 3 s after recovery."""
    fault = Fault(name)
    fault.started = time.monotonic()
    stop()
    if meanwhile is not None:
        meanwhile()
    time.sleep(max(0.0, fault.started + down_for - time.monotonic()))
    start()
    fault.back = time.monotonic()
    fault.recovered = wait_recovered(stack, load, fault)
    time.sleep(AFTERWARDS)
    fault.answers = load.between(fault.started, fault.recovered + AFTERWARDS)
    fault.unaudited = unaudited(stack, [a.job_id for a in fault.answers if a.kind == "cancel"])
    return fault


def test_redis_postgresql_and_the_broker_come_and_go_and_nobody_is_signed_out_or_sees_a_500(stack: Stack, capsys):
    simulator = stack.simulator
    faults: list[Fault] = []

    # Dora signs in twice (two tabs); she will sign out in one while Redis is down.
    dora, dora_elsewhere = Browser(stack.portal), Browser(stack.portal)
    dora.log_in(stack.people[SIGNING_OUT])
    dora.get("/")  # the page she signs out from (and its CSRF token)
    dora_elsewhere.adopt_session(dora)
    assert signed_in_as(dora_elsewhere.get("/").text) == SIGNING_OUT
    # Eve loads her jobs page now; she clicks Cancel while the database is down.
    eve = Browser(stack.portal)
    eve.log_in(stack.people[CLICKING])
    eve_job = simulator.state.add_job(SERVICE_KEY, status=EXECUTING, username="eve_analyst")
    time.sleep(1.1)  # identical reads are shared for a second: hers must be made after the job exists
    assert eve_job in eve.get(stack.jobs_path() + "?inline=1").text
    eve_click: dict[str, requests.Response] = {}
    signed_out: list[requests.Response] = []
    alert_queued: list[requests.Response] = []

    def sign_out_dora() -> None:
        time.sleep(1.0)  # the portal has noticed Redis is gone
        signed_out.append(dora.action("/accounts/logout/"))

    def eve_clicks() -> None:
        time.sleep(1.0)
        eve_click["answer"] = eve.action(stack.jobs_path(eve_job, "cancel"))

    def broker_outage_work() -> None:
        # A test alert from the admin, whose delivery the broker cannot take now ...
        admin = Browser(stack.portal)
        admin.log_in(stack.people[ADMIN])
        changelist = admin.get("/admin/policies/alertchannel/")
        [channel] = stack.sql("SELECT id FROM policies_alertchannel WHERE name = 'hook'")
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', changelist.text).group(1)
        alert_queued.append(
            admin.http.post(
                stack.portal.url + "/admin/policies/alertchannel/",
                data={"action": "send_test_alert", "_selected_action": channel[0], "csrfmiddlewaretoken": token},
                headers={"Origin": stack.portal.url},
                allow_redirects=False,
                timeout=30,
            )
        )
        # ... and the scheduled policy falls due.
        stack.sql("UPDATE policies_policy SET next_run_at = now() WHERE name = %s", (POLICY,))

    with Load(stack) as load:
        time.sleep(2.0)  # everyone polling
        faults.append(
            run_fault(
                stack,
                load,
                "Redis stopped, back with its data",
                lambda: stack.cache.stop(save=True),
                stack.cache.start,
                meanwhile=sign_out_dora,
            )
        )
        dora_after_redis = dora_elsewhere.get("/")  # Redis is back, still holding her session
        faults.append(run_fault(stack, load, "Redis hangs (SIGSTOP)", stack.cache.pause, stack.cache.resume))
        faults.append(run_fault(stack, load, "Redis restarted empty", stack.cache.stop, stack.cache.start, down_for=0))
        faults.append(
            run_fault(stack, load, "PostgreSQL restarted", stack.postgres.stop, stack.postgres.start, down_for=0)
        )
        faults.append(
            run_fault(
                stack, load, "PostgreSQL stopped", stack.postgres.stop, stack.postgres.start, meanwhile=eve_clicks
            )
        )
        faults.append(
            run_fault(
                stack, load, "broker stopped", stack.broker.stop, stack.broker.start, meanwhile=broker_outage_work
            )
        )
        # The worker catches up once the broker is back: the pending alert (queued again by the tick once it is a
        # minute overdue: that minute is skipped here) and the policy's run.
        caught_up_from = time.monotonic()
        stack.sql("UPDATE policies_delivery SET due_at = now() - interval '2 minutes' WHERE status = 'pending'")

        def caught_up() -> bool:
            titles = [hook.get("title", "") for hook in stack.receiver.received]
            return "Test alert from the GP Jobs Portal" in titles and any(
                t.startswith(f'Policy "{POLICY}"') for t in titles
            )

        while not caught_up() and time.monotonic() < caught_up_from + RECOVERY_LIMIT:
            time.sleep(0.2)
        caught_up_in = time.monotonic() - caught_up_from
        everything = load.answers()

    table = "\n".join([*HEADER, *(fault.row() for fault in faults)])
    with capsys.disabled():
        print(f"\n\nFault suite: {len(POLLING)} operators polling a gunicorn portal (2 workers)\n{table}")
        print(f"The worker caught up with the broker's outage (policy run, alerts) {caught_up_in:.1f} s after.\n")
        for fault in faults:
            if fault.recovered - fault.back > SLOW_RECOVERY:  # (it passes, but should say what held it back)
                print(f"{fault.name}: recovery waited for {fault.waited_for or 'nothing it could name'}.")

    for fault in faults:
        assert (fault.other_5xx, fault.no_answer, fault.sessions_lost, fault.unaudited) == (0, 0, 0, 0), fault.name
        if not fault.name.startswith("PostgreSQL"):
            assert fault.database_503s == 0, fault.name
    failed = [a for a in everything if a.status >= 500 and not a.says_not_answering]
    # Outside every fault's window (those were checked above): say which, and when against the faults' starts.
    assert not failed, (
        [(a.who, a.kind, a.status, round(a.started, 1)) for a in failed],
        [(f.name, round(f.started, 1)) for f in faults],
    )
    assert not [answer for answer in everything if answer.session_lost]

    # Redis: the sign-out made while it was down holds now that it is back with the session.
    [signed_out_answer] = signed_out
    assert signed_out_answer.status_code == 302
    assert session_lost(dora_after_redis)

    # PostgreSQL: the click while it was down sent nothing; the same click now acts, audited first.
    answer = eve_click["answer"]
    assert answer.status_code == 503 and text_of(answer.text) == NOT_ANSWERING
    assert [r for r in simulator.requests.snapshot() if r.operation == "cancel" and eve_job in r.path] == []
    eve.get(stack.jobs_path() + "?inline=1")
    again = eve.action(stack.jobs_path(eve_job, "cancel"))
    assert again.status_code == 200 and outcome_of(job_row(again.text, eve_job)) == "Cancel requested"
    assert unaudited(stack, [eve_job]) == 0

    # The broker: the test alert queued while it was down was delivered, and the due policy ran once.
    [queued] = alert_queued
    assert queued.status_code == 302  # the admin's page answered at once, the delivery left pending
    assert caught_up(), (stack.receiver.received, stack.worker_log.read_text()[-5000:])
    runs = stack.sql(
        "SELECT r.kind, r.outcome, r.acted FROM policies_policyrun r JOIN policies_policy p ON p.id = r.policy_id "
        "WHERE p.name = %s",
        (POLICY,),
    )
    assert runs == [("scheduled", "acted", 2)]
    for job_id in stack.old_batch_jobs:
        assert len([r for r in simulator.requests.snapshot() if r.operation == "cancel" and job_id in r.path]) == 1
    assert stack.sql("SELECT status FROM policies_delivery ORDER BY id") == [("sent",), ("sent",)]

    # Over the whole run: every cancel ArcGIS received had its audit row written before it.
    every_cancel = [
        r.path.rstrip("/").rsplit("/", 2)[-2] for r in simulator.requests.snapshot() if r.operation == "cancel"
    ]
    assert unaudited(stack, every_cancel) == 0
