"""Every site, who may see it and its services' own flag thresholds, kept in each process: a page finds its site
without a query. The directory is read again whenever a site, the groups that see it, a service's thresholds or a
group changes (jobs.generations).

Each request gets its own copy of a site (a copy costs microseconds): what a request caches on it, such as a related
object it reads, or changes in it, stays with that request.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from dataclasses import dataclass

from django.contrib.auth.models import Group
from django.db.models import signals

from accounts.permission_cache import holdings
from accounts.roles import can_view
from jobs.generations import Generation, Kept
from jobs.models import ServiceThresholds, Site

GENERATION = Generation(lambda _: "sites:generation")


@dataclass(frozen=True)
class Directory:
    by_slug: dict[str, Site]
    groups: dict[int, frozenset[int]]  # site pk → the groups that see it (none: everyone with a role)
    thresholds: dict[int, list[ServiceThresholds]]  # site pk → its services' own thresholds

    def sees(self, user, site: Site) -> bool:
        """Whether the user (who may see jobs) may see this site."""
        groups = self.groups.get(site.pk, frozenset())
        return user.is_superuser or not groups or not groups.isdisjoint(holdings(user).group_ids)


def current(user) -> Directory | None:
    """The directory as of this user's request; None when it cannot be known to be current (then ask the
    database)."""
    return _kept.current(user)


def _read() -> Directory:
    sites = list(Site.objects.all())
    groups: dict[int, set[int]] = {}
    for site_id, group_id in Site.groups.through.objects.values_list("site_id", "group_id"):
        groups.setdefault(site_id, set()).add(group_id)
    thresholds: dict[int, list[ServiceThresholds]] = {}
    for own in ServiceThresholds.objects.all():
        thresholds.setdefault(own.site_id, []).append(own)
    return Directory(
        {site.slug: site for site in sites},
        {pk: frozenset(ids) for pk, ids in groups.items()},
        thresholds,
    )


_kept = Kept(GENERATION, _read)


def visible_site(user, slug: str) -> Site | None:
    """The site, if this user may see it."""
    directory = current(user)
    if directory is None:
        return Site.objects.visible_to(user).filter(slug=slug).first()
    if not user.is_authenticated or not can_view(user):
        return None
    site = directory.by_slug.get(slug)
    return copy.copy(site) if site is not None and directory.sees(user, site) else None


def visible_sites(user) -> list[Site]:
    """Every site this user may see, by name."""
    directory = current(user)
    if directory is None:
        return list(Site.objects.visible_to(user))
    if not user.is_authenticated or not can_view(user):
        return []
    sites = [copy.copy(site) for site in directory.by_slug.values() if directory.sees(user, site)]
    return sorted(sites, key=lambda site: (site.name, site.pk))  # Site.Meta.ordering, and a tie broken alike


def service_thresholds(sites: Iterable[Site]) -> list[ServiceThresholds]:
    """The services' own thresholds on these sites."""
    sites = list(sites)
    directory = current(None)
    if directory is None or any(site.slug not in directory.by_slug for site in sites):
        return list(ServiceThresholds.objects.filter(site__in=sites))
    return [own for site in sites for own in directory.thresholds.get(site.pk, [])]


def _changed(**_signal) -> None:
    GENERATION.replace()


def connect_signals() -> None:
    for model in (Site, ServiceThresholds, Group):
        signals.post_save.connect(_changed, sender=model, dispatch_uid=f"site-directory-save-{model.__name__}")
        signals.post_delete.connect(_changed, sender=model, dispatch_uid=f"site-directory-delete-{model.__name__}")
    signals.m2m_changed.connect(_changed, sender=Site.groups.through, dispatch_uid="site-directory-groups")
    signals.post_migrate.connect(_changed, dispatch_uid="site-directory-migrate")
