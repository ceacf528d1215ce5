"""What a value must look like before it may enter a URL sent to ArcGIS or a query: one definition for the
portal's URL converters, forms, models, policies and the API.

Folder, service and job ID patterns are the client's own (arcgis_client.names); matched against the whole
value (\\A…\\Z, or fullmatch): "$" would also match before a trailing newline.
"""

from __future__ import annotations

import re

from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator

import arcgis_client

NAME_PATTERN = arcgis_client.NAME_PATTERN
JOB_ID_PATTERN = arcgis_client.JOB_ID_PATTERN

name_validator = RegexValidator(rf"\A{NAME_PATTERN}\Z", "Letters, digits and underscores only.")
job_id_validator = RegexValidator(rf"\A{JOB_ID_PATTERN}\Z", "Job IDs are letters and digits.")
# ArcGIS user names may be domain accounts (DOMAIN\user) or e-mail-like; machines are host names.
username_validator = RegexValidator(r"\A[\w.@\\-]{1,150}\Z", "Letters, digits and . _ - @ \\ only.")
machine_validator = RegexValidator(r"\A[A-Za-z0-9._-]{1,255}\Z", "A host name: letters, digits, dots and hyphens.")


def validate_service_key(value: str) -> None:
    """Folder/Name, or Name for a service of the root folder (a trailing .GPServer is fine)."""
    try:
        arcgis_client.ServiceRef.parse(value)
    except arcgis_client.InvalidName as exc:
        raise ValidationError(str(exc)) from None


# "Folder/Name" globs with * and ?, separated by spaces: "Hydrology/*", "*/FloodModel", "Buffer", "*".
SERVICE_PATTERN = r"[A-Za-z0-9_*?]{1,120}(?:/[A-Za-z0-9_*?]{1,120})?"
_SERVICE_PATTERNS = re.compile(rf"\A{SERVICE_PATTERN}(?: +{SERVICE_PATTERN})*\Z")


def validate_service_patterns(value: str) -> None:
    if not _SERVICE_PATTERNS.match(value):
        raise ValidationError(
            "Folder/Name patterns separated by spaces, with * and ? as wildcards, e.g. Hydrology/* */FloodModel."
        )
