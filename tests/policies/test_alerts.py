"""Alerts: webhooks (generic JSON, Slack, Teams) delivered to a receiver on 127.0.0.1 that the test starts, with
their failures and retries; e-mail through Django's locmem backend; deliveries queued after the commit and left
pending when the broker is down; running-long jobs alerted once each; sites that stop answering, and come back."""

from __future__ import annotations

import re
import time
from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone
from kombu.exceptions import OperationalError

import arcgis_client
from jobs.models import AuditEvent
from jobs.shared_cache import cache
from policies import alerts, tasks
from policies.alerts import delivery as deliveries
from policies.models import AlertChannel, AlertedJob, Delivery, SiteOutage

pytestmark = pytest.mark.django_db

RUNNING_LONG, POLICY_ACTED, SITE_DOWN = "running_long", "policy_acted", "site_down"


@pytest.fixture
def http_allowed(settings):
    settings.ALERT_WEBHOOKS_ALLOW_HTTP = True  # the receiver is plain http on 127.0.0.1: for testing only


def channel(kind: str, url: str = "", events=(POLICY_ACTED,), **fields) -> AlertChannel:
    made = AlertChannel(name=f"{kind} channel", kind=kind, url=url, events=list(events), **fields)
    made.full_clean()
    made.save()
    return made


def raise_alert(capture, site=None, event=POLICY_ACTED, **fields) -> list[Delivery]:
    values = {"title": 'Policy "Night cleanup": 2 jobs cancelled', "text": "2 cancelled.", "link": ""}
    values |= fields
    with capture(execute=True):
        deliveries = alerts.alert(event, site, values["title"], values["text"], link=values["link"])
    for delivery in deliveries:
        delivery.refresh_from_db()
    return deliveries


# --- webhooks ------------------------------------------------------------------------------------------


def test_a_webhook_gets_a_generic_json_body(site, receiver, http_allowed, django_capture_on_commit_callbacks):
    channel("webhook", receiver.url)
    [delivery] = raise_alert(django_capture_on_commit_callbacks, site, link="https://jobs.example.com/policies/1/")
    assert (delivery.status, delivery.attempts, delivery.last_error) == ("sent", 1, "")
    [got] = receiver.received
    assert got["path"] == "/hooks/portal" and got["type"] == "application/json"
    assert got["json"] == {
        "event": "policy_acted",
        "title": 'Policy "Night cleanup": 2 jobs cancelled',
        "text": "2 cancelled.",
        "site": "main",
        "link": "https://jobs.example.com/policies/1/",
        "created": delivery.created.isoformat(),
        "delivery": delivery.pk,
    }


def test_slack_and_teams_get_their_own_message_formats(receiver, http_allowed, django_capture_on_commit_callbacks):
    channel("slack", receiver.url)
    channel("teams", receiver.url)
    raise_alert(
        django_capture_on_commit_callbacks, title="Job <b> & co", text="Ran <long>", link="https://jobs.example.com/x"
    )
    bodies = {("attachments" in got["json"]): got["json"] for got in receiver.received}
    assert bodies[False] == {
        "text": "*Job &lt;b&gt; &amp; co*\nRan &lt;long&gt;\n<https://jobs.example.com/x|Open in the GP Jobs Portal>"
    }
    teams = bodies[True]
    assert teams["type"] == "message"
    [attachment] = teams["attachments"]
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    card = attachment["content"]
    assert (card["type"], card["version"]) == ("AdaptiveCard", "1.4")
    assert [block["text"] for block in card["body"]] == ["Job \\<b\\> & co", "Ran \\<long\\>"]  # Markdown, escaped
    assert card["actions"] == [
        {"type": "Action.OpenUrl", "title": "Open in the GP Jobs Portal", "url": "https://jobs.example.com/x"}
    ]


def test_a_failed_delivery_is_retried_with_backoff_and_recorded(
    receiver, http_allowed, django_capture_on_commit_callbacks
):
    """The worker retries (here, eagerly: at once): the first answer is a 500, the second a 200."""
    channel("webhook", receiver.url)
    receiver.answers((500, {}, 0))
    [delivery] = raise_alert(django_capture_on_commit_callbacks)
    assert (delivery.status, delivery.attempts) == ("sent", 2)
    assert delivery.last_error == "HTTP 500"  # the status alone: what the receiver said is not the portal's to keep
    assert len(receiver.received) == 2
    assert [deliveries.backoff(n) for n in (1, 2, 3, 4, 10)] == [30, 60, 120, 240, 900]


