"""The Administrator API of one site, acting with one operator's token: services, jobs, a job's page, the
operations (cancel, delete, purge) and tokens."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, urlsplit

from arcgis_client._json import as_int, datetime_from_ms, epoch_ms_text
from arcgis_client.concurrency import run_concurrently
from arcgis_client.connection import SiteConnection, origin, origin_text, same_origin
from arcgis_client.errors import (
    ArcGISError,
    InvalidName,
    MalformedResponse,
    NoJobPage,
    NotFound,
    TLSFailure,
    UnsafeJobURL,
    UntrustedTokenService,
)
from arcgis_client.names import JOB_ID, NAME, ServiceRef, validate_job_id, validate_name
from arcgis_client.rest_job import (
    MAX_JOB_PAGE_BYTES,
    MAX_JOB_URL_CHARS,
    MAX_PARAMETER_BYTES,
    PARAMETER_KINDS,
    JobParameter,
    RestJob,
)
from arcgis_client.results import Job, JobStatistics, QueryPage, Service, Token
from arcgis_client.statuses import STATUSES

# What a job's page address may hold: no "%", "?", "#", "@", "\\", spaces or control characters.
_PLAIN_URL = re.compile(r"https?://[A-Za-z0-9._~:/\[\]-]+", re.IGNORECASE)


class AdminClient:
    """The Administrator API of one site, acting with one operator's token."""

    def __init__(self, connection: SiteConnection, token: str | None = None):
        self.connection = connection
        self._token = token

    def __repr__(self) -> str:
        return f"<AdminClient {self.connection.admin_url} token={'set' if self._token else 'none'}>"

    def _get(self, operation: str, path: str, **params: Any) -> Any:
        return self.connection.request("GET", self._url(path), token=self._token, params=params, operation=operation)

    def _post(self, operation: str, path: str, **params: Any) -> Any:
        return self.connection.request("POST", self._url(path), token=self._token, params=params, operation=operation)

    def _url(self, path: str) -> str:
        return f"{self.connection.admin_url}/{path}" if path else self.connection.admin_url

    @staticmethod
    def _jobs(service: ServiceRef, job_id: str | None = None) -> str:
        path = f"services/{service.admin_path}/jobs"
        return f"{path}/{quote(validate_job_id(job_id), safe='')}" if job_id is not None else path

    # Reading

    def check_root(self) -> dict:
        """The admin root; refuses a server whose resources lack 'services', as Esri's client does."""
        body = self._get("root", "")
        if "services" not in (body.get("resources") or []):
            raise MalformedResponse(f"{self.connection.host} is not an ArcGIS Server admin root (no 'services').")
        return body

    def list_folders(self) -> tuple[list[str], list[Service]]:
        """The folder names and the root folder's services."""
        body = self._get("services", "services")
        folders = [f for f in body.get("folders") or [] if isinstance(f, str)]
        return folders, _services(body.get("services"))

    def list_services(self, limit: int = 16) -> list[Service]:
        """Every service of the site: the root folder, then all folders fetched concurrently."""
        folders, services = self.list_folders()
        # Folders whose names the portal could not address are left out rather than failing the site.
        folders = [f for f in folders if NAME.fullmatch(f)]
        results = run_concurrently(
            lambda f: _services(self._get("services", f"services/{quote(f, safe='')}").get("services")), folders, limit
        )
        for folder, result in zip(folders, results, strict=True):
            if isinstance(result, ArcGISError):
                raise type(result)(f"Folder {folder}: {result.message}", code=result.code, messages=result.messages)
            services += result
        return services

    def list_gp_services(self, limit: int = 16) -> list[Service]:
        return [
            s
            for s in self.list_services(limit)
            if s.is_gp and NAME.fullmatch(s.name) and (not s.folder or NAME.fullmatch(s.folder))
        ]

    def query_jobs(
        self,
        service: ServiceRef,
        *,
        status: str | None = None,
        username: str | None = None,
        machine: str | None = None,
        start_time: datetime | None = None,
        end_time: datetime | None = None,
        start: int = 1,
        number: int = 50,
    ) -> QueryPage:
        if status and status not in STATUSES:
            raise InvalidName(f"Unknown job status {status!r}.")
        body = self._get(
            "query",
            f"{self._jobs(service)}/query",
            jobStatus=status or "",
            userName=username or "",
            machineName=machine or "",
            startTime=epoch_ms_text(start_time),
            endTime=epoch_ms_text(end_time),
            start=max(int(start), 1),
            number=max(int(number), 1),
        )
        results = body.get("results") or {}
        if isinstance(results, dict):
            jobs = [Job.from_json(data, job_id) for job_id, data in results.items()]
        elif isinstance(results, list):
            jobs = [Job.from_json(data) for data in results]
        else:
            raise MalformedResponse("The server's job list is neither an object nor a list.")
        # Jobs whose IDs the portal could not address are left out rather than failing the page.
        jobs = [j for j in jobs if JOB_ID.fullmatch(j.job_id)]
        # Newest first, whatever order the server used.
        jobs.sort(key=lambda j: j.submitted or datetime.min.replace(tzinfo=UTC), reverse=True)
        next_start = as_int(body.get("nextStart"))
        return QueryPage(
            jobs=jobs,
            total=as_int(body.get("total")) or 0,
            start=as_int(body.get("start")) or start,
            number=number,
            next_start=next_start if next_start and next_start > 0 else None,
        )

    def get_job(self, service: ServiceRef, job_id: str) -> Job:
        job = Job.from_json(self._get("job", self._jobs(service, job_id)), job_id)
        if job.job_id != job_id:
            raise MalformedResponse(f"{self.connection.host} answered with another job than {job_id}.")
        return job

    # A job's page in the Services Directory (the REST API): never followed as ArcGIS gives it

    def job_page_url(self, service: ServiceRef, job: Job) -> str:
        """The job's Services Directory page, on the site's own scheme, host and port.

        ArcGIS gives it as the job's `url`; whoever answers for the site could point that anywhere. It is
        used only when it is exactly `<scheme>://<site's host:port>/<instance>/rest/services/[<folder>/]<name>
        /GPServer/<task>/jobs/<jobId>` for this service and job (no encoding, query, fragment or credentials);
        anything else raises UnsafeJobURL (NoJobPage when there is none), and nothing is sent."""
        job_id = validate_job_id(job.job_id)
        url = job.url
        if not url:
            raise NoJobPage(f"ArcGIS names no Services Directory page for job {job_id}.")
        if not isinstance(url, str) or len(url) > MAX_JOB_URL_CHARS or not _PLAIN_URL.fullmatch(url):
            raise UnsafeJobURL(
                f"ArcGIS gave job {job_id} a page address with characters a job's page never has (encoding, a "
                "query, a fragment, credentials or spaces); the portal sent nothing to it."
            )
        site = self.connection.admin_url
        if not same_origin(url, site):
            raise UnsafeJobURL(
                f"ArcGIS gave job {job_id} a page on another address ({origin_text(url)}) than the site's own "
                f"({origin_text(site)}); the portal reads job pages only on the site's own address and sent nothing."
            )
        instance = urlsplit(site).path.rstrip("/").removesuffix("/admin")
        folder = f"{service.folder}/" if service.folder else ""
        expected = (  # ArcGIS's instance, folder and service names are case-insensitive; a job ID is not
            f"(?i:{re.escape(f'{instance}/rest/services/{folder}{service.name}/GPServer/')})"
            + r"[A-Za-z0-9_]{1,120}"
            + re.escape(f"/jobs/{job_id}")
        )
        path = urlsplit(url).path
        if not re.fullmatch(expected, path):
            raise UnsafeJobURL(
                f"ArcGIS gave job {job_id} a page address that is not its Services Directory page under "
                f"{instance}/rest/services/{folder}{service.name}; the portal sent nothing to it."
            )
        return f"{self.connection.origin}{path}"

    def rest_job(self, service: ServiceRef, job: Job) -> RestJob:
        """The job's messages, progress and parameter names, from its (checked) Services Directory page."""
        url = self.job_page_url(service, job)
        body = self.connection.request(
            "GET",
            url,
            token=self._token,
            params={"returnMessages": "true"},
            max_bytes=MAX_JOB_PAGE_BYTES,
            operation="restJob",
        )
        return RestJob.from_json(body, job.job_id, url)

    def job_parameter(
        self, service: ServiceRef, job: Job, kind: str, name: str, max_bytes: int = MAX_PARAMETER_BYTES
    ) -> JobParameter:
        """One input (`kind` "inputs") or result ("results") of the job, with its value (of at most `max_bytes`)."""
        if kind not in PARAMETER_KINDS:
            raise InvalidName("A job's parameter is one of its inputs or results.")
        validate_name(name, "parameter name")
        url = f"{self.job_page_url(service, job)}/{kind}/{name}"
        body = self.connection.request(
            "GET", url, token=self._token, max_bytes=min(max_bytes, MAX_PARAMETER_BYTES), operation="restJobParam"
        )
        return JobParameter.from_json(body, kind, name)

    def job_statistics(self, service: ServiceRef) -> JobStatistics:
        body = self._post("statistics", f"{self._jobs(service)}/statistics")
        return JobStatistics(**{k: as_int(body.get(k)) or 0 for k in ("total", "succeeded", "failed", "cancelled")})

    # Operations (POST, token in the body, never retried)

    def cancel_job(self, service: ServiceRef, job_id: str) -> None:
        self._expect_success(self._post("cancel", f"{self._jobs(service, job_id)}/cancel"))

    def delete_job(self, service: ServiceRef, job_id: str) -> None:
        self._expect_success(self._post("delete", f"{self._jobs(service, job_id)}/delete"))

    def purge_queue(self, service: ServiceRef) -> None:
        self._expect_success(self._post("purgeQueue", f"{self._jobs(service)}/purgeQueue"))

    def _expect_success(self, body: dict) -> None:
        if body.get("status") != "success":
            raise MalformedResponse(f"{self.connection.host} answered neither success nor an error.")

    # Tokens

    def generate_token(self, username: str, password: str, *, expiration_minutes: int = 60) -> Token:
        """A token for the user: from the site's token URL if set, else the admin endpoint,
        else the token service that /rest/info names."""
        connection = self.connection
        url = connection.token_url or self._url("generateToken")
        try:
            return self._request_token(url, username, password, expiration_minutes)
        except NotFound:
            if connection.token_url:
                raise
        return self._request_token(self.discover_token_url(), username, password, expiration_minutes)

    def discover_token_url(self) -> str:
        """The token service named by /rest/info (a site's admin root ends in /admin)."""
        base = self.connection.admin_url.removesuffix("/admin")
        body = self.connection.request("GET", f"{base}/rest/info", operation="info")
        auth = body.get("authInfo")
        url = auth.get("tokenServicesUrl") if isinstance(auth, dict) else None
        if not isinstance(url, str) or not url.startswith(("https://", "http://")):
            raise NotFound(f"{self.connection.host} does not name a token service in /rest/info.")
        if url.startswith("http://") and self.connection.admin_url.startswith("https://"):
            # An https site must not send the operator's password across the network in clear text.
            raise TLSFailure(
                f"{self.connection.host} names a token service over plain http; refusing to send a password."
            )
        if origin(url) != origin(self.connection.admin_url):
            # Whoever can change /rest/info's answer must not be able to collect operators' passwords.
            raise UntrustedTokenService(
                f"{self.connection.host} names a token service at another address ({origin_text(url)}); the "
                "portal sends passwords only to the site's own address. A site admin can set the site's token "
                "URL to use that service."
            )
        return url

    def _request_token(self, url: str, username: str, password: str, expiration_minutes: int) -> Token:
        params = {"username": username, "password": password, "expiration": int(expiration_minutes)}
        if self.connection.referer:
            params |= {"client": "referer", "referer": self.connection.referer}
        else:
            params["client"] = "requestip"
        body = self.connection.request("POST", url, params=params, operation="generateToken")
        token = body.get("token")
        if not isinstance(token, str) or not token:
            raise MalformedResponse(f"{self.connection.host} answered without a token.")
        return Token(token=token, expires=datetime_from_ms(body.get("expires")))


def _services(items: Any) -> list[Service]:
    services = []
    for item in items or []:
        if not isinstance(item, dict) or not item.get("serviceName"):
            continue
        folder = str(item.get("folderName") or "").strip("/")  # "/" and "" both mean the root
        services.append(
            Service(
                folder=folder,
                name=str(item["serviceName"]),
                type=str(item.get("type") or ""),
                description=str(item.get("description") or ""),
            )
        )
    return services
