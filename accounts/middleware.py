"""The portal's own middleware for signed-in people: pages of an ended session, and single sign-on's renewals."""

import time

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.contrib.auth import middleware as auth_middleware
from django_htmx.http import HttpResponseClientRedirect

from accounts import sso


class LoginRequiredMiddleware(auth_middleware.LoginRequiredMiddleware):
    """Django's, plus: an htmx request of an ended session sends the whole page to the login
    (HX-Redirect) instead of swapping the login form into a table row."""

    def handle_no_permission(self, request, view_func):
        response = super().handle_no_permission(request, view_func)
        if getattr(request, "htmx", False):
            return HttpResponseClientRedirect(response.url)
        return response


class SingleSignOnRenewal:
    """A signed-in browser of a single sign-on account: its roles are confirmed with the provider once the last
    confirmation is OIDC_RENEW_SECONDS old (accounts.sso.renew). Removed at the provider, or not confirmable, the
    browser is signed out and told why; local accounts are looked at once in a while and left alone."""

    SESSION_KEY = "sso_look_again_at"
    LOOK_EVERY = 30  # seconds: how often a session looks whether its confirmation is due (one indexed query)

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated and sso.enabled():
            now = time.time()
            if now >= request.session.get(self.SESSION_KEY, 0):
                self._confirm(request, user, now)
        return self.get_response(request)

    def _confirm(self, request, user, now: float) -> None:
        name = settings.OIDC_PROVIDER_NAME
        try:
            kept = sso.renew(user)
            message = f"Your access to the portal was removed at {name}. Ask an administrator if you still need it."
        except sso.AccessUnconfirmed:
            kept, message = False, f"The portal could not confirm your access with {name}: sign in again."
        if kept:
            request.session[self.SESSION_KEY] = now + self.LOOK_EVERY
            return
        logout(request)
        messages.warning(request, message)
