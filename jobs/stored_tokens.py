"""The rules of operators' stored ArcGIS tokens, in one place: every upstream call acts with the operator's own
token, only while it is usable, and an answer that rejects it (rejects_token) marks it until they reconnect."""

from __future__ import annotations

import copy
import time
from datetime import datetime

from django.db.models import signals
from django.utils import timezone

import arcgis_client
from jobs.crypto import TokenDecryptionError
from jobs.generations import Generation, usable
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


# --- the stored tokens a process has read ----------------------------------------------------------------------
#
# A user's token for a site (its row: the token still encrypted, its expiry, whether ArcGIS rejected it), or that
# there is none, is kept by each process under the generation of that user's tokens, which any change to one of them
# replaces (jobs.generations). What acts without a browser (a policy run: an `uncached` user) reads the database.

GENERATION = Generation(lambda user_id: f"tokens:{user_id}")
_KEPT_MAX = 10_000
_kept: dict[tuple[int, int], tuple[str, float, StoredToken | None]] = {}


def stored_token(user, site: Site) -> StoredToken | None:
    """The user's token for the site, if any: the request's own copy of the row (a copy costs microseconds), so that
    nothing a request caches on it (a related object it reads) stays for the next one."""
    generation = None if getattr(user, "_permissions_uncached", False) else GENERATION.current(user)
    if generation is None:
        return StoredToken.objects.filter(user=user, site=site).first()
    kept = _kept.get((user.pk, site.pk))
    if not usable(kept, generation):
        token = StoredToken.objects.filter(user=user, site=site).first()
        if len(_kept) >= _KEPT_MAX:
            _kept.clear()
        kept = _kept[(user.pk, site.pk)] = (generation, time.monotonic(), token)
    return copy.copy(kept[2])


def _token_saved_or_deleted(sender, instance: StoredToken, **_signal) -> None:
    GENERATION.replace(instance.user_id)


def connect_signals() -> None:
    for signal in (signals.post_save, signals.post_delete):
        signal.connect(_token_saved_or_deleted, sender=StoredToken, dispatch_uid=f"stored-tokens-{id(signal)}")


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


def rejects_token(error: Exception) -> bool:
    """Whether ArcGIS's answer says the stored token is no good (498 invalid or expired, 499 required): the one
    rule for "the operator must reconnect before anything can work"."""
    return isinstance(error, arcgis_client.TokenRejected)


def mark_rejected(user, site: Site, used_since: datetime) -> None:
    """That token must not be used again until the operator reconnects (a token connected after `used_since`,
    when the calls began, is spared)."""
    marked = StoredToken.objects.filter(
        user=user, site=site, invalid_since__isnull=True, connected_at__lte=used_since
    ).update(invalid_since=timezone.now())
    if marked:
        GENERATION.replace(user.pk)  # (an update sends no signal)


class RejectionWatch:
    """Watches the calls made with one user's token for a site, on any thread; `settle()`, back on the request's
    thread (it writes to the database), marks the token rejected once if any answer rejected it."""

    def __init__(self, user, site: Site):
        self.user, self.site = user, site
        self.started = timezone.now()  # the token was read by now: one connected later is another
        self.rejected = False

    def saw(self, error: Exception) -> None:
        if rejects_token(error):
            self.rejected = True

    def settle(self) -> None:
        if self.rejected:
            mark_rejected(self.user, self.site, self.started)
            self.rejected = False
