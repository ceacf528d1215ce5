"""What a pause costs the next request on this machine: `/healthz` (the portal's cheapest request: gunicorn, the
middleware, a view that touches nothing) sent back-to-back, and sent after a 20 ms pause, as every request of the
other benchmarks comes after one (each waits 20 ms for ArcGIS). Interleaved; the workers' CPU of each too.

Nothing here is the portal's doing: it is how much slower the same code runs once the machine has idled for a
moment (caches gone cold, a virtual CPU woken). Read the other ratios with it in mind: the portal's own part of
each request is paid at this rate, the upstream wait it is compared with is not.
"""

from __future__ import annotations

import time

from bench.harness import Bench, Result, interleaved, median, say, seconds

NAME = "idle_cost"
PAUSE = 0.020  # seconds: the other benchmarks' upstream latency
ROUNDS = 10
BLOCK = 30  # requests in a row: each side is measured by blocks, the workers' CPU clock read before and after


def run(bench: Bench) -> list[Result]:
    portal = bench.portal()
    browser = bench.browser("olivia")

    def healthz() -> float:
        started = time.perf_counter()
        answer = browser.get("/healthz")
        elapsed = time.perf_counter() - started
        if answer.status_code != 200:
            raise RuntimeError(f"/healthz: HTTP {answer.status_code}")
        return elapsed

    def block(pause: float) -> float:
        """The median of BLOCK requests, each `pause` after the one before."""
        elapsed = []
        for _ in range(BLOCK):
            time.sleep(pause)
            elapsed.append(healthz())
        return median(elapsed)

    sides = {"back_to_back": lambda: block(0), "after_a_pause": lambda: block(PAUSE)}
    for side in sides.values():  # warm up
        side()
    cpu: dict[str, list[float]] = {name: [] for name in sides}
    times = interleaved({name: portal.metered(side, cpu[name]) for name, side in sides.items()}, ROUNDS)
    warm, cold = median(times["back_to_back"]), median(times["after_a_pause"])
    cpu_warm, cpu_cold = (sum(cpu[name]) / (len(cpu[name]) * BLOCK) for name in ("back_to_back", "after_a_pause"))
    result = Result(
        NAME,
        f"/healthz after a {PAUSE * 1000:.0f} ms pause vs back-to-back (this machine, not the portal)",
        cold,
        warm,
        "(information)",
        None,
        note=f"workers' CPU per request {seconds(cpu_cold)} after a pause, {seconds(cpu_warm)} back-to-back; "
        f"{ROUNDS} interleaved blocks of {BLOCK} of each",
    )
    say(result.line())
    return [result]
