"""Who is in charge of a case (shown on the case, in the list and in the queue) and the case's
note thread: both audit-logged; notes go with the client's erasure unless under legal hold."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from clients.models import Client
from hits.documents import Hit, MatchedTerm, MatchKind
from operations.privacy import erase_client, export_client
from takedowns.models import AuditEvent, Case, CaseNote, Notice
from takedowns.services import add_hit_to_case
from tests.takedowns.workbench import make_user

pytestmark = [pytest.mark.django_db]


@pytest.fixture
def jeanne() -> Client:
    return Client.objects.create(
        reference="jeanne", display_name="Jeanne Dupont", email="j@example.org"
    )


@pytest.fixture
def case(jeanne) -> Case:
    return Case.objects.create(client=jeanne, client_reference="jeanne", host="forum.example")


def test_a_reviewer_assigns_a_case_to_herself_then_to_a_colleague(client, case):
    alice, bob = make_user("alice", "reviewer"), make_user("bob", "reviewer")
    client.force_login(alice)
    response = client.post(f"/review/case/{case.pk}/assign/", {"assignee": "me"})
    assert response.status_code == 302
    case.refresh_from_db()
    assert case.assigned_to == alice
    page = client.get(f"/review/case/{case.pk}/").content.decode()
    assert '<p id="case-assignee">Responsable : <strong>alice</strong>' in page
    client.post(f"/review/case/{case.pk}/assign/", {"assignee": str(bob.pk)})
    case.refresh_from_db()
    assert case.assigned_to == bob
    listed = client.get("/review/cases/").content.decode()
    assert '<td class="assignee">bob</td>' in listed
    assert [r["case"].pk for r in client.get("/review/cases/?assigned=bob").context["rows"]] == [
        case.pk
    ]
    assert client.get("/review/cases/?assigned=me").context["rows"] == []
    client.post(f"/review/case/{case.pk}/assign/", {"assignee": ""})
    case.refresh_from_db()
    assert case.assigned_to is None
    log = AuditEvent.objects.filter(action="case_assign", target=f"case:{case.pk}")
    assert sorted(log.values_list("who", "detail")) == sorted(
        [("alice", "- -> alice"), ("alice", "alice -> bob"), ("alice", "bob -> -")]
    )


def test_only_a_member_of_the_takedown_team_can_be_put_in_charge(client, case):
    make_user("alice", "reviewer")
    sam = make_user("sam", "staff")
    client.force_login(make_user("bob", "reviewer"))
    for value in (str(sam.pk), "999", "sam"):
        client.post(f"/review/case/{case.pk}/assign/", {"assignee": value})
        case.refresh_from_db()
        assert case.assigned_to is None
    assert not AuditEvent.objects.filter(action="case_assign").exists()
    options = client.get(f"/review/case/{case.pk}/").content.decode()
    assert ">alice</option>" in options and ">sam</option>" not in options
    client.force_login(sam)
    assert client.post(f"/review/case/{case.pk}/assign/", {"assignee": "me"}).status_code == 403


def _hit(n: int) -> Hit:
    text = f"message {n} sur Jeanne Dupont"
    seen = datetime.now(UTC) - timedelta(minutes=n)
    return Hit(
        client_id="jeanne", source_id="forum", url=f"https://forum{n % 2}.example/t/{n}",
        match_kind=MatchKind.NAME,
        matched_terms=(MatchedTerm("Jeanne Dupont", "Jeanne Dupont", "exact", len(text) - 13, len(text)),),
        first_seen=seen, last_seen=seen, excerpt=text, title=f"sujet-{n}",
    )  # fmt: skip


def test_the_queue_shows_who_is_in_charge_of_each_hits_case_in_one_query(client, jeanne, hit_store):
    alice = make_user("alice", "reviewer")
    client.force_login(alice)
    hit_store.upsert([_hit(0)])
    first = Case.objects.get(pk=add_hit_to_case(jeanne, _hit(0)).case_id)
    Case.objects.filter(pk=first.pk).update(assigned_to=alice)
    with CaptureQueriesContext(connection) as one:
        page = client.get("/review/").content.decode()
    assert f'href="/review/case/{first.pk}/">dossier n° {first.pk}</a>' in page
    assert '<span class="assignee">alice</span>' in page
    hits = [_hit(n) for n in range(1, 6)]
    hit_store.upsert(hits)
    for h in hits[:4]:
        add_hit_to_case(jeanne, h)  # two hosts: two cases, nobody in charge of the other
    with CaptureQueriesContext(connection) as six:
        page = client.get("/review/").content.decode()
    assert page.count('<span class="assignee">alice</span>') == 3
    assert page.count("non attribué") == 2
    assert len(six) == len(one)


def test_notes_are_a_thread_in_order_add_only_and_logged(client, case):
    client.force_login(make_user("alice", "reviewer"))
    client.post(f"/review/case/{case.pk}/note/", {"text": "Appel à l'hébergeur : rappel demain."})
    client.force_login(make_user("bob", "reviewer"))
    response = client.post(
        f"/review/case/{case.pk}/note/", {"text": "  Rappelé, retrait promis.  "}
    )
    assert response.status_code == 302 and response["Location"].endswith("#notes")
    notes = list(case.notes.values_list("author", "text"))
    assert notes == [
        ("alice", "Appel à l'hébergeur : rappel demain."),
        ("bob", "Rappelé, retrait promis."),
    ]
    page = client.get(f"/review/case/{case.pk}/").content.decode()
    assert page.index("rappel demain") < page.index("retrait promis")
    assert "— bob</span>" in page
    log = AuditEvent.objects.filter(action="case_note", target=f"case:{case.pk}").order_by("pk")
    assert [(e.who, e.detail) for e in log] == [
        (author, f"note {pk}") for pk, author in case.notes.values_list("pk", "author")
    ]
    client.post(f"/review/case/{case.pk}/note/", {"text": "   "})
    client.post(f"/review/case/{case.pk}/note/", {"text": "x" * 5001})
    assert case.notes.count() == 2
    note = case.notes.first()
    note.text = "changed"
    with pytest.raises(PermissionError):
        note.save()


def test_erasure_takes_the_notes_of_a_case_and_keeps_those_under_legal_hold(
    client, jeanne, isolated
):
    gone = Case.objects.create(client=jeanne, client_reference="jeanne", host="forum.example")
    held = Case.objects.create(
        client=jeanne, client_reference="jeanne", host="blog.example", legal_hold=True
    )
    client.force_login(make_user("alice", "reviewer"))
    now = datetime.now(UTC)
    for case in (gone, held):
        client.post(f"/review/case/{case.pk}/note/", {"text": "Jeanne Dupont a appelé"})
        # A refused notice and its article 20 complaint: the chain goes with its case.
        first = Notice.objects.create(
            case=case, route=Notice.Route.DSA_16, recipient="h", subject="s", body="Jeanne",
            created_by="alice", sent_at=now,
        )  # fmt: skip
        Notice.objects.create(
            case=case, route=Notice.Route.DSA_20, parent=first, recipient="h", subject="s",
            body="Jeanne", created_by="alice", sent_at=now,
        )  # fmt: skip
    exported = {c["id"]: c["notes"] for c in export_client("jeanne")["cases"]}
    assert [n["text"] for n in exported[gone.pk]] == ["Jeanne Dupont a appelé"]
    report = erase_client("jeanne")
    assert report.cases_deleted == 1 and report.cases_kept_under_legal_hold == [held.pk]
    assert list(CaseNote.objects.values_list("case_id", "text")) == [
        (held.pk, "Jeanne Dupont a appelé")
    ]
    assert set(Notice.objects.values_list("case_id", flat=True)) == {held.pk}
    # What the log said about the erased case is blanked; the held case's entry stays.
    logged = dict(AuditEvent.objects.filter(action="case_note").values_list("target", "detail"))
    assert logged[f"case:{gone.pk}"] == "[erased]"
    assert logged[f"case:{held.pk}"].startswith("note ")
