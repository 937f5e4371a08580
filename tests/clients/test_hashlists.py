"""Hash lists out and in: a client's hashes for StopNCII-style programmes, a partner's list to
watch for; all or nothing, clear errors, watched by the crawls, written to the audit log."""

from __future__ import annotations

import csv
import getpass
import hashlib
import io
import json
from pathlib import Path

import pytest
from django.contrib.auth.models import Permission, User
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command

from clients.hashlists import (
    HashListError,
    client_signals,
    export_hash_list,
    import_hash_list,
    parse_hash_list,
)
from clients.models import Client, ClientPhoto, ClientVideo
from clients.photos import register_photo
from clients.services import watch_target
from clients.videos import register_video
from takedowns.models import AuditEvent
from tests.conftest import DATA

pytestmark = pytest.mark.django_db(transaction=True)

PHOTO = DATA / "photos" / "opencv_baboon.jpg"
CLIP = DATA / "video" / "moviepy_big_buck_bunny_0_30.webm"
SHORT = DATA / "video" / "moviepy_big_buck_bunny_432_433.webm"
PDQ_A = "f" * 32 + "0" * 32
PDQ_B = "0123456789abcdef" * 4
MD5_A = "0" * 31 + "a"


@pytest.fixture
def jeanne(isolated) -> Client:
    client = Client.objects.create(reference="jeanne", display_name="Jeanne", email="j@e.org")
    register_photo(client, "photo 1", PHOTO.read_bytes())
    register_video(client, "video 1", CLIP.read_bytes())
    return client


@pytest.fixture
def paul(isolated) -> Client:
    return Client.objects.create(reference="paul", display_name="Paul", email="p@e.org")


def rows(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text)))


# --- Export -----------------------------------------------------------------------------


def test_the_export_lists_each_photos_base_hash_and_each_videos_md5_and_frames(jeanne):
    photo, video = ClientPhoto.objects.get(), ClientVideo.objects.get()

    report = export_hash_list(jeanne, "rev")

    lines = rows(report.text)
    assert lines[0] == ["signal_type", "signal", "quality", "label"]
    assert lines[1] == ["pdq", photo.pdq_hashes[0], str(photo.quality), "photo 1"]
    assert lines[2] == ["video_md5", hashlib.md5(CLIP.read_bytes()).hexdigest(), "", "video 1"]
    kind, signal, quality, label = lines[3]
    assert (kind, quality, label, len(lines)) == ("vpdq", "", "video 1", 4)
    # threatexchange's vPDQ serialization: "hex,quality,seconds" strings.
    frames = json.loads(signal)
    assert len(frames) == len(video.frame_hashes)
    assert frames[0] == "{},{},{:.3f}".format(*video.frame_hashes[0][1:], video.frame_hashes[0][0])
    assert report.counts == {"pdq": 1, "video_md5": 1, "vpdq": 1}


def test_the_export_holds_hashes_only_never_features_nor_variants(jeanne):
    photo, video = ClientPhoto.objects.get(), ClientVideo.objects.get()
    text = export_hash_list(jeanne, "rev").text
    assert photo.sealed_features and bytes(photo.sealed_features).hex() not in text
    assert not any(h in text for h in photo.pdq_hashes[1:])
    assert not any(
        h in text for _at, h, _q in video.variant_hashes if h not in str(video.frame_hashes)
    )
    data = CLIP.read_bytes()
    assert data[5000:5064].hex() not in text and hashlib.sha256(data).hexdigest() not in text


def test_an_export_and_an_import_are_written_to_the_audit_log(jeanne, paul, capsys, tmp_path):
    out = tmp_path / "jeanne.csv"
    call_command("export_hashes", "jeanne", "--output", str(out))
    call_command("export_hashes", "jeanne", "--types", "pdq")
    assert rows(capsys.readouterr().out)[1][0] == "pdq"
    call_command("import_hashes", "paul", str(out))

    events = list(
        AuditEvent.objects.order_by("at", "pk").values_list("who", "action", "target", "detail")
    )
    me = f"command:{getpass.getuser()}"
    assert events == [
        (me, "export_hashes", "client:jeanne", "out: 1 pdq, 1 video_md5, 1 vpdq"),
        (me, "export_hashes", "client:jeanne", "out: 1 pdq"),
        (
            me,
            "import_hashes",
            "client:paul",
            "in from jeanne.csv: 1 pdq, 1 video_md5, 1 vpdq; 1 photo(s) and 1 video(s) added, "
            "0 already watched",
        ),
    ]


