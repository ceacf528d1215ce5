"""Round 2's security review, finding 2: alert webhooks were an SSRF from the worker, with an oracle. Each test makes
the attack; every server here listens on loopback only and stops with its test. Host names ending in `.test` are
answered by a fake resolver the test installs (the "DNS" an attacker controls); nothing else is faked."""

from __future__ import annotations

import socket
import ssl
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from io import StringIO

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.db import connection
from django.test import override_settings
from django.urls import reverse

from arcgis_simulator.tls import generate_certificate
from policies import webhooks
from policies.alerts import delivery as deliveries
from policies.models import AlertChannel, Delivery

pytestmark = pytest.mark.django_db

EVENT = "policy_acted"


@pytest.fixture
def http_allowed(settings):
    settings.ALERT_WEBHOOKS_ALLOW_HTTP = True  # the test receivers are plain http on loopback


@pytest.fixture
def fake_dns(monkeypatch):
    """Names under .test resolve to what the test says, in turn (a rebinding attacker answers differently each
    time); every other name and address goes to the system's resolver."""
    answers: dict[str, list[str]] = {}
    real = socket.getaddrinfo

    def getaddrinfo(host, port, *args, **kwargs):
        if isinstance(host, str) and host.endswith(".test"):
            queue = answers.get(host) or []
            if not queue:
                raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
            address = queue.pop(0) if len(queue) > 1 else queue[0]
            return real(address, port, *args, **kwargs)
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return answers


def make_channel(url: str, **fields) -> AlertChannel:
    """Saved without the form's checks, as a channel saved before them (or by a script) would be."""
    return AlertChannel.objects.create(**{"name": "hook", "kind": "webhook", "url": url, "events": [EVENT], **fields})


def attempt(channel: AlertChannel) -> Delivery:
    delivery = Delivery.objects.create(channel=channel, event=EVENT, title="t", text="x")
    deliveries.attempt(delivery.pk)
    delivery.refresh_from_db()
    return delivery


