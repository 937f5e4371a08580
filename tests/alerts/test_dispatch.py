from datetime import UTC, datetime

import pytest

from alerts.models import Alert
from alerts.services import dispatch_pending, render_alert_email
from clients.models import Client
from demo.smtp_sink import free_port, start_sink

pytestmark = pytest.mark.django_db


def _client(**kw) -> Client:
    defaults = {
        "reference": "jeanne",
        "display_name": "Jeanne Dupont",
        "email": "jeanne@example.org",
    }
    return Client.objects.create(**(defaults | kw))


def _alert(client: Client, n: int, host: str = "forum.example.org") -> Alert:
    return Alert.objects.create(
        client=client,
        hit_id=f"h{n}",
        source_id="s",
        host=host,
        match_kind="name",
        hit_first_seen=datetime.now(UTC),
    )


def test_english_clients_get_english_email_with_counts_and_sites_only():
    client = _client(language="en")
    alerts = [_alert(client, 1), _alert(client, 2, "other.example.net")]
    subject, body = render_alert_email(client, alerts)
    assert subject == "Your SOS Cyber-harcèlement monitoring: 2 new posts are being handled"
    assert "Hello Jeanne Dupont" in body
    assert "2 new posts" in body and "forum.example.org, other.example.net" in body
    assert "http" not in body


def test_french_is_the_default_and_handles_one_publication():
    client = _client()
    subject, body = render_alert_email(client, [_alert(client, 1)])
    assert (
        subject
        == "Votre veille SOS Cyber-harcèlement : une nouvelle publication est prise en charge"
    )
    assert "une nouvelle publication qui pourrait vous concerner" in body
    assert "3018" in body


def test_smtp_down_keeps_alerts_pending_then_delivers_each_once(settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = free_port()
    client = _client()
    _alert(client, 1)
    _alert(client, 2)

    down = dispatch_pending()

    assert down.emails_sent == 0 and len(down.failures) == 1
    assert set(Alert.objects.values_list("status", "attempts")) == {(Alert.Status.PENDING, 1)}
    assert Alert.objects.first().last_error

    controller, sink = start_sink(settings.EMAIL_PORT)
    try:
        up = dispatch_pending()
        again = dispatch_pending()
    finally:
        controller.stop()
    assert up.emails_sent == 1 and up.alerts_sent == 2
    assert again.emails_sent == 0
    assert len(sink.messages) == 1
    assert set(Alert.objects.values_list("status", flat=True)) == {Alert.Status.SENT}


def test_digest_clients_wait_for_the_daily_digest(mailoutbox):
    client = _client(alert_preference="daily_digest")
    _alert(client, 1)
    assert dispatch_pending().emails_sent == 0
    assert dispatch_pending(digest=True).emails_sent == 1
    assert mailoutbox[0].to == ["jeanne@example.org"]
