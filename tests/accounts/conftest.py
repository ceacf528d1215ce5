"""The single sign-on tests' OpenID provider: django-oauth-toolkit (tests/oidc) in a process of its own on 127.0.0.1
only, started once per module and stopped with it, and a browser's way through it (`sign_in`)."""

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

from tests.helpers import ROOT

CLIENT_ID = "gp-jobs-portal"
CLIENT_SECRET = secrets.token_urlsafe(24)
ROLE_MAP = {"gis-ops": "Operator", "gis-viewers": "Viewer", "gis-admins": "Site admin"}
USERS = {
    "ada": {"password": "ada-sso-password", "email": "ada@example.com", "groups": ["gis-ops", "staff"]},
    "bob": {"password": "bob-sso-password", "groups": ["staff"]},
    # Whoever is called "olivia" at the provider: not necessarily the portal's olivia.
    "olivia": {"password": "olivia-sso-password", "groups": ["gis-ops"]},
    # The portal's olivia, as the provider knows her: another name, her verified address.
    "olivia.smith": {
        "password": "smith-sso-password",
        "email": "olivia@example.com",
        "email_verified": True,
        "groups": ["gis-ops"],
    },
    # Someone who typed olivia's address into their profile: the provider has not verified it.
    "eve": {"password": "eve-sso-password", "email": "olivia@example.com", "groups": ["gis-ops"]},
}


@dataclass
class Provider:
    base: str
    db: Path

    @property
    def discovery_url(self) -> str:
        return f"{self.base}/o/.well-known/openid-configuration"

    def subject_of(self, username: str) -> str:
        """The `sub` claim the provider gives this user (django-oauth-toolkit's: the user's primary key)."""
        with sqlite3.connect(self.db) as db:
            [user_id] = db.execute("SELECT id FROM auth_user WHERE username = ?", (username,)).fetchone()
        return str(user_id)

    def revoke_refresh_tokens(self) -> None:
        """What a directory administrator's "sign out everywhere" or disabling the account does."""
        with sqlite3.connect(self.db) as db:
            db.execute("UPDATE oauth2_provider_refreshtoken SET revoked = CURRENT_TIMESTAMP")

    def set_groups(self, username: str, groups: list[str]) -> None:
        """What a directory administrator does in the provider."""
        with sqlite3.connect(self.db) as db:
            [user_id] = db.execute("SELECT id FROM auth_user WHERE username = ?", (username,)).fetchone()
            db.execute("DELETE FROM auth_user_groups WHERE user_id = ?", (user_id,))
            for name in groups:
                db.execute("INSERT OR IGNORE INTO auth_group (name) VALUES (?)", (name,))
                [group_id] = db.execute("SELECT id FROM auth_group WHERE name = ?", (name,)).fetchone()
                db.execute("INSERT INTO auth_user_groups (user_id, group_id) VALUES (?, ?)", (user_id, group_id))


@pytest.fixture(scope="package")
def provider(tmp_path_factory):
    """The provider in a second process, with an RSA key made now, a confidential client and users with groups."""
    directory = tmp_path_factory.mktemp("oidc")
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    setup = {
        "client": {
            "id": CLIENT_ID,
            "secret": CLIENT_SECRET,
            "redirect_uri": "http://testserver/oidc/callback/",
            "post_logout_redirect_uri": "http://testserver/accounts/login/",
        },
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
