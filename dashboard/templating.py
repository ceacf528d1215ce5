"""The Jinja2 engine (jinja2/): the job table, its rows and its poll's answer, the portal's hottest renders.
Django's engine renders the pages around them; a page includes a Jinja2 partial with `{% jinja %}`
(jobs.templatetags.jobs_tags)."""

from __future__ import annotations

from urllib.parse import urlencode

from django.http import QueryDict
from jinja2 import Environment, pass_context
from jinja2.runtime import Context

from jobs.templatetags import jobs_tags


@pass_context
def querystring(context: Context, **changes) -> str:
    """The page's query with these parameters set (None removes one), as Django's {% querystring %} gives it
    (without its deep copy of the query, which costs more than the rest: a table has a link per column)."""
    query: QueryDict = context["request"].GET
    changed = dict(query.lists()) | {name: [value] for name, value in changes.items()}
    pairs = [(name, value) for name, values in changed.items() for value in values if value is not None]
    return f"?{urlencode(pairs)}" if pairs or query else ""


@pass_context
def job_rows(context: Context, rows, **flags) -> str:
    """The rows, with the page's flags (can_operate, back_url, fleet…) from the context unless given here."""
    return jobs_tags.job_rows(context, rows, **flags)


def environment(**options) -> Environment:
    env = Environment(**options)  # noqa: S701 - Django's backend turns autoescape on
    env.globals.update(querystring=querystring, job_rows=job_rows)
    return env
