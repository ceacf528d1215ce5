"""python -m bench [measure ...]: run the benchmarks (all of them by default) and print one line
per figure, then a summary and a Markdown table for the README.

The exit status is 0 even when a target is missed: the figures are the output. It is 1 only
when a measure could not run at all.
"""

from __future__ import annotations

import argparse
import os
import time
import traceback

from bench import (
    bulk_cancel,
    collector,
    fleet,
    fleet_index,
    history_db,
    idle_cost,
    jobs_page,
    overview,
    polling_load,
    proxy_cancel,
    stack_floor,
    stalled_site,
)
from bench.harness import Bench, Result, machine, say

MEASURES = {
    module.NAME: module
    for module in (
        idle_cost,
        proxy_cancel,
        jobs_page,
        stack_floor,
        overview,
        bulk_cancel,
        polling_load,
        stalled_site,
        fleet,
        fleet_index,
        history_db,
        collector,
    )
}


def markdown(results: list[Result]) -> str:
    lines = [
        "| Measure: portal vs comparison | Portal | Comparison | Ratio | Target | |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for result in results:
        lines.append(
            f"| {result.title} | {result.value(result.portal)} | {result.value(result.comparison)} "
            f"| {result.ratio_text()} | {result.target} | {result.verdict} |"
        )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("measures", nargs="*", metavar="measure", help=f"any of {', '.join(MEASURES)} (default: all)")
    names = parser.parse_args().measures or list(MEASURES)
    unknown = [name for name in names if name not in MEASURES]
    if unknown:
        parser.error(f"unknown measure {', '.join(unknown)}; choose from {', '.join(MEASURES)}")

    started = time.monotonic()
    say(f"Machine: {machine()}")
    bench = Bench()
    say(f"Portal: {bench.description}\n")
    results: list[Result] = []
    crashed: list[str] = []
    # Other work on the machine inflates every figure: say how busy it was.
    loads: list[float] = []
    try:
        for name in names:
            loads.append(os.getloadavg()[0])
            say(f"-- {name} (load average {loads[-1]:.1f})")
            try:
                results += MEASURES[name].run(bench)
            except Exception:
                traceback.print_exc()
                crashed.append(name)
        loads.append(os.getloadavg()[0])
        errors = bench.server_errors()
        if errors:
            say(f"\nThe portal logged {len(errors)} errors, e.g.:\n" + "\n".join(errors[:5]))
    finally:
        bench.close()

    held = [result for result in results if result.met is not None]
    missed = [result.name for result in held if not result.met]
    summary = f"{len(held) - len(missed)} of {len(held)} targets met"
    say(f"\nSummary: {summary}" + (f"; missed: {', '.join(missed)}" if missed else ""))
    if crashed:
        say(f"Could not run: {', '.join(crashed)}")
    conditions = f"1-minute load average {min(loads):.1f}–{max(loads):.1f} during the run" if loads else ""
    say(f"Total time {time.monotonic() - started:.0f} s; {conditions}.\n")
    say(markdown(results))
    say(f"\n`python -m bench` on {machine()}; {conditions}.")
    return 1 if crashed else 0


if __name__ == "__main__":
    raise SystemExit(main())
