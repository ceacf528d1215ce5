"""/metrics: Prometheus exposition behind a bearer token, parsed with prometheus-client's own parser; gauges come
from what the portal read (never a call to ArcGIS per scrape), counters add up across workers."""

from __future__ import annotations

import os
import subprocess
import sys
from urllib.parse import urlsplit

import pytest
from django.test import Client
from django.urls import reverse

from jobs import counters
from jobs.shared_cache import cache
from jobs.upstream import SiteGuard, connection_for
from policies.models import AlertChannel, Delivery, Policy, PolicyRun
from tests.helpers import METRICS_TOKEN as TOKEN
from tests.helpers import ROOT, samples, scrape, streamed_html, value


def test_without_a_configured_token_there_is_nothing_here(settings, db):
    settings.METRICS_TOKEN = None
    assert Client().get("/metrics").status_code == 404
    assert scrape().status_code == 404


@pytest.mark.parametrize("header", [None, "Bearer wrong", f"Bearer {TOKEN}x", TOKEN, f"Basic {TOKEN}"])
def test_the_bearer_token_is_required(metrics_token, db, header):
    response = Client().get("/metrics", headers={"Authorization": header} if header else {})
    assert response.status_code == 401 and response["WWW-Authenticate"].startswith("Bearer")


def test_a_scrape_reports_what_the_portal_read_without_calling_arcgis(simulator, site, service, olivia, metrics_token):
    for status in ["esriJobExecuting", "esriJobExecuting", "esriJobSucceeded", "esriJobFailed", "esriJobSubmitted"]:
        simulator.state.add_job(service.key, status=status)
    streamed_html(olivia, reverse("jobs:overview_stream"))  # the overview reads each service's statistics
    simulator.requests.clear()
    response = scrape()
    assert response.status_code == 200 and response["Content-Type"].startswith("text/plain; version=")
    assert not simulator.requests  # a scrape never calls ArcGIS
    found = samples(response.content.decode())
    jobs = {
        status: value(found, "gpjobs_jobs", site="main", service="Hydrology/Watershed", status=status)
        for status in ("active", "succeeded", "failed", "cancelled")
    }
    assert jobs == {"active": 3, "succeeded": 1, "failed": 1, "cancelled": 0}
    assert value(found, "gpjobs_jobs_read_timestamp_seconds", site="main", service="Hydrology/Watershed") > 0
    assert value(found, "gpjobs_circuit_breaker_open", site="main") == 0
    # The calls the overview made, timed by site and operation.
    assert value(found, "gpjobs_upstream_request_seconds_count", site="main", operation="statistics") >= 1
    assert value(found, "gpjobs_upstream_request_seconds_count", site="main", operation="services") >= 1


def test_upstream_latency_and_errors_by_site_and_operation(simulator, site, service, olivia, metrics_token):
    job_id = simulator.state.add_job(service.key, status="esriJobSucceeded")
    before = samples(scrape().content.decode())
    olivia.action(f"/sites/main/services/Hydrology/Watershed.GPServer/jobs/{job_id}/cancel/")  # refused
    simulator.faults.set("html_502", operation="query")
    olivia.htmx_get("/sites/main/services/Hydrology/Watershed.GPServer/jobs/", **{"HX-Target": "job-table"})
    after = samples(scrape().content.decode())

    def grew(name, **labels):
        return (value(after, name, **labels) or 0) - (value(before, name, **labels) or 0)

    assert grew("gpjobs_upstream_request_seconds_count", site="main", operation="cancel") == 1
    assert grew("gpjobs_upstream_errors_total", site="main", operation="cancel", error="OperationRefused") == 1
    assert grew("gpjobs_upstream_errors_total", site="main", operation="query", error="UpstreamUnavailable") >= 1
    assert grew("gpjobs_upstream_request_seconds_bucket", site="main", operation="cancel", le="+Inf") == 1


def test_the_circuit_breaker_state_per_site(site, metrics_token, settings):
    guard = SiteGuard(site.pk, site.name)
    guard.record(answered=False)
    found = samples(scrape().content.decode())
    assert value(found, "gpjobs_circuit_breaker_open", site="main") == 0
    assert value(found, "gpjobs_circuit_breaker_failures", site="main") == 1
    for _ in range(settings.ARCGIS_BREAKER_FAILURES):
        guard.record(answered=False)
    found = samples(scrape().content.decode())
    assert value(found, "gpjobs_circuit_breaker_open", site="main") == 1


def test_the_fleet_views_hook(site, metrics_token):
    counters.record_running_long(site, "Hydrology/Watershed", 4)
    found = samples(scrape().content.decode())
    assert value(found, "gpjobs_jobs_running_long", site="main", service="Hydrology/Watershed") == 4


