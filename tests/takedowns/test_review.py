"""The review queue and hit pages, as the takedown team uses them."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.contrib.auth.models import Group, User

from clients.models import Client
from hits.documents import Hit, MatchedTerm, MatchKind
from takedowns.models import AuditEvent, Case
from takedowns.services import add_hit_to_case

pytestmark = [pytest.mark.django_db(transaction=True)]


def _user(name: str, role: str) -> User:
    user = User.objects.create_user(name, password="a-long-test-password", is_staff=True)
    user.groups.add(Group.objects.get(name=role))
    return user


@pytest.fixture
def queue_data(isolated, hit_store):
    client = Client.objects.create(reference="jeanne", display_name="Jeanne", email="j@example.org")
    now = datetime.now(UTC)
    text = "encore un message sur Jeanne Dupont ici"
    name_hit = Hit(
        client_id="jeanne", source_id="forum", url="https://forum.example/t/1", match_kind=MatchKind.NAME,
        matched_terms=(MatchedTerm("Jeanne Dupont", "Jeanne Dupont", "exact", 22, 35),),
        first_seen=now, last_seen=now, excerpt=text, score=1.0,
    )  # fmt: skip
    photo_hit = Hit(
        client_id="jeanne", source_id="board", url="https://board.example/t/2#p2", match_kind=MatchKind.IMAGE,
        matched_terms=(), first_seen=now, last_seen=now, image_url="https://board.example/i/2.jpg",
        photo_label="photo 1", photo_distance=6, photo_tier="strong", score=0.9,
    )  # fmt: skip
    hit_store.upsert([name_hit, photo_hit])
    add_hit_to_case(client, name_hit)
    return name_hit, photo_hit


def test_a_reviewer_sees_and_filters_the_queue(client, queue_data):
    client.force_login(_user("rev", "reviewer"))
    page = client.get("/review/").content.decode()
    assert "« Jeanne Dupont » (exact)" in page and "photo « photo 1 »" in page
    assert "image : 1" in page and "name : 1" in page  # counts per match kind
    only_photos = client.get("/review/?kind=image").content.decode()
    assert "photo « photo 1 »" in only_photos and "« Jeanne Dupont » (exact)" not in only_photos
    searched = client.get("/review/?q=message").content.decode()
    assert "« Jeanne Dupont » (exact)" in searched and "photo « photo 1 »" not in searched


def test_staff_cannot_reach_the_queue_and_strangers_must_log_in(client, queue_data):
    assert client.get("/review/").status_code == 302
    client.force_login(_user("st", "staff"))
    assert client.get("/review/").status_code == 403


def test_the_matched_name_is_highlighted_and_the_rest_escaped(client, queue_data):
    name_hit, _ = queue_data
    client.force_login(_user("rev", "reviewer"))
    page = client.get(f"/review/hit/{name_hit.hit_id}/").content.decode()
    assert "encore un message sur <mark>Jeanne Dupont</mark> ici" in page


def test_images_are_blurred_until_revealed_and_each_reveal_is_logged(client, queue_data):
    _, photo_hit = queue_data
    client.force_login(_user("rev", "reviewer"))
    page = client.get(f"/review/hit/{photo_hit.hit_id}/").content.decode()
    assert 'class="blurred"' in page
    client.post(f"/review/hit/{photo_hit.hit_id}/reveal/")
    assert (
        AuditEvent.objects.filter(who="rev", action="reveal_image", target=photo_hit.hit_id).count()
        == 1
    )
    page = client.get(f"/review/hit/{photo_hit.hit_id}/").content.decode()
    assert 'class="blurred"' not in page


def test_confirming_a_hit_updates_it_and_its_case(client, queue_data, hit_store):
    name_hit, _ = queue_data
    client.force_login(_user("rev", "reviewer"))
    client.post(f"/review/hit/{name_hit.hit_id}/decide/", {"decision": "confirm"})
    assert hit_store.get(name_hit.hit_id).review_status == "confirmed"
    assert Case.objects.get().state == Case.State.CONFIRMED
    assert AuditEvent.objects.filter(action="confirm", who="rev").exists()


def test_the_audit_log_cannot_be_edited_or_deleted(queue_data):
    event = AuditEvent.objects.create(who="rev", action="view_hit", target="x")
    event.detail = "changed"
    with pytest.raises(PermissionError):
        event.save()
    with pytest.raises(PermissionError):
        event.delete()
