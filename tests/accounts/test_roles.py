"""Roles, enforced on the server for every page and action and reflected in the UI, and sites
restricted to groups, which are invisible (404) to everyone outside those groups."""

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.core.cache import cache
from django.core.management import call_command
from django.urls import reverse

from accounts.permission_cache import GENERATION_KEY, CachedPermissionsBackend, _user_row
from arcgis_simulator.tls import generate_certificate
from jobs import operations
from jobs.models import AuditEvent, Site
from jobs.targets import ServiceTarget
from tests.conftest import make_user
from tests.helpers import jobs_table_html, site_admin_form

pytestmark = pytest.mark.django_db

JOB_ID = "j0123456789abcdef0123456789abcdef"
ROLES = ["outsider", "viewer", "operator", "site_admin", "superuser"]
SEES = {"viewer", "operator", "site_admin", "superuser"}
OPERATES = {"operator", "site_admin", "superuser"}
MANAGES_SITES = {"site_admin", "superuser"}


@pytest.fixture
def superuser(db):
    return make_user("root", is_superuser=True)


@pytest.fixture
def users(outsider, viewer, operator, site_admin, superuser):
    return {
        "outsider": outsider,
        "viewer": viewer,
        "operator": operator,
        "site_admin": site_admin,
        "superuser": superuser,
    }


def page_urls(site, service) -> dict[str, str]:
    target = ServiceTarget(site, service)
    return {
        "site": reverse("jobs:site", args=[site.slug]),
        "token": reverse("jobs:token", args=[site.slug]),
        "job_list": target.url("job_list"),
        "service_counts": target.url("service_counts"),
        "job": target.url("job", JOB_ID),
    }


def action_posts(site, service) -> dict[str, tuple[str, dict]]:
    """Every state-changing post, with the data the portal's pages send."""
    target = ServiceTarget(site, service)
    return {
        "cancel": (target.url("cancel", JOB_ID), {}),
        "delete": (target.url("delete", JOB_ID), {"confirmed": "yes"}),
        "purge": (target.url("purge"), {"confirmed": "yes"}),
        "bulk": (target.url("bulk"), {"action": "cancel", "job_ids": [JOB_ID], "confirmed": "yes"}),
    }


@pytest.fixture
def everyone_connected(simulator, site, service, users, connect):
    """Each user holds a working token, so a refusal can only come from the portal's own check."""
    simulator.state.add_job(service.key, job_id=JOB_ID)
    for user in users.values():
        connect(user, site)
    simulator.requests.clear()
    return users


# --- every URL x every role ----------------------------------------------------------------


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("name", ["overview", "site", "token", "job_list", "service_counts", "job", "audit", "csv"])
def test_pages_need_the_viewer_role(site, service, everyone_connected, client_as, role, name):
    urls = {**page_urls(site, service), "overview": reverse("jobs:overview"), "audit": reverse("jobs:audit")}
    urls["csv"] = reverse("jobs:audit_csv")
    response = client_as(everyone_connected[role]).get(urls[name])
    assert response.status_code == (200 if role in SEES else 403)


def test_a_role_check_is_one_cache_read_and_no_query_once_cached(operator, django_assert_num_queries):
    assert get_user_model().objects.get(pk=operator.pk).has_perm("jobs.operate_jobs")  # cached now
    fresh = get_user_model().objects.get(pk=operator.pk)  # as the next request loads the user
    with django_assert_num_queries(0):
        assert fresh.has_perm("jobs.operate_jobs") and fresh.has_perm("jobs.view_jobs")
        assert not fresh.has_perm("jobs.change_site")


@pytest.fixture
def cancelling(simulator, site, service, operator, connect, client_as):
    """The connected operator's client, and the cancel it may post (it has just done so once)."""
    connect(operator, site)
    client = client_as(operator)
    url, _ = action_posts(site, service)["cancel"]
    assert client.action(url).status_code == 200
    return client, url


def test_a_role_taken_away_takes_effect_at_the_next_request(cancelling, operator):
    client, url = cancelling
    operator.groups.set([Group.objects.get(name="Viewer")])
    assert client.action(url).status_code == 403
    assert client.get(reverse("jobs:overview")).status_code == 200  # still a viewer
    operator.groups.clear()
    assert client.get(reverse("jobs:overview")).status_code == 403


def test_a_group_losing_a_permission_takes_effect_at_the_next_request(cancelling):
    client, url = cancelling
    Group.objects.get(name="Operator").permissions.remove(Permission.objects.get(codename="operate_jobs"))
    assert client.action(url).status_code == 403


