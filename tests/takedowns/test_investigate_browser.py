"""Investigating in a real browser (Debian's Chromium driven by Playwright): from a hit to its
author's posts, then a corpus search; staff are refused."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from takedowns.models import AuditEvent
from tests.takedowns.conftest import ARTIFACTS
from tests.takedowns.test_investigate import THREAD_2108, World, _world_settings, build_world
from tests.takedowns.workbench import PASSWORD, make_user

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture(scope="module")
def crawled_world(
    django_db_setup, django_db_blocker, tmp_path_factory, elasticsearch_url
) -> Iterator[World]:
    with django_db_blocker.unblock():
        yield from build_world(tmp_path_factory.mktemp("investigate-browser"), elasticsearch_url)


@pytest.fixture
def world(crawled_world: World, settings, tmp_path: Path) -> World:
    for name, value in _world_settings(
        tmp_path, crawled_world.prefix, crawled_world.es_url
    ).items():
        setattr(settings, name, value)
    return crawled_world


def _shot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def _sign_in(page: Page, base: str, username: str) -> None:
    page.goto(f"{base}/")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("#sign-in")


def test_a_reviewer_goes_from_a_hit_to_its_author_then_searches_the_corpus(
    page, live_server, world
):
    make_user("alice", "reviewer")
    base = live_server.url
    _sign_in(page, base, "alice")

    # The queue, for one client: open the hit on anonymous45's post.
    page.goto(f"{base}/review/?client=hoe-math")
    hit = world.hit("hoe-math", f"{THREAD_2108}/12")
    page.click(f"a[href='/review/hit/{hit.hit_id}/']")
    expect(page.locator("h1")).to_contain_text("hoe-math")
    _shot(page, "investigate-01-hit")

    # Its author: every post of the account, the client they name, who else does.
    page.click("#author-link")
    expect(page.locator("#author-name")).to_contain_text("anonymous45")
    theirs = [p for p in world.posts if p.account == world.profile("anonymous45")]
    expect(page.locator("tr.post")).to_have_count(len(theirs))
    expect(page.locator("div.thread")).to_have_count(2)
    post_12 = page.locator(f"tr.post[data-url='{world.base}{THREAD_2108}/12']")
    expect(post_12.locator("li.mention")).to_contain_text("hoe-math")
    expect(post_12.locator("mark").first).to_have_text("hoe_math")
    expect(page.locator("#co-posters tr.co-poster")).to_have_count(1)
    expect(page.locator("#co-posters tr.co-poster")).to_contain_text("anonymous105")
    expect(page.locator("img")).to_have_count(0)
    _shot(page, "investigate-02-author")

    # The other account, one click away.
    page.locator("#co-posters tr.co-poster a").click()
    expect(page.locator("#author-name")).to_contain_text("anonymous105")
    expect(page.locator(f"tr.post[data-url='{world.base}{THREAD_2108}/15']")).to_have_count(1)

    # A corpus search from the header: the pseudonym, in what is about that client (its own
    # post, and the one answering it).
    page.click("header a[href='/review/search/']")
    page.fill("#corpus-q", "anonymous45")
    page.fill("#corpus-search input[name=client]", "hoe-math")
    page.click("#run-search")
    results = page.locator("#results tr.result")
    expect(results).to_have_count(2)
    expect(results.first.locator("a.author")).to_have_text("anonymous45")
    expect(results.nth(1).locator("mark").first).to_have_text("anonymous45")
    expect(results.locator("li.mention")).to_have_count(2)
    expect(page.locator("img")).to_have_count(0)
    _shot(page, "investigate-03-search")

    # Follow a result to its author.
    results.locator("a.author", has_text="anonymous45").click()
    expect(page.locator("#author-name")).to_contain_text("anonymous45")

    assert AuditEvent.objects.filter(action="view_author", who="alice").count() == 3
    searched = AuditEvent.objects.get(action="corpus_search", who="alice")
    assert searched.target == "client:hoe-math" and "q=anonymous45" in searched.detail


def test_staff_cannot_investigate(page, live_server, world):
    make_user("sam", "staff")
    base = live_server.url
    _sign_in(page, base, "sam")
    for path in (
        "/review/search/?q=hoe_math",
        f"/review/author/?source=cf-forum&account={world.profile('anonymous45')}",
    ):
        response = page.goto(f"{base}{path}")
        assert response is not None and response.status == 403, path
        expect(page.locator("body")).not_to_contain_text("anonymous45")
    _shot(page, "investigate-04-staff-forbidden")
    assert not AuditEvent.objects.filter(action__in=["view_author", "corpus_search"]).exists()
