"""The permission checks every door makes: decorators for the pages, `require` for the API and commands.

Both refuse with PermissionDenied and the one wording of accounts.roles.FORBIDDEN; the pages answer it with the
portal's 403 page, the API with its JSON error.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps

from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest

from accounts import roles


class AuthenticatedHttpRequest(HttpRequest):
    """A request a view gets only signed in: LoginRequiredMiddleware sees to it for the pages, the API's
    bearer token for the API (Django types `user` as possibly anonymous)."""

    user: User


def require(user, permission: str) -> None:
    """Raises PermissionDenied unless the user holds the permission."""
    if not user.has_perm(permission):
        raise PermissionDenied(roles.FORBIDDEN)


def permission_required(permission: str) -> Callable:
    """A view decorator: the view runs only for a user who holds the permission (403 otherwise)."""

    def decorate(view: Callable) -> Callable:
        @wraps(view)
        def checked(request, *args, **kwargs):
            require(request.user, permission)
            return view(request, *args, **kwargs)

        return checked

    return decorate


viewer_required = permission_required(roles.VIEW_JOBS)
operator_required = permission_required(roles.OPERATE_JOBS)
audit_viewer_required = permission_required(roles.VIEW_AUDIT)
