"""Round 2's security review, finding 1: a Site admin could act with another operator's ArcGIS token by editing their
policy (the owner did not change, so the scheduled runs acted with the owner's token, and ArcGIS's log and the audit
rows named the owner). Now a change by anyone but the owner to what a policy matches or does, or switching it on,
makes the policy theirs; the form says so before saving, the audit trail records it and the previous owner is told."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

import arcgis_client
from jobs.models import AuditEvent
from policies import tasks
from policies.models import Policy, PolicyRun
from tests.helpers import text

SUBMITTED = arcgis_client.SUBMITTED


@pytest.fixture
def olivias_policy(simulator, site, service, operator, connect) -> Policy:
    """Olivia's careful policy, scheduled with her own ArcGIS token: only svc_batch's jobs queued over 30 minutes."""
    operator.email = "olivia@example.com"
    operator.save()
    connect(operator, site)
    return Policy.objects.create(
        owner=operator,
        site=site,
        name="Batch queue",
        services="Hydrology/*",
        username="svc_batch",
        queued_minutes=30,
        mode=Policy.Mode.SCHEDULED,
        every_minutes=15,
        enabled=True,
        next_run_at=timezone.now() + timedelta(minutes=10),
    )


def edit_form(site, **fields) -> dict:
    data = {
        "name": "Batch queue",
        "site": site.pk,
        "services": "Hydrology/*",
        "username": "svc_batch",
        "queued_minutes": "30",
        "action": "cancel",
        "mode": "scheduled",
        "every_minutes": "15",
        "max_jobs": "50",
        "enabled": "on",
    }
    return {**data, **fields}


def test_round2_finding_1_a_site_admin_who_widens_a_policy_acts_with_their_own_token_not_the_owners(
    simulator,
    site,
    service,
    operator,
    site_admin,
    connect,
    client_as,
    olivias_policy,
    mailoutbox,
    django_capture_on_commit_callbacks,
):
    """The attack: services *, action delete, every minute, cap 500, on someone else's policy."""
    sams_token = connect(site_admin, site).token  # another token, his own
    sam = client_as(site_admin)
    edit = reverse("policies:edit", args=[olivias_policy.pk])
    # The form says what saving will do, before saving.
    form = text(sam.get(edit).content.decode())
    assert (
        "This policy is olivia's. If you change what it matches or does (anything but its name), or switch it on, "
        "saving makes it yours" in form
    )
    assert "its schedule acts with your ArcGIS token for the site, and olivia is told" in form
    wider = edit_form(
        site,
        services="*",
        username="",
        queued_minutes="",
        statuses=[SUBMITTED],
        action="delete",
        every_minutes="1",
        max_jobs="500",
    )
    with django_capture_on_commit_callbacks(execute=True):
        response = sam.action(edit, wider, htmx=False, follow=True)
    assert "It is now yours: its schedule acts with your ArcGIS token" in text(response.content.decode())
    olivias_policy.refresh_from_db()
    assert olivias_policy.owner == site_admin
    change = AuditEvent.objects.get(action="policy_changed")
    assert change.username == "sam" and "owner: “olivia” → “sam”" in change.message
    assert change.message.endswith("It is now sam's: its schedule acts with their ArcGIS token.")
    [told] = mailoutbox
    assert told.to == ["olivia@example.com"] and "is now sam's" in told.subject
    assert "no longer with yours" in told.body
    # The next scheduled run acts with sam's token: ArcGIS's log and the audit rows name sam, never olivia.
    job = simulator.state.add_job(service.key, status=SUBMITTED, username="anyone")
    Policy.objects.filter(pk=olivias_policy.pk).update(next_run_at=timezone.now() - timedelta(seconds=1))
    tasks.tick()
    run = PolicyRun.objects.get(kind="scheduled")
    assert (run.username, run.acted) == ("sam", 1)
    deleted = [r for r in simulator.requests if r.operation == "delete"]
    assert [r.path.rsplit("/", 2)[-2] for r in deleted] == [job]
    assert {r.form["token"] for r in deleted} == {sams_token}
    assert set(AuditEvent.objects.filter(action="delete").values_list("username", flat=True)) == {"sam"}


def test_round2_finding_1_switching_on_someone_elses_policy_makes_it_yours_and_switching_off_does_not(
    site, operator, site_admin, client_as, olivias_policy
):
    sam = client_as(site_admin)
    enable = reverse("policies:enable", args=[olivias_policy.pk])
    page = text(sam.get(reverse("policies:detail", args=[olivias_policy.pk])).content.decode())
    assert "Disable" in page  # it is on: switching it off stops olivia's token, which is anyone's to do
    sam.action(enable, {"enabled": "0"}, htmx=False)
    olivias_policy.refresh_from_db()
    assert (olivias_policy.enabled, olivias_policy.owner) == (False, operator)
    page = text(sam.get(reverse("policies:detail", args=[olivias_policy.pk])).content.decode())
    assert "Enable and make it yours its schedule would act with your ArcGIS token, and olivia is told" in page
    sam.action(enable, {"enabled": "1"}, htmx=False)
    olivias_policy.refresh_from_db()
    assert (olivias_policy.enabled, olivias_policy.owner) == (True, site_admin)


