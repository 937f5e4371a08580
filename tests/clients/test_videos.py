"""Registering a client's video: hashes kept, video forgotten; in the admin, by command, with
clear errors; and the videos already crawled searched for it."""

from __future__ import annotations

import base64
import hashlib
import os
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import Permission, User
from django.core.files.uploadedfile import InMemoryUploadedFile, SimpleUploadedFile
from django.core.management import CommandError, call_command
from django.test import RequestFactory

from clients.keys import features_key
from clients.models import Client, ClientVideo
from clients.services import watch_target
from clients.uploads import InMemoryUploadHandler, OversizedUpload
from clients.videos import VideoRegistrationError, register_video
from matching.features import FeatureKeyError, unseal_many
from matching.videos import (
    KEYFRAME_EVERY_S,
    MAX_KEYFRAMES,
    MAX_SAMPLED_FRAMES,
    registration_keyframes,
    video_stills,
)
from tests.conftest import DATA

pytestmark = pytest.mark.django_db(transaction=True)

CLIP = DATA / "video" / "moviepy_big_buck_bunny_0_30.webm"  # 30 s, 1280x720
SHORT = DATA / "video" / "moviepy_big_buck_bunny_432_433.webm"  # 1 s


@pytest.fixture
def jeanne() -> Client:
    return Client.objects.create(reference="jeanne", display_name="Jeanne", email="j@example.org")


@pytest.fixture
def staff_client(client):
    user = User.objects.create_user("staff", password="a-long-test-password", is_staff=True)
    user.user_permissions.set(Permission.objects.filter(content_type__app_label="clients"))
    client.force_login(user)
    return client


def change_form(client: Client, videos: list[dict[str, object]], initial: int = 0) -> dict:
    """The client's admin change form, with these video rows (and no term or photo)."""
    data: dict[str, object] = {
        "reference": client.reference, "display_name": client.display_name,
        "email": client.email, "language": "fr", "alert_preference": "immediate",
        "alert_detail": "summary", "active": "on",
    }  # fmt: skip
    for prefix, rows in (("terms", []), ("photos", []), ("videos", videos)):
        data[f"{prefix}-TOTAL_FORMS"] = str(len(rows))
        data[f"{prefix}-INITIAL_FORMS"] = str(initial if prefix == "videos" else 0)
        data[f"{prefix}-MIN_NUM_FORMS"] = "0"
        data[f"{prefix}-MAX_NUM_FORMS"] = "1000"
        for n, row in enumerate(rows):
            for key, value in row.items():
                data[f"{prefix}-{n}-{key}"] = value
    return data


# --- The service ------------------------------------------------------------------------


def test_a_video_is_registered_by_its_md5_and_frame_hashes_only(isolated, jeanne):
    data = CLIP.read_bytes()

    result = register_video(jeanne, "video 1", data)

    video = ClientVideo.objects.get(client=jeanne)
    assert (result.video_id, result.label, video.label) == (video.pk, "video 1", "video 1")
    assert video.md5 == hashlib.md5(data).hexdigest() == result.md5
    assert 29.5 <= video.duration_s <= 30.5
    # One frame a second at least (and the first frame of each new scene), within the bound.
    assert 30 <= len(video.frame_hashes) == result.frames <= MAX_SAMPLED_FRAMES
    assert len(video.variant_hashes) == result.variants >= len(video.frame_hashes)
    for at, pdq, quality in [*video.frame_hashes, *video.variant_hashes]:
        assert isinstance(at, float) and 0 <= at <= 30.5
        assert len(pdq) == 64 and int(pdq, 16) >= 0
        assert 0 <= quality <= 100
    times = [row[0] for row in video.frame_hashes]
    assert times == sorted(times)
    # The crawl looks for it: MD5 and every hash, variants included.
    (watched,) = watch_target(jeanne).videos
    assert watched.label == "video 1" and watched.md5 == video.md5
    assert len(watched.hashes) == len(video.frame_hashes) + len(video.variant_hashes)
    # The retro-match ran (no video crawled yet: nothing found).
    assert result.retro is not None and result.retro.hits_created == 0
    assert result.retro_error == ""


def test_keyframe_features_are_stored_sealed_and_open_only_with_the_key(isolated, jeanne, settings):
    settings.BODYGUARD_FEATURES_KEY = base64.urlsafe_b64encode(os.urandom(32)).decode()
    register_video(jeanne, "video 1", SHORT.read_bytes())

    stored = bytes(ClientVideo.objects.get().sealed_features or b"")
    clear = registration_keyframes(
        video_stills(SHORT.read_bytes(), KEYFRAME_EVERY_S, MAX_KEYFRAMES)
    )
    assert clear and all(len(features) for _, features in clear)
    # No descriptor in clear (the keypoints could be turned back into rough pictures).
    for _, features in clear:
        for row in features.descriptors[::5]:
            assert row[:16].tobytes() not in stored
    assert unseal_many(stored, features_key()) == clear
    # The crawl gets the sealed blob, as stored.
    (watched,) = watch_target(jeanne).videos
    assert watched.sealed_features == stored
    settings.BODYGUARD_FEATURES_KEY = base64.urlsafe_b64encode(os.urandom(32)).decode()
    with pytest.raises(FeatureKeyError, match="BODYGUARD_FEATURES_KEY"):
        unseal_many(stored, features_key())


