"""What the apps above jobs add to its command line without jobs importing them: options of `manage.py addsite`
(history's monitoring account), registered from their AppConfig.ready()."""

from __future__ import annotations

from argparse import ArgumentParser
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TextIO

# Done once the site is saved: (site, the portal user recorded) → a line to print, or None.
Apply = Callable[[Any, Any], str | None]


@dataclass(frozen=True)
class AddsiteOptions:
    """`add_arguments(parser)` adds the options; `prepare(options, stdin)` reads and checks them before the site is
    saved (raising ValueError with what is wrong) and returns what to do once it is, or None when they were not
    given."""

    name: str
    add_arguments: Callable[[ArgumentParser], None]
    prepare: Callable[[dict, TextIO], Apply | None]


ADDSITE: dict[str, AddsiteOptions] = {}


def add_addsite_options(options: AddsiteOptions) -> None:
    ADDSITE[options.name] = options
