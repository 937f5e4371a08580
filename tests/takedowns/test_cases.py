"""Cases move through their states with who, when and why; concurrent changes cannot clash."""

from __future__ import annotations

import pytest

from clients.models import Client
from takedowns.models import AuditEvent, Case, CaseTransition
from takedowns.services import Outcome, change_state
from tests.takedowns.workbench import make_user

pytestmark = [pytest.mark.django_db]


@pytest.fixture
def case() -> Case:
    client = Client.objects.create(reference="jeanne", display_name="Jeanne", email="j@example.org")
    return Case.objects.create(client=client, client_reference="jeanne", host="forum.example")


def test_the_whole_road_of_a_case_is_recorded(case):
    road = [
        (Case.State.CONFIRMED, "alice", "the posts are about her"),
        (Case.State.NOTICE_SENT, "alice", "LCEN notice to the host"),
        (Case.State.NO_RESPONSE, "bob", "nothing after 8 days"),
        (Case.State.ESCALATED, "bob", "PHAROS report"),
        (Case.State.REMOVED, "re-check", "410 Gone"),
        (Case.State.CLOSED, "alice", "done"),
    ]
    for state, who, why in road:
        assert change_state(case.pk, state, who=who, reason=why).ok
    history = list(
        CaseTransition.objects.filter(case=case).values_list("to_state", "who", "reason")
    )
    assert history == [(str(s), w, r) for s, w, r in road]
    case.refresh_from_db()
    assert case.state == Case.State.CLOSED and case.version == len(road)
    assert AuditEvent.objects.filter(action="case_state", target=f"case:{case.pk}").count() == 6


def test_a_state_that_cannot_follow_is_refused_and_nothing_changes(case):
    result = change_state(case.pk, Case.State.NOTICE_SENT, who="alice", reason="skip review")
    assert result.outcome == Outcome.NOT_ALLOWED
    assert "Nouveau" in result.message and "Notification envoyée" in result.message
    case.refresh_from_db()
    assert case.state == Case.State.NEW and not CaseTransition.objects.exists()


def test_a_change_needs_a_reason(case):
    result = change_state(case.pk, Case.State.CONFIRMED, who="alice", reason="  ")
    assert result.outcome == Outcome.INVALID
    assert Case.objects.get(pk=case.pk).state == Case.State.NEW


def test_two_reviewers_acting_from_the_same_page_cannot_both_change_it(case):
    seen_by_both = case.version
    first = change_state(
        case.pk, Case.State.CONFIRMED, who="alice", reason="ok", expected_version=seen_by_both
    )
    second = change_state(
        case.pk,
        Case.State.CLOSED,
        who="bob",
        reason="false positive",
        expected_version=seen_by_both,
    )
    assert first.ok
    assert second.outcome == Outcome.CONFLICT
    assert "alice" in second.message and "Confirmé" in second.message
    case.refresh_from_db()
    assert case.state == Case.State.CONFIRMED
    assert list(CaseTransition.objects.values_list("who", flat=True)) == ["alice"]


def test_the_second_reviewer_sees_a_clear_message_in_the_page(client, case):
    alice, bob = make_user("alice", "reviewer"), make_user("bob", "reviewer")
    client.force_login(bob)
    page = client.get(f"/review/case/{case.pk}/").content.decode()
    assert f'name="version" value="{case.version}"' in page
    change_state(case.pk, Case.State.CONFIRMED, who=alice.username, reason="ok")

    response = client.post(
        f"/review/case/{case.pk}/state/",
        {"to_state": "closed", "reason": "homonym", "version": str(case.version)},
        follow=True,
    )
    page = response.content.decode()
    assert "alice a passé ce dossier à « Confirmé »" in page
    assert Case.objects.get(pk=case.pk).state == Case.State.CONFIRMED


def test_transitions_cannot_be_rewritten(case):
    change_state(case.pk, Case.State.CONFIRMED, who="alice", reason="ok")
    transition = CaseTransition.objects.get()
    transition.reason = "something else"
    with pytest.raises(PermissionError):
        transition.save()