def test_registering_again_under_the_same_label_replaces_the_hashes(isolated, jeanne):
    register_video(jeanne, "video 1", SHORT.read_bytes())
    register_video(jeanne, "video 1", CLIP.read_bytes())
    video = ClientVideo.objects.get(client=jeanne)
    assert video.md5 == hashlib.md5(CLIP.read_bytes()).hexdigest()


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "empty video data"),
        (b"rendez-vous lundi" * 10, "not a video"),
        (b"GIF89a not a video at all" * 10, "not a video|corrupt"),
    ],
    ids=["empty", "text", "garbage"],
)
def test_what_cannot_be_registered_says_whose_which_why_and_what_to_do(
    isolated, jeanne, data, reason
):
    with pytest.raises(VideoRegistrationError) as caught:
        register_video(jeanne, "video 1", data)
    message = str(caught.value)
    assert "'video 1' of jeanne not registered" in message
    assert re.search(reason, caught.value.reason)
    assert "To fix: register the original video file" in message and "300 MB" in message
    assert not ClientVideo.objects.exists()


@pytest.mark.parametrize("name", ["opencv_baboon.jpg", "skimage_camera.png", "pillow_hopper.webp"])
def test_a_photo_is_not_registered_as_a_one_frame_video(isolated, jeanne, name):
    # FFmpeg reads a still image as a video of one frame: staff meant to register a photo.
    with pytest.raises(VideoRegistrationError, match=r"still image \(\w+_pipe\).*as a photo"):
        register_video(jeanne, "video 1", (DATA / "photos" / name).read_bytes())
    assert not ClientVideo.objects.exists()


def test_the_limits_of_matching_videos_are_reported(isolated, jeanne, monkeypatch):
    import matching.videos

    monkeypatch.setattr(matching.videos, "MAX_VIDEO_BYTES", 50_000)
    with pytest.raises(VideoRegistrationError, match="larger than the 50000-byte limit"):
        register_video(jeanne, "video 1", SHORT.read_bytes())
    monkeypatch.setattr(matching.videos, "MAX_VIDEO_BYTES", 300 * 1024 * 1024)
    monkeypatch.setattr(matching.videos, "MAX_DURATION_S", 10)
    with pytest.raises(VideoRegistrationError, match=r"longer than the 10 s limit"):
        register_video(jeanne, "video 1", CLIP.read_bytes())
    assert not ClientVideo.objects.exists()


@pytest.mark.parametrize("label", ["", "   ", "x" * 201])
def test_a_label_is_required_and_short(isolated, jeanne, label):
    with pytest.raises(VideoRegistrationError, match="label") as caught:
        register_video(jeanne, label, SHORT.read_bytes())
    assert "of jeanne" in str(caught.value) and "neutral label" in str(caught.value)


def test_a_video_crawled_before_is_found_when_it_is_registered(
    isolated, hit_store, jeanne, settings
):
    from hits.videos import CrawledVideo, VideoStore
    from matching.videos import fingerprint_video

    store = VideoStore.connect(
        settings.BODYGUARD_ELASTICSEARCH_URL, settings.BODYGUARD_INDEX_PREFIX
    )
    store.ensure_index()
    crawled = fingerprint_video(CLIP.read_bytes())
    store.add(
        [
            CrawledVideo.of(
                crawled,
                "https://t.example/v/clip.webm",
                "https://t.example/post/1",
                "telegram",
                datetime.now(UTC),
            )
        ]
    )
    store.close()

    result = register_video(jeanne, "video 1", CLIP.read_bytes())

    assert result.retro is not None and result.retro.hits_created == 1
    (hit,) = hit_store.iter_of_client("jeanne")
    assert (hit.url, hit.video_label, hit.video_method) == (
        "https://t.example/post/1",
        "video 1",
        "md5",
    )


def test_a_video_is_registered_even_when_elasticsearch_is_out_of_reach(isolated, jeanne, settings):
    from demo.smtp_sink import free_port

    settings.BODYGUARD_ELASTICSEARCH_URL = f"http://127.0.0.1:{free_port()}"
    result = register_video(jeanne, "video 1", SHORT.read_bytes())
    assert ClientVideo.objects.filter(client=jeanne, label="video 1").exists()
    assert result.retro is None and result.retro_error


