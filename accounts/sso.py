"""Single sign-on with OpenID Connect (mozilla-django-oidc), beside local accounts.

Configured by the environment (OIDC_* settings). The provider's endpoints come from its discovery
document (read when someone signs in, kept for an hour) or are set one by one. At every sign-in the
user's roles follow the provider: a claim (OIDC_ROLE_CLAIM, e.g. `groups`) maps to Viewer, Operator or
Site admin through OIDC_ROLE_MAP; role groups not mapped any more are removed. Someone with no mapped
group is refused, and an existing account of theirs loses its roles (so its API tokens stop acting).

An account made by signing in is named by OIDC_USERNAME_CLAIM (`preferred_username` by default), has no
password, and is linked to the provider's identity (issuer and subject): later sign-ins reach it by that
link alone, whatever the name says. An account the portal has of the same name, made any other way (with a
password or without), is never taken over: a name proves nothing (OpenID Connect does not make it unique, and
many providers let people edit it). An administrator links such an account with `manage.py sso_link`: to the
provider's subject at once, or to the next sign-in with an e-mail address the administrator confirmed and the
provider marks verified. A linked account's local password no longer signs in (unless OIDC_LINK_KEEPS_PASSWORD).

Roles are confirmed with the provider at least every OIDC_RENEW_SECONDS, with the refresh token it gave at
sign-in (`renew`): for a signed-in browser (accounts.middleware), and whenever an API token or a scheduled policy
acts for the account. A provider that refuses to renew, or no longer lists a mapped group, takes the roles away
(and the account's policies pause: accounts.signals.roles_lost); a provider that cannot be asked lets nothing act
for the account until it can.
"""

from __future__ import annotations

import logging
import time
from datetime import timedelta
from urllib.parse import urlencode

import requests
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_not_required
from django.contrib.auth.models import Group
from django.core.cache import cache
from django.core.exceptions import SuspiciousOperation
from django.db import IntegrityError, transaction
from django.http import Http404
from django.shortcuts import redirect, resolve_url
from django.utils import timezone
from django.utils.decorators import method_decorator
from mozilla_django_oidc.auth import OIDCAuthenticationBackend
from mozilla_django_oidc.views import OIDCAuthenticationCallbackView, OIDCAuthenticationRequestView

from accounts.models import ProviderAccount
from accounts.roles import ROLE_NAMES
from accounts.signals import identity_linked, roles_lost

log = logging.getLogger(__name__)

ENDPOINTS = {
    "authorization_endpoint": "OIDC_OP_AUTHORIZATION_ENDPOINT",
    "token_endpoint": "OIDC_OP_TOKEN_ENDPOINT",
    "userinfo_endpoint": "OIDC_OP_USER_ENDPOINT",
    "jwks_uri": "OIDC_OP_JWKS_ENDPOINT",
}
DISCOVERY_SECONDS = 3600


class ProviderUnavailable(Exception):
    pass


class AccessUnconfirmed(Exception):
    """The provider could not confirm an account's roles (it did not answer, or the portal holds no refresh token
    for it): nothing acts for the account until it can. The message says so in words."""


class _RenewalRefused(Exception):
    """The provider refused to confirm the account (e.g. its refresh token was revoked): its roles go."""


def enabled() -> bool:
    return bool(getattr(settings, "OIDC_ENABLED", False))


def provider() -> dict[str, str]:
    """The provider's endpoints and issuer: set ones win over the discovery document's."""
    configured = {key: getattr(settings, name, None) for key, name in ENDPOINTS.items()}
    explicit = {key: value for key, value in configured.items() if value}
    url = settings.OIDC_OP_DISCOVERY_URL
    if not url:
        return explicit
    key = f"oidc:discovery:{url}"
    found = cache.get(key)
    if found is None:
        try:
            response = requests.get(url, timeout=settings.OIDC_TIMEOUT)
            response.raise_for_status()
            document = response.json()
            found = {name: document[name] for name in (*ENDPOINTS, "issuer")}
            if isinstance(document.get("end_session_endpoint"), str):  # RP-initiated logout, when offered
                found["end_session_endpoint"] = document["end_session_endpoint"]
        except (requests.RequestException, ValueError, KeyError, TypeError) as exc:
            log.warning("OpenID provider discovery at %s failed: %s", url, exc)
            raise ProviderUnavailable(f"{settings.OIDC_PROVIDER_NAME} did not answer; try again in a moment.") from None
        cache.set(key, found, DISCOVERY_SECONDS)
    return {**found, **explicit}


