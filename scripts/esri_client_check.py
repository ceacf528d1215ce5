"""Esri's own Python client, unchanged, against the simulator over HTTPS (a fidelity check, run by hand).

Esri's `arcgis` package is large and not one of the portal's requirements, so this runs in a venv
of its own:

    python3 -m venv /tmp/esri && /tmp/esri/bin/pip install arcgis==2.4.4
    /tmp/esri/bin/python scripts/esri_client_check.py

It signs in through the token service, lists a folder's GP services, searches a service's executing
jobs, reads one, cancels it, cancels it again and a finished job (both refused), purges the queue
and reads the job's Services Directory page the job names. Any difference stops it with an error.
"""

from __future__ import annotations

import sys
import tempfile
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
warnings.filterwarnings("ignore")  # the simulator's certificate is self-signed: Esri's client says so

from arcgis.gis.server import Server  # noqa: E402
from arcgis.gis.server.admin._services import Job  # noqa: E402

from arcgis_simulator import Simulator  # noqa: E402

SERVICE = "Hydrology/Watershed"


def main() -> None:
    with Simulator("empty", tls=True, cert_dir=tempfile.mkdtemp()) as sim:
        sim.state.add_service("Watershed", folder="Hydrology")
        running = {sim.state.add_job(SERVICE, status="esriJobExecuting") for _ in range(3)}
        queued = [sim.state.add_job(SERVICE, status="esriJobSubmitted") for _ in range(2)]
        finished = sim.state.add_job(SERVICE, status="esriJobSucceeded")

        server = Server(url=sim.admin_url, username="siteadmin", password="siteadmin", verify_cert=False)
        services = [s for s in server.services.list(folder="Hydrology") if s.url.endswith(".GPServer")]
        check("the folder's GP services", [s.url.rsplit("/", 1)[-1] for s in services], ["Watershed.GPServer"])
        service = services[0]

        found = service.jobs.search(status="esriJobExecuting")
        check("the executing jobs", {job.url.rsplit("/", 1)[-1] for job in found}, running)
        job = found[0]
        properties = job.properties
        check("a job's status", properties["status"], "esriJobExecuting")
        check("cancel", job.cancel(), "success")
        check("cancel again", job.cancel(), "error")  # Esri's client returns the answer's status
        check("cancel a finished job", Job(url=f"{service.url}/jobs/{finished}", con=server._con).cancel(), "error")
        check("purge", service.jobs.purge(), {"status": "success"})
        after_purge = [sim.state.get_job(SERVICE, job_id)["status"] for job_id in queued]
        check("the queue after purge", after_purge, ["esriJobCancelled"] * 2)
        page = server._con.get(properties["url"], {"f": "json"})
        check("the job's page", (page["jobId"], page["jobStatus"]), (job.url.rsplit("/", 1)[-1], "esriJobCancelling"))
        check("its messages are a list", isinstance(page["messages"], list) and bool(page["messages"]), True)
    print("Esri's client works against the simulator.")


def check(what: str, found, expected) -> None:
    if found != expected:
        raise SystemExit(f"{what}: expected {expected!r}, got {found!r}")
    print(f"ok  {what}: {found!r}")


if __name__ == "__main__":
    main()
