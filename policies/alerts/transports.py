"""How each kind of channel carries an alert: a generic JSON webhook, Slack's and Teams' message formats, e-mail.
One class per kind; the delivery loop (policies.alerts.delivery) is theirs to share."""

from __future__ import annotations

import re

from django.core.mail import send_mail

from policies import webhooks
from policies.models import AlertChannel, Delivery


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
                {
                    "type": "TextBlock",
                    "text": _markdown(delivery.title),
                    "weight": "Bolder",
                    "size": "Medium",
                    "wrap": True,
                },
                {"type": "TextBlock", "text": _markdown(delivery.text), "wrap": True},
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
    """POST the JSON body to the checked address of the webhook (policies.webhooks): only its status or a fixed
    phrase is ever recorded."""
    try:
        webhooks.post(url, body)
    except webhooks.Refused as exc:
        raise DeliveryFailed(str(exc)) from None


def _slack(text: str) -> str:
    """Slack's three escapes: its markup must not be injected by a job's or a policy's name."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


_MARKDOWN = re.compile(r"([\\`*_{}\[\]()#+\-.!|~<>])")


def _markdown(text: str) -> str:
    """Teams renders a TextBlock's text as Markdown: every character that could make a link, emphasis or a list of
    a policy's or a job's name is escaped, so `[Reconnect](https://…)` arrives as those very characters."""
    return _MARKDOWN.sub(r"\\\1", text)