# --- Import -----------------------------------------------------------------------------


def test_an_exported_list_imported_into_another_client_is_watched_by_the_crawls(jeanne, paul):
    photo, video = ClientPhoto.objects.get(client=jeanne), ClientVideo.objects.get(client=jeanne)
    text = export_hash_list(jeanne, "rev").text

    report = import_hash_list(paul, text, "rev", "jeanne.csv")

    assert (report.read, report.photos_added, report.videos_added) == (3, ["photo 1"], ["video 1"])
    imported = ClientPhoto.objects.get(client=paul)
    assert imported.pdq_hashes == [photo.pdq_hashes[0]] and imported.quality == photo.quality
    assert imported.sealed_features is None
    copy = ClientVideo.objects.get(client=paul)
    assert (copy.md5, copy.frame_hashes, copy.variant_hashes) == (video.md5, video.frame_hashes, [])
    # What the crawls load for her (crawlers' ImagePipeline and video matching).
    target = watch_target(paul)
    assert target.photos == (("photo 1", (photo.pdq_hashes[0],)),)
    (watched,) = target.videos
    assert watched.md5 == video.md5 and len(watched.hashes) == len(video.frame_hashes)
    # And the list reads back the same.
    assert client_signals(paul) == [
        s.__class__(s.type, s.value, s.quality, s.label) for s in client_signals(jeanne)
    ]
    # Importing it again adds nothing.
    again = import_hash_list(paul, text, "rev")
    assert (again.photos_added, again.videos_added, again.already_watched) == ([], [], 3)
    assert ClientPhoto.objects.filter(client=paul).count() == 1


def test_a_partners_list_becomes_photos_and_videos_watched_for(paul):
    text = (
        "# from a partner programme\n"
        "signal_type,signal,quality,label\n"
        f"pdq,{PDQ_A.upper()},87,\n"
        f"ImagePDQ,{PDQ_B},,\n"  # StopNCII's name, no quality
        f"VideoMD5,{MD5_A.upper()}\n"
        f"pdq {'1' * 64}\n"  # threatexchange's own "type signal" output
        "\n"
    )
    report = import_hash_list(paul, text.encode(), "rev", "partner.csv")

    assert report.read == 4 and report.photos_added == ["photo 1", "photo 2", "photo 3"]
    photos = {p.label: (p.pdq_hashes, p.quality) for p in ClientPhoto.objects.filter(client=paul)}
    assert photos == {
        "photo 1": ([PDQ_A], 87),
        "photo 2": ([PDQ_B], 0),
        "photo 3": (["1" * 64], 0),
    }
    video = ClientVideo.objects.get(client=paul)
    assert (video.label, video.md5, video.frame_hashes) == ("video 1", MD5_A, [])
    target = watch_target(paul)
    assert {h for _label, hashes in target.photos for h in hashes} == {PDQ_A, PDQ_B, "1" * 64}
    assert [(v.label, v.md5, v.hashes) for v in target.videos] == [("video 1", MD5_A, ())]


def test_a_labelled_md5_and_vpdq_are_one_video(paul):
    vpdq = json.dumps([f"{PDQ_A},100,0.000", f"{PDQ_B},90,1.000"])
    out = io.StringIO()
    csv.writer(out).writerows(
        [
            ["video_md5", MD5_A, "", "clip"],
            ["vpdq", vpdq, "", "clip"],
            ["vpdq", vpdq.replace("90", "91"), "", ""],
        ]
    )
    report = import_hash_list(paul, out.getvalue(), "rev")
    assert report.videos_added == ["clip", "video 1"]
    clip = ClientVideo.objects.get(client=paul, label="clip")
    assert clip.md5 == MD5_A
    assert clip.frame_hashes == [[0.0, PDQ_A, 100], [1.0, PDQ_B, 90]] and clip.duration_s == 1.0
    other = ClientVideo.objects.get(client=paul, label="video 1")
    assert other.md5 == "" and other.frame_hashes[1] == [1.0, PDQ_B, 91]