def roles_of(claims: dict) -> set[str]:
    """The portal roles the provider's claim gives (a list of groups, or one group as a string)."""
    values = claims.get(settings.OIDC_ROLE_CLAIM) or []
    if isinstance(values, str):
        values = [values]
    if not isinstance(values, list):
        return set()
    return {
        settings.OIDC_ROLE_MAP[value] for value in values if isinstance(value, str) and value in settings.OIDC_ROLE_MAP
    }


def set_roles(user, roles: set[str]) -> None:
    """The user's role groups become exactly `roles`; other groups (e.g. those that see restricted sites) stay."""
    with transaction.atomic():
        user.groups.remove(*Group.objects.filter(name__in=set(ROLE_NAMES) - roles))
        user.groups.add(*Group.objects.filter(name__in=roles))
    for cached in ("_perm_cache", "_user_perm_cache", "_group_perm_cache"):  # this instance's, read before
        user.__dict__.pop(cached, None)


def lose_roles(user, reason: str) -> None:
    """The provider no longer gives the account a role: its role groups go, and the layers above are told (its
    policies pause, the audit trail records it)."""
    had = set(user.groups.filter(name__in=ROLE_NAMES).values_list("name", flat=True))
    set_roles(user, set())
    if had:
        log.warning("single sign-on: %s lost the roles %s: %s", user.get_username(), sorted(had), reason)
        roles_lost.send(sender=ProviderAccount, user=user, reason=reason)


def link(user, issuer: str, subject: str, how: str, *, via: str = "web") -> ProviderAccount:
    """Bind the account to the provider's identity (raises IntegrityError when another account has it): its local
    password stops signing in unless OIDC_LINK_KEEPS_PASSWORD; audited (accounts.signals.identity_linked)."""
    with transaction.atomic():
        account, _ = ProviderAccount.objects.update_or_create(
            user=user, defaults={"issuer": issuer, "subject": subject, "email": ""}
        )
        if not settings.OIDC_LINK_KEEPS_PASSWORD and user.has_usable_password():
            user.set_unusable_password()  # the provider's sign-in (and its MFA) is the only way in now
            user.save(update_fields=["password"])
    identity_linked.send(sender=ProviderAccount, user=user, issuer=issuer, subject=subject, how=how, via=via)
    return account


# --- keeping roles current -------------------------------------------------------------------------------------


def renew(user) -> bool:
    """Confirms an account's roles with its provider, when the last confirmation is OIDC_RENEW_SECONDS old.

    True: the account may act (a local account, a recent confirmation, or the provider's groups still give it a
    role; the roles now follow them). False: the provider refused, or lists no mapped group: the roles are gone
    (lose_roles). Raises AccessUnconfirmed when the provider cannot be asked (nothing changes; the next use asks
    again)."""
    account = ProviderAccount.objects.filter(user=user).exclude(subject="").first()
    if account is None or not enabled():
        return True
    now = timezone.now()
    last = account.roles_checked
    if last is not None and now - last < timedelta(seconds=settings.OIDC_RENEW_SECONDS):
        return True
    # One process asks (a refresh token may be used only once); others meanwhile act on the roles as they are.
    if not ProviderAccount.objects.filter(pk=account.pk, roles_checked=last).update(roles_checked=now):
        return True
    try:
        claims, refresh_token = _renewed_claims(account)
    except AccessUnconfirmed:
        ProviderAccount.objects.filter(pk=account.pk, roles_checked=now).update(roles_checked=last)
        raise
    except _RenewalRefused as exc:
        ProviderAccount.objects.filter(pk=account.pk).update(refresh_ciphertext=b"")
        lose_roles(user, str(exc))
        return False
    account.refresh_token = refresh_token
    account.save(update_fields=["refresh_ciphertext"])
    roles = roles_of(claims)
    if not roles:
        lose_roles(user, f"{settings.OIDC_PROVIDER_NAME} no longer lists them in a group that gives a role.")
        return False
    set_roles(user, roles)
    return True