def test_a_delivery_that_keeps_failing_stops_after_its_attempts(
    receiver, http_allowed, settings, django_capture_on_commit_callbacks
):
    settings.ALERT_DELIVERY_ATTEMPTS = 3
    channel("webhook", receiver.url)
    receiver.answers(*[(503, {}, 0)] * 5)
    [delivery] = raise_alert(django_capture_on_commit_callbacks)
    assert (delivery.status, delivery.attempts) == ("failed", 3)
    assert delivery.last_error == "HTTP 503" and len(receiver.received) == 3


def test_one_attempt_leaves_the_delivery_pending_until_its_backoff_is_over(receiver, http_allowed):
    """The attempt itself, as the worker makes it: a failure waits its backoff, pending, with the error recorded."""
    webhook = channel("webhook", receiver.url)
    delivery = Delivery.objects.create(channel=webhook, event=POLICY_ACTED, title="t", text="x")
    receiver.answers((500, {}, 0))
    started = timezone.now()
    assert deliveries.attempt(delivery.pk) == 30
    delivery.refresh_from_db()
    assert delivery.status == "pending" and delivery.due_at >= started + timedelta(seconds=30)
    assert delivery.last_error == "HTTP 500"
    assert deliveries.attempt(delivery.pk) is None  # the retry
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == ("sent", 2)
    assert deliveries.attempt(delivery.pk) is None and len(receiver.received) == 2  # sent: never again


def test_redirects_are_never_followed(receiver, http_allowed, settings, django_capture_on_commit_callbacks):
    settings.ALERT_DELIVERY_ATTEMPTS = 1
    channel("webhook", receiver.url)
    receiver.answers((302, {"Location": "http://127.0.0.1:9/elsewhere"}, 0))
    [delivery] = raise_alert(django_capture_on_commit_callbacks)
    assert delivery.status == "failed"
    assert delivery.last_error == "HTTP 302: redirects are not followed"  # and where to is not said
    assert len(receiver.received) == 1


def test_a_receiver_that_does_not_answer_in_time_fails_the_attempt(
    receiver, http_allowed, settings, django_capture_on_commit_callbacks
):
    settings.ALERT_DELIVERY_ATTEMPTS = 1
    settings.ALERT_WEBHOOK_TIMEOUT_SECONDS = 1
    channel("webhook", receiver.url)
    receiver.answers((200, {}, 5))
    started = time.monotonic()
    [delivery] = raise_alert(django_capture_on_commit_callbacks)
    assert time.monotonic() - started < 5  # structural: the receiver's five seconds were not waited out
    assert (delivery.status, delivery.last_error) == ("failed", "timed out")


def test_webhook_urls_must_be_https_unless_allowed_for_testing(receiver, settings):
    with pytest.raises(ValidationError, match=re.escape("Webhook URLs must use https.")):
        channel("webhook", receiver.url)
    with pytest.raises(ValidationError, match=re.escape("Credentials never belong in the URL.")):
        channel("webhook", "https://user:secret@hooks.example.com/x")
    # A channel saved while http was allowed sends nothing once it no longer is.
    settings.ALERT_WEBHOOKS_ALLOW_HTTP = True
    webhook = channel("webhook", receiver.url)
    settings.ALERT_WEBHOOKS_ALLOW_HTTP = False
    settings.ALERT_DELIVERY_ATTEMPTS = 1
    delivery = Delivery.objects.create(channel=webhook, event=POLICY_ACTED, title="t", text="x")
    deliveries.attempt(delivery.pk)
    delivery.refresh_from_db()
    assert (delivery.status, delivery.last_error) == ("failed", "refused: not https")
    assert receiver.received == []


def test_names_sent_to_teams_cannot_become_links_or_formatting(
    receiver, http_allowed, django_capture_on_commit_callbacks
):
    """A Teams card's text is Markdown: a policy named `[Reconnect](https://…)` would be a link in every alert."""
    channel("teams", receiver.url)
    raise_alert(
        django_capture_on_commit_callbacks,
        title='Policy "[Reconnect](https://evil.example/login)": 2 jobs cancelled',
        text="**Urgent** _now_: ![x](https://evil.example/x.png)",
    )
    [got] = receiver.received
    title, text = [block["text"] for block in got["json"]["attachments"][0]["content"]["body"]]
    assert title == 'Policy "\\[Reconnect\\]\\(https://evil\\.example/login\\)": 2 jobs cancelled'
    assert text == "\\*\\*Urgent\\*\\* \\_now\\_: \\!\\[x\\]\\(https://evil\\.example/x\\.png\\)"


