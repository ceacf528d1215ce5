"""The audit trail in words a person would write: every changed value as it reads in the portal (a choice by its
label, a switch as on or off, a time with its unit), never as Python prints it; actions named alike; how long a
call took, and how an action came (bulk, command line, API, policy) in words; a job's last action said plainly."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

import arcgis_client
from jobs import audit, operations, running_long
from jobs.models import AuditEvent, Site
from jobs.targets import ServiceTarget
from policies import editing
from policies.models import Policy

PYTHON = re.compile(r"Policy\.|True|False|\[|\]|'|\b\d+\.0(?![.\d])")  # what Python's str() and repr() would leave


def test_a_policy_made_in_code_is_audited_in_words(site, operator):
    # As the demo makes its example policy: with the model's own choice members and a switch on.
    policy = Policy(
        name="Night cleanup",
        site=site,
        services="*/FloodModel",
        statuses=[arcgis_client.EXECUTING],
        running_long=True,
        action=Policy.Action.CANCEL,
        mode=Policy.Mode.SCHEDULED,
        every_minutes=15,
        owner=operator,
    )
    editing.save(operator, policy, None, via=AuditEvent.Via.CLI)
    event = AuditEvent.objects.get(action=AuditEvent.Action.POLICY_CREATED)
    assert event.message == (
        "Created policy “Night cleanup”: name: “Night cleanup”; site: main; GP services: */FloodModel; "
        "statuses: Executing; running long: on; action: Cancel; mode: scheduled; every: 15 min; "
        "at most: 50 jobs a run; owner: “olivia”."
    )
    assert not PYTHON.search(event.message), event.message
    assert event.via == AuditEvent.Via.CLI  # as it was made, not "web"


def test_a_site_is_audited_in_words(simulator, site_admin):
    site = Site(slug="north", name="North", admin_url=simulator.admin_url, insecure=False)
    operations.change_site(site_admin, site, operations.site_changes(site), via=AuditEvent.Via.CLI)
    added = AuditEvent.objects.get().message
    assert "skip TLS verification: off" in added and "connect timeout: 3 s" in added
    assert "queued long after: 30 min" in added and "running long past: 3× the usual time" in added
    assert not PYTHON.search(added), added


def test_a_value_is_shown_as_it_reads():
    shown = audit.Shown("mode", choices={"manual": "by hand", "scheduled": "on a schedule"})
    assert shown.change(Policy.Mode.MANUAL, Policy.Mode.SCHEDULED, created=False) == "mode: by hand → on a schedule"
    assert audit.Shown("enabled").change(False, True, created=False) == "enabled: off → on"
    assert audit.Shown("read timeout", unit=" s").words(10.0) == "10 s"
    assert audit.Shown("groups", empty="everyone").change([], ["Hydrology team"], False) == (
        "groups: everyone → Hydrology team"
    )
    assert audit.Shown("name").words("Ops's") == "“Ops's”"


def test_the_audit_page_names_actions_alike_says_how_long_and_how_each_came(site, operator, client_as):
    operations.record_site_change(operator, site, "Changed site “Main site”: name: “A” → “Main site”.")
    audit.record(operator, site, AuditEvent.Action.POLICY_CREATED, "Created policy “X”.", via=AuditEvent.Via.WEB)
    [event] = audit.begin(
        operator, site, AuditEvent.Action.CANCEL, AuditEvent.Via.BULK, [("Hydrology/Watershed", "j1")]
    )
    audit.complete([event], [audit.Completion(AuditEvent.Outcome.REFUSED, "Unable to cancel job :[j1]", 500, 0.048)])
    page = client_as(operator).get(reverse("jobs:audit")).content.decode()
    actions = re.findall(r'<td data-label="Action"[^>]*>([^<]+)', page)
    assert [action.strip() for action in actions] == ["Cancel", "Create policy", "Change site"]
    assert all(action[0].isupper() for action in actions)
    assert '<span class="muted small">(bulk action)</span>' in page
    assert '<th scope="col" class="num">Took</th>' in page and ">ms<" not in page
    assert '<td data-label="Took" class="num">48 ms</td>' in page
    assert "code 500" in page  # ArcGIS's error code, said to be one


@pytest.mark.parametrize(
    ("via", "detail", "words"),
    [
        (AuditEvent.Via.WEB, "", ""),
        (AuditEvent.Via.CLI, "", "command line"),
        (AuditEvent.Via.ADMIN, "", "Django admin"),
        (AuditEvent.Via.API, 'token "deploy" (gpj_1a2b3c4d)', 'API, token "deploy" (gpj_1a2b3c4d)'),
        (AuditEvent.Via.POLICY, 'policy "Night cleanup"', 'policy "Night cleanup"'),
    ],
)
def test_how_an_action_came_in_words(via, detail, words):
    assert AuditEvent(via=via, via_detail=detail).how == words


def test_a_jobs_facts_say_plainly_that_nobody_acted_on_it(olivia, simulator, site, service):
    job_id = simulator.state.add_job(service.key, arcgis_client.SUCCEEDED)
    target = ServiceTarget(site, service)
    olivia.htmx_get(target.url("job_list"), HX_Target="job-table")  # the table's read remembers the row
    facts = olivia.get(target.url("job_facts", job_id)).content.decode()
    assert "Last action in the portal" in facts and "Nobody has acted on this job through the portal." in facts
    assert "None" not in facts
    olivia.action(target.url("cancel", job_id))  # refused: it has finished
    facts = olivia.get(target.url("job_facts", job_id)).content.decode()
    assert "Cancel by olivia" in facts and "Refused — Unable to cancel job" in facts


def test_a_jobs_page_shows_its_times_in_its_facts(olivia, simulator, site, service):
    job_id = simulator.state.add_job(service.key, arcgis_client.SUCCEEDED)
    page = olivia.get(ServiceTarget(site, service).job_url(job_id)).content.decode()
    facts = page[page.index("<h2>Facts</h2>") :]
    assert re.search(r"<dt>Submitted</dt><dd><time datetime=", facts), facts


def test_a_jobs_last_action_is_found_however_a_url_spells_its_service(olivia, simulator, site, service):
    """ArcGIS matches folder and service names in any case: an action taken through one spelling is the job's last
    action through another."""
    job_id = simulator.state.add_job(service.key, arcgis_client.SUCCEEDED)
    shouted = ServiceTarget(site, arcgis_client.ServiceRef(service.folder.upper(), service.name.upper()))
    olivia.action(shouted.url("cancel", job_id))  # refused: it has finished
    target = ServiceTarget(site, service)
    olivia.htmx_get(target.url("job_list"), HX_Target="job-table")  # the table's read remembers the row
    facts = olivia.get(target.url("job_facts", job_id)).content.decode()
    assert "Cancel by olivia" in facts and "Refused — Unable to cancel job" in facts


def test_a_cancel_through_one_spelling_dates_the_jobs_cancelling_in_another(olivia, simulator, site, service):
    """The portal's own cancel request is when a job began cancelling (cancel stuck counts from it), whatever
    spelling of the service either page used."""
    job_id = simulator.state.add_job(service.key, arcgis_client.EXECUTING)
    shouted = ServiceTarget(site, arcgis_client.ServiceRef(service.folder.upper(), service.name.upper()))
    olivia.action(shouted.url("cancel", job_id))
    [requested] = AuditEvent.objects.filter(job_id=job_id, outcome=AuditEvent.Outcome.SUCCESS)
    since = running_long.cancelling_since(site, service.key.lower(), [job_id])[job_id]
    assert since.exact and since.at == requested.created