class Listener:
    """A one-purpose HTTP(S) server on a loopback address: records what reached it."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, handler=None, tls: ssl.SSLContext | None = None):
        self.hits: list[dict] = []
        listener = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                listener.hits.append({"path": self.path, "headers": dict(self.headers), "body": body})
                if handler is not None:
                    handler(self)
                    return
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer((host, port), Handler)
        self.server.daemon_threads = True
        if tls is not None:
            self.server.socket = tls.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


@pytest.fixture
def listeners():
    started: list[Listener] = []

    def start(*args, **kwargs) -> Listener:
        started.append(Listener(*args, **kwargs))
        return started[-1]

    yield start
    for listener in started:
        listener.stop()


# --- refused at save ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "https://127.0.0.1/hook",
        "https://localhost:8443/hook",  # a name: resolved, and refused for what it resolves to
        "https://[::1]/hook",
        "https://169.254.169.254/latest/meta-data/",  # a cloud's metadata service
        "https://10.1.2.3/hook",
        "https://172.16.0.9/hook",
        "https://192.168.1.20/hook",
        "https://100.64.0.1/hook",  # shared address space
        "https://224.0.0.251/hook",  # multicast
        "https://240.0.0.1/hook",  # reserved
        "https://0.0.0.0/hook",
        "https://[::ffff:127.0.0.1]/hook",  # IPv4 inside IPv6
        "https://[fe80::1]/hook",
        "https://[fd00::1]/hook",
    ],
)
def test_round2_finding_2_a_webhook_to_a_private_address_cannot_be_saved(url):
    channel = AlertChannel(name="hook", kind="webhook", url=url, events=[EVENT])
    with pytest.raises(ValidationError, match="private, loopback, link-local or otherwise non-public"):
        channel.full_clean()


def test_round2_finding_2_the_admin_refuses_it_too_and_a_name_that_does_not_resolve_yet_is_checked_later(
    site_admin, client_as
):
    client = client_as(site_admin)
    form = {
        "csrfmiddlewaretoken": client.csrf_token,
        "name": "Metadata",
        "kind": "webhook",
        "url": "https://169.254.169.254/latest/meta-data/iam/",
        "recipients": "",
        "events": [EVENT],
        "site": "",
        "enabled": "on",
        "_save": "Save",
    }
    response = client.post(reverse("admin:policies_alertchannel_add"), form)
    assert response.status_code == 200 and "non-public" in response.content.decode()
    assert not AlertChannel.objects.exists()
    # The public Internet's names may not resolve from the web server: every delivery resolves and checks again.
    form["url"] = "https://hooks.slack.example.com/services/T0/B0/secret"
    assert client.post(reverse("admin:policies_alertchannel_add"), form).status_code == 302


def test_round2_finding_2_an_allowed_network_is_reached(settings, http_allowed, listeners):
    hook = listeners()
    url = f"http://127.0.0.1:{hook.port}/hook"
    channel = AlertChannel(name="hook", kind="webhook", url=url, events=[EVENT])
    with pytest.raises(ValidationError):
        channel.full_clean()
    settings.ALERT_WEBHOOK_ALLOWED_NETWORKS = ["127.0.0.0/30"]
    channel.full_clean()
    channel.save()
    assert attempt(channel).status == "sent" and len(hook.hits) == 1


# --- refused again when sending ----------------------------------------------------------------------------------


def test_round2_finding_2_a_channel_saved_before_the_check_reaches_nothing_private(settings, http_allowed, listeners):
    settings.ALERT_DELIVERY_ATTEMPTS = 1
    portal = listeners()  # e.g. the portal itself, or an ArcGIS site, on this host
    delivery = attempt(make_channel(f"http://127.0.0.1:{portal.port}/admin/"))
    assert (delivery.status, delivery.last_error) == ("failed", "refused: private address")
    assert portal.hits == []


def test_round2_finding_2_the_delivery_connects_to_the_address_it_checked_not_a_rebound_one(
    settings, http_allowed, listeners, fake_dns
):
    """The name first resolves to an allowed address, then (a rebinding attacker's DNS) to another loopback address
    that is not: the POST goes to the address that was checked."""
    inside = listeners("127.0.0.2")  # what the attacker wants to reach
    allowed = listeners("127.0.0.1", inside.port)
    settings.ALERT_WEBHOOK_ALLOWED_NETWORKS = ["127.0.0.1/32"]
    fake_dns["rebind.test"] = ["127.0.0.1", "127.0.0.2"]
    delivery = attempt(make_channel(f"http://rebind.test:{inside.port}/hook"))
    assert delivery.status == "sent"
    assert inside.hits == [] and len(allowed.hits) == 1
    assert allowed.hits[0]["headers"]["Host"] == f"rebind.test:{inside.port}"  # the name, as the URL gave it
    # A name that resolves to a disallowed address is refused before any connection.
    fake_dns["mixed.test"] = ["127.0.0.2"]
    settings.ALERT_DELIVERY_ATTEMPTS = 1
    assert attempt(make_channel(f"http://mixed.test:{inside.port}/hook", name="mixed")).last_error == (
        "refused: private address"
    )
    assert inside.hits == []


# --- no oracle -------------------------------------------------------------------------------------------------------


def test_round2_finding_2_the_record_keeps_a_status_or_a_fixed_phrase_never_the_answer(
    settings, http_allowed, listeners
):
    settings.ALERT_DELIVERY_ATTEMPTS = 1
    settings.ALERT_WEBHOOK_ALLOWED_NETWORKS = ["127.0.0.1/32"]

    def leaky(handler):
        secret = b'{"AccessKeyId": "AKIA-INTERNAL", "Token": "internal-secret"}'
        handler.send_response(500, "Internal detail")
        handler.send_header("Content-Length", str(len(secret)))
        handler.end_headers()
        handler.wfile.write(secret)

    hook = listeners(handler=leaky)
    delivery = attempt(make_channel(f"http://127.0.0.1:{hook.port}/hook"))
    assert delivery.last_error == "HTTP 500"
    # A closed port and an open one are told apart by no exception's name: one fixed phrase.
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()
    delivery = attempt(make_channel(f"http://127.0.0.1:{port}/hook", name="closed"))
    assert delivery.last_error == "connection failed"


def test_round2_finding_2_proxy_variables_and_netrc_are_ignored(
    settings, http_allowed, listeners, monkeypatch, tmp_path
):
    settings.ALERT_WEBHOOK_ALLOWED_NETWORKS = ["127.0.0.1/32"]
    hook = listeners()
    proxy = listeners()
    netrc = tmp_path / "netrc"
    netrc.write_text("machine 127.0.0.1 login portal password from-the-netrc\n")
    netrc.chmod(0o600)
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY"):
        monkeypatch.setenv(name, f"http://127.0.0.1:{proxy.port}")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    monkeypatch.setenv("NETRC", str(netrc))
    assert attempt(make_channel(f"http://127.0.0.1:{hook.port}/hook")).status == "sent"
    assert proxy.hits == [] and len(hook.hits) == 1
    assert "Authorization" not in hook.hits[0]["headers"]


def test_round2_finding_2_a_receiver_dripping_its_answer_is_cut_off_at_the_deadline(settings, http_allowed, listeners):
    """A receiver that sends a header byte every 0.2 s would hold a worker for its whole answer (each read is
    short); the deadline bounds the whole call, so the portal hangs up long before the drip ends."""
    settings.ALERT_DELIVERY_ATTEMPTS = 1
    settings.ALERT_WEBHOOK_TIMEOUT_SECONDS = 1
    settings.ALERT_WEBHOOK_ALLOWED_NETWORKS = ["127.0.0.1/32"]
    hung_up = threading.Event()

    def drip(handler):
        handler.wfile.write(b"HTTP/1.1 200 OK\r\n")
        try:
            for _ in range(150):  # 30 s of "X-Slow: …" at most; the test ends it long before
                handler.wfile.write(b"X")
                handler.wfile.flush()
                time.sleep(0.2)
        except OSError:  # the portal hung up
            hung_up.set()
            return
        handler.wfile.write(b": y\r\nContent-Length: 0\r\n\r\n")

    hook = listeners(handler=drip)
    delivery = attempt(make_channel(f"http://127.0.0.1:{hook.port}/hook"))
    assert (delivery.status, delivery.last_error) == ("failed", "timed out")
    assert hung_up.wait(10)  # the receiver found the connection gone while it still had answer to drip


def test_round2_finding_2_tls_is_verified_against_the_host_name_while_connecting_to_the_checked_address(
    settings, listeners, fake_dns, tmp_path
):
    settings.ALERT_DELIVERY_ATTEMPTS = 1
    settings.ALERT_WEBHOOK_ALLOWED_NETWORKS = ["127.0.0.1/32"]
    cert, key = generate_certificate(tmp_path / "hooks", hosts=("hooks.test",))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    hook = listeners(tls=context)
    settings.ALERT_WEBHOOK_CA_BUNDLE = str(cert)  # the receiver's own certificate is its CA
    fake_dns["hooks.test"] = ["127.0.0.1"]
    fake_dns["other.test"] = ["127.0.0.1"]
    assert attempt(make_channel(f"https://hooks.test:{hook.port}/hook")).status == "sent"
    # The same address under a name the certificate does not carry: refused by TLS, in a fixed phrase.
    delivery = attempt(make_channel(f"https://other.test:{hook.port}/hook", name="other"))
    assert (delivery.status, delivery.last_error) == ("failed", "TLS error")
    # And by no CA the portal was not told to trust (the system's CAs do not know it).
    settings.ALERT_WEBHOOK_CA_BUNDLE = None
    delivery = attempt(make_channel(f"https://hooks.test:{hook.port}/hook", name="untrusted"))
    assert delivery.last_error == "TLS error"
    assert len(hook.hits) == 1


# --- a test alert is no port scanner; the URL is a secret at rest -------------------------------------------------


def test_round2_finding_2_send_a_test_alert_is_rate_limited(site_admin, client_as, mailoutbox):
    channel = AlertChannel.objects.create(name="ops", kind="email", recipients="ops@example.com", events=[EVENT])
    client = client_as(site_admin)
    data = {"csrfmiddlewaretoken": client.csrf_token, "action": "send_test_alert", "_selected_action": [channel.pk]}
    changelist = reverse("admin:policies_alertchannel_changelist")
    client.post(changelist, data)
    answer = client.post(changelist, data, follow=True).content.decode()
    assert "a test alert was sent less than a minute ago" in answer
    assert Delivery.objects.count() == 1 and len(mailoutbox) == 1


def test_round2_finding_2_webhook_urls_are_encrypted_at_rest_and_rotated_with_the_tokens(site_admin, client_as):
    secret = "https://hooks.slack.example.com/services/T0/B0/the-secret-path"
    channel = make_channel(secret)
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM policies_alertchannel")
        row = cursor.fetchone()
    stored = [bytes(v) if isinstance(v, bytes | memoryview) else str(v).encode() for v in row]
    assert not any(b"the-secret-path" in value for value in stored)
    # The admin's form never shows it again.
    page = client_as(site_admin).get(reverse("admin:policies_alertchannel_change", args=[channel.pk]))
    assert "the-secret-path" not in page.content.decode()
    from cryptography.fernet import Fernet

    new_key = Fernet.generate_key().decode()
    with override_settings(TOKEN_ENCRYPTION_KEYS=[new_key, *settings_keys()]):
        out = StringIO()
        call_command("rotate_token_keys", stdout=out)
        assert "Re-encrypted 1 stored webhook URL(s)" in out.getvalue()
    with override_settings(TOKEN_ENCRYPTION_KEYS=[new_key]):
        assert AlertChannel.objects.get().url == secret


def settings_keys() -> list[str]:
    from django.conf import settings

    return list(settings.TOKEN_ENCRYPTION_KEYS)


def test_round2_finding_2_the_address_rules(settings):
    allowed = ("8.8.8.8", "2606:4700:4700::1111")
    refused = ("127.0.0.1", "::1", "169.254.169.254", "10.0.0.1", "fc00::1", "::ffff:10.0.0.1", "2002:a00:1::")
    assert all(webhooks.is_allowed(webhooks.ipaddress.ip_address(a)) for a in allowed)
    assert not any(webhooks.is_allowed(webhooks.ipaddress.ip_address(a)) for a in refused)
    settings.ALERT_WEBHOOK_ALLOWED_NETWORKS = ["10.0.0.0/8"]
    assert webhooks.is_allowed(webhooks.ipaddress.ip_address("10.0.0.1"))


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_round2_finding_2_webhook_urls_saved_before_are_encrypted_by_the_migration():
    from django.db.migrations.executor import MigrationExecutor

    from jobs.crypto import decrypt_text

    before, after = [("policies", "0002_roles")], [("policies", "0003_webhook_url_encrypted_at_rest")]
    executor = MigrationExecutor(connection)
    executor.migrate(before)
    old = executor.loader.project_state(before).apps.get_model("policies", "AlertChannel")
    secret = "https://hooks.slack.example.com/services/T0/B0/saved-before"
    old.objects.create(name="hook", kind="webhook", url=secret, events=[EVENT])
    old.objects.create(name="mail", kind="email", recipients="ops@example.com", events=[EVENT])
    try:
        executor = MigrationExecutor(connection)
        executor.migrate(after)
        new = executor.loader.project_state(after).apps.get_model("policies", "AlertChannel")
        stored = dict(new.objects.values_list("name", "url_ciphertext"))
        assert decrypt_text(bytes(stored["hook"]), "webhook URL") == secret and bytes(stored["mail"]) == b""
    finally:  # back to the current schema for the tests that follow
        executor = MigrationExecutor(connection)
        executor.migrate(executor.loader.graph.leaf_nodes())
