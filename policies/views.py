"""The policy pages: thin views over policies.editing (changes, audited) and policies.runs (preview and act).

Operators manage their own policies; Site admins (policies.manage_all_policies) everyone's, on the sites they
may see. A preview reads with the signed-in person's own ArcGIS token, and acting on it is theirs too; the
owner's token acts only on the schedule.
"""

from __future__ import annotations

from django.contrib import messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts import roles
from accounts.access import operator_required, permission_required
from jobs.audit import quoted
from jobs.models import Site
from policies import editing, runs
from policies.forms import PolicyForm
from policies.models import Policy, PolicyRun

RUNS_SHOWN = 25
YOURS_NOW = " It is now yours: its schedule acts with your ArcGIS token, and its previous owner is told."

policy_viewer = permission_required(roles.VIEW_POLICY)
policy_changer = permission_required(roles.CHANGE_POLICY)


def managed_policies(user) -> QuerySet[Policy]:
    """The policies this user manages: their own, or everyone's for a Site admin; only on sites they may see."""
    policies = Policy.objects.filter(site__in=Site.objects.visible_to(user)).select_related("site", "owner")
    return policies if user.has_perm(roles.MANAGE_ALL_POLICIES) else policies.filter(owner=user)


def managed_policy(request: HttpRequest, pk: int) -> Policy:
    return get_object_or_404(managed_policies(request.user), pk=pk)


def _form(request: HttpRequest, policy: Policy | None) -> PolicyForm:
    data = request.POST if request.method == "POST" else None
    return PolicyForm(data, instance=policy, sites=Site.objects.visible_to(request.user))


@require_GET
@policy_viewer
def policy_list(request: HttpRequest) -> HttpResponse:
    policies = list(managed_policies(request.user))
    last: dict[int, PolicyRun] = {}
    for run in PolicyRun.objects.filter(policy__in=policies).exclude(outcome=PolicyRun.Outcome.PREVIEW):
        last.setdefault(run.policy_id, run)
    rows = [(policy, last.get(policy.pk)) for policy in policies]
    context = {"rows": rows, "can_add": request.user.has_perm(roles.ADD_POLICY)}
    return render(request, "policies/list.html", context)


@require_http_methods(["GET", "POST"])
@permission_required(roles.ADD_POLICY)
@operator_required
def policy_new(request: HttpRequest) -> HttpResponse:
    form = _form(request, None)
    if request.method == "POST" and form.is_valid():
        policy = form.save(commit=False)
        policy.owner = request.user
        editing.save(request.user, policy, None)
        messages.success(request, f"Policy {quoted(policy.name)} created. Preview it to see what it matches now.")
        return redirect("policies:detail", pk=policy.pk)
    return render(request, "policies/form.html", {"form": form, "policy": None})


@require_GET
@policy_viewer
def policy_detail(request: HttpRequest, pk: int) -> HttpResponse:
    policy = managed_policy(request, pk)
    history = policy.runs.exclude(outcome=PolicyRun.Outcome.PREVIEW)[:RUNS_SHOWN]
    context = {"policy": policy, "runs": history, "others": _others(request, policy)}
    return render(request, "policies/detail.html", context)


def _others(request: HttpRequest, policy: Policy) -> bool:
    """Someone else's policy: changing what it does, or switching it on, makes it yours (policies.editing)."""
    return policy.owner_id != request.user.pk


@require_http_methods(["GET", "POST"])
@policy_changer
def policy_edit(request: HttpRequest, pk: int) -> HttpResponse:
    policy = managed_policy(request, pk)
    before = editing.snapshot(policy)
    form = _form(request, policy)
    if request.method == "POST" and form.is_valid():
        taken_over = editing.save(request.user, form.save(commit=False), before)
        messages.success(request, f"Policy {quoted(policy.name)} saved." + (YOURS_NOW if taken_over else ""))
        return redirect("policies:detail", pk=policy.pk)
    return render(request, "policies/form.html", {"form": form, "policy": policy, "others": _others(request, policy)})


@require_POST
@policy_changer
def policy_enable(request: HttpRequest, pk: int) -> HttpResponse:
    policy = managed_policy(request, pk)
    enabled = request.POST.get("enabled") == "1"
    taken_over = editing.set_enabled(request.user, policy, enabled)
    state = (
        "enabled: it runs on its schedule" if enabled and policy.scheduled else ("enabled" if enabled else "disabled")
    )
    messages.success(request, f"Policy {quoted(policy.name)} {state}." + (YOURS_NOW if taken_over else ""))
    return redirect("policies:detail", pk=policy.pk)


@require_http_methods(["GET", "POST"])
@permission_required(roles.DELETE_POLICY)
def policy_delete(request: HttpRequest, pk: int) -> HttpResponse:
    policy = managed_policy(request, pk)
    if request.method == "POST":
        editing.delete(request.user, policy)
        messages.success(request, f"Policy {quoted(policy.name)} deleted.")
        return redirect("policies:list")
    return render(request, "policies/delete.html", {"policy": policy})


@require_POST
@policy_viewer
@operator_required
def policy_preview(request: HttpRequest, pk: int) -> HttpResponse:
    """What the policy matches right now, read with your own token; the list is kept to act on."""
    run = runs.preview(managed_policy(request, pk), request.user)
    return redirect("policies:run", pk=pk, run_id=run.pk)


@require_GET
@policy_viewer
def run_detail(request: HttpRequest, pk: int, run_id: int) -> HttpResponse:
    policy = managed_policy(request, pk)
    run = get_object_or_404(policy.runs, pk=run_id)
    mine = run.user_id == request.user.pk and roles.can_operate(request.user)
    return render(request, "policies/run.html", {"policy": policy, "run": run, "can_act": mine and run.actable})


@require_POST
@policy_viewer
@operator_required
def run_act(request: HttpRequest, pk: int, run_id: int) -> HttpResponse:
    """Act on exactly the jobs a preview listed, after a confirmation that names them."""
    policy = managed_policy(request, pk)
    run = get_object_or_404(policy.runs.select_related("policy__site"), pk=run_id)
    if request.POST.get("confirmed") != "yes":
        return render(request, "policies/confirm.html", {"policy": policy, "run": run})
    try:
        runs.act_on_preview(run, request.user)
    except runs.NotActable as exc:
        messages.error(request, str(exc))
    else:
        level = messages.SUCCESS if run.outcome == PolicyRun.Outcome.ACTED and not run.failed else messages.WARNING
        messages.add_message(request, level, run_summary(run))
    return redirect("policies:run", pk=pk, run_id=run.pk)


def run_summary(run: PolicyRun) -> str:
    """E.g. "12 cancelled, 1 refused, 2 skipped (changed since the preview)"."""
    done = "cancelled" if run.policy.action == Policy.Action.CANCEL else "deleted"
    parts = [f"{run.acted} {done}"]
    parts += [f"{run.refused} refused"] if run.refused else []
    parts += [f"{run.failed} failed"] if run.failed else []
    parts += [f"{run.skipped} skipped (changed since the preview)"] if run.skipped else []
    return ", ".join(parts) + "."
