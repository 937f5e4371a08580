""" "À traiter": every sent notice's clock, overdue first, then answers, due today, later."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from clients.models import Client
from takedowns import clocks
from takedowns.clocks import Bucket
from takedowns.models import AuditEvent, Case, CaseHit, Notice, NoticeResponse
from takedowns.recheck import RecheckReport, _move_case
from tests.takedowns.workbench import make_user

pytestmark = [pytest.mark.django_db]

PARIS = ZoneInfo("Europe/Paris")


def _case(host: str, state: str = Case.State.NOTICE_SENT, **extra) -> Case:
    client, _ = Client.objects.get_or_create(
        reference="jeanne", defaults={"display_name": "Jeanne Dupont", "email": "j@example.org"}
    )
    return Case.objects.create(
        client=client, client_reference="jeanne", host=host, state=state, **extra
    )


def _sent(case: Case, route: str, sent_at: datetime, **extra) -> Notice:
    """A notice as send_notice leaves it: sent, with the route's deadline."""
    return Notice.objects.create(
        case=case,
        route=route,
        recipient=case.host,
        subject="Notification",
        body="...",
        created_by="alice",
        sent_at=sent_at,
        sent_by="alice",
        sent_channel=Notice.Channel.EMAIL,
        due_at=clocks.deadline_for(route, sent_at),
        **extra,
    )


def _answer(notice: Notice, kind: str, at: datetime) -> NoticeResponse:
    return NoticeResponse.objects.create(notice=notice, kind=kind, at=at, recorded_by="alice")


def test_the_48_hour_take_it_down_clock_moves_a_case_into_overdue(client):
    alice = make_user("alice", "reviewer")
    now = datetime.now(UTC)
    sent = now - timedelta(hours=49)
    late = _sent(_case("videos.example"), Notice.Route.TAKE_IT_DOWN, sent)
    # Sent as long ago under DSA article 16: its clock (7 days) still runs.
    running = _sent(_case("forum.example"), Notice.Route.DSA_16, sent)
    assert late.due_at == sent + timedelta(hours=48)
    assert clocks.overdue(late, now) and not clocks.overdue(running, now)
    client.force_login(alice)
    page = client.get("/review/todo/")
    assert page.status_code == 200
    groups = {g["bucket"]: [i.notice for i in g["items"]] for g in page.context["groups"]}
    assert groups[Bucket.OVERDUE] == [late]
    assert groups[Bucket.LATER] == [running]
    html = page.content.decode()
    assert html.index(f'data-notice="{late.pk}"') < html.index(f'data-notice="{running.pk}"')
    assert "48 heures écoulées" in html
    assert AuditEvent.objects.filter(action="view_todo", who="alice").exists()


def test_a_take_it_down_notice_is_not_overdue_before_48_hours():
    now = datetime.now(UTC)
    sent = now - timedelta(hours=47)
    notice = _sent(_case("videos.example"), Notice.Route.TAKE_IT_DOWN, sent)
    [item] = clocks.open_items(now)
    assert item.notice == notice and item.bucket in {Bucket.TODAY, Bucket.LATER}
    # A notice sent before due_at existed gets the same clock from its sending time.
    Notice.objects.filter(pk=notice.pk).update(due_at=None)
    [item] = clocks.open_items(now + timedelta(hours=2))
    assert item.bucket == Bucket.OVERDUE and item.due == sent + timedelta(hours=48)


def test_overdue_then_answers_then_due_today_then_later_in_paris_days():
    now = datetime(2026, 12, 4, 10, 0, tzinfo=PARIS)
    week = timedelta(days=7)  # BODYGUARD_NOTICE_REMINDER_DAYS in tests
    tid = Notice.Route.TAKE_IT_DOWN
    overdue = _sent(_case("a.example"), tid, now - timedelta(hours=50))
    # Due at 23:30 in Paris (22:30 UTC): still today for the team.
    tonight = _sent(_case("b.example"), tid, datetime(2026, 12, 2, 23, 30, tzinfo=PARIS))
    noon = _sent(_case("c.example"), Notice.Route.DSA_16, datetime(2026, 11, 27, 12, tzinfo=PARIS))
    # Due at 00:30 tomorrow in Paris (23:30 UTC today): tomorrow.
    after_midnight = _sent(_case("d.example"), tid, datetime(2026, 12, 3, 0, 30, tzinfo=PARIS))
    refused = _sent(_case("e.example", Case.State.REFUSED), Notice.Route.DSA_16, now - week * 2)
    _answer(refused, NoticeResponse.Kind.ACKNOWLEDGED, now - week * 2 + timedelta(hours=1))
    _answer(refused, NoticeResponse.Kind.REFUSED, now - week)
    items = clocks.open_items(now)
    assert [(i.notice, i.bucket) for i in items] == [
        (overdue, Bucket.OVERDUE),
        (refused, Bucket.ANSWERED),
        (noon, Bucket.TODAY),
        (tonight, Bucket.TODAY),
        (after_midnight, Bucket.LATER),
    ]
    assert items[1].next_step == "Rédiger la réclamation de l'article 20"