# --- The command ------------------------------------------------------------------------


def test_the_command_registers_a_video_with_its_label(isolated, jeanne, capsys):
    call_command("register_video", "jeanne", "vidéo de mars", str(SHORT))
    call_command("register_video", "jeanne", str(CLIP), "--label", "video 2")
    call_command("register_video", "jeanne", str(CLIP))  # a third label, generated
    out = capsys.readouterr().out
    assert re.search(
        r"jeanne/vidéo de mars: \d+ frames hashed \(\d+ variants\), 1.0 s, MD5 1a567389f7191d4a",
        out,
    )
    assert "the video itself is not stored" in out
    assert "retro-match: 0 crawled video(s) match, 0 new hit(s)" in out
    assert sorted(jeanne.videos.values_list("label", flat=True)) == [
        "video 2",
        "video 3",
        "vidéo de mars",
    ]


def test_the_command_says_what_is_wrong(isolated, jeanne, tmp_path):
    with pytest.raises(CommandError, match="no client 'nobody'"):
        call_command("register_video", "nobody", "video 1", str(SHORT))
    with pytest.raises(CommandError, match="No such file"):
        call_command("register_video", "jeanne", "video 1", str(tmp_path / "missing.mp4"))
    not_a_video = tmp_path / "notes.txt"
    not_a_video.write_text("rendez-vous lundi")
    with pytest.raises(CommandError, match="'video 1' of jeanne not registered: not a video"):
        call_command("register_video", "jeanne", "video 1", str(not_a_video))
    with pytest.raises(CommandError, match="CLIENT \\[LABEL\\] FILE"):
        call_command("register_video", "jeanne", "a", "b", str(SHORT))
    assert not ClientVideo.objects.exists()


# --- The admin --------------------------------------------------------------------------


def test_staff_register_list_rename_and_delete_videos_in_the_admin(isolated, staff_client, jeanne):
    url = f"/admin/clients/client/{jeanne.pk}/change/"
    data = CLIP.read_bytes()
    upload = SimpleUploadedFile("chantage.webm", data, content_type="video/webm")

    response = staff_client.post(url, change_form(jeanne, [{"label": "video 1", "video": upload}]))

    assert response.status_code == 302, response.content.decode()[:3000]
    video = ClientVideo.objects.get(client=jeanne)
    assert video.md5 == hashlib.md5(data).hexdigest() and len(video.frame_hashes) >= 30
    page = staff_client.get(url).content.decode()
    assert "Vidéo video 1 enregistrée" in page  # the message, in French
    # The list: label, duration, frame count and MD5; never a picture of the video.
    assert 'value="video 1"' in page and video.md5 in page
    assert re.search(rf'field-frames">\s*<p>{len(video.frame_hashes)}</p>', page)
    assert re.search(r'field-duration">\s*<p>30.0 s</p>', page)
    assert "<video" not in page and "data:image" not in page
    videos_group = page.split('id="videos-group"')[1].split("</fieldset>")[0]
    assert re.findall(r'<img src="([^"]*)"', videos_group) == [
        "/static/admin/img/icon-unknown.svg"  # the help icons only
    ] * videos_group.count("<img")

    row: dict[str, object] = {"id": str(video.pk), "client": str(jeanne.pk), "label": "video A"}
    response = staff_client.post(url, change_form(jeanne, [row], initial=1))
    assert response.status_code == 302, response.content.decode()[:3000]
    video.refresh_from_db()
    assert video.label == "video A" and video.md5 == hashlib.md5(data).hexdigest()

    row = {**row, "DELETE": "on"}
    response = staff_client.post(url, change_form(jeanne, [row], initial=1))
    assert response.status_code == 302, response.content.decode()[:3000]
    assert not ClientVideo.objects.exists()


def test_a_video_cannot_be_renamed_to_another_videos_label(isolated, staff_client, jeanne):
    first = register_video(jeanne, "video 1", SHORT.read_bytes())
    second = register_video(jeanne, "video 2", SHORT.read_bytes())
    url = f"/admin/clients/client/{jeanne.pk}/change/"
    rows: list[dict[str, object]] = [
        {"id": str(first.video_id), "client": str(jeanne.pk), "label": "video 1"},
        {"id": str(second.video_id), "client": str(jeanne.pk), "label": "video 1"},
    ]
    response = staff_client.post(url, change_form(jeanne, rows, initial=2))
    assert response.status_code == 200  # the form again, with the error
    assert "Corrigez les données en double dans label." in response.content.decode()
    assert sorted(jeanne.videos.values_list("label", flat=True)) == ["video 1", "video 2"]


