"""The portal's roles and the permissions they hold, named once.

Roles are Django groups created by migrations: a Viewer sees jobs, an Operator also cancels, deletes and purges,
a Site admin also manages sites, alert channels and everyone's policies. Superusers can do everything.
"""

from __future__ import annotations

VIEWER = "Viewer"
OPERATOR = "Operator"
SITE_ADMIN = "Site admin"
ROLE_NAMES = (SITE_ADMIN, OPERATOR, VIEWER)  # strongest first: a user's role is the first of theirs

VIEW_JOBS = "jobs.view_jobs"
OPERATE_JOBS = "jobs.operate_jobs"
CHANGE_SITE = "jobs.change_site"
VIEW_AUDIT = "jobs.view_auditevent"
VIEW_POLICY = "policies.view_policy"
ADD_POLICY = "policies.add_policy"
CHANGE_POLICY = "policies.change_policy"
DELETE_POLICY = "policies.delete_policy"
MANAGE_ALL_POLICIES = "policies.manage_all_policies"

# What a refusal says, on a page, in a fragment and in the API.
FORBIDDEN = "Your role does not allow this. Ask a site admin for access."


def can_view(user) -> bool:
    return user.has_perm(VIEW_JOBS)


def can_operate(user) -> bool:
    """Cancel, delete and purge, with the user's own ArcGIS token."""
    return user.has_perm(OPERATE_JOBS)


def role_of(user) -> str:
    """The role the header names: the strongest of the user's role groups."""
    from accounts.permission_cache import holdings  # (settings import this module: no models at its top)

    if user.is_superuser:
        return "Superuser"
    names = holdings(user).group_names
    return next((name for name in ROLE_NAMES if name in names), "No role")
