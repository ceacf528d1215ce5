"""Connecting to a site with one's own ArcGIS account (the password is used once, never kept) or a pasted
token, and disconnecting."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from accounts.access import viewer_required
from jobs import operations
from jobs.access import visible_site
from jobs.forms import (
    ConnectForm,
    PasteTokenForm,
)
from jobs.models import StoredToken
from jobs.views.common import HtmxHttpRequest, flash, redirect_back


@require_http_methods(["GET", "POST"])
@viewer_required
@never_cache
def token(request: HtmxHttpRequest, slug: str) -> HttpResponse:
    """Connect with ArcGIS credentials (used once, never kept) or a pasted token; disconnect."""
    site = visible_site(request, slug)
    connect_form, paste_form = ConnectForm(), PasteTokenForm()
    if request.method == "POST":
        intent = request.POST.get("intent")
        result = None
        shown_for = request.POST.get("address", site.address_fingerprint)
        if intent in ("connect", "paste") and shown_for != site.address_fingerprint:
            # The form was shown for the site's previous address: send nothing before the operator sees the new one.
            messages.error(request, "This site's address changed since this page was shown: check it, then connect.")
        elif intent == "connect":
            connect_form = ConnectForm(request.POST)
            if connect_form.is_valid():
                data = connect_form.cleaned_data
                result = operations.connect(
                    request.user,
                    site,
                    username=data["username"],
                    password=data["password"],
                    expiration_minutes=data["expiration"],
                )
        elif intent == "paste":
            paste_form = PasteTokenForm(request.POST)
            if paste_form.is_valid():
                result = operations.connect_with_token(request.user, site, paste_form.cleaned_data["token"])
        elif intent == "disconnect":
            result = operations.disconnect(request.user, site)
        else:
            return HttpResponse("Unknown intent.", status=400)
        if result is not None:
            flash(request, result)
            if result.ok:
                return redirect_back(request, reverse("jobs:token", args=[site.slug]))
    context = {
        "site": site,
        "token": StoredToken.objects.filter(user=request.user, site=site).first(),
        "connect_form": connect_form,
        "paste_form": paste_form,
        "next": request.GET.get("next") or request.POST.get("next", ""),
    }
    return render(request, "jobs/token.html", context)
