"""Cancel policies in the portal: managed by Operators (their own) and Site admins (all), every change audited with
old and new values; a preview lists what a policy matches right now and why, and acting on it acts on exactly that
list after a confirmation, through the audited operations (via policy "<name>")."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

import arcgis_client
from jobs.models import AuditEvent
from policies.models import Policy, PolicyRun
from tests.conftest import make_user
from tests.helpers import messages_text, text

SUBMITTED, EXECUTING = arcgis_client.SUBMITTED, arcgis_client.EXECUTING


def make_policy(owner, site, **fields) -> Policy:
    values = {"name": "Batch queue", "services": "Hydrology/*", "username": "svc_batch", "queued_minutes": 30}
    return Policy.objects.create(owner=owner, site=site, **{**values, **fields})


def form_data(site, **fields) -> dict:
    data = {
        "name": "Batch queue",
        "site": site.pk,
        "services": "Hydrology/*",
        "username": "svc_batch",
        "queued_minutes": "30",
        "action": "cancel",
        "mode": "manual",
        "every_minutes": "15",
        "max_jobs": "50",
    }
    return {**data, **fields}


def post(client, url, data=None, **kwargs):
    """A plain form post (no htmx), as the policy pages send them."""
    return client.action(url, data, htmx=False, **kwargs)


def queued(simulator, service, minutes: float, username: str = "svc_batch", key: str | None = None) -> str:
    submitted = simulator.clock.now() - timedelta(minutes=minutes)
    return simulator.state.add_job(key or service.key, status=SUBMITTED, username=username, submitted=submitted)


# --- managing policies -----------------------------------------------------------------------------


def test_an_operator_creates_a_policy_they_own_and_the_audit_trail_has_its_values(site, service, olivia, operator):
    response = post(olivia, reverse("policies:new"), form_data(site, statuses=[SUBMITTED]))
    assert response.status_code == 302
    policy = Policy.objects.get()
    assert response["Location"] == reverse("policies:detail", args=[policy.pk])
    assert (policy.owner, policy.statuses, policy.enabled, policy.next_run_at) == (operator, [SUBMITTED], False, None)
    event = AuditEvent.objects.get(action="policy_created")
    assert (event.username, event.site, event.via) == ("olivia", site, "web")
    assert event.message.startswith("Created policy “Batch queue”: name: “Batch queue”; site: main; ")
    assert (
        "GP services: Hydrology/*; statuses: Submitted; submitted by: “svc_batch”; queued longer than: 30 min"
        in event.message
    )
    assert "owner: “olivia”" in event.message
    assert "Policy." not in event.message and "True" not in event.message  # words, never Python's


def test_a_change_is_audited_with_its_old_and_new_values_and_schedules_the_policy(site, olivia, operator):
    policy = make_policy(operator, site)
    data = form_data(site, mode="scheduled", every_minutes="10", max_jobs="20", enabled="on")
    assert post(olivia, reverse("policies:edit", args=[policy.pk]), data).status_code == 302
    policy.refresh_from_db()
    assert policy.enabled and policy.next_run_at is not None  # due at once: the next tick runs it
    event = AuditEvent.objects.get(action="policy_changed")
    assert event.message == (
        "Changed policy “Batch queue”: mode: by hand, after a preview → scheduled; every: 15 min → 10 min; "
        "at most: 50 jobs a run → 20 jobs a run; enabled: off → on."
    )
    # Disabling on its page: audited too, and off the schedule.
    post(olivia, reverse("policies:enable", args=[policy.pk]), {"enabled": "0"})
    policy.refresh_from_db()
    assert not policy.enabled and policy.next_run_at is None
    assert AuditEvent.objects.filter(action="policy_changed").first().message.endswith("enabled: on → off.")


def test_saving_without_a_change_records_nothing(site, olivia, operator):
    policy = make_policy(operator, site)
    post(olivia, reverse("policies:edit", args=[policy.pk]), form_data(site))
    assert not AuditEvent.objects.filter(action="policy_changed").exists()


def test_deleting_asks_first_and_is_audited(site, olivia, operator):
    policy = make_policy(operator, site)
    page = olivia.get(reverse("policies:delete", args=[policy.pk])).content.decode()
    assert "Delete policy “Batch queue”?" in page and Policy.objects.exists()
    assert post(olivia, reverse("policies:delete", args=[policy.pk])).status_code == 302
    assert not Policy.objects.exists()
    event = AuditEvent.objects.get(action="policy_deleted")
    assert event.message == (
        "Deleted policy “Batch queue” (cancel: New, Submitted, Waiting, Executing jobs of Hydrology/*, "
        "submitted by svc_batch, "
        "queued longer than 30 min; by hand, after a preview)."
    )


@pytest.mark.parametrize(
    ("fields", "error"),
    [
        (
            {"statuses": [arcgis_client.SUCCEEDED]},
            "A cancel policy chooses among new, submitted, waiting and executing jobs.",
        ),
        ({"statuses": [EXECUTING]}, "No ticked status can meet the time conditions"),
        ({"services": "Hydrology/Flood/Model"}, "Folder/Name patterns separated by spaces"),
        ({"services": "../admin"}, "Folder/Name patterns separated by spaces"),
        ({"max_jobs": "0"}, "Ensure this value is greater than or equal to 1."),
        ({"username": "a b"}, "Letters, digits and . _ - @ \\ only."),
    ],
)
def test_the_form_refuses_what_cannot_work(site, olivia, fields, error):
    response = post(olivia, reverse("policies:new"), form_data(site, **fields))
    assert response.status_code == 200 and error in text(response.content.decode())
    assert not Policy.objects.exists()


def test_a_delete_policy_may_match_finished_jobs(site, olivia):
    data = form_data(site, action="delete", statuses=[arcgis_client.FAILED], queued_minutes="")
    assert post(olivia, reverse("policies:new"), data).status_code == 302


def test_the_navigation_links_policies_for_operators_and_site_admins_only(
    site, operator, site_admin, viewer, client_as
):
    link = '<a href="/policies/"'
    for user in (operator, site_admin):
        assert link in client_as(user).get(reverse("jobs:overview")).content.decode()
    assert link not in client_as(viewer).get(reverse("jobs:overview")).content.decode()
    assert client_as(viewer).get(reverse("policies:list")).status_code == 403


def test_operators_manage_their_own_policies_and_site_admins_everyones(
    site, operator, second_operator, site_admin, client_as
):
    mine = make_policy(operator, site)
    theirs = make_policy(second_operator, site, name="Oscar's")
    olivia = client_as(operator)
    listed = olivia.get(reverse("policies:list")).content.decode()
    assert "Batch queue" in listed and "Oscar&#x27;s" not in listed
    assert olivia.get(reverse("policies:detail", args=[theirs.pk])).status_code == 404
    assert post(olivia, reverse("policies:preview", args=[theirs.pk])).status_code == 404
    assert post(olivia, reverse("policies:delete", args=[theirs.pk])).status_code == 404

    sam = client_as(site_admin)
    listed = sam.get(reverse("policies:list")).content.decode()
    assert "Batch queue" in listed and "Oscar&#x27;s" in listed
    assert post(sam, reverse("policies:edit", args=[mine.pk]), form_data(site, max_jobs="5")).status_code == 302
    mine.refresh_from_db()
    assert mine.max_jobs == 5 and mine.owner == site_admin  # what olivia's token does is hers alone to change
    assert AuditEvent.objects.get(action="policy_changed").username == "sam"


def test_a_policy_of_a_restricted_site_is_seen_only_by_its_group(site, operator, site_admin, client_as, hidden_site):
    policy = make_policy(operator, hidden_site)
    assert client_as(site_admin).get(reverse("policies:detail", args=[policy.pk])).status_code == 404
    # Nor can a policy be made for it.
    response = post(client_as(operator), reverse("policies:new"), form_data(hidden_site, name="Sneaky"))
    assert response.status_code == 200 and not Policy.objects.filter(name="Sneaky").exists()


def test_a_viewer_can_neither_create_nor_preview(site, viewer, operator, client_as):
    policy = make_policy(operator, site)
    client = client_as(viewer)
    assert post(client, reverse("policies:new"), form_data(site, name="x")).status_code == 403
    assert post(client, reverse("policies:preview", args=[policy.pk])).status_code == 403


# --- preview, then act ---------------------------------------------------------------------------------


def preview(client, policy) -> tuple[PolicyRun, str]:
    response = post(client, reverse("policies:preview", args=[policy.pk]), follow=True)
    assert response.status_code == 200
    return PolicyRun.objects.filter(policy=policy).first(), response.content.decode()


def planned_ids(html: str) -> list[str]:
    return re.findall(r'<tr id="planned-(\w+)"', html)


def test_the_preview_lists_what_matches_right_now_and_why(simulator, site, service, olivia, operator):
    simulator.state.add_service("Buffer")
    old = queued(simulator, service, 44.5)  # the portal reads it a moment later: 44.5 min and a bit
    older = queued(simulator, service, 89.5)
    queued(simulator, service, 29)  # not long enough
    queued(simulator, service, 45, username="amy")  # someone else's
    queued(simulator, service, 45, key="Buffer")  # outside Hydrology/*
    policy = make_policy(operator, site)
    simulator.requests.clear()

    run, html = preview(olivia, policy)

    assert planned_ids(html) == [old, older]  # newest first
    assert "Queued 45 min, over 30 min · user svc_batch" in text(html)
    assert "Queued 90 min, over 30 min · user svc_batch" in text(html)
    assert '<button type="submit" class="danger">Cancel these 2</button>' in html
    assert (run.outcome, run.kind, run.username, run.matched) == ("preview", "manual", "olivia", 2)
    assert [item["job_id"] for item in run.planned] == [old, older]
    # Reading cost: only the services in scope were asked, with the filters pushed down, and nothing acted.
    assert {r.service for r in simulator.requests if r.service} == {service.key}
    asked = [r.query for r in simulator.requests if r.operation == "query"]
    assert {query["jobStatus"] for query in asked} == {
        arcgis_client.NEW,
        SUBMITTED,
        arcgis_client.WAITING,
    }  # queued ones only
    assert all(query["userName"] == "svc_batch" and query["endTime"] for query in asked)
    assert not [r for r in simulator.requests if r.operation == "cancel"]
    assert not AuditEvent.objects.filter(action="cancel").exists()


def test_acting_on_a_preview_confirms_first_then_acts_on_exactly_that_list(simulator, site, service, olivia, operator):
    first, second, third = (queued(simulator, service, minutes) for minutes in (40, 50, 60))
    policy = make_policy(operator, site)
    run, _ = preview(olivia, policy)

    # The button asks first: the confirmation names every job and acts on nothing.
    confirm = post(olivia, reverse("policies:act", args=[policy.pk, run.pk])).content.decode()
    assert "Cancel these 3 jobs?" in confirm and all(job_id in confirm for job_id in (first, second, third))
    assert '<input type="hidden" name="confirmed" value="yes">' in confirm
    assert not [r for r in simulator.requests if r.operation == "cancel"]

    # Meanwhile one finished and another went on waiting (it still matches, in another status); a new matching
    # job arrived.
    simulator.state.set_status(service.key, second, arcgis_client.SUCCEEDED)
    simulator.state.set_status(service.key, third, arcgis_client.WAITING)
    newcomer = queued(simulator, service, 35)

    response = post(olivia, reverse("policies:act", args=[policy.pk, run.pk]), {"confirmed": "yes"}, follow=True)
    html = response.content.decode()
    assert messages_text(html) == "1 cancelled, 2 skipped (changed since the preview)."
    cancels = [r.path.rsplit("/", 2)[-2] for r in simulator.requests if r.operation == "cancel"]
    assert cancels == [first]
    assert simulator.state.get_job(service.key, newcomer)["status"] == SUBMITTED  # not in the list: untouched
    run.refresh_from_db()
    assert (run.outcome, run.acted, run.skipped, run.refused, run.failed) == ("acted", 1, 2, 0, 0)
    outcomes = {item["job_id"]: (item["outcome"], item["message"]) for item in run.results}
    assert outcomes[first] == ("success", "Cancel requested")
    assert outcomes[second] == ("skipped", "Skipped: it no longer matches the policy (it may have finished).")
    assert outcomes[third] == ("skipped", "Skipped: it is now Waiting, not Submitted as previewed.")
    assert "Skipped: it is now Waiting" in text(html)
    # One audit row, for the one job acted on, by olivia through the policy.
    [event] = AuditEvent.objects.filter(action="cancel")
    assert (event.job_id, event.username, event.via, event.via_detail) == (
        first,
        "olivia",
        "policy",
        'policy "Batch queue"',
    )
    assert (event.outcome, event.service) == ("success", service.key)


def test_a_preview_is_acted_on_once_and_only_by_whoever_previewed_it(
    simulator, site, service, olivia, operator, site_admin, connect, client_as
):
    queued(simulator, service, 40)
    policy = make_policy(operator, site)
    run, _ = preview(olivia, policy)
    connect(site_admin, site)
    sam = client_as(site_admin)
    response = post(sam, reverse("policies:act", args=[policy.pk, run.pk]), {"confirmed": "yes"}, follow=True)
    assert "This preview is someone else's" in messages_text(response.content.decode())
    act = reverse("policies:act", args=[policy.pk, run.pk])
    post(olivia, act, {"confirmed": "yes"})
    again = post(olivia, act, {"confirmed": "yes"}, follow=True).content.decode()
    assert "This preview was already acted on." in messages_text(again)
    assert len([r for r in simulator.requests if r.operation == "cancel"]) == 1


def test_a_stale_preview_cannot_be_acted_on(simulator, site, service, olivia, operator):
    queued(simulator, service, 40)
    policy = make_policy(operator, site)
    run, _ = preview(olivia, policy)
    PolicyRun.objects.filter(pk=run.pk).update(started=timezone.now() - timedelta(minutes=31))
    html = post(olivia, reverse("policies:act", args=[policy.pk, run.pk]), {"confirmed": "yes"}, follow=True)
    assert "too old to act on: preview the policy again" in messages_text(html.content.decode())
    run.refresh_from_db()
    assert run.outcome == "expired" and not [r for r in simulator.requests if r.operation == "cancel"]


def test_a_preview_above_the_limit_offers_nothing_to_act_on(simulator, site, service, olivia, operator):
    for minutes in range(40, 44):
        queued(simulator, service, minutes)
    policy = make_policy(operator, site, max_jobs=3)
    run, html = preview(olivia, policy)
    assert "4 jobs match, more than its limit of 3 a run: it acts on none of them." in text(html)
    assert "Cancel these" not in html and len(run.planned) == 4
    response = post(olivia, reverse("policies:act", args=[policy.pk, run.pk]), {"confirmed": "yes"}, follow=True)
    assert "more than its limit of 3" in messages_text(response.content.decode())
    assert not [r for r in simulator.requests if r.operation == "cancel"]


def test_a_preview_without_a_token_says_to_connect(simulator, site, service, operator, second_operator, client_as):
    queued(simulator, service, 40)
    policy = make_policy(second_operator, site)
    Policy.objects.filter(pk=policy.pk).update(owner=operator)
    run, html = preview(client_as(operator), policy)
    assert "You have no ArcGIS token for this site. Connect to Main site with your ArcGIS account." in text(html)
    assert "Cancel these" not in html and run.planned == []


def test_a_delete_policy_deletes_the_previewed_jobs(simulator, site, service, olivia, operator):
    failed = simulator.state.add_job(service.key, status=arcgis_client.FAILED, username="svc_batch")
    policy = make_policy(operator, site, action="delete", statuses=[arcgis_client.FAILED], queued_minutes=None)
    run, html = preview(olivia, policy)
    assert planned_ids(html) == [failed] and '<button type="submit" class="danger">Delete this job</button>' in html
    confirm = post(olivia, reverse("policies:act", args=[policy.pk, run.pk])).content.decode()
    assert "removes every record of them. This cannot be undone." in confirm
    post(olivia, reverse("policies:act", args=[policy.pk, run.pk]), {"confirmed": "yes"})
    assert simulator.state.get_job(service.key, failed) is None
    assert AuditEvent.objects.get(action="delete").via_detail == 'policy "Batch queue"'


def test_the_policy_page_shows_its_runs(simulator, site, service, olivia, operator):
    queued(simulator, service, 40)
    policy = make_policy(operator, site)
    run, _ = preview(olivia, policy)
    post(olivia, reverse("policies:act", args=[policy.pk, run.pk]), {"confirmed": "yes"})
    html = olivia.get(reverse("policies:detail", args=[policy.pk])).content.decode()
    row = re.search(rf'<tr id="run-{run.pk}" data-outcome="acted">(.*?)</tr>', html, re.S).group(1)
    assert "Manual" in row and "olivia" in row and "Acted" in row
    assert text(html).count("Previewed") == 0  # previews not acted on are not runs


def test_someone_elses_account_deleted_leaves_the_policy_ownerless(site, olivia):
    owner = make_user("leaver", "Operator")
    policy = make_policy(owner, site)
    owner.delete()
    policy.refresh_from_db()
    assert policy.owner is None


TEMPLATE_SOURCE = re.compile(r"\{#|#\}|\{%|%\}|\{\{|\}\}")


def test_no_policy_page_shows_template_source(simulator, site, service, olivia, operator, site_admin, client_as):
    queued(simulator, service, 40)
    policy = make_policy(operator, site, mode="scheduled", enabled=True, paused_reason="")
    run, preview_html = preview(olivia, policy)
    pages = {
        "list": olivia.get(reverse("policies:list")),
        "new": olivia.get(reverse("policies:new")),
        "new, refused": post(olivia, reverse("policies:new"), form_data(site, services="?/../x")),
        "detail": olivia.get(reverse("policies:detail", args=[policy.pk])),
        "edit": olivia.get(reverse("policies:edit", args=[policy.pk])),
        "delete": olivia.get(reverse("policies:delete", args=[policy.pk])),
        "confirm": post(olivia, reverse("policies:act", args=[policy.pk, run.pk])),
        "acted": post(olivia, reverse("policies:act", args=[policy.pk, run.pk]), {"confirmed": "yes"}, follow=True),
        "site admin's list": client_as(site_admin).get(reverse("policies:list")),
    }
    Policy.objects.filter(pk=policy.pk).update(enabled=False, paused_reason="The token expired.")
    pages["paused"] = olivia.get(reverse("policies:detail", args=[policy.pk]))
    for name, response in {**pages, "preview": None}.items():
        body = preview_html if response is None else response.content.decode()
        assert response is None or response.status_code == 200, name
        assert TEMPLATE_SOURCE.search(body) is None, f"{name} shows template source"
    assert "This policy paused itself: The token expired." in text(pages["paused"].content.decode())


def test_a_preview_is_not_acted_on_once_the_policy_changed_to_delete(simulator, site, service, olivia, operator):
    job = queued(simulator, service, 40)
    policy = make_policy(operator, site)  # cancel
    run, _ = preview(olivia, policy)
    post(olivia, reverse("policies:edit", args=[policy.pk]), form_data(site, action="delete"))
    assert Policy.objects.get().action == "delete"
    answer = post(olivia, reverse("policies:act", args=[policy.pk, run.pk]), {"confirmed": "yes"}, follow=True)
    assert "the policy changed since" in messages_text(answer.content.decode())
    assert not [r for r in simulator.requests if r.operation in ("cancel", "delete")]
    assert simulator.state.get_job(service.key, job) is not None
    assert PolicyRun.objects.get(pk=run.pk).outcome == PolicyRun.Outcome.EXPIRED


def test_a_preview_is_not_acted_on_once_the_policy_no_longer_scopes_its_jobs(
    simulator, site, service, olivia, operator
):
    simulator.state.add_service("Buffer")
    job = queued(simulator, service, 40)  # a Hydrology service's
    policy = make_policy(operator, site, services="*")
    run, _ = preview(olivia, policy)
    assert [item["job_id"] for item in run.planned] == [job]
    post(olivia, reverse("policies:edit", args=[policy.pk]), form_data(site, services="Buffer"))
    post(olivia, reverse("policies:act", args=[policy.pk, run.pk]), {"confirmed": "yes"})
    assert not [r for r in simulator.requests if r.operation == "cancel"], "acted on a job outside the policy"


def test_an_unchanged_save_keeps_the_preview_actable(simulator, site, service, olivia, operator):
    job = queued(simulator, service, 40)
    policy = make_policy(operator, site)
    run, _ = preview(olivia, policy)
    post(olivia, reverse("policies:edit", args=[policy.pk]), form_data(site))  # saved as it was
    post(olivia, reverse("policies:act", args=[policy.pk, run.pk]), {"confirmed": "yes"})
    assert [r.path.rsplit("/", 2)[-2] for r in simulator.requests if r.operation == "cancel"] == [job]
