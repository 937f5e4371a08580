from __future__ import annotations

from dataclasses import dataclass

from django.db import transaction

from clients.models import Client
from takedowns.models import Case, CaseHit


@dataclass(frozen=True)
class CaseEntry:
    case_id: int
    case_opened: bool


@transaction.atomic
def add_hit_to_case(client: Client, hit_id: str, url: str, host: str) -> CaseEntry:
    """File a new hit under the client's open case for that host, opening one if needed."""
    existing = CaseHit.objects.filter(hit_id=hit_id).select_related("case").first()
    if existing is not None:
        return CaseEntry(existing.case.pk, case_opened=False)
    case = (
        Case.objects.select_for_update()
        .filter(client=client, host=host, state__in=Case.OPEN_STATES)
        .order_by("opened_at")
        .first()
    )
    opened = case is None
    if case is None:
        case = Case.objects.create(client=client, client_reference=client.reference, host=host)
    CaseHit.objects.create(case=case, hit_id=hit_id, url=url)
    return CaseEntry(case.pk, case_opened=opened)
