"""Single sign-on with OpenID Connect (mozilla-django-oidc), beside local accounts.

Configured by the environment (OIDC_* settings). The provider's endpoints come from its discovery
document (read when someone signs in, kept for an hour) or are set one by one. At every sign-in the
user's roles follow the provider: a claim (OIDC_ROLE_CLAIM, e.g. `groups`) maps to Viewer, Operator or
Site admin through OIDC_ROLE_MAP; role groups not mapped any more are removed. Someone with no mapped
group is refused, and an existing account of theirs loses its roles (so its API tokens stop acting).

An account made by signing in is named by OIDC_USERNAME_CLAIM (`preferred_username` by default), has no
password, and is linked to the provider's identity (issuer and subject): later sign-ins reach it by that
link alone, whatever the name says. An account the portal has of the same name, made any other way (with a
password or without), is never taken over: that sign-in is refused until an administrator renames one, or
marks that account for linking (`manage.py sso_link`; its next sign-in by that name binds it).
"""

from __future__ import annotations

import logging
import time

import requests
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_not_required
from django.contrib.auth.models import Group
from django.core.cache import cache
from django.core.exceptions import SuspiciousOperation
from django.db import IntegrityError, transaction
from django.http import Http404
from django.shortcuts import redirect
from django.utils.decorators import method_decorator
from mozilla_django_oidc.auth import OIDCAuthenticationBackend
from mozilla_django_oidc.views import OIDCAuthenticationCallbackView, OIDCAuthenticationRequestView

from accounts.models import ProviderAccount
from accounts.roles import ROLE_NAMES

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
        # The account this identity made at its first sign-in; a name alone never reaches an account, unless an
        # administrator marked that account for linking (then this sign-in binds it).
        link = ProviderAccount.objects.select_related("user").filter(issuer=issuer, subject=subject).first()
        user = link.user if link else None
        if user is None and (named := self.UserModel.objects.filter(username=username).first()) is not None:
            if not ProviderAccount.objects.filter(user=named, subject="").update(issuer=issuer, subject=subject):
                return self._refuse(
                    f"The portal has an account named {username} that was not made by signing in with "
                    f"{settings.OIDC_PROVIDER_NAME}: sign in with its password, or ask an administrator to link or "
                    "rename it."
                )
            user = named
        roles = roles_of(claims)
        if not roles:
            if user is not None:
                set_roles(user, set())  # removed from the groups: the role goes, API tokens included
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
        log.info("signed in through %s: user=%s roles=%s", settings.OIDC_PROVIDER_NAME, username, sorted(roles))
        return user

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
        try:
            return super().get(request)
        except ProviderUnavailable as exc:
            request.sso_refusal = str(exc)
            return self.login_failure()

    def login_failure(self):
        message = getattr(self.request, "sso_refusal", None) or (
            f"Signing in with {settings.OIDC_PROVIDER_NAME} did not work. Try again, or use your portal account."
        )
        messages.error(self.request, message)
        return redirect(settings.LOGIN_URL)
