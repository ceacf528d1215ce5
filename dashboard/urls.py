import sys

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_not_required
from django.shortcuts import redirect
from django.templatetags.static import static
from django.urls import include, path

from accounts import sso
from api import v1
from api.views import api_tokens
from dashboard import error_pages, health
from dashboard.metrics import metrics_view


@login_not_required
def favicon(request):
    """Browsers ask for /favicon.ico whatever the page says."""
    return redirect(static("favicon.svg"), permanent=True)


urlpatterns = [
    path("accounts/login/", auth_views.LoginView.as_view(redirect_authenticated_user=True), name="login"),
    path("accounts/logout/", sso.SignOut.as_view(), name="logout"),
    path("accounts/password_change/", auth_views.PasswordChangeView.as_view(), name="password_change"),
    path(
        "accounts/password_change/done/",
        auth_views.PasswordChangeDoneView.as_view(),
        name="password_change_done",
    ),
    path("oidc/authenticate/", sso.SignIn.as_view(), name="oidc_authentication_init"),
    path("oidc/callback/", sso.Callback.as_view(), name="oidc_authentication_callback"),
    path("account/api-tokens/", api_tokens, name="api_tokens"),
    path("api/v1/", v1.urls()),
    path("admin/", admin.site.urls),
    path("favicon.ico", favicon),
    path("metrics", metrics_view, name="metrics"),
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("policies/", include("policies.urls")),
    path("history/", include("history.urls")),
    path("", include("jobs.urls")),
]


def page_not_found(request, exception=None):
    """The API answers in its own JSON shape, even for a path it does not have."""
    if request.path.startswith("/api/"):
        return v1.error_response(request, 404, "There is nothing here, or you may not see it.")
    return error_pages.page_not_found(request, exception)


def bad_request(request, exception=None):
    if request.path.startswith("/api/"):
        return v1.error_response(request, 400, "The request could not be understood (is its body too large?).")
    return error_pages.bad_request(request, exception)


def server_error(request):
    """A database that does not answer is a 503 in words, in the API's shape for the API."""
    if request.path.startswith("/api/") and (text := error_pages.database_not_answering(sys.exc_info()[1])):
        response = v1.error_response(request, 503, text, "unavailable")
        response["Retry-After"] = str(error_pages.RETRY_AFTER_SECONDS)
        response._has_been_logged = True  # logged once per outage (error_pages.DATABASE), not per request
        return response
    return error_pages.server_error(request)


handler400 = bad_request
handler403 = "dashboard.error_pages.permission_denied"
handler404 = page_not_found
handler500 = server_error
