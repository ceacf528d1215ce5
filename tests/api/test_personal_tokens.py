"""Personal API tokens: created on the user's own page and shown once, stored as a digest, expiring, revocable,
audited, and limited per token and minute in the shared cache."""

from __future__ import annotations

import hashlib
import re
from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from api import personal_tokens
from api.models import ApiToken
from jobs.models import AuditEvent
from tests.conftest import make_user
from tests.helpers import messages_text, text

PAGE = "/account/api-tokens/"


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def api_get(token: str, path: str = "/api/v1/sites/"):
    return Client().get(path, headers=bearer(token))


def token_events(action=None):
    events = AuditEvent.objects.filter(action__startswith="api_token").order_by("id")
    return events.filter(action=action) if action else events


def create(client, name="deploy-script", days=30):
    return client.action(PAGE, {"intent": "create", "name": name, "days": days}, htmx=False)


# --- the page -----------------------------------------------------------------------------------


def test_the_top_bar_links_to_the_page(operator, client_as):
    html = client_as(operator).get(reverse("jobs:overview")).content.decode()
    assert f'<a href="{PAGE}"' in html and ">API tokens</a>" in html


def test_a_new_token_is_shown_once_and_only_its_digest_is_kept(operator, client_as):
    client = client_as(operator)
    response = create(client)
    assert response.status_code == 200 and response["Cache-Control"].startswith("max-age=0")
    html = response.content.decode()
    [token] = re.findall(r'<code class="secret" id="new-token-value">([^<]+)</code>', html)
    assert re.fullmatch(r"gpj_[0-9a-f]{8}_[A-Za-z0-9_-]{43}", token)
    assert "Copy it now: it is shown only this once" in text(html)

    row = ApiToken.objects.get()
    assert (row.user, row.name, row.prefix) == (operator, "deploy-script", token[4:12])
    assert row.digest == hashlib.sha256(token.encode()).hexdigest()
    stored = " ".join(str(value) for value in ApiToken.objects.values().get().values())
    assert token[13:] not in stored  # the secret part is nowhere in the database
    assert timedelta(days=29, hours=23) < row.expires - timezone.now() <= timedelta(days=30)

    later = client.get(PAGE).content.decode()
    assert token not in later and f"gpj_{row.prefix}_…" in later and "deploy-script" in later
    assert api_get(token).status_code == 200

    [event] = token_events()
    assert (event.action, event.username, event.via, event.site) == ("api_token_created", "olivia", "web", None)
    assert event.via_detail == f'token "deploy-script" (gpj_{row.prefix})' and "valid until" in event.message


@pytest.mark.parametrize(("days", "expected"), [(7, 7), (90, 90), (365, 365)])
def test_the_expiry_is_a_choice(operator, client_as, days, expected):
    create(client_as(operator), days=days)
    row = ApiToken.objects.get()
    assert round((row.expires - row.created) / timedelta(days=1)) == expected


@pytest.mark.parametrize(("data", "complaint"), [({"name": ""}, "name"), ({"name": "x", "days": 5}, "days")])
def test_a_bad_form_creates_nothing(operator, client_as, data, complaint):
    response = client_as(operator).action(PAGE, {"intent": "create", "days": 30, **data}, htmx=False)
    assert response.status_code == 200 and "errorlist" in response.content.decode()
    assert not ApiToken.objects.exists() and not token_events().exists()


def test_the_page_needs_a_role_and_csrf(outsider, operator, client_as):
    assert client_as(outsider).get(PAGE).status_code == 403
    assert client_as(operator).action(PAGE, {"intent": "create", "name": "x", "days": 7}, csrf=False).status_code == 403
    assert not ApiToken.objects.exists()
    anonymous = Client().get(PAGE)
    assert anonymous.status_code == 302 and anonymous["Location"].startswith("/accounts/login/")


