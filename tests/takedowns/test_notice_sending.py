"""A notice is frozen as sent only once a mail server has accepted it, and a bad address is a
clear error, never a server error that leaves a notice marked as sent."""

from __future__ import annotations

import asyncio

import pytest
from aiosmtpd.controller import Controller
from django.db import connection

from demo.smtp_sink import MailSink, free_port
from takedowns.models import Case, Notice
from tests.takedowns import test_notices
from tests.takedowns.test_notices import _notice
from tests.takedowns.workbench import make_user

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.elasticsearch]

confirmed = test_notices.confirmed  # the fixture: a case with confirmed hits
INJECTED = "abuse@myoos.example\r\nBcc: someone@elsewhere.example"


class _Refusing(MailSink):
    """Refuses the recipient, after looking at what the database says meanwhile."""

    seen_while_sending: list[object]

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options) -> str:
        self.seen_while_sending = await asyncio.get_running_loop().run_in_executor(
            None, _sent_at_of_every_notice
        )
        return "550 5.7.1 Relaying denied"


def _sent_at_of_every_notice() -> list[object]:
    try:
        return list(Notice.objects.values_list("sent_at", flat=True))
    finally:
        connection.close()


@pytest.fixture
def reviewer(client):
    client.force_login(make_user("rev", "reviewer"))
    return client


def _form(confirmed, **fields) -> dict:
    return {
        "route": "dsa16",
        "language": "fr",
        "hit": [confirmed.name_hit.hit_id, confirmed.photo_hit.hit_id],
        "reasons": "Ces messages publient le nom de la personne avec des propos injurieux "
        "répétés et une photo d'elle diffusée sans son consentement.",
        "recipient": "MyOOS Hosting",
        "good_faith": "on",
        **fields,
    }


def test_an_address_with_a_line_break_is_a_form_error_and_no_notice(reviewer, confirmed):
    response = reviewer.post(
        f"/review/case/{confirmed.case.pk}/notice/", _form(confirmed, recipient_email=INJECTED)
    )
    assert response.status_code == 400
    assert "pas une adresse e-mail valide" in response.content.decode()
    assert not Notice.objects.exists()


def test_a_stored_draft_with_a_bad_address_stays_a_draft_with_the_error_shown(
    reviewer,
    confirmed,
    hit_store,
    mailbox,
):
    notice = _notice(hit_store, confirmed, "dsa16")
    Notice.objects.filter(pk=notice.pk).update(recipient_email=INJECTED)  # an older draft
    response = reviewer.post(f"/review/notice/{notice.pk}/send/", {"channel": "email"}, follow=True)
    assert response.status_code == 200
    assert "pas une adresse e-mail valide" in response.content.decode()
    notice.refresh_from_db()
    assert notice.sent_at is None and notice.sent_channel == ""
    assert mailbox.messages == []
    assert Case.objects.get(pk=confirmed.case.pk).state == Case.State.CONFIRMED


def test_a_notice_the_mail_server_refuses_stays_a_draft(reviewer, confirmed, hit_store, settings):
    refusing = _Refusing()
    controller = Controller(refusing, hostname="127.0.0.1", port=free_port())
    controller.start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", controller.port
    try:
        notice = _notice(hit_store, confirmed, "dsa16")
        response = reviewer.post(
            f"/review/notice/{notice.pk}/send/", {"channel": "email"}, follow=True
        )
    finally:
        controller.stop()
    page = response.content.decode()
    assert refusing.seen_while_sending == [None]  # not marked as sent before it is accepted
    assert "Relaying denied" in page and "brouillon" in page
    notice.refresh_from_db()
    assert notice.sent_at is None and notice.message_id == ""
    assert Case.objects.get(pk=confirmed.case.pk).state == Case.State.CONFIRMED


def test_a_notice_the_mail_server_accepts_is_frozen_as_sent(
    reviewer, confirmed, hit_store, mailbox
):
    notice = _notice(hit_store, confirmed, "dsa16")
    reviewer.post(f"/review/notice/{notice.pk}/send/", {"channel": "email"})
    notice.refresh_from_db()
    assert notice.sent_at is not None and notice.sent_by == "rev"
    assert [m["Message-ID"] for m in mailbox.messages] == [notice.message_id]
