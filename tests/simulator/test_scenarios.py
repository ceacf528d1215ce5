"""The ready-made sites: empty, demo (lively, with a week behind it), large (10,000 jobs) and fleet (many services)."""

from __future__ import annotations

import re
import statistics
import time
from collections import Counter
from datetime import UTC, datetime

import pytest
import requests

from arcgis_simulator import Lifecycle, ManualClock, Simulator
from arcgis_simulator.clock import epoch_ms
from arcgis_simulator.scenarios import MACHINES, SCENARIOS, USERNAMES
from arcgis_simulator.state import JobFilter

from .conftest import ADMIN_STATUSES, RawAdminApi


def statuses(sim: Simulator) -> dict[str, int]:
    counts: dict[str, int] = {}
    for per_service in sim.state.summary().values():
        for status, n in per_service.items():
            counts[status] = counts.get(status, 0) + n
    return counts


def test_empty() -> None:
    sim = Simulator("empty")
    assert (sim.state.folders(), sim.state.services(), sim.state.gp_services()) == ([], [], [])


def test_unknown_scenario() -> None:
    with pytest.raises(ValueError, match="scenario"):
        Simulator("huge")


class TestDemo:
    def test_services(self) -> None:
        sim = Simulator("demo", clock=ManualClock())
        assert "System" in sim.state.folders()
        assert 6 <= len(sim.state.gp_services()) <= 10
        others = {s.type for folder in ["", *sim.state.folders()] for s in sim.state.services(folder)} - {"GPServer"}
        assert {"MapServer", "FeatureServer"} <= others

    def test_jobs_in_every_status(self) -> None:
        sim = Simulator("demo", clock=ManualClock())
        assert set(statuses(sim)) == set(ADMIN_STATUSES)

    def test_new_jobs_keep_coming(self) -> None:
        sim = Simulator("demo", clock=ManualClock())
        before = {job["jobId"] for s in sim.state.gp_services() for job in sim.state.jobs(s.key)}
        sim.clock.advance(10 * 60)
        after = {job["jobId"] for s in sim.state.gp_services() for job in sim.state.jobs(s.key)}
        assert len(after - before) == 40  # one every 15 seconds
        for _ in range(3):  # an hour later there is still something to cancel
            sim.clock.advance(3600)
            counts = statuses(sim)
            assert counts.get("esriJobSubmitted", 0) >= 1 and counts["esriJobExecuting"] >= 5

    def test_an_operator_can_cancel_a_running_job(self, http: requests.Session) -> None:
        with Simulator("demo", clock=ManualClock()) as sim:
            admin = RawAdminApi(sim, sim.issue_token(), http)
            key, job = next(
                (s.key, j["jobId"])
                for s in sim.state.gp_services()
                for j in sim.state.jobs(s.key)
                if j["status"] == "esriJobExecuting"
            )
            path = f"/services/{key}.GPServer/jobs/{job}"
            assert admin.post(path + "/cancel") == {"status": "success"}
            assert admin.get(path)["status"] == "esriJobCancelling"

    def test_same_seed_same_site(self) -> None:
        start = datetime(2025, 3, 1, 12, tzinfo=UTC)
        one = Simulator("demo", clock=ManualClock(start), seed=3)
        two = Simulator("demo", clock=ManualClock(start), seed=3)
        one.clock.advance(600)
        two.clock.advance(300)
        two.clock.advance(300)
        assert one.state.jobs("Buffer") == two.state.jobs("Buffer")
        assert one.state.summary() == two.state.summary()

    def test_runs_on_the_system_clock(self) -> None:
        sim = Simulator("demo")
        assert statuses(sim)["esriJobSucceeded"] > 100


WEDNESDAY = datetime(2025, 3, 5, 14, 30, tzinfo=UTC)
DAY_MS = 86_400_000
FLOOD = "Hydrology/FloodModel"


