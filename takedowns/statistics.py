"""Figures on the notices the association sent, for a trusted-flagger application (DSA
article 22) and the annual report. Computed from the cases, with no personal data: no client,
no URL, no case number, no reviewer; only providers (the hosts), routes, counts and durations.

Definitions (shown on the page too):

- *sent*: notices sent in the period (by the day they were sent, in Paris);
- *decided*: sent notices with a recorded decision (accepted, partly accepted, refused); the
  last decision recorded counts;
- *acceptance rate*: (accepted + partly accepted) / decided;
- *removed*: sent notices followed by a removal: an "accepted" answer to the notice, or the
  case moving to "removed" after the notice was sent, whichever came first;
- *median time to removal*: the median, over the removed ones, of the time from sending to
  that removal.
"""

from __future__ import annotations

import csv
import io
import statistics
from bisect import bisect_left
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

from django.db.models import QuerySet

from takedowns.clocks import decision
from takedowns.models import Case, CaseTransition, Notice, NoticeResponse

PARIS = ZoneInfo("Europe/Paris")
K = NoticeResponse.Kind


@dataclass
class Figures:
    sent: int = 0
    decided: int = 0
    accepted: int = 0
    partial: int = 0
    refused: int = 0
    removed: int = 0
    hours_to_removal: list[float] = field(default_factory=list)

    @property
    def acceptance_rate(self) -> float | None:
        if not self.decided:
            return None
        return (self.accepted + self.partial) / self.decided

    @property
    def acceptance_percent(self) -> float | None:
        rate = self.acceptance_rate
        return None if rate is None else rate * 100

    @property
    def median_hours_to_removal(self) -> float | None:
        return statistics.median(self.hours_to_removal) if self.hours_to_removal else None

    def add(self, kind: str | None, hours: float | None) -> None:
        self.sent += 1
        if kind is not None:
            self.decided += 1
            if kind == K.ACCEPTED:
                self.accepted += 1
            elif kind == K.PARTIAL:
                self.partial += 1
            elif kind == K.REFUSED:
                self.refused += 1
        if hours is not None:
            self.removed += 1
            self.hours_to_removal.append(hours)


@dataclass
class Report:
    year: int | None
    total: Figures = field(default_factory=Figures)
    by_provider: dict[tuple[str, str], Figures] = field(default_factory=dict)
    by_route: dict[str, Figures] = field(default_factory=dict)
    by_month: dict[str, Figures] = field(default_factory=dict)


def _removals(case_ids: set[int]) -> dict[int, list[datetime]]:
    """When each case moved to "removed", oldest first."""
    found: dict[int, list[datetime]] = defaultdict(list)
    rows = CaseTransition.objects.filter(case_id__in=case_ids, to_state=Case.State.REMOVED)
    for case_id, at in rows.order_by("at", "pk").values_list("case_id", "at"):
        found[case_id].append(at)
    return found


def removed_at(notice: Notice, removals: list[datetime]) -> datetime | None:
    """The first removal after the notice was sent: its "accepted" answer, or its case
    moving to "removed"."""
    assert notice.sent_at is not None
    candidates = [
        r.at for r in notice.responses.all() if r.kind == K.ACCEPTED and r.at >= notice.sent_at
    ]
    after = bisect_left(removals, notice.sent_at)
    if after < len(removals):
        candidates.append(removals[after])
    return min(candidates, default=None)


def sent_notices(year: int | None = None) -> QuerySet[Notice]:
    found = Notice.objects.filter(sent_at__isnull=False)
    if year is not None:
        found = found.filter(
            sent_at__gte=datetime(year, 1, 1, tzinfo=PARIS),
            sent_at__lt=datetime(year + 1, 1, 1, tzinfo=PARIS),
        )
    return found.select_related("case").prefetch_related("responses").order_by("sent_at", "pk")


def years() -> list[int]:
    dates = Notice.objects.filter(sent_at__isnull=False).datetimes("sent_at", "year", tzinfo=PARIS)
    return sorted({d.year for d in dates}, reverse=True)


def compute(year: int | None = None) -> Report:
    notices = list(sent_notices(year))
    removals = _removals({n.case_id for n in notices})
    report = Report(year)
    for notice in notices:
        assert notice.sent_at is not None
        found = decision(notice)
        kind = found.kind if found is not None else None
        end = removed_at(notice, removals.get(notice.case_id, []))
        hours = (end - notice.sent_at).total_seconds() / 3600 if end is not None else None
        month = notice.sent_at.astimezone(PARIS).strftime("%Y-%m")
        for figures in (
            report.total,
            report.by_provider.setdefault((notice.case.host, notice.route), Figures()),
            report.by_route.setdefault(notice.route, Figures()),
            report.by_month.setdefault(month, Figures()),
        ):
            figures.add(kind, hours)
    report.by_provider = dict(sorted(report.by_provider.items()))
    report.by_route = dict(sorted(report.by_route.items()))
    report.by_month = dict(sorted(report.by_month.items()))
    return report


CSV_COLUMNS = [
    "scope",
    "month",
    "provider",
    "route",
    "sent",
    "decided",
    "accepted",
    "partial",
    "refused",
    "acceptance_rate",
    "removed",
    "median_hours_to_removal",
]


def _cell(text: str) -> str:
    """A spreadsheet must not run a cell as a formula (a host name is outside data)."""
    return "'" + text if text[:1] in {"=", "+", "-", "@", "\t", "\r"} else text


def _number(value: float | None) -> str:
    return "" if value is None else f"{value:.2f}"


def to_csv(report: Report) -> str:
    """One row per provider and route, per route, per month, and the total."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)

    def row(scope: str, month: str, provider: str, route: str, f: Figures) -> None:
        writer.writerow(
            [
                scope,
                month,
                _cell(provider),
                route,
                f.sent,
                f.decided,
                f.accepted,
                f.partial,
                f.refused,
                _number(f.acceptance_rate),
                f.removed,
                _number(f.median_hours_to_removal),
            ]
        )

    for (provider, route), figures in report.by_provider.items():
        row("provider", "", provider, route, figures)
    for route, figures in report.by_route.items():
        row("route", "", "", route, figures)
    for month, figures in report.by_month.items():
        row("month", month, "", "", figures)
    row("total", "", "", "", report.total)
    return out.getvalue()
