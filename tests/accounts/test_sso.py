"""Single sign-on against a real OpenID provider (django-oauth-toolkit, tests/oidc) started in its own process on
127.0.0.1: the portal's test client and `requests` follow the redirects between the two, as a browser would."""

from __future__ import annotations

import json
import os
import secrets
import sqlite3
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse

from tests.conftest import make_user
from tests.helpers import ROOT, messages_text

CLIENT_ID = "gp-jobs-portal"
CLIENT_SECRET = secrets.token_urlsafe(24)
ROLE_MAP = {"gis-ops": "Operator", "gis-viewers": "Viewer", "gis-admins": "Site admin"}
USERS = {
    "ada": {"password": "ada-sso-password", "email": "ada@example.com", "groups": ["gis-ops", "staff"]},
    "bob": {"password": "bob-sso-password", "groups": ["staff"]},
    "olivia": {"password": "olivia-sso-password", "groups": ["gis-ops"]},
}


@dataclass
class Provider:
    base: str
    db: Path

    @property
    def discovery_url(self) -> str:
        return f"{self.base}/o/.well-known/openid-configuration"

    def set_groups(self, username: str, groups: list[str]) -> None:
        """What a directory administrator does in the provider."""
        with sqlite3.connect(self.db) as db:
            [user_id] = db.execute("SELECT id FROM auth_user WHERE username = ?", (username,)).fetchone()
            db.execute("DELETE FROM auth_user_groups WHERE user_id = ?", (user_id,))
            for name in groups:
                db.execute("INSERT OR IGNORE INTO auth_group (name) VALUES (?)", (name,))
                [group_id] = db.execute("SELECT id FROM auth_group WHERE name = ?", (name,)).fetchone()
                db.execute("INSERT INTO auth_user_groups (user_id, group_id) VALUES (?, ?)", (user_id, group_id))


@pytest.fixture(scope="module")
def provider(tmp_path_factory):
    """The provider in a second process, with an RSA key made now, a confidential client and users with groups."""
    directory = tmp_path_factory.mktemp("oidc")
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    setup = {
        "client": {"id": CLIENT_ID, "secret": CLIENT_SECRET, "redirect_uri": "http://testserver/oidc/callback/"},
        "users": USERS,
    }
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DATABASE_URL", "REDIS_URL"))}
    env |= {
        "DJANGO_SETTINGS_MODULE": "tests.oidc.settings",
        "OIDC_TEST_SECRET_KEY": secrets.token_urlsafe(40),
        "OIDC_TEST_DB": str(directory / "provider.sqlite3"),
        "OIDC_TEST_RSA_KEY": pem.decode(),
        "OIDC_TEST_SETUP": json.dumps(setup),
        "OIDC_TEST_LIFETIME": "600",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.oidc.serve"],
        cwd=ROOT,
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        port = int(process.stdout.readline())
        yield Provider(f"http://127.0.0.1:{port}", directory / "provider.sqlite3")
    finally:
        process.stdin.close()  # the provider stops by itself
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture
def sso(provider, settings, db):
    settings.OIDC_ENABLED = True
    settings.OIDC_RP_CLIENT_ID = CLIENT_ID
    settings.OIDC_RP_CLIENT_SECRET = CLIENT_SECRET
    settings.OIDC_OP_DISCOVERY_URL = provider.discovery_url
    settings.OIDC_PROVIDER_NAME = "Example SSO"
    settings.OIDC_ROLE_MAP = ROLE_MAP
    settings.AUTHENTICATION_BACKENDS = [*settings.AUTHENTICATION_BACKENDS, "accounts.sso.PortalOIDCBackend"]
    for name, groups in {name: user["groups"] for name, user in USERS.items()}.items():
        provider.set_groups(name, groups)
    return provider


def sign_in(provider: Provider, username: str, portal: Client | None = None, next_url: str = "/"):
    """Through the portal and the provider, as a browser: returns the portal client and its last answer."""
    portal = portal or Client()
    start = portal.get(reverse("oidc_authentication_init"), {"next": next_url})
    assert start.status_code == 302 and start["Location"].startswith(provider.base), start
    browser = requests.Session()
    location = start["Location"]
    for _ in range(10):
        if location.startswith("http://testserver/"):
            break
        answer = browser.get(location, allow_redirects=False, timeout=10)
        if answer.status_code == 200 and 'name="password"' in answer.text:  # the provider's sign-in form
            csrf = browser.cookies["csrftoken"]
            form = {"username": username, "password": USERS[username]["password"], "csrfmiddlewaretoken": csrf}
            form["next"] = answer.text.split('name="next" value="', 1)[1].split('"', 1)[0].replace("&amp;", "&")
            answer = browser.post(answer.url, data=form, allow_redirects=False, timeout=10)
        assert answer.status_code == 302, (answer.status_code, answer.text[:500])
        location = requests.compat.urljoin(answer.url, answer.headers["Location"])
    else:
        raise AssertionError("the provider never sent the browser back")
    callback = urlsplit(location)
    assert callback.path == reverse("oidc_authentication_callback")
    return portal, portal.get(f"{callback.path}?{callback.query}")


def roles(username: str) -> set[str]:
    return set(get_user_model().objects.get(username=username).groups.values_list("name", flat=True))


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
    assert "an account named olivia that was not made by signing in with Example SSO" in message
    assert roles("olivia") == {"Viewer"}


def test_a_local_account_without_a_password_is_not_taken_over_either(sso):
    get_user_model().objects.create_superuser("olivia", email="root@example.com", password=None)
    portal, landed = sign_in(sso, "olivia")
    assert landed["Location"] == reverse("login")
    assert portal.get(reverse("jobs:overview")).status_code == 302  # not signed in


def test_an_account_an_administrator_marked_is_bound_at_its_next_sign_in(sso):
    from django.core.management import CommandError, call_command

    from accounts.models import ProviderAccount

    make_user("olivia", "Viewer")  # e.g. made before sign-ins linked accounts to identities
    with pytest.raises(CommandError, match="No account named nobody"):
        call_command("sso_link", "olivia", "nobody")
    assert not ProviderAccount.objects.exists()
    call_command("sso_link", "olivia")
    _, landed = sign_in(sso, "olivia")
    assert landed.status_code == 302 and landed["Location"] != reverse("login")
    link = ProviderAccount.objects.get(user__username="olivia")
    assert link.subject and link.issuer == sso.base + "/o"
    assert roles("olivia") == {"Operator"}  # from the provider's groups, as at every sign-in
    _, again = sign_in(sso, "olivia")
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
