"""A change's before and after: two portals side by side, this checkout and another one (a worktree of the commit
before the change, with the same migrations), on one database, one Redis and one simulator, the same requests
interleaved between them. Whatever else the machine does weighs on both, so their ratio holds where a whole bench
run's figures drift from one run to the next.

    git worktree add ../before HEAD~1
    python -m bench.side_by_side ../before table     # or: shell, inline, pair, cancel, bulk

prints each side's median wall time and its workers' CPU per request, and the ratios (this checkout over the other).
The requests are the jobs_page, proxy_cancel and bulk_cancel benchmarks' own, at their 20 ms upstream.
"""

from __future__ import annotations

import argparse
import itertools
import statistics
from collections.abc import Callable
from pathlib import Path

from bench import bulk_cancel, jobs_page, proxy_cancel
from bench.harness import Bench, Browser, Portal, interleaved, say

KINDS = ("table", "shell", "inline", "pair", "cancel", "bulk")
ROUNDS = 10
PER_ROUND = 20
WARM_UP = 7
BULK_ROUNDS, BULK_PER_ROUND, BULK_WARM_UP = 6, 2, 2  # each cancels 500 jobs


def _requests(kind: str, site, browser: Browser) -> Callable[[], float]:
    """One request of this kind (the next page of the 10,000-job service each time, or the next fresh job)."""
    if kind == "bulk":
        fresh = lambda: site.simulator.call("add_jobs", bulk_cancel.SERVICE, bulk_cancel.JOBS)  # noqa: E731
        return lambda: bulk_cancel.cancel_in_bulk(browser, site.slug, fresh())
    if kind == "cancel":
        jobs = iter(site.simulator.call("add_jobs", proxy_cancel.SERVICE, 2 * (WARM_UP + ROUNDS * PER_ROUND)))
        return lambda: proxy_cancel.cancel_through_portal(browser, site.slug, next(jobs))
    path = jobs_page.page_path(site.slug, jobs_page.BIG)
    pages = itertools.cycle(range(1, jobs_page.PAGES + 1))
    load = {
        "table": jobs_page.load_table,
        "shell": jobs_page.load_shell,
        "inline": jobs_page.load_inline,
        "pair": jobs_page.load_pair,
    }[kind]
    return lambda: load(browser, path, next(pages))


def compare(other: Path, kinds: list[str]) -> None:
    bench = Bench()
    with bench.site("archive", jobs_page.LATENCY_MS) as site:
        site.simulator.call("add_service", jobs_page.BIG)
        site.simulator.call("add_jobs", jobs_page.BIG, jobs_page.BIG_JOBS, jobs_page.STATUSES, spread_s=1.5)
        site.simulator.call("add_service", proxy_cancel.SERVICE)
        site.simulator.call("add_service", bulk_cancel.SERVICE)
        bench.connect("olivia", site)
        portals = {}
        for name, checkout in (("other", other), ("this", None)):
            env = bench.env | {"REDIS_KEY_PREFIX": f"{bench.env.get('REDIS_KEY_PREFIX', 'bench')}-{name}"}
            where = {"project_dir": checkout} if checkout else {}
            portals[name] = Portal(env, bench.dir / f"gunicorn-{name}.log", **where).start()
        try:
            browsers = {name: bench.browser("olivia", portal) for name, portal in portals.items()}
            for kind in kinds:
                _compare(kind, {name: _requests(kind, site, browser) for name, browser in browsers.items()}, portals)
        finally:
            for portal in portals.values():
                portal.stop()


def _compare(kind: str, calls: dict[str, Callable[[], float]], portals: dict[str, Portal]) -> None:
    spent: dict[str, list[float]] = {name: [] for name in calls}
    rounds, per_round, warm_up = (
        (BULK_ROUNDS, BULK_PER_ROUND, BULK_WARM_UP) if kind == "bulk" else (ROUNDS, PER_ROUND, WARM_UP)
    )
    for call in calls.values():
        for _ in range(warm_up):
            call()
    times = interleaved(
        {name: portals[name].metered(call, spent[name]) for name, call in calls.items()}, rounds, per_round
    )
    wall = {name: statistics.median(values) for name, values in times.items()}
    cpu = {name: statistics.mean(values) for name, values in spent.items()}
    for name, label in (("other", str(portals["other"].project_dir)), ("this", "this checkout")):
        say(f"{kind} {label}: median {wall[name] * 1000:.1f} ms, {cpu[name] * 1000:.2f} ms of worker CPU a request")
    say(
        f"{kind}: this / other: wall {wall['this'] / wall['other']:.3f}, CPU {cpu['this'] / cpu['other']:.3f} "
        f"({len(times['this'])} requests each, interleaved)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.side_by_side", description=__doc__.split("\n\n")[0])
    parser.add_argument("other", type=Path, help="the other checkout (e.g. a worktree of the commit before)")
    parser.add_argument("kinds", nargs="+", choices=KINDS)
    arguments = parser.parse_args()
    if not (arguments.other / "manage.py").is_file():
        parser.error(f"{arguments.other} is not a checkout of the portal")
    compare(arguments.other.resolve(), arguments.kinds)


if __name__ == "__main__":
    main()
