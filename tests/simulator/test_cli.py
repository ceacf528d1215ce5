"""The command line: `python -m arcgis_simulator` and `python manage.py arcgis_simulator`."""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import requests

from arcgis_simulator.cli import build_parser
from arcgis_simulator.scenarios import SCENARIOS
from arcgis_simulator.token_store import User
from tests.helpers import listen_to_ctrl_c

ROOT = Path(__file__).resolve().parents[2]


@contextmanager
def running(*command: str) -> Iterator[tuple[str, list[str]]]:
    """Start the simulator, yield its base URL and banner, then stop it with Ctrl-C."""
    process = subprocess.Popen(
        command,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=listen_to_ctrl_c,
    )
    try:
        banner = []
        while not banner or not banner[-1].startswith("Press Ctrl-C"):
            line = process.stdout.readline()
            if not line:
                pytest.fail(f"simulator exited early: {process.communicate()[1]}")
            banner.append(line.rstrip("\n"))
        yield banner[0].rsplit(" at ", 1)[1], banner
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=30)  # a bound for a hang, generous for a loaded machine
        assert process.returncode == 0, err
        assert out.strip().endswith("Stopped.")
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()


def test_parser() -> None:
    args = build_parser().parse_args(["--user", "ops:pw:admin", "--user", "viewer:pw", "--tls", "--latency-ms", "20"])
    assert args.user == [User("ops", "pw", admin=True), User("viewer", "pw")]
    assert (args.tls, args.latency_ms, args.port, args.scenario, args.host) == (True, 20, 6443, "demo", "127.0.0.1")


def test_scenario_options() -> None:
    args = build_parser().parse_args(["--scenario", "fleet", "--scenario-option", "services=200"])
    assert (args.scenario, args.scenario_option, args.max_file_age) == ("fleet", ["services=200"], None)
    assert SCENARIOS["fleet"].parse("jobs_per_minute=2.5") == ("jobs_per_minute", 2.5)


@pytest.mark.parametrize(
    "argv",
    [
        ["--user", "nopassword"],
        ["--user", "a:b:root"],
        ["--cert", "c.pem"],
        ["--scenario", "fleet", "--scenario-option", "colour=red"],
        ["--scenario", "fleet", "--scenario-option", "services=many"],
        ["--scenario", "fleet", "--scenario-option", "services"],
        ["--scenario", "fleet", "--scenario-option", "services=0"],
        ["--scenario", "demo", "--scenario-option", "services=3"],
    ],
)
def test_parser_refusals(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    from arcgis_simulator.cli import main

    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == 2
    assert capsys.readouterr().err


def test_python_m(tmp_path: Path) -> None:
    command = [sys.executable, "-m", "arcgis_simulator", "--port", "0", "--scenario", "empty", "--manual-clock"]
    command += ["--user", "ops:secret:admin", "--tls", "--cert-dir", str(tmp_path)]
    with running(*command) as (base_url, banner):
        assert base_url.startswith("https://127.0.0.1:")
        text = "\n".join(banner)
        assert "ops/secret (admin)" in text and "siteadmin" not in text
        assert f"certificate: {tmp_path / 'cert.pem'}" in text
        with requests.Session() as session:
            session.trust_env = False  # else REQUESTS_CA_BUNDLE would override verify
            session.verify = str(tmp_path / "cert.pem")
            control = base_url.rsplit("/", 1)[0] + "/_simulator"
            session.post(control + "/services", json={"name": "Buffer"})
            job = session.post(control + "/jobs", json={"service": "Buffer"}).json()["jobId"]
            login = {"username": "ops", "password": "secret", "f": "json"}
            token = session.post(base_url + "/tokens/generateToken", data=login).json()["token"]
            cancel = f"{base_url}/admin/services/Buffer.GPServer/jobs/{job}/cancel"
            assert session.post(cancel, data={"f": "json", "token": token}).json() == {"status": "success"}
            session.post(control + "/clock/advance", json={"seconds": 2})
            state = session.get(control + "/state").json()
            assert state["jobs"] == {"Buffer": {"esriJobCancelled": 1}}


def test_python_m_with_scenario_options() -> None:
    command = [sys.executable, "-m", "arcgis_simulator", "--port", "0", "--scenario", "fleet", "--manual-clock"]
    command += ["--scenario-option", "services=3", "--scenario-option", "jobs_per_minute=2"]
    with running(*command) as (base_url, banner):
        assert banner[0].startswith("ArcGIS Server simulator, scenario 'fleet' (services=3, jobs_per_minute=2.0), at ")
        state = requests.get(base_url.rsplit("/", 1)[0] + "/_simulator/state", timeout=5).json()
        assert state["scenarioOptions"] == {"services": 3, "jobs_per_minute": 2.0}
        assert [s["name"] for s in state["services"]] == ["Tool000", "Tool001", "Tool002"]
        # one every 10 seconds, from 11.5 minutes before the start (as long as a job may take) to the start itself
        assert sum(sum(counts.values()) for counts in state["jobs"].values()) == 70


def test_manage_py() -> None:
    with running(sys.executable, "manage.py", "arcgis_simulator", "--port", "0", "--scenario", "demo") as (url, _):
        answer = requests.get(url + "/rest/info", params={"f": "json"}, timeout=5).json()
        assert answer["authInfo"]["tokenServicesUrl"] == url + "/tokens/generateToken"
