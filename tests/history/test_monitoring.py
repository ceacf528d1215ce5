"""The monitoring account: traded for a token and kept encrypted, failures recorded, and never used for an action."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

import arcgis_client
from history import monitoring
from history.models import MonitoringAccount
from jobs import operations
from jobs.models import AuditEvent
from jobs.targets import ServiceTarget
from tests.helpers import status_text

EXECUTING = "esriJobExecuting"


def token_trades(simulator) -> list:
    return [r for r in simulator.requests if r.operation == "generateToken"]


def fresh(account: MonitoringAccount) -> MonitoringAccount:
    return MonitoringAccount.objects.get(pk=account.pk)


def test_the_password_is_traded_once_and_its_token_kept_encrypted(simulator, service, monitored):
    simulator.state.add_job(service.key)
    client = monitoring.Session(monitored).client()
    assert client.query_jobs(service).total == 1
    [trade] = token_trades(simulator)
    assert trade.method == "POST" and trade.form["username"] == "publisher"
    account = fresh(monitored)
    token = client._token
    assert account.token_ciphertext and token.encode() not in bytes(account.token_ciphertext)
    assert account.token_expires > timezone.now() + timedelta(minutes=100)
    assert bytes(account.secret_ciphertext) and b"publisher" not in bytes(account.secret_ciphertext)
    # The next pass uses the kept token: no second trade.
    simulator.requests.clear()
    monitoring.Session(account).client().query_jobs(service)
    assert token_trades(simulator) == []
    assert "publisher" not in repr(account) and token not in repr(client)


def test_a_rejected_token_is_traded_again_once(simulator, service, monitored):
    monitoring.Session(monitored).client()
    simulator.tokens.revoke_all()  # as after a server restart
    simulator.requests.clear()
    client = monitoring.Session(fresh(monitored)).client()
    assert client.query_jobs(service).total == 0
    assert [r.operation for r in simulator.requests] == ["query", "generateToken", "query"]
    assert client.calls == 3
    # Rejected again at once: the pass fails instead of trading again and again.
    simulator.faults.set("expire_tokens")
    with pytest.raises(arcgis_client.TokenRejected):
        client.query_jobs(service)
    assert len(token_trades(simulator)) == 1


def test_a_wrong_password_is_recorded_as_rejected(simulator, site, superuser):
    monitoring.set_account(site, superuser, username="publisher", password="wrong", via=AuditEvent.Via.CLI)
    session = monitoring.Session(MonitoringAccount.objects.get(site=site))
    with pytest.raises(monitoring.AccountProblem) as failure:
        session.client()
    assert failure.value.kind == "rejected"
    assert "publisher" in failure.value.message and "Invalid username or password" in failure.value.message
    session.fared(failure.value)
    account = MonitoringAccount.objects.get(site=site)
    assert account.failing_since is not None and account.problem_kind == "rejected"
    first = account.failing_since
    session.fared(failure.value, timezone.now() + timedelta(minutes=5))
    assert MonitoringAccount.objects.get(site=site).failing_since == first  # failing since its first failure
    session.fared(None)
    account = MonitoringAccount.objects.get(site=site)
    assert (account.failing_since, account.problem, account.problem_kind) == (None, "", "")
    assert account.last_ok is not None


def test_an_expired_pasted_token_is_recorded_as_expired_without_a_call(simulator, site, superuser):
    token = simulator.issue_token("publisher", referer=site.effective_referer)
    monitoring.set_account(site, superuser, token=token, via=AuditEvent.Via.CLI)
    MonitoringAccount.objects.filter(site=site).update(token_expires=timezone.now() - timedelta(minutes=1))
    with pytest.raises(monitoring.AccountProblem) as failure:
        monitoring.Session(MonitoringAccount.objects.get(site=site)).client()
    assert failure.value.kind == "expired" and "paste a new one" in failure.value.message
    assert list(simulator.requests) == []


def test_a_pasted_token_is_used_as_it_is(simulator, site, service, superuser):
    token = simulator.issue_token("publisher", referer=site.effective_referer)
    monitoring.set_account(site, superuser, token=token, via=AuditEvent.Via.CLI)
    client = monitoring.Session(MonitoringAccount.objects.get(site=site)).client()
    client.query_jobs(service)
    [query] = simulator.requests
    assert query.headers["X-Esri-Authorization"] == f"Bearer {token}"
    simulator.faults.set("expire_tokens")
    with pytest.raises(arcgis_client.TokenRejected):  # nothing to trade: the pass fails, the account is failing
        client.query_jobs(service)
    assert monitoring.problem_of(arcgis_client.TokenInvalid("Invalid token.", code=498)).kind == "rejected"


def test_setting_the_account_is_audited_without_the_secret(site, superuser):
    monitoring.set_account(site, superuser, username="reader", password="s3cret-pass", via=AuditEvent.Via.ADMIN)
    monitoring.set_account(site, superuser, token="tok-123456", via=AuditEvent.Via.ADMIN)
    messages = list(AuditEvent.objects.filter(action="site_change").order_by("created", "id").values_list("message"))
    assert messages == [
        ("Set the monitoring account: the ArcGIS account “reader” (its password is kept encrypted).",),
        ("Replaced the monitoring account: a pasted token.",),
    ]
    assert MonitoringAccount.objects.get(site=site).kind == "token"
    with pytest.raises(ValueError):
        monitoring.set_account(site, superuser, username="reader", via=AuditEvent.Via.ADMIN)


def test_the_account_does_not_follow_the_site_to_a_new_address(simulator, site, monitored, superuser):
    monitoring.Session(monitored).client()  # a token traded and kept
    site.admin_url = "http://elsewhere.example.com:6080/arcgis/admin"
    operations.change_site(superuser, site, operations.site_changes(site))
    account = fresh(monitored)
    assert bytes(account.secret_ciphertext) == b"" and account.token_ciphertext is None
    assert account.problem == monitoring.ADDRESS_CHANGED and account.failing_since is not None
    simulator.requests.clear()
    with pytest.raises(monitoring.AccountProblem, match="enter its monitoring account again"):
        monitoring.Session(account).client()
    assert list(simulator.requests) == []


# --- never used for an action ------------------------------------------------------------------------


def test_the_read_only_client_refuses_every_action_before_sending_it(simulator, service, site, superuser):
    monitoring.set_account(site, superuser, username="siteadmin", password="siteadmin", via=AuditEvent.Via.CLI)
    job_id = simulator.state.add_job(service.key, status=EXECUTING)
    client = monitoring.Session(MonitoringAccount.objects.get(site=site)).client()
    simulator.requests.clear()
    for act in (
        lambda: client.cancel_job(service, job_id),
        lambda: client.delete_job(service, job_id),
        lambda: client.purge_queue(service),
    ):
        with pytest.raises(monitoring.ReadOnly, match="only reads"):
            act()
    assert list(simulator.requests) == []
    assert simulator.state.get_job(service.key, job_id)["status"] == EXECUTING


def test_an_operator_without_a_token_cannot_act_through_the_monitoring_account(
    simulator, site, service, superuser, operator, client_as
):
    # An administrator's account, able to cancel anything: still only the collector's, and only for reads.
    monitoring.set_account(site, superuser, username="siteadmin", password="siteadmin", via=AuditEvent.Via.CLI)
    monitoring.Session(MonitoringAccount.objects.get(site=site)).client()  # its token is traded and kept
    job_id = simulator.state.add_job(service.key, status=EXECUTING)
    target = ServiceTarget(site, service)
    client = client_as(operator)
    simulator.requests.clear()
    for action in ("cancel", "delete"):
        html = client.action(target.url(action, job_id), {"confirmed": "yes"}).content.decode()
        assert "You have no ArcGIS token for this site." in status_text(html)
    client.action(target.url("purge"), {"confirmed": "yes"})
    client.action(target.url("bulk"), {"action": "cancel", "job_ids": [job_id], "confirmed": "yes"})
    assert [r for r in simulator.requests if r.method == "POST"] == []
    assert simulator.state.get_job(service.key, job_id)["status"] == EXECUTING
    attempts = AuditEvent.objects.filter(action__in=["cancel", "delete", "purge"])
    assert sorted(attempts.values_list("action", "outcome")) == [
        ("cancel", "failed"),
        ("cancel", "failed"),
        ("delete", "failed"),
        ("purge", "failed"),
    ]
