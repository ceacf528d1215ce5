"""Saved views: a job list's filters saved under a name, checked as the page checks them and kept without where in
the list one was; in the top bar's Views menu; shared with the team or not, a view of a restricted site seen only by
those who may see it; sharing and deleting a shared view audited."""

from __future__ import annotations

from urllib.parse import urlencode

import pytest
from django.urls import reverse

from jobs import saved_views
from jobs.models import AuditEvent, SavedView
from jobs.targets import ServiceTarget
from tests.conftest import make_user
from tests.helpers import messages_text


def save(client, name: str, url: str, shared: bool = False):
    data = {"name": name, "url": url, **({"shared": "on"} if shared else {})}
    return client.action(reverse("jobs:saved_views"), data, htmx=False)


def fleet(**filters) -> str:
    return f"{reverse('jobs:fleet')}?{urlencode(filters, doseq=True)}"


def test_a_filter_is_saved_under_a_name_and_opens_again(site, service, olivia, operator):
    url = fleet(status=["esriJobSubmitted", "esriJobWaiting"], user="svc_batch", within="24h", before="1:j1", page="")
    answer = save(olivia, "  my services,   queued > 10 min ", url)
    view = SavedView.objects.get()
    assert (view.owner, view.name, view.shared, view.site) == (operator, "my services, queued > 10 min", False, None)
    assert view.url == "/jobs/?status=esriJobSubmitted&status=esriJobWaiting&user=svc_batch&within=24h"  # no cursor
    assert answer.status_code == 302 and answer["Location"] == view.url
    assert not AuditEvent.objects.exists()  # a private view is nobody else's business


def test_a_service_pages_view_follows_its_site(site, service, olivia):
    target = ServiceTarget(site, service)
    save(olivia, "Watershed failures", f"{target.url('job_list')}?status=esriJobFailed&per_page=100&page=3")
    view = SavedView.objects.get()
    assert view.site == site and view.url == f"{target.url('job_list')}?status=esriJobFailed&per_page=100"
    assert saved_views.described(view.owner, view) == (
        "Hydrology/Watershed on Main site, Status: Failed · Per page: 100"
    )


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("/audit/?user=olivia", "Only a job list"),
        ("https://evil.example.com/jobs/", "Only a job list"),
        ("/jobs/?status=esriJobBogus", "The filters need a correction first: Status: Select a valid choice."),
        ("/jobs/?site=hidden", "The filters need a correction first: Site: Select a valid choice."),
        ("/sites/hidden/services/Hydrology/Watershed.GPServer/jobs/", "That site is not one you may see."),
    ],
)
def test_what_is_not_a_job_list_or_not_one_to_see_is_not_saved(site, hidden_site, service, olivia, url, why):
    answer = save(olivia, "x", url)
    assert not SavedView.objects.exists()
    assert why in messages_text(olivia.get(answer["Location"]).content.decode())


def test_names_are_one_per_owner(site, olivia):
    save(olivia, "Queued", fleet(status="esriJobSubmitted"))
    answer = save(olivia, "Queued", fleet(status="esriJobWaiting"))
    assert SavedView.objects.count() == 1
    assert "You already have a view named “Queued”." in messages_text(olivia.get(answer["Location"]).content.decode())


def test_a_shared_view_is_the_teams_and_audited(site, service, olivia, client_as):
    target = ServiceTarget(site, service)
    save(olivia, "Watershed queue", f"{target.url('job_list')}?status=esriJobSubmitted", shared=True)
    event = AuditEvent.objects.get()
    assert (event.action, event.site, event.username) == ("view_shared", site, "olivia")
    assert event.message == (
        "Shared the view “Watershed queue” with the team: Hydrology/Watershed on Main site, Status: Submitted."
    )
    colleague = client_as(make_user("vic", "Viewer"))
    page = colleague.get(reverse("jobs:overview")).content.decode()
    assert "Watershed queue" in page and 'class="nav-menu"' in page  # in the top bar's Views menu
    # Not hers to delete; her own private view is hers alone.
    view = SavedView.objects.get()
    colleague.action(reverse("jobs:delete_saved_view", args=[view.pk]), htmx=False)
    assert SavedView.objects.filter(pk=view.pk).exists()


def test_a_view_of_a_restricted_site_is_seen_only_by_who_may_see_the_site(hidden_site, service, client_as, connect):
    insider = make_user("ines", "Operator")
    insider.groups.add(hidden_site.groups.get())
    target = ServiceTarget(hidden_site, service)
    save(client_as(insider), "Secret queue", target.url("job_list"), shared=True)
    outsider = make_user("otto", "Operator")
    assert not SavedView.objects.visible_to(outsider).exists()
    page = client_as(outsider).get(reverse("jobs:saved_views")).content.decode()
    assert "Secret queue" not in page and "Secret Site" not in page
    view = SavedView.objects.get()
    assert client_as(outsider).action(reverse("jobs:delete_saved_view", args=[view.pk]), htmx=False).status_code == 404
    assert SavedView.objects.visible_to(insider).get() == view


def test_deleting_a_shared_view_is_audited_and_a_private_one_is_not(site, olivia):
    save(olivia, "Mine", fleet(user="olivia"))
    save(olivia, "Ours", fleet(user="svc_batch"), shared=True)
    for view in SavedView.objects.all():
        olivia.action(reverse("jobs:delete_saved_view", args=[view.pk]), htmx=False)
    assert not SavedView.objects.exists()
    assert list(AuditEvent.objects.values_list("action", "message")) == [
        ("view_unshared", "Deleted the shared view “Ours” (/jobs/?user=svc_batch)."),
        ("view_shared", "Shared the view “Ours” with the team: Jobs on every site, User: svc_batch."),
    ]


def test_a_view_needs_a_role(site, client_as):
    nobody = client_as(make_user("nobody"))
    assert save(nobody, "x", fleet()).status_code == 403
    assert not SavedView.objects.exists()
