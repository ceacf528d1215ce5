"""The ready-made sites: empty, demo (lively) and large (10,000 jobs)."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest
import requests

from arcgis_simulator import ManualClock, Simulator
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
