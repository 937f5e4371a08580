"""The DSA's redress chain: a refused or unanswered article 16 notice leads to the internal
complaint (art. 20), then to a certified out-of-court body (art. 21) and to Arcom (art. 53),
each pre-filled from the case and recorded with who did what."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from takedowns.models import AuditEvent, Case, Notice, NoticeResponse
from takedowns.notices import FollowUpDraft, create_follow_up, next_steps, send_notice
from tests.takedowns.test_notices import BASE, REASONS, TOPIC, _notice, confirmed
from tests.takedowns.workbench import make_user

pytestmark = [pytest.mark.django_db(transaction=True)]
__all__ = ["confirmed"]
STATEMENT = "Après examen, ce contenu ne contrevient pas à nos conditions d'utilisation."
COMPLAINT = (
    "La décision ignore que les photos sont publiées sans consentement, ce qui est "
    "manifestement illicite (article 226-2-1 du Code pénal)."
)


@pytest.fixture
def reviewer(client):
    client.force_login(make_user("rev", "reviewer"))
    return client


def _sent(store, seeded, route: str = "dsa16") -> Notice:
    notice = _notice(store, seeded, route)
    assert send_notice(notice, who="rev", channel="other", detail="formulaire du forum").ok
    notice.refresh_from_db()
    return notice


def _refuse(reviewer, notice: Notice, text: str = STATEMENT) -> None:
    response = reviewer.post(
        f"/review/notice/{notice.pk}/response/",
        {"kind": "refused", "at": "", "text": text},
    )
    assert response.status_code == 302


def _follow(reviewer, notice: Notice, route: str, **fields) -> Notice:
    response = reviewer.post(
        f"/review/notice/{notice.pk}/follow-up/", {"route": route, "reasons": COMPLAINT, **fields}
    )
    assert response.status_code == 302, response.content.decode()[-3000:]
    return Notice.objects.get(pk=int(response["Location"].rstrip("/").rsplit("/", 1)[1]))


def test_a_refused_notice_leads_to_article_20_then_21_and_arcom(reviewer, confirmed, hit_store):
    dsa16 = _sent(hit_store, confirmed)
    reviewer.post(f"/review/notice/{dsa16.pk}/response/", {"kind": "acknowledged", "at": ""})
    assert next_steps(dsa16) == []  # an acknowledgement is no decision
    # A refusal without its statement of reasons is not recorded.
    reviewer.post(f"/review/notice/{dsa16.pk}/response/", {"kind": "refused", "text": ""})
    assert not dsa16.responses.filter(kind="refused").exists()
    _refuse(reviewer, dsa16)
    assert [r.kind for r in dsa16.responses.all()] == ["acknowledged", "refused"]
    assert Case.objects.get(pk=confirmed.case.pk).state == Case.State.REFUSED
    page = reviewer.get(f"/review/notice/{dsa16.pk}/").content.decode()
    assert 'id="follow-up-dsa20"' in page and STATEMENT.replace("'", "&#x27;") in page

    dsa20 = _follow(reviewer, dsa16, "dsa20")
    assert dsa20.parent_id == dsa16.pk and dsa20.route == "dsa20"
    assert dsa20.recipient == dsa16.recipient and dsa20.recipient_email == dsa16.recipient_email
    body = dsa20.body
    assert "Article 20 du règlement (UE) 2022/2065" in body
    assert f"« {STATEMENT} »" in body  # the statement of reasons, quoted
    assert f"notification n° {dsa16.pk}" in body and f"{BASE}{TOPIC}#p453" in body
    assert COMPLAINT in body and REASONS in body
    assert "Accusé de réception" in body and "Décision : refus" in body
    assert next_steps(dsa16) == []  # drafted once
    assert send_notice(dsa20, who="rev", channel="other", detail="formulaire de réclamation").ok
    assert Case.objects.get(pk=confirmed.case.pk).state == Case.State.ESCALATED

    _refuse(reviewer, dsa20, "Nous maintenons notre décision.")
    assert {s.route for s in next_steps(dsa20)} == {"dsa21", "arcom"}
    missing_body = reviewer.post(
        f"/review/notice/{dsa20.pk}/follow-up/", {"route": "dsa21", "reasons": COMPLAINT}
    )
    assert missing_body.status_code == 400
    assert "organe de règlement extrajudiciaire" in missing_body.content.decode()

    dsa21 = _follow(
        reviewer, dsa20, "dsa21", recipient="Appeals Centre Europe", recipient_email="cases@ace.example"
    )  # fmt: skip
    assert dsa21.parent_id == dsa20.pk and dsa21.recipient == "Appeals Centre Europe"
    assert (
        "Article 21 du règlement" in dsa21.body
        and "« Nous maintenons notre décision. »" in dsa21.body
    )
    assert f"n° {dsa16.pk}, envoyée le" in dsa21.body and f"n° {dsa20.pk}, envoyée le" in dsa21.body
    arcom = _follow(reviewer, dsa20, "arcom", language="en")
    assert arcom.parent_id == dsa20.pk and arcom.recipient.startswith("Arcom")
    assert "Article 53 of Regulation (EU) 2022/2065" in arcom.body
    # The whole history: the notice, its refusal, the complaint and its refusal, with dates.
    assert f"no. {dsa16.pk}, sent on" in arcom.body and f"no. {dsa20.pk}, sent on" in arcom.body
    assert f'"{STATEMENT}"' in arcom.body and '"Nous maintenons notre décision."' in arcom.body

    audited = AuditEvent.objects.filter(target=f"case:{confirmed.case.pk}")
    assert audited.filter(action="notice_response").count() == 3
    assert list(
        audited.filter(action="draft_follow_up").order_by("pk").values_list("who", flat=True)
    ) == ["rev", "rev", "rev"]
    with pytest.raises(PermissionError):
        NoticeResponse.objects.get(kind="acknowledged").save()


def test_silence_past_the_deadline_opens_the_chain_too(reviewer, confirmed, hit_store):
    dsa16 = _sent(hit_store, confirmed)
    assert dsa16.due_at is not None
    assert next_steps(dsa16) == []  # the provider still has time
    refused = create_follow_up(dsa16, FollowUpDraft("dsa20", reasons=COMPLAINT), who="rev")
    assert isinstance(refused, dict) and set(refused) == {"route"}

    later = dsa16.due_at + timedelta(hours=1)
    assert [s.route for s in next_steps(dsa16, later)] == ["dsa20"]
    dsa20 = create_follow_up(dsa16, FollowUpDraft("dsa20", reasons=COMPLAINT), who="rev", now=later)
    assert isinstance(dsa20, Notice)
    # The silence is on the record, dated at the deadline.
    [silence] = dsa16.responses.all()
    assert (silence.kind, silence.at) == ("no_answer", dsa16.due_at)
    assert "est restée sans décision" in dsa20.body and "Pas de réponse dans le délai" in dsa20.body

    # The complaint goes unanswered as well: the next steps open past its own deadline.
    assert send_notice(dsa20, who="rev", channel="other", detail="formulaire").ok
    dsa20.refresh_from_db()
    past = (dsa20.due_at or datetime.now(UTC)) + timedelta(minutes=1)
    assert {s.route for s in next_steps(dsa20, past)} == {"dsa21", "arcom"}
    arcom = create_follow_up(dsa20, FollowUpDraft("arcom", reasons=COMPLAINT), who="rev", now=past)
    assert isinstance(arcom, Notice) and "n'a pas statué en temps opportun" in arcom.body
