"""GP jobs: query, statistics, one job, cancel, delete, purge, and the lifecycle under a manual clock."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest

from arcgis_simulator import Lifecycle, ManualClock, Simulator
from arcgis_simulator.clock import epoch_ms

from .conftest import ADMIN_STATUSES, GP, JOBS, RawAdminApi

T0 = 1_700_000_000_000  # epoch ms


def add(admin: RawAdminApi, n: int, **fields: object) -> list[str]:
    """n jobs submitted one second apart, oldest first."""
    return [admin.sim.state.add_job(GP, submitted=T0 + i * 1000, **fields) for i in range(n)]


def query(admin: RawAdminApi, **params: object) -> dict:
    return admin.get(JOBS + "/query", **params)


class TestQuery:
    def test_shape(self, admin: RawAdminApi) -> None:
        job = admin.sim.state.add_job(
            GP, status="esriJobExecuting", username="analyst1", machinename="GIS01.EXAMPLE.COM", submitted=T0
        )
        assert query(admin) == {
            "total": 1,
            "num": 1,
            "start": 1,
            "nextStart": -1,
            "query": {
                "serviceName": "Watershed",
                "jobStatus": "",
                "userName": "",
                "machineName": "",
                "startTime": "",
                "endTime": "",
            },
            "results": {
                job: {
                    "jobId": job,
                    "submittedTime": T0,
                    "endTime": None,
                    "status": "esriJobExecuting",
                    "username": "analyst1",
                    "machinename": "GIS01.EXAMPLE.COM",
                    "url": f"{admin.sim.base_url}/rest/services/Hydrology/Watershed/GPServer/Watershed/jobs/{job}",
                }
            },
        }

    def test_root_service_urls(self, admin: RawAdminApi) -> None:
        job = admin.sim.state.add_job("Buffer")
        answer = admin.get("/services/Buffer.GPServer/jobs/query")
        assert answer["results"][job]["url"] == f"{admin.sim.base_url}/rest/services/Buffer/GPServer/Buffer/jobs/{job}"
        assert answer["query"]["serviceName"] == "Buffer"

    def test_newest_first(self, admin: RawAdminApi) -> None:
        jobs = add(admin, 5)
        same_time = admin.sim.state.add_job(GP, submitted=T0 + 4000)
        assert list(query(admin)["results"]) == [same_time, *reversed(jobs)]

    def test_echoes_the_query(self, admin: RawAdminApi) -> None:
        answer = query(
            admin,
            jobStatus="esriJobFailed",
            userName="bob",
            machineName="GIS02",
            startTime=str(T0),
            endTime=str(T0 + 1),
        )
        assert answer["query"] == {
            "serviceName": "Watershed",
            "jobStatus": "esriJobFailed",
            "userName": "bob",
            "machineName": "GIS02",
            "startTime": str(T0),
            "endTime": str(T0 + 1),
        }

    def test_status_filter_accepts_jobstatus_and_status(self, admin: RawAdminApi) -> None:
        executing = admin.sim.state.add_job(GP, status="esriJobExecuting")
        admin.sim.state.add_job(GP, status="esriJobSucceeded")
        assert list(query(admin, jobStatus="esriJobExecuting")["results"]) == [executing]
        assert list(query(admin, status="esriJobExecuting")["results"]) == [executing]
        assert query(admin, jobStatus="esriJobExecuting")["query"]["jobStatus"] == "esriJobExecuting"
        assert query(admin, status="esriJobExecuting")["query"]["jobStatus"] == "esriJobExecuting"
        assert query(admin, jobStatus="esriJobWaiting")["total"] == 0

    def test_user_and_machine_filters(self, admin: RawAdminApi) -> None:
        mine = admin.sim.state.add_job(GP, username="analyst1", machinename="GIS01.EXAMPLE.COM")
        admin.sim.state.add_job(GP, username="analyst2", machinename="GIS01.EXAMPLE.COM")
        theirs = admin.sim.state.add_job(GP, username="analyst2", machinename="GIS02.EXAMPLE.COM")
        assert list(query(admin, userName="analyst1")["results"]) == [mine]
        assert list(query(admin, machineName="gis02.example.com")["results"]) == [theirs]
        assert list(query(admin, userName="analyst2", machineName="GIS02.EXAMPLE.COM")["results"]) == [theirs]
        assert query(admin, userName="", machineName="")["total"] == 3

    def test_anonymous_jobs_have_no_username(self, admin: RawAdminApi) -> None:
        job = admin.sim.state.add_job(GP, username=None)
        assert query(admin)["results"][job]["username"] is None
        assert query(admin, userName="analyst1")["total"] == 0

    def test_time_filters_are_inclusive_and_empty_means_unbounded(self, admin: RawAdminApi) -> None:
        jobs = add(admin, 5)  # submitted at T0, T0+1s, ... T0+4s
        assert list(query(admin, startTime=T0 + 1000, endTime=T0 + 3000)["results"]) == jobs[3:0:-1]
        assert list(query(admin, startTime=T0 + 3000, endTime="")["results"]) == jobs[:2:-1]
        assert list(query(admin, startTime="", endTime=T0 + 1000)["results"]) == jobs[1::-1]
        assert query(admin, startTime="", endTime="")["total"] == 5
        assert query(admin, startTime=T0 + 5000)["total"] == 0

    def test_filters_combine(self, admin: RawAdminApi) -> None:
        add(admin, 3, status="esriJobSucceeded", username="a")
        wanted = add(admin, 3, status="esriJobFailed", username="a")
        add(admin, 3, status="esriJobFailed", username="b")
        answer = query(admin, status="esriJobFailed", userName="a", startTime=T0 + 1000)
        assert sorted(answer["results"]) == sorted(wanted[1:])

    def test_empty(self, admin: RawAdminApi) -> None:
        answer = query(admin)
        assert (answer["total"], answer["num"], answer["start"], answer["nextStart"], answer["results"]) == (
            0,
            0,
            1,
            -1,
            {},
        )

    def test_default_page_size_is_10(self, admin: RawAdminApi) -> None:
        add(admin, 11)
        answer = query(admin)
        assert (answer["num"], answer["nextStart"], len(answer["results"])) == (10, 11, 10)

    def test_exact_multiple_of_the_page_size(self, admin: RawAdminApi) -> None:
        jobs = add(admin, 20)
        first = query(admin, number=10, start=1)
        second = query(admin, number=10, start=11)
        assert (first["total"], first["num"], first["start"], first["nextStart"]) == (20, 10, 1, 11)
        assert (second["total"], second["num"], second["start"], second["nextStart"]) == (20, 10, 11, -1)
        assert list(first["results"]) + list(second["results"]) == list(reversed(jobs))

    def test_last_partial_page(self, admin: RawAdminApi) -> None:
        jobs = add(admin, 7)
        answer = query(admin, number=3, start=7)
        assert (answer["num"], answer["nextStart"], list(answer["results"])) == (1, -1, [jobs[0]])

    def test_start_past_the_end(self, admin: RawAdminApi) -> None:
        add(admin, 5)
        answer = query(admin, number=10, start=6)
        assert (answer["total"], answer["num"], answer["start"], answer["nextStart"], answer["results"]) == (
            5,
            0,
            6,
            -1,
            {},
        )

    def test_paging_by_next_start_visits_every_job_once(self, admin: RawAdminApi) -> None:
        jobs = add(admin, 23)
        seen: list[str] = []
        start = 1
        while start != -1:
            answer = query(admin, number=5, start=start)
            seen += answer["results"]
            start = answer["nextStart"]
        assert seen == list(reversed(jobs))

    @pytest.mark.parametrize(("name", "value"), [("number", "0"), ("number", "ten"), ("start", "0"), ("start", "-3")])
    def test_invalid_paging(self, admin: RawAdminApi, name: str, value: str) -> None:
        answer = query(admin, **{name: value})
        assert answer == {
            "status": "error",
            "messages": [f"Invalid value '{value}' for parameter '{name}'."],
            "code": 400,
        }

    def test_query_by_post(self, admin: RawAdminApi) -> None:
        job = admin.sim.state.add_job(GP, status="esriJobFailed")
        admin.sim.state.add_job(GP, status="esriJobSucceeded")
        assert list(admin.post(JOBS + "/query", jobStatus="esriJobFailed")["results"]) == [job]


class TestStatisticsAndOneJob:
    def test_statistics(self, admin: RawAdminApi) -> None:
        for status, n in (("esriJobSucceeded", 3), ("esriJobFailed", 2), ("esriJobCancelled", 1), ("esriJobNew", 1)):
            add(admin, n, status=status)
        expected = {"total": 7, "cancelled": 1, "failed": 2, "succeeded": 3}
        assert admin.post(JOBS + "/statistics") == expected
        assert admin.get(JOBS + "/statistics") == expected

    def test_statistics_of_an_empty_service(self, admin: RawAdminApi) -> None:
        assert admin.post(JOBS + "/statistics") == {"total": 0, "cancelled": 0, "failed": 0, "succeeded": 0}

    def test_one_job(self, admin: RawAdminApi) -> None:
        now = epoch_ms(admin.sim.clock.now())
        job = admin.sim.state.add_job(
            GP, status="esriJobFailed", username="u", machinename="M", submitted=now - 5000, end_time=now - 1000
        )
        assert admin.get(f"{JOBS}/{job}") == {
            "jobId": job,
            "submittedTime": now - 5000,
            "endTime": now - 1000,
            "status": "esriJobFailed",
            "username": "u",
            "machinename": "M",
            "url": f"{admin.sim.base_url}/rest/services/Hydrology/Watershed/GPServer/Watershed/jobs/{job}",
        }
        assert admin.sim.state.get_job(GP, job) == admin.get(f"{JOBS}/{job}")

    def test_unknown_job(self, admin: RawAdminApi) -> None:
        missing = "j0123456789abcdef0123456789abcdef"
        assert admin.get(f"{JOBS}/{missing}") == {
            "status": "error",
            "messages": [f"Could not find resource or operation '{missing}' on the system."],
            "code": 404,
        }
        assert admin.sim.state.get_job(GP, missing) is None

    def test_job_url_leads_back_to_the_job(self, admin: RawAdminApi) -> None:
        job = admin.sim.state.add_job(GP)
        url = admin.get(f"{JOBS}/{job}")["url"]
        answer = admin.session.get(url, params={"f": "json", "token": admin.token}).json()
        assert answer["jobId"] == job


class TestCancel:
    @pytest.mark.parametrize("status", ["esriJobSubmitted", "esriJobExecuting"])
    def test_cancels_submitted_and_executing_jobs(self, admin: RawAdminApi, status: str) -> None:
        job = admin.sim.state.add_job(GP, status=status)
        assert admin.post(f"{JOBS}/{job}/cancel") == {"status": "success"}
        assert admin.get(f"{JOBS}/{job}")["status"] == "esriJobCancelling"
        assert admin.get(f"{JOBS}/{job}")["endTime"] is None

    @pytest.mark.parametrize("status", [s for s in ADMIN_STATUSES if s not in ("esriJobSubmitted", "esriJobExecuting")])
    def test_refuses_every_other_status(self, admin: RawAdminApi, status: str) -> None:
        job = admin.sim.state.add_job(GP, status=status)
        assert admin.post(f"{JOBS}/{job}/cancel") == {
            "status": "error",
            "messages": [f"Unable to cancel job :[{job}]"],
            "code": 500,
        }
        assert admin.get(f"{JOBS}/{job}")["status"] == status

    def test_refuses_an_unknown_job(self, admin: RawAdminApi) -> None:
        missing = "j0123456789abcdef0123456789abcdef"
        assert admin.post(f"{JOBS}/{missing}/cancel")["messages"] == [f"Unable to cancel job :[{missing}]"]

    def test_cancelling_becomes_cancelled_after_the_delay(self, admin: RawAdminApi) -> None:
        job = admin.sim.state.add_job(GP, status="esriJobExecuting")
        admin.post(f"{JOBS}/{job}/cancel")
        cancelled_at = epoch_ms(admin.sim.clock.now()) + 2000
        admin.sim.clock.advance(1.999)
        assert admin.get(f"{JOBS}/{job}")["status"] == "esriJobCancelling"
        assert admin.post(f"{JOBS}/{job}/cancel")["code"] == 500  # already on its way out
        admin.sim.clock.advance(0.001)
        answer = admin.get(f"{JOBS}/{job}")
        assert (answer["status"], answer["endTime"]) == ("esriJobCancelled", cancelled_at)
        assert admin.post(JOBS + "/statistics")["cancelled"] == 1

    def test_cancel_delay_is_configurable(self) -> None:
        with Simulator(clock=ManualClock(), cancel_delay=0) as sim:
            sim.state.add_service("G")
            job = sim.state.add_job("G")
            assert sim.state.cancel("G", job)
            assert sim.state.get_job("G", job)["status"] == "esriJobCancelled"

    def test_cancel_needs_post(self, admin: RawAdminApi) -> None:
        job = admin.sim.state.add_job(GP, status="esriJobExecuting")
        assert admin.get(f"{JOBS}/{job}/cancel") == {
            "status": "error",
            "messages": ["The 'cancel' operation is only supported via HTTP POST."],
            "code": 405,
        }
        assert admin.sim.state.get_job(GP, job)["status"] == "esriJobExecuting"


class TestDelete:
    @pytest.mark.parametrize("status", ADMIN_STATUSES)
    def test_deletes_whatever_the_status(self, admin: RawAdminApi, status: str) -> None:
        job = admin.sim.state.add_job(GP, status=status)
        other = admin.sim.state.add_job(GP, status=status)
        assert admin.post(f"{JOBS}/{job}/delete") == {"status": "success"}
        assert admin.get(f"{JOBS}/{job}")["code"] == 404
        assert list(query(admin)["results"]) == [other]
        assert admin.sim.state.get_job(GP, job) is None

    def test_refuses_an_unknown_job(self, admin: RawAdminApi) -> None:
        job = admin.sim.state.add_job(GP)
        assert admin.post(f"{JOBS}/{job}/delete") == {"status": "success"}
        assert admin.post(f"{JOBS}/{job}/delete") == {
            "status": "error",
            "messages": [f"Unable to delete job :[{job}]"],
            "code": 400,
        }


class TestPurgeQueue:
    def test_cancels_queued_jobs_only(self, admin: RawAdminApi) -> None:
        jobs = {status: admin.sim.state.add_job(GP, status=status) for status in ADMIN_STATUSES}
        other_service = admin.sim.state.add_job("Buffer", status="esriJobSubmitted")
        assert admin.post(JOBS + "/purgeQueue") == {"status": "success"}
        after = {status: admin.sim.state.get_job(GP, job)["status"] for status, job in jobs.items()}
        assert after == {
            "esriJobNew": "esriJobCancelled",
            "esriJobSubmitted": "esriJobCancelled",
            "esriJobWaiting": "esriJobCancelled",
            "esriJobExecuting": "esriJobExecuting",
            "esriJobSucceeded": "esriJobSucceeded",
            "esriJobFailed": "esriJobFailed",
            "esriJobCancelling": "esriJobCancelling",
            "esriJobCancelled": "esriJobCancelled",
        }
        assert admin.sim.state.get_job(GP, jobs["esriJobNew"])["endTime"] == epoch_ms(admin.sim.clock.now())
        assert admin.sim.state.get_job("Buffer", other_service)["status"] == "esriJobSubmitted"

    def test_on_an_empty_queue(self, admin: RawAdminApi) -> None:
        assert admin.post(JOBS + "/purgeQueue") == {"status": "success"}


class TestLifecycle:
    def test_explicit_statuses_stay(self, admin: RawAdminApi) -> None:
        jobs = {
            status: admin.sim.state.add_job(GP, status=status) for status in [*ADMIN_STATUSES[:4], "esriJobCancelling"]
        }
        admin.sim.clock.advance(30 * 24 * 3600)
        assert {s: admin.sim.state.get_job(GP, j)["status"] for s, j in jobs.items()} == {s: s for s in jobs}

    def test_durations_drive_a_job_through_its_life(self, admin: RawAdminApi) -> None:
        state, clock = admin.sim.state, admin.sim.clock
        job = state.add_job(GP, status="esriJobSubmitted", durations=(10, 20), outcome="esriJobSucceeded")
        start = epoch_ms(clock.now())
        clock.advance(9.999)
        assert state.get_job(GP, job)["status"] == "esriJobSubmitted"
        clock.advance(0.001)
        assert state.get_job(GP, job)["status"] == "esriJobExecuting"
        clock.advance(20)
        answer = state.get_job(GP, job)
        assert (answer["status"], answer["endTime"]) == ("esriJobSucceeded", start + 30_000)

    def test_jobs_in_the_past_have_already_finished(self, admin: RawAdminApi) -> None:
        submitted = admin.sim.clock.now() - timedelta(minutes=5)
        job = admin.sim.state.add_job(
            GP, status="esriJobSubmitted", submitted=submitted, durations=(1, 2), outcome="esriJobFailed"
        )
        answer = admin.get(f"{JOBS}/{job}")
        assert (answer["status"], answer["endTime"]) == ("esriJobFailed", epoch_ms(submitted) + 3000)

    def test_cancel_interrupts_the_plan(self, admin: RawAdminApi) -> None:
        job = admin.sim.state.add_job(GP, status="esriJobSubmitted", durations=(1, 5), outcome="esriJobSucceeded")
        admin.sim.clock.advance(2)
        assert admin.post(f"{JOBS}/{job}/cancel") == {"status": "success"}
        admin.sim.clock.advance(10)
        assert admin.sim.state.get_job(GP, job)["status"] == "esriJobCancelled"

    def test_set_status_takes_over(self, admin: RawAdminApi) -> None:
        job = admin.sim.state.add_job(GP, status="esriJobSubmitted", durations=(1, 5))
        admin.sim.state.set_status(GP, job, "esriJobWaiting")
        admin.sim.clock.advance(10)
        assert admin.sim.state.get_job(GP, job)["status"] == "esriJobWaiting"
        admin.sim.state.set_status(GP, job, "esriJobSucceeded")
        assert admin.sim.state.get_job(GP, job)["endTime"] == epoch_ms(admin.sim.clock.now())

    @pytest.mark.parametrize(("rate", "outcome"), [(0.0, "esriJobSucceeded"), (1.0, "esriJobFailed")])
    def test_failure_rate(self, rate: float, outcome: str) -> None:
        sim = Simulator(clock=ManualClock(), lifecycle=Lifecycle(failure_rate=rate))
        sim.state.add_service("G")
        jobs = [sim.state.add_job("G", status="esriJobSubmitted", durations=(1, 1)) for _ in range(20)]
        sim.clock.advance(3)
        assert {sim.state.get_job("G", job)["status"] for job in jobs} == {outcome}

    def test_failures_are_deterministic_for_a_seed(self) -> None:
        def outcomes(seed: int) -> list[str]:
            sim = Simulator(clock=ManualClock(datetime(2025, 1, 1, tzinfo=UTC)), seed=seed)
            sim.state.add_service("G")
            jobs = [sim.state.add_job("G", status="esriJobSubmitted", durations=(1, 1)) for _ in range(50)]
            sim.clock.advance(3)
            return [f"{job}:{sim.state.get_job('G', job)['status']}" for job in jobs]

        assert outcomes(7) == outcomes(7)
        assert outcomes(7) != outcomes(8)
        assert "esriJobFailed" in "".join(outcomes(7))

    def test_finished_jobs_disappear_after_the_max_file_age(self, admin: RawAdminApi) -> None:
        state, clock = admin.sim.state, admin.sim.clock
        done = state.add_job(GP, status="esriJobSucceeded")
        running = state.add_job(GP, status="esriJobExecuting")
        cancelled = state.add_job(GP, status="esriJobExecuting")
        state.cancel(GP, cancelled)  # ends 2 s from now
        clock.advance(6 * 3600 - 1)
        assert state.get_job(GP, done) is not None
        clock.advance(1)
        assert state.get_job(GP, done) is None
        admin.token = admin.sim.issue_token()  # the first one expired hours ago
        assert admin.get(f"{JOBS}/{done}")["code"] == 404
        assert state.get_job(GP, cancelled) is not None
        clock.advance(2)
        assert state.get_job(GP, cancelled) is None
        assert [job["jobId"] for job in state.jobs(GP)] == [running]

    def test_old_end_times_expire_at_once(self, admin: RawAdminApi) -> None:
        long_ago = admin.sim.clock.now() - timedelta(hours=7)
        job = admin.sim.state.add_job(GP, status="esriJobFailed", submitted=long_ago, end_time=long_ago)
        assert admin.sim.state.get_job(GP, job) is None

    def test_max_file_age_is_configurable(self) -> None:
        with Simulator(clock=ManualClock(), max_file_age=60) as sim:
            sim.state.add_service("G")
            job = sim.state.add_job("G", status="esriJobSucceeded")
            sim.clock.advance(59)
            assert sim.state.get_job("G", job) is not None
            sim.clock.advance(1)
            assert sim.state.get_job("G", job) is None


class TestForgetFinished:
    """ArcGIS's cleanup of the jobs directory, on demand."""

    def test_forgets_finished_jobs_that_ended_long_enough_ago(self, admin: RawAdminApi) -> None:
        state, now = admin.sim.state, admin.sim.clock.now()
        old = {
            status: state.add_job(
                GP, status=status, submitted=now - timedelta(hours=2), end_time=now - timedelta(hours=1)
            )
            for status in ("esriJobSucceeded", "esriJobFailed", "esriJobCancelled", "esriJobTimedOut")
        }
        recent = state.add_job(GP, status="esriJobSucceeded", end_time=now - timedelta(minutes=59))
        state.add_service("Clip")  # every GP service is cleaned
        elsewhere = state.add_job("Clip", status="esriJobFailed", end_time=now - timedelta(hours=3))
        unfinished = [state.add_job(GP, status=status) for status in [*ADMIN_STATUSES[:4], "esriJobCancelling"]]
        assert state.forget_finished(3600) == len(old) + 1
        assert all(state.get_job(GP, job) is None for job in old.values())
        assert state.get_job("Clip", elsewhere) is None
        assert {job["jobId"] for job in state.jobs(GP)} == {recent, *unfinished}
        assert admin.get(f"{JOBS}/{old['esriJobSucceeded']}")["code"] == 404
        assert query(admin)["total"] == 1 + len(unfinished)
        assert admin.post(JOBS + "/statistics")["total"] == 1 + len(unfinished)

    def test_the_boundary_is_inclusive_and_zero_forgets_every_finished_job(self, admin: RawAdminApi) -> None:
        state = admin.sim.state
        job = state.add_job(GP, status="esriJobSucceeded")
        admin.sim.clock.advance(10)
        assert state.forget_finished(10.001) == 0
        assert state.forget_finished(10) == 1
        state.add_job(GP, status="esriJobFailed")
        assert state.forget_finished(0) == 1
        assert state.get_job(GP, job) is None and state.jobs(GP) == []

    def test_jobs_finish_by_the_clock_before_the_cleanup(self, admin: RawAdminApi) -> None:
        state = admin.sim.state
        job = state.add_job(GP, status="esriJobSubmitted", durations=(1, 1), outcome="esriJobSucceeded")
        admin.sim.clock.advance(5)
        assert state.forget_finished(3) == 1
        assert state.get_job(GP, job) is None

    def test_refuses_a_negative_age(self, admin: RawAdminApi) -> None:
        with pytest.raises(ValueError, match="negative"):
            admin.sim.state.forget_finished(-1)