def test_superuser_status_and_deactivation_take_effect_at_the_next_request(site, service, client_as):
    user = make_user("sam")
    client = client_as(user)
    overview = reverse("jobs:overview")
    assert client.get(overview).status_code == 403
    get_user_model().objects.filter(pk=user.pk).update(is_superuser=True)  # not even through a signal
    assert client.get(overview).status_code == 200
    get_user_model().objects.filter(pk=user.pk).update(is_active=False)
    assert client.get(overview).status_code != 200


def test_a_new_user_given_a_deleted_users_id_does_not_inherit_its_roles(site, service, client_as):
    old = make_user("old", "Operator")
    assert old.has_perm("jobs.operate_jobs")
    user_id = old.pk
    old.delete()
    new = make_user("new", id=user_id)
    assert not get_user_model().objects.get(pk=user_id).has_perm("jobs.view_jobs")
    assert client_as(new).get(reverse("jobs:overview")).status_code == 403


def test_a_password_session_ends_at_the_next_request_once_its_account_is_linked(operator, client_as, settings):
    """Linking keeps the password only with OIDC_LINK_KEEPS_PASSWORD: a session signed in with it then ends, also
    when the link was made without changing the password (an administrator's, or the setting turned off since)."""
    from accounts.models import ProviderAccount

    settings.OIDC_LINK_KEEPS_PASSWORD = False
    client = client_as(operator)
    assert client.get(reverse("jobs:overview")).status_code == 200  # what the account holds is cached now
    ProviderAccount.objects.create(user=operator, issuer="https://sso.example.com", subject="olivia.smith")
    assert client.get(reverse("jobs:overview")).status_code == 302  # to the login page


def test_migrations_make_every_cached_role_stale(operator):
    assert get_user_model().objects.get(pk=operator.pk).has_perm("jobs.operate_jobs")
    before = cache.get(GENERATION_KEY)
    call_command("migrate", verbosity=0)  # a data migration may have changed a group's permissions
    assert cache.get(GENERATION_KEY) not in {None, before}


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("action", ["cancel", "delete", "purge", "bulk"])
def test_actions_need_the_operator_role(simulator, site, service, everyone_connected, client_as, role, action):
    url, data = action_posts(site, service)[action]
    response = client_as(everyone_connected[role]).action(url, data)
    if role in OPERATES:
        assert response.status_code == 200
        # A bulk action is audited as one cancel per job, via "bulk".
        audited = {"action": "cancel", "via": "bulk"} if action == "bulk" else {"action": action}
        assert AuditEvent.objects.filter(username=everyone_connected[role].username, **audited).exists()
        assert simulator.requests.snapshot(), "the action went upstream"
    else:
        assert response.status_code == 403
        assert not AuditEvent.objects.exists()
        assert list(simulator.requests) == []
        assert simulator.state.get_job(service.key, JOB_ID)["status"] == "esriJobExecuting"


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("intent", ["disconnect", "connect", "paste"])
def test_connecting_needs_the_viewer_role(simulator, site, everyone_connected, client_as, role, intent):
    data = {"intent": intent, "username": "siteadmin", "password": "siteadmin", "expiration": "60", "token": "x"}
    response = client_as(everyone_connected[role]).action(reverse("jobs:token", args=[site.slug]), data, htmx=False)
    if role in SEES:
        assert response.status_code in (200, 302)
    else:
        assert response.status_code == 403
        assert not AuditEvent.objects.exists()
        assert list(simulator.requests) == []


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("name", ["admin:jobs_site_changelist", "admin:jobs_site_add", "admin:jobs_site_change"])
def test_only_site_admins_manage_sites(site, users, client_as, role, name):
    args = [site.pk] if name.endswith("change") else []
    response = client_as(users[role]).get(reverse(name, args=args))
    if role in MANAGES_SITES:
        assert response.status_code == 200
    else:
        # The admin sends everyone else to its own sign-in page.
        assert response.status_code == 302 and reverse("admin:login") in response.url


def test_site_admins_need_no_staff_flag(site_admin):
    assert not site_admin.is_staff and site_admin.has_perm("jobs.change_site")


# --- what the UI offers each role ----------------------------------------------------------


def test_viewers_see_jobs_without_action_buttons(simulator, site, service, everyone_connected, client_as):
    target = ServiceTarget(site, service)
    client = client_as(everyone_connected["viewer"])
    for html in (
        jobs_table_html(client, target),
        client.htmx_get(target.url("job", JOB_ID)).content.decode(),
    ):
        assert f'id="job-{JOB_ID}"' in html
        assert ">Cancel</button>" not in html and ">Delete</button>" not in html
        assert "Purge queue" not in html and 'id="bulk-form"' not in html and 'name="job_ids"' not in html
        assert target.url("cancel", JOB_ID) not in html and target.url("purge") not in html


