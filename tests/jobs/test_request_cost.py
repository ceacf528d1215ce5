"""What a page's request asks of the shared cache: a read under way in this process is waited for, not polled for; a
page's flagged jobs are written once while nothing new is flagged, and a threshold change is flagged at once."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest

import arcgis_client
from jobs import running_long, targets, upstream
from jobs.models import ServiceThresholds
from jobs.running_long import NOTICED
from jobs.targets import JobEntry
from tests.helpers import jobs_table_html, row_ids

pytestmark = pytest.mark.django_db


class CountingCache:
    """The shared cache, each call counted by name."""

    def __init__(self, cache):
        self._cache = cache
        self.calls: list[str] = []

    def __getattr__(self, name):
        method = getattr(self._cache, name)

        def counted(*args, **kwargs):
            self.calls.append(name)
            return method(*args, **kwargs)

        return counted


@pytest.fixture
def counted(monkeypatch):
    def count(module) -> CountingCache:
        counting = CountingCache(module.cache)
        monkeypatch.setattr(module, "cache", counting)
        return counting

    return count


def test_a_read_under_way_in_this_process_is_waited_for_not_polled_for(settings, counted):
    settings.SHARED_READ_SECONDS = 5
    fetching, release = threading.Event(), threading.Event()
    fetches: list[str] = []
    answers: list[str] = []

    def slow_fetch() -> str:
        fetches.append("ahead")
        fetching.set()
        release.wait(5)
        return "the page"

    ahead = threading.Thread(target=lambda: answers.append(upstream.shared_read(("page", 1), slow_fetch)))
    ahead.start()
    assert fetching.wait(5)
    cache = counted(upstream)
    threading.Timer(0.03, release.set).start()  # the answer comes a while after the second caller asks
    assert upstream.shared_read(("page", 1), lambda: fetches.append("again") or "another page") == "the page"
    ahead.join(5)
    assert answers == ["the page"] and fetches == ["ahead"]
    # The waiter asked the shared cache nothing (no polling); the fetch stored its answer there for other workers.
    assert cache.calls == ["set", "delete"]


def test_what_follows_a_read_is_done_once_per_read_not_per_reader(settings):
    """`then` (a page's jobs remembered for the rows that show them) is called with what was read from upstream, and
    not again for those who share the answer."""
    settings.SHARED_READ_SECONDS = 5
    followed: list[str] = []
    assert upstream.shared_read(("page", 3), lambda: "the page", then=followed.append) == "the page"
    assert upstream.shared_read(("page", 3), lambda: "read again", then=followed.append) == "the page"
    assert followed == ["the page"]
    settings.SHARED_READ_SECONDS = 0  # not shared: every read is followed
    assert upstream.shared_read(("page", 3), lambda: "read again", then=followed.append) == "read again"
    assert followed == ["the page", "read again"]


def test_a_pages_jobs_are_remembered_by_the_read_not_by_each_table_that_shows_them(
    simulator, service, target, olivia, settings, counted
):
    """The row cache (what an action's answer shows of a row) is written when a page is read from ArcGIS: a table
    shown from a shared read writes nothing, and its rows are remembered all the same."""
    settings.SHARED_READ_SECONDS = 5
    ids = [simulator.state.add_job(service.key) for _ in range(3)]
    cache = counted(targets)
    first, again = jobs_table_html(olivia, target), jobs_table_html(olivia, target)
    assert row_ids(first) == row_ids(again) == ids[::-1]
    assert cache.calls.count("set_many") == 1
    assert sorted(target.recall(ids)) == sorted(ids)


def test_an_exports_reads_are_not_remembered_and_not_shared_with_a_tables(
    simulator, service, target, olivia, settings, counted
):
    """An export reads pages no row shows: it remembers none of their jobs, and a table asking ArcGIS the same (its
    first page of 200) reads its own, whose rows are remembered."""
    settings.SHARED_READ_SECONDS = 5
    ids = [simulator.state.add_job(service.key) for _ in range(3)]
    cache = counted(targets)
    export = olivia.get(target.url("job_export"))
    csv = b"".join(export.streaming_content).decode()
    assert export.status_code == 200 and all(job_id in csv for job_id in ids)
    assert cache.calls.count("set_many") == 0 and target.recall(ids) == {}
    assert row_ids(jobs_table_html(olivia, target, {"per_page": "200"})) == ids[::-1]
    assert cache.calls.count("set_many") == 1 and sorted(target.recall(ids)) == sorted(ids)
    assert len([r for r in simulator.requests if r.path.endswith("/jobs/query")]) == 2


def test_a_failed_read_under_way_leaves_the_waiter_to_read_for_itself(settings):
    settings.SHARED_READ_SECONDS = 5
    fetching, release = threading.Event(), threading.Event()

    def failing_fetch():
        fetching.set()
        release.wait(5)
        raise arcgis_client.SiteUnavailable("Main site does not answer.")

    def ahead_read():
        with pytest.raises(arcgis_client.SiteUnavailable):
            upstream.shared_read(("page", 2), failing_fetch)

    ahead = threading.Thread(target=ahead_read)
    ahead.start()
    assert fetching.wait(5)
    threading.Timer(0.03, release.set).start()
    assert upstream.shared_read(("page", 2), lambda: "read again") == "read again"
    ahead.join(5)


def entries(target, *job_ids: str, minutes: int = 600) -> list[JobEntry]:
    submitted = datetime.now(UTC) - timedelta(minutes=minutes)
    return [
        JobEntry(target, job_id, arcgis_client.Job(job_id, arcgis_client.SUBMITTED, submitted=submitted))
        for job_id in job_ids
    ]


def noticed_jobs() -> dict[str, str]:
    return {job_id: why for entry in running_long.noticed() for job_id, why in entry["jobs"].items()}


def test_a_page_read_again_writes_its_flagged_jobs_once_and_a_newly_flagged_one_at_once(target, counted):
    running_long.flag_entries(entries(target, "j1", "j2"))
    assert sorted(noticed_jobs()) == ["j1", "j2"]
    cache = counted(running_long)
    running_long.flag_entries(entries(target, "j1", "j2"))  # every operator's poll of the same page
    assert "set" not in cache.calls and "get" not in cache.calls
    running_long.flag_entries(entries(target, "j2", "j3"))  # the next page, or a job newly queued long
    assert sorted(noticed_jobs()) == ["j1", "j2", "j3"]
    assert cache.calls.count("set") == 1  # the service's entry; it is in the index already
    assert all(why.startswith("Queued long") for why in noticed_jobs().values())


def test_notices_are_written_again_after_a_while_so_they_outlive_a_shared_cache_that_lost_them(target, monkeypatch):
    running_long.flag_entries(entries(target, "j1"))
    running_long.cache.delete(NOTICED)  # e.g. Redis restarted empty
    running_long.flag_entries(entries(target, "j1"))
    assert noticed_jobs() == {}  # this process wrote it a moment ago: not yet again
    monkeypatch.setattr(running_long, "NOTICE_AGAIN_SECONDS", 0)
    running_long.flag_entries(entries(target, "j1"))
    assert list(noticed_jobs()) == ["j1"]


def test_a_threshold_change_is_seen_by_the_next_flags_at_once(target, olivia):
    olivia.get(target.url("job_list"))  # a request of this process confirms the sites
    [flagged] = running_long.flag_entries(entries(target, "j1", minutes=40))
    assert flagged.flag is not None and flagged.flag.kind == "queued-long"
    ServiceThresholds.objects.create(site=target.site, service=target.service.key.upper(), queued_long_minutes=60)
    [flagged] = running_long.flag_entries(entries(target, "j1", minutes=40))
    assert flagged.flag is None


def test_a_table_looks_its_services_baseline_up_once_also_when_none_is_known(
    simulator, service, target, olivia, monkeypatch
):
    simulator.state.add_job(service.key)
    looked_up = []
    known_baseline = running_long.known_baseline

    def counted(*args, **kwargs):
        looked_up.append(args)
        return known_baseline(*args, **kwargs)

    monkeypatch.setattr(running_long, "known_baseline", counted)
    assert len(row_ids(jobs_table_html(olivia, target))) == 1
    assert len(looked_up) == 1 and known_baseline(target.site, target.service) is None