class TestStateApi:
    def test_job_ids(self, admin: RawAdminApi) -> None:
        ids = add(admin, 50)
        assert all(re.fullmatch(r"j[0-9a-f]{32}", job) for job in ids)
        assert len(set(ids)) == 50

    def test_explicit_job_id_and_submitted_datetime(self, admin: RawAdminApi) -> None:
        when = datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC)
        job = admin.sim.state.add_job(GP, job_id="jfixed", submitted=when)
        assert admin.sim.state.get_job(GP, job)["submittedTime"] == epoch_ms(when)
        with pytest.raises(ValueError, match="already exists"):
            admin.sim.state.add_job(GP, job_id="jfixed")

    def test_default_fields(self, admin: RawAdminApi) -> None:
        job = admin.sim.state.get_job(GP, admin.sim.state.add_job(GP))
        assert (job["status"], job["username"], job["machinename"]) == (
            "esriJobExecuting",
            "analyst1",
            "GIS01.EXAMPLE.COM",
        )
        assert job["submittedTime"] == epoch_ms(admin.sim.clock.now())

    def test_jobs_lists_newest_first(self, admin: RawAdminApi) -> None:
        jobs = add(admin, 3)
        assert [job["jobId"] for job in admin.sim.state.jobs(GP)] == list(reversed(jobs))
        assert admin.sim.state.jobs("Buffer") == []

    def test_refusals(self, admin: RawAdminApi) -> None:
        with pytest.raises(KeyError):
            admin.sim.state.add_job("Nope")
        with pytest.raises(KeyError):
            admin.sim.state.add_job("Parcels")  # a MapServer has no jobs
        with pytest.raises(ValueError, match="status"):
            admin.sim.state.add_job(GP, status="running")
        with pytest.raises(KeyError):
            admin.sim.state.set_status(GP, "jmissing", "esriJobFailed")
