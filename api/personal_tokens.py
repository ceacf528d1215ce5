"""Personal API tokens: issued once, kept as a digest, checked in constant time, limited per minute.

A token is `gpj_<prefix>_<secret>`: 8 hex characters that find the row, then 43 characters
(32 random bytes). Only the SHA-256 of the whole token is stored; it is shown to its owner once.
Creation, revocation and every refused use of a revoked or expired token are in the audit trail.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import secrets
import time
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.core.cache import cache
from django.utils import timezone

from api.models import ApiToken
from jobs import audit
from jobs.models import AuditEvent

PREFIX = "gpj_"
Action = AuditEvent.Action
Via = AuditEvent.Via

LAST_USED_EVERY = 60  # seconds: `last_used` is written at most this often, not on every request
REFUSALS_AUDITED_EVERY = 60  # a script retrying a revoked token leaves one audit row a minute, not thousands


class Refused(Exception):
    """The request's token cannot be used; `.message` says why in words."""

    def __init__(self, message: str):
        self.message = message
        super().__init__(message)


@dataclass(frozen=True)
class RateLimited(Exception):
    retry_after: int  # seconds until the next minute's allowance


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def issue(user, name: str, days: int) -> tuple[ApiToken, str]:
    """A new token for the user: the row, and the token itself (shown once, never stored)."""
    prefix = secrets.token_hex(4)
    while ApiToken.objects.filter(prefix=prefix).exists():  # 4 billion prefixes: practically never
        prefix = secrets.token_hex(4)
    token = f"{PREFIX}{prefix}_{secrets.token_urlsafe(32)}"
    row = ApiToken.objects.create(
        user=user, name=name, prefix=prefix, digest=digest(token), expires=timezone.now() + timedelta(days=days)
    )
    until = timezone.localtime(row.expires).strftime("%Y-%m-%d %H:%M %Z")
    audit.record(
        user, None, Action.API_TOKEN_CREATED, f"Created, valid until {until}.", via=Via.WEB, via_detail=row.label
    )
    return row, token


def revoke(user, row: ApiToken) -> None:
    if row.revoked is not None:
        return
    row.revoked = timezone.now()
    row.save(update_fields=["revoked"])
    audit.record(user, None, Action.API_TOKEN_REVOKED, "Revoked.", via=Via.WEB, via_detail=row.label)


def authenticate(token: str) -> ApiToken:
    """The token's row, if it may be used now; raises Refused (in words) otherwise."""
    if not token.startswith(PREFIX) or len(token) > 200 or token[len(PREFIX) + 8 : len(PREFIX) + 9] != "_":
        raise Refused("That is not a portal API token.")
    prefix = token[len(PREFIX) : len(PREFIX) + 8]
    row = ApiToken.objects.select_related("user").filter(prefix=prefix).first()
    # Compared in constant time; an unknown prefix costs the same digest as a known one.
    expected = row.digest if row else digest("")
    if not hmac.compare_digest(digest(token), expected) or row is None:
        raise Refused("Unknown API token.")
    if row.revoked is not None or row.is_expired:
        _audit_refusal(row)
        raise Refused(f"This API token was {row.state} (it is {row.name!r}); create a new one in the portal.")
    if not row.user.is_active:
        raise Refused("The account this API token belongs to is deactivated.")
    now = timezone.now()
    if row.last_used is None or (now - row.last_used).total_seconds() > LAST_USED_EVERY:
        ApiToken.objects.filter(pk=row.pk).update(last_used=now)
    return row


def _audit_refusal(row: ApiToken) -> None:
    if cache.add(f"api:refused:{row.pk}", 1, timeout=REFUSALS_AUDITED_EVERY):
        message = f"A request used this {row.state} token."
        outcome = AuditEvent.Outcome.REFUSED
        audit.record(
            row.user, None, Action.API_TOKEN_REFUSED, message, via=Via.API, via_detail=row.label, outcome=outcome
        )


def check_rate(row: ApiToken) -> None:
    """At most API_RATE_LIMIT requests per token and minute, counted in the shared cache (every worker
    and host agrees; while Redis is away, each process counts its own); raises RateLimited with the seconds until
    the next minute."""
    limit = settings.API_RATE_LIMIT
    now = time.time()
    window = math.floor(now / 60)
    key = f"api:rate:{row.pk}:{window}"
    cache.add(key, 0, timeout=90)
    try:
        count = cache.incr(key)
    except ValueError:  # expired between add and incr: this request starts the window
        cache.set(key, 1, timeout=90)
        count = 1
    if count > limit:
        raise RateLimited(max(math.ceil((window + 1) * 60 - now), 1))
