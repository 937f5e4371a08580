""" "Where things stand", in calm words, from our own records only.

Each line says a site's name (the host, nothing else from a crawled page), what we asked
for, a date and where it stands. Titles, excerpts, authors, matched words and images never
reach this module: it reads cases, notices and counts from the database, not hits.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from django.db.models import Prefetch
from django.utils.timezone import localtime, now
from django.utils.translation import gettext as _

from clients.models import Client
from takedowns.models import Case, CaseHit, Notice

S = Case.State
REMOVAL_ROUTES = {
    Notice.Route.DSA_16,
    Notice.Route.LCEN_6,
    Notice.Route.DSA_20,
    Notice.Route.DSA_21,
    Notice.Route.ARCOM,
    Notice.Route.TAKE_IT_DOWN,
    Notice.Route.TELEGRAM,
}
NOT_HERS = ("dismissed", "allowlisted")


@dataclass(frozen=True)
class CaseLine:
    site: str
    asked: str
    day: date
    status: str
    # "done", "waiting", "following_up", "reviewing": for the badge's colour.
    tone: str


@dataclass(frozen=True)
class Overview:
    lines: list[CaseLine]
    found_this_month: int
    reported_this_month: int
    removed_this_month: int


def _asked(notices: list[Notice]) -> str:
    routes = {n.route for n in notices}
    removal = bool(routes & REMOVAL_ROUTES)
    delisting = Notice.Route.GOOGLE in routes
    if removal and delisting:
        return _("removal from the site and from search results")
    if delisting:
        return _("removal from search results")
    if Notice.Route.PHAROS in routes and not removal:
        return _("a report to the police platform PHAROS")
    return _("removal of the content")


def _line(case: Case) -> CaseLine | None:
    sent = [n for n in case.notices.all() if n.sent_at is not None]
    last_sent = max((n.sent_at for n in sent if n.sent_at), default=None)
    changed = case.state_changed_at or case.updated_at
    if case.state == S.REMOVED:
        day = localtime(changed).date()
        return CaseLine(
            case.host, _asked(sent), day, _("removed on %(day)s") % {"day": _day(day)}, "done"
        )
    if case.state == S.CLOSED:
        if not sent:
            return None  # nothing about her there after all
        return CaseLine(case.host, _asked(sent), localtime(changed).date(), _("closed"), "done")
    if not sent:
        return CaseLine(
            case.host,
            _("nothing yet"),
            localtime(case.opened_at).date(),
            _("being reviewed"),
            "reviewing",
        )
    assert last_sent is not None
    day = localtime(last_sent).date()
    if case.state in (S.NO_RESPONSE, S.ESCALATED, S.REFUSED):
        return CaseLine(case.host, _asked(sent), day, _("we are following up"), "following_up")
    return CaseLine(case.host, _asked(sent), day, _("awaiting a reply"), "waiting")


def _day(day: date) -> str:
    from django.utils.formats import date_format

    return date_format(day, "j F Y")


def overview(client: Client) -> Overview:
    month_start = localtime(now()).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    cases = (
        Case.objects.filter(client=client)
        .prefetch_related(Prefetch("notices", queryset=Notice.objects.order_by("sent_at")))
        .order_by("-opened_at")
    )
    # A case where every hit was a false positive was never about her.
    lines = []
    for case in cases:
        if not case.hits.exclude(review_status__in=NOT_HERS).exists():
            continue
        line = _line(case)
        if line is not None:
            lines.append(line)
    this_month = CaseHit.objects.filter(case__client=client, added_at__gte=month_start).exclude(
        review_status__in=NOT_HERS
    )
    removed = CaseHit.objects.filter(case__client=client, removed_at__gte=month_start)
    return Overview(
        lines=lines,
        found_this_month=this_month.exclude(match_kind="reported").count(),
        reported_this_month=this_month.filter(match_kind="reported").count(),
        removed_this_month=removed.count(),
    )
