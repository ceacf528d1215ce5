"""The user's own page of personal API tokens: create one (shown once), see them, revoke one."""

from django.conf import settings
from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from accounts.access import AuthenticatedHttpRequest, viewer_required
from api import personal_tokens
from api.forms import NewTokenForm
from api.models import ApiToken
from jobs.audit import quoted


@require_http_methods(["GET", "POST"])
@viewer_required
@never_cache
def api_tokens(request: AuthenticatedHttpRequest) -> HttpResponse:
    form = NewTokenForm()
    created = None  # (row, token): the one time the token itself is shown
    if request.method == "POST":
        intent = request.POST.get("intent")
        if intent == "create":
            form = NewTokenForm(request.POST)
            if form.is_valid():
                created = personal_tokens.issue(request.user, form.cleaned_data["name"], form.cleaned_data["days"])
                form = NewTokenForm()
        elif intent == "revoke":
            pk = request.POST.get("token", "")
            row = get_object_or_404(ApiToken, user=request.user, pk=pk if pk.isascii() and pk.isdigit() else None)
            personal_tokens.revoke(request.user, row)
            messages.success(request, f"Revoked the API token {quoted(row.name)}: it no longer works.")
            return redirect("api_tokens")
        else:
            return HttpResponse("Unknown intent.", status=400)
    context = {
        "form": form,
        "created": created,
        "rows": ApiToken.objects.filter(user=request.user),
        "rate_limit": settings.API_RATE_LIMIT,
    }
    return render(request, "api/tokens.html", context)
