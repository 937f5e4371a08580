"""After a notice: the recipient's answers, the DSA's redress chain, PHAROS filings, and the
RDAP look-up of a host's network and registrar abuse contacts."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.dateparse import parse_datetime
from django.utils.timezone import get_current_timezone, make_aware
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from alerts.services import hit_store
from takedowns.models import Case, Notice, NoticeResponse
from takedowns.notices import (
    PHAROS_CATEGORIES,
    FollowUpDraft,
    PharosFiling,
    choices,
    create_follow_up,
    next_steps,
    pharos_sheet,
    record_pharos,
    record_response,
    silent,
)
from takedowns.rdap import RdapError, lookup_host
from takedowns.services import audit
from takedowns.views import reviewer_required, who


def notice_followup_context(notice: Notice) -> dict[str, Any]:
    """What the notice page shows after sending: answers, deadline, the next steps."""
    return {
        "responses": notice.responses.all(),
        "response_kinds": NoticeResponse.Kind.choices,
        "next_steps": next_steps(notice),
        "follow_ups": notice.follow_ups.all(),
        "silent": silent(notice),
        "copy_fr": notice.fields.get("copy_fr", ""),
        "now": datetime.now(UTC),
    }


def _when(raw: str) -> datetime | None:
    """A datetime-local field, in the site's time zone; None when it does not parse."""
    parsed = parse_datetime(raw.strip()) if raw.strip() else None
    if parsed is None:
        return None
    return parsed if parsed.tzinfo else make_aware(parsed, get_current_timezone())


@reviewer_required
@require_POST
def notice_response(request: HttpRequest, notice_id: int) -> HttpResponse:
    notice = get_object_or_404(Notice.objects.select_related("case"), pk=notice_id)
    at = _when(request.POST.get("at", "")) or datetime.now(UTC)
    result = record_response(
        notice,
        kind=request.POST.get("kind", ""),
        at=at,
        who=who(request),
        text=request.POST.get("text", ""),
        reference=request.POST.get("reference", ""),
    )
    if isinstance(result, NoticeResponse):
        messages.success(request, _("Answer recorded."))
    else:
        messages.error(request, result)
    return redirect("takedowns:notice", notice_id=notice.pk)


@reviewer_required
@require_POST
def follow_up(request: HttpRequest, notice_id: int) -> HttpResponse:
    parent = get_object_or_404(Notice.objects.select_related("case__client"), pk=notice_id)
    p = request.POST
    draft = FollowUpDraft(
        route=p.get("route", ""),
        reasons=p.get("reasons", ""),
        recipient=p.get("recipient", ""),
        recipient_email=p.get("recipient_email", ""),
        language=p.get("language", "fr"),
    )
    result = create_follow_up(parent, draft, who=who(request))
    if isinstance(result, Notice):
        messages.success(request, _("Follow-up drafted: check it, then send it."))
        return redirect("takedowns:notice", notice_id=result.pk)
    context = {
        "notice": parent,
        "case": parent.case,
        "channels": Notice.Channel.choices,
        "follow_up_errors": result,
        "follow_up_draft": draft,
        **notice_followup_context(parent),
    }
    return render(request, "takedowns/notice.html", context, status=400)


@reviewer_required
def pharos(request: HttpRequest, case_id: int) -> HttpResponse:
    """The PHAROS form's fields per URL, to copy by hand; then the filing is recorded."""
    case = get_object_or_404(Case.objects.select_related("client"), pk=case_id)
    category = request.POST.get("category") or request.GET.get("category") or "harcelement"
    if category not in PHAROS_CATEGORIES:
        category = "harcelement"
    language = (get_language() or "fr")[:2]
    errors: dict[str, str] = {}
    store = hit_store()
    try:
        if request.method == "POST":
            filing = PharosFiling(
                hit_ids=request.POST.getlist("hit"),
                category=category,
                filed_by=request.POST.get("filed_by", ""),
                reference=request.POST.get("reference", ""),
                language="en" if language == "en" else "fr",
            )
            result = record_pharos(store, case, filing, who=who(request))
            if isinstance(result, Notice):
                messages.success(request, _("PHAROS report recorded."))
                return redirect("takedowns:notice", notice_id=result.pk)
            errors = result
        entries = pharos_sheet(store, case, category=category, language=language)
    finally:
        store.close()
    audit(who(request), "view_pharos_sheet", f"case:{case.pk}")
    return render(
        request,
        "takedowns/pharos.html",
        {
            "case": case,
            "entries": entries,
            "category": category,
            "categories": choices(PHAROS_CATEGORIES),
            "errors": errors,
            "filed_by": request.POST.get("filed_by") or who(request),
            "reference": request.POST.get("reference", ""),
        },
        status=400 if errors else 200,
    )


@reviewer_required
@require_POST
def rdap_lookup(request: HttpRequest, case_id: int) -> HttpResponse:
    """Find the network and registrar abuse contacts of the case's host through RDAP."""
    case = get_object_or_404(Case, pk=case_id)
    try:
        contact = lookup_host(case.host)
    except RdapError as exc:
        messages.error(request, _("RDAP look-up failed: %(error)s") % {"error": exc})
        audit(who(request), "rdap_lookup", f"case:{case.pk}", f"{case.host}: failed ({exc})")
        return redirect("takedowns:case", case_id=case.pk)
    audit(
        who(request),
        "rdap_lookup",
        f"case:{case.pk}",
        f"{contact.domain}: network {contact.network_name} <{contact.network_abuse_email}>, "
        f"registrar {contact.registrar_name} <{contact.registrar_abuse_email}>",
    )
    if contact.network_abuse_email or contact.registrar_abuse_email:
        messages.success(request, _("Abuse contacts found through RDAP."))
    else:
        messages.warning(request, _("RDAP gave no abuse address for this host."))
    return redirect("takedowns:case", case_id=case.pk)