def test_policy_runs_and_alerts_are_counted_from_what_the_workers_recorded(site, operator, metrics_token):
    """Background workers (any process, any host) record runs and deliveries in the database: a scrape counts them."""
    policy = Policy.objects.create(name="Night cleanup", site=site, owner=operator)
    for outcome in ("acted", "acted", "nothing", "preview", "running"):
        PolicyRun.objects.create(policy=policy, kind="scheduled", outcome=outcome)
    channel = AlertChannel.objects.create(name="ops", kind="email", recipients="ops@example.com", events=["site_down"])
    for status in ("sent", "sent", "failed", "pending"):
        Delivery.objects.create(channel=channel, event="site_down", title="t", text="t", status=status)
    found = samples(scrape().content.decode())
    assert value(found, "gpjobs_policy_runs_total", site="main", policy="Night cleanup", outcome="acted") == 2
    assert value(found, "gpjobs_policy_runs_total", site="main", policy="Night cleanup", outcome="nothing") == 1
    assert value(found, "gpjobs_policy_runs_total", site="main", policy="Night cleanup", outcome="preview") is None
    assert value(found, "gpjobs_policy_runs_total", site="main", policy="Night cleanup", outcome="running") is None
    assert value(found, "gpjobs_alerts_sent_total", site="", channel="ops", outcome="sent") == 2
    assert value(found, "gpjobs_alerts_sent_total", site="", channel="ops", outcome="failed") == 1


def test_services_not_read_for_an_hour_drop_out(site, metrics_token, monkeypatch):
    counters.record_running_long(site, "Old", 1)
    cache.delete(f"{counters.RUNNING_LONG}:{site.pk}:Old")  # as if expired
    found = samples(scrape().content.decode())
    assert value(found, "gpjobs_jobs_running_long", site="main", service="Old") is None
    assert counters.SeriesIndex(counters.RUNNING_LONG).members() == set()


def test_observing_keeps_one_pooled_connection_per_site(site):
    assert connection_for(site) is connection_for(site)
    assert connection_for(site).observer == counters.UpstreamObserver("main")


WORKER = """
import django
django.setup()
from jobs import counters
for _ in range({runs}):
    counters.UpstreamObserver("main")("cancel", 0.2, None)
"""


def test_counts_of_several_workers_add_up_in_multiprocess_mode(tmp_path, site, metrics_token, monkeypatch):
    """Two worker processes count into PROMETHEUS_MULTIPROC_DIR; a scrape of any worker reads both."""
    directory = tmp_path / "prometheus"
    directory.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env |= {"PROMETHEUS_MULTIPROC_DIR": str(directory), "DJANGO_SETTINGS_MODULE": "tests.settings"}
    env["PORTAL_VAR_DIR"] = str(tmp_path / "var")
    for runs in (2, 3):
        subprocess.run([sys.executable, "-c", WORKER.format(runs=runs)], cwd=ROOT, env=env, check=True, timeout=60)
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(directory))
    found = samples(scrape().content.decode())
    assert value(found, "gpjobs_upstream_request_seconds_count", site="main", operation="cancel") == 5
    assert value(found, "gpjobs_circuit_breaker_open", site="main") == 0  # the cache gauges are there too


def test_the_client_reports_each_call_to_its_observer_and_stays_free_of_django(simulator, service):
    import arcgis_client as arcgis

    source = "".join(path.read_text() for path in (ROOT / "arcgis_client").glob("*.py"))
    assert "django" not in source and "prometheus" not in source
    calls = []

    def observer(operation, seconds, error):
        calls.append((operation, type(error).__name__ if error else None))
        raise RuntimeError("a broken observer must not break the call")

    connection = arcgis.SiteConnection(simulator.admin_url, observer=observer)
    client = arcgis.AdminClient(connection, simulator.issue_token())
    job_id = simulator.state.add_job(service.key, status="esriJobSucceeded")
    assert client.list_gp_services()
    assert client.get_job(service, job_id).status == "esriJobSucceeded"
    with pytest.raises(arcgis.OperationRefused):
        client.cancel_job(service, job_id)
    assert calls == [("services", None), ("services", None), ("job", None), ("cancel", "OperationRefused")]


# --- round 2's security review, finding 4: any Viewer grew /metrics and the cache without bound ---------------------


