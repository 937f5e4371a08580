"""The review workbench as the takedown team uses it: access, decisions, allow-list, images."""

from __future__ import annotations

import hashlib
import io
import json
import re
import zipfile
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlencode

import numpy as np
import pytest
from django.contrib.auth.models import User
from django.urls import URLPattern, reverse
from PIL import Image

import takedowns.urls
from alerts.models import Alert
from alerts.services import collect_new_hits
from hits.documents import Hit, MatchedTerm, MatchKind
from takedowns.access import MAX_FAILURES_PER_ACCOUNT
from takedowns.models import AllowListEntry, AuditEvent, Case, CaseHit, Notice
from tests.crawlers.static_site import serve_site
from tests.takedowns.workbench import PASSWORD, TOPIC, forum_site, make_user, reposted_photo, seed

pytestmark = [pytest.mark.django_db(transaction=True)]


@pytest.fixture
def forum(isolated: Path, hit_store):
    site = forum_site()
    server = serve_site(site)
    base = f"http://127.0.0.1:{server.server_port}"
    yield site, base, seed(hit_store, base, isolated / "sources")
    server.shutdown()


@pytest.fixture
def reviewer(client):
    client.force_login(make_user("rev", "reviewer"))
    return client


def _detail(jpeg: bytes) -> float:
    """Mean absolute difference between neighbouring pixels: high for a photo, ~0 for a blur."""
    grey = np.asarray(Image.open(io.BytesIO(jpeg)).convert("L"), dtype=float)
    return float(np.abs(np.diff(grey, axis=1)).mean())


def test_every_team_page_needs_a_signed_in_reviewer(client, forum):
    _site, _base, seeded = forum
    urls = [
        "/review/", "/review/cases/", f"/review/case/{seeded.case.pk}/",
        f"/review/hit/{seeded.name_hit.hit_id}/", f"/review/hit/{seeded.photo_hit.hit_id}/image/",
        "/review/client/rms/",
    ]  # fmt: skip
    for url in urls:
        response = client.get(url)
        assert response.status_code == 302 and response["Location"].startswith("/login/"), url
    client.force_login(make_user("st", "staff"))
    for url in urls:
        assert client.get(url).status_code == 403, url
    for url in ("/review/bulk/", f"/review/case/{seeded.case.pk}/state/"):
        assert client.post(url, {"decision": "confirm"}).status_code == 403


# Views only administrators may use, even on the takedown team.
ADMIN_ONLY = {"legal_hold"}


def _review_urls(seeded) -> list[tuple[str, str]]:
    """Every URL of takedowns/urls.py, filled in with the seeded objects: a view added later
    is requested below without anyone listing it."""
    notice = Notice.objects.create(
        case=seeded.case, route="dsa16", recipient="host", subject="s", body="b", created_by="t"
    )
    values = {
        "case_id": seeded.case.pk,
        "hit_id": seeded.photo_hit.hit_id,
        "reference": "rms",
        "notice_id": notice.pk,
        "case_hit_id": seeded.case.hits.first().pk,
    }
    # Views that read what to show from the query string.
    queries = {
        "author": "?" + urlencode({"source": "myoos", "account": seeded.name_hit.author}),
        "corpus_search": "?" + urlencode({"q": "Stallman", "client": "rms"}),
    }
    urls = []
    for pattern in takedowns.urls.urlpatterns:
        assert isinstance(pattern, URLPattern)
        names = list(pattern.pattern.converters)
        missing = [n for n in names if n not in values]
        assert not missing, f"{pattern.name}: give the test a value for {missing}"
        name = str(pattern.name)
        url = reverse(f"takedowns:{name}", kwargs={n: values[n] for n in names})
        urls.append((name, url + queries.get(name, "")))
    return urls


def test_every_review_view_refuses_everyone_but_the_team(client, forum):
    """Every view, by every role, both methods."""
    _site, _base, seeded = forum
    urls = _review_urls(seeded)
    assert len(urls) == len(takedowns.urls.urlpatterns) >= 15
    for name, url in urls:
        for method in (client.get, client.post):
            response = method(url)
            assert response.status_code == 302, (name, method)
            assert response["Location"].startswith("/login/"), name
    nobody = User.objects.create_user("nobody", password=PASSWORD)  # signed in, no role
    boss = User.objects.create_superuser("boss", password=PASSWORD)
    for user in (nobody, make_user("st", "staff")):
        client.force_login(user)
        for name, url in urls:
            assert client.get(url).status_code == 403, (user.username, name)
            assert client.post(url).status_code == 403, (user.username, name)
    for user in (make_user("rev", "reviewer"), boss):
        client.force_login(user)
        for name, url in urls:
            for method in (client.get, client.post):
                response = method(url)
                refused = response.status_code == 403 or (
                    response.status_code == 302 and response["Location"].startswith("/login/")
                )
                expected = name in ADMIN_ONLY and not user.is_superuser
                assert refused == expected, (user.username, name, method, response.status_code)


