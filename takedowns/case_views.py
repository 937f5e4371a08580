"""Cases, notices and host contacts: the takedown team's pages after review."""

from __future__ import annotations

from datetime import UTC, datetime

from django.contrib import messages
from django.db.models import Count, Q
from django.http import HttpRequest, HttpResponse, HttpResponseForbidden, HttpResponseNotAllowed
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from alerts.services import hit_store
from takedowns import clocks
from takedowns.evidence import export_case
from takedowns.models import Case, CaseHit, HostContact, Notice
from takedowns.notice_views import notice_followup_context
from takedowns.notices import (
    LEGAL_GROUNDS,
    NoticeDraft,
    contact_for,
    create_notice,
    email_address_problem,
    notice_pdf,
    send_notice,
)
from takedowns.services import TRANSITIONS, audit, change_state, set_legal_hold
from takedowns.views import reviewer_required, who
from takedowns.workbench_views import reviewers, team_context


def _reminder_due(case: Case, now: datetime) -> bool:
    """The same clock as "À traiter" and the re-check (takedowns.clocks)."""
    return clocks.reminder_due(case, now)


@reviewer_required
def cases(request: HttpRequest) -> HttpResponse:
    state = request.GET.get("state", "")
    found = Case.objects.select_related("client", "assigned_to").prefetch_related(
        "notices__responses"
    )
    if state == "open":
        found = found.filter(state__in=Case.OPEN_STATES)
    elif state:
        found = found.filter(state=state)
    assigned = request.GET.get("assigned", "")
    if assigned == "me":
        found = found.filter(assigned_to_id=request.user.pk)
    elif assigned == "none":
        found = found.filter(assigned_to__isnull=True)
    elif assigned:
        found = found.filter(assigned_to__username=assigned)
    found = found.annotate(
        n_hits=Count("hits"),
        n_gone=Count("hits", filter=Q(hits__source_status=CaseHit.SourceStatus.GONE)),
        n_blocked=Count("hits", filter=Q(hits__source_status=CaseHit.SourceStatus.BLOCKED)),
    ).order_by("-updated_at")[:500]
    now = datetime.now(UTC)
    rows = [{"case": c, "reminder": _reminder_due(c, now)} for c in found]
    audit(who(request), "view_cases", "cases", request.GET.urlencode())
    return render(
        request,
        "takedowns/cases.html",
        {
            "rows": rows,
            "state": state,
            "states": Case.State.choices,
            "assigned": assigned,
            "reviewers": reviewers(),
        },
    )


def _case_context(case: Case) -> dict[str, object]:
    hits = list(case.hits.prefetch_related("rechecks"))
    contact = contact_for(case.host)
    return {
        "case": case,
        "hits": hits,
        "actionable": [h for h in hits if h.actionable],
        "transitions": case.transitions.all(),
        "next_states": [(s.value, s.label) for s in Case.State if s in TRANSITIONS[case.state]],
        "notices": case.notices.all(),
        "contact": contact,
        "routes": Notice.Route.choices,
        "grounds": LEGAL_GROUNDS,
        "delisting_choices": CaseHit.Delisting.choices,
        "default_query": case.client.display_name if case.client else "",
        **team_context(case),
    }


@reviewer_required
def case_page(request: HttpRequest, case_id: int) -> HttpResponse:
    case = get_object_or_404(Case.objects.select_related("client"), pk=case_id)
    audit(who(request), "view_case", f"case:{case.pk}")
    return render(request, "takedowns/case.html", _case_context(case))


@reviewer_required
@require_POST
def transition(request: HttpRequest, case_id: int) -> HttpResponse:
    case = get_object_or_404(Case, pk=case_id)
    try:
        version = int(request.POST.get("version", ""))
    except ValueError:
        version = -1
    result = change_state(
        case.pk,
        request.POST.get("to_state", ""),
        who=who(request),
        reason=request.POST.get("reason", ""),
        expected_version=version,
    )
    if result.ok:
        messages.success(
            request, _("The case is now “%(state)s”.") % {"state": result.case.get_state_display()}
        )
    else:
        messages.error(request, result.message)
    return redirect("takedowns:case", case_id=case.pk)


@reviewer_required
def legal_hold(request: HttpRequest, case_id: int) -> HttpResponse:
    """Administrators only: the hold decides what a client's erasure keeps."""
    if not request.user.is_superuser:
        return HttpResponseForbidden(_("Only an administrator may change a legal hold."))
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    case = get_object_or_404(Case, pk=case_id)
    result = set_legal_hold(
        case.pk,
        request.POST.get("hold") == "1",
        who=who(request),
        reason=request.POST.get("reason", ""),
    )
    if result.ok:
        messages.success(
            request,
            _("The case is now under legal hold.")
            if result.case.legal_hold
            else _("The legal hold is lifted."),
        )
    else:
        messages.error(request, result.message)
    return redirect("takedowns:case", case_id=case.pk)


