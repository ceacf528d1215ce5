"""Many requests in flight at once are served side by side, never one after another."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import requests

from arcgis_simulator import ManualClock, Simulator

LATENCY = 0.05
JOBS_PATH = "/services/Batch.GPServer/jobs"


def timed_cancels(sim: Simulator, jobs: list[str], in_flight: int) -> tuple[float, list[dict]]:
    token = sim.issue_token()
    sessions = [requests.Session() for _ in range(in_flight)]
    try:

        def cancel(i: int) -> dict:
            session = sessions[i % in_flight]
            url = f"{sim.admin_url}{JOBS_PATH}/{jobs[i]}/cancel"
            return session.post(url, data={"f": "json", "token": token}).json()

        with ThreadPoolExecutor(in_flight) as pool:
            list(pool.map(lambda s: s.get(sim.base_url + "/rest/info"), sessions))  # connect first
            started = time.perf_counter()
            answers = list(pool.map(cancel, range(len(jobs))))
            return time.perf_counter() - started, answers
    finally:
        for session in sessions:
            session.close()


def test_32_cancels_in_flight_overlap() -> None:
    with Simulator(clock=ManualClock(), latency_ms=LATENCY * 1000) as sim:
        sim.state.add_service("Batch")
        jobs = [sim.state.add_job("Batch", status="esriJobExecuting") for _ in range(32)]
        elapsed, answers = timed_cancels(sim, jobs, in_flight=32)
        assert answers == [{"status": "success"}] * 32
        assert {job["status"] for job in sim.state.jobs("Batch")} == {"esriJobCancelling"}
        sequential = 32 * LATENCY
        assert elapsed < sequential / 2, f"{elapsed:.2f}s for 32 concurrent cancels; sequential is {sequential:.2f}s"


def test_a_stalled_request_holds_up_nobody(http: requests.Session) -> None:
    with Simulator(clock=ManualClock()) as sim:
        sim.faults.set("stall", operation="root", seconds=2)
        token = sim.issue_token()
        with ThreadPoolExecutor(1) as pool:
            stalled = pool.submit(http.get, sim.admin_url, params={"f": "json", "token": token}, timeout=0.5)
            with requests.Session() as other:
                started = time.perf_counter()
                for _ in range(5):
                    assert other.get(sim.base_url + "/rest/info", params={"f": "json"}).status_code == 200
                assert time.perf_counter() - started < 0.5
            assert isinstance(stalled.exception(), requests.ReadTimeout)
