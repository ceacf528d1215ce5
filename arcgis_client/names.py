"""What may enter a URL path: folder, service and parameter names, job IDs, and a service's place on a site.

The one definition of these, shared by the portal's URLs, forms and models. Always matched against the whole
string (fullmatch, or \\A…\\Z): "$" would let a trailing newline through."""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import quote

from arcgis_client.errors import InvalidName

NAME_PATTERN = r"[A-Za-z0-9_]{1,120}"
JOB_ID_PATTERN = r"[A-Za-z0-9]{1,64}"
NAME = re.compile(NAME_PATTERN)
JOB_ID = re.compile(JOB_ID_PATTERN)


def is_name(value: object) -> bool:
    """A folder, service or parameter name the portal can address."""
    return isinstance(value, str) and NAME.fullmatch(value) is not None


def validate_name(value: str, what: str = "name") -> str:
    """A folder or service name: letters, digits and underscores, at most 120."""
    if not isinstance(value, str) or not NAME.fullmatch(value):
        raise InvalidName(f"Not a valid {what}: only letters, digits and underscores (at most 120) are allowed.")
    return value


def is_job_id(value: str) -> bool:
    return isinstance(value, str) and JOB_ID.fullmatch(value) is not None


def validate_job_id(value: str) -> str:
    if not isinstance(value, str) or not JOB_ID.fullmatch(value):
        raise InvalidName("Not a valid job ID: only letters and digits are allowed.")
    return value


@dataclass(frozen=True)
class ServiceRef:
    """A GP service's place on a site: folder ('' for the root) and name, both validated."""

    folder: str
    name: str

    def __post_init__(self) -> None:
        if self.folder:
            validate_name(self.folder, "folder name")
        validate_name(self.name, "service name")

    @classmethod
    def parse(cls, key: str) -> ServiceRef:
        """'Folder/Name' or 'Name' (also with a trailing .GPServer)."""
        key = key.removesuffix(".GPServer")
        folder, _, name = key.rpartition("/")
        return cls(folder, name)

    @property
    def key(self) -> str:
        return f"{self.folder}/{self.name}" if self.folder else self.name

    @property
    def match_key(self) -> str:
        """The key as ArcGIS matches services: folder and name in any case. What is kept or looked up by service
        (shared reads, notices, audit lookups) uses it, so that two spellings in URLs are one service."""
        return self.key.lower()

    @property
    def admin_path(self) -> str:
        """The service's path under ADMIN/services, URL-encoded."""
        parts = [self.folder] if self.folder else []
        return "/".join(quote(p, safe="") for p in [*parts, f"{self.name}.GPServer"])

    def __str__(self) -> str:
        return self.key
