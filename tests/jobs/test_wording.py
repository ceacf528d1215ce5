"""What a new operator tripped on in the first hour, checked where a browser is not needed (the browser
checks are in tests/e2e/test_first_hour.py): one word per status (badge, filter, messages), a MapServer opened as a GP
service explained, the audit trail's job IDs as links, the user filter saying it matches exactly."""

import re

import pytest
from django.urls import reverse

import arcgis_client
from jobs.targets import ServiceTarget
from tests.helpers import jobs_table_html, row_html, status_text

pytestmark = pytest.mark.django_db

CANCELLING = "esriJobCancelling"


def test_a_cancelling_job_is_called_cancelling_in_the_badge_the_filter_the_refusal_and_the_audit(
    simulator, service, target, olivia
):
    job_id = simulator.state.add_job(service.key, status=CANCELLING)
    page = olivia.get(target.url("job_list")).content.decode()
    assert re.search(rf'<option value="{CANCELLING}"[^>]*>Cancelling</option>', page)
    table = jobs_table_html(olivia, target)
    assert '<span class="badge tone-stopping">Cancelling</span>' in row_html(table, job_id)
    refused = olivia.action(target.url("cancel", job_id)).content.decode()
    assert status_text(refused).endswith("— it is already Cancelling.") or status_text(refused).endswith(
        "— it is Cancelling."
    ), status_text(refused)
    # The audit trail records ArcGIS's refusal, not a status word of its own.
    audit = olivia.get(reverse("jobs:audit")).content.decode()
    assert "Unable to cancel job" in audit and "Cancel requested" not in audit


def test_a_map_service_opened_as_a_gp_service_is_named_as_such(simulator, site, olivia):
    simulator.state.add_service("Parcels", type="MapServer")
    parcels = ServiceTarget(site, arcgis_client.ServiceRef("", "Parcels"))
    html = jobs_table_html(olivia, parcels)
    assert "Parcels is not a GP service on Main site." in html
    assert "Could not find resource" not in html


def test_the_audit_trail_links_each_job_to_its_page(simulator, service, target, olivia):
    job_id = simulator.state.add_job(service.key, status="esriJobExecuting")
    olivia.action(target.url("cancel", job_id))
    audit = olivia.get(reverse("jobs:audit")).content.decode()
    assert f'<a href="{target.job_url(job_id)}"><code>{job_id}</code></a>' in audit


def test_the_user_filters_say_they_match_the_exact_name(service, target, olivia):
    for url in (target.url("job_list"), reverse("jobs:fleet")):
        page = olivia.get(url).content.decode()
        user_input = re.search(r'<input type="text" name="user"[^>]*>', page).group(0)
        assert 'placeholder="exact name"' in user_input and 'title="The exact ArcGIS user name"' in user_input
