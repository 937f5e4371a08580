"""The takedown team's review queue, hit pages and client pages (server-rendered)."""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.html import escape
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext as _
from django.utils.translation import pgettext
from django.views.decorators.http import require_POST
from PIL import Image, ImageFilter

from alerts.services import hit_store
from clients.models import Client
from config.sources import Source, SourceError, load_sources
from crawlers.fetch import FetchFailed, FetchPolicy, fetch
from crawlers.registry import KNOWN_KINDS
from hits.documents import Hit, ReviewStatus, Severity
from hits.store import HitFilters, WeekCount
from matching.images import decode
from takedowns.models import (
    AllowListEntry,
    AuditEvent,
    Case,
    CaseHit,
    CaseTransition,
    Notice,
)
from takedowns.services import Decision, allowlist, audit, decide, record_reopened

REVIEW = "takedowns.review_hits"
# Revealed images are shown at most this size; blurred ones are first shrunk to BLUR_CELLS
# pixels a side, so nothing recognisable survives, then blurred again at display size.
REVEAL_MAX = 1024
BLUR_CELLS = 12
BLUR_DISPLAY = 360
MAX_IMAGE_BYTES = 15 * 1024 * 1024
PER_PAGE = 25
# Colours of the sources in the per-client chart, in order of appearance.
PALETTE = ("#3b6ea8", "#d9822b", "#4f9d69", "#b5485d", "#7a5ea8", "#8a8a8a", "#c2a83e")


