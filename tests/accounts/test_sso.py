"""Single sign-on against a real OpenID provider (django-oauth-toolkit, tests/oidc) started in its own process on
127.0.0.1: the portal's test client and `requests` follow the redirects between the two, as a browser would."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse

from tests.accounts.conftest import roles, sign_in
from tests.conftest import make_user
from tests.helpers import messages_text


def test_the_login_page_offers_the_provider_only_when_configured(client, db, settings):
    assert "Sign in with" not in client.get(reverse("login")).content.decode()
    settings.OIDC_ENABLED, settings.OIDC_PROVIDER_NAME = True, "Example SSO"
    html = client.get(reverse("login"), {"next": "/audit/"}).content.decode()
    assert f'href="{reverse("oidc_authentication_init")}?next=/audit/">Sign in with Example SSO</a>' in html


def test_sign_in_through_the_provider_lands_with_the_mapped_role(sso):
    portal, landed = sign_in(sso, "ada", next_url="/audit/")
    assert landed.status_code == 302 and landed["Location"] == "/audit/"
    user = get_user_model().objects.get(username="ada")
    assert roles("ada") == {"Operator"} and user.email == "ada@example.com" and not user.has_usable_password()
    page = portal.get(reverse("jobs:overview")).content.decode()
    assert '<span class="role">Operator</span>' in page
    assert user.has_perm("jobs.operate_jobs")


def test_a_user_without_a_mapped_group_is_refused(sso):
    portal, landed = sign_in(sso, "bob")
    assert landed.status_code == 302 and landed["Location"] == reverse("login")
    message = messages_text(portal.get(reverse("login")).content.decode())
    assert "Your Example SSO account has no group that gives a role in the portal." in message
    assert not get_user_model().objects.filter(username="bob").exists()
    assert portal.get(reverse("jobs:overview")).status_code == 302  # not signed in


def test_roles_follow_the_provider_at_every_sign_in(sso):
    sign_in(sso, "ada")
    sso.set_groups("ada", ["gis-viewers", "staff"])
    sign_in(sso, "ada")
    assert roles("ada") == {"Viewer"}
    # Removed from the groups: the next sign-in is refused and the role is gone (API tokens act with no role).
    sso.set_groups("ada", ["staff"])
    _, landed = sign_in(sso, "ada")
    assert landed["Location"] == reverse("login") and roles("ada") == set()
    sso.set_groups("ada", ["gis-admins", "gis-ops"])
    sign_in(sso, "ada")
    assert roles("ada") == {"Site admin", "Operator"}


def test_other_groups_of_the_portal_are_kept(sso):
    from django.contrib.auth.models import Group

    sign_in(sso, "ada")
    user = get_user_model().objects.get(username="ada")
    user.groups.add(Group.objects.create(name="Hydrology team"))  # sees a restricted site
    sign_in(sso, "ada")
    assert roles("ada") == {"Operator", "Hydrology team"}


def test_a_local_account_of_the_same_name_is_not_taken_over(sso):
    make_user("olivia", "Viewer")
    portal, landed = sign_in(sso, "olivia")
    assert landed["Location"] == reverse("login")
    message = messages_text(portal.get(reverse("login")).content.decode())
    assert "an account named olivia that is not linked to your Example SSO account" in message
    assert roles("olivia") == {"Viewer"}


def test_a_local_account_without_a_password_is_not_taken_over_either(sso):
    get_user_model().objects.create_superuser("olivia", email="root@example.com", password=None)
    portal, landed = sign_in(sso, "olivia")
    assert landed["Location"] == reverse("login")
    assert portal.get(reverse("jobs:overview")).status_code == 302  # not signed in


def test_an_account_an_administrator_linked_to_a_subject_signs_in_through_it(sso):
    from django.core.management import CommandError, call_command

    from accounts.models import ProviderAccount

    make_user("olivia", "Viewer")  # e.g. made before sign-ins linked accounts to identities
    with pytest.raises(CommandError, match="No account named nobody"):
        call_command("sso_link", "nobody", "--subject", "1")
    assert not ProviderAccount.objects.exists()
    call_command("sso_link", "olivia", "--subject", sso.subject_of("olivia.smith"))
    link = ProviderAccount.objects.get(user__username="olivia")
    assert (link.subject, link.issuer) == (sso.subject_of("olivia.smith"), sso.base + "/o")  # the discovered issuer
    _, landed = sign_in(sso, "olivia.smith")
    assert landed.status_code == 302 and landed["Location"] != reverse("login")
    assert roles("olivia") == {"Operator"}  # from the provider's groups, as at every sign-in
    _, again = sign_in(sso, "olivia.smith")
    assert again["Location"] != reverse("login")


def test_later_sign_ins_reach_the_account_by_the_providers_subject_not_by_name(sso):
    sign_in(sso, "ada")
    ada = get_user_model().objects.get(username="ada")
    ada.username = "ada.lovelace"  # renamed in the portal by an administrator
    ada.save()
    _, landed = sign_in(sso, "ada")
    assert landed.status_code == 302 and landed["Location"] != reverse("login")
    assert get_user_model().objects.filter(username__startswith="ada").count() == 1
    assert roles("ada.lovelace") == {"Operator"}


def test_a_deactivated_account_is_refused(sso):
    sign_in(sso, "ada")
    get_user_model().objects.filter(username="ada").update(is_active=False)
    portal, landed = sign_in(sso, "ada")
    assert landed["Location"] == reverse("login")
    assert portal.get(reverse("jobs:overview")).status_code == 302


def test_a_forged_callback_signs_nobody_in(sso):
    portal = Client()
    portal.get(reverse("oidc_authentication_init"))
    answer = portal.get(reverse("oidc_authentication_callback"), {"code": "forged", "state": "unknown"})
    assert answer.status_code == 400  # SuspiciousOperation: a state this browser was never given
    assert portal.get(reverse("jobs:overview")).status_code == 302


def test_local_logins_and_their_throttling_still_work_beside_it(sso, settings):
    make_user("victor", "Viewer")
    client = Client()
    wrong = {"username": "victor", "password": "wrong"}
    for _ in range(settings.AXES_FAILURE_LIMIT):
        client.post(reverse("login"), wrong)
    locked = client.post(reverse("login"), {"username": "victor", "password": "victor-password"})
    assert locked.status_code == 429
    other = Client(REMOTE_ADDR="10.0.0.9")
    signed_in = other.post(reverse("login"), {"username": "victor", "password": "victor-password"})
    assert signed_in.status_code == 302 and signed_in["Location"] == reverse("jobs:overview")


def test_without_configuration_the_sso_paths_are_404(client, db, settings):
    settings.OIDC_ENABLED = False
    assert client.get(reverse("oidc_authentication_init")).status_code == 404
    assert client.get(reverse("oidc_authentication_callback"), {"code": "x", "state": "y"}).status_code == 404
