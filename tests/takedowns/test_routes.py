"""Every removal route carries what its law or form requires, names what is missing, freezes
once sent, and opens the follow-up it defines."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from hits.documents import Hit, MatchedTerm, MatchKind
from takedowns.models import AuditEvent, Case, CaseHit, Notice
from takedowns.notices import (
    LEGAL_GROUNDS,
    NoticeDraft,
    PharosFiling,
    create_notice,
    record_pharos,
    send_notice,
    validate,
)
from takedowns.services import Decision, add_hit_to_case, decide
from tests.conftest import write_source
from tests.takedowns.test_notices import BASE, REASONS, TOPIC, _draft, confirmed
from tests.takedowns.workbench import make_user

pytestmark = [pytest.mark.django_db(transaction=True)]
__all__ = ["confirmed"]  # the fixture: a case with two confirmed hits on a phpBB forum
FLAGGER = "Arcom, décision n° 2025-42 du 3 mars 2025"


def _missing(case: Case, draft: NoticeDraft, field: str, value: Any) -> set[str]:
    """The fields the completeness check names once ``field`` is emptied."""
    actionable = [h for h in case.hits.all() if h.actionable]
    assert validate(draft, case, actionable) == {}, "the complete draft must pass"
    return set(validate(replace(draft, **{field: value}), case, actionable))


def _create(store, case: Case, draft: NoticeDraft) -> Notice:
    result = create_notice(store, case, draft, who="alice")
    assert isinstance(result, Notice), result
    return result


def test_dsa_16_names_what_is_missing_and_says_trusted_flagger_to_platforms(
    confirmed, hit_store, settings
):
    case = confirmed.case
    draft = _draft("dsa16", online_platform=True)
    for field, empty in [
        ("reasons", "trop court"),
        ("good_faith", False),
        ("hit_ids", []),
        ("recipient", " "),
    ]:
        assert _missing(case, draft, field, empty) == {field}

    settings.BODYGUARD_TRUSTED_FLAGGER = ""
    plain = _create(hit_store, case, draft)
    assert not plain.trusted_flagger and "signaleur de confiance" not in plain.body

    settings.BODYGUARD_TRUSTED_FLAGGER = FLAGGER
    flagged = _create(hit_store, case, draft)
    assert flagged.trusted_flagger
    assert "SIGNALEUR DE CONFIANCE (art. 22)" in flagged.body and FLAGGER in flagged.body
    assert "traiter cette notification en priorité" in flagged.body
    # A host that is not an online platform owes no priority: the notice does not claim it.
    host_only = _create(hit_store, case, _draft("dsa16"))
    assert not host_only.trusted_flagger and FLAGGER not in host_only.body


def test_lcen_6_follows_dsa_16_keeps_the_former_elements_and_says_which_text_governs(
    confirmed, hit_store
):
    case = confirmed.case
    draft = _draft(
        "lcen6",
        grounds=["cp-226-8-1"],
        facts="Un montage sexuel généré par IA montre la cliente, publié sur le forum.",
        prior_request_impossible="l'auteur est anonyme.",
    )
    for field, empty in [
        ("grounds", []),
        ("facts", ""),
        ("prior_request_impossible", ""),
        ("reasons", ""),
        ("good_faith", False),
    ]:
        expected = "prior_request" if field == "prior_request_impossible" else field
        assert _missing(case, draft, field, empty) == {expected}

    body = _create(hit_store, case, draft).body
    assert "TEXTE APPLICABLE" in body
    assert "la présente notification est régie par cet article 16" in body
    assert "loi n° 2024-449 du 21 mai 2024 (SREN)" in body
    for element in (
        "(art. 16, § 2, a)",
        "(art. 16, § 2, b)",
        "(art. 16, § 2, c)",
        "(art. 16, § 2, d)",
    ):
        assert element in body
    assert "Date de la notification :" in body and "l'auteur est anonyme" in body
    assert "article 226-8-1 du Code pénal, créé par la loi n° 2024-449" in body


def test_the_legal_ground_picker_has_the_sren_deepfake_offence_and_the_226_2_1_wording():
    grounds = {g.code: g for g in LEGAL_GROUNDS}
    deepfake = grounds["cp-226-8-1"]
    assert "porter à la connaissance du public ou d'un tiers" in deepfake.fr
    assert "montage à caractère sexuel" in deepfake.fr
    assert "généré par un traitement algorithmique" in deepfake.fr
    assert "2024-449" in deepfake.fr and "SREN" in deepfake.en
    intimate = grounds["cp-226-2-1"].fr
    # The offence is the disclosure without agreement, even of images made with consent.
    assert "sans l'accord de la personne" in intimate
    assert "même obtenues avec son consentement ou par elle-même" in intimate


def test_take_it_down_has_its_four_elements_asks_for_copies_and_runs_48_hours(
    confirmed, hit_store, mailbox, settings, client
):
    case = confirmed.case
    draft = _draft(
        "takeitdown",
        recipient="Example Video Inc.",
        signatory="Claire Martin",
        signatory_capacity="representative",
        mandate="written mandate signed by Richard Stallman on 2 December 2026",
        signature="/Claire Martin/",
        contact_info="signalement@sos.example, +33 1 23 45 67 89",
        not_consensual=True,
    )
    for field, empty in [
        ("signatory", ""),
        ("signatory_capacity", ""),
        ("mandate", ""),
        ("signature", ""),
        ("not_consensual", False),
        ("contact_info", ""),
        ("hit_ids", []),
        ("reasons", ""),
    ]:
        assert _missing(case, draft, field, empty) == {field}
    # The depicted person signing herself needs no mandate.
    assert _missing(case, draft, "signatory_capacity", "depicted") == set()

    notice = _create(hit_store, case, replace(draft, language="fr"))
    body = notice.body
    assert notice.language == "en"  # written for US platforms
    assert "47 U.S.C. § 223a" in body
    assert "/Claire Martin/" in body and "authorized person acting on behalf" in body
    assert "written mandate signed by Richard Stallman" in body
    assert f"{BASE}{TOPIC}#p453" in body and "post by “Hartmut”" in body
    assert (
        "good faith belief that the intimate visual depiction identified above is not consensual"
        in body
    )
    assert REASONS in body
    assert "+33 1 23 45 67 89" in body
    assert "identical copies" in body and "48 hours" in body
    assert "copie de l'équipe" in notice.fields["copy_fr"]
    assert "message de « Hartmut »" in notice.fields["copy_fr"]

    assert send_notice(notice, who="alice", channel="email").ok
    notice.refresh_from_db()
    assert notice.sent_at is not None
    assert notice.due_at == notice.sent_at + timedelta(hours=48)
    client.force_login(make_user("alice", "reviewer"))
    page = client.get(f"/review/notice/{notice.pk}/").content.decode()
    assert 'id="notice-copy-fr"' in page and 'id="notice-due"' in page
    settings.BODYGUARD_NOTICE_REMINDER_DAYS = 5
    dsa = _create(hit_store, case, _draft("dsa16"))
    assert send_notice(dsa, who="alice", channel="other", detail="web form").ok
    dsa.refresh_from_db()
    assert dsa.sent_at is not None
    assert dsa.due_at == dsa.sent_at + timedelta(days=5)  # the configured reminder delay


def _search_hit(store, seeded, sources_dir) -> Hit:
    """A page of the forum found by a search API: its query is the quoted watched name."""
    write_source(
        sources_dir, "brave", "https://api.search.brave.com/res/v1/web/search", kind="brave"
    )
    now = datetime.now(UTC)
    hit = Hit(
        client_id="rms", source_id="brave", url=f"{BASE}/viewtopic.php?f=4&t=200",
        match_kind=MatchKind.NAME,
        matched_terms=(MatchedTerm("Richard Stallman", "Richard Stallman", "exact", 0, 16),),
        first_seen=now, last_seen=now, excerpt="Richard Stallman", score=1.0,
    )  # fmt: skip
    store.upsert([hit])
    add_hit_to_case(seeded.client, hit)
    decide(store, [hit.hit_id], Decision.CONFIRM, who="alice")
    return hit


def test_google_request_types_each_with_its_fields_and_the_queries_of_search_hits(
    confirmed, hit_store, settings
):
    case = confirmed.case
    searched = _search_hit(hit_store, confirmed, settings.BODYGUARD_SOURCES_DIR)
    ncii = _draft("google", google_type="ncii", not_consensual=True, search_query="rms photos")
    assert _missing(case, ncii, "google_type", "") == {"google_type"}
    assert _missing(case, ncii, "not_consensual", False) == {"not_consensual"}
    assert _missing(case, ncii, "search_query", "") == {"search_query"}
    doxxing = _draft(
        "google",
        google_type="doxxing",
        doxxing_kinds=["contact", "identity"],
        exposed_info="son numéro de téléphone et son adresse",
        search_query="rms adresse",
    )
    assert _missing(case, doxxing, "doxxing_kinds", []) == {"doxxing_kinds"}
    assert _missing(case, doxxing, "exposed_info", "") == {"exposed_info"}
    monitoring = _draft(
        "google", google_type="results_about_you", exposed_info="06 12 34 56 78", reasons=""
    )
    monitoring.search_query = "Richard Stallman"
    assert _missing(case, monitoring, "exposed_info", "") == {"exposed_info"}

    body = _create(hit_store, case, ncii).body
    assert "Type de demande : Images explicites ou intimes publiées sans consentement" in body
    # The query typed, and the one our search source sent to find its hit.
    assert "« rms photos »" in body and '« "Richard Stallman" »' in body
    assert "https://www.google.com/search?q=%22Richard+Stallman%22" in body
    assert "&tbm=isch" in body  # image results, since a hit is an image
    assert f"- {searched.url}" in body and f"- {BASE}/files/baboon.jpg" in body
    assert "déréférencement" in body
    dox = _create(hit_store, case, replace(doxxing, language="en")).body
    assert "PERSONAL INFORMATION EXPOSED" in dox and "identity numbers" in dox
    watch = _create(hit_store, case, monitoring)
    assert "Coordonnées à surveiller" in watch.body and "06 12 34 56 78" in watch.body
    assert watch.fields["google_type"] == "results_about_you"

    # Removal from search is delisting, tracked apart from removal at the source.
    assert send_notice(watch, who="alice", channel="other", detail="formulaire Google").ok
    assert set(CaseHit.objects.filter(case=case).values_list("delisting", flat=True)) == {
        "requested"
    }
    assert Case.objects.get(pk=case.pk).state == Case.State.CONFIRMED


def test_telegram_report_has_the_address_and_the_in_app_text_for_telegram_hits_only(
    confirmed, hit_store
):
    now = datetime.now(UTC)
    message = Hit(
        client_id="rms", source_id="tg-channels", url="https://t.me/somechannel/1234",
        match_kind=MatchKind.NAME,
        matched_terms=(MatchedTerm("Richard Stallman", "Richard Stallman", "exact", 0, 16),),
        first_seen=now, last_seen=now, excerpt="Richard Stallman", author="somechannel",
    )  # fmt: skip
    hit_store.upsert([message])
    entry = add_hit_to_case(confirmed.client, message)
    decide(hit_store, [message.hit_id], Decision.CONFIRM, who="alice")
    telegram_case = Case.objects.get(pk=entry.case_id)
    draft = _draft("telegram", hit_ids=[message.hit_id], recipient="Telegram")
    assert _missing(telegram_case, draft, "reasons", "") == {"reasons"}
    assert _missing(telegram_case, draft, "telegram_kind", "fax") == {"telegram_kind"}
    # The copyright address needs a signature, like a DMCA notice.
    assert _missing(telegram_case, draft, "telegram_kind", "dmca") == {
        "signatory",
        "signatory_capacity",
        "signature",
    }
    # Messages found elsewhere do not go to Telegram.
    forum = _draft("telegram", recipient="Telegram")
    actionable = [h for h in confirmed.case.hits.all() if h.actionable]
    assert "hit_ids" in validate(forum, confirmed.case, actionable)

    notice = _create(hit_store, telegram_case, draft)
    assert notice.recipient_email == "abuse@telegram.org"
    assert "https://t.me/somechannel/1234" in notice.body
    assert "TEXTE DU SIGNALEMENT DANS L'APPLICATION" in notice.body
    assert REASONS in notice.body


def test_pharos_sheet_is_copied_by_hand_then_recorded_with_who_and_the_reference(
    confirmed, hit_store, client
):
    client.force_login(make_user("bob", "reviewer"))
    case = confirmed.case
    page = client.get(f"/review/case/{case.pk}/pharos/").content.decode()
    assert page.count('class="pharos-entry"') == 2
    for field in ("Catégorie", "Date et heure de publication", "Où le contenu a été vu"):
        assert field in page
    assert f"{BASE}{TOPIC}#p453".replace("&", "&amp;") in page and "site web ou forum" in page
    assert "internet-signalement.gouv.fr" in page and '<form method="post" action="http' not in page

    ids = [confirmed.name_hit.hit_id]
    for field in ("filed_by", "reference"):
        filing = PharosFiling(ids, "harcelement", "Bob Dupont", "PHA-2026-123456")
        setattr(filing, field, "")
        assert set(record_pharos(hit_store, case, filing, who="bob")) == {field}  # type: ignore[arg-type]
    assert not Notice.objects.exists()

    response = client.post(
        f"/review/case/{case.pk}/pharos/",
        {"hit": ids, "category": "harcelement", "filed_by": "Bob Dupont", "reference": "PHA-2026-123456"},
    )  # fmt: skip
    notice = Notice.objects.get()
    assert response.status_code == 302 and response["Location"].endswith(f"/notice/{notice.pk}/")
    assert (
        notice.route == "pharos" and notice.sent_at is not None and notice.sent_by == "Bob Dupont"
    )
    assert notice.external_reference == "PHA-2026-123456"
    assert "Catégorie : Harcèlement, atteinte à la vie privée" in notice.body
    assert f"{BASE}{TOPIC}#p453" in notice.body and "#p454" not in notice.body
    [reference] = notice.responses.all()
    assert (reference.kind, reference.reference) == ("reference", "PHA-2026-123456")
    with pytest.raises(PermissionError):
        notice.save()
    # A report to the police does not tell the host anything: the case still waits on it.
    assert Case.objects.get(pk=case.pk).state == Case.State.CONFIRMED
    assert AuditEvent.objects.filter(action="notice_response", who="bob").exists()
