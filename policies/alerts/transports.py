"""How each kind of channel carries an alert: a generic JSON webhook, Slack's and Teams' message formats, e-mail.
One class per kind; the delivery loop (policies.alerts.delivery) is theirs to share."""

from __future__ import annotations

from urllib.parse import urlsplit

import requests
from django.conf import settings
from django.core.mail import send_mail

from policies.models import AlertChannel, Delivery

MAX_RESPONSE_BYTES = 2000  # of a failing receiver's answer, for the record


class DeliveryFailed(Exception):
    """Why an attempt failed, in words for the record."""


class Transport:
    """Sends one delivery on one channel, or raises DeliveryFailed (any other exception is a failure too)."""

    def send(self, channel: AlertChannel, delivery: Delivery) -> None:
        raise NotImplementedError


class EmailTransport(Transport):
    def send(self, channel: AlertChannel, delivery: Delivery) -> None:
        body = delivery.text + (f"\n\n{delivery.link}" if delivery.link else "")
        send_mail(f"[GP Jobs Portal] {delivery.title}", body, None, channel.recipient_list)


class WebhookTransport(Transport):
    """A JSON body POSTed to the channel's URL: the generic one here, each message format in a subclass."""

    def body(self, delivery: Delivery) -> dict:
        return {
            "event": delivery.event,
            "title": delivery.title,
            "text": delivery.text,
            "site": delivery.site.slug if delivery.site else None,
            "link": delivery.link or None,
            "created": delivery.created.isoformat(),
            "delivery": delivery.pk,
        }

    def send(self, channel: AlertChannel, delivery: Delivery) -> None:
        post_webhook(channel.url, self.body(delivery))


class SlackTransport(WebhookTransport):
    def body(self, delivery: Delivery) -> dict:
        text = f"*{_slack(delivery.title)}*\n{_slack(delivery.text)}"
        if delivery.link:
            text += f"\n<{delivery.link}|Open in the GP Jobs Portal>"
        return {"text": text}


class TeamsTransport(WebhookTransport):
    """An Adaptive Card, as Teams workflows ("When a webhook request is received") take it."""

    def body(self, delivery: Delivery) -> dict:
        card = {
            "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
            "type": "AdaptiveCard",
            "version": "1.4",
            "body": [
                {"type": "TextBlock", "text": delivery.title, "weight": "Bolder", "size": "Medium", "wrap": True},
                {"type": "TextBlock", "text": delivery.text, "wrap": True},
            ],
        }
        if delivery.link:
            card["actions"] = [{"type": "Action.OpenUrl", "title": "Open in the GP Jobs Portal", "url": delivery.link}]
        return {
            "type": "message",
            "attachments": [{"contentType": "application/vnd.microsoft.card.adaptive", "content": card}],
        }


TRANSPORTS: dict[str, Transport] = {
    AlertChannel.Kind.WEBHOOK: WebhookTransport(),
    AlertChannel.Kind.SLACK: SlackTransport(),
    AlertChannel.Kind.TEAMS: TeamsTransport(),
    AlertChannel.Kind.EMAIL: EmailTransport(),
}


def transport_for(channel: AlertChannel) -> Transport:
    return TRANSPORTS[channel.kind]


def post_webhook(url: str, body: dict) -> None:
    """POST the JSON body: https only (unless allowed for testing), a short timeout, redirects never followed."""
    scheme = urlsplit(url).scheme
    if scheme != "https" and not (scheme == "http" and settings.ALERT_WEBHOOKS_ALLOW_HTTP):
        raise DeliveryFailed("The webhook URL is not https: nothing was sent.")
    timeout = settings.ALERT_WEBHOOK_TIMEOUT_SECONDS
    try:
        response = requests.post(url, json=body, timeout=(timeout, timeout), allow_redirects=False, stream=True)
    except requests.Timeout:
        raise DeliveryFailed(f"The receiver did not answer within {timeout} s.") from None
    except requests.RequestException as exc:
        raise DeliveryFailed(f"The receiver could not be reached ({type(exc).__name__}).") from None
    with response:
        if 200 <= response.status_code < 300:
            return
        if response.is_redirect:
            target = urlsplit(response.headers.get("Location", "")).hostname or "elsewhere"
            raise DeliveryFailed(f"HTTP {response.status_code}: the receiver redirects to {target}; not followed.")
        answer = response.raw.read(MAX_RESPONSE_BYTES, decode_content=True).decode("utf-8", "replace")
        raise DeliveryFailed(f"HTTP {response.status_code} {response.reason}: {' '.join(answer.split())[:300]}".strip())


def _slack(text: str) -> str:
    """Slack's three escapes: its markup must not be injected by a job's or a policy's name."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