def test_images_are_blurred_by_our_server_until_revealed(reviewer, forum):
    site, _base, seeded = forum
    hit_id = seeded.photo_hit.hit_id
    page = reviewer.get(f"/review/hit/{hit_id}/").content.decode()
    img = re.search(r'<img id="hit-image" src="([^"]+)"[^>]*>', page)
    assert img and 'class="blurred"' in img.group(0)
    assert img.group(1) == f"/review/hit/{hit_id}/image/"  # our server, never the site itself

    blurred = reviewer.get(f"/review/hit/{hit_id}/image/")
    assert (
        blurred["Content-Type"] == "image/jpeg" and blurred["Cache-Control"] == "no-store, private"
    )
    original_detail = _detail(reposted_photo())
    assert _detail(blurred.content) < original_detail / 10

    reviewer.post(f"/review/hit/{hit_id}/reveal/")
    revealed = reviewer.get(f"/review/hit/{hit_id}/image/")
    assert _detail(revealed.content) > original_detail / 2
    assert AuditEvent.objects.filter(action="reveal_image", target=hit_id, who="rev").count() == 1
    assert 'class="blurred"' not in reviewer.get(f"/review/hit/{hit_id}/").content.decode()
    assert (
        sum(1 for r in site.requests if r.endswith(".jpg")) == 2
    )  # fetched per view, kept nowhere


def test_pages_forbid_loading_anything_from_elsewhere(reviewer, forum):
    response = reviewer.get("/review/")
    policy = response["Content-Security-Policy"]
    assert "img-src 'self' data:" in policy and "default-src 'self'" in policy
    assert response["Referrer-Policy"] == "same-origin"


def test_the_queue_puts_the_most_severe_first(reviewer, forum):
    _site, _base, _seeded = forum
    page = reviewer.get("/review/").content.decode()
    assert page.index("photo « photo 1 »") < page.index("« Richard Stallman » (exact)")
    only_critical = reviewer.get("/review/?severity=4").content.decode()
    assert "photo « photo 1 »" in only_critical and "(exact)" not in only_critical
    assert "critique : 1" in page and "élevée : 1" in page


def test_escalating_a_hit_escalates_its_case(reviewer, forum, hit_store):
    _site, _base, seeded = forum
    reviewer.post(
        f"/review/hit/{seeded.photo_hit.hit_id}/decide/",
        {"decision": "escalate", "reason": "threat to publish more"},
    )
    assert hit_store.get(seeded.photo_hit.hit_id).review_status == "escalated"
    case = Case.objects.get(pk=seeded.case.pk)
    assert case.state == Case.State.ESCALATED
    assert case.transitions.get().reason == "threat to publish more"


def test_dismissing_every_hit_of_a_new_case_closes_it(reviewer, forum, hit_store):
    _site, _base, seeded = forum
    for hit in (seeded.name_hit, seeded.photo_hit):
        reviewer.post(f"/review/hit/{hit.hit_id}/decide/", {"decision": "dismiss"})
    assert hit_store.get(seeded.name_hit.hit_id).review_status == "dismissed"
    assert Case.objects.get(pk=seeded.case.pk).state == Case.State.CLOSED


def test_one_decision_for_every_hit_of_a_thread(reviewer, forum, hit_store):
    _site, base, seeded = forum
    thread = reviewer.get(f"/review/?thread={base}{TOPIC}&client=rms").content.decode()
    assert "Toutes les publications de la discussion" in thread
    response = reviewer.post(
        "/review/bulk/",
        {"thread": f"{base}{TOPIC}", "client": "rms", "decision": "confirm", "next": "/review/"},
    )
    assert response.status_code == 302
    statuses = {hit_store.get(h.hit_id).review_status for h in (seeded.name_hit, seeded.photo_hit)}
    assert statuses == {"confirmed"}
    assert set(CaseHit.objects.values_list("review_status", flat=True)) == {"confirmed"}
    assert AuditEvent.objects.filter(action="confirm", who="rev").count() == 2


def test_ticked_hits_get_one_decision(reviewer, forum, hit_store):
    _site, _base, seeded = forum
    reviewer.post("/review/bulk/", {"hit": [seeded.name_hit.hit_id], "decision": "dismiss"})
    assert hit_store.get(seeded.name_hit.hit_id).review_status == "dismissed"
    assert hit_store.get(seeded.photo_hit.hit_id).review_status == "new"


