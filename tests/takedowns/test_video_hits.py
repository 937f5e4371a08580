"""Video hits as the takedown team sees them: in the queue and its filters, and on the hit page,
which says which registered video, how many frames and where, and never shows or plays it."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from django.contrib.auth.models import Group, User

from clients.models import Client
from hits.documents import Hit, MatchedTerm, MatchKind

pytestmark = [pytest.mark.django_db(transaction=True)]

VIDEO_URL = "https://cdn4.telesco.pe/file/e174be993b.mp4?token=abc"


def _reviewer() -> User:
    user = User.objects.create_user("rev", password="a-long-test-password", is_staff=True)
    user.groups.add(Group.objects.get(name="reviewer"))
    return user


@pytest.fixture
def hits(isolated, hit_store):
    Client.objects.create(reference="jeanne", display_name="Jeanne", email="j@example.org")
    now = datetime.now(UTC)
    video = Hit(
        client_id="jeanne", source_id="tg", url="https://t.me/durov/519", match_kind=MatchKind.VIDEO,
        matched_terms=(), first_seen=now, last_seen=now, score=1.0, video_url=VIDEO_URL,
        video_label="video 1", video_tier="strong", video_method="frames", video_frames_matched=12,
        video_frames_compared=12, video_ranges=((0.0, 9.0),), video_registered_ranges=((8.5, 17.5),),
        video_why="12 of 12 sampled frames match at one offset (PDQ <= 31); clip 0-9 s",
    )  # fmt: skip
    same_file = Hit(
        client_id="jeanne", source_id="wsg", url="https://boards.4chan.org/wsg/thread/1#p1",
        match_kind=MatchKind.VIDEO, matched_terms=(), first_seen=now, last_seen=now,
        video_url="https://i.4cdn.org/wsg/1.webm", video_label="video 2", video_tier="strong",
        video_method="md5", video_frames_matched=0, video_frames_compared=0,
    )  # fmt: skip
    name = Hit(
        client_id="jeanne", source_id="forum", url="https://forum.example/t/1", match_kind=MatchKind.NAME,
        matched_terms=(MatchedTerm("Jeanne Dupont", "Jeanne Dupont", "exact", 0, 13),),
        first_seen=now, last_seen=now, excerpt="Jeanne Dupont", score=1.0,
    )  # fmt: skip
    hit_store.upsert([video, same_file, name])
    return video, same_file, name


def test_video_hits_are_in_the_queue_with_their_own_filter(client, hits):
    client.force_login(_reviewer())

    page = client.get("/review/").content.decode()
    only_videos = client.get("/review/?kind=video").content.decode()
    strong = client.get("/review/?tier=strong").content.decode()

    assert "vidéo « video 1 » (sûr, 12 images sur 12)" in page
    assert "vidéo « video 2 » (sûr, fichier identique)" in page
    assert "video : 2" in page  # counts per match kind
    assert "video 1" in only_videos and "Jeanne Dupont" not in only_videos
    assert '<option value="video" selected>' in only_videos
    assert "video 1" in strong and "video 2" in strong and "(exact)" not in strong
    assert "critique" in only_videos  # a strong video match is critical


def test_the_hit_page_says_how_the_video_matched_and_never_shows_it(client, hits):
    video, same_file, _ = hits
    client.force_login(_reviewer())

    page = client.get(f"/review/hit/{video.hit_id}/").content.decode()

    assert "Vidéo enregistrée « video 1 », niveau sûr." in page
    assert "12 de ses 12 images échantillonnées correspondent" in page
    assert "Passages, dans la vidéo trouvée : 0–9 s" in page
    assert "dans la vidéo enregistrée : 9–18 s" in page
    assert f'<code id="video-url">{VIDEO_URL.replace("&", "&amp;")}</code>' in page
    # Its address only, as text: no player, no preview, no link that plays it.
    assert not re.search(r"<(video|source|iframe|embed|object)\b", page)
    assert "autoplay" not in page and 'id="hit-image"' not in page
    assert f'href="{VIDEO_URL}' not in page

    identical = client.get(f"/review/hit/{same_file.hit_id}/").content.decode()
    assert "Le fichier identique (même MD5)." in identical
    assert "Passages" not in identical


def test_a_hit_found_by_local_features_says_so(client, isolated, hit_store):
    Client.objects.create(reference="jeanne", display_name="Jeanne", email="j@example.org")
    now = datetime.now(UTC)
    cropped = Hit(
        client_id="jeanne", source_id="tg", url="https://t.me/durov/523", match_kind=MatchKind.VIDEO,
        matched_terms=(), first_seen=now, last_seen=now, score=0.75, video_url=VIDEO_URL,
        video_label="video 1", video_tier="candidate", video_method="features",
        video_frames_matched=3, video_frames_compared=4, video_ranges=((2.0, 2.0), (4.0, 4.0)),
        video_why="local features: 3 of 4 stills match keyframes of the registered video",
    )  # fmt: skip
    hit_store.upsert([cropped])
    client.force_login(_reviewer())

    queue = client.get("/review/").content.decode()
    page = client.get(f"/review/hit/{cropped.hit_id}/").content.decode()

    assert "vidéo « video 1 » (candidat, 3 images fixes sur 4 par points caractéristiques)" in queue
    assert "3 de ses 4 images fixes correspondent à des images clés" in page
    assert "images échantillonnées" not in page