def test_round2_finding_1_renaming_leaves_the_policy_its_owners_and_the_owner_edits_freely(
    site, operator, site_admin, client_as, olivias_policy
):
    sam = client_as(site_admin)
    sam.action(
        reverse("policies:edit", args=[olivias_policy.pk]), edit_form(site, name="Nightly batch queue"), htmx=False
    )
    olivias_policy.refresh_from_db()
    assert (olivias_policy.name, olivias_policy.owner) == ("Nightly batch queue", operator)
    olivia = client_as(operator)
    olivia.action(
        reverse("policies:edit", args=[olivias_policy.pk]),
        edit_form(site, name="Nightly batch queue", max_jobs="10"),
        htmx=False,
    )
    olivias_policy.refresh_from_db()
    assert (olivias_policy.max_jobs, olivias_policy.owner) == (10, operator)


# --- round 2's security review, finding 6: a role removed in another process went unnoticed by the worker --------


def remove_role_elsewhere(user) -> None:
    """What another process does (the web, with its own local-memory cache): the database changes, and this
    process's cache is told nothing."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM auth_user_groups WHERE user_id = %s", [user.pk])


def test_round2_finding_6_a_role_removed_elsewhere_stops_api_calls_and_scheduled_runs_at_once(
    simulator, site, service, operator, connect
):
    from django.contrib.auth import get_user_model
    from django.test import Client

    from api import personal_tokens

    connect(operator, site)
    _, token = personal_tokens.issue(operator, "script", days=30)
    assert get_user_model().objects.get(pk=operator.pk).has_perm("jobs.operate_jobs")  # this process caches it
    policy = Policy.objects.create(
        owner=operator,
        site=site,
        name="Batch queue",
        services="Hydrology/*",
        mode=Policy.Mode.SCHEDULED,
        enabled=True,
        next_run_at=timezone.now() - timedelta(seconds=1),
    )
    job = simulator.state.add_job(service.key, status=SUBMITTED)
    remove_role_elsewhere(operator)
    cancel = Client().post(
        f"/api/v1/sites/main/services/Hydrology/Watershed/jobs/{job}/cancel",
        headers={"Authorization": f"Bearer {token}"},
    )
    assert cancel.status_code == 403
    tasks.tick()
    run = PolicyRun.objects.get(policy=policy)
    assert run.outcome == "paused" and "may no longer cancel or delete jobs" in run.reason
    assert not [r for r in simulator.requests if r.operation == "cancel"]


# --- round 2's security review, finding 7: an "every site" channel heard of sites its owner may no longer see ------


def test_round2_finding_7_a_channel_carries_only_the_alerts_of_sites_its_owner_may_see_now(
    site, site_admin, client_as, simulator, mailoutbox, django_capture_on_commit_callbacks
):
    from django.contrib.auth.models import Group

    from jobs.models import Site
    from policies import alerts
    from policies.models import AlertChannel

    secret = Site.objects.create(slug="secret", name="Secret Site", admin_url=simulator.admin_url, insecure=True)
    sam = client_as(site_admin)
    form = {
        "csrfmiddlewaretoken": sam.csrf_token,
        "name": "Sam's mail",
        "kind": "email",
        "url": "",
        "recipients": "sam@example.com",
        "events": ["site_down"],
        "site": "",  # every site: sam sees every site today
        "enabled": "on",
        "_save": "Save",
    }
    assert sam.post(reverse("admin:policies_alertchannel_add"), form).status_code == 302
    channel = AlertChannel.objects.get()
    assert channel.owner == site_admin
    secret.groups.add(Group.objects.create(name="Secret team"))  # later restricted to a group sam is not in
    with django_capture_on_commit_callbacks(execute=True):
        alerts.alert("site_down", secret, "Secret Site is not answering", "Secret Site has not answered since …")
        alerts.alert("site_down", site, "Main site is not answering", "Main site has not answered since …")
    assert [mail.subject for mail in mailoutbox] == ["[GP Jobs Portal] Main site is not answering"]
    # And sam still sees (and can change or delete) the channel he made.
    listed = sam.get(reverse("admin:policies_alertchannel_changelist")).content.decode()
    assert "Sam&#x27;s mail" in listed or "Sam's mail" in listed


# --- note: names were unique across all sites, so a name taken on a hidden site could be detected ----------------


def test_a_policy_name_taken_on_a_hidden_site_tells_nothing(site, hidden_site, operator, connect, client_as):
    Policy.objects.create(owner=None, site=hidden_site, name="Secret purge")
    olivia = client_as(operator)
    made = olivia.action(reverse("policies:new"), edit_form(site, name="Secret purge", mode="manual"), htmx=False)
    assert made.status_code == 302  # the same name on her site: nothing tells her it exists elsewhere
    again = olivia.action(reverse("policies:new"), edit_form(site, name="Secret purge", mode="manual"), htmx=False)
    assert again.status_code == 200 and "This site has a policy of that name already." in text(again.content.decode())


def test_a_channel_name_is_unique_on_its_site_or_among_channels_for_every_site(site, hidden_site):
    from django.core.exceptions import ValidationError

    from policies.models import AlertChannel

    def channel(**fields) -> AlertChannel:
        made = AlertChannel(name="ops", kind="email", recipients="ops@example.com", events=["site_down"], **fields)
        made.full_clean()
        made.save()
        return made

    channel(site=hidden_site)
    channel(site=site)  # the hidden site's "ops" says nothing here
    channel()  # and one for every site
    with pytest.raises(ValidationError, match="This site has an alert channel of that name already"):
        channel(site=site)
    with pytest.raises(ValidationError, match="for every site already"):
        channel()