@pytest.mark.parametrize("role", sorted(OPERATES))
def test_operators_get_the_action_buttons(simulator, site, service, everyone_connected, client_as, role):
    target = ServiceTarget(site, service)
    html = jobs_table_html(client_as(everyone_connected[role]), target)
    assert ">Cancel</button>" in html and ">Delete</button>" in html
    assert "Purge queue…</button>" in html and 'id="bulk-form"' in html and 'name="job_ids"' in html


@pytest.mark.parametrize("role", ["viewer", "operator", "site_admin", "superuser"])
def test_the_sites_link_is_only_for_site_admins(site, users, client_as, role):
    html = client_as(users[role]).get(reverse("jobs:overview")).content.decode()
    link = f'<a href="{reverse("admin:jobs_site_changelist")}">Sites</a>'
    assert (link in html) == (role in MANAGES_SITES)


# --- sites restricted to groups --------------------------------------------------------------


@pytest.fixture
def team(db):
    return Group.objects.create(name="Hydrology team")


@pytest.fixture
def restricted(simulator, service, team):
    site = Site.objects.create(slug="hydro", name="Hydrology site", admin_url=simulator.admin_url, insecure=True)
    site.groups.add(team)
    return site


@pytest.fixture
def member(team):
    user = make_user("mia", "Operator")
    user.groups.add(team)
    return user


def test_a_restricted_site_is_a_404_on_every_url_to_non_members(
    simulator, site, service, restricted, operator, viewer, connect, client_as
):
    simulator.state.add_job(service.key, job_id=JOB_ID)
    for user in (operator, viewer):
        connect(user, restricted)
    simulator.requests.clear()
    for user in (operator, viewer):
        client = client_as(user)
        for name, url in page_urls(restricted, service).items():
            assert client.get(url).status_code == 404, (user.username, name)
            assert client.htmx_get(url).status_code == 404, (user.username, name)
        token_post = {"intent": "disconnect"}
        assert client.action(reverse("jobs:token", args=[restricted.slug]), token_post).status_code == 404
    client = client_as(operator)
    for name, (url, data) in action_posts(restricted, service).items():
        assert client.action(url, data).status_code == 404, name
        assert client.action(url, data, htmx=False).status_code == 404, name
    assert list(simulator.requests) == []
    assert not AuditEvent.objects.exists()
    assert simulator.state.get_job(service.key, JOB_ID)["status"] == "esriJobExecuting"


def test_the_overview_hides_a_restricted_site_from_non_members(site, restricted, viewer, member, client_as):
    html = client_as(viewer).get(reverse("jobs:overview")).content.decode()
    assert "Main site" in html
    assert "Hydrology site" not in html and "/sites/hydro/" not in html
    html = client_as(member).get(reverse("jobs:overview")).content.decode()
    assert "Main site" in html and "Hydrology site" in html


def test_members_and_superusers_see_a_restricted_site(
    simulator, service, restricted, member, superuser, connect, client_as
):
    simulator.state.add_job(service.key, job_id=JOB_ID)
    for user in (member, superuser):
        connect(user, restricted)
        client = client_as(user)
        for name, url in page_urls(restricted, service).items():
            assert client.get(url).status_code == 200, (user.username, name)
    response = client_as(member).action(ServiceTarget(restricted, service).url("cancel", JOB_ID))
    assert "Cancel requested" in response.content.decode()
    assert simulator.state.get_job(service.key, JOB_ID)["status"] == "esriJobCancelling"


def test_a_viewer_in_the_group_sees_the_site_but_cannot_act(simulator, service, restricted, team, connect, client_as):
    reader = make_user("rita", "Viewer")
    reader.groups.add(team)
    connect(reader, restricted)
    target = ServiceTarget(restricted, service)
    client = client_as(reader)
    assert client.get(target.url("job_list")).status_code == 200
    assert client.action(target.url("purge"), {"confirmed": "yes"}).status_code == 403