def test_a_revoked_token_stops_working_and_both_are_audited(operator, client_as):
    client = client_as(operator)
    row, token = personal_tokens.issue(operator, "nightly", 30)
    assert api_get(token).status_code == 200
    response = client.action(PAGE, {"intent": "revoke", "token": row.pk}, htmx=False, follow=True)
    assert "Revoked the API token “nightly”: it no longer works." in messages_text(response.content.decode())
    row.refresh_from_db()
    assert row.revoked is not None and row.state == "revoked"

    refused = api_get(token)
    assert refused.status_code == 401
    assert refused.json()["error"] == {
        "code": "unauthorized",
        "message": "This API token was revoked (it is 'nightly'); create a new one in the portal.",
    }
    assert [e.action for e in token_events()] == ["api_token_created", "api_token_revoked", "api_token_refused"]
    refusal = token_events("api_token_refused").get()
    assert (refusal.username, refusal.via, refusal.outcome) == ("olivia", "api", "refused")
    assert refusal.via_detail == row.label
    # A script retrying in a loop leaves one refusal a minute in the trail, not one per request.
    for _ in range(5):
        assert api_get(token).status_code == 401
    assert token_events("api_token_refused").count() == 1


def test_only_the_owner_revokes_a_token(operator, client_as):
    row, token = personal_tokens.issue(make_user("oscar", "Operator"), "oscars-script", 30)
    response = client_as(operator).action(PAGE, {"intent": "revoke", "token": row.pk}, htmx=False)
    assert response.status_code == 404
    assert api_get(token).status_code == 200 and not token_events("api_token_revoked").exists()
    assert "oscars-script" not in client_as(operator).get(PAGE).content.decode()


def test_an_expired_token_is_refused_and_audited(operator):
    row, token = personal_tokens.issue(operator, "old", 7)
    ApiToken.objects.filter(pk=row.pk).update(expires=timezone.now() - timedelta(seconds=1))
    response = api_get(token)
    assert response.status_code == 401 and "This API token was expired" in response.json()["error"]["message"]
    assert token_events("api_token_refused").get().message == "A request used this expired token."


def test_a_wrong_secret_with_a_real_prefix_is_refused_and_not_attributed(operator):
    _, token = personal_tokens.issue(operator, "real", 7)
    forged = token[:13] + ("A" if token[13] != "A" else "B") + token[14:]
    response = api_get(forged)
    assert response.status_code == 401 and response.json()["error"]["message"] == "Unknown API token."
    assert not token_events("api_token_refused").exists()


def test_use_is_remembered_at_most_once_a_minute(operator):
    row, token = personal_tokens.issue(operator, "used", 7)
    assert row.last_used is None
    api_get(token)
    row.refresh_from_db()
    first = row.last_used
    assert first is not None
    api_get(token)
    row.refresh_from_db()
    assert row.last_used == first


# --- the rate limit ------------------------------------------------------------------------------


def test_each_token_is_limited_per_minute_with_retry_after(operator, settings, monkeypatch):
    settings.API_RATE_LIMIT = 3
    now = [1_800_000_010.0]  # 10 s into a minute
    monkeypatch.setattr(personal_tokens.time, "time", lambda: now[0])
    _, token = personal_tokens.issue(operator, "busy", 7)
    _, other = personal_tokens.issue(operator, "other", 7)
    assert [api_get(token).status_code for _ in range(3)] == [200, 200, 200]
    limited = api_get(token)
    assert limited.status_code == 429 and limited["Retry-After"] == "50"
    assert limited.json() == {
        "error": {"code": "rate_limited", "message": "Too many requests with this token; try again in 50 s."}
    }
    assert api_get(other).status_code == 200  # per token
    now[0] += 50
    assert api_get(token).status_code == 200  # the next minute


def test_the_limit_is_counted_in_the_shared_cache(operator, settings):
    """Every worker counts in the same place: the cache (Redis in production)."""
    from django.core.cache import cache

    settings.API_RATE_LIMIT = 2
    row, token = personal_tokens.issue(operator, "shared", 7)
    api_get(token)
    window = int(personal_tokens.time.time() // 60)
    assert cache.get(f"api:rate:{row.pk}:{window}") == 1
    cache.set(f"api:rate:{row.pk}:{window}", 2, 90)  # another worker's requests
    assert api_get(token).status_code == 429


@pytest.mark.parametrize("pk", ["abc", "1.5", "", "\x00", "١"])
def test_revoking_a_malformed_token_id_is_404_not_a_failure(operator, client_as, pk):
    response = client_as(operator).action(PAGE, {"intent": "revoke", "token": pk}, htmx=False)
    assert response.status_code == 404
