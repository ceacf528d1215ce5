"""What the portal reads and acts on: a GP service of a site (ServiceTarget), and a job of one as the portal
knows it (JobEntry). The read side returns entries; the display layer (jobs.rows) shows them as rows."""

from __future__ import annotations

import zlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cached_property
from urllib.parse import urlencode

from django.core.cache import cache
from django.urls import reverse

import arcgis_client
from jobs.models import AuditEvent, Site

ROW_CACHE_SECONDS = 600


@dataclass(frozen=True)
class ServiceTarget:
    """A GP service of a site, as the portal's URLs name it."""

    site: Site
    service: arcgis_client.ServiceRef
    description: str = field(default="", compare=False)  # as the site's listing says

    def url(self, name: str, job_id: str | None = None, **query) -> str:
        kwargs = {"slug": self.site.slug, "name": self.service.name}
        if self.service.folder:
            kwargs["folder"] = self.service.folder
        if job_id:
            kwargs["job_id"] = job_id
        url = reverse(f"jobs:{name}", kwargs=kwargs)
        return f"{url}?{urlencode(query)}" if query else url

    @cached_property
    def dom_id(self) -> str:
        """An HTML id for things about this service (names hold no "-", so this is unambiguous)."""
        return f"svc-{self.site.pk}-{self.service.folder}-{self.service.name}"

    @cached_property
    def jobs_url(self) -> str:
        """…/jobs/: a job's own URLs are this plus its ID (reversing one per row costs more than the row)."""
        return self.url("job_list")

    @cached_property
    def token_url(self) -> str:
        return reverse("jobs:token", args=[self.site.slug])

    @cached_property
    def counts_url(self) -> str:
        return self.url("service_counts")

    def job_url(self, job_id: str) -> str:
        return f"{self.jobs_url}{job_id}/"

    def _cache_key(self, job_id: str) -> str:
        return f"job:{self.site.pk}:{self.service.key}:{job_id}"

    def remember(self, jobs: list[arcgis_client.Job]) -> None:
        """Keep the jobs just read, so an action's answer can show the whole row without reading again."""
        if jobs:
            cache.set_many({self._cache_key(job.job_id): job for job in jobs}, ROW_CACHE_SECONDS)

    def recall(self, job_ids: list[str]) -> dict[str, arcgis_client.Job]:
        found = cache.get_many([self._cache_key(job_id) for job_id in job_ids])
        return {job.job_id: job for job in found.values()}


@dataclass(frozen=True)
class Flag:
    """Why a job stands out, in words, and the row attribute that marks it."""

    kind: str  # running-long, queued-long, cancel-stuck
    text: str

    @property
    def attribute(self) -> str:
        return f"data-{self.kind}"

    @cached_property
    def stamp(self) -> str:
        """A short fingerprint of what the flag says: a page's poll carries it, to learn when the words changed."""
        return f"{zlib.crc32(self.text.encode()):08x}"


@dataclass(frozen=True)
class JobEntry:
    """A job of a service: what ArcGIS last said of it (None when not known right now), whether it is gone from
    the server, the last portal action on it (by anyone), and why it stands out (running long…), if it does."""

    target: ServiceTarget
    job_id: str
    job: arcgis_client.Job | None
    gone: bool = False
    last_event: AuditEvent | None = None
    flag: Flag | None = None  # set by jobs.running_long

    @property
    def active(self) -> bool:
        """Still changing: pages keep asking about it until it reaches a terminal status."""
        return not self.gone and (self.job is None or not self.job.is_terminal)

    @property
    def status(self) -> str:
        if self.gone:
            return arcgis_client.DELETED
        return self.job.status if self.job else ""

    @property
    def label(self) -> str:
        return "Gone" if self.gone else arcgis_client.status_label(self.status)

    @property
    def url(self) -> str:
        """Its page in the portal."""
        return self.target.job_url(self.job_id)

    @property
    def can_cancel(self) -> bool:
        return self.job is not None and self.job.can_cancel

    @property
    def state(self) -> str:
        """What a page's poll compares to learn whether the row changed: its status, and its flag's words."""
        return f"{self.status}:{self.flag.stamp}" if self.flag else self.status


def remember_entries(entries: Iterable[JobEntry]) -> None:
    """Keep the jobs of these entries, of any services, in one cache call (see ServiceTarget.remember)."""
    jobs = {entry.target._cache_key(entry.job_id): entry.job for entry in entries if entry.job is not None}
    if jobs:
        cache.set_many(jobs, ROW_CACHE_SECONDS)
