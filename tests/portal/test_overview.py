""" "Where things stand": her cases in calm words, never a word from a crawled page."""

from __future__ import annotations

import html
import json
from datetime import UTC, datetime, timedelta

import pytest

from hits.documents import Hit, MatchedTerm, MatchKind
from portal.mandates import sign_mandate
from portal.models import ReportedLink
from takedowns.models import Case, CaseHit, Notice
from takedowns.services import add_hit_to_case, change_state
from tests.portal.conftest import sign_in

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.elasticsearch]

HOSTILE = [
    "Jeanne Dupont la salope",
    "photos volées de Jeanne",
    "elle mérite ce qui lui arrive",
    "jdupont75 nue",
    "harceleur_du_93",
    "miniature-jeanne.jpg",
]


def _hit(client_id: str, url: str, title: str, excerpt: str, **extra) -> Hit:
    now = datetime.now(UTC)
    return Hit(
        client_id=client_id,
        source_id="forum",
        url=url,
        match_kind=MatchKind.NAME,
        matched_terms=(MatchedTerm("Jeanne Dupont", "Jeanne Dupont", "exact", 0, 13),),
        first_seen=now,
        last_seen=now,
        title=title,
        excerpt=excerpt,
        author="harceleur_du_93",
        **extra,
    )


@pytest.fixture
def seeded(jeanne, hit_store):
    """Four cases in four states, their hits full of what must never reach her page."""
    hits = [
        _hit(
            jeanne.reference,
            "https://forum-a.example/t/jeanne-dupont-la-salope/12",
            HOSTILE[0],
            f"{HOSTILE[1]} — {HOSTILE[2]}",
            image_url="https://forum-a.example/miniature-jeanne.jpg",
        ),
        _hit(jeanne.reference, "https://forum-b.example/jdupont75-nue", HOSTILE[3], HOSTILE[2]),
        _hit(jeanne.reference, "https://forum-c.example/p/1", HOSTILE[1], HOSTILE[0]),
        _hit(jeanne.reference, "https://forum-d.example/p/2", HOSTILE[0], HOSTILE[3]),
    ]
    hit_store.upsert(hits)
    cases = [Case.objects.get(pk=add_hit_to_case(jeanne, h).case_id) for h in hits]
    CaseHit.objects.update(review_status="confirmed")
    sent = datetime.now(UTC) - timedelta(days=3)
    for case, state in zip(
        cases[:3], [Case.State.REMOVED, Case.State.NOTICE_SENT, Case.State.NO_RESPONSE], strict=True
    ):
        change_state(case.pk, Case.State.CONFIRMED, who="alice", reason="ok")
        notice = Notice.objects.create(
            case=case,
            route=Notice.Route.LCEN_6,
            recipient="abuse",
            subject=f"Retrait : {HOSTILE[0]}",
            body=f"Le contenu « {HOSTILE[1]} » ...",
            created_by="alice",
        )
        Notice.objects.filter(pk=notice.pk).update(sent_at=sent)
        change_state(case.pk, Case.State.NOTICE_SENT, who="alice", reason=HOSTILE[2])
        if state != Case.State.NOTICE_SENT:
            change_state(case.pk, state, who="alice", reason=HOSTILE[2])
    CaseHit.objects.filter(case=cases[0]).update(source_status="gone", removed_at=datetime.now(UTC))
    return cases


def test_her_cases_are_told_in_calm_words_without_any_content(client, jeanne, seeded):
    sign_in(client, jeanne)
    page = html.unescape(client.get("/espace/situation/").content.decode())
    for host in ("forum-a.example", "forum-b.example", "forum-c.example", "forum-d.example"):
        assert host in page
    assert "retiré le" in page
    assert "en attente de réponse" in page
    assert "nous relançons" in page
    assert "en cours d'examen" in page
    assert "Trouvées par notre veille : 4" in page
    assert "Pages retirées : 1" in page
    lowered = page.lower()
    for word in [*HOSTILE, "salope", "nue", "volées", "/t/", "jdupont75", "<img"]:
        assert word.lower() not in lowered, word


def test_a_case_of_false_positives_is_not_shown(client, jeanne, seeded):
    CaseHit.objects.filter(case=seeded[3]).update(review_status="dismissed")
    sign_in(client, jeanne)
    page = client.get("/espace/situation/").content.decode()
    assert "forum-d.example" not in page


def test_her_data_holds_what_we_keep_about_her_never_crawled_content(client, jeanne, seeded):
    sign_mandate(
        jeanne,
        full_name="Jeanne Dupont",
        postal_address="1 rue de la Paix, Paris",
        scopes=["removal_notices"],
        signature="Jeanne Dupont",
        ip="10.0.0.1",
    )
    ReportedLink.objects.create(
        client=jeanne,
        url="https://forum-e.example/she-sent-this",
        note="vu hier",
        hit_id="x" * 40,
        outcome="captured",
    )
    jeanne.terms.create(kind="name", value="Jeanne Dupont")
    sign_in(client, jeanne)
    response = client.get("/espace/donnees/mes-donnees.json")
    assert response.status_code == 200
    assert response["Content-Disposition"].startswith("attachment")
    data = json.loads(response.content)
    assert data["you"]["email"] == "jeanne@example.org"
    assert data["names_we_watch_for"] == [{"kind": "name", "value": "Jeanne Dupont"}]
    assert data["mandates"][0]["scopes"] == ["removal_notices"]
    assert data["mandates"][0]["ip"] == "10.0.0.1"
    assert data["links_you_reported"][0]["url"] == "https://forum-e.example/she-sent-this"
    assert {c["site"] for c in data["cases"]} >= {"forum-a.example", "forum-b.example"}
    assert any(c["notices"] for c in data["cases"])
    text = response.content.decode().lower()
    for word in [*HOSTILE, "salope", "/t/", "jdupont75"]:
        assert word.lower() not in text, word
    # Only for her, signed in.
    client.post("/espace/sortie/")
    assert client.get("/espace/donnees/mes-donnees.json").status_code == 302


def test_withdrawing_consent_erases_her_file_except_a_case_under_legal_hold(client, jeanne, seeded):
    Case.objects.filter(pk=seeded[1].pk).update(legal_hold=True)
    sign_in(client, jeanne)
    page = html.unescape(client.get("/espace/donnees/effacer/").content.decode())
    assert "conservation légale, qui seront gardés : 1." in page
    assert "la loi nous demande de conserver les preuves" in page
    unconfirmed = client.post("/espace/donnees/effacer/", {})
    assert unconfirmed.status_code == 200
    assert type(jeanne).objects.filter(pk=jeanne.pk).exists()
    done = html.unescape(
        client.post("/espace/donnees/effacer/", {"confirm": "on"}).content.decode()
    )
    assert "Vos données sont effacées" in done
    assert "gardés comme la loi le demande : 1." in done
    assert not type(jeanne).objects.filter(pk=jeanne.pk).exists()
    assert list(Case.objects.values_list("pk", flat=True)) == [seeded[1].pk]
    assert client.get("/espace/situation/")["Location"] == "/espace/"
