"""Notices carry what their legal route requires, go to the host's contact, and freeze once sent."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
from pypdf import PdfReader

from takedowns.models import Case, CaseHit, HostContact, Notice
from takedowns.notices import NoticeDraft, create_notice, notice_pdf, send_notice
from takedowns.services import Decision, decide
from tests.takedowns.workbench import NOTIFIER, TOPIC, make_user, seed

pytestmark = [pytest.mark.django_db(transaction=True)]
BASE = "https://foren.myoos.de"
REASONS = (
    "Ces messages publient le nom de la personne avec des propos injurieux répétés "
    "et une photo d'elle diffusée sans son consentement."
)


@pytest.fixture
def confirmed(isolated: Path, hit_store, settings):
    settings.BODYGUARD_NOTIFIER = NOTIFIER
    seeded = seed(hit_store, BASE, isolated / "sources")
    decide(
        hit_store,
        [seeded.name_hit.hit_id, seeded.photo_hit.hit_id],
        Decision.CONFIRM,
        who="alice",
    )
    return seeded


def _draft(route: str, **kw: Any) -> NoticeDraft:
    hit_ids = list(CaseHit.objects.values_list("hit_id", flat=True))
    base: dict[str, Any] = {
        "route": route,
        "hit_ids": hit_ids,
        "reasons": REASONS,
        "recipient": "MyOOS Hosting",
        "recipient_email": "abuse@myoos.example",
        "good_faith": True,
    }
    return NoticeDraft(**(base | kw))


def _notice(store, seeded, route: str, **kw) -> Notice:
    result = create_notice(store, seeded.case, _draft(route, **kw), who="alice")
    assert isinstance(result, Notice), result
    return result


def test_dsa_article_16_notice_has_every_mandatory_element(confirmed, hit_store):
    notice = _notice(hit_store, confirmed, "dsa16")
    body = notice.body
    # (a) substantiated reasons
    assert REASONS in body
    # (b) exact electronic location: every URL, with what locates the post on the page
    assert f"{BASE}{TOPIC}#p453" in body and f"{BASE}{TOPIC}#p454" in body
    assert "ancre #p453" in body and "message de « Hartmut »" in body
    assert f"image {BASE}/files/baboon.jpg" in body
    # (c) name and email of the notifier
    assert "SOS Cyber-harcèlement — signalement@sos.example" in body
    # (d) statement of good faith
    assert "de bonne foi" in body and "exactes et complètes" in body
    assert "article 16" in notice.subject


def test_lcen_article_6_notice_has_every_mandatory_element(confirmed, hit_store):
    notice = _notice(
        hit_store,
        confirmed,
        "lcen6",
        grounds=["cp-226-2-1", "loi-1881-33"],
        facts="Deux messages du fil nomment la cliente et publient une photo intime d'elle.",
        prior_request_impossible="le compte de l'auteur est anonyme et sans messagerie.",
    )
    body = notice.body
    assert "Date de la notification :" in body
    # notifier identity: legal person's form, name, office, representative, email
    assert "SOS Cyber-harcèlement, association loi 1901" in body
    assert "Siège : 12 rue de l'Exemple, 75011 Paris" in body
    assert "Représentée par : Claire Martin, présidente" in body
    assert "agissant au nom et pour le compte de Richard Stallman" in body
    # recipient
    assert "MyOOS Hosting (hébergeur du site foren.myoos.de)" in body
    # description and precise location
    assert "publient une photo intime" in body and f"{BASE}{TOPIC}#p453" in body
    # legal grounds from the picker
    assert "article 226-2-1 du Code pénal" in body
    assert "article 33 de la loi du 29 juillet 1881" in body
    # the prior request, or why it was impossible
    assert "n'a pas pu être contacté : le compte de l'auteur est anonyme" in body


def test_lcen_notice_can_carry_the_prior_request_itself(confirmed, hit_store):
    notice = _notice(
        hit_store,
        confirmed,
        "lcen6",
        grounds=["rgpd-17"],
        facts="Un message publie l'adresse de la cliente.",
        prior_request="Bonjour, merci de retirer votre message du 3 mars. — SOS",
    )
    assert "Copie de la correspondance adressée à l'auteur" in notice.body
    assert "merci de retirer votre message du 3 mars" in notice.body


def test_google_request_lists_pages_images_and_the_query(confirmed, hit_store):
    notice = _notice(
        hit_store,
        confirmed,
        "google",
        search_query="Richard Stallman photos",
        google_type="ncii",
        not_consensual=True,
    )
    body = notice.body
    assert "« Richard Stallman photos »" in body
    assert f"- {BASE}{TOPIC}#p453" in body
    assert (
        "URL DES IMAGES À SUPPRIMER DES RÉSULTATS\n- https://foren.myoos.de/files/baboon.jpg"
        in body
    )


def test_notices_exist_in_english_too(confirmed, hit_store):
    notice = _notice(hit_store, confirmed, "dsa16", language="en")
    assert "STATEMENT OF GOOD FAITH (Art. 16(2)(d))" in notice.body
    assert "post by “Hartmut”" in notice.body


def test_a_notice_missing_what_its_route_requires_is_refused_with_the_field_named(
    confirmed, hit_store
):
    errors = create_notice(
        hit_store,
        confirmed.case,
        _draft("lcen6", reasons="too short", good_faith=False),
        who="alice",
    )
    assert isinstance(errors, dict)
    assert set(errors) == {"reasons", "good_faith", "grounds", "facts", "prior_request"}
    assert not Notice.objects.exists()
    google = create_notice(
        hit_store,
        confirmed.case,
        _draft("google", google_type="ncii", not_consensual=True),
        who="alice",
    )
    assert isinstance(google, dict) and set(google) == {"search_query"}


def test_unconfirmed_hits_never_go_into_a_notice(isolated, hit_store, settings):
    seeded = seed(hit_store, BASE, isolated / "sources")
    errors = create_notice(hit_store, seeded.case, _draft("dsa16"), who="alice")
    assert isinstance(errors, dict) and "hit_ids" in errors


def test_a_notice_emailed_to_the_host_goes_with_its_pdf_and_is_frozen(
    confirmed, hit_store, mailbox
):
    notice = _notice(hit_store, confirmed, "lcen6", grounds=["cp-222-33-2-2"], facts="Harcèlement.",
                     prior_request_impossible="auteur anonyme")  # fmt: skip

    result = send_notice(notice, who="alice", channel="email")

    assert result.ok, result.message
    [message] = mailbox.messages
    assert message["To"] == "abuse@myoos.example"
    assert "signalement@sos.example" in message["From"]
    text = message.get_body(preferencelist=("plain",)).get_content()
    assert "article 222-33-2-2" in text
    [pdf] = [p for p in message.iter_attachments() if p.get_content_type() == "application/pdf"]
    pages = PdfReader(io.BytesIO(pdf.get_content())).pages
    assert "222-33-2-2" in "".join(p.extract_text() for p in pages)
    notice.refresh_from_db()
    assert notice.sent_at is not None and notice.sent_by == "alice"
    assert Case.objects.get(pk=confirmed.case.pk).state == Case.State.NOTICE_SENT
    notice.body = "changed afterwards"
    with pytest.raises(PermissionError):
        notice.save()
    again = send_notice(Notice.objects.get(pk=notice.pk), who="bob", channel="email")
    assert not again.ok and "alice" in again.message
    assert len(mailbox.messages) == 1


def test_smtp_down_leaves_the_notice_a_draft(confirmed, hit_store, settings):
    from demo.smtp_sink import free_port

    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", free_port()
    notice = _notice(hit_store, confirmed, "dsa16")
    result = send_notice(notice, who="alice", channel="email")
    assert not result.ok
    notice.refresh_from_db()
    assert notice.sent_at is None
    assert Case.objects.get(pk=confirmed.case.pk).state == Case.State.CONFIRMED


def test_a_google_request_sent_through_its_form_marks_the_urls_as_delisting_requested(
    confirmed, hit_store
):
    notice = _notice(
        hit_store,
        confirmed,
        "google",
        search_query="Richard Stallman",
        google_type="ncii",
        not_consensual=True,
    )
    assert not send_notice(notice, who="alice", channel="other").ok  # which channel?
    result = send_notice(
        notice, who="alice", channel="other", detail="formulaire Google, réf. 5-1234"
    )
    assert result.ok
    assert set(CaseHit.objects.values_list("delisting", flat=True)) == {"requested"}
    # Delisting is not removal at the source: the case still waits for the host.
    assert Case.objects.get(pk=confirmed.case.pk).state == Case.State.CONFIRMED


def test_the_notice_pdf_is_a_real_pdf_with_the_text(confirmed, hit_store):
    notice = _notice(hit_store, confirmed, "dsa16")
    pages = PdfReader(io.BytesIO(notice_pdf(notice))).pages
    text = " ".join(" ".join(p.extract_text() for p in pages).split())
    assert "convaincus de bonne foi" in text and f"{BASE}{TOPIC}#p453" in text


def test_the_host_contact_is_stored_per_domain_and_prefilled(confirmed, client):
    client.force_login(make_user("alice", "reviewer"))
    case = confirmed.case
    client.post(
        f"/review/case/{case.pk}/contact/",
        {"domain": "myoos.de", "name": "MyOOS", "abuse_email": "abuse@myoos.example"},
    )
    assert HostContact.objects.get().domain == "myoos.de"
    page = client.get(f"/review/case/{case.pk}/").content.decode()
    assert 'value="abuse@myoos.example"' in page and 'value="MyOOS"' in page
