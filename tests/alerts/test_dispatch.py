"""Client emails: what they say, when they go, and that each alert goes exactly once."""

from __future__ import annotations

import asyncio
import re
import threading
from datetime import UTC, datetime, timedelta

import pytest
from aiosmtpd.controller import Controller
from django.db import connection

from alerts.models import Alert, Delivery
from alerts.services import dispatch_pending, render_alert_email, retry_delay
from clients.models import Client
from demo.smtp_sink import MailSink, free_port, start_sink
from hits.documents import Severity
from tests.conftest import write_source

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def sources(settings, tmp_path):
    """The sites the alerts below come from, as configured (emails name them from here)."""
    settings.BODYGUARD_SOURCES_DIR = tmp_path
    for host in ("forum.example.org", "other.example.net"):
        write_source(tmp_path, host.split(".")[0], f"https://{host}/")


def _client(**kw) -> Client:
    defaults = {
        "reference": "jeanne",
        "display_name": "Jeanne Dupont",
        "email": "jeanne@example.org",
    }
    return Client.objects.create(**(defaults | kw))


def _alert(
    client: Client, n: int, host: str = "forum.example.org", severity: int = Severity.HIGH
) -> Alert:
    return Alert.objects.create(
        client=client,
        hit_id=f"h{n}",
        source_id=host.split(".")[0],
        host=host,
        url=f"https://{host}/t/{n}#p{n}",
        match_kind="name",
        severity=severity,
        hit_first_seen=datetime.now(UTC),
    )


def _smtp(settings, port: int) -> None:
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = port


def test_english_clients_get_english_email_with_counts_and_sites_only():
    client = _client(language="en")
    alerts = [_alert(client, 1), _alert(client, 2, "other.example.net", Severity.LOW)]
    subject, body = render_alert_email(client, alerts)
    assert subject == "Your SOS Cyber-harcèlement monitoring: 2 new posts are being handled"
    assert "Hello Jeanne Dupont" in body
    assert "2 new posts" in body and "forum.example.org, other.example.net" in body
    assert "1 clearly matches you; for the other one" in body
    assert "/t/1" not in body and "/t/2" not in body
    assert "does not reproduce any content" in body


def test_french_is_the_default_and_handles_one_publication():
    client = _client()
    subject, body = render_alert_email(client, [_alert(client, 1)])
    assert (
        subject
        == "Votre veille SOS Cyber-harcèlement : une nouvelle publication est prise en charge"
    )
    assert "une nouvelle publication qui pourrait vous concerner" in body
    assert "3018" in body


def test_clients_who_chose_detailed_alerts_get_the_addresses():
    client = _client(alert_detail="detailed")
    _subject, body = render_alert_email(client, [_alert(client, 1), _alert(client, 2)])
    assert "https://forum.example.org/t/1#p1" in body and "https://forum.example.org/t/2#p2" in body
    assert "elles sont raccourcies" in body


def test_every_email_links_to_the_preferences_page_which_changes_them(client, settings):
    settings.BODYGUARD_SITE_URL = "https://veille.example.org"
    person = _client()
    _subject, body = render_alert_email(person, [_alert(person, 1)])
    link = re.search(r"https://veille\.example\.org(/preferences/[^/\s]+/)", body)
    assert link, body
    page = client.get(link.group(1))
    assert page.status_code == 200 and "Vos préférences" in page.content.decode()
    saved = client.post(
        link.group(1),
        {"alert_preference": "daily_digest", "alert_detail": "detailed", "language": "en"},
    )
    assert "Your preferences are saved." in saved.content.decode()
    person.refresh_from_db()
    assert (person.alert_preference, person.alert_detail, person.language) == (
        "daily_digest",
        "detailed",
        "en",
    )
    tampered = link.group(1).replace(":", "x", 1)
    assert client.get(tampered).status_code == 404


