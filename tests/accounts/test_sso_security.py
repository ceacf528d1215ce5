"""Round 2's security review, findings 3 and 5, and the notes on single sign-on's callback and sign-out, each attack
made against the real OpenID provider of the SSO tests (127.0.0.1 only).

3: removing someone at the identity provider left their access working (a 12-hour session, year-long API tokens,
scheduled policies, and the local password of a linked account). 5: `sso_link` gave an account to whoever first
signed in under a chosen name."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.models import ProviderAccount
from api import personal_tokens
from jobs.models import AuditEvent
from policies import tasks
from policies.models import Policy, PolicyRun
from tests.accounts.conftest import roles, sign_in
from tests.conftest import make_user
from tests.helpers import messages_text

pytestmark = pytest.mark.django_db


def user(username: str):
    return get_user_model().objects.get(username=username)


def renewal_due(username: str) -> None:
    """As if OIDC_RENEW_SECONDS had passed since the provider last confirmed the account."""
    ProviderAccount.objects.filter(user__username=username).update(
        roles_checked=timezone.now() - timedelta(seconds=901)
    )


def look_now(portal: Client) -> None:
    """The browser's session looks at its renewal at its next request (it does every 30 s)."""
    session = portal.session
    session["sso_look_again_at"] = 0
    session.save()


def api_get(token: str, path: str = "/api/v1/sites/"):
    return Client().get(path, headers={"Authorization": f"Bearer {token}"})


# --- finding 3: removed at the provider, access ends ------------------------------------------------------------


def test_round2_finding_3_a_browser_session_ends_once_the_provider_drops_the_group(sso, settings):
    portal, _ = sign_in(sso, "ada")
    sso.set_groups("ada", ["staff"])  # a directory administrator removes her from gis-ops
    assert portal.get(reverse("jobs:overview")).status_code == 200  # confirmed a moment ago: still hers
    renewal_due("ada")
    look_now(portal)
    answer = portal.get(reverse("jobs:overview"))
    assert answer.status_code == 302 and answer["Location"].startswith(reverse("login"))
    message = messages_text(portal.get(reverse("login")).content.decode())
    assert "Your access to the portal was removed at Example SSO." in message
    assert roles("ada") == set()
    assert AuditEvent.objects.filter(action="roles_removed", username="ada").exists()


def test_round2_finding_3_an_api_token_stops_acting_once_the_provider_drops_the_group(sso):
    sign_in(sso, "ada")
    _, token = personal_tokens.issue(user("ada"), "deploy script", days=365)
    assert api_get(token).status_code == 200
    sso.set_groups("ada", ["gis-viewers"])  # demoted: the token reads, no more
    renewal_due("ada")
    assert api_get(token).status_code == 200 and roles("ada") == {"Viewer"}
    cancel = Client().post(
        "/api/v1/sites/main/services/Hydrology/Watershed/jobs/j0/cancel",
        headers={"Authorization": f"Bearer {token}"},
    )
    assert cancel.status_code in (403, 404)  # a Viewer's token never cancels (no such site here: 404 first is fine)
    sso.set_groups("ada", ["staff"])  # removed
    renewal_due("ada")
    answer = api_get(token)
    assert answer.status_code == 403 and roles("ada") == set()


def test_round2_finding_3_a_refresh_the_provider_refuses_removes_the_roles_and_pauses_the_policies(
    sso, simulator, site, service, connect
):
    sign_in(sso, "ada")
    ada = user("ada")
    connect(ada, site)
    policy = Policy.objects.create(
        owner=ada,
        site=site,
        name="Ada's cleanup",
        services="Hydrology/*",
        mode=Policy.Mode.SCHEDULED,
        enabled=True,
        next_run_at=timezone.now() - timedelta(seconds=1),
    )
    other = Policy.objects.create(owner=ada, site=site, name="Ada's other", mode=Policy.Mode.SCHEDULED, enabled=True)
    job = simulator.state.add_job(service.key, status="esriJobSubmitted")
    sso.revoke_refresh_tokens()  # e.g. her account disabled at the provider: it renews nothing of hers
    renewal_due("ada")
    tasks.tick()
    run = PolicyRun.objects.get(policy=policy)
    assert run.outcome == "paused" and run.acted == 0
    assert not [r for r in simulator.requests if r.operation == "cancel"]
    assert roles("ada") == set()
    for each in (policy, other):
        each.refresh_from_db()
        assert not each.enabled and "Its owner ada lost their roles" in each.paused_reason
    assert "Example SSO refused to renew their sign-in" in other.paused_reason
    assert job  # still there, untouched


