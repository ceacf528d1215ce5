"""The operator's own display choices: the time zone."""

from __future__ import annotations

import zoneinfo

from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_http_methods

from jobs.middleware import TIMEZONE_COOKIE, valid_timezone
from jobs.views.common import HtmxHttpRequest, redirect_back


@require_http_methods(["GET", "POST"])
def set_timezone(request: HtmxHttpRequest) -> HttpResponse:
    if request.method == "GET":
        context = {"zones": sorted(zoneinfo.available_timezones()), "next": request.GET.get("next", "")}
        return render(request, "jobs/timezone.html", context)
    response = redirect_back(request, reverse("jobs:overview"))
    name = request.POST.get("timezone", "")
    if valid_timezone(name):
        response.set_cookie(TIMEZONE_COOKIE, name, max_age=365 * 86400, samesite="Lax", secure=request.is_secure())
    else:
        messages.error(request, "Unknown time zone.")
    return response
