"""`make run`'s demo, end to end: from an empty data directory the portal, the simulator and the background worker
start, the printed login works, live jobs are listed and one can be cancelled, the example policy previews; Ctrl-C
stops everything. Its console shows the settings' warnings once and the logins last, and stays quiet while people
use the portal."""

import os
import re
import signal
import socket
import subprocess
import sys
import time

import pytest
import requests

from tests.helpers import ROOT, listen_to_ctrl_c


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def demo(tmp_path):
    env = {key: value for key, value in os.environ.items() if not key.startswith(("DJANGO_", "DATABASE_", "REDIS_"))}
    env |= {
        "DJANGO_SETTINGS_MODULE": "dashboard.settings",
        "PORTAL_VAR_DIR": str(tmp_path / "var"),
        "DJANGO_STATIC_ROOT": str(tmp_path / "static"),
    }
    port = free_port()  # the demo migrates and collects the static files itself
    log = (tmp_path / "demo.log").open("w+")
    process = subprocess.Popen(
        [sys.executable, "manage.py", "demo", "--addr", f"127.0.0.1:{port}", "--latency-ms", "0"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        preexec_fn=listen_to_ctrl_c,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and process.poll() is None:
        try:
            if requests.get(f"{url}/healthz", timeout=1).status_code == 200:
                break
        except requests.ConnectionError:
            time.sleep(0.2)
    log.seek(0)
    output = log.read()
    assert process.poll() is None, output
    yield url, output, process, log
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=90)
    log.close()


def test_the_demo_logs_in_lists_live_jobs_and_cancels_one(demo):
    url, output, process, log = demo
    # The banner prints the logins it created.
    assert re.search(r"operator\s+/ operator\s+\(Operator\)", output), output
    simulator_url = re.search(r"Simulated ArcGIS Server: (https://\S+)", output).group(1)

    browser = requests.Session()
    browser.trust_env = False
    browser.get(f"{url}/accounts/login/")
    login = browser.post(
        f"{url}/accounts/login/",
        {"username": "operator", "password": "operator", "csrfmiddlewaretoken": browser.cookies["csrftoken"]},
    )
    assert login.status_code == 200 and "Demo ArcGIS Server (simulated)" in login.text
    assert "Connected as operator" in login.text  # the demo operator's own ArcGIS account, already connected

    jobs_page = browser.get(
        f"{url}/sites/demo/services/Hydrology/FloodModel.GPServer/jobs/",
        params={"status": "esriJobExecuting", "inline": "1"},  # the page as it renders without JavaScript
    )
    assert jobs_page.status_code == 200
    running = re.findall(r'<tr id="job-(\w+)" data-status="esriJobExecuting"', jobs_page.text)
    assert running, "the demo has executing jobs to cancel"

    answer = browser.post(
        f"{url}/sites/demo/services/Hydrology/FloodModel.GPServer/jobs/{running[0]}/cancel/",
        headers={"HX-Request": "true", "X-CSRFToken": browser.cookies["csrftoken"]},
    )
    assert answer.status_code == 200
    assert 'data-status="esriJobCancelling"' in answer.text and "Cancel requested" in answer.text
    # The audit trail names who acted, and so does the simulated server's own log.
    audit = browser.get(f"{url}/audit/", params={"job": running[0]}).text
    assert re.search(r'<td data-label="Who">operator</td>', audit), audit

    # Every demo user is connected with an ArcGIS account of their own; the viewer's may only read.
    for username in ("siteadmin", "viewer"):
        other = requests.Session()
        other.trust_env = False
        other.get(f"{url}/accounts/login/")
        page = other.post(
            f"{url}/accounts/login/",
            {"username": username, "password": username, "csrfmiddlewaretoken": other.cookies["csrftoken"]},
        )
        assert f"Connected as {username}" in page.text
    token = requests.post(
        f"{simulator_url}/generateToken",
        {"username": "viewer", "password": "viewer", "client": "requestip", "f": "json"},
        verify=False,
        timeout=5,
    ).json()["token"]
    refused = requests.post(
        f"{simulator_url}/services/Hydrology/FloodModel.GPServer/jobs/{running[0]}/cancel",
        {"token": token, "f": "json"},
        verify=False,
        timeout=5,
    ).json()
    assert refused["code"] == 403 and "You do not have permissions" in str(refused), refused  # not an administrator

    # The example cancel policy is there, disabled, and its preview finds the FloodModel job running for hours.
    worker_pid = int(re.search(r"Background worker .*, pid (\d+)", output).group(1))
    policies = browser.get(f"{url}/policies/").text
    example = re.search(
        r'<tr id="policy-(\d+)" data-enabled="false">\s*<td data-label="Policy"><a [^>]*>Night cleanup', policies
    )
    assert example, policies
    preview = browser.post(
        f"{url}/policies/{example.group(1)}/preview/", {"csrfmiddlewaretoken": browser.cookies["csrftoken"]}
    )
    assert preview.status_code == 200 and "Running long" in preview.text, preview.text

    # Ctrl-C stops the portal, the background worker and the simulator with it.
    process.send_signal(signal.SIGINT)
    assert process.wait(timeout=90) == 0  # a bound for a hang, generous for a loaded machine
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{simulator_url}?f=json", timeout=2, verify=False)
    with pytest.raises(ProcessLookupError):
        os.kill(worker_pid, 0)
    log.seek(0)
    assert f"cancel: Hydrology/FloodModel/{running[0]} by operator" in log.read()


def sign_in(url: str, username: str) -> requests.Session:
    session = requests.Session()
    session.trust_env = False
    session.get(f"{url}/accounts/login/")
    answer = session.post(
        f"{url}/accounts/login/",
        {"username": username, "password": username, "csrfmiddlewaretoken": session.cookies["csrftoken"]},
    )
    assert answer.status_code == 200
    return session


def test_the_demos_console_keeps_the_logins_in_sight(demo):
    url, output, _process, log = demo
    # The settings' warnings once (not once per command), and the logins last: no server or worker banner after them.
    assert output.count("DJANGO_SECRET_KEY is not set") == 1, output
    assert output.rstrip().endswith("Ctrl-C stops the portal, the background worker and the simulator."), output
    assert "Starting development server" not in output and "celery@" not in output
    assert re.search(r"its log: (\S+worker\.log)", output)

    # People use the portal: no line per request, and a viewer refused a page is one line, not a traceback.
    operator = sign_in(url, "operator")
    for path in ("/", "/jobs/", "/audit/", "/policies/"):
        assert operator.get(f"{url}{path}").status_code == 200
    viewer = sign_in(url, "viewer")
    assert viewer.get(f"{url}/policies/").status_code == 403
    time.sleep(0.5)  # what the server writes after answering
    log.seek(0)
    since_banner = log.read()[len(output) :]
    assert "Traceback" not in since_banner, since_banner
    assert '"GET /' not in since_banner and '"POST /' not in since_banner, since_banner
    assert since_banner.count("Forbidden (Permission denied): /policies/") == 1, since_banner