def test_an_allow_listed_account_raises_no_more_alerts(reviewer, forum, hit_store):
    _site, base, seeded = forum
    collect_new_hits(hit_store)  # the seeded hits are old news
    response = reviewer.post(
        f"/review/hit/{seeded.name_hit.hit_id}/allowlist/",
        {"kind": "account", "reason": "Hartmut is the client's own account"},
        follow=True,
    )
    assert "Autorisé" in response.content.decode()
    entry = AllowListEntry.objects.get()
    assert (entry.kind, entry.value, entry.created_by) == ("account", "Hartmut", "rev")
    assert hit_store.get(seeded.name_hit.hit_id).review_status == "allowlisted"

    now = datetime.now(UTC)
    later = Hit(
        client_id="rms", source_id="myoos", url=f"{base}/viewtopic.php?f=4&t=999#p1",
        match_kind=MatchKind.NAME, matched_terms=(MatchedTerm("Richard Stallman", "Richard Stallman", "exact", 0, 16),),
        first_seen=now, last_seen=now, excerpt="Richard Stallman again", author="hartmut",
    )  # fmt: skip
    stranger = Hit(
        client_id="rms", source_id="myoos", url=f"{base}/viewtopic.php?f=4&t=999#p2",
        match_kind=MatchKind.NAME, matched_terms=(MatchedTerm("Richard Stallman", "Richard Stallman", "exact", 0, 16),),
        first_seen=now, last_seen=now, excerpt="Richard Stallman again", author="troll42",
    )  # fmt: skip
    hit_store.upsert([later, stranger])
    report = collect_new_hits(hit_store)
    assert report.allowlisted == 1 and report.alerts_created == 1
    assert not Alert.objects.filter(hit_id=later.hit_id).exists()
    assert hit_store.get(later.hit_id).review_status == "allowlisted"
    assert Alert.objects.filter(hit_id=stranger.hit_id).exists()


def test_allow_listing_needs_a_reason(reviewer, forum):
    _site, _base, seeded = forum
    reviewer.post(f"/review/hit/{seeded.name_hit.hit_id}/allowlist/", {"kind": "url", "reason": ""})
    assert not AllowListEntry.objects.exists()


def test_the_client_page_shows_a_timeline_and_hits_per_week(reviewer, forum):
    _site, _base, seeded = forum
    reviewer.post(f"/review/hit/{seeded.name_hit.hit_id}/decide/", {"decision": "confirm"})
    page = reviewer.get("/review/client/rms/").content.decode()
    assert "Richard Stallman" in page
    assert page.count("<rect ") == 1 and "myoos 2</title>" in page  # one bar: 2 hits this week
    # French number formatting must not leak into SVG coordinates ("11,0" is two numbers there).
    assert not re.search(r'\b(x|y|width|height)="[^"]*,', page.split("<svg")[1].split("</svg>")[0])
    assert "Nouveau → Confirmé" in page
    assert page.count('href="/review/hit/') == 2


def test_failed_sign_ins_lock_the_account_for_a_while(client, forum):
    make_user("rev", "reviewer")
    for _ in range(MAX_FAILURES_PER_ACCOUNT):
        response = client.post("/login/", {"username": "rev", "password": "wrong"})
        assert response.status_code == 200
    locked = client.post("/login/", {"username": "rev", "password": PASSWORD})
    assert "Trop de tentatives" in locked.content.decode()
    assert "_auth_user_id" not in client.session
    admin = client.post("/admin/login/", {"username": "rev", "password": PASSWORD})
    assert "Trop de tentatives" in admin.content.decode()
    assert (
        AuditEvent.objects.filter(action="login_failed", who="rev").count()
        == MAX_FAILURES_PER_ACCOUNT
    )


def test_a_reviewer_signs_in_and_lands_on_the_queue(client, forum):
    make_user("rev", "reviewer")
    response = client.post("/login/", {"username": "rev", "password": PASSWORD}, follow=True)
    assert response.redirect_chain[-1][0] == "/review/"
    assert "Publications à examiner" in response.content.decode()
    assert AuditEvent.objects.filter(action="login", who="rev").exists()


def test_the_interface_speaks_english_on_request(reviewer, forum):
    reviewer.post("/i18n/setlang/", {"language": "en", "next": "/review/"})
    page = reviewer.get("/review/").content.decode()
    assert "Hits to review" in page and "“Richard Stallman” (exact)" in page


def test_the_case_page_exports_a_pack_whose_manifest_verifies(reviewer, forum):
    _site, _base, seeded = forum
    page = reviewer.get(f"/review/case/{seeded.case.pk}/").content.decode()
    assert f'action="/review/case/{seeded.case.pk}/export/"' in page
    response = reviewer.post(f"/review/case/{seeded.case.pk}/export/")
    assert response["Content-Type"] == "application/zip"
    pack = zipfile.ZipFile(io.BytesIO(response.content))
    manifest = json.loads(pack.read("manifest.json"))
    for entry in manifest["files"]:
        assert hashlib.sha256(pack.read(entry["name"])).hexdigest() == entry["sha256"]
    assert manifest["created_by"] == "rev"
    assert seeded.case.evidence_accesses.filter(who="rev", action="export").exists()
