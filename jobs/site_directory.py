"""Every site, who may see it and its services' own flag thresholds, kept in each process: a page finds its site
without a query.

The directory is stamped with a generation kept in the shared cache (the `shared_only` one, as the permission
sets are). Any change to a site, to the groups that see it, to a service's thresholds or to a group itself
replaces the generation at once and again once its transaction commits, so every process reads the sites again
at its next request. While Redis does not answer, that cache holds nothing and every request reads the database
(a site changed meanwhile on another worker is never missed). Without Redis (one process, the demo and the tests)
the cache is the process's own memory, which does not hear of a change made by another process (`manage.py
addsite`): there the directory is read again at least every LOCAL_SECONDS.

Each request gets its own copy of a site (a copy costs microseconds): what a request caches on it, such as a related
object it reads, or changes in it, stays with that request.
"""

from __future__ import annotations

import copy
import threading
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass

from django.contrib.auth.models import Group
from django.core.cache import caches
from django.core.cache.backends.locmem import LocMemCache
from django.db import transaction
from django.db.models import signals
from django.utils.connection import ConnectionProxy

from accounts.permission_cache import holdings
from accounts.roles import can_view
from jobs.models import ServiceThresholds, Site

GENERATION_KEY = "sites:generation"
LOCAL_SECONDS = 2.0

cache = ConnectionProxy(caches, "shared_only")


@dataclass(frozen=True)
class Directory:
    generation: str
    read_at: float
    by_slug: dict[str, Site]
    groups: dict[int, frozenset[int]]  # site pk → the groups that see it (none: everyone with a role)
    thresholds: dict[int, list[ServiceThresholds]]  # site pk → its services' own thresholds

    def sees(self, user, site: Site) -> bool:
        """Whether the user (who may see jobs) may see this site."""
        groups = self.groups.get(site.pk, frozenset())
        return user.is_superuser or not groups or not groups.isdisjoint(holdings(user).group_ids)


_current: Directory | None = None
_lock = threading.Lock()


def _generation() -> str | None:
    """The directory's generation now; None while the shared cache holds nothing (Redis does not answer)."""
    generation = cache.get(GENERATION_KEY)
    if generation is None:
        cache.add(GENERATION_KEY, uuid.uuid4().hex, timeout=None)
        generation = cache.get(GENERATION_KEY)
    return generation


def _fresh(directory: Directory | None, generation: str) -> bool:
    if directory is None or directory.generation != generation:
        return False
    return not isinstance(caches["shared_only"], LocMemCache) or time.monotonic() - directory.read_at < LOCAL_SECONDS


def current() -> Directory | None:
    """The directory as of now; None when it cannot be known to be current (then ask the database)."""
    global _current
    generation = _generation()
    if generation is None:
        return None
    if _fresh(_current, generation):
        return _current
    with _lock:  # one thread of the process reads the sites; the others then find them
        if not _fresh(_current, generation):
            _current = _read(generation)
        return _current


def _read(generation: str) -> Directory:
    sites = list(Site.objects.all())
    groups: dict[int, set[int]] = {}
    for site_id, group_id in Site.groups.through.objects.values_list("site_id", "group_id"):
        groups.setdefault(site_id, set()).add(group_id)
    thresholds: dict[int, list[ServiceThresholds]] = {}
    for own in ServiceThresholds.objects.all():
        thresholds.setdefault(own.site_id, []).append(own)
    return Directory(
        generation,
        time.monotonic(),
        {site.slug: site for site in sites},
        {pk: frozenset(ids) for pk, ids in groups.items()},
        thresholds,
    )


def visible_site(user, slug: str) -> Site | None:
    """The site, if this user may see it."""
    directory = current()
    if directory is None:
        return Site.objects.visible_to(user).filter(slug=slug).first()
    if not user.is_authenticated or not can_view(user):
        return None
    site = directory.by_slug.get(slug)
    return copy.copy(site) if site is not None and directory.sees(user, site) else None


def visible_sites(user) -> list[Site]:
    """Every site this user may see, by name."""
    directory = current()
    if directory is None:
        return list(Site.objects.visible_to(user))
    if not user.is_authenticated or not can_view(user):
        return []
    sites = [copy.copy(site) for site in directory.by_slug.values() if directory.sees(user, site)]
    return sorted(sites, key=lambda site: (site.name, site.pk))  # Site.Meta.ordering, and a tie broken alike


def service_thresholds(sites: Iterable[Site]) -> list[ServiceThresholds]:
    """The services' own thresholds on these sites."""
    sites = list(sites)
    directory = current()
    if directory is None or any(site.slug not in directory.by_slug for site in sites):
        return list(ServiceThresholds.objects.filter(site__in=sites))
    return [own for site in sites for own in directory.thresholds.get(site.pk, [])]


def _replace_generation() -> None:
    cache.set(GENERATION_KEY, uuid.uuid4().hex, timeout=None)


def changed(**_signal) -> None:
    """Something the directory holds changed: every process reads it again, now and once the change has committed
    (a request in between may have read the sites as they were before it)."""
    _replace_generation()
    transaction.on_commit(_replace_generation)


def connect_signals() -> None:
    for model in (Site, ServiceThresholds, Group):
        signals.post_save.connect(changed, sender=model, dispatch_uid=f"site-directory-save-{model.__name__}")
        signals.post_delete.connect(changed, sender=model, dispatch_uid=f"site-directory-delete-{model.__name__}")
    signals.m2m_changed.connect(changed, sender=Site.groups.through, dispatch_uid="site-directory-groups")
    signals.post_migrate.connect(changed, dispatch_uid="site-directory-migrate")
