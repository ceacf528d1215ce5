"""A site's monitoring account: the read-only ArcGIS account the collector reads every job with.

A username and password are traded for a token as needed (the token is kept encrypted until shortly before it
expires, and traded again once if ArcGIS rejects it); a pasted long-lived token is used as it is. The account only
ever reaches ArcGIS through a ReadOnlyClient, which refuses every POST before anything is sent: it is never used for
an action, and nothing outside the collector gets it (operators act with their own tokens, jobs.stored_tokens).
Each pass records how the account fared (last_ok, or failing_since, problem and its kind): the site's overview shows
it and policies.alerts.watch alerts it.
"""

from __future__ import annotations

import threading
from datetime import datetime, timedelta
from typing import Any

from django.db.models import F
from django.db.models.functions import Coalesce
from django.utils import timezone

import arcgis_client
from history.models import MonitoringAccount
from jobs.audit import quoted
from jobs.crypto import TokenDecryptionError, decrypt_text, encrypt_text
from jobs.models import Site
from jobs.operations import record_site_change
from jobs.upstream import connection_for

TOKEN_MINUTES = 120  # what a traded token is asked to live
RENEW_BEFORE = timedelta(minutes=5)  # a kept token this close to its expiry is traded again first
ADDRESS_CHANGED = "The site's address changed: a site admin must enter its monitoring account again."


class AccountProblem(Exception):
    """Why the monitoring account cannot read now: `kind` is one of MonitoringAccount's REJECTED, EXPIRED or
    UNREACHABLE, `message` says it to a site admin (never with a secret)."""

    def __init__(self, kind: str, message: str):
        super().__init__(message)
        self.kind, self.message = kind, message[:300]


class ReadOnly(arcgis_client.ArcGISError):
    """The monitoring account was asked to act: refused before anything is sent."""


def problem_of(error: arcgis_client.ArcGISError) -> AccountProblem:
    """The account's problem, as an error of a read with it says it."""
    if isinstance(error, arcgis_client.UpstreamUnavailable):
        return AccountProblem(MonitoringAccount.UNREACHABLE, error.message)
    if isinstance(error, arcgis_client.TokenRejected):
        return AccountProblem(MonitoringAccount.REJECTED, f"ArcGIS rejected the monitoring account's token: {error}")
    if isinstance(error, arcgis_client.Forbidden):
        return AccountProblem(MonitoringAccount.REJECTED, f"ArcGIS does not let the monitoring account read: {error}")
    return AccountProblem(MonitoringAccount.REJECTED, error.message)


class ReadOnlyClient(arcgis_client.AdminClient):
    """The Administrator API with the monitoring account's token, for reads only: a POST (cancel, delete, purge,
    statistics) raises ReadOnly without a request. It counts its calls, and a token ArcGIS rejects is traded again
    once (`renew`), when the account has a password to trade."""

    def __init__(self, connection: arcgis_client.SiteConnection, token: str, renew=None):
        super().__init__(connection, token)
        self._renew = renew
        self._lock = threading.Lock()
        self.calls = 0

    def count(self, calls: int = 1) -> None:
        with self._lock:
            self.calls += calls

    def _get(self, operation: str, path: str, **params: Any) -> Any:
        used = self._token
        self.count()
        try:
            return super()._get(operation, path, **params)
        except arcgis_client.TokenRejected:
            with self._lock:
                if self._token == used:  # else another thread traded it again meanwhile: use theirs
                    if self._renew is None:
                        raise
                    renew, self._renew = self._renew, None  # once a pass
                    self.calls += 1  # generateToken
                    self._token = renew()
        self.count()
        return super()._get(operation, path, **params)

    def _post(self, operation: str, path: str, **params: Any) -> Any:
        raise ReadOnly("The monitoring account only reads: it never acts on a job.")


