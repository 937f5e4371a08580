"""The review queue never hides a hit: deep pages, Paris days, bad filter values."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.auth.models import Group, User

from hits.documents import Hit, MatchedTerm, MatchKind

pytestmark = [pytest.mark.django_db(transaction=True)]

# Past twice Elasticsearch's 10,000-result window: pages past it are read walking forward
# (nearer the start) or backward (nearer the end), and both ways are checked.
MANY = 20_100
PAGES = MANY // 25
START = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def _reviewer(client) -> None:
    user = User.objects.create_user("rev", password="a-long-test-password", is_staff=True)
    user.groups.add(Group.objects.get(name="reviewer"))
    client.force_login(user)


def _hit(n: int, seen: datetime) -> Hit:
    text = f"message {n} sur Jeanne Dupont"
    return Hit(
        client_id="jeanne", source_id="forum", url=f"https://forum.example/t/{n}",
        match_kind=MatchKind.NAME,
        matched_terms=(MatchedTerm("Jeanne Dupont", "Jeanne Dupont", "exact", len(text) - 13, len(text)),),
        first_seen=seen, last_seen=seen, excerpt=text, title=f"sujet-{n:05d}",
    )  # fmt: skip


@pytest.fixture
def many_hits(isolated, hit_store):
    # One minute apart, newest last: the queue shows the newest first, so hit 0 is last.
    hits = [_hit(n, START + timedelta(minutes=n)) for n in range(MANY)]
    hit_store.upsert(hits)
    return hits


def _ids_on(page: str) -> list[str]:
    return [line.split('value="')[1].split('"')[0] for line in page.split('name="hit" ')[1:]]


def _expected(hits: list[Hit], page: int) -> list[str]:
    """The queue is newest first: page p shows hits[MANY - 25p : MANY - 25(p-1)], reversed."""
    end = MANY - 25 * (page - 1)
    return [h.hit_id for h in reversed(hits[max(0, end - 25) : end])]


def test_every_page_is_reachable_past_ten_thousand_hits(client, many_hits):
    _reviewer(client)
    for page in (400, 401, 402, 500, PAGES - 1, PAGES):
        response = client.get(f"/review/?page={page}")
        assert response.status_code == 200, page
        assert _ids_on(response.content.decode()) == _expected(many_hits, page), page
    # A page number past the end shows the last page, the oldest hits.
    page = client.get("/review/?page=9999").content.decode()
    assert _ids_on(page) == _expected(many_hits, PAGES)
    assert many_hits[0].hit_id in page


@pytest.fixture
def paris_hits(isolated, hit_store):
    # 2026-03-10 23:30 UTC is already 11 March in Paris (UTC+1 in March).
    late = _hit(1, datetime(2026, 3, 10, 23, 30, tzinfo=UTC))
    evening = _hit(2, datetime(2026, 3, 10, 20, 0, tzinfo=UTC))
    hit_store.upsert([late, evening])
    return late, evening


def test_date_filters_are_paris_days_and_until_includes_its_day(client, paris_hits):
    late, evening = paris_hits
    _reviewer(client)
    on_the_10th = client.get("/review/?since=2026-03-10&until=2026-03-10")
    assert on_the_10th.status_code == 200
    assert _ids_on(on_the_10th.content.decode()) == [evening.hit_id]
    on_the_11th = client.get("/review/?since=2026-03-11&until=2026-03-11")
    assert _ids_on(on_the_11th.content.decode()) == [late.hit_id]


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("since=10/03/2026", "n’est pas une date"),
        ("until=demain", "n’est pas une date"),
        ("severity=99999999999", "n’est pas une gravité"),
        ("severity=-1", "n’est pas une gravité"),
        ("page=abc", "n’est pas un numéro de page"),
        ("since=2026-03-12&until=2026-03-10", "est après"),
    ],
)
def test_bad_filter_values_are_explained_in_the_page_not_a_500(client, paris_hits, query, message):
    _reviewer(client)
    response = client.get(f"/review/?{query}")
    assert response.status_code == 200
    assert message in response.content.decode()


def test_bad_filter_values_are_explained_in_english_too(client, paris_hits):
    _reviewer(client)
    response = client.get("/review/?severity=99999999999", HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 200
    assert "is not a severity" in response.content.decode()
