"""What the required stack costs before the portal does any work of its own, measured beside the portal.

A second gunicorn serves the portal's settings (the same middleware, sessions, CSRF, signing in, caches) with the
views of bench/floor_urls.py only: a signed-in page that calls no one, one that reads a page of 50 jobs with the
portal's ArcGIS client, and a CSRF-checked POST that cancels one job with it. Against the same direct calls as
proxy_cancel and jobs_page (20 ms upstream), interleaved with the portal's own cancel, table and pair:

- floor_cancel: the least a cancel proxy costs, over one direct POST. Issue 24's 1.25× leaves the portal what the
  direct POST times 1.25 exceeds this by, for its audit row (written, completed), the token, the checks and the row.
- floor_table: the least a jobs table costs, over one direct jobs/query; the 1.5× target leaves the rest.
- floor_cpu: the workers' CPU of the least pair (the page that calls no one, then the read), against 10 ms a page.
"""

from __future__ import annotations

import itertools

from bench import jobs_page, proxy_cancel
from bench.harness import Bench, Portal, Result, interleaved, median, say, seconds, timed

NAME = "stack_floor"
LATENCY_MS = 20
ROUNDS = 7
PER_ROUND = 10
WARM_UP = 3
SERVICE = "Floor"
JOBS = 10_000


def run(bench: Bench) -> list[Result]:
    with bench.site("floor", LATENCY_MS) as site:
        simulator = site.simulator
        simulator.call("add_service", SERVICE)
        simulator.call("add_jobs", SERVICE, JOBS, jobs_page.STATUSES, spread_s=1.5)
        fresh = iter(simulator.call("add_jobs", SERVICE, 3 * (WARM_UP + ROUNDS * PER_ROUND)))
        token = bench.connect("olivia", site)
        upstream = site.upstream(token)
        env = bench.env | {
            "DJANGO_SETTINGS_MODULE": "bench.floor_settings",
            "FLOOR_ADMIN_URL": simulator.admin_url,
            "FLOOR_REFERER": site.site.effective_referer,
            "FLOOR_TOKEN": token,
            "FLOOR_SERVICE": SERVICE,
        }
        floor_portal = Portal(env, bench.dir / "gunicorn-floor.log").start()
        try:
            return _measure(bench, site, upstream, floor_portal, fresh)
        finally:
            floor_portal.stop()