BAD = {
    "unknown type": (
        "sha1,abc,,x",
        1,
        "unknown signal type 'sha1': use one of pdq, video_md5, vpdq",
    ),
    "short pdq": (f"pdq,{PDQ_A[:-1]},50,x", 1, "a pdq signal is 64 hexadecimal digits"),
    "not hex": (f"pdq,{'g' * 64},50,x", 1, "a pdq signal is 64 hexadecimal digits"),
    "quality": (f"pdq,{PDQ_A},101,x", 1, "quality '101' is not a whole number from 0 to 100"),
    "md5": ("video_md5,1234,,x", 1, "a video_md5 signal is 32 hexadecimal digits"),
    "vpdq json": ("vpdq,[oops,,x", 1, "the vpdq signal is not JSON"),
    "vpdq frame": ('vpdq,"[""ab,1,0""]",,x', 1, "frame 1 of the vpdq signal"),
    "one field": ("pdq", 1, "expected signal_type,signal[,quality[,label]]"),
    "too many": (f"pdq,{PDQ_A},50,a,b", 1, "more than 4 fields"),
    "label": (f"pdq,{PDQ_A},50,{'x' * 201}", 1, "the label is longer than 200 characters"),
    "twice": (
        f"pdq,{PDQ_A},50,same\npdq,{PDQ_B},50,same",
        2,
        "label 'same' is given to two photos (lines 2 and 3)",
    ),
    "empty": ("signal_type,signal,quality,label\n", 0, "no signal in the list"),
}


@pytest.mark.parametrize("case", list(BAD), ids=list(BAD))
def test_a_bad_line_names_its_number_and_what_to_fix_and_nothing_is_written(paul, case):
    line_text, number, message = BAD[case]
    register_photo(paul, "photo 1", PHOTO.read_bytes())
    before = list(ClientPhoto.objects.values_list("label", "pdq_hashes", "sealed_features"))
    # A good line before the bad one: it is not written either.
    text = f"pdq,{'2' * 64},80,good\n{line_text}\n" if number else line_text
    with pytest.raises(HashListError) as caught:
        import_hash_list(paul, text, "rev", "partner.csv")
    expected_line = f"line {number + 1}: " if number else ""
    assert f"partner.csv: nothing imported; {expected_line}{message}" in str(caught.value)
    assert list(ClientPhoto.objects.values_list("label", "pdq_hashes", "sealed_features")) == before
    assert not ClientVideo.objects.exists()
    assert not AuditEvent.objects.filter(action="import_hashes").exists()


def test_every_bad_line_is_listed_at_once(paul):
    text = "\n".join([f"pdq,{PDQ_A},50,a", "pdq,1,50,b", f"pdq,{PDQ_B},x,c", "sha1,1,,d"])
    with pytest.raises(HashListError) as caught:
        parse_hash_list(text)
    assert [n for n, _ in caught.value.problems] == [2, 3, 4]


def test_a_file_that_is_not_utf8_text_is_refused_with_its_line(paul):
    with pytest.raises(HashListError, match="line 2: not UTF-8 text"):
        parse_hash_list(f"pdq,{PDQ_A},50,a\n".encode() + b"\xff\xfe\x00 pdq")