# --- e-mail ----------------------------------------------------------------------------------------------------


def test_e_mail_alerts_go_through_djangos_mail_backend(mailoutbox, django_capture_on_commit_callbacks, site):
    channel("email", recipients="ops@example.com,\n gis-team@example.com")
    [delivery] = raise_alert(django_capture_on_commit_callbacks, site, link="https://jobs.example.com/policies/1/")
    assert delivery.status == "sent"
    [mail] = mailoutbox
    assert mail.subject == '[GP Jobs Portal] Policy "Night cleanup": 2 jobs cancelled'
    assert mail.to == ["ops@example.com", "gis-team@example.com"]
    assert mail.body == "2 cancelled.\n\nhttps://jobs.example.com/policies/1/"


def test_an_e_mail_channel_needs_valid_addresses(db):
    with pytest.raises(ValidationError, match=re.escape("'not-an-address' is not an e-mail address.")):
        channel("email", recipients="ops@example.com, not-an-address")
    with pytest.raises(ValidationError, match=re.escape("Choose at least one event.")):
        channel("email", recipients="ops@example.com", events=[])


def test_a_channel_for_one_site_hears_only_that_sites_alerts(
    site, simulator, mailoutbox, django_capture_on_commit_callbacks
):
    from jobs.models import Site

    other = Site.objects.create(slug="other", name="Other", admin_url=simulator.admin_url, insecure=True)
    channel("email", recipients="main-team@example.com", site=site)
    raise_alert(django_capture_on_commit_callbacks, other)
    raise_alert(django_capture_on_commit_callbacks, site)
    assert [mail.to for mail in mailoutbox] == [["main-team@example.com"]]


# --- queued after the commit; a broker that is down ---------------------------------------------------------


def test_nothing_is_sent_before_the_transaction_commits(receiver, http_allowed, django_capture_on_commit_callbacks):
    channel("webhook", receiver.url)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        [delivery] = alerts.alert(POLICY_ACTED, None, "t", "x")
    assert len(callbacks) == 1 and receiver.received == []
    delivery.refresh_from_db()
    assert delivery.status == "pending"


def test_when_the_broker_is_down_the_delivery_stays_pending_and_the_tick_queues_it_again(
    receiver, http_allowed, monkeypatch, django_capture_on_commit_callbacks, caplog
):
    channel("webhook", receiver.url)

    def broker_down(*args, **kwargs):
        raise OperationalError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    with monkeypatch.context() as patched:
        patched.setattr(deliveries.deliver, "apply_async", broker_down)
        [delivery] = raise_alert(django_capture_on_commit_callbacks)
    assert delivery.status == "pending" and receiver.received == []
    assert f"alert delivery {delivery.pk} stays pending: the task broker did not take it" in caplog.text
    deliveries.requeue(timezone.now())  # not yet: a queued task may still be on its way
    assert receiver.received == []
    deliveries.requeue(timezone.now() + timedelta(minutes=2))
    delivery.refresh_from_db()
    assert delivery.status == "sent" and len(receiver.received) == 1


def test_a_delivery_whose_worker_died_while_sending_is_sent_again(receiver, http_allowed):
    webhook = channel("webhook", receiver.url)
    stuck = Delivery.objects.create(
        channel=webhook,
        event=POLICY_ACTED,
        title="t",
        text="x",
        status="sending",
        attempts=1,
        claimed_at=timezone.now() - timedelta(minutes=11),
        due_at=timezone.now() - timedelta(minutes=11),
    )
    deliveries.requeue(timezone.now() + timedelta(minutes=2))
    stuck.refresh_from_db()
    assert (stuck.status, stuck.attempts) == ("sent", 2)


# --- watching: jobs running long, sites not answering -------------------------------------------------------


def with_history(simulator, key: str, minutes: float, count: int = 10) -> None:
    now = simulator.clock.now()
    for i in range(count):
        start = now - timedelta(hours=3, minutes=i)
        simulator.state.add_job(
            key, status=arcgis_client.SUCCEEDED, submitted=start, end_time=start + timedelta(minutes=minutes)
        )