def test_who_may_see_a_site_changes_at_the_next_request(simulator, service, restricted, team, member, client_as):
    """Sites and who sees them are kept in each process (jobs.site_directory): every change counts at once."""
    client = client_as(member)
    jobs_page = ServiceTarget(restricted, service).url("job_list")
    assert client.get(jobs_page).status_code == 200  # the directory holds the site now
    member.groups.remove(team)
    assert client.get(jobs_page).status_code == 404
    member.groups.add(team)
    assert client.get(jobs_page).status_code == 200
    other = Group.objects.create(name="Other team")
    restricted.groups.set([other])
    assert client.get(jobs_page).status_code == 404
    restricted.groups.clear()  # no group: everyone with a role
    assert client.get(jobs_page).status_code == 200
    other.delete()
    restricted.delete()
    assert client.get(jobs_page).status_code == 404


def test_a_renamed_or_added_site_is_found_at_the_next_request(simulator, site, service, operator, client_as):
    client = client_as(operator)
    assert "Main site" in client.get(reverse("jobs:overview")).content.decode()
    site.name = "Renamed site"
    site.save()
    Site.objects.create(slug="north", name="North site", admin_url=simulator.admin_url, insecure=True)
    html = client.get(reverse("jobs:overview")).content.decode()
    assert "Renamed site" in html and "Main site" not in html and "North site" in html
    assert client.get(reverse("jobs:site", args=["north"])).status_code == 200


def test_a_site_is_found_without_a_query_once_known(site, operator, django_assert_num_queries):
    from jobs import site_directory

    user = get_user_model().objects.get(pk=operator.pk)
    assert site_directory.visible_site(user, "main") == site  # read, and kept
    user = get_user_model().objects.get(pk=operator.pk)  # as the next request loads the user
    with django_assert_num_queries(0):
        assert site_directory.visible_site(user, "main") == site
        assert site_directory.visible_site(user, "elsewhere") is None
        assert site_directory.visible_sites(user) == [site]


def test_the_role_named_in_the_header_follows_a_role_change(operator, client_as):
    client = client_as(operator)
    assert '<span class="role">Operator</span>' in client.get(reverse("jobs:overview")).content.decode()
    operator.groups.set([Group.objects.get(name="Viewer")])
    assert '<span class="role">Viewer</span>' in client.get(reverse("jobs:overview")).content.decode()


def test_a_group_alone_grants_no_role(simulator, service, restricted, team, client_as):
    """Being in the site's group is not a role: without Viewer the site stays out of reach."""
    stranger = make_user("gus")
    stranger.groups.add(team)
    assert client_as(stranger).get(reverse("jobs:site", args=[restricted.slug])).status_code == 403


def test_audit_rows_of_a_restricted_site_are_hidden_from_non_members(
    site, restricted, viewer, member, superuser, client_as
):
    operations.record_site_change(superuser, site, "Changed site: name.")
    operations.record_site_change(superuser, restricted, "Changed site: referer.")

    def slugs_seen(user, **filters) -> tuple[set, set]:
        client = client_as(user)
        html = client.get(reverse("jobs:audit"), filters).content.decode()
        csv = b"".join(client.get(reverse("jobs:audit_csv"), filters).streaming_content).decode()
        shown = {slug for slug in ("main", "hydro") if f">{slug}</td>" in html}
        exported = {line.split(",")[3] for line in csv.splitlines()[1:]}
        return shown, exported

    assert slugs_seen(viewer) == ({"main"}, {"main"})
    assert slugs_seen(viewer, site="hydro") == (set(), set())
    assert slugs_seen(member) == ({"main", "hydro"}, {"main", "hydro"})
    assert slugs_seen(superuser) == ({"main", "hydro"}, {"main", "hydro"})


# --- site admins manage sites in the Django admin ----------------------------------------------


def site_form(client, **fields) -> dict:
    return site_admin_form(
        client,
        **{
            "admin_url": "https://north.example.com:6443/arcgis/admin",
            "connect_timeout": "5",
            "read_timeout": "30",
            **fields,
        },
    )


def test_a_site_admin_adds_changes_and_deletes_a_site_and_each_change_is_audited(site_admin, client_as):
    client = client_as(site_admin)
    response = client.post(reverse("admin:jobs_site_add"), site_form(client, referer="https://portal.example.org/"))
    assert response.status_code == 302, response.content.decode()
    north = Site.objects.get(slug="north")
    assert north.referer == "https://portal.example.org/" and not north.insecure

    change = reverse("admin:jobs_site_change", args=[north.pk])
    response = client.post(change, site_form(client, name="North (primary)", referer="https://portal.example.org/"))
    assert response.status_code == 302
    assert Site.objects.get(pk=north.pk).name == "North (primary)"

    response = client.post(reverse("admin:jobs_site_delete", args=[north.pk]), {**site_form(client), "post": "yes"})
    assert response.status_code == 302
    assert not Site.objects.filter(slug="north").exists()

    events = list(AuditEvent.objects.order_by("id"))
    assert [(e.action, e.via, e.username, e.site_slug, e.outcome) for e in events] == [
        ("site_change", "admin", "sam", "north", "success")
    ] * 3
    assert events[0].message.startswith("Added site “North”:") and "admin URL: " in events[0].message
    # no address change: no revocation
    assert events[1].message == "Changed site “North (primary)”: name: “North” → “North (primary)”."
    assert events[2].message == "Deleted site."
    # The trail outlives the site.
    assert all(e.site_id is None for e in AuditEvent.objects.all())


