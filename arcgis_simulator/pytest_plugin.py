"""pytest fixtures: a running simulator per test, with a manual clock and no services.

Load with `pytest_plugins = ["arcgis_simulator.pytest_plugin"]` in a root conftest.py.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from . import ManualClock, Simulator


@pytest.fixture
def simulator() -> Iterator[Simulator]:
    """An empty site over HTTP; add services and jobs through `simulator.state`."""
    with Simulator("empty", clock=ManualClock()) as sim:
        yield sim


@pytest.fixture
def tls_simulator(tmp_path: Path) -> Iterator[Simulator]:
    """The same over HTTPS; trust it with `verify=tls_simulator.cert_path`."""
    with Simulator("empty", clock=ManualClock(), tls=True, cert_dir=tmp_path / "simulator-tls") as sim:
        yield sim
