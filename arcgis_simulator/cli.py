"""Command line: `python -m arcgis_simulator` and `python manage.py arcgis_simulator`."""

from __future__ import annotations

import argparse
import signal
import threading

from . import faults
from .api import ADMIN, REST
from .clock import ManualClock
from .scenarios import SCENARIOS
from .simulator import Simulator
from .token_store import User


def _user(spec: str) -> User:
    try:
        return User.parse(spec)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def build_parser(prog: str | None = None) -> argparse.ArgumentParser:
    options = "; ".join(f"{name}: {s.describe_options()}" for name, s in sorted(SCENARIOS.items()) if s.options())
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Run a fake ArcGIS Server site (Administrator API, tokens, GP jobs) with fault injection.",
        epilog=f"Scenario options (--scenario-option NAME=VALUE), with their defaults: {options}. "
        f"Fault kinds for the control API (POST /_simulator/faults): {', '.join(faults.KINDS)}.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default: %(default)s)")
    parser.add_argument("--port", type=int, default=6443, help="port, 0 for any free one (default: %(default)s)")
    parser.add_argument("--scenario", choices=sorted(SCENARIOS), default="demo", help="default: %(default)s")
    parser.add_argument(
        "--scenario-option",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="an option of the scenario (repeatable), e.g. --scenario fleet --scenario-option services=200",
    )
    parser.add_argument("--tls", action="store_true", help="serve HTTPS with a generated self-signed certificate")
    parser.add_argument("--cert", help="serve HTTPS with this PEM certificate (needs --key)")
    parser.add_argument("--key", help="PEM private key for --cert")
    parser.add_argument("--cert-dir", help="where to write the generated certificate (default: a temporary directory)")
    parser.add_argument("--latency-ms", type=float, default=0, help="added to every ArcGIS request")
    parser.add_argument(
        "--user",
        action="append",
        type=_user,
        metavar="NAME:PASSWORD[:admin]",
        help="a user (repeatable); replaces the default siteadmin/siteadmin and publisher/publisher",
    )
    parser.add_argument("--seed", type=int, default=0, help="makes generated jobs reproducible")
    parser.add_argument("--cancel-delay", type=float, default=2.0, help="seconds from CANCELLING to CANCELLED")
    parser.add_argument(
        "--max-file-age",
        type=float,
        help="seconds finished jobs are kept (default: the scenario's: 6 hours, demo 8 days, fleet 1 hour)",
    )
    parser.add_argument("--error-style", choices=("auto", ADMIN, REST), default="auto", help="shape of error bodies")
    parser.add_argument("--site", default="arcgis", help="site name in the URL (default: %(default)s)")
    parser.add_argument(
        "--manual-clock", action="store_true", help="freeze time; move it with POST /_simulator/clock/advance"
    )
    parser.add_argument("--verbose", action="store_true", help="print every request")
    return parser


def main(argv: list[str] | None = None, prog: str | None = None) -> int:
    parser = build_parser(prog)
    args = parser.parse_args(argv)
    if (args.cert is None) != (args.key is None):
        parser.error("--cert and --key go together")
    try:
        options = dict(SCENARIOS[args.scenario].parse(spec) for spec in args.scenario_option)
    except ValueError as error:
        parser.error(f"--scenario-option: {error}")
    try:
        sim = Simulator(
            args.scenario,
            scenario_options=options,
            host=args.host,
            port=args.port,
            tls=args.tls,
            cert=args.cert,
            key=args.key,
            cert_dir=args.cert_dir,
            latency_ms=args.latency_ms,
            users=args.user,
            clock=ManualClock() if args.manual_clock else None,
            seed=args.seed,
            cancel_delay=args.cancel_delay,
            error_style=args.error_style,
            site=args.site,
            max_file_age=args.max_file_age,
            verbose=args.verbose,
        )
    except ValueError as error:  # e.g. a scenario option out of range
        parser.error(str(error))
    try:
        sim.start()
    except OSError as error:
        parser.exit(2, f"cannot listen on {args.host}:{args.port}: {error}\n")
    stopped = threading.Event()
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    chosen = ", ".join(f"{name}={value}" for name, value in options.items())
    print(f"ArcGIS Server simulator, scenario {args.scenario!r}{f' ({chosen})' if chosen else ''}, at {sim.base_url}")
    print(f"  admin:       {sim.admin_url}")
    print(f"  tokens:      {sim.token_url}")
    print(f"  control:     {sim.control_url}/state")
    if sim.cert_path:
        print(f"  certificate: {sim.cert_path}")
    print("  users:       " + ", ".join(f"{u.name}/{u.password}{' (admin)' if u.admin else ''}" for u in sim.users))
    print("Press Ctrl-C to stop.", flush=True)
    try:
        while not stopped.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        sim.stop()
    print("Stopped.", flush=True)
    return 0