def test_the_admin_says_why_a_video_was_not_registered(isolated, staff_client, jeanne):
    url = f"/admin/clients/client/{jeanne.pk}/change/"
    upload = SimpleUploadedFile("notes.mp4", b"pas une video" * 100, content_type="video/mp4")
    response = staff_client.post(
        url, change_form(jeanne, [{"label": "video 1", "video": upload}]), follow=True
    )
    page = response.content.decode()
    assert "Vidéo video 1 non enregistrée : not a video" in page
    assert "Pour corriger : enregistrez le fichier vidéo d" in page and "300 Mo" in page
    response = staff_client.post(url, change_form(jeanne, [{"label": "video 2"}]), follow=True)
    assert "Vidéo video 2 : choisissez un fichier." in response.content.decode()
    assert not ClientVideo.objects.exists()


def test_a_video_beyond_the_upload_budget_is_refused_with_the_limit(
    isolated, staff_client, jeanne, settings
):
    settings.BODYGUARD_UPLOAD_MAX_BYTES = 100_000
    url = f"/admin/clients/client/{jeanne.pk}/change/"
    upload = SimpleUploadedFile("long.webm", CLIP.read_bytes(), content_type="video/webm")
    response = staff_client.post(url, change_form(jeanne, [{"label": "video 1", "video": upload}]))
    assert response.status_code == 200  # the form again, with the error at the field
    page = response.content.decode()
    assert "long.webm est trop volumineux (1 Mo)" in page and "au plus 0 Mo" in page
    assert not ClientVideo.objects.exists()
    # Within the budget, the same form goes through.
    settings.BODYGUARD_UPLOAD_MAX_BYTES = 2_000_000
    upload = SimpleUploadedFile("long.webm", CLIP.read_bytes(), content_type="video/webm")
    response = staff_client.post(url, change_form(jeanne, [{"label": "video 1", "video": upload}]))
    assert response.status_code == 302 and ClientVideo.objects.count() == 1


def test_the_upload_budget_lets_a_video_through_for_staff_only(settings):
    from django.contrib.auth.models import AnonymousUser

    from matching.images import MAX_IMAGE_BYTES
    from matching.videos import MAX_VIDEO_BYTES

    assert settings.FILE_UPLOAD_HANDLERS == ["clients.uploads.InMemoryUploadHandler"]
    assert settings.BODYGUARD_UPLOAD_MAX_BYTES >= MAX_VIDEO_BYTES
    assert settings.FILE_UPLOAD_MAX_MEMORY_SIZE >= MAX_IMAGE_BYTES

    def parsed(user: Any, size: int) -> object:
        request = RequestFactory().post(
            "/admin/", {"f": SimpleUploadedFile("v.webm", b"v" * size, content_type="video/webm")}
        )
        request.user = user
        request.upload_handlers = [InMemoryUploadHandler(request)]
        return request.FILES["f"]

    settings.FILE_UPLOAD_MAX_MEMORY_SIZE = 1000
    settings.BODYGUARD_UPLOAD_MAX_BYTES = 5000
    staff = User(username="s", is_staff=True)
    kept = parsed(staff, 4000)
    assert isinstance(kept, InMemoryUploadedFile) and kept.read() == b"v" * 4000
    refused = parsed(staff, 6000)
    assert isinstance(refused, OversizedUpload) and refused.size == 6000
    assert refused.read() == b"" and refused.limit == 5000
    # Before signing in, nobody can make the server hold a video's worth of memory.
    assert isinstance(parsed(AnonymousUser(), 2000), OversizedUpload)
    assert isinstance(parsed(User(username="c", is_staff=False), 2000), OversizedUpload)
    assert isinstance(parsed(AnonymousUser(), 900), InMemoryUploadedFile)


def test_the_upload_budget_is_for_all_the_files_of_a_request(settings):
    settings.BODYGUARD_UPLOAD_MAX_BYTES = 5000
    request = RequestFactory().post(
        "/admin/",
        {
            "a": SimpleUploadedFile("a.webm", b"a" * 3000),
            "b": SimpleUploadedFile("b.webm", b"b" * 3000),
        },
    )
    request.user = User(username="s", is_staff=True)
    request.upload_handlers = [InMemoryUploadHandler(request)]
    assert isinstance(request.FILES["a"], InMemoryUploadedFile)
    assert isinstance(request.FILES["b"], OversizedUpload)


def test_the_video_data_in_the_test_folder_is_what_sources_say():
    sources = (DATA / "video" / "SOURCES.md").read_text(encoding="utf-8")
    for path in (CLIP, SHORT):
        assert path.name in sources
    assert hashlib.sha256(SHORT.read_bytes()).hexdigest().startswith("6d7ba9b54f22d07c")
    assert Path(SHORT).stat().st_size == 86056
