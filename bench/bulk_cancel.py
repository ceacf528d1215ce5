"""Cancelling 500 jobs at once, each ArcGIS call taking 20 ms.

Portal: one htmx POST to …/jobs/bulk/ (action=cancel, 500 job_ids): 500 audit rows,
500 upstream cancels with at most 16 in flight, 500 rows rendered.
Comparison: a script looping over the same 500 cancels with requests, one after the other.
Each round uses 1000 fresh EXECUTING jobs; the order of the two sides alternates. With at most
16 cancels in flight, 500 × 20 ms cannot take less than ≈ 0.63 s.
"""

from __future__ import annotations

from bench.harness import Bench, Browser, Result, interleaved, median, say, seconds, timed

NAME = "bulk_cancel"
LATENCY_MS = 20
JOBS = 500
ROUNDS = 5
SERVICE = "Batch"
IN_FLIGHT = 16  # ARCGIS_MAX_CONCURRENCY
TARGET_SECONDS = 0.8


def cancel_in_bulk(browser: Browser, slug: str, job_ids: list[str]) -> float:
    """The jobs ticked on the service's page, cancelled with one htmx POST; its answer must hold every row."""
    path = f"/sites/{slug}/services/{SERVICE}.GPServer/jobs/bulk/"
    data = [("action", "cancel"), ("confirmed", "yes"), *(("job_ids", job_id) for job_id in job_ids)]
    elapsed, answer = timed(lambda: browser.post(path, data))
    summary = f"{len(job_ids)} cancellations requested"
    if answer.status_code != 200 or summary not in answer.text:
        raise RuntimeError(f"bulk cancel: HTTP {answer.status_code}: {answer.text[:300]}")
    if answer.text.count("<tr id=") != len(job_ids):
        raise RuntimeError("the bulk answer does not hold one row per job")
    return elapsed


def run(bench: Bench) -> list[Result]:
    from jobs.models import AuditEvent

    with bench.site("bulk", LATENCY_MS) as site:
        simulator = site.simulator
        simulator.call("add_service", SERVICE)
        token = bench.connect("olivia", site)
        browser = bench.browser("olivia")
        upstream = site.upstream(token)

        def portal(job_ids: list[str]) -> float:
            return cancel_in_bulk(browser, site.slug, job_ids)

        def sequential(job_ids: list[str]) -> float:
            def loop() -> None:
                for job_id in job_ids:
                    upstream.post(f"services/{SERVICE}.GPServer/jobs/{job_id}/cancel")

            return timed(loop)[0]

        portal(simulator.call("add_jobs", SERVICE, 20))  # warm up
        sequential(simulator.call("add_jobs", SERVICE, 20))

        def fresh_jobs() -> list[str]:
            return simulator.call("add_jobs", SERVICE, JOBS)

        cpu_before = bench.portal().cpu_seconds()
        # Each side takes its own fresh jobs; adding them is not part of the timing.
        times = interleaved({"portal": lambda: portal(fresh_jobs()), "loop": lambda: sequential(fresh_jobs())}, ROUNDS)
        portal_times, loop_times = times["portal"], times["loop"]
        for round_number, (fast, slow) in enumerate(zip(portal_times, loop_times, strict=True), start=1):
            say(f"   round {round_number}: portal {seconds(fast)}, loop {seconds(slow)}")

        cpu = (bench.portal().cpu_seconds() - cpu_before) / ROUNDS

        # The work was real: one completed audit row per job the portal cancelled.
        audited = AuditEvent.objects.filter(site_slug=site.slug, via="bulk", outcome="success").count()
        if audited != 20 + ROUNDS * JOBS:
            raise RuntimeError(f"{audited} bulk cancels audited, not {20 + ROUNDS * JOBS}")

    fast, slow = median(portal_times), median(loop_times)
    result = Result(
        NAME,
        f"Bulk cancel of {JOBS} jobs vs a sequential loop, {LATENCY_MS} ms each",
        fast,
        slow,
        f"≤ {seconds(TARGET_SECONDS)}",
        fast <= TARGET_SECONDS,
        note=f"the floor with {IN_FLIGHT} in flight is ≈{seconds(JOBS / IN_FLIGHT * LATENCY_MS / 1000)}; "
        f"{seconds(cpu)} of portal CPU per bulk action; {ROUNDS} rounds, {audited} audit rows checked",
    )
    say(result.line())
    return [result]
