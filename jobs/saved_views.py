"""Saved views: a job list's filters under a name ("my services, queued > 10 min"), found in the navigation.

A view is the address of the fleet view or of a service's jobs page, checked when saved against that page's own
filter form (as the page itself would check it) and kept without what only says where the list was (its page, its
cursor). It is its owner's alone, or shared with the team; a view of one site is seen only by those who may see the
site. Sharing a view, and deleting a shared one, are audited.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import signals
from django.http import QueryDict
from django.urls import Resolver404, resolve

import arcgis_client
from accounts.roles import can_view
from jobs import audit, site_directory
from jobs.forms import FleetFilterForm, JobFilterForm, filters_in_words
from jobs.generations import Generation, Kept
from jobs.models import AuditEvent, SavedView, Site

# What only says where in a list someone was, not what it shows.
NOT_FILTERS = ("page", "before", "inline")
MENU_SIZE = 30


class Refused(Exception):
    """Why a view cannot be saved or deleted, in words."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class ListPage:
    """A job list as a view keeps it: its path and cleaned query string, its site (if one), and in words."""

    path: str
    query: str
    site: Site | None
    label: str  # "Jobs on every site", "Hydrology/FloodModel on Production"
    filters: str  # "Status: Submitted · User: svc_batch", or ""

    @property
    def words(self) -> str:
        return f"{self.label}, {self.filters}" if self.filters else f"{self.label}, no filters"


def list_page(user, url: str) -> ListPage:
    """The job list an address shows, as this user may see it; Refused when it is not one or its filters are wrong."""
    parts = urlsplit(url)
    try:
        match = resolve(parts.path) if not (parts.scheme or parts.netloc) else None  # this portal's pages only
    except Resolver404:
        match = None
    if match is None or match.namespace != "jobs" or match.url_name not in ("fleet", "job_list"):
        raise Refused("Only a job list (the fleet view or a service's jobs page) can be saved as a view.")
    query = QueryDict(parts.query, mutable=True)
    for name in [*NOT_FILTERS, *(name for name, value in query.items() if value == "")]:
        query.pop(name, None)
    sites = site_directory.visible_sites(user)
    form: FleetFilterForm | JobFilterForm
    if match.url_name == "fleet":
        form = FleetFilterForm(query, sites=sites)
        site = next((site for site in sites if site.slug == query.get("site")), None)
        label = f"Jobs on {site.name}" if site else "Jobs on every site"
    else:
        site = next((site for site in sites if site.slug == match.kwargs["slug"]), None)
        if site is None:
            raise Refused("That site is not one you may see.")
        form = JobFilterForm(query)
        label = f"{arcgis_client.ServiceRef(match.kwargs.get('folder', ''), match.kwargs['name']).key} on {site.name}"
    if not form.is_valid():
        raise Refused(f"The filters need a correction first: {form.problems()}")
    return ListPage(parts.path, query.urlencode(), site, label, filters_in_words(form))


def save(user, name: str, url: str, *, shared: bool) -> SavedView:
    name = " ".join(name.split())
    if not name:
        raise Refused("Give the view a name.")
    if len(name) > 100:
        raise Refused("A view's name has at most 100 characters.")
    page = list_page(user, url)
    with transaction.atomic():
        if SavedView.objects.filter(owner=user, name=name).exists():
            raise Refused(f"You already have a view named {audit.quoted(name)}.")
        view = SavedView.objects.create(
            owner=user, name=name, path=page.path, query=page.query, site=page.site, shared=shared
        )
        if shared:
            message = f"Shared the view {audit.quoted(name)} with the team: {page.words}."
            audit.record(user, page.site, AuditEvent.Action.VIEW_SHARED, message, via=AuditEvent.Via.WEB)
    return view


def delete(user, view: SavedView) -> None:
    """Its owner deletes a view (a superuser any); deleting a shared one is audited."""
    if view.owner_id != user.pk and not user.is_superuser:
        raise Refused(f"Only {view.owner.get_username()}, who saved it, can delete the view {audit.quoted(view.name)}.")
    with transaction.atomic():
        if view.shared:
            whose = "" if view.owner_id == user.pk else f" of {view.owner.get_username()}"
            message = f"Deleted the shared view {audit.quoted(view.name)}{whose} ({view.url})."
            audit.record(user, view.site, AuditEvent.Action.VIEW_UNSHARED, message, via=AuditEvent.Via.WEB)
        view.delete()


def visible(user):
    """The views this user may see and open: their own and the team's, each only while they may see its site."""
    return SavedView.objects.visible_to(user, site_directory.visible_sites(user)).select_related("owner", "site")


# --- the Views menu of every page ------------------------------------------------------------------------------
#
# Every saved view is kept by each process, as the menu names it (MenuView: a value, shared by no request's changes),
# and filtered for each user as visible() does it: the menu costs no query. Any change to a view, or to a user (the
# menu names the owner of a view shared by someone else), replaces the generation (jobs.generations).

GENERATION = Generation(lambda _: "saved-views:generation")


@dataclass(frozen=True)
class MenuView:
    """A saved view as the top bar's Views menu shows it."""

    name: str
    url: str
    shared: bool
    owner_id: int
    owner_name: str
    site_id: int | None

    @classmethod
    def of(cls, view: SavedView) -> MenuView:
        return cls(view.name, view.url, view.shared, view.owner_id, view.owner.get_username(), view.site_id)


def _every_view() -> list[MenuView]:
    # In the order of SavedView.Meta (name, id), as visible() gives them.
    return [MenuView.of(view) for view in SavedView.objects.select_related("owner")]


_kept = Kept(GENERATION, _every_view)


def menu(user) -> list[MenuView]:
    """The views of the top bar's menu: visible(user), its first MENU_SIZE."""
    views = _kept.current(user)
    if views is None:
        return [MenuView.of(view) for view in visible(user)[:MENU_SIZE]]
    if not user.is_authenticated or not can_view(user):
        return []
    sites = {site.pk for site in site_directory.visible_sites(user)}
    seen = (v for v in views if (v.owner_id == user.pk or v.shared) and (v.site_id is None or v.site_id in sites))
    return list(itertools.islice(seen, MENU_SIZE))


def _changed(**_signal) -> None:
    GENERATION.replace()


def connect_signals() -> None:
    for model in (SavedView, get_user_model()):
        signals.post_save.connect(_changed, sender=model, dispatch_uid=f"saved-views-save-{model.__name__}")
        signals.post_delete.connect(_changed, sender=model, dispatch_uid=f"saved-views-delete-{model.__name__}")


def described(user, view: SavedView) -> str:
    """What a view shows, in words, as this user sees it now (its filters may since have stopped applying)."""
    try:
        return list_page(user, view.url).words
    except Refused as refused:
        return refused.message