def test_round2_finding_3_a_provider_that_cannot_be_asked_lets_nothing_act_and_takes_nothing_away(
    sso, settings, simulator, site, service, connect
):
    sign_in(sso, "ada")
    ada = user("ada")
    _, token = personal_tokens.issue(ada, "deploy script", days=30)
    connect(ada, site)
    policy = Policy.objects.create(
        owner=ada,
        site=site,
        name="Ada's cleanup",
        mode=Policy.Mode.SCHEDULED,
        enabled=True,
        next_run_at=timezone.now() - timedelta(seconds=1),
    )
    simulator.state.add_job(service.key, status="esriJobSubmitted")
    renewal_due("ada")
    settings.OIDC_OP_DISCOVERY_URL = "http://127.0.0.1:9/o/.well-known/openid-configuration"  # nobody listens
    answer = api_get(token)
    assert answer.status_code == 401 and "could not confirm ada's access" in answer.json()["error"]["message"]
    tasks.tick()
    run = PolicyRun.objects.get(policy=policy)
    assert run.outcome == "failed" and "could not confirm" in run.reason
    assert not [r for r in simulator.requests if r.operation == "cancel"]
    policy.refresh_from_db()
    assert policy.enabled and roles("ada") == {"Operator"}  # a provider's outage pauses and removes nothing


def test_round2_finding_3_an_account_without_a_refresh_token_is_asked_to_sign_in_again(sso):
    sign_in(sso, "ada")
    _, token = personal_tokens.issue(user("ada"), "deploy script", days=30)
    ProviderAccount.objects.filter(user__username="ada").update(refresh_ciphertext=b"")  # e.g. linked before
    renewal_due("ada")
    answer = api_get(token)
    assert answer.status_code == 401
    assert "needs ada to sign in through Example SSO once more" in answer.json()["error"]["message"]
    sign_in(sso, "ada")
    assert api_get(token).status_code == 200


def test_round2_finding_3_a_linked_account_no_longer_signs_in_with_its_password(sso, settings):
    make_user("olivia", "Operator")
    local = Client()
    assert local.post(reverse("login"), {"username": "olivia", "password": "olivia-password"}).status_code == 302
    call_command("sso_link", "olivia", "--subject", sso.subject_of("olivia.smith"))
    assert not user("olivia").has_usable_password()
    refused = Client().post(reverse("login"), {"username": "olivia", "password": "olivia-password"})
    assert refused.status_code == 200  # the login form again: the provider (and its MFA) is the way in
    # Even a password set again later (e.g. in the admin) does not sign a linked account in...
    olivia = user("olivia")
    olivia.set_password("olivia-password")
    olivia.save()
    assert Client().post(reverse("login"), {"username": "olivia", "password": "olivia-password"}).status_code == 200
    # ...unless the portal is told to keep both.
    settings.OIDC_LINK_KEEPS_PASSWORD = True
    assert Client().post(reverse("login"), {"username": "olivia", "password": "olivia-password"}).status_code == 302


# --- finding 5: a name never links an account -------------------------------------------------------------------


def test_round2_finding_5_sso_link_never_gives_an_account_to_whoever_signs_in_first_under_its_name(sso):
    make_user("olivia", "Operator")
    with pytest.raises(CommandError):  # marking by name alone is gone
        call_command("sso_link", "olivia")
    _, landed = sign_in(sso, "olivia")  # someone called "olivia" at the provider
    assert landed["Location"] == reverse("login")
    assert not ProviderAccount.objects.filter(user__username="olivia").exclude(subject="").exists()
    call_command("sso_link", "olivia", "--subject", sso.subject_of("olivia.smith"))
    _, again = sign_in(sso, "olivia")  # the same name, another subject: still nobody's olivia
    assert again["Location"] == reverse("login")
    portal, hers = sign_in(sso, "olivia.smith")  # the identity the administrator named
    assert hers["Location"] != reverse("login")
    assert portal.get(reverse("jobs:overview")).context["user"].username == "olivia"
    [linked] = AuditEvent.objects.filter(action="account_linked")
    assert linked.username == "olivia" and linked.via == "cli"
    assert f"subject '{sso.subject_of('olivia.smith')}' at {sso.base}/o" in linked.message