def _renewed_claims(account: ProviderAccount) -> tuple[dict, str]:
    """The account's claims as the provider gives them now (its userinfo, with a renewed access token), and the
    refresh token to keep."""
    name = settings.OIDC_PROVIDER_NAME
    unconfirmed = f"{name} could not confirm {account.user.get_username()}'s access just now; try again in a moment."
    try:
        refresh_token = account.refresh_token
    except Exception:  # a key that no longer decrypts it: as if there were none
        refresh_token = ""
    if not refresh_token:
        raise AccessUnconfirmed(
            f"The portal needs {account.user.get_username()} to sign in through {name} once more to confirm "
            "their access."
        )
    try:
        endpoints = provider()
    except ProviderUnavailable:
        raise AccessUnconfirmed(unconfirmed) from None
    form = {
        "grant_type": "refresh_token",
        "refresh_token": refresh_token,
        "client_id": settings.OIDC_RP_CLIENT_ID,
        "client_secret": settings.OIDC_RP_CLIENT_SECRET,
    }
    try:
        answer = requests.post(endpoints["token_endpoint"], data=form, timeout=settings.OIDC_TIMEOUT)
        if 400 <= answer.status_code < 500:
            raise _RenewalRefused(f"{name} refused to renew their sign-in (HTTP {answer.status_code}).")
        answer.raise_for_status()
        tokens = answer.json()
        info = requests.get(
            endpoints["userinfo_endpoint"],
            headers={"Authorization": f"Bearer {tokens['access_token']}"},
            timeout=settings.OIDC_TIMEOUT,
        )
        if info.status_code in (401, 403):
            raise _RenewalRefused(f"{name} refused to tell who they are (HTTP {info.status_code}).")
        info.raise_for_status()
        claims = info.json()
    except (requests.RequestException, ValueError, KeyError, TypeError) as exc:
        log.warning("single sign-on: renewing %s failed: %s", account.user.get_username(), type(exc).__name__)
        raise AccessUnconfirmed(unconfirmed) from None
    if not isinstance(claims, dict) or claims.get("sub") != account.subject:
        raise _RenewalRefused(f"{name} answered about someone else.")
    return claims, tokens.get("refresh_token") or refresh_token


