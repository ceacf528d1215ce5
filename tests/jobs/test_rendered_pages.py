"""Every page and fragment the portal serves, as each role: none may show template source to a person.

Django's {# #} comments are single-line only; a two-line one is printed as text. So are stray tags
left by a broken include. This renders everything and looks for the markers.
"""

import re

import pytest
from django.urls import reverse

import arcgis_client
from tests.conftest import make_user
from tests.helpers import jobs_table_html, sse_events

ROLES = ["viewer", "operator", "site_admin", "superuser"]
TEMPLATE_SOURCE = re.compile(r"\{#|#\}|\{%|%\}|\{\{|\}\}")


@pytest.fixture
def superuser(db):
    return make_user("root", is_superuser=True)


@pytest.fixture
def everyone(viewer, operator, site_admin, superuser):
    return {"viewer": viewer, "operator": operator, "site_admin": site_admin, "superuser": superuser}


def assert_no_template_source(where: str, body: str) -> None:
    found = TEMPLATE_SOURCE.search(body)
    assert found is None, f"{where} shows template source: …{body[max(found.start() - 80, 0) : found.end() + 80]}…"


def bodies(client, target, job_id, failed_id) -> dict[str, str]:
    """Every page and fragment, by name."""
    get = lambda url, **data: client.get(url, data).content.decode()  # noqa: E731
    hx = lambda url, **data: client.htmx_get(url, data).content.decode()  # noqa: E731
    site = target.site
    pages = {
        "overview": get(reverse("jobs:overview")),
        "overview inline": get(reverse("jobs:overview"), inline="1"),
        "overview refresh": hx(reverse("jobs:overview_refresh")),
        "site": get(reverse("jobs:site", args=[site.slug])),
        "site inline": get(reverse("jobs:site", args=[site.slug]), inline="1"),
        "token": get(reverse("jobs:token", args=[site.slug])),
        "jobs page": get(target.url("job_list")),
        "jobs page inline": get(target.url("job_list"), inline="1"),
        "jobs table": jobs_table_html(client, target),
        "jobs table, bad filters": jobs_table_html(client, target, {"status": "nope", "since": "x"}),
        "updates": hx(target.url("job_updates"), rows=f"{job_id}:{arcgis_client.SUBMITTED}", newest="0"),
        "counts": hx(target.url("service_counts")),
        "job page": get(target.url("job", job_id)),
        "failed job page": get(target.url("job", failed_id)),
        "job facts": hx(target.url("job_facts", failed_id)),
        "audit": get(reverse("jobs:audit")),
        "time zone": get(reverse("jobs:timezone")),
        "password": get(reverse("password_change")),
        "not found": get("/sites/nowhere/"),
    }
    for name, url in (
        ("overview stream", reverse("jobs:overview_stream")),
        ("site stream", f"/sites/{site.slug}/stream"),
    ):
        pages[name] = "\n".join(data for _, data in sse_events(client.get(url)))
    return pages


def actions(client, target, job_id) -> dict[str, str]:
    post = lambda url, data, **kw: client.action(url, data, **kw).content.decode()  # noqa: E731
    return {
        "cancel": post(target.url("cancel", job_id), {}),
        "bulk": post(target.url("bulk"), {"action": "cancel", "job_ids": [job_id]}),
        "bulk error": post(target.url("bulk"), {"action": "cancel"}),
        "delete confirmation": post(target.url("delete", job_id), {}, htmx=False),
        "bulk delete confirmation": post(
            target.url("bulk"), {"action": "delete", "job_ids": [job_id, "j1"]}, htmx=False
        ),
        "purge confirmation": post(target.url("purge"), {}, htmx=False),
        "purge": post(target.url("purge"), {"confirmed": "yes"}),
        "forbidden": client.action(target.url("cancel", job_id), {}, htmx=False).content.decode(),
    }


@pytest.mark.parametrize("role", ROLES)
def test_no_page_or_fragment_shows_template_source(
    simulator, site, service, target, everyone, connect, client_as, role
):
    user = everyone[role]
    connect(user, site)
    job_id = simulator.state.add_job(service.key, status=arcgis_client.SUBMITTED)
    failed = simulator.state.add_job(service.key, status=arcgis_client.FAILED)
    client = client_as(user)
    jobs_table_html(client, target)  # what the actions answer with comes from the rows the page showed
    rendered = bodies(client, target, job_id, failed)
    if user.has_perm("jobs.operate_jobs"):
        rendered |= actions(client, target, job_id)
    assert len(rendered) >= 20
    for where, body in rendered.items():
        assert_no_template_source(f"{where} ({role})", body)


def test_pages_without_a_session_show_no_template_source(db, client):
    for url in (reverse("login"), "/accounts/login/?next=/audit/"):
        assert_no_template_source(url, client.get(url).content.decode())


def test_the_check_finds_what_it_is_there_to_find():
    """A two-line {# #} comment is printed by Django; the check must catch that very case."""
    from django.template import engines

    printed = engines["django"].from_string("<p>{# one\ntwo #}</p>").render()
    with pytest.raises(AssertionError, match="shows template source"):
        assert_no_template_source("a two-line comment", printed)
