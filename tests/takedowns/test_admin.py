"""The admin cannot move a case past the rules: it only shows cases. Who a case is about, its
host, state, legal hold and version go through the services (transitions, audit log, lock),
cases go only through erasure, and exporting evidence is a POST."""

from __future__ import annotations

import pytest
from django.contrib.admin.models import LogEntry
from django.contrib.auth.models import User
from django.test import Client as HttpClient

from clients.models import Client
from takedowns.models import AuditEvent, Case, CaseHit
from tests.takedowns.workbench import PASSWORD, make_user

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def closed_case() -> Case:
    person = Client.objects.create(
        reference="rms", display_name="Richard Stallman", email="r@x.org"
    )
    return Case.objects.create(
        client=person, client_reference="rms", host="forum.example.org", state="closed", version=3
    )


def _change_form(case: Case, **fields: str) -> dict[str, str]:
    return {
        "client": str(case.client_id),
        "host": case.host,
        "hits-TOTAL_FORMS": "0",
        "hits-INITIAL_FORMS": "0",
        "hits-MIN_NUM_FORMS": "0",
        "hits-MAX_NUM_FORMS": "1000",
        **fields,
    }


def test_a_reviewer_cannot_reopen_a_case_or_touch_its_legal_hold_in_the_admin(client, closed_case):
    client.force_login(make_user("rev", "reviewer"))
    url = f"/admin/takedowns/case/{closed_case.pk}/change/"
    page = client.get(url).content.decode()
    assert 'name="state"' not in page and 'name="legal_hold"' not in page
    assert 'name="version"' not in page
    response = client.post(
        url, _change_form(closed_case, state="new", legal_hold="on", version="0")
    )
    assert response.status_code == 403
    closed_case.refresh_from_db()
    assert (closed_case.state, closed_case.legal_hold, closed_case.version) == ("closed", False, 3)


@pytest.mark.parametrize("role", ["reviewer", "superuser"])
def test_nobody_moves_a_case_to_another_client_or_host_in_the_admin(client, closed_case, role):
    other = Client.objects.create(reference="other", display_name="Someone Else", email="o@x.org")
    hit = CaseHit.objects.create(
        case=closed_case, hit_id="a" * 40, url="https://forum.example.org/t/1", review_status="new"
    )
    if role == "superuser":
        client.force_login(User.objects.create_superuser("boss", password=PASSWORD))
    else:
        client.force_login(make_user("rev", "reviewer"))
    url = f"/admin/takedowns/case/{closed_case.pk}/change/"
    page = client.get(url).content.decode()
    assert 'name="client"' not in page and 'name="host"' not in page
    assert 'name="hits-0-review_status"' not in page and 'name="hits-0-delisting"' not in page
    form = _change_form(closed_case, client=str(other.pk), host="elsewhere.example.net")
    form.update(
        {
            "hits-TOTAL_FORMS": "1",
            "hits-INITIAL_FORMS": "1",
            "hits-0-id": str(hit.pk),
            "hits-0-case": str(closed_case.pk),
            "hits-0-review_status": "dismissed",
            "hits-0-source_status": "gone",
            "hits-0-delisting": "delisted",
        }
    )
    client.post(url, form)
    closed_case.refresh_from_db()
    assert (closed_case.client.reference, closed_case.host) == ("rms", "forum.example.org")
    hit.refresh_from_db()
    assert (hit.review_status, hit.source_status, hit.delisting) == (
        "new",
        "unknown",
        "not_requested",
    )
    assert not LogEntry.objects.exists()  # no change went through the admin, even "no change"
    # Nor is a case opened there, away from the queue and its audit trail.
    assert client.get("/admin/takedowns/case/add/").status_code == 403
    client.post(
        "/admin/takedowns/case/add/", {"client": str(other.pk), "host": "x.example", "state": "new"}
    )
    assert not Case.objects.filter(client=other).exists()


def test_even_a_superuser_cannot_delete_a_case_in_the_admin(client, closed_case):
    Case.objects.filter(pk=closed_case.pk).update(legal_hold=True)  # a complaint is under way
    client.force_login(User.objects.create_superuser("boss", password=PASSWORD))
    delete = f"/admin/takedowns/case/{closed_case.pk}/delete/"
    assert client.get(delete).status_code == 403
    assert client.post(delete, {"post": "yes"}).status_code == 403
    changelist = client.get("/admin/takedowns/case/").content.decode()
    assert 'value="delete_selected"' not in changelist
    client.post(
        "/admin/takedowns/case/",
        {"action": "delete_selected", "_selected_action": [closed_case.pk], "post": "yes"},
    )
    assert Case.objects.filter(pk=closed_case.pk, legal_hold=True).exists()


def test_an_administrator_sets_a_legal_hold_on_the_workbench_with_a_reason(client, closed_case):
    boss = User.objects.create_superuser("boss", password=PASSWORD)
    client.force_login(boss)
    url = f"/review/case/{closed_case.pk}/legal-hold/"
    assert 'id="legal-hold"' in client.get(f"/review/case/{closed_case.pk}/").content.decode()
    client.post(url, {"hold": "1", "reason": ""})
    assert not Case.objects.get(pk=closed_case.pk).legal_hold  # no reason, no hold
    client.post(url, {"hold": "1", "reason": "complaint filed 2026-11-30"})
    assert Case.objects.get(pk=closed_case.pk).legal_hold
    event = AuditEvent.objects.get(action="legal_hold_set")
    assert (event.who, event.target, event.detail) == (
        "boss",
        f"case:{closed_case.pk}",
        "complaint filed 2026-11-30",
    )
    client.post(url, {"hold": "0", "reason": "proceedings over"})
    assert not Case.objects.get(pk=closed_case.pk).legal_hold
    assert AuditEvent.objects.filter(action="legal_hold_lifted", who="boss").exists()


def test_a_reviewer_cannot_change_a_legal_hold(client, closed_case):
    client.force_login(make_user("rev", "reviewer"))
    page = client.get(f"/review/case/{closed_case.pk}/").content.decode()
    assert 'id="legal-hold"' not in page
    response = client.post(
        f"/review/case/{closed_case.pk}/legal-hold/", {"hold": "1", "reason": "because"}
    )
    assert response.status_code == 403
    assert not Case.objects.get(pk=closed_case.pk).legal_hold


def test_the_admin_export_is_a_post_with_csrf(closed_case):
    browser = HttpClient(enforce_csrf_checks=True)
    browser.force_login(make_user("rev", "reviewer"))
    url = f"/admin/takedowns/case/{closed_case.pk}/export/"
    assert browser.get(url).status_code == 405
    assert browser.post(url).status_code == 403  # no CSRF token: a forged cross-site request
    page = browser.get(f"/admin/takedowns/case/{closed_case.pk}/change/").content.decode()
    assert f'formaction="{url}"' in page and 'formmethod="post"' in page
    token = browser.cookies["csrftoken"].value
    response = browser.post(url, {"csrfmiddlewaretoken": token})
    assert response.status_code == 200 and response["Content-Type"] == "application/zip"
    assert closed_case.evidence_accesses.filter(who="rev", action="export").exists()
