"""The takedown team's review queue and hit pages (server-rendered)."""

from __future__ import annotations

from datetime import datetime

from django.contrib.auth.decorators import login_required, permission_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe
from django.views.decorators.http import require_POST

from alerts.services import hit_store
from hits.documents import Hit, ReviewStatus
from hits.store import HitFilters
from takedowns.models import AuditEvent, Case, CaseHit

REVIEW = "takedowns.review_hits"


def _audit(request: HttpRequest, action: str, target: str, detail: str = "") -> None:
    AuditEvent.objects.create(
        who=request.user.get_username(), action=action, target=target, detail=detail
    )


def _date(value: str) -> datetime | None:
    try:
        return datetime.fromisoformat(value) if value else None
    except ValueError:
        return None


@login_required
@permission_required(REVIEW, raise_exception=True)
def queue(request: HttpRequest) -> HttpResponse:
    g = request.GET
    filters = HitFilters(
        client_id=g.get("client", ""),
        source_id=g.get("source", ""),
        match_kind=g.get("kind", ""),
        tier=g.get("tier", ""),
        status=g.get("status", ""),
        text=g.get("q", ""),
        since=_date(g.get("since", "")),
        until=_date(g.get("until", "")),
    )
    try:
        page_number = max(1, int(g.get("page", "1")))
    except ValueError:
        page_number = 1
    store = hit_store()
    try:
        store.ensure_index()
        page = store.search(filters, page=page_number)
    finally:
        store.close()
    _audit(request, "view_queue", "queue", request.GET.urlencode())
    return render(request, "takedowns/queue.html", {"page": page, "filters": filters, "query": g})


def highlighted(hit: Hit) -> SafeString:
    """The excerpt with each matched span marked, everything else escaped."""
    text, out, at = hit.excerpt, [], 0
    for term in sorted(hit.matched_terms, key=lambda t: t.start):
        if term.start < at or term.end > len(text):
            continue
        out.append(escape(text[at : term.start]))
        out.append(f"<mark>{escape(text[term.start : term.end])}</mark>")
        at = term.end
    out.append(escape(text[at:]))
    return mark_safe("".join(out))


def _hit(hit_id: str) -> Hit:
    store = hit_store()
    try:
        hit = store.get(hit_id)
    finally:
        store.close()
    if hit is None:
        raise Http404("no such hit")
    return hit


@login_required
@permission_required(REVIEW, raise_exception=True)
def hit_page(request: HttpRequest, hit_id: str) -> HttpResponse:
    hit = _hit(hit_id)
    revealed = request.session.get("revealed", [])
    _audit(request, "view_hit", hit_id)
    return render(
        request,
        "takedowns/hit.html",
        {
            "hit": hit,
            "excerpt": highlighted(hit),
            "revealed": hit_id in revealed,
            "case": CaseHit.objects.filter(hit_id=hit_id).select_related("case").first(),
        },
    )


@login_required
@permission_required(REVIEW, raise_exception=True)
@require_POST
def reveal(request: HttpRequest, hit_id: str) -> HttpResponse:
    hit = _hit(hit_id)
    request.session["revealed"] = [*request.session.get("revealed", []), hit_id]
    _audit(request, "reveal_image", hit_id, hit.image_url)
    return redirect("takedowns:hit", hit_id=hit_id)


@login_required
@permission_required(REVIEW, raise_exception=True)
@require_POST
def decide(request: HttpRequest, hit_id: str) -> HttpResponse:
    decision = request.POST.get("decision", "")
    statuses = {"confirm": ReviewStatus.CONFIRMED, "dismiss": ReviewStatus.DISMISSED}
    if decision not in statuses:
        return HttpResponse("unknown decision", status=400)
    hit = _hit(hit_id)
    store = hit_store()
    try:
        store.set_review_status(hit_id, str(statuses[decision]))
    finally:
        store.close()
    entry = CaseHit.objects.filter(hit_id=hit_id).select_related("case").first()
    if decision == "confirm" and entry is not None and entry.case.state == Case.State.NEW:
        entry.case.state = Case.State.CONFIRMED
        entry.case.save(update_fields=["state", "updated_at"])
    _audit(request, decision, hit_id, hit.url)
    return redirect("takedowns:hit", hit_id=hit_id)