def test_what_the_client_already_has_is_never_overwritten(jeanne):
    photo = ClientPhoto.objects.get(client=jeanne)
    assert photo.sealed_features is not None
    hashes, sealed = list(photo.pdq_hashes), bytes(photo.sealed_features)
    # A registered photo's label with other hashes: an error, not a replacement.
    with pytest.raises(
        HashListError, match="line 1: the client already has a photo labelled 'photo 1'"
    ):
        import_hash_list(jeanne, f"pdq,{PDQ_A},50,photo 1", "rev")
    with pytest.raises(HashListError, match="already has a video labelled 'video 1'"):
        import_hash_list(jeanne, f"video_md5,{MD5_A},,video 1", "rev")
    photo.refresh_from_db()
    assert (photo.pdq_hashes, bytes(photo.sealed_features or b"")) == (hashes, sealed)
    # A hash she is already watched for (any of a photo's variants): skipped, nothing added.
    report = import_hash_list(jeanne, f"pdq,{hashes[3]},50,\n", "rev")
    assert (report.photos_added, report.already_watched) == ([], 1)
    # A generated label never takes one the client or the list already uses.
    report = import_hash_list(jeanne, f"pdq,{PDQ_A},50,\npdq,{PDQ_B},50,photo 2", "rev")
    assert sorted(report.photos_added) == ["photo 2", "photo 3"]


def test_the_command_checks_a_list_and_reports_bad_lines(paul, tmp_path, capsys):
    good = tmp_path / "good.csv"
    good.write_text(f"pdq,{PDQ_A},50,\n", encoding="utf-8")
    call_command("import_hashes", "paul", str(good), "--check")
    assert (
        "paul (checked only, nothing written): 1 signal(s) read: 1 photo(s)"
        in capsys.readouterr().out
    )
    assert not ClientPhoto.objects.exists() and not AuditEvent.objects.exists()
    bad = tmp_path / "bad.csv"
    bad.write_text(f"pdq,{PDQ_A},50,\npdq,zz,50,\n", encoding="utf-8")
    with pytest.raises(CommandError, match=f"{bad}: nothing imported; line 2: a pdq signal is 64"):
        call_command("import_hashes", "paul", str(bad))
    with pytest.raises(CommandError, match="no client 'nobody'"):
        call_command("import_hashes", "nobody", str(good))
    with pytest.raises(CommandError, match="no client 'nobody'"):
        call_command("export_hashes", "nobody")
    with pytest.raises(CommandError, match="--types 'sha1'"):
        call_command("export_hashes", "paul", "--types", "sha1")
    call_command("import_hashes", "paul", str(good), "--no-retro")
    assert "1 photo(s) and 0 video(s) added" in capsys.readouterr().out


def test_imported_hashes_are_looked_for_among_what_was_crawled_before(paul, hit_store, settings):
    from datetime import UTC, datetime

    from hits.images import CrawledImage, ImageStore
    from hits.videos import CrawledVideo, VideoStore
    from matching.hashes import PdqHash

    url, prefix = settings.BODYGUARD_ELASTICSEARCH_URL, settings.BODYGUARD_INDEX_PREFIX
    now = datetime.now(UTC)
    images = ImageStore.connect(url, prefix)
    images.ensure_index()
    images.add([CrawledImage("https://f.example/i.jpg", "https://f.example/t/1", "forum",
                             PdqHash.from_hex(PDQ_B), 100, now)])  # fmt: skip
    images.close()
    videos = VideoStore.connect(url, prefix)
    videos.ensure_index()
    # A video the site declared by its MD5 (4chan's JSON), never fetched.
    videos.add(
        [CrawledVideo("https://c.example/v.webm", "https://c.example/t/2", "fourchan", MD5_A, now)]
    )
    videos.close()

    report = import_hash_list(paul, f"pdq,{PDQ_B},90,\nvideo_md5,{MD5_A},,clip\n", "rev")

    assert report.retro_errors == [] and report.retro_hits == 2
    found = {(h.url, h.photo_label or h.video_label) for h in hit_store.iter_of_client("paul")}
    assert found == {("https://f.example/t/1", "photo 1"), ("https://c.example/t/2", "clip")}


# --- The admin actions ------------------------------------------------------------------


@pytest.fixture
def staff_client(client):
    user = User.objects.create_user("camille", password="a-long-test-password", is_staff=True)
    user.user_permissions.set(Permission.objects.filter(content_type__app_label="clients"))
    client.force_login(user)
    return client


