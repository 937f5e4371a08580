"""No notice goes in her name without her mandate (issue 13): drafted, sent and packed with it."""

from __future__ import annotations

import io
import zipfile
from datetime import UTC, datetime

import pytest

from clients.models import Mandate, Scope
from takedowns.evidence import export_case
from takedowns.models import Notice
from takedowns.notices import create_notice, send_notice
from tests.takedowns.test_notices import _draft, _notice, confirmed
from tests.takedowns.workbench import give_mandate

pytestmark = [pytest.mark.django_db(transaction=True)]
__all__ = ["confirmed"]


def _revoke(client) -> None:
    Mandate.objects.filter(client=client).update(revoked_at=datetime.now(UTC))


def test_a_notice_says_whose_mandate_it_acts_under(confirmed, hit_store):
    notice = _notice(hit_store, confirmed, "dsa16")
    mandate = Mandate.objects.get(client=confirmed.client)
    assert "Agissant pour le compte de Richard Stallman en vertu d'un mandat du" in notice.body
    assert notice.fields["mandate_id"] == mandate.pk


def test_no_notice_is_drafted_without_a_valid_mandate(confirmed, hit_store):
    _revoke(confirmed.client)
    result = create_notice(hit_store, confirmed.case, _draft("dsa16"), who="alice")
    assert isinstance(result, dict)
    assert "mandat" in result["mandate"].lower()
    assert not Notice.objects.exists()


def test_a_mandate_revoked_after_the_draft_stops_the_sending(confirmed, hit_store, mailbox):
    notice = _notice(hit_store, confirmed, "dsa16")
    _revoke(confirmed.client)
    result = send_notice(notice, who="alice", channel="email")
    assert not result.ok
    assert "rien n'a été envoyé" in str(result.message).lower()
    notice.refresh_from_db()
    assert notice.sent_at is None and mailbox.messages == []


def test_each_route_needs_the_scope_it_acts_in(confirmed, hit_store):
    _revoke(confirmed.client)
    give_mandate(confirmed.client, scopes=(Scope.REMOVAL_NOTICES,))
    google = create_notice(
        hit_store,
        confirmed.case,
        _draft("google", google_type="explicit", search_query="Richard Stallman"),
        who="alice",
    )
    assert isinstance(google, dict) and "mandate" in google
    assert isinstance(_notice(hit_store, confirmed, "dsa16"), Notice)


def test_her_mandate_is_in_the_case_pack(confirmed, hit_store):
    pack = zipfile.ZipFile(io.BytesIO(export_case(confirmed.case.pk, who="alice")))
    mandate = Mandate.objects.get(client=confirmed.client)
    text = pack.read(f"mandat/mandat-{mandate.pk}.txt").decode()
    assert "Signature (tapée) : Richard Stallman" in text