def test_a_decision_or_a_sent_follow_up_ends_a_clock_and_a_resent_notice_replaces_it():
    now = datetime.now(UTC)
    case = _case("forum.example")
    first = _sent(case, Notice.Route.DSA_16, now - timedelta(days=20))
    again = _sent(case, Notice.Route.DSA_16, now - timedelta(days=9))
    [item] = clocks.open_items(now)
    assert item.notice == again and item.bucket == Bucket.OVERDUE
    _answer(again, NoticeResponse.Kind.ACKNOWLEDGED, now - timedelta(days=8))
    assert clocks.open_items(now)[0].bucket == Bucket.OVERDUE  # a receipt is no decision
    _answer(again, NoticeResponse.Kind.NO_ANSWER, now - timedelta(days=1))
    [item] = clocks.open_items(now)
    assert item.bucket == Bucket.ANSWERED and "article 20" in item.next_step
    complaint = Notice.objects.create(
        case=case, route=Notice.Route.DSA_20, parent=again, recipient="x", subject="s",
        body="b", created_by="alice",
    )  # fmt: skip
    [item] = clocks.open_items(now)
    assert item.draft == complaint and item.notice == again
    Notice.objects.filter(pk=complaint.pk).update(
        sent_at=now, due_at=clocks.deadline_for(Notice.Route.DSA_20, now)
    )
    [item] = clocks.open_items(now)
    assert item.notice == complaint and item.bucket == Bucket.LATER
    assert first not in [i.notice for i in clocks.open_items(now)]


def test_closed_and_removed_cases_have_no_clock():
    now = datetime.now(UTC)
    for state in (Case.State.CLOSED, Case.State.REMOVED):
        _sent(_case(f"{state}.example", state), Notice.Route.TAKE_IT_DOWN, now - timedelta(days=3))
    assert clocks.open_items(now) == []


def test_the_cases_list_reminder_follows_the_same_clock(client):
    now = datetime.now(UTC)
    tid = _case("videos.example")
    _sent(tid, Notice.Route.TAKE_IT_DOWN, now - timedelta(hours=49))
    dsa = _case("forum.example")
    _sent(dsa, Notice.Route.DSA_16, now - timedelta(hours=49))
    assert clocks.reminder_due(tid, now) and not clocks.reminder_due(dsa, now)
    client.force_login(make_user("alice", "reviewer"))
    rows = {r["case"].pk: r["reminder"] for r in client.get("/review/cases/").context["rows"]}
    assert rows == {tid.pk: True, dsa.pk: False}


def test_a_decision_stops_the_reminder():
    now = datetime.now(UTC)
    case = _case("videos.example")
    notice = _sent(case, Notice.Route.TAKE_IT_DOWN, now - timedelta(hours=49))
    assert clocks.reminder_due(case, now)
    _answer(notice, NoticeResponse.Kind.ACKNOWLEDGED, now - timedelta(hours=40))
    assert clocks.reminder_due(case, now)
    _answer(notice, NoticeResponse.Kind.REFUSED, now - timedelta(hours=1))
    assert not clocks.reminder_due(case, now) and not clocks.overdue(notice, now)


def test_counts_per_reviewer_and_filters(client):
    alice, bob = make_user("alice", "reviewer"), make_user("bob", "reviewer")
    make_user("sam", "staff")
    now = datetime.now(UTC)
    tid = Notice.Route.TAKE_IT_DOWN
    _sent(_case("a.example", assigned_to=alice), tid, now - timedelta(hours=60))
    _sent(_case("b.example", assigned_to=alice), Notice.Route.DSA_16, now - timedelta(days=1))
    _case("c.example", Case.State.CONFIRMED, assigned_to=bob)
    _case("d.example", Case.State.CLOSED, assigned_to=bob)
    _sent(_case("e.example"), tid, now - timedelta(hours=50))
    client.force_login(bob)
    page = client.get("/review/todo/")
    counts = {r["username"]: (r["open_cases"], r["overdue"]) for r in page.context["per_reviewer"]}
    assert counts == {"alice": (2, 1), "bob": (1, 0), "": (1, 1)}
    only_alice = client.get("/review/todo/?who=alice").context["groups"]
    assert sum(len(g["items"]) for g in only_alice) == 2
    mine = client.get("/review/todo/?who=me").context["groups"]
    assert sum(len(g["items"]) for g in mine) == 0
    unassigned = client.get("/review/todo/?who=none").context["groups"]
    assert [i.case.host for g in unassigned for i in g["items"]] == ["e.example"]
    by_route = client.get(f"/review/todo/?route={tid}").context["groups"]
    assert {i.notice.route for g in by_route for i in g["items"]} == {tid}
    assert sum(len(g["items"]) for g in by_route) == 2


def test_staff_cannot_see_the_todo_list(client):
    client.force_login(make_user("sam", "staff"))
    assert client.get("/review/todo/").status_code == 403


@pytest.mark.parametrize(("hours", "reminded"), [(47, False), (49, True)])
def test_the_recheck_reminds_a_take_it_down_platform_on_the_same_48_hour_clock(hours, reminded):
    now = datetime.now(UTC)
    case = _case("videos.example")
    case.hits.create(
        hit_id="a" * 40, url="https://videos.example/v/1", review_status="confirmed",
        source_status=CaseHit.SourceStatus.PRESENT,
    )  # fmt: skip
    _sent(case, Notice.Route.TAKE_IT_DOWN, now - timedelta(hours=hours))
    report = RecheckReport()
    _move_case(case, now, report, checked={case.hits.get().pk})
    assert report.reminders == ([case.pk] if reminded else [])
    case.refresh_from_db()
    assert case.state == (Case.State.NO_RESPONSE if reminded else Case.State.NOTICE_SENT)
