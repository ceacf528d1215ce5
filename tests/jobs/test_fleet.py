"""The fleet view: every job of every GP service of every site the user may see, merged, paged by a cursor,
filters pushed down to ArcGIS, failures isolated per service; and runaway jobs flagged."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.auth.models import Group
from django.test import override_settings
from django.urls import reverse

import arcgis_client
from arcgis_simulator import ManualClock, Simulator
from jobs import fleet, running_long
from jobs.models import AuditEvent, ServiceThresholds, Site
from jobs.targets import ServiceTarget
from tests.conftest import store_token
from tests.helpers import row_html, row_ids, sse_events, text

EXECUTING, SUCCEEDED, SUBMITTED = arcgis_client.EXECUTING, arcgis_client.SUCCEEDED, arcgis_client.SUBMITTED


@pytest.fixture
def clock():
    return ManualClock(datetime(2026, 11, 2, 12, 0, tzinfo=UTC))


@pytest.fixture
def second(clock):
    """A second ArcGIS Server site, on its own simulator."""
    with Simulator("empty", clock=clock, seed=7) as sim:  # its own job IDs
        sim.state.add_service("Roads", folder="Transport")
        yield sim


@pytest.fixture
def spare(db, second, operator):
    site = Site.objects.create(slug="spare", name="Spare site", admin_url=second.admin_url, insecure=True)
    store_token(operator, site, second.issue_token("siteadmin", referer=site.effective_referer))
    return site


def fleet_page(client, **params) -> str:
    """The fleet view as it renders without JavaScript: everything in one answer."""
    response = client.get(reverse("jobs:fleet"), {**params, "inline": "1"})
    assert response.status_code == 200
    return response.content.decode()


def queries(sim) -> list:
    """The jobs/query requests, but for the baselines (the most recent succeeded jobs, read now and then)."""
    return [r for r in sim.requests if r.operation == "query" and r.query.get("number") != "100"]


def test_jobs_of_every_service_and_site_are_merged_newest_first_and_paged_by_a_cursor(
    simulator, site, service, spare, second, olivia
):
    simulator.state.add_service("Buffer")
    t0 = simulator.clock.now() - timedelta(hours=1)
    made = {}
    for i in range(60):  # interleaved across three services on two sites, one every 10 s
        sim, key = [(simulator, service.key), (simulator, "Buffer"), (second, "Transport/Roads")][i % 3]
        made[sim.state.add_job(key, status=EXECUTING, submitted=t0 + timedelta(seconds=10 * i))] = key
    newest_first = list(made)[::-1]

    first = fleet_page(olivia)
    assert row_ids(first) == newest_first[:50]
    row = row_html(first, newest_first[0])
    assert 'data-site="spare"' in row and 'data-service="Transport/Roads"' in row
    cursor = re.search(r'href="([^"]*before=[^"]+)" rel="next"', first).group(1).replace("&amp;", "&")
    # The next page is asked of every service "older than the last row": ArcGIS's endTime.
    simulator.requests.clear()
    second.requests.clear()
    rest = olivia.get(cursor + "&inline=1").content.decode()
    assert row_ids(rest) == newest_first[50:]
    last_shown = made[newest_first[49]]
    assert last_shown and all(q.query["endTime"] for q in queries(simulator) + queries(second))
    assert 'rel="next"' not in rest


def every_page(client, **params) -> list[str]:
    """The rows of the first page and of each next one, in order, following the "next" links."""
    html, seen = fleet_page(client, **params), []
    for _ in range(20):
        seen += row_ids(html)
        link = re.search(r'href="([^"]*before=[^"]+)" rel="next"', html)
        if not link:
            return seen
        html = client.get(link.group(1).replace("&amp;", "&") + "&inline=1").content.decode()
    raise AssertionError("more than 20 pages")


@pytest.mark.parametrize("order", ["newest", "longest"])
def test_paging_reaches_every_job_of_a_busy_service_once_even_when_jobs_share_a_time(
    simulator, site, service, olivia, order
):
    t0 = simulator.clock.now() - timedelta(hours=2)
    # 130 jobs, three to a second: pages end amid jobs of the same submitted time.
    made = [
        simulator.state.add_job(service.key, status=EXECUTING, submitted=t0 + timedelta(seconds=i // 3))
        for i in range(130)
    ]
    seen = every_page(olivia, order=order)
    assert len(seen) == len(set(seen)) == 130 and set(seen) == set(made)


def test_longest_running_first(simulator, site, service, olivia):
    now = simulator.clock.now()
    old = simulator.state.add_job(service.key, status=EXECUTING, submitted=now - timedelta(hours=3))
    new = simulator.state.add_job(service.key, status=EXECUTING, submitted=now - timedelta(minutes=3))
    assert row_ids(fleet_page(olivia, order="longest")) == [old, new]
    assert row_ids(fleet_page(olivia)) == [new, old]


def test_the_default_shows_the_active_jobs_and_statuses_can_be_chosen(simulator, site, service, olivia):
    ids = {status: simulator.state.add_job(service.key, status=status) for status in arcgis_client.QUERYABLE_STATUSES}
    active = {ids[s] for s in arcgis_client.ACTIVE_STATUSES}
    assert set(row_ids(fleet_page(olivia))) == active
    assert set(row_ids(fleet_page(olivia, status=[SUCCEEDED, arcgis_client.FAILED]))) == {
        ids[SUCCEEDED],
        ids[arcgis_client.FAILED],
    }


def test_filters_are_pushed_down_to_arcgis(simulator, site, service, olivia):
    wanted = simulator.state.add_job(service.key, status=EXECUTING, username="amy", machinename="GIS02")
    simulator.state.add_job(service.key, status=EXECUTING, username="bob", machinename="GIS02")
    simulator.requests.clear()
    html = fleet_page(olivia, status=EXECUTING, user="amy", machine="GIS02", within="1h")
    assert row_ids(html) == [wanted]
    [query] = queries(simulator)
    assert (query.query["jobStatus"], query.query["userName"], query.query["machineName"]) == (
        EXECUTING,
        "amy",
        "GIS02",
    )
    started = int(query.query["startTime"])
    assert abs(started - (simulator.clock.now() - timedelta(hours=1)).timestamp() * 1000) < 120_000
    # A page's worth per service, and the jobs at its edges (the cut-off time, the cursor's row), never more.
    assert int(query.query["number"]) <= 53


def test_only_services_with_active_jobs_are_asked_for_each_active_status(simulator, site, service, olivia):
    simulator.state.add_service("Idle")
    simulator.state.add_job("Idle", status=SUCCEEDED)
    simulator.state.add_job(service.key, status=EXECUTING)
    simulator.requests.clear()
    fleet_page(olivia)
    asked = {(q.service, q.query["jobStatus"]) for q in queries(simulator)}
    assert asked == {(service.key, status) for status in arcgis_client.ACTIVE_STATUSES}  # "Idle" had none: not asked
    assert sorted(r.service for r in simulator.requests if r.operation == "statistics") == [
        "Hydrology/Watershed",
        "Idle",
    ]


def test_folder_and_service_filters_choose_which_services_are_asked(simulator, site, service, olivia):
    simulator.state.add_service("Buffer")
    mine = simulator.state.add_job(service.key, status=EXECUTING)
    simulator.state.add_job("Buffer", status=EXECUTING)
    simulator.requests.clear()
    assert row_ids(fleet_page(olivia, folder="Hydrology")) == [mine]
    assert {r.service for r in simulator.requests if r.service} == {service.key}


def test_a_failing_service_and_a_stalled_site_are_named_and_the_rest_still_show(
    simulator, site, service, spare, second, olivia, settings
):
    settings.ARCGIS_BREAKER_FAILURES = 1000
    spare.read_timeout = 1.0
    spare.save()
    simulator.state.add_service("Broken")
    good = simulator.state.add_job(service.key, status=EXECUTING)
    simulator.state.add_job("Broken", status=EXECUTING)
    simulator.faults.set("html_502", service="Broken", operation="query")
    second.faults.set("stall", seconds=60)
    html = fleet_page(olivia, status=EXECUTING)
    assert row_ids(html) == [good]
    assert "2 services did not answer" in html
    assert "Main site · Broken" in html and "502 Bad Gateway" in html
    assert "Spare site" in html and "did not answer within 1 s" in html


def test_a_restricted_site_is_never_asked_for_someone_outside_its_groups(
    simulator, site, service, spare, second, viewer, connect, client_as
):
    spare.groups.add(Group.objects.create(name="Transport team"))
    second.state.add_job("Transport/Roads", status=EXECUTING)
    mine = simulator.state.add_job(service.key, status=EXECUTING)
    connect(viewer, site)
    second.requests.clear()
    html = fleet_page(client_as(viewer))
    assert row_ids(html) == [mine] and "Spare site" not in html
    assert len(second.requests) == 0
    # Naming the site does not help either.
    assert row_ids(fleet_page(client_as(viewer), site="spare")) == []
    assert len(second.requests) == 0


def test_the_stream_fills_the_table_in_and_ends_with_done(simulator, site, service, olivia):
    job_id = simulator.state.add_job(service.key, status=EXECUTING)
    shell = olivia.get(reverse("jobs:fleet")).content.decode()
    assert 'sse-connect="/jobs/stream?"' in shell and "Asking every GP service" in shell
    events = sse_events(olivia.get(reverse("jobs:fleet_stream")))
    assert events[-1][0] == "done"
    last = [data for name, data in events if name == "fragment"][-1]
    assert f'id="job-{job_id}"' in last and 'id="fleet-rows" tabindex="-1" hx-swap-oob="true"' in last
    assert "1 job shown, from 1 GP service" in last


def test_a_bulk_cancel_across_services_and_sites_acts_once_per_job(simulator, site, service, spare, second, olivia):
    simulator.state.add_service("Buffer")
    here = simulator.state.add_job(service.key, status=EXECUTING)
    there = simulator.state.add_job("Buffer", status=SUBMITTED)
    far = second.state.add_job("Transport/Roads", status=EXECUTING)
    fleet_page(olivia)
    values = [f"main:{service.key}:{here}", f"main:Buffer:{there}", f"spare:Transport/Roads:{far}"]
    html = olivia.action(
        reverse("jobs:fleet_bulk"), {"action": "cancel", "confirmed": "yes", "job_ids": values}
    ).content.decode()
    assert "3 cancellations requested" in html
    for job_id in (here, there, far):
        assert 'data-status="esriJobCancelling"' in row_html(html, job_id)
        assert 'data-site="' in row_html(html, job_id)  # the fleet's own row, with its service column
    assert simulator.state.get_job("Buffer", there)["status"] == arcgis_client.CANCELLING
    assert second.state.get_job("Transport/Roads", far)["status"] == arcgis_client.CANCELLING
    events = AuditEvent.objects.filter(action="cancel", via="bulk")
    assert sorted(events.values_list("site_slug", "service")) == sorted(
        [("main", "Buffer"), ("main", service.key), ("spare", "Transport/Roads")]
    )


def test_a_bulk_with_a_job_of_an_invisible_site_sends_nothing(simulator, site, service, viewer, olivia):
    job_id = simulator.state.add_job(service.key, status=EXECUTING)
    simulator.requests.clear()
    html = olivia.action(
        reverse("jobs:fleet_bulk"),
        {"action": "cancel", "confirmed": "yes", "job_ids": [f"main:{service.key}:{job_id}", f"ghost:X:{job_id}"]},
    ).content.decode()
    assert "A selected job is not one of a site you may see." in html
    assert not simulator.requests and not AuditEvent.objects.exists()


# --- runaway jobs ----------------------------------------------------------------------------------


def finished(count: int, minutes: float, start: datetime) -> list[arcgis_client.Job]:
    return [
        arcgis_client.Job(f"j{i}", SUCCEEDED, submitted=start, ended=start + timedelta(minutes=minutes))
        for i in range(count)
    ]


@pytest.mark.parametrize(("samples", "known"), [(0, False), (4, False), (5, True), (80, True)])
def test_a_baseline_needs_five_succeeded_jobs(samples, known):
    base = running_long.baseline_of(finished(samples, 12, datetime(2026, 11, 2, tzinfo=UTC)))
    assert base.known is known and base.samples == samples
    if known:
        assert base.p95 == timedelta(minutes=12) and base.text.startswith("Usually ≤ 12 min")
    else:
        assert "Not enough history" in base.text and f"{samples} succeeded job" in base.text


def test_the_baseline_is_the_95th_percentile():
    start = datetime(2026, 11, 2, tzinfo=UTC)
    jobs = [
        arcgis_client.Job(f"j{i}", SUCCEEDED, submitted=start, ended=start + timedelta(minutes=i))
        for i in range(1, 101)
    ]
    assert running_long.baseline_of(jobs).p95 == timedelta(minutes=95.05)


NOW = datetime(2026, 11, 2, 12, 0, tzinfo=UTC)
LIMITS = running_long.Thresholds()  # 3× and +10 min, queued 30 min, cancelling 5 min


def job(status: str, age: timedelta, now: datetime = NOW) -> arcgis_client.Job:
    return arcgis_client.Job("j1", status, submitted=now - age)


@pytest.mark.parametrize(
    ("usual", "age", "flagged"),
    [
        (timedelta(minutes=2), timedelta(minutes=12), False),  # 3× is 6 min, but +10 min is 12: both must pass
        (timedelta(minutes=2), timedelta(minutes=12, seconds=1), True),
        (timedelta(minutes=10), timedelta(minutes=30), False),  # +10 is 20 min, but 3× is 30
        (timedelta(minutes=10), timedelta(minutes=30, seconds=1), True),
    ],
)
def test_running_long_needs_both_three_times_and_ten_minutes_over(usual, age, flagged):
    base = running_long.Baseline(20, usual)
    flag = running_long.flag_for(job(EXECUTING, age), base, LIMITS, NOW)
    assert (flag is not None and flag.kind == "running-long") is flagged
    if flagged:
        assert flag.text == f"Running long: {age / usual:.1f}× its usual {running_long.minutes_text(usual)}"


def test_without_a_baseline_nothing_is_flagged_by_duration():
    assert running_long.flag_for(job(EXECUTING, timedelta(days=3)), running_long.Baseline(4, None), LIMITS, NOW) is None
    assert running_long.flag_for(job(EXECUTING, timedelta(days=3)), None, LIMITS, NOW) is None


@pytest.mark.parametrize("status", [arcgis_client.NEW, SUBMITTED, arcgis_client.WAITING])
def test_queued_long_edges(status):
    assert running_long.flag_for(job(status, timedelta(minutes=30)), None, LIMITS, NOW) is None
    flag = running_long.flag_for(job(status, timedelta(minutes=30, seconds=1)), None, LIMITS, NOW)
    assert flag.kind == "queued-long" and flag.attribute == "data-queued-long"


def test_cancel_stuck_edges_count_from_when_it_started_cancelling():
    old = job(arcgis_client.CANCELLING, timedelta(hours=2))
    since = running_long.CancellingSince
    assert running_long.flag_for(old, None, LIMITS, NOW, since(NOW - timedelta(minutes=5), exact=True)) is None
    flag = running_long.flag_for(old, None, LIMITS, NOW, since(NOW - timedelta(minutes=5, seconds=1), exact=True))
    assert flag.kind == "cancel-stuck" and flag.text == "Cancel stuck: cancelling for 6 min"
    # Not known since when: not judged by its submission, which says nothing of when the cancel began.
    assert running_long.flag_for(old, None, LIMITS, NOW) is None


def test_cancel_stuck_says_at_least_when_the_portal_only_knows_when_it_first_saw_it(site, service):
    """ArcGIS keeps no time for a cancel: unless the portal sent it, a job stuck for 25 minutes that the portal
    first saw cancelling 6 minutes ago has been cancelling for at least 6 minutes, and the flag says so."""
    first_seen, requested = "j" + "1" * 32, "j" + "2" * 32
    AuditEvent.objects.create(
        site=site,
        site_slug=site.slug,
        service=service.key,
        job_id=requested,
        action=AuditEvent.Action.CANCEL,
        outcome=AuditEvent.Outcome.SUCCESS,
        username="olivia",
    )
    found = running_long.cancelling_since(site, service.key, [first_seen, requested])
    assert not found[first_seen].exact and found[requested].exact
    later = found[first_seen].at + timedelta(minutes=6)
    stuck = job(arcgis_client.CANCELLING, timedelta(hours=2), now=later)
    assert running_long.flag_for(stuck, None, LIMITS, later, found[first_seen]).text == (
        "Cancel stuck: cancelling for at least 6 min"
    )
    later = found[requested].at + timedelta(minutes=7)
    stuck = job(arcgis_client.CANCELLING, timedelta(hours=2), now=later)
    assert running_long.flag_for(stuck, None, LIMITS, later, found[requested]).text == (
        "Cancel stuck: cancelling for 7 min"
    )


def test_thresholds_of_a_site_and_of_one_service(site):
    site.running_long_factor, site.queued_long_minutes = 5.0, 60
    site.save()
    ServiceThresholds.objects.create(site=site, service="Hydrology/Watershed", queued_long_minutes=10)
    table = running_long.Thresholds.for_sites([site])
    own = running_long.Thresholds.lookup(table, ServiceTarget(site, arcgis_client.ServiceRef("Hydrology", "Watershed")))
    other = running_long.Thresholds.lookup(table, ServiceTarget(site, arcgis_client.ServiceRef("", "Buffer")))
    assert (own.running_long_factor, own.queued_long_minutes) == (5.0, 10)
    assert (other.running_long_factor, other.queued_long_minutes) == (5.0, 60)


def with_history(simulator, key: str, minutes: float, count: int = 10) -> None:
    now = simulator.clock.now()
    for i in range(count):
        start = now - timedelta(hours=2, minutes=i)
        simulator.state.add_job(key, status=SUCCEEDED, submitted=start, end_time=start + timedelta(minutes=minutes))


def test_running_long_jobs_are_flagged_in_the_fleet_and_can_be_listed_alone(simulator, site, service, olivia):
    with_history(simulator, service.key, minutes=5)
    now = simulator.clock.now()
    runaway_job = simulator.state.add_job(service.key, status=EXECUTING, submitted=now - timedelta(minutes=40))
    normal = simulator.state.add_job(service.key, status=EXECUTING, submitted=now - timedelta(minutes=3))
    simulator.clock.advance(1)  # the portal's clock is the real one; the simulator's started from it
    html = fleet_page(olivia)
    flagged = row_html(html, runaway_job)
    assert 'data-running-long="true"' in flagged and re.search(r"Running long: 8\.\d× its usual 5 min", flagged)
    assert "data-running-long" not in row_html(html, normal)
    assert row_ids(fleet_page(olivia, running_long="on")) == [runaway_job]


def test_the_jobs_page_says_what_a_service_usually_takes_and_flags_by_it(simulator, site, service, target, olivia):
    with_history(simulator, service.key, minutes=5)
    html = olivia.htmx_get(target.url("service_baseline")).content.decode()
    assert "Usually ≤ 5 min (95% of the last 10 succeeded jobs)." in html
    long_running = simulator.state.add_job(
        service.key, status=EXECUTING, submitted=simulator.clock.now() - timedelta(hours=1)
    )
    table = olivia.htmx_get(target.url("job_list"), **{"HX-Target": "job-table"}).content.decode()
    assert 'data-running-long="true"' in row_html(table, long_running)


def test_a_service_without_history_says_so_instead_of_guessing(simulator, site, service, target, olivia):
    with_history(simulator, service.key, minutes=5, count=3)
    html = olivia.htmx_get(target.url("service_baseline")).content.decode()
    assert "Not enough history to judge running times: 3 succeeded jobs on the server, 5 needed." in html


@override_settings(SHARED_READ_SECONDS=30)
def test_baselines_are_read_once_and_shared(simulator, site, service, olivia):
    with_history(simulator, service.key, minutes=5)
    simulator.state.add_job(service.key, status=EXECUTING)
    fleet_page(olivia)
    fleet_page(olivia)
    baselines = [r for r in simulator.requests if r.operation == "query" and r.query["jobStatus"] == SUCCEEDED]
    assert len(baselines) == 1


def test_the_overview_counts_the_jobs_running_long_and_links_to_them(simulator, site, service, olivia):
    with_history(simulator, service.key, minutes=5)
    now = datetime.now(UTC)
    simulator.state.add_job(service.key, status=EXECUTING, submitted=now - timedelta(hours=2))
    simulator.state.add_job(service.key, status=EXECUTING, submitted=now - timedelta(minutes=1))
    html = olivia.get(reverse("jobs:overview"), {"inline": "1"}).content.decode()
    link = "/jobs/?running_long=on&amp;site=main&amp;folder=Hydrology&amp;service=Watershed"
    assert f'<a class="badge flag" href="{link}">1 running long</a>' in html
    assert row_ids(fleet_page(olivia, running_long="on", site="main", folder="Hydrology", service="Watershed"))


def test_running_long_only_finds_old_runaways_behind_many_newer_executing_jobs(simulator, site, service, olivia):
    with_history(simulator, service.key, minutes=5)
    now = simulator.clock.now()
    runaway_job = simulator.state.add_job(service.key, status=EXECUTING, submitted=now - timedelta(minutes=90))
    for i in range(120):  # a busy service: many executing jobs, all newer than the runaway
        simulator.state.add_job(service.key, status=EXECUTING, submitted=now - timedelta(seconds=30 + i))
    assert row_ids(fleet_page(olivia, running_long="on")) == [runaway_job]
    html = olivia.get(reverse("jobs:overview"), {"inline": "1"}).content.decode()
    assert ">1 running long</a>" in html


def test_an_out_of_range_cursor_is_refused_in_words(simulator, site, service, olivia):
    simulator.state.add_job(service.key, status=EXECUTING)
    simulator.requests.clear()
    html = fleet_page(olivia, before="9999999999999999:jabc")
    assert "This is not a page of this list: start from its first page." in text(html)
    assert not queries(simulator)


def test_a_recent_span_ending_before_it_begins_is_refused_before_asking_arcgis(simulator, site, service, olivia):
    simulator.requests.clear()
    html = fleet_page(olivia, within="1h", until="2020-01-01 00:00")
    assert "The end of the time range is before its start." in text(html)
    assert not queries(simulator)


@pytest.mark.parametrize(
    "entered", ["Hydrology/Watershed.GPServer", "hydrology/watershed", "HYDROLOGY/Watershed.GPServer"]
)
def test_service_thresholds_apply_however_the_service_was_written(site, service, entered):
    own = ServiceThresholds(site=site, service=entered, queued_long_minutes=2)
    own.full_clean()
    own.save()
    limits = running_long.Thresholds.lookup(running_long.Thresholds.for_sites([site]), ServiceTarget(site, service))
    assert limits.queued_long_minutes == 2


def jobs_every_second(count: int, start: datetime) -> list[arcgis_client.Job]:
    """Newest first, as ArcGIS lists them."""
    made = [arcgis_client.Job(f"j{i:04d}", EXECUTING, submitted=start + timedelta(seconds=i)) for i in range(count)]
    return made[::-1]


def test_a_server_answering_the_same_page_forever_is_read_a_bounded_number_of_times():
    answer = arcgis_client.QueryPage(jobs_every_second(53, NOW)[:53], total=10_000, start=1, number=53, next_start=54)
    calls = []

    def ask(start, number, **window):
        calls.append(window)
        return answer

    found = fleet._unshown_jobs(ask, fleet.FleetQuery(page_size=50))
    assert len(calls) <= fleet.MAX_READS_PER_SERVICE and len(found) == 52  # all but the cut-off time's


def test_jobs_that_end_between_two_reads_do_not_shift_what_is_read_next():
    """Reading on is by time, not by offset: jobs leaving the list meanwhile hide no other."""
    distinct = [arcgis_client.Job(f"a{i:03d}", EXECUTING, submitted=NOW - timedelta(seconds=i)) for i in range(40)]
    tied = [arcgis_client.Job(f"b{i:03d}", EXECUTING, submitted=NOW - timedelta(minutes=5)) for i in range(20)]
    older = [
        arcgis_client.Job(f"c{i:03d}", EXECUTING, submitted=NOW - timedelta(hours=1, seconds=i)) for i in range(100)
    ]
    listed = distinct + tied + older  # newest first, as ArcGIS lists them
    reads = []

    def ask(start, number, after=None, before=None):
        window = [job for job in listed if before is None or job.submitted <= before]
        reads.append(before)
        page = window[start - 1 : start - 1 + number]
        del listed[:3]  # three of the newest end, and leave the list of executing jobs, before the next read
        return arcgis_client.QueryPage(page, total=len(window), start=start, number=number, next_start=None)

    found = {job.job_id for job in fleet._unshown_jobs(ask, fleet.FleetQuery(page_size=50))}
    # The first read ended amid the tied jobs: the second read went on from their time.
    assert reads == [None, NOW - timedelta(minutes=5)]
    assert {job.job_id for job in distinct + tied} <= found and len(found) >= 51
