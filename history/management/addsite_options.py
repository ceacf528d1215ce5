"""`manage.py addsite … --monitor-user NAME` (then the password on standard input) or `--monitor-token-stdin`: the
site's monitoring account, set with the site. A secret never comes on the command line, where every user of the
host can read it (ps, shell history)."""

from __future__ import annotations

import getpass
from typing import TextIO

from history import monitoring
from jobs.extensions import AddsiteOptions, Apply
from jobs.models import AuditEvent


def add_arguments(parser) -> None:
    group = parser.add_mutually_exclusive_group()
    group.add_argument(
        "--monitor-user",
        metavar="NAME",
        help="the site's read-only ArcGIS account for the job history; its password is read from standard input",
    )
    group.add_argument(
        "--monitor-token-stdin",
        action="store_true",
        help="a long-lived ArcGIS token for the job history, read from standard input",
    )


def read_secret(stdin: TextIO, prompt: str) -> str:
    """One line of standard input (without echo at a terminal)."""
    if stdin.isatty():
        return getpass.getpass(prompt)
    return stdin.readline().rstrip("\r\n")


def prepare(options: dict, stdin: TextIO) -> Apply | None:
    username, wants_token = options.get("monitor_user"), options.get("monitor_token_stdin")
    if not username and not wants_token:
        return None
    if username is not None and not username.strip():
        raise ValueError("--monitor-user needs the account's name.")
    what = f"{username}'s password" if username else "The monitoring token"
    secret = read_secret(stdin, f"{what}: ")
    if not secret:
        raise ValueError(f"{what} is read from standard input, and none came.")

    def apply(site, user) -> str:
        if username:
            monitoring.set_account(site, user, username=username.strip(), password=secret, via=AuditEvent.Via.CLI)
            return f"Monitoring account set: {username.strip()} (its password is kept encrypted)."
        monitoring.set_account(site, user, token=secret, via=AuditEvent.Via.CLI)
        return "Monitoring account set: a token (kept encrypted)."

    return apply


OPTIONS = AddsiteOptions("monitoring account", add_arguments, prepare)
