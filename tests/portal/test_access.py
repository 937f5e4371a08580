"""Signing in without a password: single-use links, rate limits, idle sessions."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from django.core import mail

from portal import access
from portal.models import PortalSession, SignInLink, SignInRequest
from takedowns.models import AuditEvent
from tests.portal.conftest import link_in, sign_in, wait_for_mail

pytestmark = pytest.mark.django_db


def _answer(response) -> str:
    """The page without its CSRF token (different on every request)."""
    text = response.content.decode()
    return re.sub(r'name="csrfmiddlewaretoken" value="[^"]+"', "", text)


def _token(url: str) -> str:
    return url.rstrip("/").rsplit("/", 1)[-1]


def test_the_answer_is_the_same_for_a_client_and_for_anyone_else(client, jeanne):
    for_her = client.post("/espace/", {"email": "jeanne@example.org"}, REMOTE_ADDR="10.0.0.1")
    for_nobody = client.post("/espace/", {"email": "nobody@example.org"}, REMOTE_ADDR="10.0.0.2")
    assert for_her.status_code == for_nobody.status_code == 200
    assert _answer(for_her) == _answer(for_nobody)
    assert "Jeanne" not in _answer(for_her)
    messages = wait_for_mail(1)
    assert [m.to for m in messages] == [["jeanne@example.org"]]
    # Only a keyed hash of each address asked for is written down.
    stored = " ".join(SignInRequest.objects.values_list("email_hash", flat=True))
    assert "nobody" not in stored and "jeanne" not in stored


def test_a_link_works_once_and_only_its_hash_is_stored(client, jeanne):
    client.post("/espace/", {"email": "Jeanne@Example.org "})
    url = link_in(wait_for_mail(1)[0])
    token = _token(url)
    assert not SignInLink.objects.filter(token_sha256=token).exists()
    assert token not in " ".join(SignInLink.objects.values_list("token_sha256", flat=True))
    path = url[url.index("/espace/") :]
    # Opening it (as a mail scanner would) uses nothing up.
    assert client.get(path).status_code == 200
    assert client.get(path).status_code == 200
    first = client.post(path)
    assert first.status_code == 302 and first["Location"] == "/espace/situation/"
    assert client.get("/espace/situation/").status_code == 200
    again = client.post(path)
    assert again.status_code == 410
    assert "Jeanne" not in again.content.decode()
    assert client.get(path).status_code == 410


def test_an_expired_link_is_refused(client, jeanne):
    url = access.new_link(jeanne, now=datetime.now(UTC) - timedelta(minutes=16))
    path = url[url.index("/espace/") :]
    assert client.get(path).status_code == 410
    assert client.post(path).status_code == 410
    assert client.get("/espace/situation/")["Location"] == "/espace/"
    fresh = access.new_link(jeanne, now=datetime.now(UTC) - timedelta(minutes=14))
    assert client.post(fresh[fresh.index("/espace/") :]).status_code == 302


def test_requests_are_limited_per_address(client, jeanne):
    for _ in range(access.MAX_REQUESTS_PER_ADDRESS):
        response = client.post("/espace/", {"email": "jeanne@example.org"}, REMOTE_ADDR="10.0.0.1")
        assert response.status_code == 200
    wait_for_mail(access.MAX_REQUESTS_PER_ADDRESS)
    # From another address too: the limit is the address asked for.
    refused = client.post("/espace/", {"email": "JEANNE@example.org"}, REMOTE_ADDR="10.9.9.9")
    assert refused.status_code == 429
    assert len(mail.outbox) == access.MAX_REQUESTS_PER_ADDRESS
    # The same limit for an address that is nobody's: the answer reveals nothing.
    for _ in range(access.MAX_REQUESTS_PER_ADDRESS):
        client.post("/espace/", {"email": "x@example.org"}, REMOTE_ADDR="10.0.0.3")
    assert (
        client.post("/espace/", {"email": "x@example.org"}, REMOTE_ADDR="10.0.0.4").status_code
        == 429
    )
    assert AuditEvent.objects.filter(action="portal_link_limited").count() == 2


def test_requests_are_limited_per_ip(client, jeanne):
    for n in range(access.MAX_REQUESTS_PER_IP):
        response = client.post("/espace/", {"email": f"a{n}@example.org"}, REMOTE_ADDR="10.0.0.7")
        assert response.status_code == 200
    refused = client.post("/espace/", {"email": "jeanne@example.org"}, REMOTE_ADDR="10.0.0.7")
    assert refused.status_code == 429
    elsewhere = client.post("/espace/", {"email": "jeanne@example.org"}, REMOTE_ADDR="10.0.0.8")
    assert elsewhere.status_code == 200
    # Her link is sent (and waited for here, not left to arrive during the next test).
    (sent,) = wait_for_mail(1)
    assert sent.to == ["jeanne@example.org"]


def test_the_window_moves_on(jeanne, rf):
    request = rf.post("/espace/", REMOTE_ADDR="10.0.0.1")
    past = datetime.now(UTC) - access.RATE_WINDOW - timedelta(minutes=1)
    for _ in range(access.MAX_REQUESTS_PER_ADDRESS):
        access.request_link("jeanne@example.org", request)
    SignInRequest.objects.update(at=past)
    assert not access.request_link("jeanne@example.org", request).limited


def test_a_session_ends_after_30_idle_minutes_and_on_sign_out(client, jeanne):
    sign_in(client, jeanne)
    assert client.get("/espace/situation/").status_code == 200
    PortalSession.objects.update(last_seen_at=datetime.now(UTC) - timedelta(minutes=29))
    assert client.get("/espace/situation/").status_code == 200  # activity keeps it alive
    PortalSession.objects.update(last_seen_at=datetime.now(UTC) - timedelta(minutes=31))
    assert client.get("/espace/situation/")["Location"] == "/espace/"
    assert not PortalSession.objects.exists()
    sign_in(client, jeanne)
    client.post("/espace/sortie/")
    assert client.get("/espace/situation/")["Location"] == "/espace/"


def test_the_space_is_apart_from_the_teams_sign_in(client, jeanne):
    sign_in(client, jeanne)
    assert "_auth_user_id" not in client.session
    assert client.get("/review/").status_code == 302  # the team's pages still ask for a login
    cookie = client.cookies[access.COOKIE]
    assert cookie["path"] == "/espace/" and cookie["httponly"]
    # A forged cookie is nobody.
    client.cookies[access.COOKIE] = "forged:value"
    assert client.get("/espace/situation/")["Location"] == "/espace/"


def test_staff_invite_a_client_from_the_admin(client, jeanne, admin_user):
    client.force_login(admin_user)
    response = client.post(
        "/admin/clients/client/",
        {"action": "invite_to_portal", "_selected_action": [jeanne.pk]},
    )
    assert response.status_code == 302
    message = wait_for_mail(1)[0]
    assert message.to == ["jeanne@example.org"] and "espace personnel" in message.body
    assert SignInLink.objects.get().purpose == "invitation"
    assert link_in(message)


def test_every_page_is_served_under_the_csp_with_no_inline_script(client, jeanne):
    pages = ["/espace/"]
    anonymous = [client.get(p) for p in pages]
    sign_in(client, jeanne)
    signed = [
        client.get(p)
        for p in (
            "/espace/situation/",
            "/espace/signaler/",
            "/espace/preferences/",
            "/espace/mandat/",
            "/espace/donnees/",
            "/espace/donnees/effacer/",
        )
    ]
    for response in [*anonymous, *signed]:
        assert response.status_code == 200
        assert "script-src 'self'" in response["Content-Security-Policy"]
        assert "no-store" in response["Cache-Control"]
        body = response.content.decode()
        scripts = re.findall(r"<script\b[^>]*>", body)
        assert scripts == ['<script src="/espace/portal.js" defer>'], scripts
        assert 'id="quick-exit"' in body and 'href="tel:3018"' in body and 'href="tel:17"' in body
    script = client.get("/espace/portal.js")
    assert script["Content-Type"].startswith("text/javascript")
    assert "location.replace" in script.content.decode()


def test_her_space_speaks_her_language(client, jeanne):
    jeanne.language = "en"
    jeanne.save()
    sign_in(client, jeanne)
    page = client.get("/espace/situation/").content.decode()
    assert "<h1>Where things stand</h1>" in page and 'lang="en"' in page
    client.post(
        "/espace/preferences/",
        {"alert_preference": "daily_digest", "alert_detail": "summary", "language": "fr"},
    )
    page = client.get("/espace/situation/").content.decode()
    assert "<h1>Où en sont les choses</h1>" in page and 'lang="fr"' in page
    jeanne.refresh_from_db()
    assert jeanne.alert_preference == "daily_digest"
