"""The ready-made sites: empty, demo (lively) and large (10,000 jobs)."""

from __future__ import annotations

import statistics
import time
from collections import Counter
from datetime import UTC, datetime

import pytest
import requests

from arcgis_simulator import ManualClock, Simulator
from arcgis_simulator.clock import epoch_ms
from arcgis_simulator.scenarios import MACHINES, USERNAMES
from arcgis_simulator.state import JobFilter

from .conftest import AdminClient

ADMIN_STATUSES = {
    "esriJobNew",
    "esriJobSubmitted",
    "esriJobWaiting",
    "esriJobExecuting",
    "esriJobSucceeded",
    "esriJobFailed",
    "esriJobCancelling",
    "esriJobCancelled",
}


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
        assert set(statuses(sim)) == ADMIN_STATUSES

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
            admin = AdminClient(sim, sim.issue_token(), http)
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
        sim.clock.advance(2 * DAY_MS / 1000)
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
            admin = AdminClient(sim, sim.issue_token(), http)
            answer = admin.get("/services/Bulk/Tool000.GPServer/jobs/query", number=100, start=9901)
            assert (answer["total"], answer["num"], answer["nextStart"]) == (10_000, 100, -1)
            assert len(admin.get("/services/Bulk")["services"]) == 100