class CaseInsensitiveArcGIS:
    """ArcGIS Server answers for a service whatever the case of its folder and name, as the simulator does not: this
    stub, on 127.0.0.1 only, passes each request to the simulator under the names the site lists."""

    def __init__(self, simulator, names: list[str]):
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        import requests

        canonical = {name.lower(): name for name in names}
        upstream = "{0.scheme}://{0.netloc}".format(urlsplit(simulator.admin_url))

        class Handler(BaseHTTPRequestHandler):
            def _forward(self):
                path, _, query = self.path.partition("?")
                parts = []
                for part in path.split("/"):
                    stem, dot, suffix = part.partition(".")
                    parts.append(canonical.get(stem.lower(), stem) + dot + suffix)
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0)) or None
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "content-length")}
                answer = requests.request(
                    self.command,
                    upstream + "/".join(parts) + (f"?{query}" if query else ""),
                    data=body,
                    headers=headers,
                    timeout=10,
                    allow_redirects=False,
                )
                self.send_response(answer.status_code)
                self.send_header("Content-Type", answer.headers.get("Content-Type", "application/json"))
                self.send_header("Content-Length", str(len(answer.content)))
                self.end_headers()
                self.wfile.write(answer.content)

            do_GET = do_POST = _forward

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.admin_url = f"http://127.0.0.1:{self.server.server_port}{urlsplit(simulator.admin_url).path}"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


@pytest.fixture
def case_insensitive_site(simulator, db):
    from jobs.models import Site

    simulator.state.add_service("FloodModel", folder="Hydrology")
    stub = CaseInsensitiveArcGIS(simulator, ["Hydrology", "FloodModel"])
    try:
        yield Site.objects.create(slug="main", name="Main site", admin_url=stub.admin_url, insecure=True)
    finally:
        stub.stop()


def test_round2_finding_4_case_variants_and_unlisted_names_add_no_series(
    simulator, case_insensitive_site, viewer, connect, client_as, metrics_token
):
    connect(viewer, case_insensitive_site)
    victor = client_as(viewer)
    simulator.state.add_job("Hydrology/FloodModel", status="esriJobExecuting")
    variants = ["Hydrology/FloodModel", "Hydrology/floodModel", "hydrology/FLOODMODEL", "HYDROLOGY/fLoOdMoDeL"]
    for variant in variants:
        folder, name = variant.split("/")
        answer = victor.get(f"/sites/main/services/{folder}/{name}.GPServer/jobs/counts/")
        assert answer.status_code == 200 and 'id="svc-' in answer.content.decode()
        assert f"svc-{case_insensitive_site.pk}-Hydrology-FloodModel" in answer.content.decode()  # the listed cell
    unlisted = victor.get("/sites/main/services/Hydrology/NoSuchModel.GPServer/jobs/counts/").content.decode()
    assert "NoSuchModel is not a GP service on Main site" in unlisted
    found = samples(scrape().content.decode())
    series = {dict(labels)["service"] for (name, labels) in found if name == "gpjobs_jobs"}
    assert series == {"Hydrology/FloodModel"}
    assert value(found, "gpjobs_jobs", site="main", service="Hydrology/FloodModel", status="active") == 1
    assert len(counters.SeriesIndex(counters.JOBS).members()) == 1


def test_round2_finding_4_the_series_are_capped_with_an_other_bucket(site, metrics_token, settings):
    import arcgis_client

    settings.METRICS_MAX_SERVICES = 2
    for number in range(5):
        stats = arcgis_client.JobStatistics(total=number + 1, succeeded=number, failed=0, cancelled=0)
        counters.record_job_counts(site, f"Service{number}", stats)
    found = samples(scrape().content.decode())
    services = {dict(labels)["service"] for (name, labels) in found if name == "gpjobs_jobs"}
    assert services == {"Service0", "Service1", "other"}
    assert value(found, "gpjobs_jobs", site="main", service="other", status="succeeded") == 2 + 3 + 4
    # The index itself is bounded: past ten times the cap, new services are not recorded at all.
    for number in range(5, 30):
        counters.record_job_counts(site, f"Service{number}", arcgis_client.JobStatistics(1, 0, 0, 0))
    assert len(counters.SeriesIndex(counters.JOBS).members()) == 20


def test_restricted_sites_can_be_left_out_of_the_scrape(site, hidden_site, metrics_token, settings):
    """By default the scrape token sees every site's slug (the README says so); the setting leaves restricted ones
    out, the upstream counters and the database's counts included."""
    counters.record_running_long(site, "Hydrology/Watershed", 1)
    counters.record_running_long(hidden_site, "Secret/Model", 2)
    counters.UpstreamObserver("hidden")("cancel", 0.2, None)
    assert value(samples(scrape().content.decode()), "gpjobs_jobs_running_long", site="hidden", service="Secret/Model")
    settings.METRICS_INCLUDE_RESTRICTED_SITES = False
    body = scrape().content.decode()
    assert 'site="hidden"' not in body and "Secret" not in body
    assert value(samples(body), "gpjobs_jobs_running_long", site="main", service="Hydrology/Watershed") == 1