def past(sim: Simulator, service: str) -> list[dict]:
    """The jobs of the demo's past week: submitted before its trickle of new jobs began, two hours ago
    (apart from the FloodModel job fixed to be executing for three hours)."""
    trickle_began = epoch_ms(sim.clock.now()) - 2 * 3600_000
    running_long = epoch_ms(sim.clock.now()) - 180 * 60_000
    return [job for job in sim.state.jobs(service) if running_long != job["submittedTime"] < trickle_began]


def seconds(job: dict) -> float:
    return (job["endTime"] - job["submittedTime"]) / 1000


def hour(job: dict) -> int:
    return datetime.fromtimestamp(job["submittedTime"] / 1000, UTC).hour


@pytest.fixture(scope="module")
def demo() -> Simulator:
    """A demo site started on a Wednesday afternoon; tests that move its clock build their own."""
    return Simulator("demo", clock=ManualClock(WEDNESDAY))


class TestDemoPast:
    """The demo's believable past: a week of finished jobs, so a job history has full charts at once."""

    def test_a_week_of_finished_jobs_in_every_gp_service(self, demo: Simulator) -> None:
        now = epoch_ms(demo.clock.now())
        for service in demo.state.gp_services():
            jobs = past(demo, service.key)
            assert {job["status"] for job in jobs} <= {"esriJobSucceeded", "esriJobFailed", "esriJobCancelled"}
            assert all(job["submittedTime"] < job["endTime"] <= now for job in jobs)
            assert {(now - job["submittedTime"]) // DAY_MS for job in jobs} == set(range(7)), service.key
            assert min(job["submittedTime"] for job in jobs) >= now - 7 * DAY_MS

    def test_busy_services_run_150_to_250_jobs_a_weekday_and_quiet_ones_far_fewer(self, demo: Simulator) -> None:
        def per_day(service: str, weekend: bool) -> list[int]:
            days = Counter(
                datetime.fromtimestamp(job["submittedTime"] / 1000, UTC).date() for job in past(demo, service)
            )
            whole_days = range(WEDNESDAY.toordinal() - 6, WEDNESDAY.toordinal())  # the first and last are partial
            return [n for day, n in days.items() if (day.weekday() >= 5) == weekend and day.toordinal() in whole_days]

        for busy in ("Buffer", "Utilities/PrintingTools"):
            assert all(140 <= n <= 300 for n in per_day(busy, weekend=False)), (busy, per_day(busy, weekend=False))
        assert all(n < 20 for n in per_day("System/ReportingTools", weekend=False))
        assert len(per_day("Buffer", weekend=True)) == 2
        assert max(per_day("Buffer", weekend=True)) < min(per_day("Buffer", weekend=False)) / 2

    def test_durations_follow_each_service(self, demo: Simulator) -> None:
        def median(service: str, user: str | None = None) -> float:
            jobs = [job for job in past(demo, service) if job["status"] == "esriJobSucceeded"]
            return statistics.median(seconds(job) for job in jobs if user is None or job["username"] != user)

        assert 3 <= median("Buffer") <= 60
        assert 60 <= median("Geocode_Batch", user="svc_batch") <= 6 * 60  # without the nightly batch's queue
        flood = [seconds(job) for job in past(demo, FLOOD) if job["status"] == "esriJobSucceeded"]
        assert 6 * 60 <= statistics.median(flood) <= 12 * 60
        assert any(s > 20 * 60 for s in flood)  # a tail of long runs

    def test_some_jobs_queued_before_they_ran(self, demo: Simulator) -> None:
        def queued(service: str, job: dict) -> float:
            record = demo.state.job_record(service, job["jobId"])
            assert record is not None and record[0].started is not None
            return (record[0].started - job["submittedTime"]) / 1000

        batch = [job for job in past(demo, "Geocode_Batch") if job["username"] == "svc_batch"]
        waits = [queued("Geocode_Batch", job) for job in batch]
        assert max(waits) > 5 * 60 and statistics.median(waits) > 30
        assert statistics.median(queued("Buffer", job) for job in past(demo, "Buffer")) < 5

    def test_a_nightly_batch_between_one_and_four(self, demo: Simulator) -> None:
        for service in ("Geocode_Batch", "Utilities/PrintingTools"):
            batch = [job for job in past(demo, service) if job["username"] == "svc_batch"]
            assert {hour(job) for job in batch} == {1, 2, 3}
            assert len(batch) >= 6 * 50  # six nights or more, dozens a night
        night = [job for s in demo.state.gp_services() for job in past(demo, s.key) if hour(job) in (1, 2, 3)]
        assert {job["username"] for job in night} == {"svc_batch"}

    def test_floodmodel_fails_more_on_gis02(self, demo: Simulator) -> None:
        def failure_rate(on: bool) -> float:
            jobs = [job for job in past(demo, FLOOD) if (job["machinename"] == "GIS02.EXAMPLE.COM") == on]
            return sum(job["status"] == "esriJobFailed" for job in jobs) / len(jobs)

        assert 0.12 <= failure_rate(True) <= 0.3
        assert failure_rate(False) <= 0.06

    def test_users_machines_and_a_few_cancelled(self, demo: Simulator) -> None:
        jobs = [job for s in demo.state.gp_services() for job in past(demo, s.key)]
        assert {job["username"] for job in jobs} == set(USERNAMES)
        assert {job["machinename"] for job in jobs} == set(MACHINES)
        assert 5 <= sum(job["status"] == "esriJobCancelled" for job in jobs) <= len(jobs) // 50

    def test_the_demo_features_still_hold(self, demo: Simulator) -> None:
        now = epoch_ms(demo.clock.now())
        running_long = [job for job in demo.state.jobs(FLOOD) if job["submittedTime"] == now - 180 * 60_000]
        assert [job["status"] for job in running_long] == ["esriJobExecuting"]
        older = {job["jobId"] for s in demo.state.gp_services() for job in past(demo, s.key)}
        recent = [job for s in demo.state.gp_services() for job in demo.state.jobs(s.key) if job["jobId"] not in older]
        assert len(recent) >= 2 * 3600 / 15  # one every 15 seconds since the trickle began

    def test_same_seed_same_past(self) -> None:
        one, two = (Simulator("demo", clock=ManualClock(WEDNESDAY), seed=5) for _ in range(2))
        other = Simulator("demo", clock=ManualClock(WEDNESDAY), seed=6)
        assert past(one, FLOOD) == past(two, FLOOD) != past(other, FLOOD)

    def test_the_past_is_kept_for_eight_days(self) -> None:
        sim = Simulator("demo", clock=ManualClock(WEDNESDAY))
        assert sim.max_file_age == 8 * 24 * 3600
        oldest = min(job["submittedTime"] for job in past(sim, "Buffer"))
        sim.clock.advance(20 * 3600)
        assert min(job["submittedTime"] for job in sim.state.jobs("Buffer")) == oldest
        sim.clock.advance(5 * 3600)  # the week's first jobs ended more than eight days ago now: gone
        assert min(job["submittedTime"] for job in sim.state.jobs("Buffer")) > oldest

    def test_an_explicit_max_file_age_wins(self) -> None:
        sim = Simulator("demo", clock=ManualClock(WEDNESDAY), max_file_age=6 * 3600)
        now = epoch_ms(sim.clock.now())
        assert all(job["endTime"] > now - 6 * 3600_000 for job in past(sim, "Buffer"))
        assert Simulator("empty").max_file_age == 6 * 3600

    def test_queries_and_statistics_stay_fast(self, demo: Simulator) -> None:
        key = "Utilities/PrintingTools"  # the busiest
        demo.state.query(key, JobFilter())  # the first call sorts
        timings = []
        for start in (1, 101, 1001):
            started = time.perf_counter()
            total, page = demo.state.query(key, JobFilter(), start=start, number=100)
            demo.state.statistics(key)
            timings.append(time.perf_counter() - started)
            assert len(page) == 100 and total > 1200
        assert sorted(timings)[1] < 0.05


class TestLarge:
    def test_size_and_build_time(self) -> None:
        started = time.perf_counter()
        sim = Simulator("large", clock=ManualClock())
        assert time.perf_counter() - started < 1
        assert len(sim.state.gp_services()) == 100
        assert len(sim.state.jobs("Bulk/Tool000")) == 10_000
        assert sim.state.jobs("Bulk/Tool001") == []
        assert set(statuses(sim)) >= {"esriJobSucceeded", "esriJobExecuting", "esriJobSubmitted", "esriJobNew"}

    def test_queries_over_10000_jobs_are_fast(self) -> None:
        sim = Simulator("large", clock=ManualClock())
        sim.state.query("Bulk/Tool000", JobFilter())  # the first call sorts
        timings = []
        for status in ("esriJobExecuting", "esriJobSucceeded", None, "esriJobWaiting"):
            started = time.perf_counter()
            total, page = sim.state.query("Bulk/Tool000", JobFilter(status=status), start=11, number=50)
            timings.append(time.perf_counter() - started)
            assert len(page) == 50 and total > 50
        assert sorted(timings)[len(timings) // 2] < 0.05

    def test_over_http(self, http: requests.Session) -> None:
        with Simulator("large", clock=ManualClock()) as sim:
            admin = RawAdminApi(sim, sim.issue_token(), http)
            answer = admin.get("/services/Bulk/Tool000.GPServer/jobs/query", number=100, start=9901)
            assert (answer["total"], answer["num"], answer["nextStart"]) == (10_000, 100, -1)
            assert len(admin.get("/services/Bulk")["services"]) == 100


def new_jobs(sim: Simulator, since_ms: int) -> dict[str, list[dict]]:
    """Each GP service's jobs submitted at or after `since_ms`."""
    return {
        s.key: [job for job in sim.state.jobs(s.key) if job["submittedTime"] >= since_ms]
        for s in sim.state.gp_services()
    }


class TestFleet:
    """Many GP services with steady traffic, for benchmarks."""

    def test_options_and_their_defaults(self) -> None:
        assert SCENARIOS["fleet"].options() == {"services": 50, "jobs_per_minute": 10.0, "folders": 5}
        assert SCENARIOS["demo"].options() == {}
        sim = Simulator("fleet", clock=ManualClock())
        assert len(sim.state.gp_services()) == 50
        assert (sim.max_file_age, sim.describe()["scenarioOptions"]) == (3600, {})

    def test_services_spread_over_folders(self) -> None:
        sim = Simulator("fleet", clock=ManualClock(), scenario_options={"services": 12, "folders": 3})
        assert sim.state.folders() == ["Fleet01", "Fleet02", "Fleet03"]
        assert [s.name for s in sim.state.services("Fleet02")] == ["Tool001", "Tool004", "Tool007", "Tool010"]
        assert sim.state.services() == []

    def test_each_service_gets_its_rate_of_new_jobs(self) -> None:
        sim = Simulator("fleet", clock=ManualClock(), scenario_options={"services": 20, "jobs_per_minute": 6})
        start = epoch_ms(sim.clock.now())
        sim.clock.advance(30 * 60)
        counts = [len(jobs) for jobs in new_jobs(sim, start + 1).values()]
        assert sum(counts) == 20 * 6 * 30
        assert all(120 <= n <= 240 for n in counts), counts  # 180 each on average

    def test_jobs_queue_run_and_finish_over_realistic_times(self) -> None:
        sim = Simulator("fleet", clock=ManualClock(), scenario_options={"services": 4, "jobs_per_minute": 10})
        start = epoch_ms(sim.clock.now())
        sim.clock.advance(20 * 60)
        jobs = [(key, job) for key, found in new_jobs(sim, start + 1).items() for job in found]
        finished = [(key, job) for key, job in jobs if job["endTime"] is not None]
        assert {job["status"] for _, job in finished} == {"esriJobSucceeded", "esriJobFailed"}
        for key, job in finished:
            record = sim.state.job_record(key, job["jobId"])
            assert record is not None and record[0].started is not None
            queued, ran = record[0].started - job["submittedTime"], job["endTime"] - record[0].started
            assert 5_000 <= queued <= 90_000 and 30_000 <= ran <= 600_000  # the site's lifecycle
        assert {"esriJobSubmitted", "esriJobExecuting"} <= {job["status"] for _, job in jobs}

    def test_starts_in_its_steady_state(self) -> None:
        sim = Simulator("fleet", clock=ManualClock(), scenario_options={"services": 5})
        counts = statuses(sim)
        assert counts["esriJobExecuting"] > 100 and counts["esriJobSucceeded"] > 10 and counts["esriJobSubmitted"]

    def test_no_traffic(self) -> None:
        sim = Simulator("fleet", clock=ManualClock(), scenario_options={"services": 3, "jobs_per_minute": 0})
        sim.clock.advance(3600)
        assert statuses(sim) == {}

    def test_same_seed_same_traffic(self) -> None:
        one, two = (Simulator("fleet", clock=ManualClock(WEDNESDAY), seed=2) for _ in range(2))
        one.clock.advance(120)
        two.clock.advance(120)
        assert one.state.jobs("Fleet03/Tool002") == two.state.jobs("Fleet03/Tool002")

    @pytest.mark.parametrize(
        ("options", "message"),
        [
            ({"colour": "red"}, "no scenario option 'colour'; its options: services=50, jobs_per_minute=10.0"),
            ({"services": "200"}, "'services' must be int"),
            ({"services": 2.5}, "'services' must be int"),
            ({"services": True}, "'services' must be int"),
            ({"services": 0}, "services >= 1"),
            ({"jobs_per_minute": -1}, "jobs_per_minute >= 0"),
            ({"services": 10_000, "jobs_per_minute": 7}, "at most 60,000 new jobs a minute"),
        ],
    )
    def test_refusals(self, options: dict, message: str) -> None:
        with pytest.raises(ValueError, match=re.escape(message)):
            Simulator("fleet", clock=ManualClock(), scenario_options=options)

    def test_a_trickle_submits_at_most_one_job_a_millisecond(self) -> None:
        quick = Lifecycle(queue_seconds=(0, 0.5), run_seconds=(0, 0.5))  # the traffic began a second before
        options = {"services": 1, "jobs_per_minute": 60_000}
        sim = Simulator("fleet", clock=ManualClock(), scenario_options=options, lifecycle=quick)
        sim.clock.advance(1)
        assert len(sim.state.jobs("Fleet01/Tool000")) == 2001  # 2 s at one a millisecond, both ends counted
        with pytest.raises(ValueError, match="at most one job a millisecond"):
            sim.state.start_trickle(0.0009, since=sim.clock.now(), usernames=["a"], machines=["m"], seed=0)

    def test_other_scenarios_have_no_options(self) -> None:
        with pytest.raises(ValueError, match="no scenario option 'services'; its options: none"):
            Simulator("demo", scenario_options={"services": 3})

    def test_200_services_at_10_jobs_a_minute_keep_up(self) -> None:
        started = time.perf_counter()
        sim = Simulator("fleet", clock=ManualClock(), scenario_options={"services": 200})
        statuses(sim)  # the first catch-up: the 11.5 minutes of traffic before the start
        assert time.perf_counter() - started < 5
        catch_up = []
        for _ in range(5):
            sim.clock.advance(60)  # 2,000 new jobs, and as many moving on
            started = time.perf_counter()
            sim.state.statistics("Fleet01/Tool000")
            catch_up.append(time.perf_counter() - started)
        assert sorted(catch_up)[2] < 1  # a minute's traffic takes a small part of a second
        timings = []
        for key in ("Fleet01/Tool000", "Fleet05/Tool199", "Fleet03/Tool102"):
            started = time.perf_counter()
            total, page = sim.state.query(key, JobFilter(), number=100)
            sim.state.statistics(key)
            timings.append(time.perf_counter() - started)
            assert total > 100 and len(page) == 100
        assert sorted(timings)[1] < 0.05