def reviewer_required(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Signed in, and on the takedown team (or an administrator)."""
    return login_required(permission_required(REVIEW, raise_exception=True)(view))


def who(request: HttpRequest) -> str:
    return str(request.user.get_username())


PARIS = ZoneInfo("Europe/Paris")
# Page numbers beyond this are refused with a message (the last page is at most
# total / PER_PAGE; a bigger number is a typo or a probe, not a page to walk to).
MAX_PAGE = 1_000_000


@dataclass(frozen=True)
class QueueRequest:
    """The queue's filters as understood, and what could not be understood (shown)."""

    filters: HitFilters
    page: int
    problems: list[str]


def _paris_day(value: str, label: str, problems: list[str]) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        problems.append(
            _("“%(value)s” is not a date for “%(field)s”: use the form YYYY-MM-DD.")
            % {"value": value[:40], "field": label}
        )
        return None


def _page_number(value: str, problems: list[str]) -> int:
    """The page asked for, or the first one with a word saying why."""
    value = value.strip()
    if not value:
        return 1
    if value.isdigit() and 1 <= int(value) <= MAX_PAGE:
        return int(value)
    problems.append(
        _("“%(value)s” is not a page number: showing the first page.") % {"value": value[:40]}
    )
    return 1


def _start_of(day: date) -> datetime:
    """Midnight in Paris: the team thinks in French days, whatever UTC says."""
    return datetime.combine(day, time.min, tzinfo=PARIS)


def parse_queue_request(g: Any) -> QueueRequest:
    problems: list[str] = []
    since_day = _paris_day(g.get("since", ""), _("from"), problems)
    until_day = _paris_day(g.get("until", ""), _("to"), problems)
    if since_day and until_day and since_day > until_day:
        problems.append(_("The “from” date is after the “to” date: no hit can match."))
    severity: int | None = None
    raw_severity = g.get("severity", "").strip()
    if raw_severity:
        valid = {str(int(s)) for s in Severity}
        if raw_severity in valid:
            severity = int(raw_severity)
        else:
            problems.append(
                _("“%(value)s” is not a severity: choose one from the list.")
                % {"value": raw_severity[:40]}
            )
    page = _page_number(g.get("page", ""), problems)
    filters = HitFilters(
        client_id=g.get("client", ""),
        source_id=g.get("source", ""),
        match_kind=g.get("kind", ""),
        tier=g.get("tier", ""),
        status=g.get("status", ""),
        text=g.get("q", ""),
        since=_start_of(since_day) if since_day else None,
        # "until" includes its whole day.
        until=_start_of(until_day + timedelta(days=1)) if until_day else None,
        thread=g.get("thread", ""),
        severity=severity,
    )
    return QueueRequest(filters, page, problems)


def _facet_labels() -> dict[str, str]:
    return {
        "client_id": _("Client"),
        "source_id": _("Source"),
        "match_kind": _("Match"),
        "review_status": _("Status"),
        "photo_tier": _("Photo tier"),
        "severity": _("Severity"),
    }


def status_labels() -> dict[str, str]:
    return {
        ReviewStatus.NEW: pgettext("hit", "To review"),
        ReviewStatus.CONFIRMED: pgettext("hit", "Confirmed"),
        ReviewStatus.DISMISSED: pgettext("hit", "Dismissed"),
        ReviewStatus.ESCALATED: pgettext("hit", "Escalated"),
        ReviewStatus.ALLOWLISTED: pgettext("hit", "Allow-listed"),
    }


def severity_labels() -> dict[int, str]:
    return {
        Severity.CRITICAL: _("critical"),
        Severity.HIGH: _("high"),
        Severity.MEDIUM: _("medium"),
        Severity.LOW: _("low"),
    }


@reviewer_required
def queue(request: HttpRequest) -> HttpResponse:
    g = request.GET
    asked = parse_queue_request(g)
    filters = asked.filters
    store = hit_store()
    try:
        store.ensure_index()
        # Dismissed hits whose content changed are back in the queue: log them first.
        record_reopened(store)
        page = store.search(filters, page=asked.page, per_page=PER_PAGE)
        if asked.page > page.pages:
            # Past the last page (the queue shrank, or a typed number): show the last one.
            page = store.search(filters, page=page.pages, per_page=PER_PAGE)
    finally:
        store.close()
    audit(who(request), "view_queue", "queue", g.urlencode())
    labels = _facet_labels()
    statuses = status_labels()
    severities = severity_labels()

    def shown(name: str, key: object) -> str:
        if name == "review_status":
            return statuses.get(str(key), str(key))
        if name == "severity":
            return severities.get(int(str(key)), str(key))
        return str(key)

    facets = [
        (labels[name], name, [(key, shown(name, key), n) for key, n in buckets])
        for name, buckets in page.counts.items()
        if buckets
    ]
    query = g.copy()
    query.pop("page", None)
    # The case each hit is filed under and who is in charge of it: one query for the page.
    filed = {
        c.hit_id: c
        for c in CaseHit.objects.filter(hit_id__in=[h.hit_id for h in page.hits]).select_related(
            "case__assigned_to"
        )
    }
    return render(
        request,
        "takedowns/queue.html",
        {
            "page": page,
            "rows": [(h, filed.get(h.hit_id)) for h in page.hits],
            "filters": filters,
            "query": g,
            "base_query": query.urlencode(),
            "facets": facets,
            "statuses": statuses,
            "severities": severities,
            "decisions": _decision_labels(),
            "problems": asked.problems,
        },
    )


def highlighted(hit: Hit) -> SafeString:
    """The excerpt with each matched span marked, everything else escaped."""
    text, at = hit.excerpt, 0
    out: list[str] = []
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


def _decision_labels() -> dict[str, str]:
    return {
        Decision.CONFIRM: _("Confirm"),
        Decision.DISMISS: _("Dismiss (false positive)"),
        Decision.ESCALATE: _("Escalate"),
    }


@reviewer_required
def hit_page(request: HttpRequest, hit_id: str) -> HttpResponse:
    hit = _hit(hit_id)
    revealed = hit_id in request.session.get("revealed", [])
    audit(who(request), "view_hit", hit_id)
    return render(
        request,
        "takedowns/hit.html",
        {
            "hit": hit,
            "excerpt": highlighted(hit),
            "revealed": revealed,
            "case_hit": CaseHit.objects.filter(hit_id=hit_id).select_related("case").first(),
            "status_label": status_labels().get(hit.review_status, hit.review_status),
            "severity_label": severity_labels().get(hit.severity, ""),
            "decisions": _decision_labels(),
            "allowlist_kinds": AllowListEntry.Kind.choices,
            # Decisions and re-openings of this hit, newest first (views are left out).
            "history": AuditEvent.objects.filter(target=hit_id)
            .exclude(action__in=["view_hit", "reveal_image"])
            .order_by("-at", "-pk")[:50],
        },
    )


@reviewer_required
@require_POST
def reveal(request: HttpRequest, hit_id: str) -> HttpResponse:
    hit = _hit(hit_id)
    request.session["revealed"] = [*request.session.get("revealed", []), hit_id]
    audit(who(request), "reveal_image", hit_id, hit.image_url)
    return redirect("takedowns:hit", hit_id=hit_id)


def _sources() -> dict[str, Source]:
    try:
        return load_sources(Path(settings.BODYGUARD_SOURCES_DIR), KNOWN_KINDS)
    except SourceError:
        return {}


def _blurred(image: Image.Image) -> Image.Image:
    small = image.copy()
    small.thumbnail((BLUR_CELLS, BLUR_CELLS))
    ratio = BLUR_DISPLAY / max(image.width, image.height, 1)
    size = (max(1, int(image.width * ratio)), max(1, int(image.height * ratio)))
    return small.resize(size, Image.Resampling.BILINEAR).filter(ImageFilter.GaussianBlur(8))


@reviewer_required
def hit_image(request: HttpRequest, hit_id: str) -> HttpResponse:
    """The hit's image, fetched now through our server (the reviewer's browser never contacts
    the site) and held in memory only: blurred unless this reviewer revealed it."""
    hit = _hit(hit_id)
    if not hit.image_url:
        raise Http404("this hit has no image")
    policy = FetchPolicy.for_source(
        _sources().get(hit.source_id), max_bytes=MAX_IMAGE_BYTES, accept="image/*"
    )
    got = fetch(hit.image_url, policy)
    if isinstance(got, FetchFailed) or got.status >= 400:
        reason = got.reason if isinstance(got, FetchFailed) else f"HTTP {got.status}"
        return HttpResponse(
            _("The image could not be fetched (%(reason)s).") % {"reason": reason},
            status=502,
            content_type="text/plain; charset=utf-8",
        )
    try:
        image = decode(got.body)
    except ValueError as exc:
        return HttpResponse(str(exc), status=415, content_type="text/plain; charset=utf-8")
    image = image.convert("RGB")
    if hit_id in request.session.get("revealed", []):
        image.thumbnail((REVEAL_MAX, REVEAL_MAX))
    else:
        image = _blurred(image)
    out = io.BytesIO()
    # Re-encoded: no metadata, no active content, nothing of the original file but pixels.
    image.save(out, "JPEG", quality=85)
    response = HttpResponse(out.getvalue(), content_type="image/jpeg")
    response["Cache-Control"] = "no-store, private"
    return response


def _back(request: HttpRequest, default: str) -> HttpResponse:
    target = request.POST.get("next", "")
    if target and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        return redirect(target)
    return redirect(default)


def _report(request: HttpRequest, report: Any, count: int) -> None:
    for message in report.messages:
        messages.warning(request, message)
    messages.success(request, _("%(n)s hit(s) updated.") % {"n": count})


@reviewer_required
@require_POST
def decide_view(request: HttpRequest, hit_id: str) -> HttpResponse:
    decision = request.POST.get("decision", "")
    if decision not in Decision.__members__.values():
        return HttpResponse(_("Unknown decision."), status=400)
    _hit(hit_id)
    store = hit_store()
    try:
        report = decide(
            store,
            [hit_id],
            Decision(decision),
            who=who(request),
            reason=request.POST.get("reason", ""),
        )
    finally:
        store.close()
    _report(request, report, 1)
    return redirect("takedowns:hit", hit_id=hit_id)


@reviewer_required
@require_POST
def bulk(request: HttpRequest) -> HttpResponse:
    """One decision for many hits: those ticked, or every hit of one thread."""
    decision = request.POST.get("decision", "")
    if decision not in Decision.__members__.values():
        messages.error(request, _("Choose a decision for the selected hits."))
        return _back(request, reverse("takedowns:queue"))
    ids = request.POST.getlist("hit")
    thread = request.POST.get("thread", "")
    store = hit_store()
    try:
        if thread:
            ids = store.ids_matching(
                HitFilters(thread=thread, client_id=request.POST.get("client", ""))
            )
        if not ids:
            messages.error(request, _("Select at least one hit."))
            return _back(request, reverse("takedowns:queue"))
        report = decide(
            store, ids, Decision(decision), who=who(request), reason=request.POST.get("reason", "")
        )
    finally:
        store.close()
    _report(request, report, len(ids))
    return _back(request, reverse("takedowns:queue"))


@reviewer_required
@require_POST
def allowlist_view(request: HttpRequest, hit_id: str) -> HttpResponse:
    hit = _hit(hit_id)
    store = hit_store()
    try:
        result = allowlist(
            store,
            hit,
            request.POST.get("kind", ""),
            who=who(request),
            reason=request.POST.get("reason", ""),
        )
    finally:
        store.close()
    if isinstance(result, str):
        messages.error(request, result)
    else:
        messages.success(
            request,
            _("Allow-listed: future hits from %(what)s will not be raised for this client.")
            % {"what": result.value},
        )
    return redirect("takedowns:hit", hit_id=hit_id)


def chart(weeks: list[WeekCount]) -> dict[str, Any]:
    """Stacked bars of hits per week and per source, as SVG shapes (no JavaScript)."""
    sources = sorted({s for w in weeks for s in w.by_source})
    colours = {s: PALETTE[i % len(PALETTE)] for i, s in enumerate(sources)}
    height, bar, gap = 120, 22, 8
    top = max((w.total for w in weeks), default=0) or 1
    bars = []
    for i, week in enumerate(weeks):
        y = height
        x = i * (bar + gap)
        for source in sources:
            n = week.by_source.get(source, 0)
            if not n:
                continue
            h = max(2, round(n / top * (height - 10)))
            y -= h
            bars.append(
                {
                    "x": x,
                    "y": y,
                    "w": bar,
                    "h": h,
                    "colour": colours[source],
                    "title": f"{week.week:%d/%m}: {source} {n}",
                }
            )
    labels = [
        {"x": i * (bar + gap) + bar // 2, "text": f"{w.week:%d/%m}", "total": w.total}
        for i, w in enumerate(weeks)
    ]
    return {
        "bars": bars,
        "labels": labels,
        "legend": [(s, colours[s]) for s in sources],
        "width": max(1, len(weeks) * (bar + gap)),
        "height": height,
    }


@reviewer_required
def client_page(request: HttpRequest, reference: str) -> HttpResponse:
    client = Client.objects.filter(reference=reference).first()
    cases = list(Case.objects.filter(client_reference=reference).order_by("-opened_at"))
    store = hit_store()
    try:
        store.ensure_index()
        hits = store.latest(client_id=reference, size=200)
        weeks = store.weekly_activity(reference)
    finally:
        store.close()
    if client is None and not cases and not hits:
        raise Http404("no such client")
    audit(who(request), "view_client", f"client:{reference}")
    events: list[dict[str, Any]] = [
        {"at": h.first_seen, "kind": "hit", "hit": h, "severity": severity_labels()[h.severity]}
        for h in hits
    ]
    for t in CaseTransition.objects.filter(case__in=cases).select_related("case"):
        events.append({"at": t.at, "kind": "transition", "transition": t})
    for n in Notice.objects.filter(case__in=cases, sent_at__isnull=False):
        events.append({"at": n.sent_at, "kind": "notice", "notice": n})
    events.sort(key=lambda e: e["at"], reverse=True)
    return render(
        request,
        "takedowns/client.html",
        {
            "client": client,
            "reference": reference,
            "cases": cases,
            "events": events[:300],
            "chart": chart(weeks),
            "hit_count": len(hits),
        },
    )
