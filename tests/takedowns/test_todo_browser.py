"""A reviewer's day in a real browser: "À traiter" shows an overdue TAKE IT DOWN notice; she
opens it, records the platform's answer, takes the case and notes the phone call."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from playwright.sync_api import Page, expect

from clients.models import Client
from takedowns import clocks
from takedowns.models import AuditEvent, Case, CaseNote, Notice, NoticeResponse
from tests.takedowns.conftest import ARTIFACTS
from tests.takedowns.workbench import PASSWORD, give_mandate, make_user

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _shot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"todo-{name}.png"), full_page=True)


def _sent(case: Case, route: str, sent_at: datetime) -> Notice:
    """As send_notice leaves a notice: sent, its deadline set from its route."""
    return Notice.objects.create(
        case=case, route=route, recipient=case.host, recipient_email=f"abuse@{case.host}",
        subject="Removal request", body="...", created_by="bob", sent_at=sent_at, sent_by="bob",
        sent_channel=Notice.Channel.EMAIL, due_at=clocks.deadline_for(route, sent_at),
    )  # fmt: skip


def test_a_reviewer_handles_an_overdue_take_it_down_notice_from_to_do(page, live_server, isolated):
    make_user("alice", "reviewer")
    make_user("bob", "reviewer")
    client = Client.objects.create(
        reference="jeanne", display_name="Jeanne Dupont", email="j@example.org"
    )
    give_mandate(client)
    now = datetime.now(UTC)
    tube = Case.objects.create(
        client=client, client_reference="jeanne", host="tube.example", state="notice_sent"
    )
    late = _sent(tube, Notice.Route.TAKE_IT_DOWN, now - timedelta(hours=49))
    forum = Case.objects.create(
        client=client, client_reference="jeanne", host="forum.example", state="notice_sent"
    )
    waiting = _sent(forum, Notice.Route.DSA_16, now - timedelta(days=1))

    base = live_server.url
    page.goto(f"{base}/")
    page.fill("#id_username", "alice")
    page.fill("#id_password", PASSWORD)
    page.click("#sign-in")
    page.click("#nav-todo")
    expect(page.locator("h1")).to_contain_text("À traiter")
    overdue = page.locator(f"table.overdue tr[data-notice='{late.pk}']")
    expect(overdue).to_contain_text("tube.example")
    expect(overdue).to_contain_text("TAKE IT DOWN")
    expect(overdue).to_contain_text("48 heures écoulées")
    expect(page.locator(f"table.later tr[data-notice='{waiting.pk}']")).to_be_visible()
    expect(page.locator("#per-reviewer tr[data-reviewer='-'] td.overdue")).to_have_text("1")
    _shot(page, "01-overdue")

    # Open the notice from its next step: the page says the 48 hours have passed.
    overdue.locator("a.next-step").click()
    expect(page.locator("#notice-due")).to_be_visible()
    _shot(page, "02-notice")
    # The platform answered by email: the content is down. Record it.
    page.select_option("#record-response select[name=kind]", NoticeResponse.Kind.ACCEPTED)
    page.fill("#record-response textarea[name=text]", "Contenu retiré, ticket 8812.")
    page.click("#record-response button")
    expect(page.locator("#notice-responses li")).to_have_count(1)
    assert list(late.responses.values_list("kind", "recorded_by")) == [("accepted", "alice")]

    # Back to "À traiter": nothing is overdue; the answer calls for a re-check.
    page.click("#nav-todo")
    expect(page.locator("table.overdue")).to_have_count(0)
    answered = page.locator(f"table.answered tr[data-notice='{late.pk}']")
    expect(answered).to_contain_text("Revérifier")
    expect(page.locator("#per-reviewer tr[data-reviewer='-'] td.overdue")).to_have_text("0")

    # She takes the case and notes the call with the platform.
    answered.locator(f"a[href='/review/case/{tube.pk}/']").click()
    page.click("#assign-me button")
    expect(page.locator("#case-assignee")).to_contain_text("alice")
    page.fill("#note-form textarea", "Appel à la plateforme : retrait confirmé, copies aussi.")
    page.click("#add-note")
    expect(page.locator("#case-notes .case-note")).to_have_count(1)
    expect(page.locator("#case-notes")).to_contain_text("retrait confirmé")
    _shot(page, "03-case")
    page.click("#nav-todo")
    expect(page.locator(f"tr[data-notice='{late.pk}'] td.assignee")).to_have_text("alice")
    _shot(page, "04-todo-after")
    assert Case.objects.filter(pk=tube.pk, assigned_to__username="alice").exists()
    assert CaseNote.objects.get().author == "alice"
    actions = set(AuditEvent.objects.filter(who="alice").values_list("action", flat=True))
    assert {"view_todo", "case_assign", "case_note"} <= actions