def test_deleting_sites_from_the_list_audits_each_one(site_admin, client_as):
    sites = [
        Site.objects.create(slug=slug, name=slug, admin_url=f"https://{slug}.example.com/arcgis/admin")
        for slug in ("east", "west")
    ]
    client = client_as(site_admin)
    data = {
        "csrfmiddlewaretoken": client.csrf_token,
        "action": "delete_selected",
        "_selected_action": [s.pk for s in sites],
        "post": "yes",
    }
    assert client.post(reverse("admin:jobs_site_changelist"), data).status_code == 302
    assert not Site.objects.exists()
    deleted = AuditEvent.objects.filter(action="site_change", message="Deleted site.")
    assert sorted(deleted.values_list("site_slug", flat=True)) == ["east", "west"]


@pytest.mark.parametrize(
    ("fields", "error"),
    [
        ({"admin_url": "http://north.example.com/arcgis/admin"}, "Use https"),
        ({"admin_url": "https://admin:secret@north.example.com/arcgis/admin"}, "Credentials never belong in the URL"),
        ({"token_url": "http://north.example.com/arcgis/tokens/generateToken"}, "Use https"),
        ({"insecure": "on", "ca_bundle": "PEM"}, "exclude each other"),
        ({"ca_bundle": "/etc/ssl/north.pem"}, "Paste one or more PEM certificates"),
    ],
)
def test_the_admin_refuses_unsafe_site_addresses(site_admin, client_as, tmp_path, fields, error):
    if fields.get("ca_bundle") == "PEM":
        fields = {**fields, "ca_bundle": generate_certificate(tmp_path / "north")[0].read_text()}
    client = client_as(site_admin)
    response = client.post(reverse("admin:jobs_site_add"), site_form(client, **fields))
    assert response.status_code == 200
    assert error in response.content.decode()
    assert not Site.objects.exists() and not AuditEvent.objects.exists()


def test_plain_http_is_accepted_when_insecure_is_explicit(site_admin, client_as):
    client = client_as(site_admin)
    fields = {"admin_url": "http://test-server.example.com/arcgis/admin", "insecure": "on"}
    assert client.post(reverse("admin:jobs_site_add"), site_form(client, **fields)).status_code == 302
    assert Site.objects.get().insecure


def test_operators_cannot_add_sites_through_the_admin(operator, client_as):
    client = client_as(operator)
    response = client.post(reverse("admin:jobs_site_add"), site_form(client))
    assert response.status_code == 302 and reverse("admin:login") in response.url
    assert not Site.objects.exists() and not AuditEvent.objects.exists()


def test_an_address_typed_without_a_scheme_means_https(site_admin, client_as):
    client = client_as(site_admin)
    form = site_form(client, admin_url="north.example.com/arcgis/admin")
    response = client.post(reverse("admin:jobs_site_add"), form)
    assert response.status_code == 302
    assert Site.objects.get().admin_url == "https://north.example.com/arcgis/admin"


def test_a_sessions_user_is_read_in_one_query_as_the_orm_reads_it(operator, django_assert_num_queries):
    """Every request reads its user's row (a deactivated account, a changed password count at once): one SELECT,
    the same values and types as the ORM's (aware datetimes included)."""
    backend = CachedPermissionsBackend()
    with django_assert_num_queries(1):
        user = _user_row(str(operator.pk))
    expected = get_user_model().objects.get(pk=operator.pk)
    assert user == expected and user._state.db == "default" and not user._state.adding
    for field in expected._meta.concrete_fields:
        assert getattr(user, field.attname) == getattr(expected, field.attname), field.name
    assert user.date_joined.tzinfo is not None
    assert backend.get_user(operator.pk) == expected
    operator.is_active = False
    operator.save()
    assert backend.get_user(operator.pk) is None


@pytest.mark.parametrize("user_id", ["", "x", "1.5", "999999"])
def test_a_session_naming_no_user_signs_nobody_in(db, user_id):
    assert _user_row(user_id) is None
    assert CachedPermissionsBackend().get_user(user_id) is None