def test_a_job_found_running_long_is_alerted_once(
    simulator, site, service, olivia, mailoutbox, django_capture_on_commit_callbacks, settings
):
    settings.PORTAL_URL = "https://jobs.example.com"
    channel("email", recipients="ops@example.com", events=[RUNNING_LONG])
    with_history(simulator, service.key, minutes=5)
    late = simulator.state.add_job(
        service.key, status=arcgis_client.EXECUTING, submitted=simulator.clock.now() - timedelta(minutes=40)
    )
    simulator.state.add_job(
        service.key, status=arcgis_client.EXECUTING, submitted=simulator.clock.now() - timedelta(minutes=2)
    )
    olivia.get(reverse("jobs:fleet"), {"inline": "1"})  # the portal notices it as it reads
    with django_capture_on_commit_callbacks(execute=True):
        tasks.tick()
        tasks.tick()
    [mail] = mailoutbox
    assert mail.subject == "[GP Jobs Portal] Job running long: Hydrology/Watershed on Main site"
    assert mail.body.startswith(f"Job {late} of Hydrology/Watershed on Main site: Running long: 8.")
    assert f"https://jobs.example.com/sites/main/services/Hydrology/Watershed.GPServer/jobs/{late}/" in mail.body
    assert AlertedJob.objects.get().job_id == late
    # Read again later (the overview's counts notice it too): still only once.
    olivia.get(reverse("jobs:overview"), {"inline": "1"})
    with django_capture_on_commit_callbacks(execute=True):
        tasks.tick()
    assert len(mailoutbox) == 1


def breaker(site, *, since_minutes: float, opened: bool = True) -> None:
    now = time.time()
    state = {"failures": 3, "since": now - since_minutes * 60, "opened": now - 30 if opened else None}
    cache.set(f"breaker:{site.pk}", state, timeout=3600)


def test_a_site_not_answering_for_n_minutes_is_alerted_once_and_so_is_its_coming_back(
    site, settings, mailoutbox, django_capture_on_commit_callbacks
):
    settings.ALERT_SITE_DOWN_MINUTES = 5
    channel("email", recipients="ops@example.com", events=[SITE_DOWN])

    def tick() -> list[str]:
        with django_capture_on_commit_callbacks(execute=True):
            tasks.tick()
        return [mail.subject.removeprefix("[GP Jobs Portal] ") for mail in mailoutbox]

    breaker(site, since_minutes=4)
    assert tick() == []  # not long enough
    breaker(site, since_minutes=5.5, opened=False)
    assert tick() == []  # failing, but its breaker is not open
    breaker(site, since_minutes=5.5)
    assert tick() == ["Main site is not answering"]
    assert "Main site has not answered since" in mailoutbox[0].body and "(6 min)" in mailoutbox[0].body
    assert tick() == ["Main site is not answering"]  # once
    cache.delete(f"breaker:{site.pk}")  # a call answered: the breaker closed
    assert tick() == ["Main site is not answering", "Main site answers again"]
    assert tick() == ["Main site is not answering", "Main site answers again"]
    assert SiteOutage.objects.get().ended is not None


# --- Site admins configure channels in the Django admin ------------------------------------------------------


def channel_form(client, **fields) -> dict:
    data = {
        "csrfmiddlewaretoken": client.csrf_token,
        "name": "Ops Slack",
        "kind": "slack",
        "url": "https://hooks.slack.example.com/services/T000/B000/secret-part",
        "recipients": "",
        "events": [POLICY_ACTED, SITE_DOWN],
        "site": "",
        "enabled": "on",
        "_save": "Save",
    }
    return {**data, **fields}


def test_a_site_admin_adds_and_changes_a_channel_and_each_change_is_audited(site_admin, client_as):
    client = client_as(site_admin)
    response = client.post(reverse("admin:policies_alertchannel_add"), channel_form(client))
    assert response.status_code == 302, response.content.decode()
    made = AlertChannel.objects.get()
    assert (made.kind, made.events, made.site) == ("slack", [POLICY_ACTED, SITE_DOWN], None)
    [added] = AuditEvent.objects.filter(action="alerts_changed")
    assert (added.username, added.via, added.site) == ("sam", "admin", None)
    assert added.message == (
        "Added alert channel “Ops Slack”: name: “Ops Slack”; kind: Slack incoming webhook; "
        f"sends to: hooks.slack.example.com; webhook URL: fingerprint {made.url_fingerprint}; "
        "events: policy acted, site down or back; site: every site; enabled: on."
    )
    assert "secret-part" not in added.message  # a webhook's path is its secret
    change = reverse("admin:policies_alertchannel_change", args=[made.pk])
    assert client.post(change, channel_form(client, events=[SITE_DOWN])).status_code == 302
    changed = AuditEvent.objects.filter(action="alerts_changed").first()
    assert (
        changed.message
        == "Changed alert channel “Ops Slack”: events: policy acted, site down or back → site down or back."
    )


