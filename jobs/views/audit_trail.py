"""The audit trail: filtered pages and the CSV export."""

from __future__ import annotations

from django.core.paginator import Paginator
from django.http import HttpResponse, StreamingHttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from accounts.access import audit_viewer_required
from jobs import audit
from jobs.forms import AuditFilterForm
from jobs.views.common import HtmxHttpRequest


@require_GET
@audit_viewer_required
def audit_trail(request: HtmxHttpRequest) -> HttpResponse:
    form = AuditFilterForm(request.GET)
    page = Paginator(form.events(request.user).select_related("site"), 50).get_page(request.GET.get("page"))
    return render(request, "jobs/audit.html", {"form": form, "page": page})


@require_GET
@audit_viewer_required
def audit_csv(request: HtmxHttpRequest) -> HttpResponse | StreamingHttpResponse:
    form = AuditFilterForm(request.GET)
    events = form.events(request.user)
    if not form.is_valid():  # an export of nothing would look like an empty trail
        return HttpResponse(
            f"The filters need a correction. {form.problems()}\n",
            status=400,
            content_type="text/plain; charset=utf-8",
        )
    response = StreamingHttpResponse(audit.csv_lines(events), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="gp-jobs-audit.csv"'
    return response
