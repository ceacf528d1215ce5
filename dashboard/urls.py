from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_not_required
from django.shortcuts import redirect
from django.templatetags.static import static
from django.urls import include, path


@login_not_required
def favicon(request):
    """Browsers ask for /favicon.ico whatever the page says."""
    return redirect(static("favicon.svg"), permanent=True)


urlpatterns = [
    path("accounts/login/", auth_views.LoginView.as_view(redirect_authenticated_user=True), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("accounts/password_change/", auth_views.PasswordChangeView.as_view(), name="password_change"),
    path(
        "accounts/password_change/done/",
        auth_views.PasswordChangeDoneView.as_view(),
        name="password_change_done",
    ),
    path("admin/", admin.site.urls),
    path("favicon.ico", favicon),
    path("", include("jobs.urls")),
]

handler400 = "jobs.errors.bad_request"
handler403 = "jobs.errors.permission_denied"
handler404 = "jobs.errors.page_not_found"
handler500 = "jobs.errors.server_error"