def _draft(request: HttpRequest) -> NoticeDraft:
    p = request.POST
    return NoticeDraft(
        route=p.get("route", ""),
        language=p.get("language", "fr"),
        hit_ids=p.getlist("hit"),
        grounds=p.getlist("ground"),
        reasons=p.get("reasons", ""),
        facts=p.get("facts", ""),
        prior_request=p.get("prior_request", ""),
        prior_request_impossible=p.get("prior_request_impossible", ""),
        search_query=p.get("search_query", ""),
        recipient=p.get("recipient", ""),
        recipient_email=p.get("recipient_email", ""),
        good_faith=p.get("good_faith") == "on",
        online_platform=p.get("online_platform") == "on",
        signatory=p.get("signatory", ""),
        signatory_capacity=p.get("signatory_capacity", ""),
        mandate=p.get("mandate", ""),
        signature=p.get("signature", ""),
        contact_info=p.get("contact_info", ""),
        not_consensual=p.get("not_consensual") == "on",
        google_type=p.get("google_type", ""),
        doxxing_kinds=p.getlist("doxxing_kind"),
        exposed_info=p.get("exposed_info", ""),
        result_urls=p.get("result_urls", ""),
        telegram_kind=p.get("telegram_kind", "abuse"),
    )


@reviewer_required
@require_POST
def new_notice(request: HttpRequest, case_id: int) -> HttpResponse:
    case = get_object_or_404(Case.objects.select_related("client"), pk=case_id)
    draft = _draft(request)
    store = hit_store()
    try:
        result = create_notice(store, case, draft, who=who(request))
    finally:
        store.close()
    if isinstance(result, Notice):
        messages.success(request, _("Notice drafted: check it, then send it."))
        return redirect("takedowns:notice", notice_id=result.pk)
    context = _case_context(case)
    context.update({"errors": result, "draft": draft})
    return render(request, "takedowns/case.html", context, status=400)


@reviewer_required
def notice_page(request: HttpRequest, notice_id: int) -> HttpResponse:
    notice = get_object_or_404(Notice.objects.select_related("case", "parent"), pk=notice_id)
    audit(who(request), "view_notice", f"case:{notice.case_id}", f"notice {notice.pk}")
    return render(
        request,
        "takedowns/notice.html",
        {
            "notice": notice,
            "case": notice.case,
            "channels": Notice.Channel.choices,
            **notice_followup_context(notice),
        },
    )


@reviewer_required
def notice_pdf_view(request: HttpRequest, notice_id: int) -> HttpResponse:
    notice = get_object_or_404(Notice, pk=notice_id)
    audit(who(request), "export_notice", f"case:{notice.case_id}", f"notice {notice.pk} PDF")
    response = HttpResponse(notice_pdf(notice), content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="notification-{notice.pk}.pdf"'
    return response


@reviewer_required
@require_POST
def notice_send(request: HttpRequest, notice_id: int) -> HttpResponse:
    notice = get_object_or_404(Notice, pk=notice_id)
    result = send_notice(
        notice,
        who=who(request),
        channel=request.POST.get("channel", ""),
        detail=request.POST.get("detail", ""),
    )
    (messages.success if result.ok else messages.error)(request, result.message)
    return redirect("takedowns:notice", notice_id=notice.pk)


@reviewer_required
@require_POST
def contact(request: HttpRequest, case_id: int) -> HttpResponse:
    """Store the abuse contact of the case's host (per domain, for every later case)."""
    case = get_object_or_404(Case, pk=case_id)
    domain = (request.POST.get("domain") or case.host).strip().lower()
    email = request.POST.get("abuse_email", "").strip()
    form_url = request.POST.get("form_url", "").strip()
    if not email and not form_url:
        messages.error(request, _("Give the host's abuse email or its reporting form."))
        return redirect("takedowns:case", case_id=case.pk)
    if problem := email_address_problem(email):
        messages.error(request, problem)
        return redirect("takedowns:case", case_id=case.pk)
    if domain != case.host and not case.host.endswith("." + domain):
        messages.error(request, _("The domain must be the case's host or one of its parents."))
        return redirect("takedowns:case", case_id=case.pk)
    found, _created = HostContact.objects.update_or_create(
        domain=domain,
        defaults={
            "name": request.POST.get("name", "").strip(),
            "abuse_email": email,
            "form_url": form_url,
        },
    )
    audit(who(request), "host_contact", f"case:{case.pk}", f"{domain}: {email} {form_url}")
    messages.success(request, _("Contact stored for %(domain)s.") % {"domain": found.domain})
    return redirect("takedowns:case", case_id=case.pk)


@reviewer_required
@require_POST
def delisting(request: HttpRequest, case_id: int, case_hit_id: int) -> HttpResponse:
    case_hit = get_object_or_404(CaseHit, pk=case_hit_id, case_id=case_id)
    value = request.POST.get("delisting", "")
    if value not in CaseHit.Delisting.values:
        messages.error(request, _("Unknown delisting status."))
    else:
        case_hit.delisting = value
        case_hit.delisting_updated_at = datetime.now(UTC)
        case_hit.save(update_fields=["delisting", "delisting_updated_at"])
        audit(who(request), "delisting", case_hit.hit_id, value)
    return redirect("takedowns:case", case_id=case_id)


@reviewer_required
@require_POST
def export(request: HttpRequest, case_id: int) -> HttpResponse:
    case = get_object_or_404(Case, pk=case_id)
    data = export_case(case.pk, who=who(request))
    response = HttpResponse(data, content_type="application/zip")
    response["Content-Disposition"] = f'attachment; filename="dossier-{case.pk}.zip"'
    return response