def _measure(bench: Bench, site, upstream, floor_portal: Portal, fresh) -> list[Result]:
    portal = bench.portal()
    browser, floor = bench.browser("olivia"), bench.browser("olivia", floor_portal)
    pages = {name: itertools.count() for name in ("direct", "floor", "portal")}
    jobs_path = f"/sites/{site.slug}/services/{SERVICE}.GPServer/jobs/"

    def start(side: str) -> int:
        """Every read asks for another page of the service (as jobs_page's do): nothing is answered from a share."""
        return next(pages[side]) % (JOBS // 50) * 50 + 1

    def direct_cancel() -> float:
        job_id = next(fresh)
        elapsed, body = timed(lambda: upstream.post(f"services/{SERVICE}.GPServer/jobs/{job_id}/cancel"))
        if body.get("status") != "success":
            raise RuntimeError(f"direct cancel of {job_id}: {body}")
        return elapsed

    def floor_cancel() -> float:
        job_id = next(fresh)
        elapsed, answer = timed(lambda: floor.post(f"/jobs/{job_id}/cancel/", {}))
        if answer.status_code != 200 or answer.json() != {"status": "success"}:
            raise RuntimeError(f"floor cancel of {job_id}: HTTP {answer.status_code}: {answer.text[:200]}")
        return elapsed

    def portal_cancel() -> float:
        return proxy_cancel.cancel_through_portal(browser, site.slug, next(fresh), service=SERVICE)

    def direct_query() -> float:
        query = {**jobs_page.QUERY, "start": start("direct")}
        elapsed, body = timed(lambda: upstream.get(f"services/{SERVICE}.GPServer/jobs/query", **query))
        if len(body.get("results") or {}) != 50:
            raise RuntimeError(f"direct query: {len(body.get('results') or {})} jobs")
        return elapsed

    def floor_get(path: str, expected: str) -> float:
        elapsed, answer = timed(lambda: floor.get(path))
        if answer.status_code != 200 or expected not in answer.text:
            raise RuntimeError(f"floor {path}: HTTP {answer.status_code}: {answer.text[:200]}")
        return elapsed

    def floor_table() -> float:
        return floor_get(f"/query/{start('floor')}/", "50 of")

    def floor_pair() -> float:
        return floor_get("/nothing/", "Signed in as olivia") + floor_table()

    def portal_table() -> float:
        return jobs_page.load_table(browser, jobs_path, start("portal") // 50 + 1)

    def portal_pair() -> float:
        return jobs_page.load_pair(browser, jobs_path, start("portal") // 50 + 1)

    sides = {
        "direct_cancel": direct_cancel,
        "floor_cancel": floor_cancel,
        "portal_cancel": portal_cancel,
        "direct_query": direct_query,
        "floor_table": floor_table,
        "floor_pair": floor_pair,
        "portal_table": portal_table,
        "portal_pair": portal_pair,
    }
    for _ in range(WARM_UP):  # connections opened, templates compiled
        for side in sides.values():
            side()
    cpu: dict[str, list[float]] = {name: [] for name in sides}
    meters = {name: (floor_portal if name.startswith("floor") else portal) for name in sides}
    metered = {name: meters[name].metered(side, cpu[name]) for name, side in sides.items()}
    times = interleaved(metered, ROUNDS, PER_ROUND)
    medians = {name: median(values) for name, values in times.items()}
    # The workers' CPU clock ticks every 10 ms: a request's own share is the mean over many.
    return report(medians, {name: sum(spent) / len(spent) for name, spent in cpu.items()})


def report(times: dict[str, float], cpu: dict[str, float]) -> list[Result]:
    cancel, query = times["direct_cancel"], times["direct_query"]
    cancel_room = cancel * proxy_cancel.TARGET_RATIO - times["floor_cancel"]
    table_room = query * jobs_page.TARGET_RATIO - times["floor_table"]
    results = [
        Result(
            f"{NAME}_cancel",
            f"The least a cancel proxy costs (signed in, CSRF, one POST) vs direct POST, {LATENCY_MS} ms upstream",
            times["floor_cancel"],
            cancel,
            "(information)",
            None,
            note=f"{proxy_cancel.TARGET_RATIO}× leaves the portal's own work {seconds(cancel_room)}; the portal's "
            f"cancel {times['portal_cancel'] / cancel:.2f}× beside it; {seconds(cpu['floor_cancel'])} of workers' CPU "
            f"(the portal's {seconds(cpu['portal_cancel'])})",
        ),
        Result(
            f"{NAME}_table",
            f"The least a jobs table costs (signed in, a page read) vs one jobs/query, {LATENCY_MS} ms upstream",
            times["floor_table"],
            query,
            "(information)",
            None,
            note=f"{jobs_page.TARGET_RATIO}× leaves the portal's own work {seconds(table_room)}; the portal's table "
            f"{times['portal_table'] / query:.2f}×, its pair {times['portal_pair'] / query:.2f}× beside it",
        ),
        Result(
            f"{NAME}_cpu",
            "The least a jobs page costs the workers: a signed-in page that calls no one, then the read",
            cpu["floor_pair"],
            None,
            f"≤ {seconds(jobs_page.TARGET_CPU)} (the pages' target)",
            None,
            note=f"the least table alone {seconds(cpu['floor_table'])}; the portal's pair "
            f"{seconds(cpu['portal_pair'])}, its table {seconds(cpu['portal_table'])}",
        ),
    ]
    for result in results:
        say(result.line())
    return results