class PortalOIDCBackend(OIDCAuthenticationBackend):
    """Signs in with the provider's authorization code; roles from its claims, at every sign-in."""

    def __init__(self, *args, **kwargs):
        # Not mozilla's: it reads the endpoints here, on every request of a signed-in user. They are read at sign-in.
        self.UserModel = get_user_model()

    def authenticate(self, request, **kwargs):
        if not enabled() or request is None or "code" not in request.GET or "state" not in request.GET:
            return None  # e.g. a local sign-in with a username and password
        endpoints = provider()
        self.OIDC_OP_TOKEN_ENDPOINT = endpoints["token_endpoint"]
        self.OIDC_OP_USER_ENDPOINT = endpoints["userinfo_endpoint"]
        self.OIDC_OP_JWKS_ENDPOINT = endpoints["jwks_uri"]
        self.issuer = endpoints.get("issuer")
        self.OIDC_RP_CLIENT_ID = settings.OIDC_RP_CLIENT_ID
        self.OIDC_RP_CLIENT_SECRET = settings.OIDC_RP_CLIENT_SECRET
        self.OIDC_RP_SIGN_ALGO = settings.OIDC_RP_SIGN_ALGO
        self.OIDC_RP_IDP_SIGN_KEY = None
        return super().authenticate(request, **kwargs)

    def verify_token(self, token, **kwargs):
        """mozilla-django-oidc checks the signature and the nonce; the ID token must also be for this portal,
        from this provider, and current."""
        payload = super().verify_token(token, **kwargs)
        audience = payload.get("aud")
        audiences = audience if isinstance(audience, list) else [audience]
        if settings.OIDC_RP_CLIENT_ID not in audiences:
            raise SuspiciousOperation("The ID token is for another client.")
        if self.issuer and payload.get("iss") != self.issuer:
            raise SuspiciousOperation("The ID token is from another issuer.")
        if not isinstance(payload.get("exp"), int | float) or payload["exp"] < time.time() - 60:
            raise SuspiciousOperation("The ID token has expired.")
        return payload

    def get_token(self, payload):
        """mozilla-django-oidc's, keeping the refresh token too: with it, the roles are confirmed again later."""
        tokens = super().get_token(payload)
        self.refresh_token = tokens.get("refresh_token") if isinstance(tokens.get("refresh_token"), str) else ""
        return tokens

    def get_userinfo(self, access_token, id_token, payload):
        """The ID token's claims with the userinfo endpoint's (the same subject's) on top."""
        info = super().get_userinfo(access_token, id_token, payload)
        if info.get("sub") != payload.get("sub"):
            raise SuspiciousOperation("The userinfo is about another subject than the ID token.")
        return {**payload, **info}

    def get_or_create_user(self, access_token, id_token, payload):
        claims = self.get_userinfo(access_token, id_token, payload)
        claim = settings.OIDC_USERNAME_CLAIM
        username = claims.get(claim)
        if not isinstance(username, str) or not username.strip() or len(username) > 150:
            return self._refuse(f"Your {settings.OIDC_PROVIDER_NAME} account does not name you ({claim}).")
        issuer, subject = claims.get("iss"), claims.get("sub")
        if not (isinstance(issuer, str) and isinstance(subject, str) and issuer and subject):
            return self._refuse(f"Your {settings.OIDC_PROVIDER_NAME} account does not identify you (iss, sub).")
        # The account this identity made at its first sign-in, or linked by an administrator; a name alone never
        # reaches an account (a provider may let anyone choose it).
        found = ProviderAccount.objects.select_related("user").filter(issuer=issuer, subject=subject).first()
        user = found.user if found else None
        if user is None:
            user = self._awaiting_this_email(claims, issuer, subject)
        if user is None and self.UserModel.objects.filter(username=username).exists():
            return self._refuse(
                f"The portal has an account named {username} that is not linked to your {settings.OIDC_PROVIDER_NAME} "
                "account: sign in with its password, or ask an administrator to link it (or rename it)."
            )
        roles = roles_of(claims)
        if not roles:
            if user is not None:  # removed from the groups: the role goes, API tokens and policies included
                lose_roles(user, f"{settings.OIDC_PROVIDER_NAME} lists them in no group that gives a role.")
            return self._refuse(
                f"Your {settings.OIDC_PROVIDER_NAME} account has no group that gives a role in the portal. "
                "Ask an administrator for access."
            )
        if user is None:
            try:
                with transaction.atomic():  # no password: it signs in through the provider
                    user = self.UserModel.objects.create_user(username)
                    ProviderAccount.objects.create(user=user, issuer=issuer, subject=subject)
            except IntegrityError:  # the same person signing in twice at once: the other sign-in made it
                return self._refuse("Signing in did not finish: try again.")
        email = claims.get("email")
        if isinstance(email, str) and user.email != email:
            user.email = email
            user.save(update_fields=["email"])
        set_roles(user, roles)
        confirmed = ProviderAccount.objects.get(user=user)
        confirmed.refresh_token, confirmed.roles_checked = getattr(self, "refresh_token", ""), timezone.now()
        confirmed.save(update_fields=["refresh_ciphertext", "roles_checked"])
        log.info("signed in through %s: user=%s roles=%s", settings.OIDC_PROVIDER_NAME, username, sorted(roles))
        return user

    def _awaiting_this_email(self, claims: dict, issuer: str, subject: str):
        """The account an administrator linked to this e-mail address (sso_link --email), bound now to this
        identity: only when the provider says it verified the address."""
        email = claims.get("email")
        if not (isinstance(email, str) and email and claims.get("email_verified") is True):
            return None
        awaiting = (
            ProviderAccount.objects.select_related("user").filter(subject="", email__iexact=email.strip()).first()
        )
        if awaiting is None:
            return None
        try:
            link(awaiting.user, issuer, subject, f"its first sign-in with the verified address {email}")
        except IntegrityError:
            return None
        return awaiting.user

    def _refuse(self, message: str):
        log.warning("single sign-on refused: %s", message)
        self.request.sso_refusal = message
        return None


