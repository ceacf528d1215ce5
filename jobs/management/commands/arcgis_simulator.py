"""`python manage.py arcgis_simulator …`: runs the stand-alone ArcGIS Server simulator."""

from __future__ import annotations

from django.core.management.base import BaseCommand

from arcgis_simulator.cli import build_parser, main


class Command(BaseCommand):
    help = "Run the ArcGIS Server simulator; every argument is passed on to it (see --help)."

    def run_from_argv(self, argv: list[str]) -> None:
        # The simulator has its own argument parser: hand it the command line untouched.
        raise SystemExit(main(argv[2:], prog=f"{argv[0]} {argv[1]}"))

    def print_help(self, prog_name: str, subcommand: str) -> None:
        build_parser(prog=f"{prog_name} {subcommand}").print_help()

    def handle(self, *args: str, **options: object) -> None:
        main([], prog="arcgis_simulator")
