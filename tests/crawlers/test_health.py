from datetime import UTC, datetime, timedelta

import pytest

from crawlers.health import alert_staff_if_failing
from crawlers.models import CrawlRun

pytestmark = pytest.mark.django_db


def _run(status: str, minutes: int) -> None:
    CrawlRun.objects.create(
        source_id="forum", kind="phpbb", status=status, message=f"{status} {minutes}",
        started_at=datetime(2026, 11, 1, tzinfo=UTC) + timedelta(minutes=minutes),
    )  # fmt: skip


def test_staff_are_told_once_at_the_third_failure_in_a_row(settings, mailbox):
    settings.BODYGUARD_STAFF_EMAILS = ["veille@sos.example"]
    _run("ok", 0)
    sent = []
    for minute, status in enumerate(["failed", "blocked", "timeout", "failed"], start=1):
        _run(status, minute)
        sent.append(alert_staff_if_failing("forum"))
    assert sent == [False, False, True, False]
    [message] = mailbox.messages
    assert message["To"] == "veille@sos.example"
    assert "forum" in message["Subject"] and "3" in message["Subject"]
    body = message.get_content()
    assert "blocked 2" in body and "timeout 3" in body and "failed 1" in body


def test_a_success_resets_the_streak(settings, mailbox):
    settings.BODYGUARD_STAFF_EMAILS = ["veille@sos.example"]
    for minute, status in enumerate(["failed", "failed", "ok", "failed", "failed"]):
        _run(status, minute)
        assert alert_staff_if_failing("forum") is False
    assert mailbox.messages == []
