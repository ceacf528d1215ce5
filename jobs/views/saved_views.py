"""Saved views: save a job list's filters under a name (from the fleet view or a service's jobs page), list the views
one may open, delete one's own."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_http_methods, require_POST

from accounts.access import viewer_required
from jobs import saved_views
from jobs.audit import quoted
from jobs.views.common import HtmxHttpRequest


@require_http_methods(["GET", "POST"])
@viewer_required
def saved_view_list(request: HtmxHttpRequest) -> HttpResponse:
    if request.method == "POST":
        url = request.POST.get("url", "")
        try:
            view = saved_views.save(
                request.user, request.POST.get("name", ""), url, shared=request.POST.get("shared") == "on"
            )
        except saved_views.Refused as refused:
            messages.error(request, f"The view was not saved. {refused.message}")
            back = url if url_has_allowed_host_and_scheme(url, allowed_hosts=None) else reverse("jobs:saved_views")
            return redirect(back)
        whom = "you and the team" if view.shared else "you"
        messages.success(request, f"Saved the view {quoted(view.name)} for {whom}: it is under Views at the top.")
        return redirect(view.url)
    views = [(view, saved_views.described(request.user, view)) for view in saved_views.visible(request.user)]
    return render(request, "jobs/saved_views.html", {"views": views})


@require_POST
@viewer_required
def delete_saved_view(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    view = get_object_or_404(saved_views.visible(request.user), pk=pk)
    try:
        saved_views.delete(request.user, view)
    except saved_views.Refused as refused:
        messages.error(request, refused.message)
    else:
        messages.success(request, f"Deleted the view {quoted(view.name)}.")
    return redirect("jobs:saved_views")
