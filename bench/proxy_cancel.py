"""The proxy's cost: one htmx cancel through the portal vs the same cancel posted straight to ArcGIS.

Portal: POST …/jobs/<id>/cancel/ as the row's button sends it (session and CSRF checked,
audit row written and completed, token decrypted, upstream cancel, row rendered).
Comparison: POST ADMIN/…/jobs/<id>/cancel with requests, token in the body.
Both at 20 ms upstream latency, each on a fresh EXECUTING job, pairs interleaved.
"""

from __future__ import annotations

from bench.harness import Bench, Browser, Result, interleaved, median, say, seconds, timed

NAME = "proxy_cancel"
LATENCY_MS = 20
ROUNDS = 7
PAIRS = 15  # per round
WARM_UP = 3
SERVICE = "Cancels"
TARGET_RATIO = 1.25


def cancel_through_portal(browser: Browser, slug: str, job_id: str, service: str = SERVICE) -> float:
    """One cancel as the row's button sends it; its answer must be the row, saying so."""
    path = f"/sites/{slug}/services/{service}.GPServer/jobs/{job_id}/cancel/"
    elapsed, answer = timed(lambda: browser.post(path, {}))
    row = f'id="job-{job_id}"' in answer.text and "Cancel requested" in answer.text
    if answer.status_code != 200 or not row:
        raise RuntimeError(f"portal cancel of {job_id}: HTTP {answer.status_code}: {answer.text[:300]}")
    return elapsed


def run(bench: Bench) -> list[Result]:
    from jobs.models import AuditEvent

    with bench.site("cancel", LATENCY_MS) as site:
        simulator = site.simulator
        simulator.call("add_service", SERVICE)
        needed = 2 * (ROUNDS * PAIRS + WARM_UP)
        jobs = iter(simulator.call("add_jobs", SERVICE, needed))
        token = bench.connect("olivia", site)
        browser = bench.browser("olivia")
        upstream = site.upstream(token)

        def portal_cancel() -> float:
            job_id = next(jobs)
            portal_jobs.append(job_id)
            return cancel_through_portal(browser, site.slug, job_id)

        def direct_cancel() -> float:
            job_id = next(jobs)
            elapsed, body = timed(lambda: upstream.post(f"services/{SERVICE}.GPServer/jobs/{job_id}/cancel"))
            if body.get("status") != "success":
                raise RuntimeError(f"direct cancel of {job_id}: {body}")
            direct_jobs.append(job_id)
            return elapsed

        portal_jobs: list[str] = []
        direct_jobs: list[str] = []
        for _ in range(WARM_UP):  # connections opened, templates compiled
            portal_cancel()
            direct_cancel()
        cpu_before = bench.portal().cpu_seconds()
        times = interleaved({"portal": portal_cancel, "direct": direct_cancel}, ROUNDS, PAIRS)
        portal_times, direct_times = times["portal"], times["direct"]
        cpu = (bench.portal().cpu_seconds() - cpu_before) / len(portal_times)

        # The work was real: every portal cancel is audited as a success and every job is cancelling.
        audited = AuditEvent.objects.filter(
            site_slug=site.slug, action="cancel", outcome="success", job_id__in=portal_jobs
        ).count()
        statuses = simulator.call("statuses", SERVICE, portal_jobs + direct_jobs)
        stopped = sum(status in ("esriJobCancelling", "esriJobCancelled") for status in statuses.values())
        if audited != len(portal_jobs) or stopped != len(statuses):
            raise RuntimeError(f"{audited} of {len(portal_jobs)} audited, {stopped} of {len(statuses)} cancelled")

    portal, direct = median(portal_times), median(direct_times)
    result = Result(
        NAME,
        f"Cancel one job: proxy (htmx POST) vs direct POST, {LATENCY_MS} ms upstream",
        portal,
        direct,
        f"ratio ≤ {TARGET_RATIO}×",
        portal / direct <= TARGET_RATIO,
        note=f"the proxy adds {seconds(portal - direct)}, {seconds(cpu)} of portal CPU per cancel; "
        f"{len(portal_times)} + {len(direct_times)} cancels over {ROUNDS} interleaved rounds; "
        f"{audited} audit rows checked",
    )
    say(result.line())
    return [result]
