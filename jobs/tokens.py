"""The token rules, in one place: every upstream call acts with the operator's own stored token,
only while it is usable, and a 498/499 answer marks it rejected until they reconnect."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from datetime import datetime

from django.utils import timezone

import arcgis_client
from jobs.crypto import TokenDecryptionError
from jobs.models import Site, StoredToken
from jobs.upstream import connection_for

ADDRESS_CHANGED = "This site's address changed: reconnect."


class NotConnected(Exception):
    """The operator has no usable token for the site. Like ArcGISError: `.message`, `.reconnect`."""

    reconnect = True

    def __init__(self, site: Site, reason: str):
        self.message = f"{reason} Connect to {site.name} with your ArcGIS account."
        super().__init__(self.message)


# What a page can show for any failed read: both have `.message` and `.reconnect`.
READ_ERRORS = (NotConnected, arcgis_client.ArcGISError)


def stored_token(user, site: Site) -> StoredToken | None:
    return StoredToken.objects.filter(user=user, site=site).first()


def client_with(site: Site, token: StoredToken | None) -> arcgis_client.AdminClient:
    """An Administrator API client acting with this stored token; raises NotConnected."""
    if token is None:
        if site.connection_changed is not None:  # every token was revoked when the address changed
            raise NotConnected(site, ADDRESS_CHANGED)
        raise NotConnected(site, "You have no ArcGIS token for this site.")
    if token.invalid_since is not None:
        raise NotConnected(site, "ArcGIS rejected your token.")
    if token.is_expired:
        raise NotConnected(site, "Your ArcGIS token has expired.")
    try:
        secret = token.token
    except TokenDecryptionError as exc:
        raise NotConnected(site, str(exc)) from None
    return arcgis_client.AdminClient(connection_for(site), secret)


def client_for(user, site: Site) -> arcgis_client.AdminClient:
    return client_with(site, stored_token(user, site))


def mark_rejected(user, site: Site, used_since: datetime) -> None:
    """ArcGIS answered 498/499 to a call made since `used_since`: that token must not be used
    again until the operator reconnects (a token connected after the call began is spared)."""
    StoredToken.objects.filter(user=user, site=site, invalid_since__isnull=True, connected_at__lte=used_since).update(
        invalid_since=timezone.now()
    )


@contextlib.contextmanager
def rejection_marked(user, site: Site) -> Iterator[None]:
    """Calls made inside act with the user's token: a TokenRejected marks it."""
    started = timezone.now()
    try:
        yield
    except arcgis_client.TokenRejected:
        mark_rejected(user, site, started)
        raise