class Session:
    """One pass's use of a site's monitoring account: `client()` gives the ReadOnlyClient (trading the password for
    a token when needed, which counts as a call), `fared()` records how the account did."""

    def __init__(self, account: MonitoringAccount):
        self.account = account
        self.site: Site = account.site
        self.trades = 0  # generateToken calls
        self._traded: arcgis_client.Token | None = None  # not kept yet

    def client(self) -> ReadOnlyClient:
        """Raises AccountProblem when there is no usable token."""
        renew = self._trade if self.account.kind == MonitoringAccount.PASSWORD else None
        client = ReadOnlyClient(connection_for(self.site), self._token(), renew)
        client.count(self.trades)
        self.keep()
        return client

    def _token(self) -> str:
        account = self.account
        if not account.has_secret:
            raise AccountProblem(MonitoringAccount.REJECTED, ADDRESS_CHANGED)
        now = timezone.now()
        try:
            if account.kind == MonitoringAccount.TOKEN:
                if account.token_expires is not None and account.token_expires <= now:
                    expired = timezone.localtime(account.token_expires)
                    raise AccountProblem(
                        MonitoringAccount.EXPIRED,
                        f"The monitoring account's token expired on {expired:%Y-%m-%d %H:%M}: a site admin must paste "
                        "a new one.",
                    )
                return account.secret
            if account.token_ciphertext and account.token_expires and account.token_expires - RENEW_BEFORE > now:
                return decrypt_text(bytes(account.token_ciphertext), "monitoring account's token")
        except TokenDecryptionError as exc:
            raise AccountProblem(MonitoringAccount.REJECTED, str(exc)) from None
        return self._trade()

    def _trade(self) -> str:
        """A new token for the username and password (on any thread: keep() stores it, on the pass's)."""
        account = self.account
        self.trades += 1
        try:
            password = account.secret
            # The trade is the pass's first call: it gets a read's budget, not an action's.
            trader = arcgis_client.AdminClient(connection_for(self.site, action_timeout=self.site.read_timeout))
            token = trader.generate_token(account.username, password, expiration_minutes=TOKEN_MINUTES)
        except TokenDecryptionError as exc:
            raise AccountProblem(MonitoringAccount.REJECTED, str(exc)) from None
        except arcgis_client.UpstreamUnavailable as exc:
            raise AccountProblem(MonitoringAccount.UNREACHABLE, exc.message) from None
        except arcgis_client.ArcGISError as exc:
            raise AccountProblem(
                MonitoringAccount.REJECTED,
                f"ArcGIS refused the monitoring account {account.username}: {exc.message}",
            ) from None
        self._traded = token
        return token.token

    def keep(self) -> None:
        """The token last traded, encrypted in the account, unless the account changed meanwhile."""
        token, self._traded = self._traded, None
        if token is not None:
            expires = token.expires or timezone.now() + timedelta(minutes=TOKEN_MINUTES)
            MonitoringAccount.objects.filter(pk=self.account.pk, changed=self.account.changed).update(
                token_ciphertext=encrypt_text(token.token), token_expires=expires
            )

    def fared(self, problem: AccountProblem | None, now: datetime | None = None) -> None:
        """At the end of the pass: a token traded again meanwhile is kept, and how the account did recorded."""
        self.keep()
        record(self.account, problem, now)


def record(account: MonitoringAccount, problem: AccountProblem | None, now: datetime | None = None) -> None:
    """How the account fared: fine (last_ok), or failing since its first failure in a row, and why."""
    now = now or timezone.now()
    accounts = MonitoringAccount.objects.filter(pk=account.pk)
    if problem is None:
        accounts.update(last_ok=now, failing_since=None, problem="", problem_kind="")
    else:
        accounts.update(
            failing_since=Coalesce(F("failing_since"), now), problem=problem.message, problem_kind=problem.kind
        )


# --- setting it --------------------------------------------------------------------------------------


def set_account(site: Site, user, *, username: str = "", password: str = "", token: str = "", via: str) -> None:
    """Store (or replace) the site's monitoring account: a username and password, or a token; audited without the
    secret. Its failures are forgotten: the next pass tries it afresh."""
    if bool(username and password) == bool(token):
        raise ValueError("A monitoring account is a username and a password, or a token.")
    account = MonitoringAccount.objects.filter(site=site).first() or MonitoringAccount(site=site)
    replaced = account.pk is not None
    account.kind = MonitoringAccount.PASSWORD if username else MonitoringAccount.TOKEN
    account.username = username
    account.set_secret(password or token)
    account.failing_since, account.problem, account.problem_kind = None, "", ""
    account.save()
    what = f"the ArcGIS account {quoted(username)} (its password is kept encrypted)" if username else "a pasted token"
    verb = "Replaced" if replaced else "Set"
    record_site_change(user, site, f"{verb} the monitoring account: {what}.", via=via)


def remove_account(site: Site, user, *, via: str) -> None:
    if MonitoringAccount.objects.filter(site=site).delete()[0]:
        record_site_change(user, site, "Removed the monitoring account.", via=via)


def forget_on_move(sender, site: Site, **kwargs) -> None:
    """The site now points elsewhere: its monitoring account's password or token must not follow it there."""
    MonitoringAccount.objects.filter(site=site).update(
        secret_ciphertext=b"",
        token_ciphertext=None,
        token_expires=None,
        failing_since=Coalesce(F("failing_since"), timezone.now()),
        problem=ADDRESS_CHANGED,
        problem_kind=MonitoringAccount.REJECTED,
        changed=timezone.now(),
    )