def test_round2_finding_5_an_email_link_binds_only_an_address_the_provider_verified(sso):
    make_user("olivia", "Operator", email="olivia@example.com")
    call_command("sso_link", "olivia", "--email", "olivia@example.com")
    portal, _ = sign_in(sso, "eve")  # olivia's address in her profile, unverified
    assert portal.get(reverse("jobs:overview")).context["user"].username == "eve"  # her own new account
    assert ProviderAccount.objects.get(user__username="olivia").subject == ""
    portal, _ = sign_in(sso, "olivia.smith")  # verified
    assert portal.get(reverse("jobs:overview")).context["user"].username == "olivia"
    link = ProviderAccount.objects.get(user__username="olivia")
    assert link.subject == sso.subject_of("olivia.smith")
    messages = list(AuditEvent.objects.filter(action="account_linked").values_list("message", flat=True))
    assert any("to the next sign-in with the verified address olivia@example.com" in m for m in messages)
    assert any("its first sign-in with the verified address olivia@example.com" in m for m in messages)


def test_round2_finding_5_a_superuser_is_linked_only_when_the_administrator_says_so(sso):
    get_user_model().objects.create_superuser("root", email="root@example.com", password="root-password")
    with pytest.raises(CommandError, match="is a superuser"):
        call_command("sso_link", "root", "--subject", sso.subject_of("ada"))
    with pytest.raises(CommandError, match="is a superuser"):
        call_command("sso_link", "root", "--email", "root@example.com")
    assert not ProviderAccount.objects.exists()
    call_command("sso_link", "root", "--subject", sso.subject_of("ada"), "--allow-superuser")
    assert ProviderAccount.objects.get(user__username="root").subject == sso.subject_of("ada")
    with pytest.raises(CommandError, match="linked to root already"):
        make_user("other")
        call_command("sso_link", "other", "--subject", sso.subject_of("ada"))


# --- notes: the callback's error is no sign-out; signing out ends the provider's session too ----------------------


def test_an_error_callback_from_elsewhere_signs_nobody_out(sso):
    portal, _ = sign_in(sso, "ada")
    answer = portal.get(reverse("oidc_authentication_callback"), {"error": "access_denied"})  # e.g. an <img> elsewhere
    assert answer.status_code == 302
    assert portal.get(reverse("jobs:overview")).status_code == 200  # still signed in
    # A sign-in this browser started, refused at the provider, ends as a failed sign-in.
    started = Client()
    start = started.get(reverse("oidc_authentication_init"))
    state = dict(part.split("=", 1) for part in start["Location"].split("?", 1)[1].split("&"))["state"]
    failed = started.get(reverse("oidc_authentication_callback"), {"error": "access_denied", "state": state})
    assert failed["Location"] == reverse("login")
    assert "did not work" in messages_text(started.get(reverse("login")).content.decode())


def test_signing_out_ends_the_providers_session_too(sso):
    portal, _ = sign_in(sso, "ada")
    answer = portal.post(reverse("logout"))
    assert answer.status_code == 302 and answer["Location"].startswith(sso.base + "/o/logout/")
    assert "id_token_hint=" in answer["Location"]
    assert "post_logout_redirect_uri=http%3A%2F%2Ftestserver%2Faccounts%2Flogin%2F" in answer["Location"]
    assert portal.get(reverse("jobs:overview")).status_code == 302  # signed out of the portal
    local = make_user("victor", "Viewer")
    plain = Client()
    plain.force_login(local)
    assert plain.post(reverse("logout"))["Location"] == reverse("login")  # a local account: the portal only