@method_decorator(login_not_required, name="dispatch")
class SignIn(OIDCAuthenticationRequestView):
    """Sends the browser to the provider (with PKCE, a state and a nonce)."""

    def __init__(self, *args, **kwargs):
        super(OIDCAuthenticationRequestView, self).__init__(*args, **kwargs)  # the endpoint is read per sign-in

    def get(self, request):
        if not enabled():
            raise Http404
        try:
            self.OIDC_OP_AUTH_ENDPOINT = provider()["authorization_endpoint"]
        except ProviderUnavailable as exc:
            messages.error(request, str(exc))
            return redirect(settings.LOGIN_URL)
        self.OIDC_RP_CLIENT_ID = settings.OIDC_RP_CLIENT_ID
        return super().get(request)


@method_decorator(login_not_required, name="dispatch")
class Callback(OIDCAuthenticationCallbackView):
    """Where the provider sends the browser back; a refusal is explained on the login page."""

    def get(self, request):
        if not enabled():
            raise Http404
        if "error" in request.GET:
            return self._provider_error(request)
        try:
            return super().get(request)
        except ProviderUnavailable as exc:
            request.sso_refusal = str(exc)
            return self.login_failure()

    def _provider_error(self, request):
        """The provider sends the browser back with an error only for a sign-in this browser started (its state is
        in the session): that one is over. Anything else is a link someone else made: it signs nobody out
        (mozilla-django-oidc's own callback would, a cross-site sign-out)."""
        states = request.session.get("oidc_states") or {}
        state = request.GET.get("state")
        if state and state in states:
            del states[state]
            request.session["oidc_states"] = states
            return self.login_failure()
        return redirect(settings.LOGIN_REDIRECT_URL if request.user.is_authenticated else settings.LOGIN_URL)

    def login_failure(self):
        message = getattr(self.request, "sso_refusal", None) or (
            f"Signing in with {settings.OIDC_PROVIDER_NAME} did not work. Try again, or use your portal account."
        )
        messages.error(self.request, message)
        return redirect(settings.LOGIN_URL)


class SignOut(auth_views.LogoutView):
    """Django's sign-out; after a sign-in through the provider, the provider's own session ends too, when it offers
    RP-initiated logout (an `end_session_endpoint`): the browser goes there, and comes back to the login page."""

    def post(self, request, *args, **kwargs):
        id_token = request.session.get("oidc_id_token")
        response = super().post(request, *args, **kwargs)
        if not (id_token and enabled()):
            return response
        try:
            end_session = provider().get("end_session_endpoint")
        except ProviderUnavailable:
            return response  # signed out of the portal; the provider's session ends with its own timeout
        if not end_session:
            return response
        query = {
            "id_token_hint": id_token,
            "client_id": settings.OIDC_RP_CLIENT_ID,
            "post_logout_redirect_uri": request.build_absolute_uri(resolve_url(settings.LOGIN_URL)),
        }
        return redirect(f"{end_session}?{urlencode(query)}")
