"""A dismissed hit whose content changes is back for review, visibly."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from alerts.services import collect_new_hits
from clients.models import Client
from hits.documents import Hit, MatchedTerm, MatchKind
from operations.scheduler import process_alerts
from takedowns.models import AuditEvent, Case, CaseHit
from tests.takedowns.workbench import make_user

pytestmark = [pytest.mark.django_db(transaction=True)]

SEEN = datetime(2026, 11, 2, 10, 0, tzinfo=UTC)


def _hit(text: str, seen: datetime) -> Hit:
    import hashlib

    return Hit(
        client_id="jeanne", source_id="forum", url="https://forum.example/t/5#p1",
        match_kind=MatchKind.NAME,
        matched_terms=(MatchedTerm("Jeanne Dupont", "Jeanne Dupont", "exact", 0, 13),),
        first_seen=seen, last_seen=seen, excerpt=text,
        content_sha256=hashlib.sha256(text.encode()).hexdigest(),
    )  # fmt: skip


@pytest.fixture
def dismissed(client, isolated, hit_store):
    Client.objects.create(reference="jeanne", display_name="Jeanne Dupont", email="j@example.org")
    hit = _hit("Jeanne Dupont a gagné le tournoi de tennis", SEEN)
    hit_store.upsert([hit])
    collect_new_hits(hit_store)
    client.force_login(make_user("rev", "reviewer"))
    client.post(f"/review/hit/{hit.hit_id}/decide/", {"decision": "dismiss"})
    assert hit_store.get(hit.hit_id).review_status == "dismissed"
    assert Case.objects.get().state == Case.State.CLOSED
    return hit


def test_a_dismissed_hit_whose_content_changed_is_back_in_the_queue(client, dismissed, hit_store):
    # The same post, edited by its author a day later.
    edited = _hit("Jeanne Dupont : voici son adresse et ses photos", SEEN + timedelta(days=1))
    hit_store.upsert([edited])
    process_alerts()

    again = hit_store.get(dismissed.hit_id)
    assert again.review_status == "new"
    assert again.reopened_from_sha256 == dismissed.content_sha256
    case_hit = CaseHit.objects.get(hit_id=dismissed.hit_id)
    assert case_hit.review_status == "new"
    # Its case had been closed (every hit dismissed): the hit is now in an open case.
    assert case_hit.case.state == Case.State.NEW
    assert Case.objects.filter(state=Case.State.CLOSED).count() == 1
    event = AuditEvent.objects.get(action="reopen", target=dismissed.hit_id)
    assert dismissed.content_sha256[:12] in event.detail

    queue = client.get("/review/?status=new").content.decode()
    assert dismissed.hit_id in queue and "ré-ouvert : le contenu a changé" in queue
    page = client.get(f"/review/hit/{dismissed.hit_id}/").content.decode()
    assert "son contenu a changé depuis" in page
    assert "reopen" in page.split('id="hit-history"')[1]


def test_a_dismissed_hit_seen_again_unchanged_stays_dismissed(client, dismissed, hit_store):
    hit_store.upsert([replace(dismissed, last_seen=SEEN + timedelta(days=1))])
    process_alerts()
    assert hit_store.get(dismissed.hit_id).review_status == "dismissed"
    assert not AuditEvent.objects.filter(action="reopen").exists()
    assert dismissed.hit_id not in client.get("/review/?status=new").content.decode()