def test_smtp_down_keeps_alerts_pending_then_delivers_each_exactly_once(settings):
    _smtp(settings, free_port())
    client = _client()
    _alert(client, 1)
    _alert(client, 2)
    start = datetime.now(UTC)

    down = dispatch_pending(now=start)

    assert down.emails_sent == 0 and len(down.failures) == 1
    assert set(Alert.objects.values_list("status", flat=True)) == {Alert.Status.PENDING}
    delivery = Delivery.objects.get()
    assert delivery.attempts == 1 and delivery.last_error
    assert delivery.next_attempt_at == start + retry_delay(1)

    controller, sink = start_sink(settings.EMAIL_PORT)
    try:
        too_early = dispatch_pending(now=start + timedelta(seconds=10))
        up = dispatch_pending(now=start + retry_delay(1))
        again = dispatch_pending(now=start + timedelta(hours=2))
    finally:
        controller.stop()
    assert too_early.emails_sent == 0  # backoff: not before the retry time
    assert up.emails_sent == 1 and up.alerts_sent == 2
    assert again.emails_sent == 0
    assert len(sink.messages) == 1
    assert sink.messages[0]["Message-ID"] == delivery.message_id
    assert set(Alert.objects.values_list("status", flat=True)) == {Alert.Status.SENT}
    assert Delivery.objects.count() == 1


def test_retries_back_off_up_to_an_hour():
    assert retry_delay(1) == timedelta(minutes=1)
    assert retry_delay(2) == timedelta(minutes=2)
    assert retry_delay(5) == timedelta(minutes=16)
    assert retry_delay(30) == timedelta(hours=1)


def test_a_failed_email_keeps_its_alerts_and_new_ones_go_in_another(settings, mailoutbox):
    client = _client()
    _alert(client, 1)
    _smtp(settings, free_port())  # the first attempt dies before anything is sent
    dispatch_pending()
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    _alert(client, 2)  # arrives meanwhile: it goes in a new email, not into the first

    dispatch_pending(now=datetime.now(UTC) + timedelta(hours=1))

    assert len(mailoutbox) == 2
    assert sorted(len(d.alerts.all()) for d in Delivery.objects.all()) == [1, 1]
    assert len({m.extra_headers["Message-ID"] for m in mailoutbox}) == 2
    assert set(Alert.objects.values_list("status", flat=True)) == {Alert.Status.SENT}


def test_strong_matches_go_at_once_and_the_rest_waits_for_the_digest(mailoutbox):
    client = _client()
    _alert(client, 1, severity=Severity.CRITICAL)
    _alert(client, 2, severity=Severity.LOW)

    now = dispatch_pending()
    assert now.emails_sent == 1 and now.alerts_sent == 1
    assert Alert.objects.get(hit_id="h2").status == Alert.Status.PENDING

    digest = dispatch_pending(digest=True)
    assert digest.emails_sent == 1 and digest.alerts_sent == 1
    assert mailoutbox[1].subject.startswith("Résumé de votre veille")
    assert "Rien n'indique encore avec certitude" in mailoutbox[1].body


def test_digest_clients_wait_for_the_daily_digest(mailoutbox):
    client = _client(alert_preference="daily_digest")
    _alert(client, 1, severity=Severity.CRITICAL)
    assert dispatch_pending().emails_sent == 0
    assert dispatch_pending(digest=True).emails_sent == 1
    assert mailoutbox[0].to == ["jeanne@example.org"]


class _SlowSink(MailSink):
    """A relay that takes its time: overlapping dispatchers really overlap."""

    async def handle_DATA(self, server, session, envelope) -> str:
        await asyncio.sleep(0.3)
        return await super().handle_DATA(server, session, envelope)


@pytest.mark.django_db(transaction=True)
def test_overlapping_dispatchers_send_every_alert_exactly_once(settings):
    sink = _SlowSink()
    controller = Controller(sink, hostname="127.0.0.1", port=free_port())
    controller.start()
    _smtp(settings, controller.port)
    for n in range(3):
        person = _client(reference=f"c{n}", email=f"c{n}@example.org")
        _alert(person, 2 * n, severity=Severity.CRITICAL)
        _alert(person, 2 * n + 1, severity=Severity.CRITICAL)
    now = datetime.now(UTC)
    start = threading.Barrier(2)
    reports = []

    def job(digest: bool) -> None:
        try:
            start.wait()
            reports.append(dispatch_pending(digest=digest, now=now))
        finally:
            connection.close()

    threads = [threading.Thread(target=job, args=(digest,)) for digest in (False, True)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
    finally:
        controller.stop()
    assert len(reports) == 2
    assert sorted(m["To"] for m in sink.messages) == [f"c{n}@example.org" for n in range(3)]
    assert sum(r.emails_sent for r in reports) == 3
    assert sum(r.alerts_sent for r in reports) == 6
    assert set(Alert.objects.values_list("status", flat=True)) == {Alert.Status.SENT}