def test_staff_export_a_clients_hash_list_from_the_admin(jeanne, paul, staff_client):
    response = staff_client.post(
        "/admin/clients/client/", {"action": "export_hashes", "_selected_action": [jeanne.pk]}
    )
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == 'attachment; filename="jeanne-hashes.csv"'
    assert [r[0] for r in rows(response.content.decode())] == [
        "signal_type",
        "pdq",
        "video_md5",
        "vpdq",
    ]
    event = AuditEvent.objects.get()
    assert (event.who, event.action, event.target) == ("camille", "export_hashes", "client:jeanne")
    # One person's list at a time.
    response = staff_client.post(
        "/admin/clients/client/",
        {"action": "export_hashes", "_selected_action": [jeanne.pk, paul.pk]},
        follow=True,
    )
    assert "Sélectionnez une seule personne" in response.content.decode()
    assert AuditEvent.objects.count() == 1


def test_staff_import_a_partners_list_from_the_admin(paul, staff_client):
    changelist = "/admin/clients/client/"
    page = staff_client.post(changelist, {"action": "import_hashes", "_selected_action": [paul.pk]})
    assert page.status_code == 200
    html = page.content.decode()
    assert (
        "Importer une liste d&#x27;empreintes" in html and 'enctype="multipart/form-data"' in html
    )
    assert 'name="hash_list"' in html and "pour le compte de Paul (paul)" in html

    bad = SimpleUploadedFile("partner.csv", f"pdq,{PDQ_A},50,\npdq,nope,,\n".encode())
    form = {"action": "import_hashes", "_selected_action": [paul.pk], "apply": "yes"}
    response = staff_client.post(changelist, {**form, "hash_list": bad})
    assert response.status_code == 200
    assert "partner.csv: nothing imported; line 2: a pdq signal is 64" in response.content.decode()
    assert not ClientPhoto.objects.exists() and not AuditEvent.objects.exists()

    good = SimpleUploadedFile("partner.csv", f"pdq,{PDQ_A},50,\nvideo_md5,{MD5_A},,\n".encode())
    response = staff_client.post(changelist, {**form, "hash_list": good}, follow=True)
    assert "Paul : 2 empreintes lues, 1 photos et 1 vidéos ajoutées, 0 déjà surveillées." in (
        response.content.decode()
    )
    assert [p.pdq_hashes for p in ClientPhoto.objects.filter(client=paul)] == [[PDQ_A]]
    assert ClientVideo.objects.get(client=paul).md5 == MD5_A
    event = AuditEvent.objects.get()
    assert (event.who, event.action, event.target) == ("camille", "import_hashes", "client:paul")
    assert event.detail.startswith("in from partner.csv: 1 pdq, 1 video_md5;")


def test_staff_without_the_change_permission_cannot_export_or_import(jeanne, client):
    viewer = User.objects.create_user("viewer", password="a-long-test-password", is_staff=True)
    viewer.user_permissions.set(Permission.objects.filter(codename="view_client"))
    client.force_login(viewer)
    page = client.get("/admin/clients/client/").content.decode()
    assert 'value="export_hashes"' not in page and 'value="import_hashes"' not in page
    client.post(
        "/admin/clients/client/", {"action": "export_hashes", "_selected_action": [jeanne.pk]}
    )
    assert not AuditEvent.objects.exists()


def test_the_audit_of_an_erased_clients_hash_lists_keeps_its_shape_and_loses_her(jeanne, hit_store):
    from operations.privacy import erase_client

    export_hash_list(jeanne, "rev")
    erase_client("jeanne")
    event = AuditEvent.objects.get(action="export_hashes")
    assert (event.who, event.target, event.detail, event.redacted) == (
        "rev",
        "client:[erased]",
        "[erased]",
        True,
    )


def test_the_format_is_documented(settings):
    root = Path(settings.BASE_DIR)
    doc = (root / "docs" / "hash-lists.md").read_text(encoding="utf-8")
    for word in (
        "signal_type,signal,quality,label",
        "pdq",
        "video_md5",
        "vpdq",
        "ImagePDQ",
        "VideoMD5",
    ):
        assert word in doc
    assert list((root / "docs" / "adr").glob("*-hash-lists.md"))