def test_the_admin_refuses_a_plain_http_webhook(site_admin, client_as):
    client = client_as(site_admin)
    response = client.post(
        reverse("admin:policies_alertchannel_add"), channel_form(client, url="http://hooks.example.com/x")
    )
    assert response.status_code == 200 and "Webhook URLs must use https." in response.content.decode()
    assert not AlertChannel.objects.exists()


def test_operators_do_not_configure_channels(operator, client_as):
    assert client_as(operator).get(reverse("admin:policies_alertchannel_changelist")).status_code == 302  # to login


def test_a_test_alert_checks_a_channel(site_admin, client_as, mailoutbox):
    mail = channel("email", recipients="ops@example.com")
    client = client_as(site_admin)
    data = {"csrfmiddlewaretoken": client.csrf_token, "action": "send_test_alert", "_selected_action": [mail.pk]}
    assert client.post(reverse("admin:policies_alertchannel_changelist"), data).status_code == 302
    [sent] = mailoutbox
    assert sent.subject == "[GP Jobs Portal] Test alert from the GP Jobs Portal"
    delivery = Delivery.objects.get()
    assert delivery.status == "sent"
    deliveries = client.get(reverse("admin:policies_delivery_changelist")).content.decode()
    assert "Test alert from the GP Jobs Portal" in deliveries


def test_changing_a_webhooks_secret_path_is_audited_without_revealing_it(site_admin, client_as):
    client = client_as(site_admin)
    assert client.post(reverse("admin:policies_alertchannel_add"), channel_form(client)).status_code == 302
    made = AlertChannel.objects.get()
    # Another workspace on the same host: only the path differs.
    other = "https://hooks.slack.example.com/services/T999/B999/someone-elses-workspace"
    change = reverse("admin:policies_alertchannel_change", args=[made.pk])
    assert client.post(change, channel_form(client, url=other)).status_code == 302
    changed = AuditEvent.objects.filter(action="alerts_changed").first()
    old, new = made.url_fingerprint, AlertChannel.objects.get().url_fingerprint
    assert old != new
    assert changed.message == f"Changed alert channel “Ops Slack”: webhook URL: fingerprint {old} → fingerprint {new}."
    assert "someone-elses" not in changed.message and "T999" not in changed.message


def test_a_site_admin_who_cannot_see_every_site_sees_no_channel_for_every_site(
    site_admin, client_as, hidden_site, site
):
    from django.contrib.auth import get_user_model

    root = get_user_model().objects.create_superuser("root", password="root-password")  # sees every site
    everywhere = AlertChannel.objects.create(
        name="all", kind="email", recipients="ops@example.com", events=[SITE_DOWN], owner=root
    )
    mine = AlertChannel.objects.create(
        name="mine", kind="email", recipients="me@example.com", events=[SITE_DOWN], site=site
    )
    alerts.alert(SITE_DOWN, hidden_site, "Secret Site is not answering", "Secret Site has not answered since …")
    client = client_as(site_admin)
    deliveries = client.get(reverse("admin:policies_delivery_changelist")).content.decode()
    assert Delivery.objects.filter(channel=everywhere).exists() and "Secret Site" not in deliveries
    channels = client.get(reverse("admin:policies_alertchannel_changelist")).content.decode()
    assert "mine" in channels and ">all<" not in channels
    assert client.get(reverse("admin:policies_alertchannel_change", args=[everywhere.pk])).status_code == 302
    assert mine.site == site


def test_a_channel_for_every_site_is_made_only_by_an_admin_who_sees_every_site(
    site_admin, client_as, hidden_site, site
):
    client = client_as(site_admin)
    response = client.post(reverse("admin:policies_alertchannel_add"), channel_form(client))  # site: every site
    assert response.status_code == 200 and "This field is required." in response.content.decode()
    assert not AlertChannel.objects.exists()
    response = client.post(reverse("admin:policies_alertchannel_add"), channel_form(client, site=str(site.pk)))
    assert response.status_code == 302 and AlertChannel.objects.get().site == site
