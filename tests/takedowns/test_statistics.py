"""Statistics for a trusted-flagger application and the annual report, on known cases."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from clients.models import Client
from takedowns import statistics
from takedowns.models import AuditEvent, Case, CaseTransition, Notice, NoticeResponse
from tests.takedowns.workbench import make_user

pytestmark = [pytest.mark.django_db]

K = NoticeResponse.Kind
R = Notice.Route
H = timedelta(hours=1)


def _case(host: str) -> Case:
    client, _ = Client.objects.get_or_create(
        reference="jeanne", defaults={"display_name": "Jeanne Dupont", "email": "j@example.org"}
    )
    return Case.objects.create(client=client, client_reference="jeanne", host=host)


def _sent(case: Case, route: str, sent_at: datetime, *answers: tuple[str, timedelta]) -> Notice:
    notice = Notice.objects.create(
        case=case, route=route, recipient=case.host, subject="s", body="https://x/jeanne",
        created_by="alice", sent_at=sent_at, sent_by="alice", sent_channel="email",
    )  # fmt: skip
    for kind, after in answers:
        NoticeResponse.objects.create(
            notice=notice, kind=kind, at=sent_at + after, recorded_by="alice"
        )
    return notice


def _removed(case: Case, at: datetime) -> None:
    t = CaseTransition.objects.create(
        case=case, from_state="notice_sent", to_state="removed", who="re-check", reason="gone"
    )
    CaseTransition.objects.filter(pk=t.pk).update(at=at)


@pytest.fixture
def seeded() -> None:
    """2026: five notices sent to two providers; one more on New Year's night 2025 in Paris."""
    jan10 = datetime(2026, 1, 10, 10, tzinfo=UTC)
    videos_1 = _case("videos.example")
    _sent(videos_1, R.TAKE_IT_DOWN, jan10, (K.ACKNOWLEDGED, 2 * H), (K.ACCEPTED, 24 * H))
    _removed(videos_1, jan10 + 48 * H)  # the accepted answer came first: 24 hours
    videos_2 = _case("videos.example")
    jan20 = datetime(2026, 1, 20, 10, tzinfo=UTC)
    _sent(videos_2, R.TAKE_IT_DOWN, jan20, (K.REFUSED, 30 * H))
    forum = _case("forum.example")
    feb1 = datetime(2026, 2, 1, 10, tzinfo=UTC)
    _sent(forum, R.DSA_16, feb1)
    _removed(forum, feb1 + 72 * H)  # no answer, removed 72 hours later
    # Sent after that removal: it does not count for this one.
    _sent(forum, R.DSA_16, datetime(2026, 2, 5, 10, tzinfo=UTC), (K.PARTIAL, 10 * H))
    _sent(_case("forum.example"), R.LCEN_6, datetime(2026, 2, 10, 10, tzinfo=UTC))
    _sent(
        _case("old.example"),
        R.DSA_16,
        datetime(2025, 1, 1, 0, 30, tzinfo=ZoneInfo("Europe/Paris")),
        (K.NO_ANSWER, 200 * H),
    )
    Notice.objects.create(
        case=forum, route=R.DSA_20, recipient="x", subject="s", body="b", created_by="alice"
    )  # a draft: not sent, not counted


def test_figures_of_a_year(seeded):
    report = statistics.compute(2026)
    t = report.total
    assert (t.sent, t.decided, t.accepted, t.partial, t.refused, t.removed) == (5, 3, 1, 1, 1, 2)
    assert t.acceptance_rate == pytest.approx(2 / 3)
    assert t.median_hours_to_removal == pytest.approx(48.0)  # median of 24 h and 72 h
    videos = report.by_provider[("videos.example", R.TAKE_IT_DOWN)]
    assert (videos.sent, videos.decided, videos.refused, videos.removed) == (2, 2, 1, 1)
    assert videos.acceptance_rate == pytest.approx(0.5)
    assert videos.median_hours_to_removal == pytest.approx(24.0)
    dsa = report.by_provider[("forum.example", R.DSA_16)]
    assert (dsa.sent, dsa.decided, dsa.partial, dsa.removed) == (2, 1, 1, 1)
    assert dsa.acceptance_rate == 1.0 and dsa.median_hours_to_removal == pytest.approx(72.0)
    lcen = report.by_provider[("forum.example", R.LCEN_6)]
    assert (lcen.sent, lcen.decided, lcen.acceptance_rate, lcen.median_hours_to_removal) == (
        1, 0, None, None,
    )  # fmt: skip
    assert {m: (f.sent, f.accepted, f.refused, f.removed) for m, f in report.by_month.items()} == {
        "2026-01": (2, 1, 1, 1),
        "2026-02": (3, 0, 0, 1),
    }
    # Half past midnight on New Year's Day in Paris is 2025, though still 2024 in UTC.
    old = statistics.compute(2025)
    assert old.total.sent == 1 and list(old.by_month) == ["2025-01"]
    assert statistics.compute().total.sent == 6
    assert statistics.years() == [2026, 2025]


def test_the_page_and_the_csv_export_carry_no_personal_data(client, seeded):
    client.force_login(make_user("alice", "reviewer"))
    page = client.get("/review/statistics/?year=2026")
    assert page.status_code == 200
    html = page.content.decode()
    assert "66,7 %" in html and "48,0 h" in html
    response = client.get("/review/statistics.csv?year=2026")
    assert response["Content-Type"].startswith("text/csv")
    assert 'filename="bodyguard-statistics-2026.csv"' in response["Content-Disposition"]
    text = response.content.decode()
    rows = list(csv.DictReader(io.StringIO(text)))
    total = next(r for r in rows if r["scope"] == "total")
    assert total["sent"] == "5" and total["acceptance_rate"] == "0.67"
    assert total["median_hours_to_removal"] == "48.00" and total["refused"] == "1"
    provider = next(
        r for r in rows if r["scope"] == "provider" and r["provider"] == "videos.example"
    )
    assert (provider["route"], provider["sent"], provider["acceptance_rate"]) == (
        "takeitdown", "2", "0.50",
    )  # fmt: skip
    assert [r["month"] for r in rows if r["scope"] == "month"] == ["2026-01", "2026-02"]
    for personal in ("jeanne", "Jeanne", "alice", "https://"):
        assert personal not in text and personal not in html.split("<main>")[1]
    export = AuditEvent.objects.get(action="export_statistics")
    assert export.who == "alice" and "2026" in export.detail


def test_a_provider_name_is_never_a_spreadsheet_formula():
    report = statistics.Report(None)
    report.by_provider[("=cmd|calc", R.DSA_16)] = statistics.Figures(sent=1)
    assert "'=cmd|calc" in statistics.to_csv(report)
