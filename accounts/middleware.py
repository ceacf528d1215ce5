from django.contrib.auth import middleware as auth_middleware
from django_htmx.http import HttpResponseClientRedirect


class LoginRequiredMiddleware(auth_middleware.LoginRequiredMiddleware):
    """Django's, plus: an htmx request of an ended session sends the whole page to the login
    (HX-Redirect) instead of swapping the login form into a table row."""

    def handle_no_permission(self, request, view_func):
        response = super().handle_no_permission(request, view_func)
        if getattr(request, "htmx", False):
            return HttpResponseClientRedirect(response.url)
        return response
